#!/bin/bash
# The commercial engine descriptors (engines/*.ini), each driven through the
# test double of its program (tests/doubles/): `engines show` resolves the
# double; a clean disk exits 0 with nothing found; a disk with two EICAR
# files exits 1 with exactly those two paths, the vendor's threat name and
# the engine's name; a disk that also holds a file the engine cannot scan
# reports the file system as an error and still lists the detections.
#
# The doubles print the vendors' documented output (see their headers and
# engines-reference.md); they run as children of avbatch, so they see its
# mounts whether or not avbatch implements the host-mounts flag.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd jq mkfs.ext4

DOUBLES=$top_srcdir/tests/doubles

# Engine, its program (a double), the vendor's name for EICAR.
NAMES=(kaspersky kaspersky-avp sophos sophos-spl eset drweb bitdefender
	trellix fsecure comodo)
PROGS=(kesl-control avp.com savscan avscanner odscan drweb-ctl bdscan
	uvscan fsav cmdscan)
THREATS=(
	'EICAR-Test-File'
	'EICAR-Test-File'
	'EICAR-AV-Test'
	'EICAR-AV-Test'
	'Eicar test file'
	'EICAR Test File (NOT a Virus!)'
	'EICAR-Test-File (not a virus)'
	'EICAR test file NOT a virus.'
	'EICAR_Test_File'
	'Malware@#2975xfk8s2pq1'
)

plan $((${#NAMES[@]} * 10 + 1))

# Three whole-disk ext4 images (no partition table: file system id "whole").
mkdir -p "$T/img" "$T/tree/clean/clean"
printf 'Nothing to see here.\n' >"$T/tree/clean/clean/readme.txt"
cp -a "$T/tree/clean" "$T/tree/inf"
mkdir -p "$T/tree/inf/inf/sub dir"
fx_eicar "$T/tree/inf/inf/eicar one.com" || bail_out "cannot write EICAR"
fx_eicar "$T/tree/inf/inf/sub dir/eicar2.com" || bail_out "cannot write EICAR"
cp -a "$T/tree/inf" "$T/tree/err"
mkdir -p "$T/tree/err/err"
printf 'AVBATCH-DOUBLE-ERROR\n' >"$T/tree/err/err/bad.bin"
for i in clean inf err; do
	truncate -s 8M "$T/img/$i.raw" &&
	mkfs.ext4 -q -F -E root_owner=0:0 -d "$T/tree/$i" "$T/img/$i.raw" ||
		bail_out "cannot build $i.raw"
done
sums_before=$(cd "$T/img" && sha256sum clean.raw inf.raw err.raw)

run() {		# run ENGINE IMAGE: exit status in $?, report in $T/r.json
	rm -f "$T/r.json"
	PATH="$DOUBLES:$PATH" "$AVBATCH" --engines-dir "$top_srcdir/engines" \
		--state-dir "$T/state" run --engine "$1" --report "$T/r.json" \
		"$2" >"$T/out" 2>"$T/err"
}
show_logs() {
	diag "  avbatch stderr:"
	_diag_file "$T/err" 20
	[ -f "$T/r.json" ] && diag "  file systems: $(jq -c '[.targets[0].filesystems[] | {id, status, reason, engine_errors}]' "$T/r.json")"
	return 0
}
fs_status() {	# id=status of each file system
	jq -r '[.targets[0].filesystems[] | .id + "=" + .status] | join(" ")' "$T/r.json" 2>/dev/null
}
detections() {	# fs, path, threat, engine of each detection, sorted
	jq -r '.targets[0].detections[] | [.fs, .path, .threat, .engine] | @tsv' \
		"$T/r.json" 2>/dev/null | LC_ALL=C sort
}

for i in "${!NAMES[@]}"; do
	name=${NAMES[i]} prog=${PROGS[i]} threat=${THREATS[i]}
	expect=$(printf 'whole\t%s\t%s\t%s\n' \
		'/inf/eicar one.com' "$threat" "$name" \
		'/inf/sub dir/eicar2.com' "$threat" "$name" | LC_ALL=C sort)

	PATH="$DOUBLES:$PATH" "$AVBATCH" --engines-dir "$top_srcdir/engines" \
		engines show "$name" >"$T/show" 2>&1
	is "$?" 0 "$name: engines show loads the descriptor" || _diag_file "$T/show"
	ok "$name: engines show resolves $prog to the test double" \
		grep -qF -e " $DOUBLES/$prog " "$T/show"

	run "$name" "$T/img/clean.raw"
	is "$?" 0 "$name: a clean disk exits 0" || show_logs
	is "$(fs_status) $(detections | wc -l)" "whole=scanned 0" \
		"$name: the clean file system is scanned, nothing found"

	run "$name" "$T/img/inf.raw"
	is "$?" 1 "$name: a disk with EICAR exits 1" || show_logs
	is "$(detections)" "$expect" \
		"$name: exactly the two planted files, with the vendor's EICAR name"
	is "$(fs_status)" "whole=scanned" "$name: the infected file system is scanned" ||
		show_logs

	run "$name" "$T/img/err.raw"
	is "$?" 1 "$name: detections plus an unreadable file exit 1" || show_logs
	like "$(jq -r '.targets[0].filesystems[0] | [.status, .reason] | @tsv' "$T/r.json" 2>/dev/null)" \
		"^error	$name: " "$name: the scan error makes the file system an error" ||
		show_logs
	is "$(detections)" "$expect" "$name: the detections are still reported"
done

is "$(cd "$T/img" && sha256sum clean.raw inf.raw err.raw)$(leftovers)" "$sums_before" \
	"the images are unchanged and nothing is left behind"
done_testing
