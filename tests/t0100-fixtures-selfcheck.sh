#!/bin/bash
# Check tests/fixtures.sh without avbatch: the images have the formats,
# partition tables and file systems the acceptance tests expect, and ClamAV
# with the custom signatures finds exactly the planted files when the file
# systems are extracted by hand.  Nothing may be left mounted or attached.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/fixtures.sh"

need_root
need_cmd qemu-img sfdisk blkid jq losetup mount umount mountpoint clamscan \
	mkfs.ext4 mkfs.ext2 mkfs.xfs mkfs.btrfs mkfs.vfat mkswap mcopy mdir \
	mkntfs ntfs-3g fusefat cryptsetup unshare md5sum

B=$T/batch
LOG=$T/selfcheck.log
: >"$LOG"

# ---------------------------------------------------------------- build

t0=$(date +%s.%N)
ok "fx_batch builds the acceptance batch" fx_batch "$B" || bail_out "fx_batch failed"
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
diag "fx_batch took ${secs}s"
ok "fx_batch takes less than 60 s (${secs}s)" awk -v s="$secs" 'BEGIN { exit !(s < 60) }'
ok "fx_sigdb writes the signatures" fx_sigdb "$T/sigs"
ok "test.ndb and test.hdb exist" test -s "$T/sigs/test.ndb" -a -s "$T/sigs/test.hdb"
is "$(wc -l <"$T/sigs/test.hdb")" 3 "test.hdb has 3 lines"

fx_eicar "$T/eicar.test"
is "$(stat -c %s "$T/eicar.test")" 68 "fx_eicar writes 68 bytes"
sum=$(md5sum <"$T/eicar.test")
is "${sum%% *}" "$FX_EICAR_MD5" "fx_eicar writes the EICAR string"

is "${#FX_IMAGES[@]}" 7 "FX_IMAGES lists 7 images"
is "$(wc -l <"$B/expect.detections")" 8 "expect.detections has 8 lines"
is "$(wc -l <"$B/expect.fs")" 32 "expect.fs has 32 lines"
is "$(LC_ALL=C sort "$B/expect.fs")" "$(cat "$B/expect.fs")" "expect.fs is sorted"
is "$(LC_ALL=C sort "$B/expect.detections")" "$(cat "$B/expect.detections")" "expect.detections is sorted"
is "$(awk -F'\t' 'NF != 4' "$B/expect.fs")" "" "expect.fs lines have 4 fields"
is "$(awk -F'\t' 'NF != 3' "$B/expect.detections")" "" "expect.detections lines have 3 fields"
is "$(grep -c 'encrypted' "$B/expect.fs")" 1 "one encrypted file system expected"
ok "no stray file in the batch directory" test -z "$(cd "$B" && ls -A | grep -vxE '\.fx|expect\.(fs|detections)|gpt\.qcow2|mbr\.vmdk|ext\.vhdx|bare\.raw|gpt20\.raw|luks\.raw|trunc\.qcow2')"
ok "no work directory left" test ! -e "$B/.fx/work"

# Checksums: nothing below may change an image.
(cd "$B" && md5sum -- *.qcow2 *.vmdk *.vhdx *.raw) >"$T/sums.before"

# ---------------------------------------------------------------- formats

fmt() { qemu-img info --output=json -- "$1" 2>>"$LOG" | jq -r .format; }
is "$(fmt "$B/gpt.qcow2")" qcow2 "gpt.qcow2 is qcow2"
is "$(fmt "$B/mbr.vmdk")" vmdk "mbr.vmdk is vmdk"
is "$(fmt "$B/ext.vhdx")" vhdx "ext.vhdx is vhdx"
is "$(fmt "$B/bare.raw")" raw "bare.raw is raw"
is "$(fmt "$B/gpt20.raw")" raw "gpt20.raw is raw"
is "$(fmt "$B/luks.raw")" raw "luks.raw is raw"
ok_not "qemu-img cannot open trunc.qcow2" qemu-img info -- "$B/trunc.qcow2"
ok_not "qemu-img cannot convert trunc.qcow2" qemu-img convert -O raw -- "$B/trunc.qcow2" "$T/trunc.raw"
like "$(head -c 4 "$B/trunc.qcow2" | od -An -tx1)" '51 46 49 fb' "trunc.qcow2 still has the qcow2 magic"

# Raw views of every disk, made by hand.
mkdir -p "$T/raw"
declare -A RAW
for img in gpt.qcow2 mbr.vmdk ext.vhdx; do
	RAW[$img]=$T/raw/$img.raw
	ok "qemu-img convert $img to raw" qemu-img convert -O raw -- "$B/$img" "${RAW[$img]}"
done
for img in bare.raw gpt20.raw luks.raw; do
	RAW[$img]=$B/$img
done

# ---------------------------------------------------------------- tables

# pinfo IMG N: print "START_BYTES SIZE_BYTES TYPE" of partition N.
pinfo() {
	sfdisk -J -- "${RAW[$1]}" 2>>"$LOG" | jq -r --arg node "${RAW[$1]}$2" '
		.partitiontable as $t | ($t.sectorsize // 512) as $ss
		| $t.partitions[] | select(.node == $node)
		| "\(.start * $ss) \(.size * $ss) \(.type)"'
}
label() { sfdisk -J -- "${RAW[$1]}" 2>>"$LOG" | jq -r .partitiontable.label; }
nparts() { sfdisk -d -- "${RAW[$1]}" 2>>"$LOG" | grep -c ' : start='; }
pnums() {
	sfdisk -J -- "${RAW[$1]}" 2>>"$LOG" | jq -r --arg d "${RAW[$1]}" \
		'.partitiontable.partitions[].node | ltrimstr($d)' | tr '\n' ' '
}

is "$(label gpt.qcow2) $(nparts gpt.qcow2)" "gpt 3" "gpt.qcow2: GPT, 3 partitions"
is "$(label mbr.vmdk) $(nparts mbr.vmdk)" "dos 2" "mbr.vmdk: MBR, 2 partitions"
is "$(label ext.vhdx) $(nparts ext.vhdx)" "dos 4" "ext.vhdx: MBR, 4 partitions"
is "$(pnums ext.vhdx)" "1 2 5 6 " "ext.vhdx: partitions 1 2 5 6"
like "$(pinfo ext.vhdx 2)" ' 5$' "ext.vhdx p2 is an extended partition"
is "$(label gpt20.raw) $(nparts gpt20.raw)" "gpt 20" "gpt20.raw: GPT, 20 partitions"
is "$(pnums gpt20.raw)" "$(seq -s ' ' 1 20) " "gpt20.raw: partitions 1 to 20"
is "$(label luks.raw) $(nparts luks.raw)" "gpt 2" "luks.raw: GPT, 2 partitions"
ok_not "bare.raw has no partition table" sfdisk -d -- "${RAW[bare.raw]}"

# ---------------------------------------------------------------- blkid

# probe IMG N|whole: print "TYPE LABEL" found by blkid at the partition.
probe() {
	local off=0 size args=()
	if [ "$2" != whole ]; then
		read -r off size _ <<<"$(pinfo "$1" "$2")"
		[ -n "$size" ] || { echo "no-partition"; return; }
		args=(-O "$off" -S "$size")
	fi
	local TYPE='' LABEL='' line
	while IFS= read -r line; do
		case $line in
		TYPE=*) TYPE=${line#TYPE=} ;;
		LABEL=*) LABEL=${line#LABEL=} ;;
		esac
	done < <(blkid -p -o export "${args[@]}" -- "${RAW[$1]}" 2>>"$LOG")
	printf '%s %s\n' "${TYPE:-none}" "$LABEL"
}

is "$(probe gpt.qcow2 1)" "vfat ESP" "gpt.qcow2 p1: vfat ESP"
like "$(blkid -p -o export -O "$(pinfo gpt.qcow2 1 | cut -d' ' -f1)" -- "${RAW[gpt.qcow2]}")" 'VERSION=FAT(16|32)' "gpt.qcow2 p1: FAT16 or FAT32"
is "$(probe gpt.qcow2 2)" "swap swap" "gpt.qcow2 p2: swap"
is "$(probe gpt.qcow2 3)" "ext4 root" "gpt.qcow2 p3: ext4 root"
is "$(probe mbr.vmdk 1)" "ntfs Windows" "mbr.vmdk p1: ntfs"
is "$(probe mbr.vmdk 2)" "ntfs Data" "mbr.vmdk p2: ntfs"
is "$(probe ext.vhdx 1)" "ext2 boot" "ext.vhdx p1: ext2"
is "$(probe ext.vhdx 5)" "xfs srv" "ext.vhdx p5: xfs"
is "$(probe ext.vhdx 6)" "btrfs home" "ext.vhdx p6: btrfs"
is "$(probe bare.raw whole)" "ext4 bare" "bare.raw: whole-disk ext4"
bad=
for i in $(seq 1 20); do
	[ "$(probe gpt20.raw "$i")" = "ext4 part$i" ] || bad+=" p$i"
done
is "$bad" "" "gpt20.raw: 20 ext4 file systems"
is "$(probe luks.raw 1)" "crypto_LUKS crypt" "luks.raw p1: crypto_LUKS"
is "$(probe luks.raw 2)" "ext4 data" "luks.raw p2: ext4"

# LUKS: the header is valid and the key in .fx/luks.key opens it (no
# device-mapper needed for --test-passphrase).
read -r off size _ <<<"$(pinfo luks.raw 1)"
dd if="${RAW[luks.raw]}" of="$T/luks.p1" bs=1M iflag=skip_bytes,count_bytes \
	skip="$off" count="$size" conv=sparse status=none
ok "luks.raw p1 is LUKS" cryptsetup isLuks --type luks2 "$T/luks.p1"
ok "luks.raw p1 opens with the key file" cryptsetup open --test-passphrase \
	--key-file "$B/.fx/luks.key" "$T/luks.p1"
rm -f "$T/luks.p1"

# ---------------------------------------------------------------- contents

# Every file system's tree is copied out to $X/IMG/FSID by hand (read-only
# mounts), then one clamscan runs over $X.
X=$T/x
mkdir -p "$X" "$T/mnt"
MNT=$T/mnt

# Safety net: released explicitly below, but also at exit whatever happens.
FUSEPID=
release() {
	if mountpoint -q "$MNT"; then umount "$MNT" || umount -l "$MNT"; fi
	if [ -n "$FUSEPID" ]; then
		kill "$FUSEPID" 2>/dev/null
		wait "$FUSEPID" 2>/dev/null
		FUSEPID=
	fi
}
at_exit release

# wait_mount PID: wait until $MNT is a mount point (FUSE daemons).
wait_mount() {
	local i
	for i in $(seq 100); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# extract IMG FSID KIND [DEST]: copy the file system's tree to DEST
# (default $X/IMG/FSID).  KIND: ext2 ext4 xfs btrfs (loop mount), ntfs
# (ntfs-3g), fusefat, mtools (mcopy, no mount).
extract() {
	local img=$1 id=$2 kind=$3 off=0 size dst=${4:-$X/$1/$2} n part rc=0
	if [ "$id" = whole ]; then
		size=$(stat -c %s -- "${RAW[$img]}")
	else
		n=${id#p}
		read -r off size _ <<<"$(pinfo "$img" "$n")"
	fi
	mkdir -p "$dst"
	case $kind in
	ext2 | ext4 | xfs | btrfs)
		local opts=ro,loop,offset=$off,sizelimit=$size fstype=$kind
		case $kind in
		ext*) fstype=ext4 opts+=,noload ;;
		xfs) opts+=,norecovery,nouuid ;;
		esac
		mount -t "$fstype" -o "$opts" -- "${RAW[$img]}" "$MNT" || return 1
		cp -a "$MNT/." "$dst/" || rc=1
		umount "$MNT" || return 1
		;;
	ntfs | fusefat)
		part=$T/part.img
		dd if="${RAW[$img]}" of="$part" bs=1M iflag=skip_bytes,count_bytes \
			skip="$off" count="$size" conv=sparse status=none || return 1
		if [ "$kind" = ntfs ]; then
			ntfs-3g -o ro,no_detach "$part" "$MNT" &
		else
			fusefat -f -o ro "$part" "$MNT" &
		fi
		FUSEPID=$!
		wait_mount "$FUSEPID" || { release; return 1; }
		cp -R "$MNT/." "$dst/" || rc=1
		umount "$MNT" || { release; return 1; }
		wait "$FUSEPID"		# fusefat exits with 255 after a clean unmount
		FUSEPID=
		rm -f "$part"
		;;
	mtools)
		part=$T/part.img
		dd if="${RAW[$img]}" of="$part" bs=1M iflag=skip_bytes,count_bytes \
			skip="$off" count="$size" conv=sparse status=none || return 1
		MTOOLS_SKIP_CHECK=1 mcopy -s -p -m -n -i "$part" '::/*' "$dst/" || rc=1
		rm -f "$part"
		;;
	esac
	return "$rc"
}

# (image, fs id, how to read it) for every file system that must be scanned.
FSLIST=(
	gpt.qcow2:p1:mtools gpt.qcow2:p3:ext4
	mbr.vmdk:p1:ntfs mbr.vmdk:p2:ntfs
	ext.vhdx:p1:ext2 ext.vhdx:p5:xfs ext.vhdx:p6:btrfs
	bare.raw:whole:ext4 luks.raw:p2:ext4
)
for i in $(seq 1 20); do FSLIST+=("gpt20.raw:p$i:ext4"); done

bad=
for e in "${FSLIST[@]}"; do
	IFS=: read -r img id kind <<<"$e"
	extract "$img" "$id" "$kind" >>"$LOG" 2>&1 || bad+=" $img:$id"
done
is "$bad" "" "every file system extracted by hand (${#FSLIST[@]})"

# Scanned set = expect.fs's "scanned" lines.
is "$(printf '%s\n' "${FSLIST[@]}" | awk -F: '{ print $1 "\t" $2 }' | LC_ALL=C sort)" \
	"$(awk -F'\t' '$3 == "scanned" { print $1 "\t" $2 }' "$B/expect.fs")" \
	"the file systems extracted are those expected to be scanned"

# The planted detectable files are where expect.detections says.
bad=
while IFS=$'\t' read -r img id path; do
	[ -f "$X/$img/$id$path" ] || bad+=" $img:$id:$path"
done <"$B/expect.detections"
is "$bad" "" "every planted file exists at its guest path"

ok "the ext4 root holds a symlink to a host file" test -L "$X/gpt.qcow2/p3/home/alice/host-link.exe"
ok "the clean file with shell characters exists" \
	test -f "$X/gpt.qcow2/p3/home/alice/\$(touch pwned); 'x' \`id\` & | > <.txt"
ok "eicar.tar.gz holds eicar.com" tar -tzf "$X/ext.vhdx/p6/root/x y/eicar.tar.gz" eicar.com

# clamscan over all of it, detections mapped back to IMG<TAB>FSID<TAB>PATH.
clamscan --no-summary -i -r -d "$T/sigs" -- "$X" >"$T/clamscan.out" 2>>"$LOG"
rc=$?
is "$rc" 1 "clamscan exit status 1 (found)"
got=$(sed -n 's/^\(.*\): [^ ]* FOUND$/\1/p' "$T/clamscan.out" |
	awk -v x="$X/" '
		index($0, x) == 1 {
			rest = substr($0, length(x) + 1)
			img = substr(rest, 1, index(rest, "/") - 1); rest = substr(rest, length(img) + 2)
			id = substr(rest, 1, index(rest, "/") - 1); rest = substr(rest, length(id) + 1)
			print img "\t" id "\t" rest
		}' | LC_ALL=C sort)
is "$got" "$(cat "$B/expect.detections")" "clamscan -d sigs finds exactly the planted files"
names=$(sed -n 's/^.*: \([^ ]*\) FOUND$/\1/p' "$T/clamscan.out" | LC_ALL=C sort -u | tr '\n' ' ')
like "$names" 'Test\.EICAR\.NDB\.UNOFFICIAL' "EICAR found by Test.EICAR.NDB"
like "$names" 'Test\.ClamExe\.HDB\.UNOFFICIAL' "clam.exe found by Test.ClamExe.HDB"
like "$names" 'Test\.ClamPdf\.HDB\.UNOFFICIAL' "clam.pdf found by Test.ClamPdf.HDB"
like "$(grep -F '/clam.zip: ' "$T/clamscan.out")" 'Test\.Clam(Zip|Exe)\.HDB\.UNOFFICIAL FOUND$' "clam.zip found"
like "$(grep -F '/eicar.tar.gz: ' "$T/clamscan.out")" 'Test\.EICAR\.NDB\.UNOFFICIAL FOUND$' "EICAR found inside eicar.tar.gz"
diag "threat names: $names"

# Each signature on its own, on the original test files (--allmatch: the
# clam.exe inside clam.zip matches first otherwise).
ok "test.ndb is the EICAR body signature" \
	grep -qx 'Test\.EICAR\.NDB:0:\*:45494341522d5354414e444152442d414e544956495255532d544553542d46494c45' "$T/sigs/test.ndb"
clamscan --no-summary --allmatch -d "$T/sigs" -- "$FX_TESTFILES/clam.exe" \
	"$FX_TESTFILES/clam.pdf" "$FX_TESTFILES/clam.zip" \
	"$T/eicar.test" >"$T/clamscan2.out" 2>>"$LOG"
for f in clam.exe:Test.ClamExe.HDB clam.pdf:Test.ClamPdf.HDB clam.zip:Test.ClamZip.HDB eicar.test:Test.EICAR.NDB; do
	ok "${f#*:} matches ${f%%:*}" grep -qxF "${f%%:*}: ${f#*:}.UNOFFICIAL FOUND" \
		<(sed 's|^.*/||' "$T/clamscan2.out")
done

# FAT through fusefat as well: the same files, modulo case.  fusefat 0.1a
# shows 8.3 names in upper case (it ignores the NT lower-case flags that mtools
# and Windows set: clam.exe appears as CLAM.EXE) and lists the volume label
# as a file (ESP).
ok "gpt.qcow2 p1 extracted through fusefat" extract gpt.qcow2 p1 fusefat "$T/xf"
lst() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort); }
is "$(lst "$T/xf" | grep -vx './ESP' | tr '[:lower:]' '[:upper:]')" \
	"$(lst "$X/gpt.qcow2/p1" | tr '[:lower:]' '[:upper:]')" \
	"fusefat and mtools show the same FAT tree (ignoring case and the label entry)"
read -r off size _ <<<"$(pinfo gpt.qcow2 1)"
dd if="${RAW[gpt.qcow2]}" of="$T/fat.img" bs=1M iflag=skip_bytes,count_bytes \
	skip="$off" count="$size" conv=sparse status=none
ok "mdir sees /EFI/test dir/clam.exe in lower case" \
	bash -c 'mdir -/ -b -i "$1" "::/EFI/test dir" | grep -qx "::/EFI/test dir/clam.exe"' _ "$T/fat.img"
diag "fusefat tree: $(lst "$T/xf" | tr '\n' ' ')"

# ---------------------------------------------------------------- demo

DD=$T/demo
ok "fx_demo builds the demo disks" fx_demo "$DD"
is "${#FX_IMAGES[@]}" 2 "fx_demo: 2 images"
is "$(fmt "$DD/demo-gpt.qcow2") $(fmt "$DD/demo-mbr.raw")" "qcow2 raw" "fx_demo: qcow2 and raw"
ok "fx_demo: signatures in DIR/sigs" test -s "$DD/sigs/test.ndb" -a -s "$DD/sigs/test.hdb"
RAW[demo-gpt.qcow2]=$T/raw/demo-gpt.raw
RAW[demo-mbr.raw]=$DD/demo-mbr.raw
qemu-img convert -O raw -- "$DD/demo-gpt.qcow2" "${RAW[demo-gpt.qcow2]}" 2>>"$LOG"
is "$(label demo-gpt.qcow2) $(probe demo-gpt.qcow2 1) / $(probe demo-gpt.qcow2 2)" "gpt ext4 home / vfat SHARED" "demo-gpt: GPT, ext4 + FAT"
is "$(label demo-mbr.raw) $(probe demo-mbr.raw 1) / $(probe demo-mbr.raw 2)" "dos ext4 www / ntfs Windows" "demo-mbr: MBR, ext4 + NTFS"
X=$T/xd
bad=
for e in demo-gpt.qcow2:p1:ext4 demo-gpt.qcow2:p2:mtools demo-mbr.raw:p1:ext4 demo-mbr.raw:p2:ntfs; do
	IFS=: read -r img id kind <<<"$e"
	extract "$img" "$id" "$kind" >>"$LOG" 2>&1 || bad+=" $img:$id"
done
is "$bad" "" "demo file systems extracted by hand"
clamscan --no-summary -i -r -d "$DD/sigs" -- "$X" >"$T/clamscan3.out" 2>>"$LOG"
is "$(sed -n "s|^$X/\(.*\): \([^ ]*\) FOUND\$|\1 \2|p" "$T/clamscan3.out" | LC_ALL=C sort)" \
"demo-gpt.qcow2/p1/home/bob/My Files/eicar.com Test.EICAR.NDB.UNOFFICIAL
demo-gpt.qcow2/p2/Program Files/Demo App/clam.exe Test.ClamExe.HDB.UNOFFICIAL
demo-mbr.raw/p1/var/www/up loads/eicar.com Test.EICAR.NDB.UNOFFICIAL
demo-mbr.raw/p2/Users/Carol/Desk top/clam.pdf Test.ClamPdf.HDB.UNOFFICIAL" \
	"clamscan finds the 4 demo detections"

# ---------------------------------------------------------------- the end

release
ok_not "the scratch mount point is not in use" mountpoint -q "$MNT"
(cd "$B" && md5sum -- *.qcow2 *.vmdk *.vhdx *.raw) >"$T/sums.after"
is "$(cat "$T/sums.after")" "$(cat "$T/sums.before")" "no image changed"
is "$(leftovers)" "" "nothing left behind (mounts, loop devices, FUSE daemons)"

done_testing
