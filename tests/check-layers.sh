#!/bin/sh
# check-layers.sh SRCDIR - the layering rules of README "How the code is laid
# out", as make check-style runs them:
#  1. no circle between modules (a module: NAME.c, NAME.h and NAME-int.h;
#     an edge: one of its files includes another module's header);
#  2. no status or phase compared as a string (the enums have name tables);
#  3. isatty() only in the command layer (and util.c's message helper).
src=${1:-src}
rc=0
edges=$(mktemp) && err=$(mktemp) || exit 1
trap 'rm -f "$edges" "$err"' EXIT

for f in "$src"/*.c "$src"/*.h; do
	m=$(basename "$f"); m=${m%.*}; m=${m%-int}
	sed -n 's/^#include "\([a-z0-9-]*\)\.h".*/\1/p' "$f" |
	while read -r d; do
		d=${d%-int}
		[ "$d" = config ] || [ "$d" = "$m" ] || echo "$m $d"
	done
done >"$edges"
if ! tsort "$edges" >/dev/null 2>"$err"; then
	echo "check-layers: modules include each other in a circle:" >&2
	cat "$err" >&2
	rc=1
fi

states='clean|infected|error|partial|skipped|scanned|stopped|incomplete|pending|opening|scanning|waiting|done'
if grep -nE "str(n)?cmp\\([^;]*\"($states)\"" "$src"/*.c >&2; then
	echo "check-layers: a status compared as a string (use the enums)" >&2
	rc=1
fi

if grep -n 'isatty' "$src"/*.c | grep -vE "^$src/(cmd-[a-z]+|avbatch|util)\\.c:" >&2
then
	echo "check-layers: isatty below the command layer" >&2
	rc=1
fi
exit $rc
