#!/bin/bash
# t2970-clean-ext4: avbatch clean of a run's report on a qcow2 clone (GPT,
# EFI FAT + ext4) on a backing file: both detections quarantined (the
# bytes planted), removed (FAT by mtools) and proven gone by a rescan,
# every other file byte-identical, e2fsck and fsck.vfat clean, the backing
# file untouched; undo brings the disk back.  A file system with no
# writable plan is refused, a file changed since the scan or reached
# through a symbolic link is left alone, a disk a qemu holds is refused;
# --dry-run and the refusals change no byte.
. "$(dirname "$0")/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon qemu-system-x86_64 clamscan jq sfdisk \
	e2fsck fusefat

fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
mkdir -p "$T/img"
{ _fx_begin "$T/img" && _fx_batch_gpt "$T/img" && _fx_end; } ||
	bail_out "cannot build the test image"
IMG=$T/img/vm.qcow2
qemu-img create -q -f qcow2 -b "$T/img/gpt.qcow2" -F qcow2 "$IMG" ||
	bail_out "cannot make the clone"
(cd "$T/img" && sha256sum gpt.qcow2) >"$T/base.sum"
fx_eicar "$T/eicar" && EICAR_SUM=$(sha256sum <"$T/eicar") &&
	EICAR_SUM=${EICAR_SUM%% *}
EICAR='/home/alice/Down loads/eicar.com'

ab() { "$AVBATCH" --engines-dir "$top_srcdir/engines" \
	--state-dir "$T/state" "$@"; }
clean() { ab clean -o clamav.database="$T/sigs" --undo-dir "$T/undo" \
	--quarantine "$T/q" "$@"; }

# p3 (ext4) of the image as a file: sums of its files (path, sha256)
# through a read-only mount, and its e2fsck -fn.
p3() {
	rm -f "$T/all.raw" "$T/p3.raw"
	qemu-img convert -q -O raw "$IMG" "$T/all.raw" || return 1
	local start size
	start=$(sfdisk -J "$T/all.raw" | jq '.partitiontable.partitions[2].start')
	size=$(sfdisk -J "$T/all.raw" | jq '.partitiontable.partitions[2].size')
	dd if="$T/all.raw" of="$T/p3.raw" bs=512 skip="$start" count="$size" \
		status=none && rm -f "$T/all.raw"
}
p3_sums() {	# p3_sums OUT
	p3 && mkdir -p "$T/m" && mount -o ro,loop,noload "$T/p3.raw" "$T/m" ||
		return 1
	(cd "$T/m" && find . -type f -print0 | LC_ALL=C sort -z |
		xargs -0 sha256sum) >"$1"
	stat -c '%a %u %g %Y' "$T/m$EICAR" >"$1.stat" 2>/dev/null
	umount "$T/m"
}
at_exit umount "$T/m"

run_scan() {	# run_scan REPORT: exit status of a run of the clone
	ab run --engine clamav -o clamav.database="$T/sigs" --report "$1" \
		"$IMG" >"$T/run.out" 2>"$T/run.err"
}
found() {	# found REPORT: fs and path of each detection
	jq -r '.targets[].detections[] | [.fs, .path] | @tsv' "$1" |
		LC_ALL=C sort
}
same_disk() { qemu-img compare -q "$T/vm.before" "$IMG"; }

run_scan "$T/report.json"
is "$?" 1 "run finds the planted files"
is "$(found "$T/report.json")" "p1	/EFI/test dir/clam.exe
p3	$EICAR" "both planted detections, with their sha256" &&
	is "$(jq -r '[.targets[].detections[].sha256 | length] | @tsv' \
		"$T/report.json")" "64	64" "each detection has its sha256"
cp "$IMG" "$T/vm.before"
p3_sums "$T/sums.before" || bail_out "cannot read p3 before"

# Usage: another action is not implemented yet.
clean --action delete "$T/report.json" >"$T/out" 2>"$T/err"
is "$?" 2 "--action delete: exit 2"
like "$(cat "$T/err")" "not implemented yet" "... said not implemented"

# --dry-run: the plans, and no byte written.
clean --dry-run "$T/report.json" >"$T/out" 2>"$T/err"
is "$?" 0 "--dry-run exits 0: both can be cleaned"
like "$(cat "$T/out")" "p3 \(ext4\): ext4 rw" "--dry-run shows the ext4 plan"
like "$(cat "$T/out")" "p1 \(vfat\): mtools" "... and the FAT one"
like "$(cat "$T/out")" "would quarantine p3 $EICAR" \
	"--dry-run names what it would quarantine"
ok "--dry-run: the disk is unchanged" same_disk
ok_not "--dry-run: no undo point" test -e "$T/undo"

# A detection on a file system with no writable plan (the swap area):
# refused, no undo point, no byte changed.
jq '(.targets[].detections[] | select(.fs == "p3") | .fs) |= "p2"' \
	"$T/report.json" >"$T/swap.json"
clean --threat 'Test.EICAR*' --report "$T/swap.out" "$T/swap.json" \
	>"$T/out" 2>"$T/err"
is "$?" 2 "a detection on swap: exit 2"
is "$(jq -r '.targets[0].remediation.detections[] | [.fs, .result] |
	@tsv' "$T/swap.out")" "p2	refused" "... refused"
like "$(jq -r '.targets[0].remediation.detections[0].reason' \
	"$T/swap.out")" "swap" "... saying why"
ok "refused: the disk is unchanged" same_disk
ok_not "refused: no undo point" test -e "$T/undo"
clean --dry-run --threat 'Test.EICAR*' "$T/swap.json" >"$T/out" 2>"$T/err"
like "$(cat "$T/out")" "refused p2 $EICAR \(Test.EICAR" \
	"--dry-run shows a refusal as refused, not as what it would do"

# A file changed since the scan (its sha256 in the report differs).
jq '(.targets[].detections[] | select(.fs == "p3") | .sha256) |=
	("00" + .[2:])' "$T/report.json" >"$T/stale.json"
clean --threat 'Test.EICAR*' --report "$T/stale.json.out" "$T/stale.json" \
	>"$T/out" 2>"$T/err"
is "$?" 1 "a changed file: exit 1, it remains"
is "$(jq -r '.targets[0].remediation.detections[0].result' \
	"$T/stale.json.out")" "changed since the scan" \
	"... reported changed since the scan"
ok "... and the disk is as before (brought back from its undo point)" \
	same_disk
rm -rf "$T/undo"

# A detection whose guest path is a symbolic link (to the infected file:
# the link is never followed, neither is removed).
jq '(.targets[].detections[] | select(.fs == "p3") | .path) |=
	"/home/alice/eicar-link"' "$T/report.json" >"$T/link.json"
clean --threat 'Test.EICAR*' --report "$T/link.json.out" "$T/link.json" \
	>"$T/out" 2>"$T/err"
is "$?" 2 "a detection at a symbolic link: exit 2"
is "$(jq -r '.targets[0].remediation.detections[0] | [.result, .reason] |
	@tsv' "$T/link.json.out")" "refused	cannot open it without \
following a link: Too many levels of symbolic links" "... refused, not followed"
ok "... and the disk is as before" same_disk
rm -rf "$T/undo"

# A disk a qemu holds writable: refused.
fx_hold "$IMG" qcow2 "$T/held" || bail_out "cannot hold the image"
clean --threat 'Test.EICAR*' --report "$T/held.json" "$T/report.json" \
	>"$T/out" 2>"$T/err"
is "$?" 2 "a disk in use: exit 2"
like "$(jq -r '.targets[0].remediation.reason' "$T/held.json")" "in use" \
	"... with the reason"
kill "$FX_HOLD_PID" && wait "$FX_HOLD_PID" 2>/dev/null
ok "in use: the disk is unchanged" same_disk
ok_not "in use: no undo point" test -e "$T/undo"

# A disk a running qemu has open as a VM does: refused.
qemu-system-x86_64 -machine none -nodefaults -display none -S \
	-drive "if=none,id=d0,format=qcow2,file=$IMG" >"$T/vm.log" 2>&1 &
VM_PID=$!
at_exit kill "$VM_PID"
for _ in $(seq 100); do
	find "/proc/$VM_PID/fd" -lname "$IMG" 2>/dev/null | grep -q . && break
	sleep 0.1
done
sleep 0.3
clean --threat 'Test.EICAR*' --report "$T/vm.json" "$T/report.json" \
	>"$T/out" 2>"$T/err"
is "$?" 2 "a disk a VM has open: exit 2"
like "$(jq -r '.targets[0].remediation.reason' "$T/vm.json")" "in use" \
	"... with the reason"
kill "$VM_PID" && wait "$VM_PID" 2>/dev/null
ok "VM: the disk is unchanged" same_disk

# The clean itself.
clean --report "$T/clean.json" "$T/report.json" >"$T/out" 2>"$T/err"
is "$?" 0 "clean exits 0" || _diag_file "$T/err"
is "$(tail -n 1 "$T/out")" "2 removed, exit 0" "the summary's last line"
R=$(jq -c '.targets[0].remediation' "$T/clean.json")
is "$(jq -r '.detections[] | [.fs, .path, .result] | @tsv' <<<"$R")" \
	"p1	/EFI/test dir/clam.exe	removed
p3	$EICAR	removed" "both detections are removed"
is "$(jq -r '.filesystems[] | [.id, .check_before, .check_after] | @tsv' \
	<<<"$R")" "p1	fsck.vfat clean	fsck.vfat clean
p3	e2fsck clean	e2fsck clean" "checked before and after"
is "$(jq -r '.rescanned' <<<"$R")" true "the rescan ran"
JOB=$(jq -r '.job' "$T/clean.json")
like "$(jq -r '.undo' <<<"$R")" "^$JOB/disk-" "the undo point is named"
QID=$(jq -r '.detections[] | select(.fs == "p3") | .quarantine_id' <<<"$R")
QFAT=$(jq -r '.detections[] | select(.fs == "p1") | .quarantine_id' <<<"$R")
ab quarantine --quarantine "$T/q" export "$QFAT" "$T/exported-fat"
ok "the FAT file's quarantined bytes are the planted file's" cmp \
	"$T/exported-fat" "$FX_TESTFILES/clam.exe"
ok "the quarantined file exports" ab quarantine --quarantine "$T/q" export \
	"$QID" "$T/exported"
is "$(sha256sum <"$T/exported" | cut -d' ' -f1)" "$EICAR_SUM" \
	"the quarantined bytes are the planted file's"
ab quarantine --quarantine "$T/q" show --json "$QID" >"$T/rec.json"
is "$(printf '%o %s' "$(jq -r '.mode % 4096' "$T/rec.json")" \
	"$(jq -r '"\(.uid) \(.gid) \(.mtime.sec)"' "$T/rec.json")")" \
	"$(cat "$T/sums.before.stat")" "the record keeps its mode, owner and mtime"
ok "the backing file is unchanged" bash -c 'cd "$1" && sha256sum -c \
	--quiet "$2"' _ "$T/img" "$T/base.sum"
p3_sums "$T/sums.after"
ok "e2fsck -fn finds p3 clean" e2fsck -fn "$T/p3.raw"
is "$(grep -v 'eicar.com$' "$T/sums.before")" "$(cat "$T/sums.after")" \
	"every other file of p3 is byte-identical, the infected one gone"
run_scan "$T/rescan.json"
is "$?" 0 "a new run finds nothing"

# Undo.
ok "undo" ab undo --undo-dir "$T/undo" "$JOB"
ok "the disk is what it was before clean" same_disk
run_scan "$T/again.json"
is "$(found "$T/again.json")" "$(found "$T/report.json")" \
	"a rescan finds the planted files again"

is "$(leftovers)" "" "nothing left behind"
done_testing
