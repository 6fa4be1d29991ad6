#!/bin/bash
# report-compare.sh - do two avbatch builds write the same report?
#
#   tests/report-compare.sh DIR OLD_AVBATCH NEW_AVBATCH [OLD_ENGINES_DIR]
#
# Builds the suite's fixture images once under DIR (kept, so a second call
# compares on the very same bytes), scans them with each binary (clamav,
# the test signatures, one target at a time: without a cache, then twice
# with a new one) and with `inspect --json`, and diffs the
# outputs after deleting what differs from run to run: times, durations,
# job ids, state paths, and the descriptor numbers qemu's error messages
# name (/proc/self/fd/N: N depends on what else the process has open).
# For refactors that must not change behaviour.
# The old binary reads OLD_ENGINES_DIR (default: this tree's engines/).
# Exit 0: identical; 1: a difference (shown); 2: could not run.
set -u
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
. "$top_srcdir/tests/fixtures.sh"

[ $# -eq 3 ] || [ $# -eq 4 ] ||
	{ echo "usage: $0 DIR OLD_AVBATCH NEW_AVBATCH [OLD_ENGINES_DIR]" >&2; exit 2; }
dir=$1 old=$2 new=$3 old_engines=${4:-$top_srcdir/engines}
mkdir -p "$dir" || exit 2
dir=$(cd "$dir" && pwd)

sets="batch lvm unclean special layouts streams btrfs demo"
if [ ! -e "$dir/.built" ]; then
	: >"$dir/images"
	for s in $sets; do
		"fx_$s" "$dir/$s" || { echo "cannot build fx_$s" >&2; exit 2; }
		printf '%s\n' "${FX_IMAGES[@]}" >>"$dir/images"
	done
	fx_sigdb "$dir/sigs" || exit 2
	touch "$dir/.built"
fi
mapfile -t images <"$dir/images"

# Times, durations, rates and ids change from run to run; nothing else may.
norm='walk(if type == "object" then
	del(.started, .finished, .duration, .duration_s, .job, .id, .state_dir, .seconds,
	    .elapsed, .rate, .pid)
	else . end)'

run1() {	# run1 BINARY OUT NAME [OPTION...]: one run, normalised
	local bin=$1 out=$2 name=$3
	shift 3
	"$bin" --engines-dir "$engines" --state-dir "$dir/state.$out" \
		run --jobs 1 "$@" --engine clamav -o clamav.database="$dir/sigs" \
		--report "$dir/$out.json" "${images[@]}" >"$dir/$out.txt" 2>"$dir/$out.err"
	echo "exit $?" >>"$dir/$out.txt"
	{ echo "== $name"; sed "$fdnum" "$dir/$out.txt"; } >>"$dir/$out.txts"
	{ echo "== $name"; jq -S "$norm" "$dir/$out.json" | sed "$fdnum"; } >>"$dir/$out.norm"
}

# Without the cache, then twice with it: the second run is recalled.
fdnum='s#/proc/self/fd/[0-9]*#/proc/self/fd/N#g'

scan() {	# scan BINARY OUT ENGINES_DIR
	local bin=$1 out=$2 engines=$3 i
	rm -rf "$dir/state.$out" "$dir/$out.norm" "$dir/$out.txts"
	run1 "$bin" "$out" no-cache --no-cache || return 2
	rm -f "$dir/cache.$out".sqlite*
	run1 "$bin" "$out" cold --cache "$dir/cache.$out.sqlite" || return 2
	run1 "$bin" "$out" recalled --cache "$dir/cache.$out.sqlite" || return 2
	for i in "${images[@]}"; do
		echo "== ${i##*/}"
		"$bin" --engines-dir "$engines" inspect --json "$i" |
			jq -S "$norm"
	done >"$dir/$out.inspect" 2>&1
}

scan "$old" old "$old_engines" || exit 2
scan "$new" new "$top_srcdir/engines" || exit 2
rc=0
for f in norm txts inspect; do
	diff -u "$dir/old.$f" "$dir/new.$f" || rc=1
done
[ $rc = 0 ] && echo "reports, text summaries and inspect output identical" \
	"(${#images[@]} images)"
exit $rc
