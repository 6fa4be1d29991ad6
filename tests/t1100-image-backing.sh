#!/bin/bash
# Backing chains: followed inside the image's directory, refused outside it,
# through symlinks, or when a guest-written header names a host file.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq mkfs.ext4

plan 11

mkdir -p "$T/img" "$T/outside" "$T/tree/in base"
fx_eicar "$T/tree/in base/eicar.com"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
truncate -s 16M "$T/base.raw"
mkfs.ext4 -q -F -d "$T/tree" "$T/base.raw" || bail_out "mkfs failed"
qemu-img convert -O qcow2 "$T/base.raw" "$T/img/base.qcow2"
cp "$T/img/base.qcow2" "$T/outside/base.qcow2"
ln -s ../outside/base.qcow2 "$T/img/link.qcow2"
(cd "$T/img" &&
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2 &&
	qemu-img create -q -f qcow2 -b overlay.qcow2 -F qcow2 top.qcow2 &&
	qemu-img create -q -f qcow2 -u -b "$T/outside/base.qcow2" -F qcow2 escape.qcow2 16M &&
	qemu-img create -q -f qcow2 -u -b link.qcow2 -F qcow2 symlink.qcow2 16M &&
	qemu-img create -q -f qcow2 -u -b /etc/passwd -F raw fake.raw 16M) ||
	bail_out "qemu-img create failed"
(cd "$T/img" && sha256sum base.qcow2 overlay.qcow2 top.qcow2) >"$T/sums.before"

run() {
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run -o clamav.database="$T/sigs" --report "$T/report.json" "$@" \
		>"$T/out" 2>"$T/err"
}

run "$T/img/top.qcow2"
is "$?" 1 "a two-level chain is scanned through to its base" || _diag_file "$T/err"
is "$(jq -r '.targets[0].detections[] | [.fs, .path] | @tsv' "$T/report.json")" \
	"whole	/in base/eicar.com" "the file in the base image is found in the overlay"
is "$(jq -r '.targets[0].backing | map(sub(".*/"; "")) | join(",")' "$T/report.json")" \
	"overlay.qcow2,base.qcow2" "the report lists the backing chain, top to bottom"

run "$T/img/escape.qcow2"
is "$?" 2 "a backing file outside the image's directory: exit 2"
like "$(jq -r '.targets[0] | [.status, .reason] | @tsv' "$T/report.json")" \
	'^error	refusing .*outside' "and the target is an error saying why"

run "$T/img/symlink.qcow2"
like "$(jq -r '.targets[0] | [.status, .reason] | @tsv' "$T/report.json")" \
	'^error	refusing .*not a regular file' "a backing file that is a symlink is refused"

# A raw disk whose guest wrote a qcow2 header naming a host file.
run "$T/img/fake.raw"
like "$(jq -r '.targets[0] | [.status, .reason] | @tsv' "$T/report.json")" \
	'^error	refusing .*/etc/passwd' "a header naming /etc/passwd as backing file is refused"

"$AVBATCH" --state-dir "$T/state" inspect --json "$T/img/top.qcow2" >"$T/inspect.json"
is "$(jq -r '.[0].backing | map(sub(".*/"; "")) | join(",")' "$T/inspect.json")" \
	"overlay.qcow2,base.qcow2" "inspect shows the chain"
"$AVBATCH" --state-dir "$T/state" inspect "$T/img/top.qcow2" >"$T/inspect.txt"
like "$(cat "$T/inspect.txt")" 'backing .*/base\.qcow2' "inspect's text shows it too"

(cd "$T/img" && sha256sum base.qcow2 overlay.qcow2 top.qcow2) >"$T/sums.after"
is "$(cat "$T/sums.after")" "$(cat "$T/sums.before")" "no image of the chain changed"
is "$(leftovers)" "" "nothing left behind"
done_testing
