#!/bin/bash
# tests/demo.sh [AVBATCH-BINARY]
#
# Build two small demo disks (a GPT qcow2 with ext4 + FAT, an MBR raw with
# ext4 + NTFS, each holding EICAR and a ClamAV test file at paths with
# spaces) and custom ClamAV signatures in a temporary directory, scan them with
#     avbatch run --engine clamav -o clamav.database=DIR/sigs --report DIR/report.json DISKS...
# and print avbatch's output and the JSON report.
# Exit status: avbatch's if it is 0 or 1 (1, something found, is what the demo
# expects), otherwise a failure (avbatch's status, at least 2).
# Needs root.  Set AVBATCH_TEST_KEEP=1 to keep the temporary directory.

case ${1:-} in
-h | --help)
	sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac
if [ $# -gt 1 ]; then
	echo "usage: $0 [AVBATCH-BINARY]" >&2
	exit 2
fi
[ $# -eq 1 ] && AVBATCH=$1

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/fixtures.sh"

if [ "$(id -u)" != 0 ]; then
	echo "demo.sh: must run as root (it builds and mounts file systems)" >&2
	exit 2
fi
case $AVBATCH in
*/*) [ -x "$AVBATCH" ] || { echo "demo.sh: $AVBATCH is not an executable (build it: make)" >&2; exit 2; } ;;
*) command -v "$AVBATCH" >/dev/null || { echo "demo.sh: $AVBATCH not found in PATH" >&2; exit 2; } ;;
esac
for c in qemu-img sfdisk jq mkfs.ext4 mkfs.vfat mcopy mkntfs ntfs-3g unshare; do
	command -v "$c" >/dev/null || { echo "demo.sh: missing command $c" >&2; exit 2; }
done

D=$T/demo
echo "== building demo disks in $D"
if ! fx_demo "$D"; then
	echo "demo.sh: building the demo disks failed (log: $D/.fx/fixtures.log)" >&2
	[ -f "$D/.fx/fixtures.log" ] && tail -n 30 "$D/.fx/fixtures.log" >&2
	exit 2
fi
for img in "${FX_IMAGES[@]}"; do
	printf '   %s (%s)\n' "$img" "$(qemu-img info --output=json -- "$img" | jq -r '.format + ", " + (."virtual-size" / 1048576 | tostring) + " MiB"')"
done
echo "   signatures: $D/sigs ($(cat "$D/sigs/test.ndb" "$D/sigs/test.hdb" | wc -l) custom signatures)"
echo "   planted: /home/bob/My Files/eicar.com (ext4), /Program Files/Demo App/clam.exe (FAT)"
echo "            /var/www/up loads/eicar.com (ext4), /Users/Carol/Desk top/clam.pdf (NTFS)"
echo
# The descriptors of this source tree, whether or not avbatch is installed.
echo "== $AVBATCH --engines-dir $top_srcdir/engines --state-dir $D/state run --engine clamav -o clamav.database=$D/sigs --report $D/report.json ${FX_IMAGES[*]}"
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$D/state" \
	run --engine clamav -o "clamav.database=$D/sigs" \
	--report "$D/report.json" "${FX_IMAGES[@]}"
rc=$?
echo
echo "== avbatch exit status: $rc"
if [ -s "$D/report.json" ]; then
	echo "== report ($D/report.json)"
	jq . "$D/report.json" || echo "demo.sh: the report is not valid JSON" >&2
else
	echo "demo.sh: no report written" >&2
fi
echo "== left behind (should be empty):"
leftovers
case $rc in
0 | 1) exit "$rc" ;;
esac
echo "demo.sh: avbatch failed with status $rc" >&2
[ "$rc" -ge 2 ] 2>/dev/null || rc=2
exit "$rc"
