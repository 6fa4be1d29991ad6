#!/bin/bash
# Internal qcow2 snapshots: a file deleted after 'qemu-img snapshot -c' still
# lives in the snapshot (reverting the VM brings it back).  Without
# --snapshots the target is incomplete and says how many were not scanned;
# with it, each snapshot is scanned and its detections name it.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq mkfs.ext4

plan 16

mkdir -p "$T/img" "$T/a/dir" "$T/b/dir"
fx_eicar "$T/a/dir/eicar.com"
echo clean >"$T/b/dir/readme.txt"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
for x in a b; do
	truncate -s 16M "$T/$x.raw"
	mkfs.ext4 -q -F -d "$T/$x" "$T/$x.raw" || bail_out "mkfs failed"
done
# The infected state, two snapshots of it (one with a name of odd bytes),
# then the current state overwritten with the clean one.
img="$T/img/vm.qcow2"
qemu-img convert -O qcow2 "$T/a.raw" "$img" &&
	qemu-img snapshot -c snap1 "$img" &&
	qemu-img snapshot -c $'odd,\xff name' "$img" &&
	qemu-img convert -n -O qcow2 "$T/b.raw" "$img" ||
	bail_out "cannot build the image"
is "$(qemu-img info --output=json "$img" | jq '.snapshots | length')" 2 \
	"the fixture has two internal snapshots"
sha256sum "$img" >"$T/sum.before"
sleep 2.1	# an image changed just now is never recalled from the cache

run() {
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run -o clamav.database="$T/sigs" --cache "$T/cache.sqlite" \
		--report "$T/report.json" "$@" \
		>"$T/out" 2>"$T/err"
}

run "$img"
is "$?" 2 "without --snapshots: exit 2 (not covered)" || _diag_file "$T/err"
is "$(jq -r '.targets[0] | [.status, .complete, .reason] | @tsv' "$T/report.json")" \
	"incomplete	false	2 internal snapshots not scanned (--snapshots)" \
	"the target is incomplete, saying how many snapshots were not scanned"
is "$(jq -c '.targets[0].snapshots | [.count, .scanned, (.names | length)]' "$T/report.json")" \
	'[2,false,2]' "the report lists them as not scanned"
is "$(jq '.targets[0].detections | length' "$T/report.json")" 0 \
	"the current state holds nothing"

run --snapshots "$img"
is "$?" 1 "with --snapshots: exit 1 (found)" || _diag_file "$T/err"
is "$(jq -r '.targets[0] | [.status, .complete] | @tsv' "$T/report.json")" \
	"infected	true" "the target is infected, and complete"
is "$(jq -r '.targets[0].detections[] | select(.snapshot == "snap1") | [.fs, .path] | @tsv' "$T/report.json")" \
	"whole	/dir/eicar.com" "the file deleted since snap1 is found there"
like "$(jq -r '.targets[0].detections[] | .snapshot | select(. != "snap1")' "$T/report.json")" \
	'^odd,.* name$' "a snapshot name of odd bytes is reported, not mangled into a path" ||
	diag "$(jq -c '.targets[0].detections' "$T/report.json")"
is "$(jq -c '.targets[0].snapshots | [.count, .scanned]' "$T/report.json")" \
	'[2,true]' "the report says the snapshots were scanned"
like "$(cat "$T/out")" 'FOUND whole:/dir/eicar.com: .* in snapshot snap1' \
	"the text summary names the snapshot too"

# The target's result is remembered with the snapshots asked or not.
run --snapshots "$img"
is "$(jq -r '.targets[0] | [.cached, .status] | @tsv' "$T/report.json")" \
	"true	infected" "a second run with --snapshots recalls the result"
is "$(jq -r '[.targets[0].detections[].snapshot] | length' "$T/report.json")" 2 \
	"with the snapshots its detections were found in"
run "$img"
is "$(jq -r '.targets[0] | [.cached, .status] | @tsv' "$T/report.json")" \
	"false	incomplete" \
	"a run without --snapshots after one with it is incomplete again"

sha256sum "$img" >"$T/sum.after"
is "$(cat "$T/sum.after")" "$(cat "$T/sum.before")" "the image did not change"
is "$(leftovers)" "" "nothing left behind"
done_testing
