# tests/fixtures.sh - builders of real disk images for avbatch tests.
# Source after lib.sh (needs bash; uses nothing from lib.sh but PATH).
#
#   fx_eicar FILE     write the 68-byte EICAR test string to FILE
#   fx_sigdb DIR      ClamAV signatures usable without the official DB:
#                     DIR/test.ndb (Test.EICAR.NDB) and DIR/test.hdb
#                     (Test.ClamExe.HDB, Test.ClamPdf.HDB, Test.ClamZip.HDB);
#                     clamscan reports them with ".UNOFFICIAL" appended.
#   fx_batch DIR      the acceptance batch: DIR/{gpt.qcow2,mbr.vmdk,ext.vhdx,
#                     bare.raw,gpt20.raw,luks.raw,trunc.qcow2}, DIR/expect.detections,
#                     DIR/expect.fs; sets the array FX_IMAGES (absolute paths).
#   fx_demo DIR       DIR/demo-gpt.qcow2, DIR/demo-mbr.raw, DIR/sigs/; sets FX_IMAGES.
#   fx_lvm DIR        DIR/lvm.raw: MBR, ext2 /boot and an LVM PV with VG vg0
#                     (LVs root with EICAR, data in two pieces, swap); sets FX_IMAGES.
#   fx_unclean DIR    DIR/unclean.raw (ext4), DIR/unclean-xfs.raw: the newest
#                     file (an EICAR) only in the journal/log, as after a crash.
#   fx_special DIR    DIR/hiber.raw: a hibernated NTFS, an LDM partition and an
#                     MD RAID member.
#   fx_layouts DIR    DIR/exfat.raw (exFAT on the whole disk, no table),
#                     DIR/gpt4k.raw (a GPT for 4096-byte sectors, ext4 p1);
#                     an EICAR in each.
#   fx_btrfs DIR      DIR/btrfs.raw: a whole-disk btrfs with subvolumes @
#                     (the default: /root/eicar.com, /etc/fstab mounting
#                     @home at /home), @home (/alice/eicar.com), @var, and
#                     the read-only snapshot @snapshots/1 of @ that still
#                     holds /usr/bin/evil (EICAR), since deleted from @.
#   fx_streams DIR    DIR/streams.raw: MBR, p1 NTFS whose /Docs/readme.txt
#                     holds EICAR in its named streams "payload.exe" and
#                     "a:b" (its main data is clean), and a file "odd:name"
#                     (a POSIX name with a colon) holding EICAR, with a
#                     named stream "s" (clean).
#
# Everything is written below DIR.  Tool output goes to DIR/.fx/fixtures.log,
# the LUKS passphrase of luks.raw is in DIR/.fx/luks.key, DIR/.fx/work is
# scratch space removed before returning;
# nothing is printed on stdout; errors go to stderr and the function returns 1.
# File systems are built in separate files (no mount where a tool can fill them:
# mkfs.ext* -d, mkfs.btrfs --rootdir, mtools), NTFS through an ntfs-3g FUSE mount
# of the file and xfs through a loop mount, both inside a private mount
# namespace (unshare -m) so that nothing can stay visible or mounted, then
# copied with dd into the disk at the offsets sfdisk reports.  Root only.
#
# Guest file names are only ever passed as arguments, never evaluated.

FX_TESTFILES=${FX_TESTFILES:-/usr/share/clamav-testfiles}

# The EICAR test string, reversed so that no scanner flags this file.
_FX_EICAR_REV='*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\4[PA@%P!O5X'
FX_EICAR_MD5=44d88612fea8a8f36de82e1278abb02f
FX_TRUNC_SIZE=${FX_TRUNC_SIZE:-64}

# GPT partition type GUIDs.
_FX_GPT_ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
_FX_GPT_SWAP=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F
_FX_GPT_LINUX=0FC63DAF-8483-4772-8E79-3D69D8477DE4
_FX_GPT_ROOT=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
_FX_GPT_LUKS=CA7D7CCB-63ED-4C53-861C-1742536059CC
_FX_GPT_MSDATA=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7

FX_IMAGES=()
_FX_LOG=/dev/null
_FX_WORK=

# ---------------------------------------------------------------- basics

_fx_err() {
	echo "fixtures: $*" >&2
	if [ -f "$_FX_LOG" ]; then
		echo "fixtures: last lines of $_FX_LOG:" >&2
		tail -n 15 -- "$_FX_LOG" | sed 's/^/fixtures:   /' >&2
	fi
	return 1
}

# _fx_run CMD [ARG...]: run with output to the log; complain on failure.
_fx_run() {
	printf '+ %s\n' "$(printf '%q ' "$@")" >>"$_FX_LOG"
	"$@" >>"$_FX_LOG" 2>&1 && return 0
	_fx_err "command failed (status $?): $(printf '%q ' "$@")"
}

_fx_abs() {	# _fx_abs PATH: print PATH made absolute (PATH's dir must exist)
	local d b
	d=$(dirname -- "$1") b=$(basename -- "$1")
	d=$(cd -- "$d" && pwd) || return 1
	printf '%s/%s\n' "${d%/}" "$b"
}

# _fx_begin DIR: create DIR, DIR/.fx (log, keys) and a fresh work directory.
_fx_begin() {
	mkdir -p -- "$1/.fx" || { echo "fixtures: cannot create $1/.fx" >&2; return 1; }
	_FX_LOG=$(_fx_abs "$1/.fx/fixtures.log") || return 1
	_FX_WORK=$(_fx_abs "$1/.fx/work") || return 1
	rm -rf --one-file-system -- "$_FX_WORK"
	mkdir -p -- "$_FX_WORK" || return 1
}

_fx_end() {
	[ -n "$_FX_WORK" ] && rm -rf --one-file-system -- "$_FX_WORK"
	_FX_WORK=
}

# fx_eicar FILE: write the exact 68-byte EICAR test file.
fx_eicar() {
	local s=$_FX_EICAR_REV out='' i
	for ((i = ${#s} - 1; i >= 0; i--)); do
		out+=${s:i:1}
	done
	printf '%s' "$out" >"$1" || return 1
}

# _fx_file PATH CONTENT: create PATH (and its parents) holding CONTENT and a newline.
_fx_file() {
	mkdir -p -- "$(dirname -- "$1")" && printf '%s\n' "$2" >"$1"
}

# _fx_copy SRC DEST: copy SRC to DEST, creating DEST's parents.
_fx_copy() {
	mkdir -p -- "$(dirname -- "$2")" && cp -- "$1" "$2"
}

_fx_put_eicar() {
	mkdir -p -- "$(dirname -- "$1")" && fx_eicar "$1"
}

# fx_sigdb DIR: custom ClamAV signatures (see the header).
fx_sigdb() {
	local dir=$1 tmp f name sum size hex
	mkdir -p -- "$dir" || return 1
	tmp=$(mktemp -- "$dir/.eicar.XXXXXX") || return 1
	fx_eicar "$tmp" || { rm -f -- "$tmp"; return 1; }
	sum=$(md5sum <"$tmp") sum=${sum%% *}
	if [ "$sum" != "$FX_EICAR_MD5" ]; then
		rm -f -- "$tmp"
		echo "fixtures: EICAR string is corrupt (md5 $sum)" >&2
		return 1
	fi
	# Hex of the 34-byte body "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" at offset 28.
	hex=$(dd if="$tmp" bs=1 skip=28 count=34 status=none | od -An -v -tx1 | tr -d ' \n')
	rm -f -- "$tmp"
	printf 'Test.EICAR.NDB:0:*:%s\n' "$hex" >"$dir/test.ndb" || return 1
	: >"$dir/test.hdb" || return 1
	for f in clam.exe:Test.ClamExe.HDB clam.pdf:Test.ClamPdf.HDB clam.zip:Test.ClamZip.HDB; do
		name=${f#*:} f=$FX_TESTFILES/${f%%:*}
		[ -r "$f" ] || { echo "fixtures: $f missing (install clamav-testfiles)" >&2; return 1; }
		sum=$(md5sum <"$f") sum=${sum%% *}
		size=$(stat -c %s -- "$f") || return 1
		printf '%s:%s:%s\n' "$sum" "$size" "$name" >>"$dir/test.hdb" || return 1
	done
}

# ---------------------------------------------------------------- disks

# _fx_newdisk FILE SIZE_MIB SFDISK_SCRIPT: sparse FILE with a partition table.
_fx_newdisk() {
	rm -f -- "$1" && truncate -s "$2M" -- "$1" || return 1
	[ -n "$3" ] || return 0
	printf '%s\n' "$3" >"$_FX_WORK/sfdisk.script" || return 1
	_fx_run sfdisk --no-reread --no-tell-kernel "$1" <"$_FX_WORK/sfdisk.script"
}

# _fx_partinfo DISK N: set _FX_POFF (bytes), _FX_PSIZE (bytes), _FX_PSTART (sectors).
_fx_partinfo() {
	local line s z ss
	line=$(sfdisk -J -- "$1" 2>>"$_FX_LOG" | jq -r --arg node "$1$2" '
		.partitiontable as $t | ($t.sectorsize // 512) as $ss
		| $t.partitions[] | select(.node == $node)
		| "\(.start) \(.size) \($ss)"') || line=
	read -r s z ss <<<"$line"
	if [ -z "${ss:-}" ]; then
		_fx_err "no partition $2 in $1"
		return 1
	fi
	_FX_PSTART=$s
	_FX_POFF=$((s * ss))
	_FX_PSIZE=$((z * ss))
}

# _fx_populate KIND IMG SRCDIR: copy SRCDIR's tree into the file system in IMG
# through a mount in a private mount namespace.  KIND: ntfs (ntfs-3g FUSE
# mount of the file), ntfs-streams (the same, where a name "file:stream"
# writes the named stream of an existing file), xfs (read-write loop mount),
# btrfs-layout (subvolumes and a snapshot, through a loop mount) or exfat
# (exfat-fuse on a loop device).
_FX_POPULATE='
set -u
kind=$1 img=$2 src=$3 mnt=$4 pid=
cleanup() {
	if mountpoint -q "$mnt"; then umount "$mnt" || umount -l "$mnt"; fi
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid"; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP
case $kind in
ntfs | ntfs-streams)
	# ntfs-streams: "file:stream" names in the tree write named streams.
	opts=no_detach
	[ "$kind" = ntfs ] || opts=$opts,streams_interface=windows
	ntfs-3g -o "$opts" "$img" "$mnt" & pid=$!
	for i in $(seq 100); do
		mountpoint -q "$mnt" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	mountpoint -q "$mnt" || { echo "ntfs-3g did not mount $img"; exit 1; }
	if [ "$kind" = ntfs ]; then
		# A user.NAME attribute becomes the named stream NAME.
		cp -R --preserve=timestamps,xattr "$src/." "$mnt/" || exit 1
	else
		cp -R "$src/." "$mnt/" || exit 1	# a stream has no times
	fi
	;;
xfs)
	mount -t xfs -o loop "$img" "$mnt" || exit 1
	cp -a "$src/." "$mnt/" || exit 1
	;;
btrfs-layout)
	# $src/@NAME: the subvolume NAME; $src/.default: the default one;
	# $src/.snapshot: "SUBVOL SNAPSHOT" (read-only) taken after copying,
	# and then $src/.delete: a path in SUBVOL removed after it.
	mount -t btrfs -o loop "$img" "$mnt" || exit 1
	for d in "$src"/@*; do
		btrfs -q subvolume create "$mnt/${d##*/}" || exit 1
		cp -a "$d/." "$mnt/${d##*/}/" || exit 1
	done
	if [ -f "$src/.snapshot" ]; then
		read -r from to <"$src/.snapshot"
		mkdir -p "$mnt/$(dirname "$to")" || exit 1
		btrfs -q subvolume snapshot -r "$mnt/$from" "$mnt/$to" || exit 1
		read -r gone <"$src/.delete"
		rm -f "$mnt/$from/$gone" || exit 1
	fi
	read -r def <"$src/.default"
	id=$(btrfs inspect-internal rootid "$mnt/$def") || exit 1
	btrfs subvolume set-default "$id" "$mnt" || exit 1
	;;
exfat)
	# exfat-fuse mounts block devices only.
	dev=$(losetup -f --show "$img") || exit 1
	mount.exfat-fuse "$dev" "$mnt" || { losetup -d "$dev"; exit 1; }
	cp -R "$src/." "$mnt/" || { umount "$mnt"; losetup -d "$dev"; exit 1; }
	umount "$mnt" || exit 1
	losetup -d "$dev" || exit 1
	exit 0
	;;
*)	exit 2 ;;
esac
umount "$mnt" || exit 1
if [ -n "$pid" ]; then
	wait "$pid"; rc=$?; pid=
	[ "$rc" = 0 ] || { echo "ntfs-3g exited with $rc"; exit 1; }
fi
exit 0
'

_fx_populate() {
	local mnt=$_FX_WORK/mnt i
	mkdir -p -- "$mnt" || return 1
	printf '%s' "$_FX_POPULATE" >"$_FX_WORK/populate.sh" || return 1
	_fx_run unshare -m --propagation private -- bash "$_FX_WORK/populate.sh" "$1" "$2" "$3" "$mnt" || return 1
	# A loop device with autoclear goes away once its file system is gone;
	# wait for that so that no caller ever sees it.
	for ((i = 0; i < 100; i++)); do
		[ -z "$(losetup -j "$2" 2>/dev/null)" ] && return 0
		sleep 0.05
	done
	_fx_err "loop device for $2 still attached"
}

# _fx_mkfs KIND FILE SIZE_BYTES LABEL SRCDIR [START_SECTOR]
# KIND: ext2 ext4 vfat16 vfat32 exfat ntfs xfs btrfs swap luks.  SRCDIR may be empty.
_fx_mkfs() {
	local kind=$1 f=$2 size=$3 label=$4 src=$5 start=${6:-0} e
	rm -f -- "$f" && truncate -s "$size" -- "$f" || return 1
	case $kind in
	ext2 | ext4)
		_fx_run "mkfs.$kind" -q -F -L "$label" -E root_owner=0:0 ${src:+-d "$src"} "$f" ;;
	vfat16 | vfat32)
		_fx_run mkfs.vfat -F "${kind#vfat}" -n "$label" "$f" || return 1
		[ -n "$src" ] || return 0
		for e in "$src"/* "$src"/.[!.]*; do
			[ -e "$e" ] || [ -L "$e" ] || continue
			_fx_run env MTOOLS_SKIP_CHECK=1 mcopy -s -m -Q -i "$f" "$e" ::/ || return 1
		done
		;;
	exfat)
		_fx_run mkfs.exfat -L "$label" "$f" || return 1
		[ -z "$src" ] || _fx_populate exfat "$f" "$src"
		;;
	ntfs)
		_fx_run mkntfs -F -Q -q -L "$label" -s 512 -p "$start" -H 255 -S 63 "$f" || return 1
		[ -z "$src" ] || _fx_populate ntfs "$f" "$src"
		;;
	xfs)
		_fx_run mkfs.xfs -q -f -L "$label" "$f" || return 1
		[ -z "$src" ] || _fx_populate xfs "$f" "$src"
		;;
	btrfs)
		_fx_run mkfs.btrfs -q -f -L "$label" ${src:+--rootdir "$src"} "$f" ;;
	swap)
		_fx_run mkswap -L "$label" "$f" ;;
	luks)
		_fx_run cryptsetup luksFormat --batch-mode --type luks2 \
			--pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
			--luks2-metadata-size 16k --luks2-keyslots-size 1m \
			--label "$label" --key-file "$_FX_KEY" "$f" ;;
	*)
		_fx_err "unknown file system kind $kind" ;;
	esac
}

# _fx_part DISK N KIND LABEL SRCDIR: make the file system of partition N.
_fx_part() {
	local disk=$1 n=$2 fs
	_fx_partinfo "$disk" "$n" || return 1
	fs=$_FX_WORK/part.fs
	_fx_mkfs "$3" "$fs" "$_FX_PSIZE" "$4" "$5" "$_FX_PSTART" || return 1
	if [ "$(stat -c %s -- "$fs")" -gt "$_FX_PSIZE" ]; then
		_fx_err "$3 file system grew beyond partition $n of $disk"
		return 1
	fi
	_fx_run dd if="$fs" of="$disk" bs=64K conv=notrunc,sparse oflag=seek_bytes \
		seek="$_FX_POFF" status=none || return 1
	rm -f -- "$fs"
}

# _fx_convert RAW FORMAT OUT: qemu-img convert, then drop RAW.
_fx_convert() {
	rm -f -- "$3"
	_fx_run qemu-img convert -f raw -O "$2" "$1" "$3" || return 1
	rm -f -- "$1"
}

# _fx_tree NAME: print a fresh empty directory for a file system's tree.
_fx_tree() {
	local d=$_FX_WORK/tree-$1
	rm -rf -- "$d" && mkdir -p -- "$d" && printf '%s\n' "$d"
}

_fx_linux_clean() {	# _fx_linux_clean ROOT HOSTNAME: a few clean files
	_fx_file "$1/etc/hostname" "$2" &&
	_fx_file "$1/etc/fstab" "# <file system> <mount point> <type> <options> <dump> <pass>" &&
	_fx_file "$1/usr/share/doc/avbatch-fixture/README" "A clean file. Nothing to see here." &&
	_fx_file "$1/var/log/messages" "Nov 27 09:30:00 $2 kernel: booted"
}

# ---------------------------------------------------------------- batch

# fx_batch DIR: the acceptance batch (see the header).  DIR/expect.detections:
# "IMAGE<TAB>FSID<TAB>/guest/path" for every planted detectable file;
# DIR/expect.fs: "IMAGE<TAB>FSID<TAB>scanned|skipped|error<TAB>REASON-SUBSTRING"
# for every file system (trunc.qcow2: FSID "-", the target itself fails);
# both sorted with LC_ALL=C.  IMAGE is the image's file name (gpt.qcow2).
# The extended partition p2 of ext.vhdx is a container, not listed.
fx_batch() {
	local dir=$1 i
	_fx_begin "$dir" || return 1
	dir=$(cd -- "$dir" && pwd) || return 1
	_FX_KEY=$dir/.fx/luks.key
	printf 'avbatch-fixture-passphrase' >"$_FX_KEY" || return 1
	FX_IMAGES=()
	: >"$_FX_LOG"

	_fx_batch_gpt "$dir" &&
	_fx_batch_mbr "$dir" &&
	_fx_batch_ext "$dir" &&
	_fx_batch_bare "$dir" &&
	_fx_batch_gpt20 "$dir" &&
	_fx_batch_luks "$dir" &&
	_fx_batch_trunc "$dir" || { _fx_end; return 1; }

	{
		printf '%s\t%s\t%s\n' \
			gpt.qcow2 p1 '/EFI/test dir/clam.exe' \
			gpt.qcow2 p3 '/home/alice/Down loads/eicar.com' \
			mbr.vmdk p1 '/Users/Bob/My Documents/clam.pdf' \
			mbr.vmdk p2 '/data/eicar copy.com' \
			ext.vhdx p5 '/srv/a b/clam.zip' \
			ext.vhdx p6 '/root/x y/eicar.tar.gz' \
			bare.raw whole '/tmp/e i/eicar.com' \
			gpt20.raw p17 '/p17 dir/eicar.com'
	} | LC_ALL=C sort >"$dir/expect.detections" || return 1
	{
		printf '%s\t%s\t%s\t%s\n' \
			gpt.qcow2 p1 scanned '' \
			gpt.qcow2 p2 skipped swap \
			gpt.qcow2 p3 scanned '' \
			mbr.vmdk p1 scanned '' \
			mbr.vmdk p2 scanned '' \
			ext.vhdx p1 scanned '' \
			ext.vhdx p5 scanned '' \
			ext.vhdx p6 scanned '' \
			bare.raw whole scanned '' \
			luks.raw p1 skipped encrypted \
			luks.raw p2 scanned '' \
			trunc.qcow2 - error ''
		for ((i = 1; i <= 20; i++)); do
			printf '%s\t%s\t%s\t%s\n' gpt20.raw "p$i" scanned ''
		done
	} | LC_ALL=C sort >"$dir/expect.fs" || return 1
	_fx_end
	for i in gpt.qcow2 mbr.vmdk ext.vhdx bare.raw gpt20.raw luks.raw trunc.qcow2; do
		FX_IMAGES+=("$dir/$i")
	done
}

# 1. gpt.qcow2: GPT, p1 ESP (FAT32) /EFI/test dir/clam.exe, p2 swap,
#    p3 ext4 "root" /home/alice/Down loads/eicar.com + clean files.
_fx_batch_gpt() {
	local raw=$_FX_WORK/gpt.raw r
	_fx_newdisk "$raw" 64 "label: gpt
size=40MiB, type=$_FX_GPT_ESP, name=\"EFI System Partition\"
size=4MiB, type=$_FX_GPT_SWAP, name=swap
size=16MiB, type=$_FX_GPT_ROOT, name=root" || return 1

	r=$(_fx_tree esp) || return 1
	_fx_copy "$FX_TESTFILES/clam.exe" "$r/EFI/test dir/clam.exe" &&
	_fx_file "$r/EFI/debian/grub.cfg" "search.fs_uuid 0000 root" &&
	_fx_file "$r/EFI/BOOT/readme.txt" "clean" &&
	_fx_part "$raw" 1 vfat32 ESP "$r" || return 1

	_fx_part "$raw" 2 swap swap "" || return 1

	r=$(_fx_tree root) || return 1
	_fx_linux_clean "$r" deb-01 &&
	_fx_put_eicar "$r/home/alice/Down loads/eicar.com" &&
	_fx_file "$r/home/alice/notes.txt" "buy milk" &&
	_fx_file "$r/home/alice/\$(touch pwned); 'x' \`id\` & | > <.txt" "shell characters in a clean file name" &&
	ln -s "$FX_TESTFILES/clam.exe" "$r/home/alice/host-link.exe" &&
	ln -s "Down loads/eicar.com" "$r/home/alice/eicar-link" &&
	_fx_part "$raw" 3 ext4 root "$r" || return 1

	_fx_convert "$raw" qcow2 "$1/gpt.qcow2"
}

# 2. mbr.vmdk: MBR, p1 NTFS /Users/Bob/My Documents/clam.pdf, p2 NTFS /data/eicar copy.com.
_fx_batch_mbr() {
	local raw=$_FX_WORK/mbr.raw r
	_fx_newdisk "$raw" 20 "label: dos
size=8MiB, type=7, bootable
size=8MiB, type=7" || return 1

	r=$(_fx_tree ntfs1) || return 1
	_fx_copy "$FX_TESTFILES/clam.pdf" "$r/Users/Bob/My Documents/clam.pdf" &&
	_fx_file "$r/Users/Bob/desktop.ini" "[.ShellClassInfo]" &&
	_fx_file "$r/Windows/win.ini" "; for 16-bit app support" &&
	_fx_part "$raw" 1 ntfs Windows "$r" || return 1

	r=$(_fx_tree ntfs2) || return 1
	_fx_put_eicar "$r/data/eicar copy.com" &&
	_fx_file "$r/data/report.txt" "quarterly report" &&
	_fx_part "$raw" 2 ntfs Data "$r" || return 1

	_fx_convert "$raw" vmdk "$1/mbr.vmdk"
}

# 3. ext.vhdx: MBR, p1 ext2 (clean), p2 extended: p5 xfs /srv/a b/clam.zip,
#    p6 btrfs /root/x y/eicar.tar.gz.
_fx_batch_ext() {
	local raw=$_FX_WORK/ext.raw r t
	_fx_newdisk "$raw" 448 "label: dos
size=8MiB, type=83
type=5
size=300MiB, type=83
size=128MiB, type=83" || return 1

	r=$(_fx_tree ext2) || return 1
	_fx_file "$r/boot/grub/grub.cfg" "set timeout=5" &&
	_fx_file "$r/boot/config-6.1.0" "CONFIG_EXT4_FS=y" &&
	_fx_part "$raw" 1 ext2 boot "$r" || return 1

	r=$(_fx_tree xfs) || return 1
	_fx_copy "$FX_TESTFILES/clam.zip" "$r/srv/a b/clam.zip" &&
	_fx_file "$r/srv/readme.txt" "static files" &&
	_fx_part "$raw" 5 xfs srv "$r" || return 1

	r=$(_fx_tree btrfs) || return 1
	t=$(_fx_tree tar) || return 1
	fx_eicar "$t/eicar.com" &&
	mkdir -p -- "$r/root/x y" &&
	_fx_run tar -C "$t" -czf "$r/root/x y/eicar.tar.gz" eicar.com &&
	_fx_file "$r/root/.bashrc" "alias ll='ls -l'" &&
	_fx_part "$raw" 6 btrfs home "$r" || return 1

	_fx_convert "$raw" vhdx "$1/ext.vhdx"
}

# 4. bare.raw: whole-disk ext4 with /tmp/e i/eicar.com.
_fx_batch_bare() {
	local r
	r=$(_fx_tree bare) || return 1
	_fx_linux_clean "$r" bare &&
	_fx_put_eicar "$r/tmp/e i/eicar.com" &&
	_fx_mkfs ext4 "$1/bare.raw" 16M bare "$r"
}

# 5. gpt20.raw: GPT with 20 ext4 partitions; only p17 holds /p17 dir/eicar.com.
_fx_batch_gpt20() {
	local raw=$1/gpt20.raw r i script="label: gpt"
	for ((i = 1; i <= 20; i++)); do
		script+=$'\n'"size=4MiB, type=$_FX_GPT_LINUX, name=part$i"
	done
	_fx_newdisk "$raw" 84 "$script" || return 1
	for ((i = 1; i <= 20; i++)); do
		r=$(_fx_tree "p$i") || return 1
		_fx_file "$r/hello-$i.txt" "partition $i is clean" || return 1
		if [ "$i" = 17 ]; then
			_fx_put_eicar "$r/p17 dir/eicar.com" || return 1
		fi
		_fx_part "$raw" "$i" ext4 "part$i" "$r" || return 1
	done
}

# 6. luks.raw: GPT, p1 LUKS2 (key in DIR/.fx/luks.key), p2 ext4 clean.
_fx_batch_luks() {
	local raw=$1/luks.raw r
	_fx_newdisk "$raw" 32 "label: gpt
size=20MiB, type=$_FX_GPT_LUKS, name=crypt
size=8MiB, type=$_FX_GPT_LINUX, name=data" || return 1
	_fx_part "$raw" 1 luks crypt "" || return 1
	r=$(_fx_tree luksdata) || return 1
	_fx_file "$r/clean.txt" "nothing here" &&
	_fx_part "$raw" 2 ext4 data "$r"
}

# 7. trunc.qcow2: qcow2 of a small ext4 disk, truncated inside its header.
# Cutting it anywhere after the 104-byte v3 header (say at 100 KiB) is NOT
# enough: qemu 7.2 opens it and reads zeros where the file ends (qemu-img info
# and convert succeed, only qemu-img check complains), so the disk would look
# blank instead of broken.  At 64 bytes every open fails with
# "qcow2 header too short".
_fx_batch_trunc() {
	local raw=$_FX_WORK/trunc.raw r
	_fx_newdisk "$raw" 16 "label: dos
size=12MiB, type=83" || return 1
	r=$(_fx_tree trunc) || return 1
	_fx_linux_clean "$r" trunc &&
	_fx_part "$raw" 1 ext4 trunc "$r" &&
	_fx_convert "$raw" qcow2 "$1/trunc.qcow2" &&
	truncate -s "$FX_TRUNC_SIZE" -- "$1/trunc.qcow2"
}

# ---------------------------------------------------------------- demo

# fx_demo DIR: DIR/demo-gpt.qcow2 (GPT: p1 ext4 /home/bob/My Files/eicar.com,
# p2 FAT16 /Program Files/Demo App/clam.exe), DIR/demo-mbr.raw (MBR: p1 ext4
# /var/www/up loads/eicar.com, p2 NTFS /Users/Carol/Desk top/clam.pdf), DIR/sigs.
fx_demo() {
	local dir=$1 raw r
	_fx_begin "$dir" || return 1
	dir=$(cd -- "$dir" && pwd) || return 1
	: >"$_FX_LOG"
	FX_IMAGES=()
	fx_sigdb "$dir/sigs" || { _fx_end; return 1; }

	raw=$_FX_WORK/demo-gpt.raw
	_fx_newdisk "$raw" 40 "label: gpt
size=16MiB, type=$_FX_GPT_LINUX, name=home
size=16MiB, type=$_FX_GPT_MSDATA, name=shared" || { _fx_end; return 1; }
	r=$(_fx_tree demo1) &&
	_fx_linux_clean "$r" demo-gpt &&
	_fx_put_eicar "$r/home/bob/My Files/eicar.com" &&
	_fx_file "$r/home/bob/todo.txt" "nothing" &&
	_fx_part "$raw" 1 ext4 home "$r" &&
	r=$(_fx_tree demo2) &&
	_fx_copy "$FX_TESTFILES/clam.exe" "$r/Program Files/Demo App/clam.exe" &&
	_fx_file "$r/Program Files/Demo App/readme.txt" "clean" &&
	_fx_part "$raw" 2 vfat16 SHARED "$r" &&
	_fx_convert "$raw" qcow2 "$dir/demo-gpt.qcow2" || { _fx_end; return 1; }

	raw=$dir/demo-mbr.raw
	_fx_newdisk "$raw" 40 "label: dos
size=16MiB, type=83
size=16MiB, type=7" || { _fx_end; return 1; }
	r=$(_fx_tree demo3) &&
	_fx_linux_clean "$r" demo-mbr &&
	_fx_put_eicar "$r/var/www/up loads/eicar.com" &&
	_fx_part "$raw" 1 ext4 www "$r" &&
	r=$(_fx_tree demo4) &&
	_fx_copy "$FX_TESTFILES/clam.pdf" "$r/Users/Carol/Desk top/clam.pdf" &&
	_fx_file "$r/Users/Carol/Desk top/letter.txt" "Dear Sir" &&
	_fx_part "$raw" 2 ntfs Windows "$r" || { _fx_end; return 1; }

	_fx_end
	FX_IMAGES=("$dir/demo-gpt.qcow2" "$dir/demo-mbr.raw")
}

# ---------------------------------------------------------------- hostile

# fx_hostile DIR: DIR/hostile.raw, a 16 MiB raw disk with a GPT and one ext4
# partition (p1, label "hostile"), built with mkfs.ext4 -d (no mount) from a
# tree under DIR/.fx/work, and DIR/host/eicar.com, a HOST file holding EICAR
# that the guest links to and that must never be scanned or reported.
# Guest content (every infected file holds the 68-byte EICAR string):
#   /$(touch /tmp/pwned);x        infected; '/' cannot be part of a file
#   /a;touch /tmp/pwned2;.com     name, so these are the files "pwned);x" and
#                                 "pwned2;.com" in the directories "$(touch "
#                                 / "tmp" and "a;touch " / "tmp": the guest
#                                 path is exactly the shell payload
#   /home/user/evil<LF>line2: Fake.Sig FOUND   infected (one name, with LF)
#   /-rf                          infected
#   /srv/caf<E9> <FF>.com         infected (not UTF-8)
#   /d01/d02/.../d60/deep.com     infected, 60 directories deep
#   /etc/hostname                 clean
#   /host-eicar -> DIR/host/eicar.com (absolute, into the host)
#   /root -> /
#   /relative.com -> -rf          (guest-relative link to an infected file)
#   /fifo                         FIFO
#   /dev/null                     character device 1:3
#   /dev/blk                      block device 7:0
# DIR/expect.detections: one line per infected file, the base64 (base64 -w0)
# of its exact guest path bytes, sorted with LC_ALL=C.
# DIR/expect.counts: "regular 7", "symlink 3", "special 3" (FIFO + devices).
# debugfs checks (no mount) that every name, type, size, device number and
# link target above really is in the file system.  Sets FX_IMAGES.
fx_hostile() {
	local dir=$1 raw r p i deep=
	_fx_begin "$dir" || return 1
	dir=$(cd -- "$dir" && pwd) || return 1
	: >"$_FX_LOG"
	FX_IMAGES=()
	rm -rf --one-file-system -- "$dir/host" && mkdir -p -- "$dir/host" &&
	fx_eicar "$dir/host/eicar.com" || { _fx_end; return 1; }

	local -a infected=(
		'/$(touch /tmp/pwned);x'
		'/a;touch /tmp/pwned2;.com'
		$'/home/user/evil\nline2: Fake.Sig FOUND'
		'/-rf'
		$'/srv/caf\xe9 \xff.com'
	)
	for ((i = 1; i <= 60; i++)); do
		deep+=$(printf '/d%02d' "$i")
	done
	infected+=("$deep/deep.com")

	r=$(_fx_tree hostile) || { _fx_end; return 1; }
	for p in "${infected[@]}"; do
		_fx_put_eicar "$r$p" || { _fx_end; return 1; }
	done
	_fx_file "$r/etc/hostname" "hostile" &&
	ln -s -- "$dir/host/eicar.com" "$r/host-eicar" &&
	ln -s -- / "$r/root" &&
	ln -s -- -rf "$r/relative.com" &&
	mkfifo -- "$r/fifo" &&
	mkdir -p -- "$r/dev" &&
	mknod -- "$r/dev/null" c 1 3 &&
	mknod -- "$r/dev/blk" b 7 0 || { _fx_err "cannot build the hostile tree"; _fx_end; return 1; }

	raw=$dir/hostile.raw
	_fx_newdisk "$raw" 16 "label: gpt
size=12MiB, type=$_FX_GPT_LINUX, name=hostile" &&
	_fx_part "$raw" 1 ext4 hostile "$r" || { _fx_end; return 1; }

	# _fx_part left p1's offset in _FX_POFF: debugfs reads the file system
	# in place through unix_io's "?offset=" option.
	local spec="$raw?offset=$_FX_POFF"
	for p in "${infected[@]}"; do
		_fx_hostile_has "$spec" "$p" 100644 68 || { _fx_end; return 1; }
	done
	_fx_hostile_has "$spec" /etc/hostname 100644 8 &&
	p=$dir/host/eicar.com
	_fx_hostile_has "$spec" /host-eicar 120777 "$(printf '%s' "$p" | wc -c)" "$p" &&
	_fx_hostile_has "$spec" /root 120777 1 / &&
	_fx_hostile_has "$spec" /relative.com 120777 3 -rf &&
	_fx_hostile_has "$spec" /fifo 010644 0 &&
	_fx_hostile_has "$spec" /dev/null 020644 0 01:03 &&
	_fx_hostile_has "$spec" /dev/blk 060644 0 07:00 || { _fx_end; return 1; }

	for p in "${infected[@]}"; do
		printf '%s' "$p" | base64 -w0 && echo
	done | LC_ALL=C sort >"$dir/expect.detections" || { _fx_end; return 1; }
	printf 'regular 7\nsymlink 3\nspecial 3\n' >"$dir/expect.counts" || { _fx_end; return 1; }
	_fx_end
	FX_IMAGES=("$raw")
}

# _fx_hostile_has FS PATH MODE SIZE [EXTRA]: debugfs shows PATH in FS (a
# debugfs device spec) with octal MODE, owner 0:0 and SIZE bytes (for a
# symlink EXTRA is the link target; for a device node EXTRA is "MM:mm", its
# hex major:minor).  PATH's directory must not contain
# a double quote; its last component may hold any byte but '/'.
_fx_hostile_has() {
	local fs=$1 path=$2 mode=$3 size=$4 extra=${5-} d name out
	d=${path%/*} name=${path##*/}
	[ -n "$d" ] || d=/
	local LC_ALL=C
	# "ls -p -r": one "/ino/mode/uid/gid/name/size/" line per entry, raw name.
	out=$(debugfs -R "ls -p -r \"$d\"" "$fs" 2>>"$_FX_LOG")
	if ! [[ $out == *$'\n'/+([0-9])/"$mode"/0/0/"$name"/"$size"/* ||
		$out == /+([0-9])/"$mode"/0/0/"$name"/"$size"/* ]]; then
		printf '%s\n' "debugfs ls -p -r \"$d\":" "$out" >>"$_FX_LOG"
		_fx_err "mkfs.ext4 -d did not copy $(printf '%q' "$path") (mode $mode)"
		return 1
	fi
	[ -n "$extra" ] || return 0
	case $mode in
	120*)
		out=$(debugfs -R "stat \"$path\"" "$fs" 2>>"$_FX_LOG")
		if [[ $out == *'Fast link dest: "'* ]]; then
			out=${out#*Fast link dest: \"} out=${out%%\"*}
		else
			out=$(debugfs -R "cat \"$path\"" "$fs" 2>>"$_FX_LOG")
		fi
		[ "$out" = "$extra" ] && return 0
		_fx_err "symlink $path points to '$out', not '$extra'"
		;;
	*)
		out=$(debugfs -R "stat \"$path\"" "$fs" 2>>"$_FX_LOG")
		[[ $out == *"Device major/minor number: $extra "* ]] && return 0
		_fx_err "device node $path is not $extra"
		;;
	esac
}

# fx_hold IMAGE FORMAT EXPORT: open IMAGE for writing the way a running VM
# does (a qemu-storage-daemon with a writable FUSE export at the file EXPORT,
# which also lets a test write into the image); its pid in FX_HOLD_PID, and
# it is killed when the test exits.  Fails if the export does not appear.
fx_hold() {
	local img=$1 fmt=$2 exp=$3
	: >"$exp" || return 1
	qemu-storage-daemon \
		--blockdev "{\"driver\":\"file\",\"node-name\":\"f\",\"filename\":\"$img\"}" \
		--blockdev "{\"driver\":\"$fmt\",\"node-name\":\"d\",\"file\":\"f\"}" \
		--export "{\"type\":\"fuse\",\"id\":\"e\",\"node-name\":\"d\",\"mountpoint\":\"$exp\",\"writable\":true}" \
		>>"$_FX_LOG" 2>&1 &
	FX_HOLD_PID=$!
	at_exit kill "$FX_HOLD_PID"
	for _ in $(seq 100); do
		grep -q " $exp " /proc/self/mountinfo && return 0
		sleep 0.1
	done
	_fx_err "qemu-storage-daemon did not export $img"
}

# fx_engine DIR NAME PROGRAM [FLAGS]: a minimal descriptor DIR/NAME.ini for a
# test engine that takes a file list and prints "<path>: <threat> FOUND",
# with signal pause/resume/stop.  (0644, as root requires.)
fx_engine() {
	local dir=$1 name=$2 prog=$3 flags=${4:-}
	mkdir -p "$dir" || return 1
	{
		printf '[engine]\nname = %s\nbinary = %s\n' "$name" "$prog"
		[ -n "$flags" ] && printf 'flags = %s\n' "$flags"
		printf '[actions]\nscan_list = {binary} {list}\nscan = {binary} {target}\n'
		printf 'pause = signal:STOP\nresume = signal:CONT\nstop = signal:TERM\n'
		printf '[result]\nclean = 0\ndetection = ^(.*): ([^ ]+) FOUND$\n'
		printf 'detection_path = 1\ndetection_threat = 2\n'
	} >"$dir/$name.ini" && chmod 0644 "$dir/$name.ini"
}

# ---------------------------------------------------------------- lvm

# LVM's tools, kept off the host's LVM: only the named device, no
# activation (no device-mapper), no hints, backups or archives.
_FX_LVM_CONFIG='global { activation = 0 } backup { backup = 0 archive = 0 } devices { hints = "none" use_devicesfile = 0 obtain_device_list_from_udev = 0 }'

# _fx_lvm DEV CMD [ARG...]: run an LVM command restricted to DEV.
_fx_lvm() {
	local dev=$1 cmd=$2
	shift 2
	LVM_SUPPRESS_FD_WARNINGS=1 _fx_run "$cmd" --devices "$dev" \
		--config "$_FX_LVM_CONFIG" "$@"
}

# fx_lvm DIR: DIR/lvm.raw, a 96 MiB raw disk with an MBR: p1 ext2 "boot"
# (/boot/grub/grub.cfg), p2 (type 8e) an LVM2 PV holding VG vg0 with the
# LVs root (32 MiB ext4, /home/alice/eicar.com planted), data (8 MiB in
# two non-adjacent extents, left empty) and swap (8 MiB).  Built on a loop
# device over p2 with the LVs never activated; each file system is made in
# a file and copied to the LV's extents.  Sets FX_IMAGES.
fx_lvm() {
	local dir=$1 raw r loop= rc=1 off size pe ext seg
	_fx_begin "$dir" || return 1
	dir=$(cd -- "$dir" && pwd) || return 1
	: >"$_FX_LOG"
	FX_IMAGES=()
	raw=$dir/lvm.raw
	_fx_newdisk "$raw" 96 "label: dos
size=8MiB, type=83
type=8e" || { _fx_end; return 1; }
	r=$(_fx_tree boot) &&
	_fx_file "$r/boot/grub/grub.cfg" "set root=(lvm/vg0-root)" &&
	_fx_part "$raw" 1 ext2 boot "$r" &&
	_fx_partinfo "$raw" 2 || { _fx_end; return 1; }
	off=$_FX_POFF size=$_FX_PSIZE
	loop=$(losetup -f --show -o "$off" --sizelimit "$size" -- "$raw" 2>>"$_FX_LOG") ||
		{ _fx_err "losetup failed"; _fx_end; return 1; }
	{
		_fx_lvm "$loop" pvcreate -y "$loop" &&
		_fx_lvm "$loop" vgcreate vg0 "$loop" &&
		_fx_lvm "$loop" lvcreate -an -Zn -Wn -y -n root -L 32M vg0 &&
		_fx_lvm "$loop" lvcreate -an -Zn -Wn -y -n data -L 4M vg0 &&
		_fx_lvm "$loop" lvcreate -an -Zn -Wn -y -n swap -L 8M vg0 &&
		_fx_lvm "$loop" lvextend -y -L 8M vg0/data &&
		pe=$(LVM_SUPPRESS_FD_WARNINGS=1 pvs --devices "$loop" --config "$_FX_LVM_CONFIG" \
			--readonly --noheadings --units b --nosuffix -o pe_start "$loop" 2>>"$_FX_LOG") &&
		ext=$(LVM_SUPPRESS_FD_WARNINGS=1 vgs --devices "$loop" --config "$_FX_LVM_CONFIG" \
			--readonly --noheadings --units b --nosuffix -o vg_extent_size vg0 2>>"$_FX_LOG") &&
		seg=$(LVM_SUPPRESS_FD_WARNINGS=1 lvs --devices "$loop" --config "$_FX_LVM_CONFIG" \
			--readonly --noheadings --segments -o lv_name,seg_start_pe,devices vg0 2>>"$_FX_LOG")
	} && rc=0
	losetup -d "$loop" 2>>"$_FX_LOG"
	[ "$rc" = 0 ] || { _fx_err "cannot build the volume group"; _fx_end; return 1; }
	printf '%s\n' "$seg" >>"$_FX_LOG"
	pe=${pe//[[:space:]]/} ext=${ext//[[:space:]]/}
	# root: extents 0-7 of the PV; data: extents 8 and 11; swap: 9-10.
	r=$(_fx_tree lvroot) &&
	_fx_linux_clean "$r" lvm-01 &&
	_fx_put_eicar "$r/home/alice/eicar.com" &&
	_fx_mkfs ext4 "$_FX_WORK/lv.fs" 32M root "$r" &&
	_fx_run dd if="$_FX_WORK/lv.fs" of="$raw" bs=64K conv=notrunc,sparse \
		oflag=seek_bytes seek=$((off + pe)) status=none &&
	_fx_mkfs swap "$_FX_WORK/lv.fs" 8M swap "" &&
	_fx_run dd if="$_FX_WORK/lv.fs" of="$raw" bs=64K conv=notrunc,sparse \
		oflag=seek_bytes seek=$((off + pe + 9 * ext)) status=none &&
	rm -f -- "$_FX_WORK/lv.fs" || { _fx_end; return 1; }
	_fx_end
	FX_IMAGES=("$raw")
}

# ---------------------------------------------------------------- journal

_FX_UNCLEAN='
set -u
type=$1 img=$2 copy=$3 mnt=$4 eicar=$5
cleanup() { if mountpoint -q "$mnt"; then umount "$mnt" || umount -l "$mnt"; fi; }
trap cleanup EXIT
trap "exit 1" INT TERM HUP
opts=loop
[ "$type" = ext4 ] && opts=loop,commit=600
mount -t "$type" -o "$opts" "$img" "$mnt" || exit 1
mkdir -p "$mnt/home/alice/new" || exit 1
cp "$eicar" "$mnt/home/alice/new/eicar.com" || exit 1
sync "$mnt/home/alice/new/eicar.com" "$mnt/home/alice/new" "$mnt/home/alice" || exit 1
cp --sparse=always "$img" "$copy" || exit 1
umount "$mnt" || exit 1
'

# fx_unclean DIR: DIR/unclean.raw, a 32 MiB whole-disk ext4 left as by a
# crash: /home/alice/new/eicar.com was written and fsync'ed (with its
# directories) and the image copied while still mounted, so the file lives
# only in the journal.  Checks that dumpe2fs shows needs_recovery and that
# debugfs (which ignores the journal) does not list it.  DIR/unclean-xfs.raw:
# the same on a 300 MiB xfs (its log dirty).  Sets FX_IMAGES.
fx_unclean() {
	local dir=$1 r mnt i
	_fx_begin "$dir" || return 1
	dir=$(cd -- "$dir" && pwd) || return 1
	: >"$_FX_LOG"
	FX_IMAGES=()
	r=$(_fx_tree unclean) &&
	_fx_linux_clean "$r" unclean-01 &&
	_fx_file "$r/home/alice/notes.txt" "clean" &&
	_fx_mkfs ext4 "$_FX_WORK/clean.fs" 32M root "$r" &&
	fx_eicar "$_FX_WORK/eicar.com" || { _fx_end; return 1; }
	mnt=$_FX_WORK/mnt
	mkdir -p -- "$mnt" &&
	printf '%s' "$_FX_UNCLEAN" >"$_FX_WORK/unclean.sh" &&
	_fx_run unshare -m --propagation private -- bash "$_FX_WORK/unclean.sh" \
		ext4 "$_FX_WORK/clean.fs" "$dir/unclean.raw" "$mnt" "$_FX_WORK/eicar.com" &&
	_fx_mkfs xfs "$_FX_WORK/clean-xfs.fs" 300M srv "$r" &&
	_fx_run unshare -m --propagation private -- bash "$_FX_WORK/unclean.sh" \
		xfs "$_FX_WORK/clean-xfs.fs" "$dir/unclean-xfs.raw" "$mnt" "$_FX_WORK/eicar.com" ||
		{ _fx_end; return 1; }
	for ((i = 0; i < 100; i++)); do
		[ -z "$(losetup -j "$_FX_WORK/clean.fs" 2>/dev/null)$(losetup -j "$_FX_WORK/clean-xfs.fs" 2>/dev/null)" ] && break
		sleep 0.05
	done
	if ! dumpe2fs -h "$dir/unclean.raw" 2>>"$_FX_LOG" | grep -q '^Filesystem features:.*needs_recovery'; then
		_fx_err "unclean.raw does not need recovery"; _fx_end; return 1
	fi
	if debugfs -R 'ls -l /home/alice' "$dir/unclean.raw" 2>>"$_FX_LOG" | grep -q ' new *$'; then
		_fx_err "unclean.raw lists the new directory without its journal"; _fx_end; return 1
	fi
	_fx_end
	FX_IMAGES=("$dir/unclean.raw" "$dir/unclean-xfs.raw")
}

# ---------------------------------------------------------------- special

# fx_special DIR: DIR/hiber.raw, a 24 MiB raw disk with an MBR: p1 NTFS
# "Windows" as Windows leaves it when it hibernates or shuts down with Fast
# Startup (/hiberfil.sys starting with "HIBR"), holding
# /Users/Eve/eicar.com; p2 (type 0x42) a Windows dynamic disk (LDM)
# partition; p3 (type 0xfd) an MD RAID member: an md 0.90 superblock
# header (magic, version 0.90) where md puts it, 64 KiB before the
# partition's last 64 KiB boundary, which is all libblkid reads (no mdadm
# array can be made without the kernel's md).  Sets FX_IMAGES.
fx_special() {
	local dir=$1 raw r sb
	_fx_begin "$dir" || return 1
	dir=$(cd -- "$dir" && pwd) || return 1
	: >"$_FX_LOG"
	FX_IMAGES=()
	raw=$dir/hiber.raw
	_fx_newdisk "$raw" 24 "label: dos
size=12MiB, type=7
size=4MiB, type=42
size=4MiB, type=fd" || { _fx_end; return 1; }
	r=$(_fx_tree hiber) &&
	_fx_put_eicar "$r/Users/Eve/eicar.com" &&
	_fx_file "$r/Windows/win.ini" "; for 16-bit app support" &&
	{ printf 'HIBR'; head -c 8188 /dev/zero; } >"$r/hiberfil.sys" &&
	_fx_part "$raw" 1 ntfs Windows "$r" &&
	_fx_partinfo "$raw" 3 || { _fx_end; return 1; }
	sb=$((_FX_POFF + (_FX_PSIZE & ~65535) - 65536))
	printf '\xfc\x4e\x2b\xa9\x00\x00\x00\x00\x5a\x00\x00\x00' |
		dd of="$raw" bs=1 seek="$sb" conv=notrunc status=none ||
		{ _fx_err "cannot write the md superblock"; _fx_end; return 1; }
	_fx_end
	FX_IMAGES=("$raw")
}

# fx_layouts DIR: disks whose layout is easy to misread (see the header).
# exfat.raw: exFAT over the whole disk; its boot sector ends in 55 AA, so
# libfdisk takes it for an empty DOS table.  gpt4k.raw: a GPT written for
# 4096-byte logical sectors (a 4Kn disk; sfdisk 2.38 has no --sector-size,
# so fdisk -b 4096), p1 ext4 at sector 256 (1 MiB), 32 MiB.  Sets FX_IMAGES.
fx_layouts() {
	local dir=$1 r
	_fx_begin "$dir" || return 1
	dir=$(cd -- "$dir" && pwd) || return 1
	: >"$_FX_LOG"
	FX_IMAGES=()
	r=$(_fx_tree exfat) &&
	_fx_put_eicar "$r/docs/eicar.com" &&
	_fx_file "$r/docs/readme.txt" "A clean file on a stick." &&
	_fx_mkfs exfat "$dir/exfat.raw" $((48 << 20)) STICK "$r" ||
		{ _fx_end; return 1; }
	rm -f -- "$dir/gpt4k.raw" && truncate -s 64M -- "$dir/gpt4k.raw" &&
	printf 'g\nn\n1\n256\n+32M\nw\n' >"$_FX_WORK/fdisk.script" &&
	_fx_run fdisk -b 4096 "$dir/gpt4k.raw" <"$_FX_WORK/fdisk.script" &&
	r=$(_fx_tree gpt4k) &&
	_fx_put_eicar "$r/home/alice/eicar.com" &&
	_fx_linux_clean "$r" four-k &&
	_fx_mkfs ext4 "$_FX_WORK/part.fs" $((32 << 20)) root "$r" &&
	_fx_run dd if="$_FX_WORK/part.fs" of="$dir/gpt4k.raw" bs=64K \
		conv=notrunc,sparse oflag=seek_bytes seek=$((256 * 4096)) \
		status=none || { _fx_end; return 1; }
	_fx_end
	FX_IMAGES=("$dir/exfat.raw" "$dir/gpt4k.raw")
}

# fx_streams DIR: NTFS named data streams (see the header).  Sets FX_IMAGES.
fx_streams() {
	local dir=$1 r w fs
	_fx_begin "$dir" || return 1
	dir=$(cd -- "$dir" && pwd) || return 1
	: >"$_FX_LOG"
	FX_IMAGES=()
	fs=$_FX_WORK/part.fs
	_fx_newdisk "$dir/streams.raw" 24 "label: dos
size=20MiB, type=7" &&
	_fx_partinfo "$dir/streams.raw" 1 &&
	r=$(_fx_tree main) && w=$(_fx_tree streams) &&
	_fx_file "$r/Docs/readme.txt" "Read me: nothing here." &&
	_fx_file "$r/Windows/win.ini" "; for 16-bit app support" &&
	_fx_put_eicar "$r/odd:name" &&
	_fx_run setfattr -n user.s -v clean "$r/odd:name" &&
	_fx_put_eicar "$w/Docs/readme.txt:payload.exe" &&
	_fx_put_eicar "$w/Docs/readme.txt:a:b" &&
	_fx_mkfs ntfs "$fs" "$_FX_PSIZE" Data "$r" "$_FX_PSTART" &&
	_fx_populate ntfs-streams "$fs" "$w" &&
	_fx_run dd if="$fs" of="$dir/streams.raw" bs=64K \
		conv=notrunc,sparse oflag=seek_bytes seek="$_FX_POFF" \
		status=none || { _fx_end; return 1; }
	_fx_end
	FX_IMAGES=("$dir/streams.raw")
}

# fx_btrfs DIR: btrfs subvolumes and a snapshot (see the header).  Sets
# FX_IMAGES.
fx_btrfs() {
	local dir=$1 r uuid
	_fx_begin "$dir" || return 1
	dir=$(cd -- "$dir" && pwd) || return 1
	: >"$_FX_LOG"
	FX_IMAGES=()
	r=$(_fx_tree btrfs) &&
	_fx_mkfs btrfs "$dir/btrfs.raw" $((128 << 20)) rootfs "" &&
	uuid=$(blkid -p -s UUID -o value -- "$dir/btrfs.raw") &&
	_fx_linux_clean "$r/@" suse &&
	printf 'UUID=%s / btrfs subvol=@ 0 0\nUUID=%s /home btrfs subvol=/@home 0 0\nUUID=%s /var btrfs subvolid=999 0 0\n' \
		"$uuid" "$uuid" "$uuid" >"$r/@/etc/fstab" &&
	_fx_put_eicar "$r/@/root/eicar.com" &&
	_fx_put_eicar "$r/@/usr/bin/evil" &&
	_fx_put_eicar "$r/@home/alice/eicar.com" &&
	_fx_file "$r/@var/log/messages" "clean" &&
	echo @ >"$r/.default" &&
	echo "@ @snapshots/1" >"$r/.snapshot" &&
	echo usr/bin/evil >"$r/.delete" &&
	_fx_populate btrfs-layout "$dir/btrfs.raw" "$r" || { _fx_end; return 1; }
	_fx_end
	FX_IMAGES=("$dir/btrfs.raw")
}
