#!/bin/bash
# The acceptance batch of issue #2: seven real images of every kind, one run.
# Exactly the planted detections, the right skip reasons, the truncated image
# as an error, exit 1, images unchanged, nothing left behind.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq ntfs-3g fusefat

plan 16

fx_batch "$T/img" || bail_out "cannot build the test images"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
(cd "$T/img" && sha256sum "${FX_IMAGES[@]##*/}") >"$T/sums.before"

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine clamav -o clamav.database="$T/sigs" --report "$T/report.json" \
	"${FX_IMAGES[@]}" >"$T/out" 2>"$T/err"
rc=$?
is "$rc" 1 "run exits 1: something was found" || _diag_file "$T/err" 40

ok "the report is valid JSON" jq -e . "$T/report.json"
is "$(jq -r '.schema' "$T/report.json")" 2 "report schema is 2"
is "$(jq -r '[.exit_code, .status] | @tsv' "$T/report.json")" "1	infected" \
	"report records exit 1 and status infected"

got=$(jq -r '.targets[] | .name as $n | .detections[] | [$n, .fs, .path] | @tsv' \
	"$T/report.json" | LC_ALL=C sort)
is "$got" "$(cat "$T/img/expect.detections")" \
	"exactly the planted detections, with fs ids and guest paths"

is "$(jq -r '[.targets[].detections[] | select(.engine != "clamav")] | length' \
	"$T/report.json")" 0 "every detection names its engine"

# File systems: status and reason as expected, target errors for fsid "-".
bad=
while IFS=$'\t' read -r img fs status reason; do
	if [ "$fs" = - ]; then
		got=$(jq -r --arg n "$img" '.targets[] | select(.name == $n) |
			[.status, (.reason // "")] | @tsv' "$T/report.json")
	else
		got=$(jq -r --arg n "$img" --arg f "$fs" '.targets[] |
			select(.name == $n) | .filesystems[] | select(.id == $f) |
			[.status, (.reason // "")] | @tsv' "$T/report.json")
	fi
	case "$got" in
	"$status"*"$reason"*) ;;
	*) bad="$bad $img:$fs=[$got]" ;;
	esac
done <"$T/img/expect.fs"
is "$bad" "" "every file system has the expected status and reason"

n_fs=$(jq '[.targets[].filesystems[]] | length' "$T/report.json")
is "$n_fs" "$(grep -vc '	-	' "$T/img/expect.fs")" "no file system more or less than expected"

like "$(jq -r '.targets[] | select(.name == "trunc.qcow2") | .reason' "$T/report.json")" \
	'.' "the truncated image's error carries the underlying message"

is "$(jq -r '.targets[] | select(.name == "gpt.qcow2") | .filesystems[] |
	select(.id == "p3") | .files.scanned > 0' "$T/report.json")" true \
	"files are counted"

like "$(cat "$T/out")" 'FOUND p17:/p17 dir/eicar.com' "the text summary names each detection"

# inspect says what run would do; on the same images it must match run.
"$AVBATCH" --state-dir "$T/state" inspect --json "${FX_IMAGES[@]}" \
	>"$T/inspect.json" 2>"$T/inspect.err"
rc=$?
is "$rc" 2 "inspect exits 2 when an image cannot be read" || _diag_file "$T/inspect.err"
plan_of() {	# what inspect planned, in run's words
	jq -r '.[] | .name as $n | .filesystems[] |
		[$n, .id, .type // "-", (if .action != "skip" then "scanned"
		else "skipped" end), (.reason // "")] | @tsv' "$1"
}
did_of() {	# what run did
	jq -r '.targets[] | .name as $n | .filesystems[] |
		[$n, .id, .type // "-", .status, (if .status == "skipped"
		then .reason else "" end)] | @tsv' "$1"
}
is "$(plan_of "$T/inspect.json")" "$(did_of "$T/report.json")" \
	"inspect --json lists the file systems run scanned or skipped, with the same reasons"
is "$(jq -r '[.[] | [.name, .format, .status] | join(":")] | join(" ")' "$T/inspect.json")" \
	"$(jq -r '[.targets[] | [.name, .format, (if .status == "error" or .status == "incomplete" then .status else "ready" end)] | join(":")] | join(" ")' "$T/report.json")" \
	"inspect and run agree on formats, the unreadable image and the one not fully readable"

(cd "$T/img" && sha256sum "${FX_IMAGES[@]##*/}") >"$T/sums.after"
is "$(cat "$T/sums.after")" "$(cat "$T/sums.before")" "no image changed"
is "$(leftovers)" "" "nothing left mounted, attached or running"

done_testing
