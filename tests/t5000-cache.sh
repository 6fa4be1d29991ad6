#!/bin/bash
# The verdict cache: identical content scanned once and reported wherever
# it is; an unchanged batch scans nothing; one changed file is the only
# one scanned again; a changed signature file invalidates everything.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan jq mkfs.ext4 sigtool

plan 14

mkdir -p "$T/img" "$T/tree/etc" "$T/tree/home/u"
fx_eicar "$T/tree/home/u/eicar.com"
for i in $(seq 10); do echo "config $i" >"$T/tree/etc/f$i.conf"; done
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
mkimg() {	# mkimg IMAGE: an ext4 of the tree (clones of one template)
	truncate -s 16M "$1" && mkfs.ext4 -q -F -d "$T/tree" "$1"
}
mkimg "$T/img/vm1.raw"
mkimg "$T/img/vm2.raw"

run() {	# run REPORT: both images, clamav, the cache under $T
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run -o clamav.database="$T/sigs" --cache "$T/cache.sqlite" \
		--report "$1" "$T/img/vm1.raw" "$T/img/vm2.raw" >"$1.out" 2>"$1.err"
}
counts() {	# counts REPORT: scanned/cached of each target
	jq -r '[.targets[] | .filesystems[0].files | "\(.scanned)/\(.cached)"] | join(" ")' "$1"
}
found() {	# found REPORT: target:path of each detection
	jq -r '[.targets[] | .name as $n | .detections[] | "\($n):\(.path)"] | join(" ")' "$1"
}
engine_runs() {	# how many times the engine ran in the job of REPORT
	find "$T/state/jobs/$(jq -r .job "$1")" -name '*.clamav.out' | wc -l
}

run "$T/r1.json"
is "$?" 1 "first run: exit 1"
is "$(counts "$T/r1.json")" "11/0 0/11" \
	"two clones: the content is scanned once, in the first; the second is all cached"
is "$(found "$T/r1.json")" "vm1.raw:/home/u/eicar.com vm2.raw:/home/u/eicar.com" \
	"the infected content is reported in both"
is "$(engine_runs "$T/r1.json")" 1 "the engine ran once"

run "$T/r2.json"
is "$?" 1 "unchanged batch: exit 1, still"
is "$(counts "$T/r2.json")" "0/11 0/11" "nothing is scanned; everything is cached"
is "$(engine_runs "$T/r2.json")" 0 "the engine is never invoked"
is "$(found "$T/r2.json")" "vm1.raw:/home/u/eicar.com vm2.raw:/home/u/eicar.com" \
	"cached detections are reported"

echo "changed" >"$T/tree/etc/f3.conf"
mkimg "$T/img/vm1.raw"
run "$T/r3.json"
is "$(counts "$T/r3.json")" "1/10 0/11" "one changed file: exactly that file is scanned again"

# A new signature (for f1.conf's content) changes the fingerprint.
sigtool --md5 "$T/tree/etc/f1.conf" | sed 's/:[^:]*$/:Test.Conf.HDB/' >>"$T/sigs/test.hdb"
run "$T/r4.json"
is "$(counts "$T/r4.json")" "11/0 1/10" \
	"a changed signature file: everything is scanned again, once (vm2's own f3 too)"
like "$(found "$T/r4.json")" "vm1.raw:/etc/f1.conf .*vm2.raw:/etc/f1.conf" \
	"and the new signature's detections appear in both"

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.database="$T/sigs" --cache "$T/cache.sqlite" --no-cache \
	--report "$T/r5.json" "$T/img/vm2.raw" >/dev/null 2>&1
is "$(counts "$T/r5.json")" "11/0" "--no-cache scans everything"
is "$(stat -c %a "$T/cache.sqlite")" 600 "the cache file is private"
is "$(leftovers)" "" "nothing left behind"
done_testing
