#!/bin/bash
# SIGINT or SIGTERM in the middle of a scan: engines ended, everything released, a
# partial report with the unfinished targets "stopped", images unchanged.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq mkfs.ext4 sfdisk

plan 14

# Two disks of eight small ext4 partitions each: a qcow2 and a raw.
mkdir -p "$T/img" "$T/tree/d"
fx_eicar "$T/tree/d/eicar.com"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
truncate -s 80M "$T/img/many.raw"
{ echo 'label: gpt'; for _ in $(seq 8); do echo ',8M'; done; } |
	sfdisk -q "$T/img/many.raw" >/dev/null || bail_out "sfdisk failed"
for i in $(seq 8); do
	start=$(sfdisk -J "$T/img/many.raw" | jq ".partitiontable.partitions[$((i - 1))].start")
	truncate -s 8M "$T/fs"
	mkfs.ext4 -q -F -d "$T/tree" "$T/fs" >/dev/null 2>&1 || bail_out "mkfs failed"
	dd if="$T/fs" of="$T/img/many.raw" bs=512 seek="$start" conv=notrunc,sparse status=none
done
qemu-img convert -O qcow2 "$T/img/many.raw" "$T/img/many.qcow2"
(cd "$T/img" && sha256sum many.qcow2 many.raw) >"$T/sums.before"

for sig in INT TERM; do
	rm -f "$T/report.json"
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
		-o clamav.database="$T/sigs" --report "$T/report.json" \
		"$T/img/many.qcow2" "$T/img/many.raw" >"$T/out" 2>"$T/err" &
	pid=$!
	at_exit kill -9 "$pid"

	# Interrupt while clamscan runs, after it finished a file system or two.
	n=0 engine=
	for _ in $(seq 2000); do
		n=$(find "$T/state" -name '*.clamav.out' -newer "$T/sums.before" 2>/dev/null | wc -l)
		engine=$(pgrep -P "$pid" -x clamscan)
		[ "$n" -ge 2 ] && [ -n "$engine" ] && break
		sleep 0.01
	done
	diag "SIG$sig during engine run $n (clamscan pid ${engine:-none})"
	kill -"$sig" "$pid"
	wait "$pid"; rc=$?

	like "$rc" '^[12]$' "SIG$sig: the run exits 2, or 1 if it found something"
	ok "SIG$sig: a partial report is written" jq -e . "$T/report.json"
	is "$(jq -r '.status' "$T/report.json")" \
		"$([ "$rc" = 1 ] && echo infected || echo stopped)" \
		"SIG$sig: the report says the job stopped (or found something)"
	# The interrupted target and every later one are stopped.
	k=$(jq '[.targets[].status] | index("stopped")' "$T/report.json")
	is "$(jq -r --argjson k "${k:-0}" '[.targets[$k:][].status] | unique | join(",")' "$T/report.json")" \
		stopped "SIG$sig: the interrupted target and those after it are stopped"
	# The one interrupted while scanning (the other may still have been
	# attaching, with no file systems yet: it is stopped, see above).
	like "$(jq -r '[.targets[] | select(.status == "stopped") |
		select(.filesystems | length > 0)][0] |
		[.filesystems[].status] | join(",")' "$T/report.json")" \
		'stopped' "SIG$sig: the interrupted target's unfinished file systems are stopped"

	(cd "$T/img" && sha256sum many.qcow2 many.raw) >"$T/sums.after"
	is "$(cat "$T/sums.after")" "$(cat "$T/sums.before")" "SIG$sig: no image changed"
	is "$(leftovers)" "" "SIG$sig: nothing left mounted, attached or running"
	rm -rf "$T/state"
	touch "$T/sums.before"
done
done_testing
