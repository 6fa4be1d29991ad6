#!/bin/bash
# Bash completion (completion/avbatch, installed by make install): commands,
# each command's options from its own usage, engine names, job ids.
. "$(dirname "$0")/lib.sh"
need_cmd bash

mkdir -p "$T/bin" "$T/st/jobs/20261203T010000-aaaa" "$T/st/jobs/20261203T020000-bbbb"
printf '#!/bin/sh\nexec %q --engines-dir %q "$@"\n' "$AVBATCH" "$top_srcdir/engines" >"$T/bin/avbatch"
chmod 0755 "$T/bin/avbatch"

# complete WORD...: what completing the last word offers, sorted, one line.
complete_words() {
	PATH=$T/bin:$PATH bash -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_avbatch
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' \
		_ "$top_srcdir/completion/avbatch" "$@"
}

plan 9
like "$(complete_words avbatch '')" '(^| )cleanup .*inspect .*run .*status .*update ' \
	"the commands, from avbatch --help"
like "$(complete_words avbatch run --en)" '^--engine $' "run's options, from its usage"
like "$(complete_words avbatch run --no)" '--no-cache' "... all of them"
is "$(complete_words avbatch run --engine cla)" "clamav clamd " "engine names"
is "$(complete_words avbatch run --engine clamav,y)" "clamav,yara " "a list of engines"
is "$(complete_words avbatch engines show y)" "yara " "engines show ENGINE"
is "$(complete_words avbatch quarantine '')" "export list remove restore show " \
	"quarantine's subcommands"
like "$(complete_words avbatch quarantine list --q)" '^--quarantine $' \
	"quarantine's options, from its usage"
is "$(complete_words avbatch --state-dir "$T/st" status 2026)" \
	"20261203T010000-aaaa 20261203T020000-bbbb " "job ids from the state directory"
done_testing
