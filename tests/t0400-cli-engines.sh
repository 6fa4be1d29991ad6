#!/bin/bash
# engines list and engines show say things whole: every vendor name as its
# descriptor writes it, signal actions by their names, and the options that
# -o NAME.KEY=VALUE accepts with their defaults.
. "$(dirname "$0")/lib.sh"

E=("$AVBATCH" --engines-dir "$top_srcdir/engines")
list=$("${E[@]}" engines list)
for ini in "$top_srcdir"/engines/*.ini; do
	name=$(basename "$ini" .ini)
	vendor=$(sed -n 's/^vendor[[:space:]]*=[[:space:]]*//p' "$ini" | head -1)
	line=$(printf '%s\n' "$list" | grep -E "^$name ")
	ok "engines list: $name's vendor in full" \
		test -n "$vendor" -a -n "$line" -a "${line#*"$vendor"}" != "$line"
done

show=$("${E[@]}" engines show clamav)
like "$show" $'\npause: signal SIGSTOP to' "engines show names the pause signal"
like "$show" $'\noptions \\(-o clamav\\.KEY=VALUE\\):\n  database=/var/lib/clamav\n' \
	"engines show lists the options -o takes, with their defaults"
like "$("${E[@]}" engines show yara)" $'\n  rules=' "the same for yara"
done_testing
