#!/bin/bash
# Memcheck (issue #7): a batch of three images (a GPT qcow2 read through a
# qemu-storage-daemon export with ext4 and FAT16, an MBR raw disk with ext4
# and NTFS, and the hostile raw disk with shell-payload, newline and
# non-UTF-8 names) scanned with clamscan, avbatch itself under valgrind
# (its children run natively): with an empty verdict cache, again with the
# warm cache, and inspect.  No memory error, no definite or indirect leak,
# the right report, nothing left behind.  Not in a sanitizer build:
# valgrind cannot run an ASan binary.  (valgrind 3.19 has no pidfd_open:
# under it avbatch waits for children through SIGCHLD alone.)
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd valgrind qemu-img qemu-storage-daemon clamscan jq base64 sha256sum timeout

bin=$top_builddir/src/avbatch
[ -x "$bin" ] || bail_out "no $bin"
if grep -qa __asan_init "$bin"; then
	skip_all "sanitizer build: valgrind and ASan do not mix"
fi

plan 17

mkdir -p "$T/demo" "$T/hostile"
fx_demo "$T/demo" || bail_out "cannot build the demo images"
fx_hostile "$T/hostile" || bail_out "cannot build the hostile image"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
images=("$T/demo/demo-gpt.qcow2" "$T/demo/demo-mbr.raw" "$T/hostile/hostile.raw")
sums_before=$(sha256sum "${images[@]}")

# memcheck NAME ARG...: run avbatch ARG... under memcheck, its log in
# $T/NAME.vg.PID, stdout in $T/NAME.out, stderr in $T/NAME.err; sets rc.
# Leaks that count: definite and indirect (what avbatch lost); "possibly"
# and "still reachable" are left to the libraries' own caches.
memcheck() {
	local name=$1
	shift
	timeout 1200 valgrind --tool=memcheck --leak-check=full \
		--errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --error-exitcode=99 \
		--trace-children=no --child-silent-after-fork=yes \
		--num-callers=30 \
		--suppressions="$top_srcdir/tests/valgrind.supp" \
		--log-file="$T/$name.vg.%p" \
		"$bin" --config "$T/.avbatch.conf" \
		--engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		"$@" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
}

# clean NAME DESC: memcheck's summary of run NAME says nothing was wrong.
clean() {
	local log
	log=$(cat "$T/$1".vg.* 2>/dev/null)
	like "$log" 'ERROR SUMMARY: 0 errors from 0 contexts' \
		"$2: no memory errors, no definite or indirect leaks" ||
		diag "$(grep -v -e '^==[0-9]*== *$' -e '^--[0-9]*--' \
			<<<"$log" | head -n 80)"
}

run_args=(run --engine clamav -o clamav.database="$T/sigs"
	--cache "$T/cache.sqlite" --delta)

memcheck cold "${run_args[@]}" --report "$T/report.json" "${images[@]}"
is "$rc" 1 "run under valgrind exits 1 (detections; 99 is a memcheck error)" ||
	_diag_file "$T/cold.err"
clean cold "run, empty cache"

r=$T/report.json
ok "the report is valid JSON" jq -e . "$r"
is "$(jq -r '[.targets[] | .name + " " + .status] | join(", ")' "$r")" \
	"demo-gpt.qcow2 infected, demo-mbr.raw infected, hostile.raw infected" \
	"three targets, each infected"
is "$(jq -r '[.targets[].filesystems[] | .id + ":" + .status] | join(" ")' "$r")" \
	"p1:scanned p2:scanned p1:scanned p2:scanned p1:scanned" \
	"every file system scanned"
demo_want=$(printf '%s\t%s\t%s\n' \
	demo-gpt.qcow2 p1 '/home/bob/My Files/eicar.com' \
	demo-gpt.qcow2 p2 '/Program Files/Demo App/clam.exe' \
	demo-mbr.raw p1 '/var/www/up loads/eicar.com' \
	demo-mbr.raw p2 '/Users/Carol/Desk top/clam.pdf' | LC_ALL=C sort)
demo_got() {
	jq -r '.targets[] | select(.name != "hostile.raw") | .name as $n |
		.detections[] | [$n, .fs, .path] | @tsv' "$1" | LC_ALL=C sort
}
hostile_got() {
	jq -r '.targets[] | select(.name == "hostile.raw") | .detections[] |
		(.path_b64 // (.path | @base64))' "$1" | LC_ALL=C sort
}
is "$(demo_got "$r")" "$demo_want" "the demo disks: exactly their four planted files"
is "$(hostile_got "$r")" "$(cat "$T/hostile/expect.detections")" \
	"the hostile disk: exactly its planted files, by their exact bytes"

# The same batch again: every verdict comes from the cache.
memcheck warm "${run_args[@]}" --report "$T/warm.json" "${images[@]}"
is "$rc" 1 "the warm run under valgrind exits 1" || _diag_file "$T/warm.err"
clean warm "run, warm cache"
is "$(demo_got "$T/warm.json"; hostile_got "$T/warm.json")" \
	"$(demo_got "$r"; hostile_got "$r")" "the warm run reports the same detections"
like "$(jq -r '[.targets[].filesystems[].files.cached] | add' "$T/warm.json")" \
	'^[1-9]' "the warm run takes verdicts from the cache"

# A signature added (matching nothing): content cached clean is checked
# with it alone, by a second clamscan (#20).
printf 'Test.Delta.NDB:0:*:%s\n' "$(printf avbatch-valgrind-delta | od -An -v -tx1 | tr -d ' \n')" \
	>"$T/sigs/delta.ndb"
memcheck delta "${run_args[@]}" --report "$T/delta.json" "${images[@]}"
is "$rc:$(jq -r '.engines[0].signature_update.change' "$T/delta.json")" "1:delta" \
	"after a signature update: a delta run under valgrind" || _diag_file "$T/delta.err"
clean delta "run, delta after an update"

memcheck inspect inspect --json "${images[@]}"
is "$rc" 0 "inspect under valgrind exits 0" || _diag_file "$T/inspect.err"
clean inspect "inspect"

is "$(sha256sum "${images[@]}")" "$sums_before" "no image changed"
is "$(leftovers)" "" "nothing left mounted, attached or running"

done_testing
