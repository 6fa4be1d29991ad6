#!/bin/bash
# bench/run.sh - issue #5 benchmark: the patent's hand method (clamscan per
# file system), the same with one clamd, and avbatch (cold and warm cache),
# over N qcow2 overlay clones of one Debian minbase disk.
#
#   sudo bench/run.sh [WORKDIR]          (default /var/tmp/avbatch-bench)
#
# Knobs (environment): BENCH_CLONES (10), BENCH_HASH_SIGS (3000000),
# BENCH_BODY_SIGS (100000), BENCH_RUNS ("a b c d e f").  See bench/README.md.
set -euo pipefail

WORKDIR=${1:-/var/tmp/avbatch-bench}
CLONES=${BENCH_CLONES:-10}
HASH_SIGS=${BENCH_HASH_SIGS:-3000000}
BODY_SIGS=${BENCH_BODY_SIGS:-100000}
RUNS=" ${BENCH_RUNS:-a b c d e f} "
REPO=$(cd "$(dirname "$0")/.." && pwd)
AVBATCH=$REPO/src/avbatch
ENGINES_DIR=$REPO/engines
ROOT_CACHE=/var/tmp/bench-root

log() { printf '== %s %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must be run as root (sudo $0)"
case $CLONES$HASH_SIGS$BODY_SIGS in *[!0-9]*) die "knobs must be numbers";; esac
[ "$CLONES" -ge 1 ] || die "BENCH_CLONES must be >= 1"

# EICAR, stored reversed so this file is not itself a test virus.
EICAR=$(printf '%s' '*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\4[PA@%P!O5X' | rev)
[ ${#EICAR} = 68 ] || die "EICAR string is ${#EICAR} bytes, not 68"

# ---------------------------------------------------------------- packages
need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have debootstrap || need_pkgs+=(debootstrap)
[ -x /usr/bin/time ] || need_pkgs+=(time)
have clamscan || need_pkgs+=(clamav)
have clamdscan || need_pkgs+=(clamdscan)
have clamd || need_pkgs+=(clamav-daemon)
have qemu-img || need_pkgs+=(qemu-utils)
have qemu-storage-daemon || need_pkgs+=(qemu-system-common)
have mcopy || need_pkgs+=(mtools)
have mkfs.vfat || need_pkgs+=(dosfstools)
have mkfs.ext4 || need_pkgs+=(e2fsprogs)
have fusefat || need_pkgs+=(fusefat)
have jq || need_pkgs+=(jq)
have sfdisk || need_pkgs+=(fdisk)
have unshare || need_pkgs+=(util-linux)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "installing ${need_pkgs[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"
fi
# The Debian clamav-daemon service is not ours; we start our own clamd.

if [ ! -x "$AVBATCH" ]; then
	log "building avbatch (src/avbatch missing)"
	(cd "$REPO" && ./build.sh deps && ./autogen.sh && ./configure && make -j2)
fi
[ -x "$AVBATCH" ] || die "no $AVBATCH"

mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
IMG=$WORKDIR/images
SIGS=$WORKDIR/sigs
MNT=$WORKDIR/mnt
TMP=$WORKDIR/tmp
RES=$WORKDIR/results
mkdir -p "$IMG" "$SIGS" "$MNT" "$TMP" "$RES"

# ---------------------------------------------------------------- cleanup
# Nothing may stay mounted, attached or running: the hand runs happen in a
# private mount namespace, and this sweeps up anything left under WORKDIR.
cleanup() {
	set +e
	local m l p
	for p in $(cat "$WORKDIR"/pids/* 2>/dev/null); do
		kill "$p" 2>/dev/null
	done
	rm -f "$WORKDIR"/pids/* 2>/dev/null
	# mounts under WORKDIR, deepest first
	awk -v w="$WORKDIR/" 'index($2, w) == 1 { print $2 }' /proc/mounts |
		sort -r | while read -r m; do umount -l "$m"; done
	losetup -nO NAME,BACK-FILE 2>/dev/null | while read -r l p; do
		case $p in "$WORKDIR"/*) losetup -d "$l";; esac
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORKDIR/pids"

# ---------------------------------------------------------------- root
ROOT=$WORKDIR/root
if [ ! -e "$WORKDIR/root.done" ]; then
	rm -rf "$ROOT"
	if [ -d "$ROOT_CACHE/usr/bin" ] && grep -q '^rc=0' /tmp/debootstrap.log 2>/dev/null &&
	   grep -q 'Base system installed successfully' /tmp/debootstrap.log; then
		log "copying the debootstrap cache $ROOT_CACHE"
		cp -a "$ROOT_CACHE" "$ROOT"
	else
		log "debootstrap --variant=minbase bookworm $ROOT"
		debootstrap --variant=minbase bookworm "$ROOT" http://deb.debian.org/debian
	fi
	rm -f "$ROOT"/var/cache/apt/archives/*.deb
	touch "$WORKDIR/root.done"
fi
# Planted in the base: every VM has it.
mkdir -p "$ROOT/root/planted"
printf '%s' "$EICAR" > "$ROOT/root/planted/eicar.com"

# ---------------------------------------------------------------- truth
TRUTH=$WORKDIR/truth.tsv
: > "$TRUTH.tmp"
for k in $(seq 1 "$CLONES"); do
	printf 'clone%d\tp3\t/root/planted/eicar.com\n' "$k" >> "$TRUTH.tmp"
	case $k in 3|7)
		printf 'clone%d\tp3\t/home/user/downloads/dropper-%d.com\n' "$k" "$k" >> "$TRUTH.tmp";;
	esac
done
sort "$TRUTH.tmp" > "$TRUTH"; rm -f "$TRUTH.tmp"

# ---------------------------------------------------------------- images
# Fixed identifiers, so base and clones have the same layout where they can.
DISK_ID=6b1f5c2e-3d4a-4f6b-9c8d-0e1f2a3b4c5d
EXT_UUID=0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f
EXT_SEED=1a2b3c4d-5e6f-4a0b-9c8d-7e6f5a4b3c2d
SWAP_UUID=5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716

# ESP and swap: identical in every image
if [ ! -e "$IMG/.parts.done" ]; then
	log "ESP (FAT, mtools) and swap"
	rm -f "$TMP/esp.img" "$TMP/swap.img"
	truncate -s 64M "$TMP/esp.img"
	mkfs.vfat -n EFI -i 1234ABCD "$TMP/esp.img" >/dev/null
	mmd -i "$TMP/esp.img" ::/EFI ::/EFI/BOOT ::/EFI/debian
	mcopy -i "$TMP/esp.img" "$ROOT/usr/bin/ls" ::/EFI/BOOT/BOOTX64.EFI
	mcopy -i "$TMP/esp.img" "$ROOT/usr/bin/bash" ::/EFI/debian/grubx64.efi
	mcopy -i "$TMP/esp.img" "$ROOT/usr/bin/cat" ::/EFI/debian/shimx64.efi
	mcopy -i "$TMP/esp.img" "$ROOT/etc/os-release" ::/EFI/debian/os-release.txt
	truncate -s 64M "$TMP/swap.img"
	mkswap -U "$SWAP_UUID" "$TMP/swap.img" >/dev/null 2>&1
	touch "$IMG/.parts.done"
fi

# p3 size: root + 25 % (+ room for inodes), fixed for base and clones
ROOT_KIB=$(du -sk --apparent-size "$ROOT" | cut -f1)
P3_MIB=$(( (ROOT_KIB * 5 / 4) / 1024 + 64 ))
P3_SECT=$((P3_MIB * 2048))
P1_START=2048; P1_SECT=$((64 * 2048))
P2_START=$((P1_START + P1_SECT)); P2_SECT=$((64 * 2048))
P3_START=$((P2_START + P2_SECT))
DISK_BYTES=$(( (P3_START + P3_SECT + 2048) * 512 ))

# make_p3 TREE OUT: the ext4 root file system, made from TREE (no mounting)
make_p3() {
	rm -f "$2"
	truncate -s $((P3_SECT * 512)) "$2"
	E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -L root -U "$EXT_UUID" \
		-E "hash_seed=$EXT_SEED,lazy_itable_init=0" -d "$1" "$2"
}
# make_disk P3 OUT.raw: GPT (ESP + swap + the ext4 image P3)
make_disk() {
	local p3=$1 out=$2
	rm -f "$out"
	truncate -s "$DISK_BYTES" "$out"
	sfdisk -q "$out" <<-EOF
	label: gpt
	label-id: $DISK_ID
	unit: sectors
	first-lba: 2048
	start=$P1_START, size=$P1_SECT, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=11111111-2222-4333-8444-555555555501, name="EFI System"
	start=$P2_START, size=$P2_SECT, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, uuid=11111111-2222-4333-8444-555555555502, name="swap"
	start=$P3_START, size=$P3_SECT, type=0FC63DAF-8483-4773-A47E-7D7D3D8E3C9D, uuid=11111111-2222-4333-8444-555555555503, name="root"
	EOF
	dd if="$TMP/esp.img" of="$out" bs=1M seek=$((P1_START / 2048)) conv=notrunc,sparse status=none
	dd if="$TMP/swap.img" of="$out" bs=1M seek=$((P2_START / 2048)) conv=notrunc,sparse status=none
	dd if="$p3" of="$out" bs=1M seek=$((P3_START / 2048)) conv=notrunc,sparse status=none
}

IMG_KEY="$CLONES"
if [ "$(cat "$IMG/.images.done" 2>/dev/null)" != "$IMG_KEY" ]; then
	rm -f "$IMG"/*.qcow2 "$IMG/.images.done"
	log "base.qcow2 (p3 ${P3_MIB} MiB, mkfs.ext4 -d)"
	make_p3 "$ROOT" "$TMP/base-p3.img"
	make_disk "$TMP/base-p3.img" "$TMP/base.raw"
	qemu-img convert -O qcow2 "$TMP/base.raw" "$IMG/base.qcow2"
	rm -f "$TMP/base.raw"
	for k in $(seq 1 "$CLONES"); do
		log "clone$k.qcow2"
		# The clone's changes are written into a copy of the base file
		# system with debugfs (no mounting), as a guest would change its
		# disk: only the touched blocks differ, so the overlay is small.
		# (Re-running mkfs.ext4 -d on a modified tree, even with the same
		# uuid and hash seed, lays out the whole file system anew and the
		# overlay holds nearly all of it.)
		F=$TMP/clonefiles; rm -rf "$F"; mkdir -p "$F"
		printf 'clone-%d-%s\n' "$k" "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$F/clone-id"
		for i in $(seq 1 50); do
			printf '%s clone%d unique log line %d %s\n' "$(date -u +%FT%T)" "$k" "$i" "$RANDOM$RANDOM"
		done > "$F/clone-$k.log"
		{
			echo "cd /etc"; echo "write $F/clone-id clone-id"
			echo "cd /var/log"; echo "write $F/clone-$k.log clone-$k.log"
		} > "$F/cmds"
		case $k in 3|7)
			{ printf '%s' "$EICAR"; printf '\nunique line for clone %d\n' "$k"; } > "$F/dropper-$k.com"
			{
				echo "cd /home"; echo "mkdir user"; echo "cd user"; echo "mkdir downloads"
				echo "cd downloads"; echo "write $F/dropper-$k.com dropper-$k.com"
			} >> "$F/cmds";;
		esac
		cp --sparse=always "$TMP/base-p3.img" "$TMP/clone-p3.img"
		debugfs -w -f "$F/cmds" "$TMP/clone-p3.img" >"$F/debugfs.log" 2>&1
		e2fsck -fn "$TMP/clone-p3.img" >/dev/null 2>&1 || die "clone$k: e2fsck finds errors after debugfs"
		make_disk "$TMP/clone-p3.img" "$TMP/clone.raw"
		rm -f "$TMP/clone-p3.img"; rm -rf "$F"
		# qemu-img convert -B writes every allocated cluster of a raw
		# source (the overlay would hold the whole disk).  Instead: an
		# empty overlay on the raw clone, rebased (safe mode) onto
		# base.qcow2, keeps exactly the clusters that differ from base.
		(cd "$IMG" &&
		 qemu-img create -q -f qcow2 -b "$TMP/clone.raw" -F raw "clone$k.qcow2" &&
		 qemu-img rebase -b base.qcow2 -F qcow2 "clone$k.qcow2" &&
		 qemu-img compare -q -f qcow2 -F raw "clone$k.qcow2" "$TMP/clone.raw") ||
			die "clone$k.qcow2: overlay does not match its raw disk"
		rm -f "$TMP/clone.raw"
	done
	rm -f "$TMP/base-p3.img"
	echo "$IMG_KEY" > "$IMG/.images.done"
fi
VMS=()
for k in $(seq 1 "$CLONES"); do VMS+=("clone$k"); done
IMAGES=()
for v in "${VMS[@]}"; do IMAGES+=("$IMG/$v.qcow2"); done
log "images: $(du -sh "$IMG" | cut -f1) on disk ($(du -sh --apparent-size "$IMG/base.qcow2" | cut -f1) base, $(du -sh "$IMG/clone1.qcow2" | cut -f1) per overlay)"

# ---------------------------------------------------------------- signatures
SIG_KEY="$HASH_SIGS/$BODY_SIGS"
if [ "$(cat "$SIGS/.done" 2>/dev/null)" != "$SIG_KEY" ]; then
	log "signatures: $HASH_SIGS hash + $BODY_SIGS body + test"
	rm -f "$SIGS"/*
	head -c $((HASH_SIGS * 16)) /dev/urandom | od -An -v -tx1 -w16 | tr -d ' ' |
		awk '{ printf "%s:%d:Bench.Hash.%d\n", $1, 1000 + (NR * 7919) % 1000000, NR }' > "$SIGS/heavy.hdb"
	head -c $((BODY_SIGS * 16)) /dev/urandom | od -An -v -tx1 -w16 | tr -d ' ' |
		awk '{ printf "Bench.Body.%d:0:*:%s\n", NR, $1 }' > "$SIGS/heavy.ndb"
	[ "$BODY_SIGS" -gt 0 ] || rm -f "$SIGS/heavy.ndb"
	[ "$HASH_SIGS" -gt 0 ] || rm -f "$SIGS/heavy.hdb"
	# body signature: the "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" part
	printf 'Test.EICAR.NDB:0:*:%s\n' \
		"$(printf '%s' "${EICAR:29:34}" | od -An -v -tx1 | tr -d ' \n')" > "$SIGS/test.ndb"
	echo "$SIG_KEY" > "$SIGS/.done"
fi
log "checking that clamscan loads $SIGS"
printf '%s' "$EICAR" > "$TMP/eicar.com"
t0=$(date +%s.%N)
out=$(clamscan --no-summary -d "$SIGS" "$TMP/eicar.com" 2>&1 || true)
t1=$(date +%s.%N)
rm -f "$TMP/eicar.com"
case $out in *"Test.EICAR.NDB"*FOUND*) ;; *) die "clamscan did not detect EICAR with $SIGS: $out";; esac
SIG_LOAD=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
log "signature load + one file: ${SIG_LOAD} s"

# ---------------------------------------------------------------- hand method
# One script for (a) and (b), run under one /usr/bin/time in a private mount
# namespace.  MODE=clamscan or clamd.
cat > "$WORKDIR/hand.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
MODE=$1 WORKDIR=$2 SIGS=$3 OUT=$4; shift 4
MNT=$WORKDIR/mnt
mount --make-rprivate /
CONF=$WORKDIR/clamd.conf
qsd=; loop=; clamd=
teardown() {
	set +e
	for m in "$MNT"/*/p1 "$MNT"/*/p3; do mountpoint -q "$m" && umount "$m"; done
	for l in $loop; do losetup -d "$l"; done
	[ -n "$qsd" ] && { kill "$qsd"; wait "$qsd"; }
	for v in "$MNT"/*/view; do mountpoint -q "$v" && umount -l "$v"; done
	rm -f "$WORKDIR/pids/hand-qsd"
	loop=; qsd=
}
stop_clamd() {
	[ -n "$clamd" ] || return 0
	kill "$clamd" 2>/dev/null; wait "$clamd" 2>/dev/null || true
	rm -f "$WORKDIR/pids/hand-clamd"; clamd=
}
trap 'teardown; stop_clamd' EXIT
: > "$OUT"
if [ "$MODE" = clamd ]; then
	cat > "$CONF" <<CONF
LocalSocket $WORKDIR/clamd.sock
DatabaseDirectory $SIGS
Foreground yes
MaxThreads 2
LogFile $WORKDIR/clamd.log
TemporaryDirectory $WORKDIR/tmp
CONF
	rm -f "$WORKDIR/clamd.sock" "$WORKDIR/clamd.log"
	clamd -c "$CONF" & clamd=$!
	echo "$clamd" > "$WORKDIR/pids/hand-clamd"
	clamdscan -c "$CONF" --ping 3600:1 >/dev/null 2>&1 || { echo "clamd did not start" >&2; exit 1; }
fi
for img in "$@"; do
	vm=$(basename "$img" .qcow2)
	d=$MNT/$vm
	mkdir -p "$d/p1" "$d/p3"; : > "$d/view"
	qemu-storage-daemon \
		--blockdev "driver=file,node-name=f,filename=$img,read-only=on" \
		--blockdev "driver=qcow2,node-name=q,file=f,read-only=on" \
		--export "type=fuse,id=e,node-name=q,mountpoint=$d/view,writable=off" \
		>"$d.qsd.log" 2>&1 & qsd=$!
	echo "$qsd" > "$WORKDIR/pids/hand-qsd"
	for i in $(seq 1 300); do
		grep -q " $d/view fuse" /proc/mounts && break
		kill -0 "$qsd" 2>/dev/null || { cat "$d.qsd.log" >&2; exit 1; }
		sleep 0.1
	done
	# No partition scanning on loop devices here: one loop device per
	# partition, at the offsets the partition table gives.
	pt=$(sfdisk -J "$d/view")
	for n in 1 3; do
		st=$(jq -r ".partitiontable.partitions[$((n - 1))].start" <<<"$pt")
		sz=$(jq -r ".partitiontable.partitions[$((n - 1))].size" <<<"$pt")
		l=$(losetup -r --show -f -o $((st * 512)) --sizelimit $((sz * 512)) "$d/view")
		loop="$loop $l"; eval "loop$n=$l"
	done
	mount -o ro,noload "$loop3" "$d/p3"
	fusefat -o ro "$loop1" "$d/p1" 2>"$d.fusefat.log"
	for fs in p3 p1; do
		if [ "$MODE" = clamscan ]; then
			clamscan -r -i --no-summary -d "$SIGS" "$d/$fs" >> "$OUT" 2>>"$OUT.err" || true
		else
			clamdscan -c "$CONF" --fdpass -m -i --no-summary "$d/$fs" >> "$OUT" 2>>"$OUT.err" || true
		fi
	done
	teardown
done
stop_clamd
EOF
chmod +x "$WORKDIR/hand.sh"

TIMEFMT='%e %U %S %M'
declare -A WALL CPU RSS

# timed NAME CMD...: one /usr/bin/time around CMD
timed() {
	local name=$1; shift
	local rc=0
	/usr/bin/time -f "$TIMEFMT" -o "$RES/$name.time" "$@" > "$RES/$name.out" 2> "$RES/$name.err" || rc=$?
	read -r w u s m < <(tail -n 1 "$RES/$name.time") || die "run $name: no time output"
	WALL[$name]=$w
	CPU[$name]=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
	RSS[$name]=$(awk -v m="$m" 'BEGIN { printf "%.0f", m / 1024 }')
	log "($name) wall ${w}s cpu ${CPU[$name]}s rss ${RSS[$name]}MiB rc=$rc"
	return 0
}

# want R: is run R among BENCH_RUNS?  Skipped runs show "-".
want() { case $RUNS in *" $1 "*) return 0;; esac; WALL[$1]=-; CPU[$1]=-; RSS[$1]=-; : > "$RES/$1.dets"; return 1; }

rm -rf "${MNT:?}"/*
want a && log "(a) by hand: per VM and file system, clamscan -r" &&
timed a unshare -m --propagation private "$WORKDIR/hand.sh" clamscan "$WORKDIR" "$SIGS" "$RES/a.found" "${IMAGES[@]}"
want a && [ -s "$RES/a.err" ] && sed 's/^/  (a) stderr: /' "$RES/a.err" | head -20 >&2
want b && log "(b) by hand: one clamd, clamdscan --fdpass -m" &&
timed b unshare -m --propagation private "$WORKDIR/hand.sh" clamd "$WORKDIR" "$SIGS" "$RES/b.found" "${IMAGES[@]}"
want b && [ -s "$RES/b.err" ] && sed 's/^/  (b) stderr: /' "$RES/b.err" | head -20 >&2

AV=("$AVBATCH" --engines-dir "$ENGINES_DIR" --state-dir "$WORKDIR/state" run --engine clamd
    -o "clamd.database=$SIGS" -o clamd.threads=2 --cache "$WORKDIR/cache.sqlite" --delta --jobs 2)
rm -f "$WORKDIR/cache.sqlite" "$WORKDIR"/cache.sqlite-*
want c && log "(c) avbatch, empty cache" &&
timed c "${AV[@]}" --report "$RES/c.json" "${IMAGES[@]}"
# Where (c)'s time went: the job's timeline (bench/timeline.sh).
want c && "$(dirname "$0")/timeline.sh" "$(ls -td "$WORKDIR"/state/jobs/*/ | head -n 1)" \
	> "$RES/c.timeline" 2>&1
# The floor of a cold batch: one clamd loads the signatures and scans the
# template alone (the unique content of the batch, apart from a few
# changed files per clone), mounted by hand.
want f && log "(f) the floor: one clamd, the template only (hand)" &&
timed f unshare -m --propagation private "$WORKDIR/hand.sh" clamd "$WORKDIR" "$SIGS" "$RES/f.found" "$IMG/base.qcow2"
want d && log "(d) avbatch, warm cache" &&
timed d "${AV[@]}" --report "$RES/d.json" "${IMAGES[@]}"
# (e): a daily update adds a body, a hash and a logical signature (matching
# nothing planted); the cache is a copy of the one (c) filled.
if want e; then
	rm -rf "$WORKDIR/sigs-update" "$WORKDIR"/cache-e.sqlite*
	cp -a "$SIGS" "$WORKDIR/sigs-update"
	hexrand() { od -An -v -tx1 -N "$1" /dev/urandom | tr -d ' \n'; }
	printf 'Bench.Update.NDB:0:*:%s\n' "$(hexrand 16)" > "$WORKDIR/sigs-update/update.ndb"
	printf '%s:%d:Bench.Update.HSB\n' "$(hexrand 32)" 4242 > "$WORKDIR/sigs-update/update.hsb"
	printf 'Bench.Update.LDB;Engine:51-255,Target:0;0&1;%s;%s\n' "$(hexrand 12)" "$(hexrand 12)" \
		> "$WORKDIR/sigs-update/update.ldb"
	for f in "$WORKDIR"/cache.sqlite*; do cp -- "$f" "$WORKDIR/cache-e${f#"$WORKDIR"/cache}"; done
	log "(e) avbatch after an update of 3 signatures (cache of (c))"
	timed e "$AVBATCH" --engines-dir "$ENGINES_DIR" --state-dir "$WORKDIR/state" run --engine clamd \
		-o "clamd.database=$WORKDIR/sigs-update" -o clamd.threads=2 \
		--cache "$WORKDIR/cache-e.sqlite" --delta --jobs 2 --report "$RES/e.json" "${IMAGES[@]}"
fi

# ---------------------------------------------------------------- detections
# hand output: MNT/<vm>/<fs>/<guest path>: <threat> FOUND
hand_dets() {
	sed -n 's/: [^ ]* FOUND$//p' "$1" | awk -v p="$MNT/" '
		index($0, p) == 1 {
			r = substr($0, length(p) + 1)
			vm = r; sub(/\/.*/, "", vm); r = substr(r, length(vm) + 2)
			fs = r; sub(/\/.*/, "", fs); r = substr(r, length(fs) + 1)
			printf "%s\t%s\t%s\n", vm, fs, r
		}' | sort -u
}
report_dets() {
	jq -r '.targets[] | .name as $n | (.detections // [])[] | [$n, .fs, .path] | @tsv' "$1" |
		awk -F '\t' 'BEGIN { OFS = "\t" } { n = $1; sub(/.*\//, "", n); sub(/\.qcow2$/, "", n); $1 = n; print }' | sort -u
}
want a && hand_dets "$RES/a.found" > "$RES/a.dets"
want b && hand_dets "$RES/b.found" > "$RES/b.dets"
want c && { report_dets "$RES/c.json" > "$RES/c.dets" || : > "$RES/c.dets"; }
want d && { report_dets "$RES/d.json" > "$RES/d.dets" || : > "$RES/d.dets"; }
want e && { report_dets "$RES/e.json" > "$RES/e.dets" || : > "$RES/e.dets"; }
SAME=yes
{
echo "truth: $(wc -l < "$TRUTH") infected files in $CLONES VMs ($TRUTH)"
for r in $RUNS; do
	[ "$r" = f ] && continue	# the template alone: not the batch
	miss=$(comm -23 "$TRUTH" "$RES/$r.dets" | tr '\t' ' ' | paste -sd ';' -)
	extra=$(comm -13 "$TRUTH" "$RES/$r.dets" | tr '\t' ' ' | paste -sd ';' -)
	echo "($r) detections: $(wc -l < "$RES/$r.dets"), missing: ${miss:-none}, extra: ${extra:-none}"
	[ -z "$miss$extra" ] || SAME=no
done
for r in $RUNS; do
	case $r in a|b|f) continue;; esac
	# anything avbatch did not cover (swap is skipped by design)
	jq -r --arg r "$r" '.targets[] | .name as $n |
		(select(.reason != null) | "(\($r)) \($n): \(.status) \(.reason)"),
		(.filesystems[]? | select(.status != "scanned" and .reason != "swap space") |
		 "(\($r)) \($n) \(.id): \(.status) \(.reason)")' "$RES/$r.json" 2>/dev/null || true
done
echo "all runs report the same detections as the truth: $SAME"
} | tee "$RES/detections.txt"

# ---------------------------------------------------------------- table
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x == "-" || y == "-") print "-"; else if (y > 0) printf "%.3f", x / y; else print "-" }'; }
verdict() { awk -v x="$1" -v y="$2" -v f="$3" 'BEGIN { if (x == "-" || y == "-") print "-"; else print (x <= f * y) ? "PASS" : "FAIL" }'; }
{
echo "avbatch benchmark, $(date -u +%F) on $(hostname): $CLONES clones, $HASH_SIGS hash + $BODY_SIGS body signatures, $(nproc) CPUs"
echo "signature load (clamscan, one file): ${SIG_LOAD} s"
echo
printf '| %-28s | %8s | %10s | %12s | %11s | %11s |\n' run "wall s" "CPU s" "peak RSS MiB" "wall vs (a)" "wall vs (b)"
printf '|%s|%s|%s|%s|%s|%s|\n' ------------------------------ ---------- ------------ -------------- ------------- -------------
declare -A names=([a]="(a) clamscan per fs (hand)" [b]="(b) one clamd (hand)" [c]="(c) avbatch, empty cache" [d]="(d) avbatch, warm cache" [e]="(e) avbatch, 3 new signatures" [f]="(f) floor: clamd, template (hand)")
for r in a b c d e f; do
	printf '| %-28s | %8s | %10s | %12s | %11s | %11s |\n' "${names[$r]}" "${WALL[$r]}" "${CPU[$r]}" "${RSS[$r]}" \
		"$(ratio "${WALL[$r]}" "${WALL[a]}")" "$(ratio "${WALL[$r]}" "${WALL[b]}")"
done
echo
echo "targets (issue #5):"
echo "  (c) <= 0.5 x (b):  $(ratio "${WALL[c]}" "${WALL[b]}")  $(verdict "${WALL[c]}" "${WALL[b]}" 0.5)"
echo "  (c) <= 0.1 x (a):  $(ratio "${WALL[c]}" "${WALL[a]}")  $(verdict "${WALL[c]}" "${WALL[a]}" 0.1)"
echo "  (d) <= 0.05 x (b): $(ratio "${WALL[d]}" "${WALL[b]}")  $(verdict "${WALL[d]}" "${WALL[b]}" 0.05)"
echo "targets (issue #20):"
echo "  (c) <= 1.15 x (f): $(ratio "${WALL[c]}" "${WALL[f]}")  $(verdict "${WALL[c]}" "${WALL[f]}" 1.15)"
echo "  (e) <= 0.5 x (c) (issue #20): $(ratio "${WALL[e]}" "${WALL[c]}")  $(verdict "${WALL[e]}" "${WALL[c]}" 0.5)"
if [ -s "$RES/e.json" ]; then
	echo "  (e) signature update: $(jq -c '.engines[0].signature_update' "$RES/e.json"), files checked by delta: $(jq '[.targets[].filesystems[].files.delta // 0] | add' "$RES/e.json")"
fi
echo
if [ -s "$RES/c.timeline" ]; then
	echo "(c) timeline (seconds; activities summed over targets):"
	sed 's/^/  /' "$RES/c.timeline"
	echo
fi
cat "$RES/detections.txt"
} > "$WORKDIR/results.txt"
echo
cat "$WORKDIR/results.txt"
