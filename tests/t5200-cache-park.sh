#!/bin/bash
# A target that only waits steps aside: while the engine daemon loads its
# signatures, or another target computes verdicts it needs, it is parked
# ("waiting", disk attached, no --jobs slot) and the next target is
# attached and walked meanwhile.  With --jobs 1 and a daemon that stays
# not-ready until the test lets it, all three clones are in hand before
# the engine runs once; a paused job keeps them parked; then the shared
# content is scanned once.  With seven, five are in hand (5 x --jobs);
# stopped while they are parked, all are released.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd jq mkfs.ext4

plan 15

mkdir -p "$T/eng" "$T/bin" "$T/img" "$T/sigs" "$T/tree/etc" "$T/tree/home/u"
fx_eicar "$T/tree/home/u/eicar.com"
for i in $(seq 10); do echo "config $i" >"$T/tree/etc/f$i.conf"; done
echo "test signatures" >"$T/sigs/test.sig"
for n in 1 2 3; do
	truncate -s 16M "$T/img/vm$n.raw"
	mkfs.ext4 -q -F -d "$T/tree" "$T/img/vm$n.raw" || bail_out "mkfs failed"
done
# Test engine (a test double): its "daemon" sleeps; it is ready once
# $T/gate exists.  The client logs every file it is handed.
cat >"$T/bin/gscan" <<SH
#!/bin/bash
while IFS= read -r f; do
	printf '%s\n' "\$f" >>"$T/handed"
	grep -q EICAR-STANDARD-ANTIVIRUS-TEST-FILE -- "\$f" && echo "\$f: Test.EICAR FOUND"
done <"\$1"
exit 0
SH
chmod 0755 "$T/bin/gscan"
cat >"$T/eng/gated.ini" <<INI
[engine]
name = gated
binary = $T/bin/gscan
flags = parallel-safe, managed-daemon
signatures = {database}
[options]
database = $T/sigs
[daemon]
start = sleep 600
ready = test -e $T/gate
[actions]
scan_list = {binary} {list}
stop = signal:TERM
[result]
clean = 0
infected = 1
detection = ^(.*): ([^ ]+) FOUND\$
detection_path = 1
detection_threat = 2
INI
chmod 0644 "$T/eng/gated.ini"
sleep 2.1	# a file changed in the last 2 s is not vouched for

start() {	# start NAME: the batch in the background (pid), cache NAME.sqlite
	"$AVBATCH" -v --engines-dir "$T/eng" --state-dir "$T/state" run \
		--engine gated --jobs 1 --cache "$T/$1.sqlite" --report "$T/$1.json" \
		"$T"/img/vm*.raw >"$T/$1.out" 2>"$T/$1.err" &
	pid=$!
	at_exit kill -9 "$pid"
}
parked() {	# parked [STATES]: wait until the targets are in STATES; print them
	local want=${1:-waiting waiting waiting} states= _
	for _ in $(seq 300); do
		"$AVBATCH" --state-dir "$T/state" status --json >"$T/st.json" 2>/dev/null &&
			states=$(jq -r '[.[0].targets[].state] | join(" ")' "$T/st.json")
		[ "$states" = "$want" ] && break
		sleep 0.1
	done
	echo "$states"
}

start r
is "$(parked)" "waiting waiting waiting" \
	"--jobs 1, daemon loading: all three targets attached, walked and parked"
is "$(jq -r '[.[0].targets[].files_done] | add' "$T/st.json")" 0 \
	"none of them scanned anything yet"
ok_not "the engine was handed nothing yet" test -e "$T/handed"
# Paused, the daemon becomes ready: nothing goes on until resumed.
"$AVBATCH" --state-dir "$T/state" pause >/dev/null 2>&1
touch "$T/gate"
sleep 2
ok_not "paused: a parked target does not go on when the daemon is ready" \
	test -e "$T/handed"
"$AVBATCH" --state-dir "$T/state" status --json >"$T/st.json" 2>/dev/null
is "$(jq -r '[.[0].targets[].state] | join(" ")' "$T/st.json")" "waiting waiting waiting" \
	"paused: all three still waiting"
"$AVBATCH" --state-dir "$T/state" resume >/dev/null 2>&1
wait "$pid"
is "$?" 1 "the run ends: exit 1 (found)" || _diag_file "$T/r.err"
is "$(jq -r '[.targets[] | .filesystems[0].files | "\(.scanned)/\(.cached)"] | join(" ")' "$T/r.json")" \
	"11/0 0/11 0/11" "the shared content is scanned once, by the first; the others wait for its verdicts"
is "$(wc -l <"$T/handed")" 11 "the engine was handed each content once"
is "$(jq -r '[.targets[] | .name as $n | .detections[] | "\($n):\(.path)"] | join(" ")' "$T/r.json")" \
	"vm1.raw:/home/u/eicar.com vm2.raw:/home/u/eicar.com vm3.raw:/home/u/eicar.com" \
	"the detection is reported in all three"
is "$(grep -c 'started its daemon' "$T/r.err")" 1 "one daemon for the batch"

# Seven clones, --jobs 1: at most five are in hand at once (5 x --jobs);
# stopped while those five are parked, every one is released.
for n in 4 5 6 7; do cp "$T/img/vm1.raw" "$T/img/vm$n.raw"; done
rm -f "$T/gate"
start s
is "$(parked "waiting waiting waiting waiting waiting pending pending")" \
	"waiting waiting waiting waiting waiting pending pending" \
	"seven targets: five in hand and parked, two not started"
t0=$(date +%s)
"$AVBATCH" --state-dir "$T/state" stop >/dev/null 2>&1
wait "$pid"
is "$?/$(( $(date +%s) - t0 < 30 ))" 2/1 "stop: the run ends within 30 s, exit 2"
is "$(jq -r '[.targets[].status] | unique | join(" ")' "$T/s.json")" "stopped" \
	"the report marks all seven stopped"
daemon=$(sed -n 's/.*started its daemon (pid \([0-9]*\)).*/\1/p' "$T/s.err")
ok_not "its daemon is gone" test -e "/proc/${daemon:-0}"
is "$(leftovers)$(pgrep -f "$T/bin/gscan")" "" "nothing left mounted or running"
