#!/bin/bash
# The command line itself: help, version, usage errors, exit statuses.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

plan 9

out=$("$AVBATCH" --version)
like "$out" '^avbatch [0-9]+\.[0-9]+\.[0-9]+$' "--version prints name and version"

out=$("$AVBATCH" --help)
like "$out" 'run +scan every guest file system' "--help lists run from the command table"
like "$out" 'avbatch inspect \[--json\] IMAGE' "--help shows each command's usage"

"$AVBATCH" frobnicate >/dev/null 2>"$T/err"; rc=$?
is "$rc" 2 "an unknown command exits 2"
like "$(cat "$T/err")" "unknown command 'frobnicate'" "and says which command"

"$AVBATCH" run >/dev/null 2>"$T/err"; rc=$?
is "$rc" 2 "run without a target exits 2"

"$AVBATCH" --engines-dir "$top_srcdir/engines" run --engine nosuch \
	--state-dir "$T/state" "$T" >/dev/null 2>"$T/err"; rc=$?
is "$rc" 2 "an unknown engine exits 2"

"$AVBATCH" --engines-dir "$top_srcdir/engines" engines show clamav >"$T/show" 2>&1
like "$(cat "$T/show")" 'scan_list: /[^ ]*clamscan ' "engines show resolves clamscan through PATH"

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.nosuch=1 "$T" >/dev/null 2>"$T/err"; rc=$?
is "$rc" 2 "-o with an option the engine lacks is a usage error"

done_testing
