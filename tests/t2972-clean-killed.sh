#!/bin/bash
# t2972-clean-killed: avbatch clean killed with SIGKILL while it holds the
# image writable: the qemu-storage-daemon it started outlives it (holding
# qemu's write lock); avbatch cleanup ends it by what the job's state.json
# records, and avbatch undo then brings the image back byte for byte.
. "$(dirname "$0")/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq mkfs.ext4

fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
mkdir -p "$T/img"
{
	_fx_begin "$T/img" && r=$(_fx_tree k) &&
	for i in $(seq 40); do _fx_put_eicar "$r/d$i/eicar.com" || exit 1; done &&
	_fx_file "$r/keep.txt" keep &&
	_fx_mkfs ext4 "$T/img/k.raw" 32M k "$r" && _fx_end
} || bail_out "cannot build the test image"
IMG=$T/img/k.raw

ab() { "$AVBATCH" --engines-dir "$top_srcdir/engines" \
	--state-dir "$T/state" "$@"; }
ab run --engine clamav -o clamav.database="$T/sigs" --report "$T/r.json" \
	"$IMG" >"$T/run.out" 2>"$T/run.err"
is "$?" 1 "run finds the planted files"
cp "$IMG" "$T/k.before"

# The daemon of this test's clean: it names the state directory.
qsd() { pgrep -f "qemu-storage-daemon.*$T/state" | head -1; }

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" clean \
	-o clamav.database="$T/sigs" --undo-dir "$T/undo" --quarantine "$T/q" \
	"$T/r.json" >"$T/out" 2>"$T/err" &
CLEAN=$!
QSD=
for _ in $(seq 1000); do
	QSD=$(qsd)
	[ -n "$QSD" ] && break
	kill -0 "$CLEAN" 2>/dev/null || break
	sleep 0.01
done
ok "clean attached the image writable" test -n "$QSD"
kill -KILL "$CLEAN"
wait "$CLEAN" 2>/dev/null
at_exit pkill -f "qemu-storage-daemon.*$T/state"
ok "its daemon outlives it" kill -0 "$QSD"
JOB=$(ls "$T/undo")
ok "cleanup" ab cleanup
ok_not "cleanup ended the daemon" kill -0 "$QSD"
ok "undo" ab undo --undo-dir "$T/undo" "$JOB"
ok "the image is byte for byte as before" cmp "$T/k.before" "$IMG"
is "$(leftovers)" "" "nothing left behind"
done_testing
