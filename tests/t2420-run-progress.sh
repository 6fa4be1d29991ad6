#!/bin/bash
# Progress moves file by file (issue #18 item 3): on one ext4 of 8 193 files
# scanned as one list, status shows files and bytes finished by the engine
# while it runs (clamscan and clamd both print a line per file), the totals
# are the walked files' bytes (not the partition's size), an ETA appears,
# and at the end done = total; files the cache answers count as done.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan clamd clamdscan jq mkfs.ext4 split script

plan 20

mkdir -p "$T/tree"
head -c 16M /dev/urandom | split -b 2048 -a 4 - "$T/tree/f" ||
	bail_out "cannot write the files"
fx_eicar "$T/tree/eicar.com"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
truncate -s 96M "$T/fs.raw"
mkfs.ext4 -q -F -d "$T/tree" "$T/fs.raw" || bail_out "mkfs failed"
files=$(find "$T/tree" -type f | wc -l)
bytes=$(find "$T/tree" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')

# watch ENGINE OUT [OPTION...]: run in the background, and every 50 ms
# write status's job and first target: files done/total, bytes done/total,
# eta (- if none), and once the text status while scanning.
watch() {
	local engine=$1 out=$2 pid i
	shift 2
	rm -rf "$T/state"
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run --engine "$engine" -o "$engine.database=$T/sigs" "$@" \
		--report "$T/$out.json" "$T/fs.raw" >"$T/$out.out" 2>"$T/$out.err" &
	pid=$!
	at_exit kill -9 "$pid"
	: >"$T/$out.obs"
	for i in $(seq 1200); do
		kill -0 "$pid" 2>/dev/null || break
		"$AVBATCH" --state-dir "$T/state" status --json 2>/dev/null |
			jq -r '.[0] | select(.targets[0].state == "scanning") |
			[.files_done, .files_total, .bytes_done, .bytes_total,
			 (.eta_s // "-"), (.targets[0] | .files_done,
			 .files_total, .bytes_done, .bytes_total,
			 (.eta_s // "-"))] | @tsv' >>"$T/$out.obs" 2>/dev/null
		if [ ! -s "$T/$out.text" ] &&
		   [ "$(wc -l <"$T/$out.obs")" -gt 3 ]; then
			"$AVBATCH" --state-dir "$T/state" status \
				>"$T/$out.text" 2>&1
		fi
		sleep 0.05
	done
	wait "$pid"
	echo $? >"$T/$out.rc"
}

# mid FILE: observations strictly between nothing and everything.
mid() {
	awk -F'\t' '$6 > 0 && $6 < $7 && $8 < $9' "$1" | wc -l
}

watch clamav scan --no-cache
is "$(cat "$T/scan.rc")" 1 "clamscan: the run finds the planted file" ||
	_diag_file "$T/scan.err" 20
ok "clamscan: status showed files finished while the engine ran" \
	test "$(mid "$T/scan.obs")" -ge 2
is "$(cut -f7,9 "$T/scan.obs" | sort -u | grep -v '^0	0$')" "$files	$bytes" \
	"the totals are the walked files and their bytes"
is "$(cut -f2,4 "$T/scan.obs" | sort -u | grep -v '^0	0$')" "$files	$bytes" \
	"... for the job too (one target)"
ok "an ETA was shown while scanning" \
	test "$(awk -F'\t' '$10 != "-" && $10 >= 0' "$T/scan.obs" | wc -l)" -ge 1
ok "... for the job too" \
	test "$(awk -F'\t' '$5 != "-" && $5 >= 0' "$T/scan.obs" | wc -l)" -ge 1
ok "the counts never went back" \
	sh -c "cut -f6 '$T/scan.obs' | sort -n -c"
like "$(cat "$T/scan.text")" "fs\\.raw +scanning .* of $files files +[0-9]+%" \
	"the text status shows files of the total and a percentage"
state=$(echo "$T"/state/jobs/*/state.json)
is "$(jq -r '.targets[0] | [.files_done == .files_total,
	.bytes_done == .bytes_total, .files_total] | @tsv' "$state")" \
	"true	true	$files" "at the end every file is done"

watch clamd daemon --no-cache
is "$(cat "$T/daemon.rc")" 1 "clamd: the run finds the planted file" ||
	_diag_file "$T/daemon.err" 20
ok "clamd: status showed files finished while the engine ran" \
	test "$(mid "$T/daemon.obs")" -ge 2
state=$(echo "$T"/state/jobs/*/state.json)
is "$(jq -r '.targets[0] | [.files_done == .files_total,
	.bytes_done == .bytes_total] | @tsv' "$state")" "true	true" \
	"clamd: at the end every file is done"
tl=$(dirname "$state")/timeline.jsonl
is "$(jq -r 'select(.target) | .phase' "$tl" | sed -n '1p;$p' | paste -sd ' ')" \
	"opening done" "the job's timeline follows the target from opening to done"
is "$(jq -sr '[.[] | select(.phase == "daemon-start" or .phase == "daemon-ready")] |
	sort_by(.ms) | map(.phase) | join(" ")' "$tl")" "daemon-start daemon-ready" \
	"... and says when the daemon started and had its signatures loaded"

# On a terminal (script(1) gives it one), the progress line moves too.
rm -rf "$T/state"
script -qefc "'$AVBATCH' --engines-dir '$top_srcdir/engines' --state-dir '$T/state' \
	run --no-cache -o clamav.database='$T/sigs' '$T/fs.raw'" /dev/null \
	>"$T/tty.out" 2>&1 </dev/null
tr '\r' '\n' <"$T/tty.out" | grep ' targets ' >"$T/tty.lines"
ok "the terminal line shows bytes finished of the bytes to scan while scanning" \
	grep -Eq '^.*0/1 targets  [0-9.]+ (B|KiB|MiB) of 16\.0 MiB  [0-9.]+ (B|KiB|MiB)/s  eta [0-9]+ s$' \
	"$T/tty.lines"
ok "... with the count going up" \
	test "$(sed -n 's/.*targets  \([0-9.]* [KM]*i*B\) of.*/\1/p' "$T/tty.lines" | sort -u | wc -l)" -ge 3

# A second disk with the same files: its verdicts come from the cache.
cp "$T/fs.raw" "$T/copy.raw"
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state2" \
	run --jobs 1 --cache "$T/cache.sqlite" -o clamav.database="$T/sigs" \
	--report "$T/cached.json" "$T/fs.raw" "$T/copy.raw" >"$T/cached.out" 2>&1
is "$?" 1 "two copies with a cache: found in both"
is "$(jq -r '.targets[1].filesystems[0].files.scanned' "$T/cached.json")" 0 \
	"the copy's files all came from the cache: none was handed to the engine" ||
	diag "$(jq -c '.targets[].filesystems[].files' "$T/cached.json")"
state=$(echo "$T"/state2/jobs/*/state.json)
is "$(jq -r '.targets[1] | [.files_done, .files_total,
	.bytes_done == .bytes_total] | @tsv' "$state")" "$files	$files	true" \
	"files the cache answered count as done"
is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
