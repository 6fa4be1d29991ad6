#!/bin/bash
# avbatch engines selftest and engines check (issue #16).
#
# selftest builds a small ext4 disk (EICAR, EICAR in a stored zip, EICAR
# under names with blanks and with a newline, a clean file), runs the whole
# run path on it and checks the report: it passes with ClamAV and test
# signatures, with clamd and with yara, fails with a clear message when
# ClamAV's database is empty, and finds every planted file through every
# test double of a commercial scanner.  check says an engine is usable only
# when a test scan works (an empty ClamAV database is not), takes -o like
# run, and without a name judges only the configured engines.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan clamd clamdscan yara mkfs.ext4 zip

DOUBLES=$top_srcdir/tests/doubles
DOUBLE_ENGINES=(kaspersky kaspersky-avp sophos sophos-spl eset drweb
	bitdefender trellix fsecure comodo)

plan $((15 + ${#DOUBLE_ENGINES[@]} * 2 + 1))

mkdir -p "$T/empty" "$T/cfg"
fx_sigdb "$T/sig" || bail_out "cannot write test signatures"
printf 'rule Test_EICAR_YARA { strings: $a = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" condition: $a }\n' \
	>"$T/rules.yar"
av() { "$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" "$@"; }

# The lines a selftest that found everything prints (the planted files).
planted_ok() {	# planted_ok OUTPUT: the pass lines about planted files
	grep -cE '^  pass  (EICAR.* detected at |a clean file at /clean.txt is clean)' "$1"
}

# --- selftest with ClamAV
av engines selftest clamav -o clamav.database="$T/sig" >"$T/out" 2>"$T/err"
is "$?" 0 "selftest clamav with test signatures: exit 0" || _diag_file "$T/out"
is "$(grep -c '^  pass ' "$T/out") $(grep -c '^  FAIL ' "$T/out")" "10 0" \
	"selftest clamav: ten checks, all passed" || _diag_file "$T/out"
is "$(planted_ok "$T/out")" 5 \
	"selftest clamav: the four EICAR files found at their guest paths (zip, blanks, newline), the clean file clean"
like "$(cat "$T/out")" 'pass  run exits 1 .*pass  the file system is scanned without errors: scanned' \
	"selftest clamav: exit code class and file system status checked"
like "$(tail -n 1 "$T/out")" "^selftest of 'clamav': all checks passed$" "selftest clamav: says so"

av engines selftest clamav -o clamav.database="$T/empty" >"$T/out" 2>"$T/err"
is "$?" 1 "selftest clamav with an empty database: exit 1" || _diag_file "$T/out"
like "$(grep '^  FAIL  the file system' "$T/out")" \
	"clamav: LibClamAV Error: cli_loaddbdir: No supported database files found in $T/empty" \
	"selftest clamav with an empty database: the failure says why" || _diag_file "$T/out"
like "$(tail -n 1 "$T/out")" "^For a bug report, paste this output, .*avbatch engines show clamav.* kept in $T/state/st-" \
	"selftest: a failure says what to paste into a bug report"

# --- selftest with clamd and yara
av engines selftest clamd -o clamd.database="$T/sig" >"$T/out" 2>"$T/err"
is "$?:$(planted_ok "$T/out")" "0:5" "selftest clamd: exit 0, everything found" || _diag_file "$T/out"
av engines selftest yara -o yara.rules="$T/rules.yar" >"$T/out" 2>"$T/err"
is "$?:$(planted_ok "$T/out")" "0:5" "selftest yara: exit 0, everything found" || _diag_file "$T/out"

# --- check
av engines check clamav -o clamav.database="$T/empty" >"$T/out" 2>&1
like "$?:$(cat "$T/out")" "^2:clamav +not usable: a test scan of a clean file failed: LibClamAV Error: cli_loaddbdir: No supported database files found in $T/empty" \
	"check clamav with an empty database: exit 2, and why"
av engines check clamav -o clamav.database="$T/sig" >"$T/out" 2>&1
like "$?:$(cat "$T/out")" '^0:clamav +usable: /[^ ]*/clamscan, ClamAV [0-9.]+$' \
	"check clamav with signatures: usable"
printf '[avbatch]\nengine = clamav\n' >"$T/cfg/avbatch.conf"
chmod 644 "$T/cfg/avbatch.conf"
av --config "$T/cfg/avbatch.conf" engines check -o clamav.database="$T/sig" >"$T/out" 2>&1
is "$?:$(cut -d ' ' -f 1 "$T/out" | tr '\n' ' ')" "0:clamav " \
	"check without a name judges only the configured engine (not the ones not installed)"
av --config "$T/cfg/avbatch.conf" engines check -o yara.rules="$T/rules.yar" >"$T/out" 2>&1
like "$?:$(cat "$T/out")" "^2:.*bad option 'yara.rules=" \
	"check: an option for an engine that is not checked is a usage error"
av engines check kaspersky >"$T/out" 2>&1
like "$?:$(cat "$T/out")" "^2:kaspersky +not usable: 'kesl-control' not found in PATH" \
	"check of an engine that is not installed: exit 2, and why"

# --- selftest through every test double
for name in "${DOUBLE_ENGINES[@]}"; do
	PATH="$DOUBLES:$PATH" av engines selftest "$name" >"$T/out" 2>"$T/err"
	rc=$?
	like "$rc" '^[01]$' "selftest $name (test double): runs to the end (exit $rc)" ||
		{ _diag_file "$T/out"; _diag_file "$T/err"; }
	is "$(planted_ok "$T/out")" 5 \
		"selftest $name (test double): the four EICAR files found at their guest paths, the clean file clean" ||
		_diag_file "$T/out"
done

is "$(leftovers)" "" "nothing is left mounted, attached or running"
done_testing
