#!/bin/bash
# Damaged images: real test images (a GPT disk with ext4 and FAT, raw and
# qcow2) with random bytes flipped in their first 64 KiB (partition tables,
# qcow2 headers, superblocks).  Every run over a mutant ends, within its
# timeout, with exit 0, 1 or 2 and a report naming the target; no mutant
# changes; nothing is left behind.  MUTANT_SEED and MUTANTS reproduce or
# widen a run; a mutant that fails is kept as failed-mutant* in the test's
# directory (KEEP=1 keeps that).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan jq mkfs.ext4 mkfs.vfat mcopy sfdisk qemu-img

# Sanitizer builds: libfdisk 2.38 (Debian 12) leaks 512 bytes inside
# fdisk_assign_device for an extended partition past the end of the disk
# (fixed upstream); a mutant can make one.  Not avbatch's leak.
printf 'leak:fdisk_assign_device\n' >"$T/lsan.supp"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$T/lsan.supp"
export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"

SEED=${MUTANT_SEED:-$(date +%s)}
N=${MUTANTS:-16}	# of each format
plan 6
diag "MUTANT_SEED=$SEED MUTANTS=$N"
RANDOM=$SEED

mkdir -p "$T/tree/etc" "$T/tree/home/u" "$T/m"
echo "clean" >"$T/tree/etc/motd"
fx_eicar "$T/tree/home/u/eicar.com"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
truncate -s 48M "$T/disk.raw"
sfdisk -q "$T/disk.raw" <<EOF || bail_out "sfdisk failed"
label: gpt
start=2048, size=16384, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
start=18432, size=77824, type=0FC63DAF-8483-4773-A47E-7D7D3D8E3C9D
EOF
truncate -s 8M "$T/p1" && mkfs.vfat -n EFI "$T/p1" >/dev/null &&
	mcopy -i "$T/p1" "$T/tree/home/u/eicar.com" ::/EICAR.COM || bail_out "FAT failed"
truncate -s $((77824 * 512)) "$T/p2" &&
	mkfs.ext4 -q -F -d "$T/tree" "$T/p2" || bail_out "ext4 failed"
dd if="$T/p1" of="$T/disk.raw" bs=512 seek=2048 conv=notrunc,sparse status=none
dd if="$T/p2" of="$T/disk.raw" bs=512 seek=18432 conv=notrunc,sparse status=none

# flip FILE AT: 1 to 8 random bytes of the 64 KiB at byte AT get random
# values, half of them in its first 4 KiB (where the headers are).
flip() {
	local k n=$((RANDOM % 8 + 1)) off byte
	for ((k = 0; k < n; k++)); do
		off=$(((RANDOM * 32768 + RANDOM) % (RANDOM % 2 ? 4096 : 65536)))
		off=$(($2 + off))
		byte=$(printf '\\x%02x' $((RANDOM % 256)))
		printf "$byte" | dd of="$1" bs=1 seek="$off" conv=notrunc status=none
	done
}
# mutate I: mutantI.raw (partition table, FAT and ext4 superblocks hit) and
# mutantI.qcow2 (the same disk as qcow2, its header hit too).
mutate() {
	local m=$T/m/mutant$1
	cp --sparse=always "$T/disk.raw" "$m.raw"
	flip "$m.raw" 0
	flip "$m.raw" $((2048 * 512))
	flip "$m.raw" $((18432 * 512))
	qemu-img convert -O qcow2 "$m.raw" "$m.qcow2"
	flip "$m.qcow2" 0
}

bad_exit=0 bad_report=0 changed=0 slow=0 runs=0
for i in $(seq "$N"); do
	mutate "$i"
	for fmt in raw qcow2; do
		m=$T/m/mutant$i.$fmt
		sum=$(sha256sum <"$m")
		t0=$(date +%s)
		timeout 300 "$AVBATCH" --engines-dir "$top_srcdir/engines" \
			--state-dir "$T/state" run -o clamav.database="$T/sigs" \
			--no-cache --timeout 120 --report "$T/r.json" "$m" \
			>"$T/out" 2>"$T/err"
		rc=$? t1=$(date +%s)
		runs=$((runs + 1))
		case $rc in 0|1|2) ;; *)
			bad_exit=$((bad_exit + 1))
			diag "mutant$i.$fmt: exit $rc"
			_diag_file "$T/err" 10
			cp "$m" "$T/failed-mutant$i.$fmt" ;;
		esac
		[ "$(jq -r '.targets | length' "$T/r.json" 2>/dev/null)" = 1 ] ||
			{ bad_report=$((bad_report + 1)); diag "mutant$i.$fmt: no report"; }
		[ "$(sha256sum <"$m")" = "$sum" ] ||
			{ changed=$((changed + 1)); diag "mutant$i.$fmt: changed"; }
		[ $((t1 - t0)) -le 150 ] || slow=$((slow + 1))
		diag "mutant$i.$fmt: exit $rc, $(jq -r '.targets[0] | "\(.status) \([.filesystems[]? | "\(.id)=\(.status)"] | join(","))"' "$T/r.json" 2>/dev/null)"
		rm -f "$T/r.json" "$m"
	done
done
is "$runs" $((2 * N)) "avbatch ran over $runs mutants"
is "$bad_exit" 0 "every run exits 0, 1 or 2"
is "$bad_report" 0 "every run writes a report naming its target"
is "$changed" 0 "no mutant was changed"
is "$slow" 0 "every run ends within its timeout"
is "$(leftovers)" "" "nothing left behind"
done_testing
