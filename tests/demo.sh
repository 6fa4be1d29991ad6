#!/bin/bash
# tests/demo.sh [AVBATCH-BINARY]
#
# Build two small demo disks (a GPT qcow2 with ext4 + FAT, an MBR raw with
# ext4 + NTFS, each holding EICAR and a ClamAV test file at paths with
# spaces) and custom ClamAV signatures in DEMO_DIR (default
# /var/tmp/avbatch-demo, made anew each time), scan them with
#     avbatch run --engine clamav -o clamav.database=DIR/sigs --report DIR/report.json DISKS...
# print avbatch's summary and the detections of its report, check them
# against what was planted, and print the command that runs the same scan
# again, also kept as DIR/rerun (a second run is answered from the verdict
# cache in DIR).
# Exit status: 0 when avbatch found exactly the four planted files and left
# nothing behind, 1 when it did not, 2 when the demo could not run.
# Needs root.
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
# The binary itself: lib.sh wraps $AVBATCH in a test configuration kept in
# a temporary directory, and the rerun command must outlive it.
BIN=${AVBATCH:-$(cd "$here/.." && pwd)/src/avbatch}
case $BIN in */*) BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN") ;; esac
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

D=${DEMO_DIR:-/var/tmp/avbatch-demo}
case $D in /*) ;; *) D=$PWD/$D ;; esac
# Made anew: only a directory an earlier demo made is removed.
if [ -e "$D" ]; then
	[ -f "$D/.avbatch-demo" ] || { echo "demo.sh: $D exists and is not a demo directory; set DEMO_DIR" >&2; exit 2; }
	rm -rf --one-file-system -- "$D"
fi
mkdir -p -- "$D" && : >"$D/.avbatch-demo" || exit 2
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
# The descriptors of this source tree, whether or not avbatch is installed;
# the verdict cache and state in the demo directory.
cmd=("$BIN" --engines-dir "$top_srcdir/engines" --state-dir "$D/state"
	run --engine clamav -o "clamav.database=$D/sigs"
	--cache "$D/cache.sqlite" --report "$D/report.json" "${FX_IMAGES[@]}")
echo "== $(printf '%q ' "${cmd[@]}")"
"${cmd[@]}"
rc=$?
echo
echo "== avbatch exit status: $rc (1: something was found)"
fail=
if [ -s "$D/report.json" ] && jq -e . "$D/report.json" >/dev/null 2>&1; then
	echo "== detections in $D/report.json"
	jq -r '.targets[] | .name as $t | .detections[] |
		"   \($t) \(.fs):\(.path)  \(.threat)"' "$D/report.json"
	found=$(jq -r '.targets[] | .name as $t | .detections[] |
		"\($t) \(.fs):\(.path)"' "$D/report.json" | sort)
	want=$(printf '%s\n' \
		"demo-gpt.qcow2 p1:/home/bob/My Files/eicar.com" \
		"demo-gpt.qcow2 p2:/Program Files/Demo App/clam.exe" \
		"demo-mbr.raw p1:/var/www/up loads/eicar.com" \
		"demo-mbr.raw p2:/Users/Carol/Desk top/clam.pdf" | sort)
	if [ "$found" != "$want" ]; then
		echo "demo.sh: expected exactly these detections:" >&2
		printf '%s\n' "$want" | sed 's/^/   /' >&2
		fail=1
	fi
else
	echo "demo.sh: no valid report written" >&2
	fail=1
fi
[ "$rc" = 1 ] || { echo "demo.sh: avbatch exited $rc, expected 1 (found)" >&2; fail=1; }
left=$(T=$D leftovers)
if [ -n "$left" ]; then
	echo "demo.sh: left behind:" >&2
	printf '%s\n' "$left" >&2
	fail=1
fi
echo
if [ -n "$fail" ]; then
	echo "== demo FAILED (details above)"
	exit 1
fi
{
	echo '#!/bin/sh'
	echo "# The demo's scan again (made by tests/demo.sh); its exit status is avbatch's."
	echo "exec $(printf '%q ' "${cmd[@]}")"
} >"$D/rerun"
chmod 0755 "$D/rerun"
echo "== demo OK: the four planted files were found, nothing was left mounted or running."
echo "   Run the same scan again (answered from the verdict cache): $D/rerun"
echo "   which runs: $(printf '%q ' "${cmd[@]}")"
echo "   The report: jq . $(printf '%q' "$D/report.json")"
exit 0
