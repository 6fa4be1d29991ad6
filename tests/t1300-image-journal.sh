#!/bin/bash
# Unclean journals: an ext4 (needs_recovery) and an xfs (dirty log) whose
# newest file lives only in the journal are mounted with the journal
# replayed into a throwaway qcow2 overlay, so that file is scanned and
# found; the images stay byte-identical; a clean journal is left alone.
# Where no overlay can be had, the journal is left alone (noload,
# norecovery) and the file system reported partial, saying why.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq mkfs.ext4 mkfs.xfs \
	dumpe2fs debugfs xfs_logprint

plan 14

fx_unclean "$T/img" || bail_out "cannot build the unclean images"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
mkdir -p "$T/tree/etc" && echo clean >"$T/tree/etc/hostname"
mkfs.ext4 -q -d "$T/tree" "$T/img/clean.raw" 16M >/dev/null 2>&1 ||
	bail_out "mkfs failed"
qemu-img convert -f raw -O qcow2 "$T/img/unclean.raw" "$T/img/unclean.qcow2" ||
	bail_out "qemu-img convert failed"
imgs=(unclean.raw unclean.qcow2 unclean-xfs.raw clean.raw)
(cd "$T/img" && sha256sum "${imgs[@]}") >"$T/sums.before"

like "$(xfs_logprint -t "$T/img/unclean-xfs.raw" 2>&1)" 'state: <DIRTY>' \
	"the xfs image's log is dirty"

"$AVBATCH" --state-dir "$T/state" inspect "$T/img/unclean.raw" >"$T/inspect" 2>&1
like "$(cat "$T/inspect")" 'journal unclean: replayed into a throwaway overlay' \
	"inspect says the ext4 journal will be replayed"

(cd "$T/img" && "$AVBATCH" --engines-dir "$top_srcdir/engines" \
	--state-dir "$T/state" run --engine clamav -o clamav.database="$T/sigs" \
	--report "$T/report.json" "${imgs[@]}") >"$T/out" 2>"$T/err"
is "$?" 1 "run exits 1: found" || _diag_file "$T/err"

is "$(jq -r '.targets[] | .name as $n | .detections[] | [$n, .fs, .path] | @tsv' \
	"$T/report.json" | LC_ALL=C sort)" \
	"$(printf '%s\twhole\t/home/alice/new/eicar.com\n' unclean-xfs.raw unclean.qcow2 unclean.raw)" \
	"the file that lives only in the journal is found, in raw, qcow2 and xfs"
is "$(jq -r '.targets[] | [.name, .filesystems[0].status,
	.filesystems[0].journal_replayed] | @tsv' "$T/report.json" | LC_ALL=C sort)" \
	"$(printf '%s\t%s\t%s\n' clean.raw scanned false unclean-xfs.raw scanned true \
		unclean.qcow2 scanned true unclean.raw scanned true)" \
	"journal_replayed is true exactly where a journal was replayed"
like "$(jq -r '.targets[] | select(.name == "clean.raw") | .filesystems[0].options' \
	"$T/report.json")" 'noload' "a clean ext4 journal is still not loaded"
unlike "$(jq -r '.targets[] | select(.name == "unclean.raw") | .filesystems[0].options' \
	"$T/report.json")" 'rw' "the replayed file system is mounted read-only"
is "$(find "$T/state/jobs" -name 'overlay*.qcow2' -o -name rwview | wc -l)" 0 \
	"the overlays are gone"

# The same unclean ext4 as an LVM logical volume (vg0/root).
fx_lvm "$T/lvm" || bail_out "cannot build the LVM image"
off=$("$AVBATCH" --state-dir "$T/state" inspect --json "$T/lvm/lvm.raw" |
	jq '.[0].filesystems[] | select(.id == "vg0/root") | .offset')
dd if="$T/img/unclean.raw" of="$T/lvm/lvm.raw" bs=64K conv=notrunc,sparse \
	oflag=seek_bytes seek="$off" status=none
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine clamav -o clamav.database="$T/sigs" --report "$T/lvm.json" \
	"$T/lvm/lvm.raw" >"$T/out2" 2>"$T/err2"
is "$(jq -r '.targets[0] | (.filesystems[] | select(.id == "vg0/root") |
	.journal_replayed | tostring) + " " + ([.detections[] | .fs + ":" + .path] |
	join(","))' "$T/lvm.json")" "true vg0/root:/home/alice/new/eicar.com" \
	"an unclean journal on an LVM logical volume is replayed too" ||
	_diag_file "$T/err2"

# No overlay (qemu-img cannot create one): mounted without the journal.
mkdir -p "$T/bin"
cat >"$T/bin/qemu-img" <<EOF
#!/bin/bash
[ "\$1" = create ] && { echo "qemu-img: no room for an overlay" >&2; exit 1; }
exec $(command -v qemu-img) "\$@"
EOF
chmod 0755 "$T/bin/qemu-img"
(cd "$T/img" && PATH="$T/bin:$PATH" "$AVBATCH" --engines-dir \
	"$top_srcdir/engines" --state-dir "$T/state" run --engine clamav \
	-o clamav.database="$T/sigs" --report "$T/noov.json" \
	unclean.raw unclean-xfs.raw) >"$T/out3" 2>"$T/err3"
is "$?" 2 "without an overlay, run exits 2: incomplete" || _diag_file "$T/err3"
is "$(jq -r '.targets[] | .filesystems[0] | [.status, .journal_replayed,
	.options] | @tsv' "$T/noov.json")" \
	"$(printf '%s\t%s\t%s\n' partial false ro,nosuid,nodev,noexec,noload \
		partial false ro,nosuid,nodev,noexec,nouuid,norecovery)" \
	"the journal is left alone: noload (ext4), norecovery (xfs)"
is "$(jq -r '.targets[].filesystems[0].reason' "$T/noov.json" | sort -u)" \
	"journal not replayed (cannot create an overlay: qemu-img: no room for an overlay): files that live only in the journal were not scanned" \
	"the reason says the journal was not replayed, and why"

(cd "$T/img" && sha256sum "${imgs[@]}") >"$T/sums.after"
is "$(cat "$T/sums.after")" "$(cat "$T/sums.before")" "no image changed"
is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
