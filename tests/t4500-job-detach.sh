#!/bin/bash
# run --detach: returns once the job runs, its id alone on stdout; the job
# goes on without the shell (status, stop), writes its report, and leaves
# nothing behind.  A run that cannot start says why and exits 2.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures.sh"
need_root
need_cmd jq mkfs.ext4

plan 8
mkdir -p "$T/eng" "$T/bin" "$T/img" "$T/tree/d"
cat >"$T/bin/slowscan" <<'SH'
#!/bin/bash
# Test engine: a while for every file of its list, reports EICAR files.
while IFS= read -r f; do
	sleep 0.2
	grep -q EICAR-STANDARD-ANTIVIRUS-TEST-FILE -- "$f" && echo "$f: Test.EICAR FOUND"
done <"$1"
exit 0
SH
chmod 0755 "$T/bin/slowscan"
fx_engine "$T/eng" slow "$T/bin/slowscan"
for i in $(seq 40); do echo "file $i" >"$T/tree/d/f$i.txt"; done
fx_eicar "$T/tree/d/eicar.com"
truncate -s 16M "$T/img/vm.raw"
mkfs.ext4 -q -F -d "$T/tree" "$T/img/vm.raw" || bail_out "mkfs failed"
av() { "$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" "$@"; }

start=$SECONDS
av run --detach --engine slow --report "$T/report.json" "$T/img/vm.raw" >"$T/out" 2>"$T/err"
rc=$?
job=$(cat "$T/out")
like "$rc:$job" '^0:[0-9]{8}T[0-9]{6}-[0-9a-f]{4}$' "run --detach exits 0 with the job id alone on stdout"
ok "it returns while the job still runs" test $((SECONDS - start)) -lt 8
like "$(av status "$job")" "$job" "status shows the detached job"
for _ in $(seq 100); do [ -s "$T/report.json" ] && break; sleep 0.3; done
is "$(jq -r '[.targets[].detections[].path] | join(" ")' "$T/report.json" 2>&1)" "/d/eicar.com" \
	"the detached job finishes on its own and writes its report"
for _ in $(seq 50); do [ -z "$(pgrep -f "$T/state")" ] && break; sleep 0.2; done
is "$(leftovers)$(pgrep -f "$T/bin/slowscan")" "" "and leaves nothing behind"

# Stopped from another shell while it runs.
av run --detach --engine slow --report "$T/r2.json" "$T/img/vm.raw" >"$T/out" 2>/dev/null
job=$(cat "$T/out")
av stop "$job" >/dev/null 2>&1
for _ in $(seq 100); do [ -s "$T/r2.json" ] && break; sleep 0.3; done
is "$(jq -r '.targets[0].status' "$T/r2.json" 2>&1)" stopped "stop ends a detached job, which reports it"

av run --detach --engine nosuch "$T/img/vm.raw" >"$T/out" 2>"$T/err"
rc=$?
like "$rc:$(cat "$T/err")" "^2:.*ended before its job started.*no engine 'nosuch'" \
	"a run that cannot start: exit 2, and why"
is "$(cat "$T/out")" "" "nothing on stdout then"
done_testing
