#!/bin/bash
# Waiting for a managed engine daemon (proc_wait_ready): one that gets ready
# late is waited for; one that exits first gives the last line of its log;
# a stop while it is not ready ends the run at once, the daemon with it.
# (TERM: a background job of a script starts with SIGINT ignored.)
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd jq mkfs.ext4 pgrep

plan 11

mkdir -p "$T/tree/etc" "$T/bin" "$T/eng"
echo guest >"$T/tree/etc/hostname"
truncate -s 8M "$T/disk.raw"
mkfs.ext4 -q -F -d "$T/tree" "$T/disk.raw" >/dev/null 2>&1 ||
	bail_out "mkfs.ext4 failed"

# The daemon does what $T/mode says; it is ready once {daemon_dir}/up exists.
cat >"$T/bin/fakedaemon" <<SH
#!/bin/sh
case \$(cat '$T/mode') in
exit)	echo 'loading the signatures' >&2
	echo 'cannot read the signatures' >&2
	exit 1 ;;
late)	sleep 1; : >"\$1/up"; sleep 300 ;;
*)	sleep 300 ;;
esac
SH
printf '#!/bin/sh\ntest -e "$1/up"\n' >"$T/bin/fakeready"
printf '#!/bin/sh\nexit 0\n' >"$T/bin/fakescan"
chmod 0755 "$T/bin/fakedaemon" "$T/bin/fakeready" "$T/bin/fakescan"
cat >"$T/eng/fake.ini" <<INI
[engine]
name = fake
binary = $T/bin/fakescan
flags = managed-daemon
[daemon]
start = $T/bin/fakedaemon {daemon_dir}
ready = $T/bin/fakeready {daemon_dir}
[actions]
scan_list = {binary} {list}
scan = {binary} {target}
stop = signal:TERM
[result]
clean = 0
detection = ^(.*): ([^ ]+) FOUND\$
detection_path = 1
detection_threat = 2
INI
chmod 0644 "$T/eng/fake.ini"

run() {	# run REPORT: the fake engine over the disk
	"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run --no-cache \
		--engine fake --report "$1" "$T/disk.raw" >"$T/out" 2>"$T/err"
}
daemon() {	# the test's daemon, if it runs
	pgrep -a -f "$T/bin/fakedaemon" | grep -v pgrep || true
}

echo late >"$T/mode"
start=$(date +%s%N)
run "$T/late.json"
is "$?" 0 "a daemon ready after a second: exit 0" || _diag_file "$T/err"
ok "it was waited for" test $(( $(date +%s%N) - start )) -ge 1000000000
is "$(jq -r '.targets[0].status' "$T/late.json")" clean "the target is clean"

echo exit >"$T/mode"
run "$T/exit.json"
is "$?" 2 "a daemon that exits before it is ready: exit 2"
like "$(jq -r '.. | strings' "$T/exit.json")" \
	"daemon exited: cannot read the signatures" \
	"the error is the last line of its log"
unlike "$(jq -r '.. | strings' "$T/exit.json")" "loading the signatures" \
	"and only that line"

echo never >"$T/mode"
"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run --no-cache \
	--engine fake --report "$T/stop.json" "$T/disk.raw" >"$T/out" 2>"$T/err" &
pid=$!
at_exit kill -9 "$pid"
for _ in $(seq 200); do
	[ -n "$(daemon)" ] && break
	sleep 0.05
done
sleep 0.3
start=$(date +%s%N)
kill -TERM "$pid"
wait "$pid"; rc=$?
like "$rc" '^2$' "SIGTERM while the daemon is not ready: exit 2"
ok "the stop is not held up by the wait" \
	test $(( $(date +%s%N) - start )) -lt 5000000000
is "$(jq -r '.targets[0].status' "$T/stop.json")" stopped \
	"the target is stopped"
is "$(daemon)" "" "the daemon is gone"
is "$(leftovers)" "" "nothing mounted, no loop device"
done_testing
