#!/bin/bash
# t2973-clean-xfs: avbatch clean of a vhdx with ext2, a logical xfs and a
# btrfs: the xfs detection quarantined (the planted bytes) and removed,
# xfs_repair -n clean before and after, a rescan finds only what was not
# cleaned; btrfs is refused as not implemented yet; undo brings the disk
# back.  And an exFAT (exfat-fuse) cleaned the same way.
. "$(dirname "$0")/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq mkfs.xfs xfs_repair \
	mkfs.btrfs mkfs.exfat mount.exfat-fuse fsck.exfat

fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
mkdir -p "$T/img"
{
	_fx_begin "$T/img" && _fx_batch_ext "$T/img" &&
	r=$(_fx_tree x) && _fx_put_eicar "$r/Dir/eicar.com" &&
	_fx_file "$r/keep.txt" keep &&
	_fx_mkfs exfat "$T/img/x.raw" 16M x "$r" && _fx_end
} || bail_out "cannot build the test images"
IMG=$T/img/ext.vhdx

ab() { "$AVBATCH" --engines-dir "$top_srcdir/engines" \
	--state-dir "$T/state" "$@"; }
run_scan() {	# run_scan REPORT
	ab run --engine clamav -o clamav.database="$T/sigs" --report "$1" \
		"$IMG" >"$T/run.out" 2>"$T/run.err"
}
clean() { "$AVBATCH" --engines-dir "$top_srcdir/engines" \
	--state-dir "$T/state" clean -o clamav.database="$T/sigs" \
	--undo-dir "$T/undo" --quarantine "$T/q" "$@"; }
found() {
	jq -r '.targets[].detections[] | [.fs, .path] | @tsv' "$1" |
		LC_ALL=C sort
}

run_scan "$T/report.json"
is "$(found "$T/report.json")" "p5	/srv/a b/clam.zip
p6	/root/x y/eicar.tar.gz" "run finds the planted files"
cp "$IMG" "$T/before.vhdx"

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" clean \
	-o clamav.database="$T/sigs" --undo-dir "$T/undo" --quarantine "$T/q" \
	--report "$T/clean.json" "$T/report.json" >"$T/out" 2>"$T/err"
is "$?" 2 "clean exits 2: the btrfs detection is refused"
R=$(jq -c '.targets[0].remediation' "$T/clean.json")
is "$(jq -r '.detections[] | [.fs, .result, .reason // ""] | @tsv' \
	<<<"$R")" "p5	removed	
p6	refused	cleaning btrfs is not implemented yet" \
	"xfs removed, btrfs refused with the reason"
is "$(jq -r '.filesystems[] | select(.id == "p5") |
	[.check_before, .check_after] | @tsv' <<<"$R")" \
	"xfs_repair clean	xfs_repair clean" "xfs_repair -n clean before and after"
QID=$(jq -r '.detections[0].quarantine_id' <<<"$R")
ab quarantine --quarantine "$T/q" export "$QID" "$T/x"
ok "the quarantined bytes are the planted file's" cmp "$T/x" \
	"$FX_TESTFILES/clam.zip"
run_scan "$T/rescan.json"
is "$(found "$T/rescan.json")" "p6	/root/x y/eicar.tar.gz" \
	"a new run finds only the btrfs file"
ok "undo" ab undo --undo-dir "$T/undo" "$(jq -r .job "$T/clean.json")"
ok "the disk is what it was before clean" qemu-img compare -q \
	"$T/before.vhdx" "$IMG"
IMG=$T/img/x.raw
run_scan "$T/x.json"
is "$(found "$T/x.json")" "whole	/Dir/eicar.com" "exFAT: found"
cp "$IMG" "$T/x.before"
clean --report "$T/xc.json" "$T/x.json" >"$T/out" 2>"$T/err"
is "$?" 0 "exFAT: clean exits 0" || _diag_file "$T/err"
is "$(jq -r '.targets[0].remediation | .detections[0].result,
	.filesystems[0].check_after' "$T/xc.json")" "removed
fsck.exfat clean" "exFAT: removed, fsck.exfat -n clean after"
run_scan "$T/x2.json"
is "$?" 0 "exFAT: a new run finds nothing"
ok "exFAT: undo" ab undo --undo-dir "$T/undo" "$(jq -r .job "$T/xc.json")"
ok "exFAT: byte for byte as before" cmp "$T/x.before" "$IMG"

is "$(leftovers)" "" "nothing left behind"
done_testing
