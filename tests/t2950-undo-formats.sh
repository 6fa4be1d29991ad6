#!/bin/bash
# t2950-undo-formats: an undo point taken before writing an image through
# its writable view brings back exactly what the guest saw, for every
# format avbatch reads (raw byte for byte; a qcow2's backing file
# untouched); an ext4 mounted read-write on the view is undone too.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd qemu-img qemu-io qemu-storage-daemon mkfs.ext4
HOLD=$top_builddir/tests/unit/undo-hold
[ -x "$HOLD" ] || skip_all "tests/unit/undo-hold not built (make check)"

UNDO=$T/undo

# hold JOB IMAGE: start undo-hold on IMAGE (stdin from a FIFO the test
# keeps open on fd 7), VIEW its writable view; release ends it.
hold() {
	rm -f "$T/ctl" && mkfifo "$T/ctl"
	mkdir -p "$T/work-$1"
	"$HOLD" "$UNDO/$1" "$T/work-$1" "$2" <"$T/ctl" >"$T/view" \
		2>"$T/hold.err" &
	HOLD_PID=$!
	exec 7>"$T/ctl"
	VIEW=
	for _ in $(seq 100); do
		VIEW=$(cat "$T/view")
		[ -n "$VIEW" ] && break
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$VIEW" ]
}
release() {
	exec 7>&-
	wait "$HOLD_PID"
}
# On the way out: nothing mounted on a view, every holder released.
unhold() {
	umount "$T/m" 2>/dev/null
	exec 7>&-
	[ -z "${HOLD_PID:-}" ] || wait "$HOLD_PID"
}
at_exit unhold

# write_ranges VIEW: a few ranges the way a cleaner would touch a disk.
write_ranges() {
	dd if=/dev/urandom of="$1" bs=64k seek=3 count=5 conv=notrunc,fsync \
		status=none &&
	dd if=/dev/urandom of="$1" bs=1M seek=20 count=3 conv=notrunc,fsync \
		status=none &&
	dd if=/dev/zero of="$1" bs=4k seek=1 count=1 conv=notrunc,fsync \
		status=none
}

# One image per format, with data the writes overwrite and holes they fill.
make_image() {	# make_image FMT PATH
	qemu-img create -q -f "$1" "$2" 32M &&
	qemu-io -f "$1" -c 'write -P 0x5a 0 2M' -c 'write -P 0xa5 19M 2M' \
		"$2" >/dev/null
}

for fmt in raw vmdk vhdx vdi vpc; do
	img=$T/$fmt.img
	make_image "$fmt" "$img" || bail_out "cannot make a $fmt image"
	cp --sparse=always "$img" "$T/$fmt.before"
	ok "$fmt: writable view with an undo point" hold "j-$fmt" "$img"
	ok "$fmt: written through the view" write_ranges "$VIEW"
	ok "$fmt: detached, undo point committed" release
	ok_not "$fmt: the image changed" qemu-img compare -q -f "$fmt" \
		-F "$fmt" "$T/$fmt.before" "$img"
	ok "$fmt: undo" "$AVBATCH" undo --undo-dir "$UNDO" "j-$fmt"
	ok "$fmt: the guest sees what it saw before" qemu-img compare -q \
		-f "$fmt" -F "$fmt" "$T/$fmt.before" "$img"
done
ok "raw: byte for byte" cmp "$T/raw.before" "$T/raw.img"

# qcow2 on a backing file, with an ext4 changed through a read-write mount.
qemu-img create -q -f raw "$T/fs.raw" 64M
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$T/fs.raw" ||
	bail_out "mkfs.ext4 failed"
mkdir "$T/m"
mount -o loop "$T/fs.raw" "$T/m" || bail_out "cannot mount the ext4"
mkdir "$T/m/etc" && echo keep >"$T/m/etc/keep" &&
	head -c 300000 /dev/urandom >"$T/m/etc/victim"
umount "$T/m"
qemu-img convert -q -f raw -O qcow2 "$T/fs.raw" "$T/base.qcow2"
qemu-img create -q -f qcow2 -b "$T/base.qcow2" -F qcow2 "$T/vm.qcow2"
sha256sum "$T/base.qcow2" >"$T/base.sum"
cp "$T/vm.qcow2" "$T/vm.before"

ok "qcow2: writable view with an undo point" hold j-qcow2 "$T/vm.qcow2"
ok "qcow2: ext4 mounted read-write on the view" \
	mount -o loop "$VIEW" "$T/m"
rm -f "$T/m/etc/victim" && head -c 100000 /dev/urandom >"$T/m/etc/new" &&
	mkdir -p "$T/m/var/lib/x" && echo y >"$T/m/var/lib/x/y"
ok "qcow2: files deleted and created" test -e "$T/m/etc/new"
ok "qcow2: unmounted" umount "$T/m"
ok "qcow2: detached" release
ok_not "qcow2: the guest's disk changed" qemu-img compare -q \
	"$T/vm.before" "$T/vm.qcow2"
is "$(qemu-img info --output=json "$T/vm.qcow2" |
	sed -n 's/.*"backing-filename": "\(.*\)".*/\1/p')" "$T/base.qcow2" \
	"qcow2: still on its backing file"
ok "qcow2: the backing file is unchanged by the write" sha256sum -c \
	--quiet "$T/base.sum"
ok "qcow2: undo" "$AVBATCH" undo --undo-dir "$UNDO" j-qcow2
ok "qcow2: the guest sees what it saw before" qemu-img compare -q \
	"$T/vm.before" "$T/vm.qcow2"
ok "qcow2: the backing file is unchanged by the undo" sha256sum -c \
	--quiet "$T/base.sum"
ok "qcow2: the file system checks clean" bash -c \
	'qemu-img convert -O raw "$1" "$2" && e2fsck -fn "$2" >/dev/null' \
	_ "$T/vm.qcow2" "$T/check.raw"

# An undo point is used once, and --drop forgets it.
ok_not "undo twice is refused" "$AVBATCH" undo --undo-dir "$UNDO" j-qcow2
ok "undo --drop" "$AVBATCH" undo --undo-dir "$UNDO" --drop j-qcow2
ok_not "the dropped job is gone" test -e "$UNDO/j-qcow2"
ok_not "a job id that is a path is refused" "$AVBATCH" undo \
	--undo-dir "$UNDO" ../undo/j-raw
ok_not "undo of a job without undo points" "$AVBATCH" undo \
	--undo-dir "$UNDO" nosuchjob
printf '{"schema": 1, "image": "%s", "state": "begun"}\n' "$T/raw.img" \
	>"$UNDO/j-raw/disk-0/record.json"
sha256sum "$T/raw.img" >"$T/raw.sum"
ok_not "a damaged undo record is refused" "$AVBATCH" undo \
	--undo-dir "$UNDO" j-raw
ok "... and the image left as it is" sha256sum -c --quiet "$T/raw.sum"
is "$(stat -c %a "$UNDO" "$UNDO/j-raw" "$UNDO/j-raw/disk-0" | sort -u)" \
	700 "undo directories are 0700"
is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
