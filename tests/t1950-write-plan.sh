#!/bin/bash
# Where writing is safe (#17 items 3, 5, 7): each file system gets its
# writable plan or the reason there is none; a writable mount of ext4,
# xfs, btrfs, NTFS (ntfs-3g) and exFAT (exfat-fuse) creates and deletes a
# file; FAT is changed by mtools (mtools.h); the file systems' own
# read-only checks say clean on fresh ones and refuse corrupted ones; an
# unclean journal is replayed on the image before the check.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd jq sfdisk mkntfs ntfs-3g mkfs.xfs mkfs.btrfs mkfs.exfat \
	mount.exfat-fuse mkfs.vfat mcopy mdel e2fsck xfs_repair xfs_db debugfs \
	btrfs ntfsfix fsck.vfat fsck.exfat cryptsetup qemu-img qemu-storage-daemon \
	pvcreate dumpe2fs

WT=$top_builddir/tests/unit/write-tool
[ -x "$WT" ] || skip_all "tests/unit/write-tool not built (make check builds it)"


W=$T/work
mkdir -m 0700 "$W" || bail_out "cannot create $W"

# mkfs_raw TYPE FILE: a fresh file system of TYPE filling the new FILE.
mkfs_raw() {
	truncate -s 300M "$2" || return 1
	case $1 in
	ntfs) mkntfs -F -Q "$2" ;;
	vfat) mkfs.vfat "$2" ;;
	btrfs|xfs) "mkfs.$1" -q -f "$2" ;;
	ext4) mkfs.ext4 -q "$2" ;;
	*) "mkfs.$1" "$2" ;;
	esac >>"$T/mkfs.log" 2>&1
}

# One fs in a plain raw file, per type: its plan, a writable mount that
# creates and deletes a file (seen by the read-only mount a scan uses),
# and its check still clean afterwards.
for t in ext4:ext4: xfs:xfs:,nouuid btrfs:btrfs:,subvolid=5 \
	 ntfs:ntfs-3g:,streams_interface=xattr exfat:mount.exfat-fuse:; do
	IFS=: read -r type driver extra <<<"$t"
	img=$T/$type.raw
	mkfs_raw "$type" "$img" || bail_out "cannot make $type"
	is "$("$WT" plan "$W" "$img" check 2>&1)" \
		"whole	$type	write $driver rw,nosuid,nodev,noexec$extra, $(
		case $type in ext4) echo e2fsck ;; xfs) echo xfs_repair ;;
		btrfs) echo btrfs ;; ntfs) echo ntfsfix ;; exfat) echo fsck.exfat
		esac) clean" "$type: writable plan ($driver), checked clean"
	ok "$type: a writable mount creates a file" \
		"$WT" put "$W" "$img" whole planted.txt "planted in $type"
	is "$("$WT" cat "$W" "$img" whole planted.txt 2>&1)" \
		"planted in $type" "$type: the file is on the image after unmount"
	ok "$type: a writable mount deletes it" \
		"$WT" del "$W" "$img" whole planted.txt
	is "$("$WT" cat "$W" "$img" whole planted.txt 2>&1)" "absent" \
		"$type: and it is gone from the image"
	like "$("$WT" check "$W" "$img" whole 2>&1)" " clean 0$" \
		"$type: its check is still clean after the changes"
done
is "$(leftovers)" "" "no writable mount left behind"

# Corrupted: an ext4 inode in use marked free; an xfs free-block count
# that is wrong.  Both refused before any write, with the tool's word.
"$WT" put "$W" "$T/ext4.raw" whole victim.txt "x" &&
debugfs -w -R "freei /victim.txt" "$T/ext4.raw" >>"$T/corrupt.log" 2>&1 ||
	bail_out "cannot corrupt the ext4"
is "$("$WT" check "$W" "$T/ext4.raw" whole 2>&1)" "e2fsck errors 4" \
	"e2fsck -fn finds the corrupted ext4 (exit 4)"
is "$("$WT" plan "$W" "$T/ext4.raw" check 2>&1)" \
	"whole	ext4	refused: e2fsck before cleaning: errors found (exit 4)" \
	"its writable plan is refused"
xfs_db -x -c "agf 0" -c "write -d freeblks 12345" "$T/xfs.raw" \
	>>"$T/corrupt.log" 2>&1 || bail_out "cannot corrupt the xfs"
is "$("$WT" check "$W" "$T/xfs.raw" whole 2>&1)" "xfs_repair errors 1" \
	"xfs_repair -n finds the corrupted xfs (exit 1)"
is "$("$WT" plan "$W" "$T/xfs.raw" check 2>&1)" \
	"whole	xfs	refused: xfs_repair before cleaning: errors found (exit 1)" \
	"its writable plan is refused"
sha=$(sha256sum <"$T/ext4.raw")
ok_not "a file system whose check fails is not mounted writable" \
	"$WT" put "$W" "$T/ext4.raw" whole again.txt "x"
is "$(sha256sum <"$T/ext4.raw")" "$sha" "... so the image is unchanged"

# FAT: a partition at 1 MiB; mtools deletes one file exactly (a name with
# brackets is no pattern), reads one back, lists a directory.
fat=$T/fat.raw
truncate -s 40M "$fat" &&
printf 'label: dos\nstart=2048, size=32MiB, type=c\n' |
	sfdisk --no-reread --no-tell-kernel "$fat" >>"$T/mkfs.log" 2>&1 &&
truncate -s 32M "$T/fat.fs" && mkfs.vfat "$T/fat.fs" >>"$T/mkfs.log" 2>&1 &&
printf 'bad' >"$T/bad" && printf 'keep' >"$T/keep" &&
printf 'long name\n' >"$T/long" &&
MTOOLS_SKIP_CHECK=1 mmd -i "$T/fat.fs" "::/Dir" &&
MTOOLS_SKIP_CHECK=1 mcopy -i "$T/fat.fs" "$T/bad" "::/a[1].exe" &&
MTOOLS_SKIP_CHECK=1 mcopy -i "$T/fat.fs" "$T/keep" "::/a1.exe" &&
MTOOLS_SKIP_CHECK=1 mcopy -i "$T/fat.fs" "$T/long" "::/Dir/Long Name.txt" &&
dd if="$T/fat.fs" of="$fat" bs=1M seek=1 conv=notrunc status=none ||
	bail_out "cannot build the FAT image"
is "$("$WT" plan "$W" "$fat" check 2>&1)" \
	"p1	vfat	write mtools changed in place by mtools, fsck.vfat clean" \
	"FAT: the plan is mtools, checked clean"
ok_not "FAT: never mounted" "$WT" put "$W" "$fat" p1 x.txt x
off=$((2048 * 512))
is "$("$WT" mls "$fat" "$off" / "$W/m.log" 2>&1 | sort)" \
	"/Dir/
/a1.exe
/a[1].exe" "mtools lists the root by path"
ok "mtools deletes a file" "$WT" mdel "$fat" "$off" "/a[1].exe" "$W/m.log"
is "$("$WT" mls "$fat" "$off" / "$W/m.log" 2>&1 | sort)" \
	"/Dir/
/a1.exe" "only that file: its brackets were no pattern"
ok "mtools reads a file back" \
	"$WT" mread "$fat" "$off" "/Dir/Long Name.txt" "$W/long.out" "$W/m.log"
is "$(cat "$W/long.out" 2>&1)" "long name" "with its content"
ok_not "mtools never overwrites a host file" \
	"$WT" mread "$fat" "$off" "/a1.exe" "$W/long.out" "$W/m.log"
ok_not "a path mtools would read as a pattern is refused" \
	"$WT" mdel "$fat" "$off" "/a*.exe" "$W/m.log"
is "$("$WT" mls "$fat" "$off" / "$W/m.log" 2>&1 | sort)" \
	"/Dir/
/a1.exe" "... and nothing was deleted"
is "$("$WT" check "$W" "$fat" p1 2>&1)" "fsck.vfat clean 0" \
	"fsck.vfat -n: still clean after mtools' changes"

# The fixtures: a hibernated NTFS, an LDM and an MD member; LUKS and
# swap; LVM linear (writable through a loop at its offset) and an LV that
# needs device-mapper.
fx_special "$T/sp" || bail_out "cannot build fx_special"
fx_lvm "$T/lvm" || bail_out "cannot build fx_lvm"
fx_batch "$T/batch" || bail_out "cannot build fx_batch"
sha=$(sha256sum <"$T/sp/hiber.raw")
out=$("$WT" plan "$W" "$T/sp/hiber.raw" check 2>&1)
like "$(grep '^p1' <<<"$out")" \
	'^p1	ntfs	refused: hibernated or shut down with Fast Startup: a resume would overwrite the changes$' \
	"a hibernated NTFS is refused"
like "$(grep '^p2' <<<"$out")" '^p2	-	refused: Windows dynamic disk \(LDM\)' \
	"an LDM partition is refused"
like "$(grep '^p3' <<<"$out")" '^p3	linux_raid_member	refused: MD RAID member' \
	"an MD RAID member is refused"
is "$(sha256sum <"$T/sp/hiber.raw")" "$sha" "looking changed nothing"

out=$("$WT" plan "$W" "$T/batch/luks.raw" 2>&1)
is "$(grep '^p1' <<<"$out")" \
	"p1	crypto_LUKS	refused: encrypted (LUKS): never unlocked, never written" \
	"LUKS is refused"
is "$(grep '^p2' <<<"$out")" "p2	ext4	write ext4 rw,nosuid,nodev,noexec" \
	"the ext4 beside it is writable"
out=$("$WT" plan "$W" "$T/batch/gpt.qcow2" check 2>&1)
is "$out" "p1	vfat	write mtools changed in place by mtools, fsck.vfat clean
p2	swap	nothing: swap space: nothing to write
p3	ext4	write ext4 rw,nosuid,nodev,noexec, e2fsck clean" \
	"a qcow2 (through its read-only view): FAT, swap, ext4"
out=$("$WT" plan "$W" "$T/batch/ext.vhdx" check 2>&1)
like "$out" "p5	xfs	write xfs rw,nosuid,nodev,noexec,nouuid, xfs_repair clean" \
	"a vhdx's logical xfs: checked clean"
out=$("$WT" plan "$W" "$T/batch/mbr.vmdk" check 2>&1)
like "$out" "p1	ntfs	write ntfs-3g rw,nosuid,nodev,noexec,streams_interface=xattr, ntfsfix clean" \
	"a vmdk's NTFS, not hibernated: ntfs-3g, checked clean"

out=$("$WT" plan "$W" "$T/lvm/lvm.raw" check 2>&1)
is "$(grep '^vg0/root' <<<"$out")" \
	"vg0/root	ext4	write ext4 rw,nosuid,nodev,noexec, e2fsck clean" \
	"a linear LV: writable, checked clean"
like "$(grep '^vg0/data' <<<"$out")" \
	'^vg0/data	-	refused: .*needs a device-mapper table' \
	"an LV in pieces needs device-mapper: refused"
is "$(grep '^vg0/swap' <<<"$out")" \
	"vg0/swap	swap	nothing: swap space: nothing to write" "LVM swap: nothing"
like "$(grep '^p2' <<<"$out")" '^p2	LVM2_member	nothing: LVM physical volume' \
	"the PV itself: nothing to write"
ok "a linear LV is mounted writable at its offset" \
	"$WT" put "$W" "$T/lvm/lvm.raw" vg0/root planted.txt "in the LV"
is "$("$WT" cat "$W" "$T/lvm/lvm.raw" vg0/root planted.txt 2>&1)" \
	"in the LV" "the file is in the LV"
is "$("$WT" cat "$W" "$T/lvm/lvm.raw" p1 planted.txt 2>&1)" "absent" \
	"and not in the partition before it"
like "$("$WT" check "$W" "$T/lvm/lvm.raw" vg0/root 2>&1)" "e2fsck clean 0" \
	"the LV is still clean"

# A journal (ext4) or log (xfs) that needs replaying is replayed on the
# image as part of the change, then checked: not refused for the
# inconsistencies a check that skips the journal would see.
fx_unclean "$T/un" || bail_out "cannot build fx_unclean"
xfs_repair -n "$T/un/unclean-xfs.raw" >"$T/xfs-before.log" 2>&1
isnt_zero=$?
ok "the dirty xfs log alone fails xfs_repair -n" test "$isnt_zero" != 0
is "$("$WT" plan "$W" "$T/un/unclean.raw" check 2>&1)" \
	"whole	ext4	write ext4 rw,nosuid,nodev,noexec, journal replayed, e2fsck clean" \
	"ext4: its journal replayed on the image, then checked clean"
unlike "$(dumpe2fs -h "$T/un/unclean.raw" 2>/dev/null | grep '^Filesystem features:')" \
	needs_recovery "... so it no longer needs recovery"
like "$(debugfs -R 'ls -l /home/alice' "$T/un/unclean.raw" 2>/dev/null)" ' new *$' \
	"... and what lived only in the journal is in the file system"
is "$("$WT" plan "$W" "$T/un/unclean-xfs.raw" check 2>&1)" \
	"whole	xfs	write xfs rw,nosuid,nodev,noexec,nouuid, journal replayed, xfs_repair clean" \
	"xfs: its log replayed on the image, then checked clean"
ok "... so xfs_repair -n finds it clean by itself" \
	xfs_repair -n "$T/un/unclean-xfs.raw"

is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
