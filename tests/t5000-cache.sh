#!/bin/bash
# The verdict cache: identical content scanned once and reported wherever
# it is; an unchanged batch scans nothing; one changed file is the only
# one scanned again; a changed signature file invalidates everything.  A
# target whose image files are unchanged is recalled whole (no attaching,
# mounting or walking); any change to one of them, a backing file too,
# ends that, and a disk in use is still never touched.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan jq mkfs.ext4 sigtool qemu-img qemu-storage-daemon

plan 26

mkdir -p "$T/img" "$T/tree/etc" "$T/tree/home/u"
fx_eicar "$T/tree/home/u/eicar.com"
for i in $(seq 10); do echo "config $i" >"$T/tree/etc/f$i.conf"; done
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
mkimg() {	# mkimg IMAGE: an ext4 of the tree (clones of one template)
	truncate -s 16M "$1" && mkfs.ext4 -q -F -d "$T/tree" "$1"
}
mkimg "$T/img/vm1.raw"
mkimg "$T/img/vm2.raw"
# A file changed in the last 2 s is not vouched for by its timestamps.
sleep 2.1

run() {	# run REPORT [IMAGE...]: vm1, vm2 (default), clamav, the cache under $T
	local r=$1
	shift
	[ $# -gt 0 ] || set -- "$T/img/vm1.raw" "$T/img/vm2.raw"
	"$AVBATCH" -v --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run -o clamav.database="$T/sigs" --cache "$T/cache.sqlite" \
		--report "$r" "$@" >"$r.out" 2>"$r.err"
}
recalled() {	# recalled REPORT: whether each target's result was recalled
	jq -r '[.targets[].cached] | join(" ")' "$1"
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
sha() {	# sha REPORT: the SHA-256 of each detection
	jq -r '[.targets[].detections[].sha256] | join(" ")' "$1"
}
e=$(sha256sum <"$T/tree/home/u/eicar.com") e=${e%% *}
is "$(sha "$T/r2.json")" "$e $e" \
	"cached and recalled detections keep the SHA-256 of their content"
is "$(recalled "$T/r1.json") / $(recalled "$T/r2.json")" "false false / true true" \
	"unchanged images: the second run recalls both targets whole"
is "$(jq -c '[.targets[] | .filesystems[] | [.id, .type, .status]]' "$T/r2.json")" \
	"$(jq -c '[.targets[] | .filesystems[] | [.id, .type, .status]]' "$T/r1.json")" \
	"a recalled target shows the same file systems"
is "$(grep -c ': mounted ' "$T/r1.json.err") $(grep -c ': mounted ' "$T/r2.json.err")" "2 0" \
	"nothing was mounted for them"

# Scanned at the same time (--jobs 2) with an empty cache: the content one
# target is scanning, the other waits for instead of scanning it too.
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
	run -o clamav.database="$T/sigs" --cache "$T/cache-j2.sqlite" --jobs 2 \
	--report "$T/j2.json" "$T/img/vm1.raw" "$T/img/vm2.raw" >/dev/null 2>&1
is "$(jq '[.targets[].filesystems[0].files.scanned] | add' "$T/j2.json") $(engine_runs "$T/j2.json")" \
	"11 1" "two targets at once: each content scanned once, by one engine run"
is "$(found "$T/j2.json")" "vm1.raw:/home/u/eicar.com vm2.raw:/home/u/eicar.com" \
	"and reported in both"

echo "changed" >"$T/tree/etc/f3.conf"
mkimg "$T/img/vm1.raw"
sleep 2.1
run "$T/r3.json"
is "$(counts "$T/r3.json")" "1/10 0/11" "one changed file: exactly that file is scanned again"
is "$(recalled "$T/r3.json")" "false true" "only the changed image is walked again"

# Any change to the file ends the recall, even one that keeps its bytes.
touch "$T/img/vm2.raw"
sleep 2.1
run "$T/r3b.json"
is "$(recalled "$T/r3b.json") $(counts "$T/r3b.json")" "true false 0/11 0/11" \
	"a touched image is walked again (its files still cached)"

# A qcow2 overlay: its backing file counts as much as the overlay.
qemu-img convert -O qcow2 "$T/img/vm2.raw" "$T/img/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$T/img/ov.qcow2"
sleep 2.1
run "$T/r6.json" "$T/img/ov.qcow2"
run "$T/r7.json" "$T/img/ov.qcow2"
is "$(recalled "$T/r6.json") $(recalled "$T/r7.json")" "false true" \
	"an unchanged overlay is recalled"
qemu-img convert -O qcow2 "$T/img/vm1.raw" "$T/img/base2.qcow2"
mv "$T/img/base2.qcow2" "$T/img/base.qcow2"
sleep 2.1
run "$T/r8.json" "$T/img/ov.qcow2"
is "$(recalled "$T/r8.json") $(counts "$T/r8.json")" "false 0/11" \
	"a new backing file under an unchanged overlay: walked again"

# A disk in use is skipped even though its result could be recalled.
mkdir -p "$T/exp"
fx_hold "$T/img/vm2.raw" raw "$T/exp/vm2" || bail_out "cannot hold vm2.raw"
run "$T/r9.json" "$T/img/vm2.raw"
is "$(jq -r '.targets[0] | "\(.status) \(.cached)"' "$T/r9.json")" "skipped false" \
	"a disk in use is skipped, not recalled"
kill "$FX_HOLD_PID"
wait "$FX_HOLD_PID" 2>/dev/null

# A new signature (for f1.conf's content) changes the fingerprint.  (With
# --no-delta: t5300 checks the rescan with only the added signatures.)
sigtool --md5 "$T/tree/etc/f1.conf" | sed 's/:[^:]*$/:Test.Conf.HDB/' >>"$T/sigs/test.hdb"
"$AVBATCH" -v --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
	run -o clamav.database="$T/sigs" --cache "$T/cache.sqlite" --no-delta \
	--report "$T/r4.json" "$T/img/vm1.raw" "$T/img/vm2.raw" >"$T/r4.json.out" 2>"$T/r4.json.err"
is "$(recalled "$T/r4.json")" "false false" "new signatures: nothing is recalled"
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
