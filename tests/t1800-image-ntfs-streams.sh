#!/bin/bash
# NTFS named data streams ("readme.txt:payload.exe") are scanned and
# reported as path:stream, and counted as files; a stream name may hold a
# colon.  A file whose own name holds a colon is scanned as usual, but
# ntfs-3g cannot open its streams by name: they are counted as not read,
# never as clean.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan jq sfdisk mkntfs ntfs-3g

plan 8

fx_streams "$T/img" || bail_out "cannot build the test image"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
(cd "$T/img" && sha256sum streams.raw) >"$T/sums.before"

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine clamav -o clamav.database="$T/sigs" --report "$T/report.json" \
	"$T/img/streams.raw" >"$T/out" 2>"$T/err"
is "$?" 1 "run exits 1: found" || _diag_file "$T/err"
is "$(jq -r '.targets[].detections[] | [.fs, .path] | @tsv' "$T/report.json" |
	LC_ALL=C sort)" \
	"p1	/Docs/readme.txt:a:b
p1	/Docs/readme.txt:payload.exe
p1	/odd:name" \
	"EICAR in the named streams is found, reported as path:stream"
is "$(jq -r '.targets[].filesystems[] | select(.id == "p1") |
	[.files.scanned, .files.streams] | @tsv' "$T/report.json")" \
	"5	2" "streams count as files: 3 files and 2 streams scanned"
is "$(jq -r '.targets[].filesystems[] | select(.id == "p1") |
	.files.skipped_reasons.unreadable' "$T/report.json")" \
	"1" "the stream of the file named 'odd:name' is counted as not read"
like "$(jq -r '.targets[].filesystems[] | select(.id == "p1") | .status' \
	"$T/report.json")" "^(scanned|partial)$" "the file system is scanned"
like "$(jq -r '.targets[].filesystems[] | select(.id == "p1") | .reason' \
	"$T/report.json")" "could not be read" \
	"and says that some entries could not be read"

(cd "$T/img" && sha256sum streams.raw) >"$T/sums.after"
is "$(cat "$T/sums.after")" "$(cat "$T/sums.before")" "no image changed"
is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
