#!/bin/bash
# The manual pages render without warnings (a line starting with "." is a
# macro to troff and silently cuts the text) and say what they should.
. "$(dirname "$0")/lib.sh"
need_cmd groff

pages=("$top_srcdir"/man/*.[0-9])
plan $((${#pages[@]} + 1))
for p in "${pages[@]}"; do
	is "$(groff -ww -man -Tutf8 "$p" 2>&1 >/dev/null)" "" \
		"$(basename "$p"): groff -ww -man prints no warning"
done
like "$(groff -man -Tutf8 "$top_srcdir/man/avbatch.1" 2>/dev/null | tr -s ' \n' '  ')" \
	'\.vmdk, \.vhd, \.vhdx, \.vdi or \.qed' \
	"avbatch(1) lists every image suffix a directory target takes"
done_testing
