#!/bin/bash
# --jobs 2 on six images, driven from another shell: two targets scan at
# once, pause freezes both engines, stop ends it all within 30 s; and
# --timeout ends a target that takes too long, the others unaffected.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd jq mkfs.ext4

plan 16

mkdir -p "$T/eng" "$T/bin" "$T/img" "$T/tree/d"
cat >"$T/bin/slowscan" <<'SH'
#!/bin/bash
# Test engine: burns CPU for every file of its list, reports EICAR files;
# a file named "sleep" makes it sleep instead (for --timeout).
while IFS= read -r f; do
	case $f in */sleep) sleep 120 ;; esac
	i=0; while [ $i -lt 40000 ]; do i=$((i + 1)); done
	grep -q EICAR-STANDARD-ANTIVIRUS-TEST-FILE -- "$f" && echo "$f: Test.EICAR FOUND"
done <"$1"
exit 0
SH
chmod 0755 "$T/bin/slowscan"
fx_engine "$T/eng" slow "$T/bin/slowscan" parallel-safe
for i in $(seq 40); do echo "file $i" >"$T/tree/d/f$i.txt"; done
for n in 1 2 3 4 5 6; do
	truncate -s 16M "$T/img/vm$n.raw"
	mkfs.ext4 -q -F -d "$T/tree" "$T/img/vm$n.raw" || bail_out "mkfs failed"
done
av() { "$AVBATCH" --state-dir "$T/state" "$@"; }

"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run --engine slow \
	--jobs 2 --report "$T/report.json" "$T"/img/vm*.raw >"$T/out" 2>"$T/err" &
pid=$!
at_exit kill -9 "$pid"

engines=
for _ in $(seq 400); do
	engines=$(pgrep -f "$T/bin/slowscan" | sort)
	[ "$(echo "$engines" | grep -c .)" = 2 ] && break
	sleep 0.05
done
is "$(echo "$engines" | grep -c .)" 2 "two engines run at once"
av status --json >"$T/st.json"
is "$(jq -r '[.[0].targets[] | select(.state == "scanning")] | length' "$T/st.json")" 2 \
	"status: two targets scanning"

av pause >/dev/null 2>&1
sleep 0.3
cpu() { local p t=0; for p in $engines; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo $t; }
states() { local p; for p in $engines; do awk '{ printf "%s", $3 }' "/proc/$p/stat"; done; }
c1=$(cpu); s1=$(states)
sleep 3
c2=$(cpu); s2=$(states)
is "$s1/$s2" "TT/TT" "paused: both engines are stopped (state T)"
is "$c2" "$c1" "paused: they used no CPU in 3 s"
like "$(av status)" "  paused  " "status says paused"
av resume >/dev/null 2>&1
sleep 0.3
like "$(states)" "^[RS]+$" "resumed: both run again"

t0=$(date +%s)
av stop >/dev/null 2>&1
wait "$pid"; rc=$?
is "$(( $(date +%s) - t0 < 30 ))/$rc" "1/2" "stop: run ends within 30 s, exit 2 (nothing found)"
like "$(jq -r '[.targets[].status] | join(",")' "$T/report.json")" \
	"^((clean|stopped),){5}(clean|stopped)$" "the report marks the unfinished targets stopped"
is "$(jq -r '[.targets[] | select(.status == "stopped")] | length >= 4' "$T/report.json")" \
	true "at least the four targets not started are stopped"
is "$(leftovers)$(pgrep -f "$T/bin/slowscan")" "" "nothing left mounted or running"

# --timeout: a target whose engine hangs is ended and reported as such.
mkdir -p "$T/slowtree" "$T/quicktree"
echo zzz >"$T/slowtree/sleep"
echo quick >"$T/quicktree/one.txt"
truncate -s 16M "$T/hang.raw" "$T/quick.raw"
mkfs.ext4 -q -F -d "$T/slowtree" "$T/hang.raw"
mkfs.ext4 -q -F -d "$T/quicktree" "$T/quick.raw"
t0=$(date +%s)
"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run --engine slow \
	--jobs 2 --timeout 3 --report "$T/t.json" "$T/hang.raw" "$T/quick.raw" \
	>"$T/out" 2>"$T/err"
rc=$?
is "$rc/$(( $(date +%s) - t0 < 60 ))" "2/1" "--timeout: exit 2, well before the engine would end"
is "$(jq -r '.targets[0] | [.status, .reason] | @tsv' "$T/t.json")" "error	timed out" \
	"the hung target is an error: timed out"
is "$(jq -r '.targets[1].status' "$T/t.json")" clean "the other target is scanned"
is "$(leftovers)$(pgrep -f "$T/bin/slowscan")" "" "the hung engine is gone"

# On a terminal, a progress line; -q: none.  (script gives it a pty.)
script -qfec "$(printf '%q ' "$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" \
	run --engine slow "$T/img/vm1.raw")" /dev/null >"$T/tty" 2>&1
like "$(tr '\r' '\n' <"$T/tty" | grep -cE 'targets  [0-9.]+ (B|[KMGT]iB) of [0-9.]+ (B|[KMGT]iB)  [0-9.]+ (B|[KMGT]iB)/s')" '^[1-9]' \
	"a terminal shows the progress line: targets, bytes, rate"
script -qfec "$(printf '%q ' "$AVBATCH" -q --engines-dir "$T/eng" --state-dir "$T/state" \
	run --engine slow "$T/img/vm1.raw")" /dev/null >"$T/tty" 2>&1
is "$(grep -c 'targets' "$T/tty")" 0 "-q shows none"
done_testing
