#!/bin/bash
# t2960-undo-safety: a disk another qemu holds is never attached writable
# (and qemu's write lock keeps a VM off a disk being written); a writer
# killed mid-way is still undone exactly, and one whose daemon was killed
# is refused as incomplete; undo refuses an image that changed or was
# replaced after its undo point was committed.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd qemu-img qemu-io qemu-storage-daemon qemu-system-x86_64
HOLD=$top_builddir/tests/unit/undo-hold
[ -x "$HOLD" ] || skip_all "tests/unit/undo-hold not built (make check)"

UNDO=$T/undo
VM_PID=

hold() {	# hold JOB IMAGE: as in t2950
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

# vm FMT IMAGE: a qemu that has the disk open as a VM does; true once it
# holds the image's lock.
vm() {
	qemu-system-x86_64 -machine none -nodefaults -display none -S \
		-drive "if=none,id=d0,format=$1,file=$2" \
		>"$T/vm.log" 2>&1 &
	VM_PID=$!
	for _ in $(seq 100); do
		kill -0 "$VM_PID" 2>/dev/null || return 1
		# It has the image open (and locked, which comes with the open).
		if find "/proc/$VM_PID/fd" -lname "$2" 2>/dev/null | grep -q .
		then
			sleep 0.3
			kill -0 "$VM_PID" 2>/dev/null
			return
		fi
		sleep 0.1
	done
	return 1
}
vm_end() {
	[ -n "$VM_PID" ] || return 0
	kill "$VM_PID" 2>/dev/null
	wait "$VM_PID" 2>/dev/null
	VM_PID=
}

# The qemu-storage-daemon serving a view, by its export path (what
# avbatch cleanup finds in a job's state.json).
qsd_of() {
	local d
	for d in /proc/[0-9]*; do
		{ tr "\0" " " <"$d/cmdline"; } 2>/dev/null | grep -qF -- "$1" &&
			[ "$(cat "$d/comm" 2>/dev/null)" = qemu-storage-da ] &&
			echo "${d#/proc/}"
	done
}

# copying JOB: wait until qemu has copied something into JOB's undo file
# (so the writer is writing the image), at most 20 s.
copying() {
	local f=$UNDO/$1/disk-0/undo.qcow2 size0
	size0=$(stat -c %s "$f")
	for _ in $(seq 200); do
		[ "$(stat -c %s "$f")" -gt "$size0" ] && return 0
		sleep 0.1
	done
	return 1
}

unhold() {
	vm_end
	exec 7>&-
	[ -z "${HOLD_PID:-}" ] || wait "$HOLD_PID" 2>/dev/null
	local p
	for p in $(qsd_of "$T/"); do kill "$p"; done
}
at_exit unhold

make_image() {	# make_image FMT PATH SIZE
	qemu-img create -q -f "$1" "$2" "$3" &&
	qemu-io -f "$1" -c 'write -P 0x5a 0 4M' -c 'write -P 0xa5 60M 4M' \
		"$2" >/dev/null
}

# A disk a running qemu holds: not attached, not changed.
make_image qcow2 "$T/busy.qcow2" 64M
vm qcow2 "$T/busy.qcow2" || bail_out "qemu did not take the image"
sha256sum "$T/busy.qcow2" >"$T/busy.sum"
ok_not "held by a running qemu: attach refused" hold busy "$T/busy.qcow2"
wait "$HOLD_PID"
like "$(cat "$T/hold.err")" "in use|lock" "the refusal says why"
ok "nothing changed" sha256sum -c --quiet "$T/busy.sum"
vm_end

# While attached writable, qemu's own write lock keeps a VM off the disk.
ok "attached writable" hold locked "$T/busy.qcow2"
ok_not "a VM cannot start on it meanwhile" vm qcow2 "$T/busy.qcow2"
vm_end
like "$(cat "$T/vm.log")" "lock" "qemu says it is locked"
ok "detached" release

# The undo point is refused while a VM has the disk, and works after.
vm qcow2 "$T/busy.qcow2" || bail_out "qemu did not take the image"
ok_not "undo while a VM holds the disk is refused" "$AVBATCH" undo \
	--undo-dir "$UNDO" locked
vm_end
ok "undo once it is free" "$AVBATCH" undo --undo-dir "$UNDO" locked
ok "the disk is as before" sha256sum -c --quiet "$T/busy.sum"

# A writer killed mid-way (and avbatch with it): undo still restores.
for fmt in raw qcow2; do
	img=$T/kill.$fmt
	make_image "$fmt" "$img" 256M
	cp --sparse=always "$img" "$T/kill-$fmt.before"
	ok "$fmt: attached writable" hold "kill-$fmt" "$img"
	dd if=/dev/urandom of="$VIEW" bs=1M seek=2 count=200 \
		conv=notrunc status=none 2>/dev/null &
	dd_pid=$!
	copying "kill-$fmt" && sleep 0.3
	kill -KILL "$dd_pid" "$HOLD_PID"
	wait "$dd_pid" "$HOLD_PID" 2>/dev/null
	exec 7>&-
	HOLD_PID=
	# What avbatch cleanup does: the daemon is ended (TERM).
	qsd=$(qsd_of "$T/work-kill-$fmt/")
	ok "$fmt: its daemon outlived the writer" test -n "$qsd"
	for p in $qsd; do kill "$p"; done
	for _ in $(seq 100); do
		[ -z "$(qsd_of "$T/work-kill-$fmt/")" ] && break
		sleep 0.1
	done
	ok_not "$fmt: the image was changed half-way" qemu-img compare -q \
		-f "$fmt" -F "$fmt" "$T/kill-$fmt.before" "$img"
	like "$(cat "$UNDO/kill-$fmt/disk-0/record.json")" '"state": "begun"' \
		"$fmt: the undo point was never committed"
	ok "$fmt: undo" "$AVBATCH" undo --undo-dir "$UNDO" "kill-$fmt"
	ok "$fmt: the guest sees what it saw before" qemu-img compare -q \
		-f "$fmt" -F "$fmt" "$T/kill-$fmt.before" "$img"
done
ok "raw: byte for byte" cmp "$T/kill-raw.before" "$T/kill.raw"

# The daemon itself killed with SIGKILL: its undo file's tables were never
# written, and undo says so rather than restoring part of the disk.
make_image raw "$T/dead.raw" 256M
ok "attached writable" hold dead "$T/dead.raw"
dd if=/dev/urandom of="$VIEW" bs=1M seek=2 count=200 conv=notrunc \
	status=none 2>/dev/null &
dd_pid=$!
copying dead && sleep 0.3
for p in $(qsd_of "$T/work-dead/"); do kill -KILL "$p"; done
wait "$dd_pid" 2>/dev/null
exec 7>&-
wait "$HOLD_PID" 2>/dev/null
is "$?" 1 "its writer's commit is refused"
like "$(cat "$T/hold.err")" "incomplete" "... saying the point is incomplete"
HOLD_PID=
umount "$T/work-dead/wview" 2>/dev/null
sha256sum "$T/dead.raw" >"$T/dead.sum"
"$AVBATCH" undo --undo-dir "$UNDO" dead 2>"$T/undo.err"
is "$?" 2 "undo of a point whose daemon was killed is refused"
like "$(cat "$T/undo.err")" "incomplete" "... saying it is incomplete"
ok "... and leaves the disk as it is" sha256sum -c --quiet "$T/dead.sum"

# An image written after the commit (a VM ran on it), or replaced: refused.
make_image qcow2 "$T/later.qcow2" 64M
ok "attached writable" hold later "$T/later.qcow2"
dd if=/dev/urandom of="$VIEW" bs=64k seek=5 count=2 conv=notrunc,fsync \
	status=none
ok "detached" release
qemu-io -f qcow2 -c 'write -P 0x77 32M 1M' "$T/later.qcow2" >/dev/null
sha256sum "$T/later.qcow2" >"$T/later.sum"
ok_not "undo of a disk changed since is refused" "$AVBATCH" undo \
	--undo-dir "$UNDO" later
ok "it is left as it is" sha256sum -c --quiet "$T/later.sum"
cp "$T/later.qcow2" "$T/later.copy" && mv "$T/later.copy" "$T/later.qcow2"
"$AVBATCH" undo --undo-dir "$UNDO" later 2>"$T/undo.err"
is "$?" 2 "undo of a replaced file is refused"
like "$(cat "$T/undo.err")" "replaced|changed" "the refusal says why"

is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
