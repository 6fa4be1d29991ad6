#!/bin/bash
# LVM2 without the host's LVM: a guest's logical volumes are found with
# LVM's report tools restricted to the image's own devices, linear ones are
# scanned through a loop at their offset; two clones with the same VG name
# and UUIDs are both scanned; nothing is activated or written on the host.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq mkfs.ext4 sfdisk losetup \
	pvcreate lvs

plan 15

fx_lvm "$T/img" || bail_out "cannot build the LVM image"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
cp "$T/img/lvm.raw" "$T/img/clone.raw"
qemu-img convert -f raw -O qcow2 "$T/img/lvm.raw" "$T/img/lvm.qcow2" ||
	bail_out "qemu-img convert failed"
imgs=("$T/img/lvm.raw" "$T/img/clone.raw" "$T/img/lvm.qcow2")
(cd "$T/img" && sha256sum lvm.raw clone.raw lvm.qcow2) >"$T/sums.before"
host_lvm() {	# what the host's LVM keeps: archives, backups, hints, devices file
	find /etc/lvm /run/lvm -newer "$T/sums.before" 2>/dev/null | sort
}

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine clamav -o clamav.database="$T/sigs" --report "$T/report.json" \
	"${imgs[@]}" >"$T/out" 2>"$T/err"
is "$?" 1 "run exits 1: found" || _diag_file "$T/err"

is "$(jq -r '.targets[] | .name as $n | .detections[] | [$n, .fs, .path] | @tsv' \
	"$T/report.json" | LC_ALL=C sort)" \
	"$(printf '%s\tvg0/root\t/home/alice/eicar.com\n' clone.raw lvm.qcow2 lvm.raw)" \
	"the detection is reported on vg0/root, in each clone"

fs_of() {	# fs_of IMAGE: "id status reason" of each file system
	jq -r --arg n "$1" '.targets[] | select(.name == $n) | .filesystems[] |
		[.id, .type // "-", .status, .reason // ""] | @tsv' "$T/report.json"
}
got=$(fs_of lvm.raw)
like "$got" $'(^|\n)p1\text2\tscanned\t' "/boot (ext2) is scanned"
like "$got" $'(^|\n)p2\tLVM2_member\tskipped\t[^\n]*volume group .vg0.' \
	"the PV is skipped, naming its volume group"
like "$got" $'(^|\n)vg0/root\text4\tscanned\t' "vg0/root (ext4) is scanned"
like "$got" $'(^|\n)vg0/swap\tswap\tskipped\tswap' "vg0/swap is skipped as swap"
like "$got" $'(^|\n)vg0/data\t-\tskipped\t[^\n]*non-contiguous' \
	"a linear LV in pieces is skipped with the reason"
is "$(fs_of clone.raw)" "$got" "the clone's file systems are the same"
is "$(jq -r '.targets[0].filesystems[] | select(.id == "vg0/root") |
	[.lvm.vg, .lvm.lv, (.lvm.vg_uuid | length > 0), (.offset > 0)] | @tsv' \
	"$T/report.json")" "vg0	root	true	true" \
	"the report gives the LV's VG, name, UUID and offset"

"$AVBATCH" --state-dir "$T/state" inspect "$T/img/lvm.raw" >"$T/inspect" 2>&1
like "$(cat "$T/inspect")" 'vg0/root +ext4 .*mount ext4' "inspect lists the LVs"

# Two clones at the same moment: nothing host-global joins them.
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine clamav -o clamav.database="$T/sigs" --jobs 2 \
	--report "$T/report2.json" "$T/img/lvm.raw" "$T/img/clone.raw" \
	>"$T/out2" 2>"$T/err2"
is "$(jq -r '[.targets[] | .name + ":" + ([.detections[].fs] | join(","))] |
	sort | join(" ")' "$T/report2.json")" "clone.raw:vg0/root lvm.raw:vg0/root" \
	"two clones scanned in parallel are both reported" || _diag_file "$T/err2"

# A PV on the whole disk, no partition table: p2's bytes on their own.
start=$(sfdisk -J "$T/img/lvm.raw" | jq '.partitiontable.partitions[1].start')
dd if="$T/img/lvm.raw" of="$T/img/pv.raw" bs=512 skip="$start" status=none
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine clamav -o clamav.database="$T/sigs" \
	--report "$T/report3.json" "$T/img/pv.raw" >"$T/out3" 2>"$T/err3"
is "$(jq -r '.targets[] | [.filesystems[].id] + [.detections[].fs] | join(" ")' \
	"$T/report3.json")" "whole vg0/data vg0/root vg0/swap vg0/root" \
	"a whole-disk PV: its LVs are found and scanned" || _diag_file "$T/err3"

is "$(host_lvm)" "" "nothing written to the host's /etc/lvm or /run/lvm"
ok_not "no guest volume group appears on the host" test -e /dev/vg0

(cd "$T/img" && sha256sum lvm.raw clone.raw lvm.qcow2) >"$T/sums.after"
is "$(cat "$T/sums.after")$(leftovers)" "$(cat "$T/sums.before")" \
	"no image changed and nothing is left behind"
done_testing
