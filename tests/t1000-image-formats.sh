#!/bin/bash
# Every supported image format is read through its read-only raw view:
# raw, qcow2, vmdk, vhd (vpc), vhdx, vdi, qed.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq mkfs.ext4 sfdisk

formats="raw qcow2 vmdk vpc vhdx vdi qed"
plan 6

mkdir -p "$T/img" "$T/tree/some dir"
fx_eicar "$T/tree/some dir/eicar.com"
echo clean >"$T/tree/readme.txt"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
truncate -s 32M "$T/disk"
printf 'label: dos\n,24M,83\n' | sfdisk -q "$T/disk" >/dev/null || bail_out "sfdisk failed"
truncate -s 24M "$T/fs"
mkfs.ext4 -q -F -d "$T/tree" "$T/fs" || bail_out "mkfs failed"
dd if="$T/fs" of="$T/disk" bs=512 seek=2048 conv=notrunc,sparse status=none
for f in $formats; do
	ext=$f; [ "$f" = vpc ] && ext=vhd
	qemu-img convert -O "$f" "$T/disk" "$T/img/disk.$ext" || bail_out "convert to $f failed"
done
# No telling name, but a qcow2 header: still a disk image; a text file is not.
qemu-img convert -O qcow2 "$T/disk" "$T/img/noext-disk"
echo "not a disk" >"$T/img/README"
(cd "$T/img" && sha256sum disk.* noext-disk) >"$T/sums.before"

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.database="$T/sigs" --report "$T/report.json" "$T/img" \
	>"$T/out" 2>"$T/err"
is "$?" 1 "a directory of images in every format: found" || _diag_file "$T/err"
is "$(jq -r '[.targets[] | .format] | sort | join(" ")' "$T/report.json")" \
	"$(printf '%s\n' $formats qcow2 | sort | xargs)" "each format is recognised from its header"
is "$(jq -r '[.targets[].name] | map(select(. == "noext-disk" or . == "README")) | join(",")' "$T/report.json")" \
	"noext-disk" "a directory's images are found by header too, other files left alone"
is "$(jq -r '[.targets[] | .detections[] | .fs + ":" + .path] | unique | join(",")' "$T/report.json")" \
	"p1:/some dir/eicar.com" "each image yields the same detection"
is "$(jq '[.targets[] | select(.detections | length == 1)] | length' "$T/report.json")" \
	"$(( $(echo $formats | wc -w) + 1 ))" "in every format"

(cd "$T/img" && sha256sum disk.* noext-disk) >"$T/sums.after"
is "$(cat "$T/sums.after")$(leftovers)" "$(cat "$T/sums.before")" \
	"no image changed and nothing is left behind"
done_testing
