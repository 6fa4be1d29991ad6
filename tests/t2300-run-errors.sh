#!/bin/bash
# What cannot be scanned is reported with a reason, and sets exit status 2;
# a clean batch exits 0; FAT is read by its real names, label or not.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img clamscan jq mkfs.ext4 mkfs.vfat mcopy sfdisk

plan 15

mkdir -p "$T/img" "$T/tree/etc" "$T/bad"
echo "clean" >"$T/tree/etc/motd"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
echo "this is not a signature" >"$T/bad/broken.hdb"

part_start() {	# part_start IMAGE N: first sector of partition N
	sfdisk -J "$1" | jq ".partitiontable.partitions[$(($2 - 1))].start"
}
put() {		# put IMAGE N FSFILE: write a file system into partition N
	dd if="$3" of="$1" bs=512 seek="$(part_start "$1" "$2")" \
		conv=notrunc,sparse status=none
}

# clean.raw: swap + clean ext4 + an empty partition.
truncate -s 40M "$T/img/clean.raw"
printf 'label: dos\n,8M,82\n,16M,83\n,8M,83\n' | sfdisk -q "$T/img/clean.raw" >/dev/null
truncate -s 8M "$T/swap"; mkswap -q "$T/swap" >/dev/null
truncate -s 16M "$T/ext4"; mkfs.ext4 -q -F -b 4096 -d "$T/tree" "$T/ext4"
put "$T/img/clean.raw" 1 "$T/swap"
put "$T/img/clean.raw" 2 "$T/ext4"

run() {
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run --report "$T/report.json" "$@" >"$T/out" 2>"$T/err"
}

run -o clamav.database="$T/sigs" "$T/img/clean.raw"
is "$?" 0 "a clean disk with swap and an empty partition exits 0" || _diag_file "$T/err"
is "$(jq -r '[.targets[0].filesystems[] | .id + "=" + .status] | join(" ")' "$T/report.json")" \
	"p1=skipped p2=scanned p3=skipped" "swap and the empty partition are reported skipped"
is "$(jq -r '.targets[0].status' "$T/report.json")" clean "the target is clean"

# A broken signature file: the engine fails, the file system is an error.
run -o clamav.database="$T/bad" "$T/img/clean.raw"
is "$?" 2 "an engine error exits 2"
like "$(jq -r '.targets[0].filesystems[1] | [.status, .reason] | @tsv' "$T/report.json")" \
	'^error	clamav: ' "the file system is an error naming the engine and its message"
is "$(jq -r '.targets[0].status' "$T/report.json")" error "the target is an error"

# A file system blkid recognises but the kernel refuses to mount.
cp "$T/img/clean.raw" "$T/img/broken.raw"
off=$(( $(part_start "$T/img/broken.raw" 2) * 512 + 4096 ))
dd if=/dev/zero of="$T/img/broken.raw" bs=1 seek="$off" count=4096 conv=notrunc status=none
run -o clamav.database="$T/sigs" "$T/img/clean.raw" "$T/img/broken.raw"
is "$?" 2 "a mount failure exits 2, and the other target is still scanned"
like "$(jq -r '.targets[1].filesystems[1] | [.type, .status, .reason] | @tsv' "$T/report.json")" \
	'^ext4	error	mount failed: ' "the mount failure is an error with the driver's message"
is "$(jq -r '.targets[0].status' "$T/report.json")" clean "the good target before it is unaffected"

# FAT labelled like its top directory (fusefat would hide /EFI), with a
# lower-case short name (fusefat would show CLAM.EXE).
truncate -s 40M "$T/img/esp.raw"
printf 'label: gpt\n,32M,U\n' | sfdisk -q "$T/img/esp.raw" >/dev/null
truncate -s 32M "$T/fat"; mkfs.vfat -n EFI "$T/fat" >/dev/null
mmd -i "$T/fat" ::/EFI ::/EFI/BOOT
fx_eicar "$T/eicar"
mcopy -i "$T/fat" "$T/eicar" ::/EFI/BOOT/clam.exe
put "$T/img/esp.raw" 1 "$T/fat"
sha_before=$(sha256sum <"$T/img/esp.raw")
run -o clamav.database="$T/sigs" "$T/img/esp.raw"
is "$?" 1 "EICAR in /EFI of a FAT labelled EFI is found"
is "$(jq -r '.targets[0].detections[] | [.fs, .path] | @tsv' "$T/report.json")" \
	"p1	/EFI/BOOT/clam.exe" "with its real (lower-case) name"

# A file over the engine's size limit is skipped and said so, not passed.
mkdir -p "$T/big/d"
head -c 3145728 /dev/zero >"$T/big/d/large.bin"
fx_eicar "$T/big/d/small.com"
truncate -s 16M "$T/img/big.raw"
mkfs.ext4 -q -F -d "$T/big" "$T/img/big.raw"
run -o clamav.database="$T/sigs" -o clamav.max_filesize=1M "$T/img/big.raw"
is "$?" 1 "the small infected file is still found"
is "$(jq -c '.targets[0].filesystems[0].files | [.scanned, .skipped, .skipped_reasons.too_large]' "$T/report.json")" \
	"[1,1,1]" "the large file is counted as skipped, too large"
like "$(jq -r '.targets[0].filesystems[0].reason' "$T/report.json")" \
	"1 file\\(s\\) over the engine's size limit of 1048576 bytes" "and the reason says so"

is "$(sha256sum <"$T/img/esp.raw")$(leftovers)" "$sha_before" \
	"the image is unchanged and nothing is left behind"
done_testing
