#!/bin/bash
# The command line itself: help, version, usage errors, exit statuses.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

plan 22

out=$("$AVBATCH" --version)
like "$out" '^avbatch [0-9]+\.[0-9]+\.[0-9]+$' "--version prints name and version"

out=$("$AVBATCH" --help)
like "$out" 'run +scan every guest file system' "--help lists run from the command table"
like "$out" 'avbatch inspect \[--json\] IMAGE' "--help shows each command's usage"

"$AVBATCH" frobnicate >/dev/null 2>"$T/err"; rc=$?
is "$rc" 2 "an unknown command exits 2"
like "$(cat "$T/err")" "unknown command 'frobnicate'" "and says which command"
is "$(wc -l <"$T/err")" 1 "in one line"

is "$("$AVBATCH" -V)" "$("$AVBATCH" --version)" "-V prints the version, not the usage"
for c in run inspect status cleanup engines update; do
	out=$("$AVBATCH" "$c" --help 2>&1); rc=$?
	[ "$rc" = 0 ] && [[ $out == "usage: avbatch $c"* ]] || break
done
is "$c:$rc" "update:0" "every command takes --help: its usage, exit 0"

"$AVBATCH" run >/dev/null 2>"$T/err"; rc=$?
is "$rc" 2 "run without a target exits 2"
like "$(cat "$T/err")" "^avbatch: run: [^"$'\n'"]*\(avbatch run --help shows its usage\)"$'\n'"?$" \
	"a usage error is one line that says where the usage is"

"$AVBATCH" --engines-dir "$top_srcdir/engines" run --engine nosuch \
	--state-dir "$T/state" "$T" >/dev/null 2>"$T/err"; rc=$?
is "$rc" 2 "an unknown engine exits 2"

"$AVBATCH" --engines-dir "$top_srcdir/engines" engines show clamav >"$T/show" 2>&1
like "$(cat "$T/show")" 'scan_list: /[^ ]*clamscan ' "engines show resolves clamscan through PATH"
# The binary built in a tree finds that tree's descriptors by itself; an
# installed copy (another path) does not look there.
"$AVBATCH" engines show clamav >"$T/show" 2>&1
like "$(cat "$T/show")" "descriptor: $top_srcdir/engines/clamav.ini" \
	"the binary of the build tree runs in place, with the tree's engines/"
cp "$top_builddir/src/avbatch" "$T/avbatch-copy"
"$T/avbatch-copy" --config "$T/.avbatch.conf" engines show clamav >"$T/show" 2>&1
unlike "$(cat "$T/show")" "descriptor: $top_srcdir/engines/" \
	"a copy elsewhere does not read the build tree's descriptors"

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.nosuch=1 "$T" >/dev/null 2>"$T/err"; rc=$?
is "$rc" 2 "-o with an option the engine lacks is a usage error"

# -q: quiet about what went well, never about what did not; after the
# command too.
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" -q run \
	--no-cache "$T/nonexistent.qcow2" >"$T/out" 2>"$T/err"; rc=$?
like "$rc:$(cat "$T/err")" "^2:nonexistent.qcow2: error \(cannot open '$T/nonexistent.qcow2'" \
	"-q still says what could not be scanned (stderr), exit 2"
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run -q \
	--no-cache "$T/nonexistent.qcow2" >"$T/out2" 2>"$T/err2"; rc=$?
is "$rc:$(cat "$T/err2")" "2:$(cat "$T/err")" "run -q is the same as -q run"
is "$(cat "$T/out" "$T/out2")" "" "and prints nothing on stdout"

if [ "$(id -u)" = 0 ]; then
	"$AVBATCH" --state-dir "$T/state" cleanup nosuchjob >"$T/out" 2>"$T/err"; rc=$?
	like "$rc:$(cat "$T/out" "$T/err")" "^2:avbatch: no job 'nosuchjob' in $T/state/jobs" \
		"cleanup of a job that does not exist: exit 2, and says so (not 'removed')"
else
	skip "not root" 1
fi

# The configuration file: its engine is the default, and only root may write it.
printf '[avbatch]\nengine = fromconfig\n' >"$T/avbatch.conf"
chmod 0644 "$T/avbatch.conf"
"$AVBATCH" --config "$T/avbatch.conf" --engines-dir "$top_srcdir/engines" \
	--state-dir "$T/state" run "$T" >/dev/null 2>"$T/err"
like "$(cat "$T/err")" "no engine 'fromconfig'" "the configured engine is the default"
chmod 0666 "$T/avbatch.conf"
"$AVBATCH" --config "$T/avbatch.conf" run "$T" >/dev/null 2>"$T/err"; rc=$?
if [ "$(id -u)" = 0 ]; then
	like "$(cat "$T/err")" 'refusing a configuration writable by others' \
		"a configuration others can write is refused"
else
	skip "not root" 1
fi
printf '[avbatch]\nengin = x\n' >"$T/bad.conf"
chmod 0644 "$T/bad.conf"
"$AVBATCH" --config "$T/bad.conf" run "$T" >/dev/null 2>"$T/err"
like "$(cat "$T/err")" "unknown key 'engin'" "an unknown configuration key is an error"

done_testing
