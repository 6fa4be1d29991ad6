#!/bin/bash
# Clones of one template (qcow2 overlays of one backing file): a file whose
# bytes lie, unchanged, in the shared backing file is known by where it
# lies and not read again; a file changed in place in one clone (same
# extents, new bytes in that clone's overlay) is read, scanned and found.
# Two clones taken at once (--jobs 2): one walks the template, the other
# waits for that walk and then knows its files by place too.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan jq mkfs.ext4 debugfs dumpe2fs qemu-img qemu-storage-daemon

plan 10

mkdir -p "$T/img" "$T/tree/etc" "$T/tree/bin" "$T/tree/home/u" "$T/exp"
fx_eicar "$T/tree/home/u/eicar.com"
# 20 files of 40 KiB: they span several of qcow2's 64 KiB clusters.
for i in $(seq 20); do head -c 40960 /dev/urandom >"$T/tree/etc/f$i.conf"; done
# Clean, and exactly as long as EICAR: a clone will overwrite it in place.
head -c 68 /dev/zero | tr '\0' A >"$T/tree/bin/tool"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
truncate -s 32M "$T/base.raw"
mkfs.ext4 -q -F -O ^inline_data -d "$T/tree" "$T/base.raw" || bail_out "mkfs failed"
qemu-img convert -O qcow2 "$T/base.raw" "$T/img/base.qcow2"
for c in clone1 clone2; do
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$T/img/$c.qcow2"
done

# clone2: /bin/tool's block gets EICAR, written through a writable export
# of the overlay (only the overlay changes; the file keeps its extents).
bs=$(dumpe2fs -h "$T/base.raw" 2>/dev/null | awk -F: '/^Block size/ { print $2 + 0 }')
blk=$(debugfs -R "bmap /bin/tool 0" "$T/base.raw" 2>/dev/null)
[ -n "$bs" ] && [ "${blk:-0}" -gt 0 ] || bail_out "cannot find /bin/tool's block"
fx_hold "$T/img/clone2.qcow2" qcow2 "$T/exp/clone2" || bail_out "cannot open clone2"
fx_eicar "$T/eicar"
dd if="$T/eicar" of="$T/exp/clone2" bs="$bs" seek="$blk" conv=notrunc status=none ||
	bail_out "cannot write into clone2"
kill "$FX_HOLD_PID"
wait "$FX_HOLD_PID" 2>/dev/null
[ "$(qemu-img compare -q "$T/img/clone1.qcow2" "$T/img/clone2.qcow2"; echo $?)" = 1 ] ||
	bail_out "clone2 does not differ from clone1"

# A file changed in the last 2 s is not vouched for by its timestamps.
sleep 2.1
(cd "$T/img" && sha256sum -- *.qcow2) >"$T/sums.before"
"$AVBATCH" -v --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.database="$T/sigs" --cache "$T/cache.sqlite" \
	--report "$T/r.json" "$T/img/clone1.qcow2" "$T/img/clone2.qcow2" >"$T/out" 2>"$T/err"
is "$?" 1 "exit 1: found" || _diag_file "$T/err"

located() {	# located NAME: "known total" of the clone's walk
	sed -n "s/^avbatch: $1.qcow2: whole: \([0-9]*\) of \([0-9]*\) files known by where they lie$/\1 \2/p" "$T/err"
}
read -r k1 n1 <<<"$(located clone1)"
read -r k2 n2 <<<"$(located clone2)"
is "$k1/$n1" "0/22" "clone1: every file read (nothing known yet)"
ok "clone2: files in the shared backing file are known by place (${k2:-?} of ${n2:-?}), the changed one is not" \
	test "${k2:-0}" -gt 0 -a "${k2:-0}" -lt "${n2:-0}"
is "$(jq -r '.targets[0].detections | map(.path) | join(" ")' "$T/r.json")" \
	"/home/u/eicar.com" "clone1: only its EICAR"
is "$(jq -r '.targets[1].detections | map(.path) | sort | join(" ")' "$T/r.json")" \
	"/bin/tool /home/u/eicar.com" "clone2: the file changed in place is found too"
is "$(jq '[.targets[].filesystems[0].files | .scanned + .cached] | add' "$T/r.json")" 44 \
	"every file of both clones has a verdict"

# --jobs 2, an empty cache: one clone leads, the other follows its walk.
"$AVBATCH" -v --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.database="$T/sigs" --cache "$T/cache-j2.sqlite" --jobs 2 \
	--report "$T/r2.json" "$T/img/clone1.qcow2" "$T/img/clone2.qcow2" >"$T/out" 2>"$T/err"
is "$?" 1 "--jobs 2: exit 1: found" || _diag_file "$T/err"
read -r k1 n1 <<<"$(located clone1)"
read -r k2 n2 <<<"$(located clone2)"
ok "--jobs 2: the template is read once (known by place: clone1 ${k1:-?} of ${n1:-?}, clone2 ${k2:-?} of ${n2:-?})" \
	test "$(( ${k1:-0} == 0 || ${k2:-0} == 0 ))$(( ${k1:-0} + ${k2:-0} > 0 ))" = 11
(cd "$T/img" && sha256sum -- *.qcow2) >"$T/sums.after"
is "$(diff "$T/sums.before" "$T/sums.after" && echo same)" same "the images are unchanged"
is "$(leftovers)" "" "nothing left behind"
done_testing
