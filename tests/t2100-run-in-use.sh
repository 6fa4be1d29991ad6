#!/bin/bash
# A disk a running VM holds (here: another qemu-storage-daemon with write
# access, as qemu holds it) is reported "in use" and never mounted.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq mkfs.ext4

plan 8

mkdir -p "$T/img" "$T/tree/dir" "$T/exp"
fx_eicar "$T/tree/dir/eicar.com"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
truncate -s 32M "$T/img/held.raw"
mkfs.ext4 -q -F -d "$T/tree" "$T/img/held.raw" || bail_out "mkfs failed"
qemu-img convert -O qcow2 "$T/img/held.raw" "$T/img/held.qcow2"

pids=()
# Hold each image the way a running VM does: opened for writing by qemu.
for f in held.raw held.qcow2; do
	case $f in *.qcow2) fmt=qcow2 ;; *) fmt=raw ;; esac
	: >"$T/exp/$f"
	qemu-storage-daemon \
		--blockdev "{\"driver\":\"file\",\"node-name\":\"f\",\"filename\":\"$T/img/$f\"}" \
		--blockdev "{\"driver\":\"$fmt\",\"node-name\":\"d\",\"file\":\"f\"}" \
		--export "{\"type\":\"fuse\",\"id\":\"e\",\"node-name\":\"d\",\"mountpoint\":\"$T/exp/$f\",\"writable\":true}" \
		>"$T/qsd-$f.log" 2>&1 &
	pids+=($!)
	at_exit kill "$!"
	for _ in $(seq 100); do grep -q " $T/exp/$f " /proc/self/mountinfo && break; sleep 0.1; done
done
grep -q " $T/exp/held.qcow2 " /proc/self/mountinfo || bail_out "holder did not start"

(cd "$T/img" && sha256sum held.raw held.qcow2) >"$T/sums.before"
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.database="$T/sigs" --report "$T/report.json" \
	"$T/img/held.raw" "$T/img/held.qcow2" >"$T/out" 2>"$T/err"
rc=$?
is "$rc" 2 "exit 2: nothing found, but targets not scanned" || _diag_file "$T/err"
is "$(jq -r '[.targets[].status] | join(",")' "$T/report.json")" "skipped,skipped" \
	"both images are skipped"
like "$(jq -r '.targets[0].reason' "$T/report.json")" 'in use' "raw: reason says in use"
like "$(jq -r '.targets[1].reason' "$T/report.json")" 'in use' "qcow2: reason says in use"
is "$(jq '[.targets[].filesystems[]] | length' "$T/report.json")" 0 "no file system was touched"

"$AVBATCH" --state-dir "$T/state" inspect --json "$T/img/held.qcow2" >"$T/inspect.json"
is "$(jq -r '.[0].status' "$T/inspect.json")" skipped "inspect also refuses it"

(cd "$T/img" && sha256sum held.raw held.qcow2) >"$T/sums.after"
is "$(cat "$T/sums.after")" "$(cat "$T/sums.before")" "the held images are unchanged"

kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null
is "$(leftovers)" "" "nothing of avbatch left behind"
done_testing
