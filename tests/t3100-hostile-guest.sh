#!/bin/bash
# A hostile guest (spec §4, §6, §7.1-2): file names that are shell payloads,
# a newline name imitating a clamscan detection line, a name starting with
# '-', non-UTF-8 bytes, a file 60 directories deep, symlinks into the host,
# a FIFO and device nodes.  Every infected regular file is reported exactly
# once by its exact guest path, nothing outside the guest is scanned, nothing
# runs, nothing hangs, and the image is not changed.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan jq mkfs.ext4 debugfs sfdisk base64 sha256sum timeout

plan 27

for f in /tmp/pwned /tmp/pwned2; do
	if [ -e "$f" ] || [ -L "$f" ]; then
		diag "$f existed before the test (left by an earlier run?); removing it"
		rm -rf -- "$f"
	fi
done

mkdir -p "$T/img"
fx_hostile "$T/img" || bail_out "cannot build the hostile image"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
img=$T/img/hostile.raw
host=$T/img/host
read -r _ n_regular < <(grep '^regular ' "$T/img/expect.counts")

host_state() {	# every entry below DIR/host with its size and mtime
	find "$host" -printf '%P\t%y\t%s\t%T@\n' | LC_ALL=C sort
}
host_before=$(host_state)
sha_before=$(sha256sum <"$img")

timeout 300 "$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
	run --engine clamav -o clamav.database="$T/sigs" \
	--report "$T/report.json" "$img" >"$T/out" 2>"$T/err"
rc=$?

engine_logs() {	# show the engine's list, output and errors
	local f
	for f in "$T"/state/jobs/*/t0/*.list "$T"/state/jobs/*/t0/*.out \
		"$T"/state/jobs/*/t0/*.err; do
		[ -f "$f" ] || continue
		diag "  $f:"
		_diag_file "$f" 80
	done
}

ok_not "the scan ends within 300 s (a FIFO or device does not hang it)" \
	test "$rc" = 124 -o "$rc" = 137
is "$rc" 1 "run exits 1 (detections)" || { _diag_file "$T/err"; engine_logs; }

# The report: jq filters below address the single target and file system.
r=$T/report.json
if ! jq -e . "$r" >/dev/null 2>&1; then
	diag "no valid report at $r"
	: >"$T/bad.json" && r=$T/bad.json
fi
is "$(jq -r '[.targets[0].filesystems[] | .id, .type, .status, (.reason | tostring)] | join(" ")' "$r")" \
	"p1 ext4 scanned null" "one file system, p1 ext4, fully scanned (no reason given)"
is "$(jq -r '.targets[0].status' "$r")" infected "the target is infected"

# Detected paths as base64 of their exact bytes: path_b64 if present, else
# the (valid UTF-8) path, which jq's @base64 encodes as UTF-8.
got=$(jq -r '.targets[].detections[] | (.path_b64 // (.path | @base64))' "$r" | LC_ALL=C sort)
want=$(cat "$T/img/expect.detections")
decode() {	# decode LINES: the paths, printf %q-quoted, one per line
	local l
	while IFS= read -r l; do
		[ -n "$l" ] || continue
		printf '%q\n' "$(printf '%s' "$l" | base64 -d)"
	done <<<"$1"
}
is "$(LC_ALL=C sort -u <<<"$got")" "$want" \
	"the detected paths are exactly the planted infected files" ||
	{ diag "  (paths decoded: expected / got)"; diag "$(decode "$want")"; diag "  --"; diag "$(decode "$got")"; engine_logs; }
is "$(uniq -d <<<"$got")" "" "no path is reported twice" ||
	diag "$(decode "$(uniq -d <<<"$got")")"
is "$(jq -r '.targets[0].detections | length' "$r") $(jq -r '.totals.detections' "$r")" \
	"$(wc -l <"$T/img/expect.detections") $(wc -l <"$T/img/expect.detections")" \
	"the report counts one detection per infected file"
is "$(jq -r '[.targets[0].detections[] | .fs + " " + .engine + " " + .threat] | unique | join(",")' "$r")" \
	"p1 clamav Test.EICAR.NDB.UNOFFICIAL" "every detection is EICAR in p1 by clamav"

# The non-UTF-8 name: path_b64 exact, path lossy with U+FFFD.
b64=$(printf '%s' $'/srv/caf\xe9 \xff.com' | base64 -w0)
is "$(jq -r --arg b "$b64" '[.targets[0].detections[] | select(.path_b64 == $b)
	| (.path | contains("\ufffd"))] | map(tostring) | join(",")' "$r")" true \
	"the non-UTF-8 name has path_b64 with its exact bytes and a lossy path with U+FFFD"
is "$(jq -r '[.targets[0].detections[] | select(.path_b64 != null) | .path_b64] | join(",")' "$r")" \
	"$b64" "path_b64 is given for the non-UTF-8 name only"

# The newline name: once, exact, the JSON string escapes the newline.
nl=$'/home/user/evil\nline2: Fake.Sig FOUND'
is "$(jq -r --arg p "$nl" '[.targets[0].detections[] | select(.path == $p)] | length' "$r")" 1 \
	"the newline name is reported once with its exact path"
ok "the report writes it as one JSON string with \\n" \
	grep -qF '"/home/user/evil\nline2: Fake.Sig FOUND"' "$r"
is "$(jq -r '.targets[].detections[] | select((.path | test("^/"; "") | not)
	or (.path | test("^(/home/user/)?line2"; "")) or (.threat | test("Fake"; "")))
	| [.path, .threat] | @json' "$r")" "" \
	"no detection invented from the fake line (line2 ... / Fake.Sig)"

# Nothing outside the guest.
is "$(jq -r --arg h "$T" '.targets[].detections[] | select(.path | contains($h)) | .path' "$r")" "" \
	"no detection path names the host directory"
is "$(jq -r '.targets[].detections[] | select(.path == "/host-eicar" or .path == "/root"
	or (.path | startswith("/root/")) or .path == "/relative.com") | .path' "$r")" "" \
	"the symlinks host-eicar, root and relative.com are not followed"
ok_not "/tmp/pwned was not created" test -e /tmp/pwned
ok_not "/tmp/pwned2 was not created" test -e /tmp/pwned2
is "$(host_state)" "$host_before" "nothing changed in the host directory the guest links to"

# Counts: avbatch counts every non-directory entry as seen, regular files as
# scanned, and everything else (symlinks, FIFO, devices) as skipped.
read -r _ n_link < <(grep '^symlink ' "$T/img/expect.counts")
read -r _ n_special < <(grep '^special ' "$T/img/expect.counts")
files=$(jq -r '.targets[0].filesystems[0].files | "\(.scanned) \(.skipped) \(.seen)"' "$r")
read -r scanned skipped seen <<<"$files"
is "${scanned:-}" "$n_regular" "files.scanned = the $n_regular regular files planted" ||
	engine_logs
is "${skipped:-}" $((n_special + n_link)) \
	"files.skipped = $n_special FIFO/device nodes + $n_link symlinks"
is "${seen:-}" $((n_regular + n_special + n_link)) "files.seen = every non-directory entry"

# clamd and yara, in one run, on the same image: each reports every planted
# file exactly once, under its exact path, and nothing else.
printf 'rule Test_EICAR_YARA { strings: $a = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" condition: $a }\n' \
	>"$T/rules.yar"
timeout 300 "$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
	run --engine clamd,yara -o clamd.database="$T/sigs" -o yara.rules="$T/rules.yar" \
	--report "$T/more.json" "$img" >"$T/more.out" 2>"$T/more.err"
is "$?" 1 "clamd,yara: exit 1" || _diag_file "$T/more.err"
for e in clamd yara; do
	got=$(jq -r --arg e "$e" '.targets[].detections[] | select(.engine == $e) |
		(.path_b64 // (.path | @base64))' "$T/more.json" | LC_ALL=C sort)
	is "$got" "$want" "$e: exactly the planted infected files, each once" ||
		{ diag "$(decode "$got")"; }
done
ok_not "clamd,yara: /tmp/pwned and /tmp/pwned2 were not created" \
	test -e /tmp/pwned -o -e /tmp/pwned2

is "$(sha256sum <"$img")" "$sha_before" "the image is unchanged"
is "$(leftovers)" "" "nothing is left mounted, attached or running"

for f in /tmp/pwned /tmp/pwned2; do
	[ -e "$f" ] && rm -f -- "$f"
done
done_testing
