#!/bin/bash
# t2971-clean-ntfs: avbatch clean of a vmdk with two NTFS partitions
# (ntfs-3g, checked with ntfsfix -n before and after): both detections
# quarantined with the planted bytes, a rescan finds nothing, undo brings
# the disk back.  And the proof: when the rescan still finds a removed
# threat (a copy the report did not list), the change is rolled back by
# its undo point, the image byte for byte as before, exit 2.
. "$(dirname "$0")/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq ntfs-3g ntfsfix mkfs.ext4

fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
mkdir -p "$T/img"
{
	_fx_begin "$T/img" && _fx_batch_mbr "$T/img" &&
	r=$(_fx_tree two) && _fx_put_eicar "$r/a/eicar.com" &&
	_fx_put_eicar "$r/b/copy.com" && _fx_file "$r/keep.txt" keep &&
	_fx_mkfs ext4 "$T/img/two.raw" 16M two "$r" && _fx_end
} || bail_out "cannot build the test images"
fx_eicar "$T/eicar" || bail_out "no eicar"

ab() { "$AVBATCH" --engines-dir "$top_srcdir/engines" \
	--state-dir "$T/state" "$@"; }
clean() { ab clean -o clamav.database="$T/sigs" --undo-dir "$T/undo" \
	--quarantine "$T/q" "$@"; }
run_scan() {	# run_scan REPORT IMAGE
	ab run --engine clamav -o clamav.database="$T/sigs" --report "$1" \
		"$2" >"$T/run.out" 2>"$T/run.err"
}
found() {
	jq -r '.targets[].detections[] | [.fs, .path] | @tsv' "$1" |
		LC_ALL=C sort
}
sum() { sha256sum <"$1" | cut -d' ' -f1; }

IMG=$T/img/mbr.vmdk
run_scan "$T/report.json" "$IMG"
is "$?" 1 "run finds the planted files"
is "$(found "$T/report.json")" "p1	/Users/Bob/My Documents/clam.pdf
p2	/data/eicar copy.com" "in both NTFS partitions"
cp "$IMG" "$T/mbr.before"

clean --report "$T/clean.json" "$T/report.json" >"$T/out" 2>"$T/err"
is "$?" 0 "clean exits 0" || _diag_file "$T/err"
R=$(jq -c '.targets[0].remediation' "$T/clean.json")
is "$(jq -r '.detections[] | [.fs, .result] | @tsv' <<<"$R")" "p1	removed
p2	removed" "both removed"
is "$(jq -r '.filesystems[] | [.id, .plan, .check_before, .check_after] |
	@tsv' <<<"$R" | cut -f1,3,4)" "p1	ntfsfix clean	ntfsfix clean
p2	ntfsfix clean	ntfsfix clean" "ntfsfix -n clean before and after"
like "$(jq -r '.filesystems[0].plan' <<<"$R")" "^ntfs-3g " \
	"written through ntfs-3g"
Q1=$(jq -r '.detections[0].quarantine_id' <<<"$R")
Q2=$(jq -r '.detections[1].quarantine_id' <<<"$R")
ab quarantine --quarantine "$T/q" export "$Q1" "$T/x1" &&
	ab quarantine --quarantine "$T/q" export "$Q2" "$T/x2"
is "$(sum "$T/x1") $(sum "$T/x2")" \
	"$(sum "$FX_TESTFILES/clam.pdf") $(sum "$T/eicar")" \
	"the quarantined bytes are the planted files'"
run_scan "$T/rescan.json" "$IMG"
is "$?" 0 "a new run finds nothing"
JOB=$(jq -r '.job' "$T/clean.json")
ok "undo" ab undo --undo-dir "$T/undo" "$JOB"
ok "the disk is what it was before clean" qemu-img compare -q \
	"$T/mbr.before" "$IMG"
run_scan "$T/again.json" "$IMG"
is "$(found "$T/again.json")" "$(found "$T/report.json")" \
	"a rescan finds the planted files again"

# A copy the report does not list: the rescan finds the threat, rollback.
IMG=$T/img/two.raw
run_scan "$T/two.json" "$IMG"
is "$(found "$T/two.json" | wc -l)" 2 "two copies found"
cp "$IMG" "$T/two.before"
jq 'del(.targets[0].detections[1])' "$T/two.json" >"$T/one.json"
clean --report "$T/one.out" "$T/one.json" >"$T/out" 2>"$T/err"
is "$?" 2 "the rescan still finds it: exit 2"
R=$(jq -c '.targets[0].remediation' "$T/one.out")
is "$(jq -r '[.rolled_back, .detections[0].result] | @tsv' <<<"$R")" \
	"true	rolled back" "the change is rolled back"
like "$(jq -r '.reason' <<<"$R")" "rescan still finds" "... and says why"
ok "the raw image is byte for byte as before" cmp "$T/two.before" "$IMG"

# A file with a named stream: the stream goes with it, enciphered; a
# detection in a stream (the report has no sha256 of it) is refused.
fx_streams "$T/st" || bail_out "cannot build the streams image"
IMG=$T/st/streams.raw
run_scan "$T/st.json" "$IMG"
like "$(found "$T/st.json")" "p1	/odd:name" "the file with a stream is found"
like "$(found "$T/st.json")" "p1	/Docs/readme.txt:payload.exe" \
	"and the stream"
clean --report "$T/st.out" "$T/st.json" >"$T/out" 2>"$T/err"
is "$?" 2 "a stream detection is refused: exit 2"
R=$(jq -c '.targets[0].remediation' "$T/st.out")
is "$(jq -r '.detections[] | select(.path == "/odd:name") | .result' \
	<<<"$R")" removed "the file with a stream is removed"
is "$(jq -r '[.detections[] | select(.path |
	startswith("/Docs/readme.txt:")) | .result] | unique | @tsv' \
	<<<"$R")" refused "the stream detections are refused (left alone)"
QS=$(jq -r '.detections[] | select(.path == "/odd:name") |
	.quarantine_id' <<<"$R")
ok "its stream is kept: export --stream" ab quarantine --quarantine "$T/q" \
	export --stream s "$QS" "$T/xs"
is "$(cat "$T/xs")" clean "... with its bytes"

is "$(leftovers)" "" "nothing left behind"
done_testing
