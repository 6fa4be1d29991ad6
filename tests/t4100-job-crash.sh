#!/bin/bash
# kill -9 of run in the middle of a scan, with a qemu-storage-daemon view,
# an ntfs-3g mount, a managed clamd and an engine running: "avbatch cleanup"
# (or the next run) releases all of it, and the job's directory.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamd clamdscan jq ntfs-3g

plan 12

fx_batch "$T/img" || bail_out "cannot build the test images"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
img=$T/img/mbr.vmdk
sum_before=$(sha256sum <"$img")

# The shipped engines plus a slow one, so the kill lands mid-scan.
mkdir -p "$T/eng" "$T/bin"
cp "$top_srcdir"/engines/clamd.ini "$T/eng/"
cat >"$T/bin/slowscan" <<'SH'
#!/bin/sh
# Test engine: takes its time over the list.
sleep 60
SH
chmod 0755 "$T/bin/slowscan"
fx_engine "$T/eng" slow "$T/bin/slowscan"
chmod 0644 "$T/eng/clamd.ini"

crash() {	# start a run, kill -9 it while slowscan runs; sets $job
	"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run \
		--engine clamd,slow -o clamd.database="$T/sigs" "$img" \
		>"$T/out" 2>"$T/err" &
	local pid=$! engine= _
	for _ in $(seq 600); do
		engine=$(pgrep -P "$pid" -f slowscan)
		[ -n "$engine" ] && break
		sleep 0.05
	done
	job=$(ls "$T/state/jobs" | head -1)
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	[ -n "$engine" ]
}
alive() {	# what of the dead job still runs (its helpers name $T)
	pgrep -a -f "(qemu-storage-daemon|ntfs-3g|clamd --config-file=).*$T/|$T/bin/slowscan" |
		grep -v pgrep
}

ok "killed with -9 while the engine ran" crash
like "$(alive)" "qemu-storage-daemon" "the dead job's qemu view is still there"
like "$(alive)" "ntfs-3g" "its ntfs-3g mount too"
like "$(alive)" "clamd" "and its clamd"

"$AVBATCH" --state-dir "$T/state" cleanup >"$T/clean" 2>&1
is "$?" 0 "cleanup: exit 0"
like "$(cat "$T/clean")" "removed $T/state/jobs/$job" "cleanup says what it released"
is "$(alive)" "" "no engine, daemon, view or FUSE driver of the job remains"
ok_not "the job's directory is gone" test -e "$T/state/jobs/$job"
is "$(leftovers)" "" "nothing mounted, no loop device"

# The next run does the same for a job that died.
ok "killed again" crash
"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run --engine clamd \
	-o clamd.database="$T/sigs" "$T/img/bare.raw" >/dev/null 2>"$T/err2"
is "$(alive)$(test -e "$T/state/jobs/$job" && echo "$job left")" "" \
	"the next run releases what the dead job left"
is "$(sha256sum <"$img")" "$sum_before" "the image is unchanged"
done_testing
