#!/bin/bash
# The commercial engine descriptors (engines/*.ini), each driven through the
# test double of its program (tests/doubles/): `engines show` resolves the
# double; a clean disk exits 0 with nothing found; a disk with two EICAR
# files exits 1 with exactly those two paths, the vendor's threat name and
# the engine's name; a disk that also holds a file the engine cannot scan
# reports the file system as an error and still lists the detections.
#
# Then the real output forms found in public sources (issue #16), each
# printed by a double: ESET 8+ result= lines and archive members, the
# legacy esets_scan threat= lines (names with blanks), savscan archive
# members and password-protected files, fsav archive members and engine
# tags, every uvscan detection form, every Dr.Web per-object error status,
# Bitdefender's TAB-separated lines and archive members in its --log file;
# and the scan lines of sophos (-rec, --no-follow-symlinks) and fsecure
# (report-only riskware actions).
#
# The doubles print the vendors' documented output (see their headers and
# engines-reference.md); they run as children of avbatch, so they see its
# mounts whether or not avbatch implements the host-mounts flag.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd jq mkfs.ext4 zip

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
	'EICAR_Test_File [Libra]'
	'Malware@#2975xfk8s2pq1'
)

FORMS=(eset esets sophos fsecure trellix drweb bitdefender)
plan $((${#NAMES[@]} * 10 + ${#FORMS[@]} * 2 + 6 + 1))

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

# --- The real output forms.  Each EICAR file asks its double for one form
# (AVBATCH-DOUBLE-FORM-<n>, see _double-lib.sh); a stored zip holds one.
mkdir -p "$T/tree/forms/f/with space" "$T/zip"
for n in 0 1 2 3 4 5; do
	fx_eicar "$T/tree/forms/f/form$n.com" &&
	printf '\nAVBATCH-DOUBLE-FORM-%d\n' "$n" >>"$T/tree/forms/f/form$n.com" ||
		bail_out "cannot write EICAR"
done
fx_eicar "$T/tree/forms/f/with space/a b.com" || bail_out "cannot write EICAR"
fx_eicar "$T/zip/eicar.com" || bail_out "cannot write EICAR"
(cd "$T/zip" && zip -q -0 "$T/tree/forms/f/arch.zip" eicar.com) ||
	bail_out "cannot build arch.zip"
printf 'Nothing to see here.\n' >"$T/tree/forms/f/clean.txt"
# Errors: one file per Dr.Web status, and a password-protected one.
mkdir -p "$T/tree/errs/e"
for n in 0 1 2 3 4 5; do
	printf 'AVBATCH-DOUBLE-ERROR\nAVBATCH-DOUBLE-FORM-%d\n' "$n" \
		>"$T/tree/errs/e/bad$n.bin"
done
printf 'AVBATCH-DOUBLE-PASSWORD\n' >"$T/tree/errs/e/locked.zip"
for i in forms errs; do
	truncate -s 8M "$T/img/$i.raw" &&
	mkfs.ext4 -q -F -E root_owner=0:0 -d "$T/tree/$i" "$T/img/$i.raw" ||
		bail_out "cannot build $i.raw"
done
# The legacy esets_scan: a copy of eset.ini as its own comments describe.
mkdir -p "$T/engines"
sed -e 's/^name = eset$/name = esets/' -e 's/^binary = odscan$/binary = esets_scan/' \
	-e 's/^flags = host-mounts$//' \
	-e 's/^scan = .*/scan = {binary} --clean-mode=NONE --no-log-all {target}/' \
	"$top_srcdir/engines/eset.ini" >"$T/engines/esets.ini"
chmod 644 "$T/engines/esets.ini"
run() {		# run ENGINE IMAGE: exit status in $?, report in $T/r.json
	rm -f "$T/r.json"
	PATH="$DOUBLES:$PATH" "$AVBATCH" --engines-dir "$top_srcdir/engines" \
		--engines-dir "$T/engines" \
		--state-dir "$T/state" run --engine "$1" --report "$T/r.json" \
		"$2" >"$T/out" 2>"$T/err"
}
paths() {	# the detected paths, sorted
	jq -r '.targets[0].detections[] | .path' "$T/r.json" 2>/dev/null | LC_ALL=C sort
}
expect_paths=$(printf '%s\n' /f/arch.zip /f/form0.com /f/form1.com \
	/f/form2.com /f/form3.com /f/form4.com /f/form5.com \
	'/f/with space/a b.com' | LC_ALL=C sort)
for name in "${FORMS[@]}"; do
	run "$name" "$T/img/forms.raw"
	is "$?" 1 "$name (real forms): exit 1" || show_logs
	is "$(paths) $(fs_status)" "$expect_paths whole=scanned" \
		"$name (real forms): every form detected at its guest path, archive members as the archive, nothing else" ||
		show_logs
	[ "$name" = trellix ] || continue
	like "$(jq -r '[.targets[0].detections[].threat] | unique | join("|")' "$T/r.json" 2>/dev/null)" \
		'EICAR test file trojan !!!' "trellix: the threat is read from each real form"
done

run drweb "$T/img/errs.raw"
is "$(jq -r '.targets[0].filesystems[0] | [.status, .engine_errors] | @tsv' "$T/r.json" 2>/dev/null)" \
	"error	8" "drweb: each of the six per-object error statuses (and the summary) counts as an error" ||
	show_logs
run sophos "$T/img/errs.raw"
like "$(jq -r '.targets[0].filesystems[0] | [.status, .reason] | @tsv' "$T/r.json" 2>/dev/null)" \
	"^error	sophos: " "sophos: unreadable and password-protected files make the file system an error" ||
	show_logs
is "$(jq -r '.targets[0].filesystems[0].engine_errors' "$T/r.json" 2>/dev/null)" 7 \
	"sophos: the password-protected file is an error line too (six unreadable, one locked)" ||
	show_logs

PATH="$DOUBLES:$PATH" "$AVBATCH" --engines-dir "$top_srcdir/engines" \
	engines show sophos >"$T/show" 2>&1
like "$(grep '^scan:' "$T/show")" ' -rec .*--no-follow-symlinks|--no-follow-symlinks .* -rec ' \
	"sophos: the scan line recurses (-rec) and never follows symlinks"
PATH="$DOUBLES:$PATH" "$AVBATCH" --engines-dir "$top_srcdir/engines" \
	engines show fsecure >"$T/show" 2>&1
is "$(grep '^scan:' "$T/show" | grep -oE -e '--(virus|suspected|riskware)-action[12]=[a-z]+|--skiplarge=[a-z]+' | LC_ALL=C sort | tr '\n' ' ')" \
	"--riskware-action1=report --riskware-action2=none --skiplarge=no --suspected-action1=report --suspected-action2=none --virus-action1=report --virus-action2=none " \
	"fsecure: every action class is report/none, large files are not skipped"

is "$(cd "$T/img" && sha256sum clean.raw inf.raw err.raw)$(leftovers)" "$sums_before" \
	"the images are unchanged and nothing is left behind"
done_testing
