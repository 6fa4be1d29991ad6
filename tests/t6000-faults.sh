#!/bin/bash
# Engines and hosts that fail: a missing engine program, an engine that
# crashes (SIGSEGV), hangs (the target's --timeout ends its whole process
# group), prints garbage or 10 MB of output; a report path on a full file
# system; a state directory that cannot be written; the qemu-storage-daemon
# of a target killed mid-scan; 50 targets of which 10 are corrupt.  Every
# run ends with the right exit status and a report (or, where no report can
# be written, a clear error and no partial file), and nothing left behind.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan jq mkfs.ext4 qemu-img qemu-storage-daemon

plan 29

mkdir -p "$T/img" "$T/tree/etc" "$T/tree/home/u" "$T/bin" "$T/eng"
echo "clean" >"$T/tree/etc/motd"
fx_eicar "$T/tree/home/u/eicar.com"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
truncate -s 16M "$T/img/vm.raw"
mkfs.ext4 -q -F -d "$T/tree" "$T/img/vm.raw" || bail_out "mkfs failed"
sha_before=$(sha256sum <"$T/img/vm.raw")

# Test engines (see fx_engine): each misbehaves in one way.
cat >"$T/bin/segv" <<'EOF'
#!/bin/bash
kill -SEGV $$
EOF
cat >"$T/bin/hang" <<'EOF'
#!/bin/bash
# A child in the same process group hangs too; both pids are recorded.
sleep 1000 &
echo "$! $$" >"${0%/*}/hang.pids"
sleep 1000
EOF
for rc in 0 1; do
	# Random bytes (with NULs and no newline at the end); exit status rc.
	printf '#!/bin/bash\nhead -c 200000 /dev/urandom\nexit %s\n' "$rc" >"$T/bin/garbage$rc"
done
cat >"$T/bin/flood" <<'EOF'
#!/bin/bash
# 10 MB of lines about files that were not scanned, then the real one.
yes "/nonexistent/file: Flood.Fake FOUND" | head -c 10485760
echo
while IFS= read -r f; do
	case $f in */eicar.com) printf '%s: Flood.Real FOUND\n' "$f" ;; esac
done <"$1"
exit 1
EOF
cat >"$T/bin/slow" <<'EOF'
#!/bin/bash
sleep 5
EOF
chmod +x "$T"/bin/*
fx_engine "$T/eng" missing "$T/bin/no-such-program"
for e in segv hang garbage0 garbage1 flood slow; do fx_engine "$T/eng" "$e" "$T/bin/$e"; done
printf 'infected = 1\n' >>"$T/eng/garbage1.ini"	# into [result]

av() {	# av ENGINE REPORT [ARGS...] -- TARGETS...: a run; its exit status
	local e=$1 r=$2
	shift 2
	"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run \
		--engine "$e" --no-cache --report "$r" "$@" >"$r.out" 2>"$r.err"
}
fsline() {	# fsline REPORT: "target-status fs-status fs-reason"
	jq -r '.targets[0] | "\(.status) \(.filesystems[0].status) \(.filesystems[0].reason)"' "$1"
}

av missing "$T/missing.json" "$T/img/vm.raw"
is "$?" 2 "missing engine program: exit 2"
like "$(fsline "$T/missing.json")" "^error error missing: .*not found" \
	"missing engine program: the file system is an error, and says why"

av segv "$T/segv.json" "$T/img/vm.raw"
is "$?" 2 "engine killed by SIGSEGV: exit 2"
like "$(fsline "$T/segv.json")" "^error error segv: killed by signal 11" \
	"SIGSEGV: reported as such"

t0=$(date +%s)
av hang "$T/hang.json" --timeout 3 "$T/img/vm.raw"
rc=$? t1=$(date +%s)
is "$rc" 2 "hanging engine with --timeout 3: exit 2"
ok "it ended within 20 s ($((t1 - t0)) s)" test $((t1 - t0)) -lt 20
like "$(fsline "$T/hang.json")" "^error error .*timed out" "the file system: error, timed out"
read -r child parent <"$T/bin/hang.pids"
ok "the engine and its child are gone (its whole process group)" \
	test ! -e "/proc/$child" -a ! -e "/proc/$parent"

av garbage0 "$T/garbage0.json" "$T/img/vm.raw"
is "$?" 0 "garbage output, exit status 0: clean, no crash"
av garbage1 "$T/garbage1.json" "$T/img/vm.raw"
is "$?" 2 "garbage output, exit status 'infected': exit 2"
like "$(fsline "$T/garbage1.json")" "^error error .*no detection line could be read" \
	"infected without a readable detection is an error, not clean"

av flood "$T/flood.json" "$T/img/vm.raw"
is "$?" 1 "10 MB of output: the real detection is still found (exit 1)"
is "$(jq -r '.targets[0].detections | map(.path) | join(" ")' "$T/flood.json")" \
	"/home/u/eicar.com" "only the scanned file is reported"
like "$(jq -r '.targets[0].filesystems[0].reason' "$T/flood.json")" \
	"not a scanned file: /nonexistent/file" \
	"detections of files it was not given are errors, not silently dropped"

# A report path on a full file system: a clear error, exit 2, no partial
# file posing as the report (the job's own copy is still written).
mkdir -p "$T/full"
mount -t tmpfs -o size=64k tmpfs "$T/full" || bail_out "cannot mount a tmpfs"
at_exit umount -l "$T/full"
head -c 60000 /dev/zero >"$T/full/filler" 2>/dev/null
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.database="$T/sigs" --no-cache --report "$T/full/report.json" \
	"$T/img/vm.raw" "$T/img/vm.raw" "$T/img/vm.raw" "$T/img/vm.raw" \
	>"$T/full.out" 2>"$T/full.err"
is "$?" 2 "report on a full file system: exit 2 (though EICAR was found)"
like "$(cat "$T/full.err")" "cannot write the report .*No space left on device" \
	"and says why"
is "$(ls -A "$T/full" | grep -v '^filler$')" "" "no partial report (nor temporary file) is left"
umount "$T/full"

# A state directory that cannot be written.
mkdir -p "$T/ro"
mount -t tmpfs -o ro tmpfs "$T/ro" || bail_out "cannot mount a tmpfs"
at_exit umount -l "$T/ro"
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/ro/state" run \
	-o clamav.database="$T/sigs" --no-cache --report "$T/ro.json" \
	"$T/img/vm.raw" >"$T/ro.out" 2>"$T/ro.err"
is "$?" 2 "unwritable state directory: exit 2"
like "$(cat "$T/ro.err")" "cannot create .*$T/ro/state.*Read-only file system" \
	"and says why"
umount "$T/ro"

# The qemu-storage-daemon of a target killed while its file system is
# being scanned: that target is an error, the next one is scanned.
qemu-img convert -O qcow2 "$T/img/vm.raw" "$T/img/vm.qcow2"
av slow "$T/qsd.json" --timeout 60 "$T/img/vm.qcow2" "$T/img/vm.raw" &
run=$!
qsd=
for _ in $(seq 100); do
	# (It names the image by descriptor; its FUSE export lies under $T.)
	qsd=$(pgrep -f "qemu-storage-daemon.*$T/" | head -1)
	[ -n "$qsd" ] && pgrep -f "$T/bin/slow" >/dev/null && break
	sleep 0.1
done
[ -n "$qsd" ] && kill -KILL "$qsd"
wait "$run"
is "$?" 2 "qemu-storage-daemon killed mid-scan: exit 2"
is "$(jq -r '[.targets[].status] | join(" ")' "$T/qsd.json")" "error clean" \
	"its target is an error, the next one is scanned"

# 50 targets, 10 of them corrupt or unreadable, two at a time.
mkdir -p "$T/fifty"
for i in $(seq -w 1 40); do cp --sparse=always "$T/img/vm.raw" "$T/fifty/good$i.raw"; done
qemu-img convert -O qcow2 "$T/img/vm.raw" "$T/fifty/bad01.qcow2"
dd if=/dev/urandom of="$T/fifty/bad01.qcow2" bs=1 seek=8 count=64 conv=notrunc status=none
qemu-img create -q -f qcow2 -u -b missing-base.qcow2 -F qcow2 "$T/fifty/bad02.qcow2" 16M
qemu-img convert -O qcow2 "$T/img/vm.raw" "$T/fifty/bad03.qcow2"
truncate -s 200k "$T/fifty/bad03.qcow2"
head -c 1M /dev/urandom >"$T/fifty/bad04.raw"
head -c 100000 "$T/img/vm.raw" >"$T/fifty/bad05.raw"
printf 'QFI\xfb' >"$T/fifty/bad06.qcow2"
cp "$T/img/vm.raw" "$T/fifty/bad07.raw"
dd if=/dev/zero of="$T/fifty/bad07.raw" bs=1024 seek=1 count=1 conv=notrunc status=none
qemu-img create -q -f qcow2 "$T/fifty/bad08.qcow2" 16M
truncate -s 100 "$T/fifty/bad08.qcow2"
printf 'KDMV' >"$T/fifty/bad09.vmdk"
head -c 65536 /dev/urandom >>"$T/fifty/bad09.vmdk"
sums() { (cd "$T/fifty" && find . -type f -print0 | sort -z | xargs -0 sha256sum --); }
sums >"$T/fifty.sums"
mkfifo "$T/fifty/bad10.raw"
timeout 600 "$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.database="$T/sigs" --cache "$T/cache.sqlite" --jobs 2 \
	--report "$T/fifty.json" "$T"/fifty/good*.raw "$T"/fifty/bad* \
	>"$T/fifty.out" 2>"$T/fifty.err"
is "$?" 1 "50 targets, 10 corrupt: exit 1 (found, in the good ones)"
is "$(jq '.targets | length' "$T/fifty.json")" 50 "all 50 are in the report"
is "$(jq -r '[.targets[] | select(.name | startswith("good")) | .status] | unique | join(" ")' "$T/fifty.json")" \
	infected "the 40 good ones are scanned (and their EICAR found)"
is "$(jq -r '[.targets[] | select(.name | startswith("bad")) | select(.reason != null or ([.filesystems[]? | select(.status != "scanned" and .reason != null)] | length > 0))] | length' "$T/fifty.json")" \
	10 "each of the 10 corrupt ones says why it was not (fully) scanned"
is "$(jq -r '[.targets[] | select(.name | startswith("bad")) | .status] | map(select(. == "infected")) | length' "$T/fifty.json")" \
	0 "none of them claims a detection"
is "$(sums | diff - "$T/fifty.sums" && echo same)" \
	same "no image changed"

is "$(sha256sum <"$T/img/vm.raw")" "$sha_before" "the test image is unchanged"
is "$(leftovers)" "" "nothing left behind"
done_testing
