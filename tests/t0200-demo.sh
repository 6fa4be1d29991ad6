#!/bin/bash
# The README's demo (./build.sh demo runs tests/demo.sh): it exits 0 when it
# showed what it should, prints a short summary (no JSON dump), and leaves a
# command that runs the same scan again after the demo has ended.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd qemu-img sfdisk jq mkfs.ext4 mkfs.vfat mcopy mkntfs ntfs-3g clamscan

plan 7

DEMO_DIR=$T/demo bash "$top_srcdir/tests/demo.sh" "$top_builddir/src/avbatch" \
	>"$T/out" 2>"$T/err"
rc=$?
is "$rc" 0 "the demo exits 0 when it found the four planted files"
like "$(cat "$T/out")" "demo OK" "it says so"
n=$(wc -l <"$T/out")
ok "its output is a summary, not a JSON dump ($n lines)" \
	test "$n" -lt 40 -a -z "$(grep -E '^ *[{}]|"schema"' "$T/out")"
ok "it leaves a command to run the scan again" test -x "$T/demo/rerun"
"$T/demo/rerun" >"$T/out2" 2>&1
is "$?" 1 "the command runs after the demo ended and finds the files (exit 1)"
is "$(jq -r '[.targets[].detections[]] | length' "$T/demo/report.json")" 4 \
	"its report lists the four detections"
like "$(cat "$T/out2")" $'\n  p1 +ext4 +scanned +6 files cached\n' \
	"the second run says its files came from the cache, not \"scanned 0 files\""
done_testing
