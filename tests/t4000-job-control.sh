#!/bin/bash
# A running job steered from another shell: status, pause (engines frozen:
# state T, no CPU), resume, stop (everything released, partial report).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd jq mkfs.ext4 sfdisk

plan 24

# A CPU-bound stand-in engine: it works on each listed file for a while.
mkdir -p "$T/eng" "$T/bin" "$T/img" "$T/tree/d"
cat >"$T/bin/slowscan" <<'SH'
#!/bin/bash
# Test engine: burns CPU for every file of its list, reports EICAR files.
while IFS= read -r f; do
	i=0; while [ $i -lt 60000 ]; do i=$((i + 1)); done
	grep -q EICAR-STANDARD-ANTIVIRUS-TEST-FILE -- "$f" && echo "$f: Test.EICAR FOUND"
done <"$1"
exit 0
SH
chmod 0755 "$T/bin/slowscan"
fx_engine "$T/eng" slow "$T/bin/slowscan"
for i in $(seq 30); do echo "file $i" >"$T/tree/d/f$i.txt"; done
fx_eicar "$T/tree/d/eicar.com"
for n in 1 2 3; do
	truncate -s 16M "$T/img/vm$n.raw"
	mkfs.ext4 -q -F -d "$T/tree" "$T/img/vm$n.raw" || bail_out "mkfs failed"
done

"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run --engine slow \
	--exclude '/no/such/dir/*' \
	--report "$T/report.json" "$T"/img/vm*.raw >"$T/out" 2>"$T/err" &
pid=$!
at_exit kill -9 "$pid"
av() { "$AVBATCH" --state-dir "$T/state" "$@"; }

engine=
for _ in $(seq 300); do
	engine=$(pgrep -P "$pid" -f slowscan | head -1)
	[ -n "$engine" ] && break
	sleep 0.05
done
ok "the engine is running" test -n "$engine"

av status >"$T/st" 2>&1
like "$(cat "$T/st")" "^job [0-9T]+-[0-9a-f]{4}  running  0/3 targets done" "status: the job is running"
like "$(cat "$T/st")" "vm1.raw +scanning +whole slow" "status: the first target is being scanned, by which engine"
av status --json >"$T/st.json"
is "$(jq -r '.[0].targets | map(.state) | join(",")' "$T/st.json")" "scanning,pending,pending" \
	"status --json: one target scanning, two pending"
like "$(jq -r '.[0].processes | map(select(.role == "engine")) | .[0].pid' "$T/st.json")" \
	"^$engine\$" "status --json: names the engine's pid"

av pause >"$T/p" 2>&1
like "$?:$(cat "$T/p")" "^0:job .*: paused" "pause: accepted"
sleep 0.3
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
state() { awk '{ print $3 }' "/proc/$1/stat"; }
c1=$(cpu "$engine"); s1=$(state "$engine")
sleep 3
c2=$(cpu "$engine"); s2=$(state "$engine")
is "$s1$s2" "TT" "paused: the engine is stopped (state T)"
is "$c2" "$c1" "paused: the engine used no CPU in 3 s"
like "$(av status)" "  paused  " "status says paused"

av resume >/dev/null 2>&1
sleep 0.5
like "$(state "$engine" 2>/dev/null || echo gone)" "^(R|S|gone)$" "resume: the engine runs again"
like "$(av status)" "  running  " "status says running again"

# Let the first target finish, then stop during the second.
for _ in $(seq 600); do
	[ "$(av status --json | jq -r '.[0].targets_done')" -ge 1 ] && break
	sleep 0.1
done
job=$(av status --json | jq -r '.[0].job')
t0=$(date +%s)
av stop >"$T/s" 2>&1
like "$(cat "$T/s")" "stopping; .*avbatch run --resume $job" "stop: accepted, and says how to resume"
wait "$pid"; rc=$?
is "$(( $(date +%s) - t0 < 30 ))/$rc" "1/1" "run ends within 30 s; exit 1 (something was found before the stop)"
like "$(jq -r '[.targets[].status] | join(",")' "$T/report.json")" "stopped" \
	"the report marks unfinished targets stopped"
is "$(jq -r '.targets[2].status' "$T/report.json")" "stopped" "the last target never started"
like "$(av status)" "no job is running" "status: no job running afterwards"
is "$(leftovers)" "" "nothing left mounted, attached or running"

# --resume: the same engines and settings, only the targets that did not
# finish are scanned, and the report covers the whole batch.
stopped=$(jq -r '[.targets[] | select(.status == "stopped") | .name] | join(",")' "$T/report.json")
finished=$(jq -r '[.targets[] | select(.status != "stopped") | .name] | join(",")' "$T/report.json")
"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run --resume "$job" \
	--report "$T/resumed.json" >"$T/out2" 2>"$T/err2"
is "$?" 1 "--resume: exit 1 (EICAR in each image)" || _diag_file "$T/err2"
is "$(jq -r '[.targets[].name] | join(",")' "$T/resumed.json")" \
	"$(jq -r '[.targets[].name] | join(",")' "$T/report.json")" \
	"the resumed job's report covers the whole batch"
is "$(jq -r '[.targets[] | select(.cached | not) | .name] | join(",")' "$T/resumed.json")" "$stopped" \
	"--resume scans exactly the targets that were stopped ($stopped); $finished keeps its result"
is "$(jq -r '[.targets[].status] | unique | join(",")' "$T/resumed.json")" infected \
	"and finishes them"
newjob=$(jq -r .job "$T/resumed.json")
is "$(jq -c '[.cache, .exclude]' "$T/state/jobs/$newjob/run.json")" \
	'[null,["/no/such/dir/*"]]' \
	"with the stopped job's cache choice (none) and exclusions"
is "$(jq -r '[.engines[].name] | join(",")' "$T/resumed.json")" slow "with the job's engine"
is "$(av jobs --json | jq -r --arg a "$job" --arg b "$newjob" \
	'[.[] | select(.job == $a or .job == $b) | "\(.state)/\(.stopped)/\(.targets)"] | join(" ")')" \
	"infected/true/3 infected/false/3" "jobs lists the finished jobs: the stopped one and its resumption"
done_testing
