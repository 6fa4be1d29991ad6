#!/bin/bash
# Four runs started at once in one state directory, ten rounds: none
# removes another's job directory as the leftover of a dead job (each
# holds a lock on its directory for its life), so all 40 complete, each
# report with its own targets and detections; cleanup and status see
# nothing left afterwards.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd jq mkfs.ext4

plan 6

# A quick stand-in engine: reports the EICAR files of its list.
mkdir -p "$T/eng" "$T/bin" "$T/img"
cat >"$T/bin/grepscan" <<'SH'
#!/bin/bash
# Test engine: reports EICAR files.
while IFS= read -r f; do
	grep -q EICAR-STANDARD-ANTIVIRUS-TEST-FILE -- "$f" && echo "$f: Test.EICAR FOUND"
done <"$1"
exit 0
SH
chmod 0755 "$T/bin/grepscan"
fx_engine "$T/eng" grep "$T/bin/grepscan"
# Run K scans a-K.raw (EICAR at /d/eicar-K.com) and b-K.raw (clean).
for k in 1 2 3 4; do
	mkdir -p "$T/tree$k/d"
	echo "clean $k" >"$T/tree$k/d/f.txt"
	mkfs.ext4 -q -F -d "$T/tree$k" "$T/img/b-$k.raw" 8M >&2 || bail_out "mkfs failed"
	fx_eicar "$T/tree$k/d/eicar-$k.com"
	mkfs.ext4 -q -F -d "$T/tree$k" "$T/img/a-$k.raw" 8M >&2 || bail_out "mkfs failed"
done

# One run's report as "targets|statuses|detection paths".
summary() {
	jq -r '[([.targets[].name] | join(",")),
		([.targets[].status] | join(",")),
		([.targets[].detections[].path] | join(","))] | join("|")' "$1"
}

# Every finished job's directory kept (keep_jobs would prune them): the
# point is that no run removes another's.
printf '[avbatch]\ncache = none\nkeep_jobs = 1000\n' >"$T/keep.conf"
chmod 0644 "$T/keep.conf"
bad=0 good=0
for round in $(seq 10); do
	pids=()
	for k in 1 2 3 4; do
		"$AVBATCH" --config "$T/keep.conf" --engines-dir "$T/eng" \
			--state-dir "$T/state" -q run \
			--engine grep --report "$T/r$round-$k.json" \
			"$T/img/a-$k.raw" "$T/img/b-$k.raw" \
			>"$T/out$round-$k" 2>"$T/err$round-$k" &
		pids+=("$!")
	done
	for k in 1 2 3 4; do
		wait "${pids[k - 1]}"
		rc=$?
		got="$rc|$(summary "$T/r$round-$k.json" 2>/dev/null)"
		want="1|a-$k.raw,b-$k.raw|infected,clean|/d/eicar-$k.com"
		if [ "$got" = "$want" ]; then
			good=$((good + 1))
		else
			bad=$((bad + 1))
			[ "$bad" -le 3 ] && diag "round $round run $k: $got" &&
				_diag_file "$T/err$round-$k" 5
		fi
	done
done
is "$good/40" "40/40" "40 of 40 concurrent runs complete with their own report"
is "$(ls "$T/state/jobs" | wc -l)" 40 "each left its own job directory"
is "$(cat "$T"/r*.json | jq -r .job | sort -u | wc -l)" 40 "under 40 different job ids"
out=$("$AVBATCH" --state-dir "$T/state" cleanup 2>&1)
is "$?:$out" "0:nothing to clean up" "cleanup: finished jobs are not dead jobs"
is "$("$AVBATCH" --state-dir "$T/state" status 2>&1)" "no job is running" \
	"status: no job is running"
is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
