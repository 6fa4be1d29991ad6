#!/bin/bash
# Volumes avbatch cannot see through, or can see only as they were: a
# hibernated (Fast Startup) NTFS is mounted read-only anyway and carries a
# warning; a Windows dynamic disk (LDM) partition and an MD RAID member
# are skipped with a reason, not dropped.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan jq sfdisk mkntfs ntfs-3g

plan 7

fx_special "$T/img" || bail_out "cannot build the test image"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
(cd "$T/img" && sha256sum hiber.raw) >"$T/sums.before"

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine clamav -o clamav.database="$T/sigs" --report "$T/report.json" \
	"$T/img/hiber.raw" >"$T/out" 2>"$T/err"
is "$?" 1 "run exits 1: found" || _diag_file "$T/err"
is "$(jq -r '.targets[].detections[] | [.fs, .path] | @tsv' "$T/report.json")" \
	"p1	/Users/Eve/eicar.com" "the hibernated NTFS is scanned"
like "$(jq -r '.targets[].filesystems[] | select(.id == "p1") |
	[.status, .warning] | @tsv' "$T/report.json")" \
	'^scanned	hibernated or shut down with Fast Startup' \
	"and carries a warning that its files may be stale"
like "$(jq -r '.targets[].filesystems[] | select(.id == "p2") |
	[.status, .reason] | @tsv' "$T/report.json")" \
	'^skipped	Windows dynamic disk \(LDM\)' "an LDM partition is skipped with its reason"
like "$(jq -r '.targets[].filesystems[] | select(.id == "p3") |
	[.type, .status, .reason] | @tsv' "$T/report.json")" \
	'^linux_raid_member	skipped	MD RAID member' "an MD RAID member is skipped with its reason"

(cd "$T/img" && sha256sum hiber.raw) >"$T/sums.after"
is "$(cat "$T/sums.after")" "$(cat "$T/sums.before")" "no image changed"
is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
