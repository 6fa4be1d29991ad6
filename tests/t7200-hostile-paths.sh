#!/bin/bash
# Files avbatch writes on the host (report, cache, state) against another
# user who plants things in a sticky directory (played by nobody), and
# against output paths that name a target: the report's temporary cannot
# be planted (a file or a FIFO), a symlink at the report path is not
# written through, an existing directory is never chmodded, no output may
# be a target or a file of its backing chain, an existing file that is not
# a report is replaced only with --force, and the report path is checked
# before any scan.  With --report -, stdout is the report alone.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd jq mkfs.ext4 qemu-img setpriv timeout

plan 57

as_nobody() {	# as_nobody CMD [ARG...]: the other user's part
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

# nobody must reach the sticky directories under $T (mktemp made it 0700).
chmod 0711 "$T"
mkdir -p "$T/img" "$T/tree/etc" "$T/bin" "$T/eng"
echo "clean" >"$T/tree/etc/motd"
truncate -s 16M "$T/img/vm.raw"
mkfs.ext4 -q -F -d "$T/tree" "$T/img/vm.raw" || bail_out "mkfs failed"
mkdir -p "$T/img2"
cp "$T/img/vm.raw" "$T/img2/fresh.raw"	# for the checks after item 6
qemu-img create -q -f qcow2 -b "$T/img/vm.raw" -F raw "$T/img/over.qcow2" ||
	bail_out "qemu-img create failed"
sha_vm=$(sha256sum <"$T/img/vm.raw")
sha_over=$(sha256sum <"$T/img/over.qcow2")

# A clean engine that notes each run; "rmreports" also removes a directory
# the report is to be written in, so that writing it fails after the scan.
printf '#!/bin/bash\necho ran >>%q\nexit 0\n' "$T/ran" >"$T/bin/nop"
printf '#!/bin/bash\nrm -rf %q\nexit 0\n' "$T/gone" >"$T/bin/rmreports"
chmod 0755 "$T"/bin/*
fx_engine "$T/eng" nop "$T/bin/nop"
fx_engine "$T/eng" rmreports "$T/bin/rmreports"

av() {	# av ARGS...: a run with the nop engine (state in $STATE, if set);
	# its output in $T/out and $T/err
	"$AVBATCH" --engines-dir "$T/eng" --state-dir "${STATE:-$T/state}" run \
		--engine nop "$@" >"$T/out" 2>"$T/err"
}
sticky() {	# sticky DIR: a directory like /tmp
	mkdir -p "$1" && chmod 1777 "$1"
}

# ---- Issue #13 item 4: the report's temporary file.
sticky "$T/pub"
as_nobody sh -c 'echo planted >"$1"' sh "$T/pub/r1.json.tmp"
av --report "$T/pub/r1.json" "$T/img/vm.raw"
is "$?" 0 "a report beside a planted REPORT.tmp: written"
is "$(stat -c %U:%a "$T/pub/r1.json")" "root:600" \
	"the report is root's own file, not the planter's"
is "$(jq -r .tool.name "$T/pub/r1.json")" avbatch "and it is the report"
is "$(cat "$T/pub/r1.json.tmp")" planted "the planted file is not written"

as_nobody mkfifo "$T/pub/r2.json.tmp"
timeout -k 5 60 "$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" \
	run --engine nop --report "$T/pub/r2.json" "$T/img/vm.raw" \
	>"$T/out" 2>"$T/err"
is "$?" 0 "a FIFO planted at REPORT.tmp does not block the batch"
is "$(jq -r .tool.name "$T/pub/r2.json" 2>/dev/null)" avbatch \
	"and the report is written"
is "$(ls -A "$T/pub" | sort | tr '\n' ' ')" \
	"r1.json r1.json.tmp r2.json r2.json.tmp " \
	"no temporary file is left beside the reports"

# A symlink planted at the report path itself.
echo precious >"$T/victim"
as_nobody ln -s "$T/victim" "$T/pub/r3.json"
av --report "$T/pub/r3.json" "$T/img/vm.raw"
is "$?" 2 "a symlink at the report path is refused"
like "$(cat "$T/err")" "report '$T/pub/r3.json'.*symbolic link" "and says why"
is "$(cat "$T/victim")" precious "nothing is written through it"
av --force --report "$T/pub/r3.json" "$T/img/vm.raw"
is "$?" 0 "with --force, the link is replaced"
is "$(cat "$T/victim")$(stat -c %F:%U "$T/pub/r3.json")" \
	"preciousregular file:root" "by a report, still not written through"

# ---- Issue #13 item 5: existing directories are not chmodded.
sticky "$T/pubstate"
STATE="$T/pubstate" av "$T/img/vm.raw"
is "$?" 0 "a sticky 1777 state directory is used"
is "$(stat -c %a "$T/pubstate")" 1777 "and left 1777"
is "$(stat -c %U:%a "$T/pubstate/jobs")" "root:700" \
	"the directory avbatch made in it is private"

sticky "$T/pubcache"
av --cache "$T/pubcache/c.sqlite" "$T/img/vm.raw"
is "$?$(ls -A "$T/pubcache")" 2 \
	"--cache in a sticky directory is refused (SQLite names its journals beside it)"
is "$(stat -c %a "$T/pubcache")" 1777 "and the directory is left 1777"
like "$(cat "$T/err")" "cache '$T/pubcache/c.sqlite'.*writable by others" "and says why"

mkdir -p "$T/open"
chmod 0777 "$T/open"
STATE="$T/open" av "$T/img/vm.raw"
is "$?" 2 "a state directory anyone may write (not sticky) is refused"
like "$(cat "$T/err")" "cannot create the job directory '$T/open/" "and says why"
is "$(stat -c %a "$T/open")" 777 "and left as it is"

sticky "$T/pub2"
as_nobody mkdir "$T/pub2/jobs"
STATE="$T/pub2" av "$T/img/vm.raw"
is "$?" 2 "a jobs directory planted by another user is refused"
like "$(cat "$T/err")" "cannot create the job directory '$T/pub2/jobs" "and says why"
is "$(stat -c %U:%a "$T/pub2/jobs")" "nobody:755" "and left as it is"

mkdir -p "$T/cachedir"
chmod 0755 "$T/cachedir"
av --cache "$T/cachedir/c.sqlite" "$T/img/vm.raw"
is "$?$(stat -c %a "$T/cachedir")" "0755" \
	"an existing cache directory of root's is used and not chmodded"
is "$(stat -c %U:%a "$T/cachedir/c.sqlite")" "root:600" "the cache file is private"

# ---- Issue #13 item 6: no output may be a target or a chain file.
rm -f "$T/ran"
av --report "$T/img/vm.raw" "$T/img/vm.raw"
is "$?" 2 "--report naming the target is refused"
like "$(cat "$T/err")" "report '$T/img/vm.raw'.*target" "and says why"
av --force --report "$T/img/over.qcow2" "$T/img/vm.raw" "$T/img/over.qcow2"
is "$?" 2 "even with --force"
av --report "$T/img/vm.raw" "$T/img/over.qcow2"
is "$?" 2 "--report naming a target's backing file is refused"
like "$(cat "$T/err")" "refusing the report '$T/img/vm.raw': .*backing chain" "and says why"
ln -s "$T/img/vm.raw" "$T/pub/link"
av --force --report "$T/pub/link" "$T/img/over.qcow2"
is "$?" 2 "a symlink to a backing file is refused, even with --force"
ln "$T/img/vm.raw" "$T/img/hard"
av --force --report "$T/img/hard" "$T/img/vm.raw"
is "$?" 2 "a hard link to a target is refused, even with --force"
av --report "$T/new.json" --cache "$T/img/vm.raw" "$T/img/vm.raw"
is "$?" 2 "--cache naming a target is refused"
like "$(cat "$T/err")" "refusing the cache '$T/img/vm.raw': .*target" "and says why"
STATE="$T/img/vm.raw" av --report "$T/new.json" "$T/img/vm.raw"
is "$?" 2 "--state-dir naming a target is refused"
like "$(cat "$T/err")" "cannot create the job directory .*Not a directory" "and says why"
is "$(sha256sum <"$T/img/vm.raw") $(sha256sum <"$T/img/over.qcow2")" \
	"$sha_vm $sha_over" "the images are unchanged"
ok_not "none of them scanned anything" test -e "$T/ran"

echo "notes" >"$T/notes.txt"
av --report "$T/notes.txt" "$T/img/vm.raw"
is "$?" 2 "an existing file that is not a report is not replaced"
like "$(cat "$T/err")" "not an avbatch report.*--force" "and says why"
is "$(cat "$T/notes.txt")" notes "it is unchanged"
av --report "$T/pub/r1.json" "$T/img/vm.raw"
is "$?" 0 "a previous report is replaced"
av --force --report "$T/notes.txt" "$T/img/vm.raw"
is "$?$(jq -r .tool.name "$T/notes.txt")" 0avbatch "with --force, the file is replaced"

# ---- Issue #18 item 6: the report path is checked before scanning.
rm -f "$T/ran"
av --report /nonexistent/dir/r.json "$T/img2/fresh.raw"
is "$?" 2 "a report in a missing directory: exit 2"
like "$(cat "$T/err")" "report '/nonexistent/dir/r.json'" "and says why"
ok_not "before anything is scanned" test -e "$T/ran"
mkfifo "$T/fifo"
timeout -k 5 60 "$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" \
	run --engine nop --report "$T/fifo" "$T/img2/fresh.raw" >"$T/out" 2>"$T/err"
is "$?" 2 "a FIFO as the report: exit 2, not blocked"
av --force --report /dev/null "$T/img2/fresh.raw"
is "$?" 2 "a device as the report: exit 2, even with --force"
ok_not "neither scanned anything" test -e "$T/ran"

# A report that cannot be written after all: the summary says exit 2 too.
mkdir -p "$T/gone"
"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run \
	--engine rmreports --report "$T/gone/r.json" "$T/img2/fresh.raw" \
	>"$T/out" 2>"$T/err"
is "$?" 2 "a report whose directory vanished during the scan: exit 2"
like "$(tail -n 1 "$T/out")" "^1 target\\(s\\).*, 0 detection\\(s\\).*, exit 2$" \
	"and the summary says the same exit status"

# --report -: stdout is the report alone.
av --report - "$T/img2/fresh.raw"
is "$?" 0 "--report - exits 0"
ok "stdout is pure JSON (the report)" \
	jq -e '.tool.name == "avbatch" and .targets[0].status == "clean"' "$T/out"
like "$(cat "$T/err")" "1 target\\(s\\).*, 0 detection\\(s\\).*, exit 0" \
	"the summary goes to stderr"
av --report - --format json "$T/img2/fresh.raw"
is "$(jq -s length "$T/out")" 1 "--report - --format json: the report once"

is "$(leftovers)" "" "nothing is left behind"
done_testing
