#!/bin/bash
# Image integrity (issue #14): a qcow2 truncated under its intact tables
# reads its missing clusters as zeros; qemu-img check (read-only) finds it
# before the image is attached, for the image and every backing file.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq mkfs.ext4

plan 10

run() {
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run -o clamav.database="$T/sigs" --report "$T/report.json" "$@" \
		>"$T/out" 2>"$T/err"
}

status() {
	jq -r '.targets[0] | [.status, .reason // ""] | @tsv' "$T/report.json"
}

fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
mkdir -p "$T/tree" "$T/img"
fx_eicar "$T/tree/eicar.com"
truncate -s 32M "$T/disk.raw"
mkfs.ext4 -q -F -d "$T/tree" "$T/disk.raw" || bail_out "mkfs failed"
qemu-img convert -O qcow2 "$T/disk.raw" "$T/img/whole.qcow2" ||
	bail_out "qemu-img convert failed"

# Cut the file where its first data cluster begins: header, refcounts and
# tables stay, every cluster of data lies past the end of the file.
first=$(qemu-img map --output=json "$T/img/whole.qcow2" |
	jq '[.[] | select(.data) | .offset] | min')
[ "$first" -gt 0 ] 2>/dev/null || bail_out "no data offset in the map"
cp "$T/img/whole.qcow2" "$T/img/cut.qcow2"
truncate -s "$first" "$T/img/cut.qcow2"
(cd "$T/img" && qemu-img create -q -f qcow2 -b cut.qcow2 -F qcow2 top.qcow2) ||
	bail_out "qemu-img create failed"

# A vdi whose block map points past its end: qemu-img check passes it, the
# map (data extents beyond the file's size) does not.
qemu-img convert -O vdi "$T/disk.raw" "$T/img/whole.vdi" ||
	bail_out "qemu-img convert failed"
last=$(qemu-img map --output=json -f vdi "$T/img/whole.vdi" |
	jq '[.[] | select(.data) | .offset] | max')
cp "$T/img/whole.vdi" "$T/img/cut.vdi"
truncate -s "$last" "$T/img/cut.vdi"
(cd "$T/img" && sha256sum -- *.qcow2 *.vdi) >"$T/sums.before"

run "$T/img/whole.qcow2"
is "$(status)" "infected	" "the intact qcow2 passes its check and is scanned"

start=$SECONDS
run "$T/img/cut.qcow2"
is "$?" 2 "a truncated qcow2: exit 2, not clean"
like "$(status)" "^error	image check of '.*cut\\.qcow2' failed: [0-9]+ errors were found on the image.*exceeding the end of the file" \
	"the target is an error with qemu-img check's words"
ok "the check takes little time" test $((SECONDS - start)) -lt 20

run "$T/img/top.qcow2"
like "$(status)" "^error	image check of '.*cut\\.qcow2' failed" \
	"a truncated backing file makes its overlay an error too"

run "$T/img/whole.vdi"
is "$(status)" "infected	" "an intact vdi passes and is scanned"
run "$T/img/cut.vdi"
like "$(status)" "^error	image check of '.*cut\.vdi' failed: data at offset [0-9]+ lies past the end of the file" \
	"a vdi with data past its end is an error"

"$AVBATCH" --state-dir "$T/state" inspect --json "$T/img/cut.qcow2" \
	>"$T/inspect.json"
is "$(jq -r '.[0].status' "$T/inspect.json")" error "inspect says so too"

(cd "$T/img" && sha256sum -- *.qcow2 *.vdi) >"$T/sums.after"
is "$(cat "$T/sums.after")" "$(cat "$T/sums.before")" \
	"the check writes nothing (no image changed)"
is "$(leftovers)" "" "nothing left behind"
done_testing
