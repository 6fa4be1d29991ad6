#!/bin/bash
# Status that cannot lie (report schema 2): a file over the engine's size
# limit makes its file system `partial` and the target `incomplete`, never
# `scanned`/`clean`; the totals, the text summary and the exit status come
# from the same statuses; files.scanned counts what the engine finished;
# detections carry the SHA-256 of what was scanned (list and tree mode);
# a directory without images and a report that cannot be written fail
# loudly, with the summary line agreeing with the exit status.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan jq mkfs.ext4 sha256sum

plan 34

mkdir -p "$T/img" "$T/big/etc" "$T/inf/etc" "$T/inf/home/u" "$T/bin" \
	"$T/eng" "$T/empty"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
echo "clean" >"$T/big/etc/motd"
# 120 MiB, EICAR in its first bytes: over clamav's default 100 MiB limit.
fx_eicar "$T/big/big.bin"
truncate -s 120M "$T/big/big.bin"
truncate -s 200M "$T/img/big.raw"
mkfs.ext4 -q -F -d "$T/big" "$T/img/big.raw" || bail_out "mkfs failed"
# The same plus a small EICAR that is found: infected, but not complete.
cp -a "$T/big/." "$T/inf/"
fx_eicar "$T/inf/home/u/eicar.com"
truncate -s 200M "$T/img/inf.raw"
mkfs.ext4 -q -F -d "$T/inf" "$T/img/inf.raw" || bail_out "mkfs failed"
# A small image: EICAR and three clean files.
mkdir -p "$T/small/etc" "$T/small/home/u"
for f in a b c; do echo "clean $f" >"$T/small/etc/$f"; done
fx_eicar "$T/small/home/u/eicar.com"
truncate -s 16M "$T/img/small.raw"
mkfs.ext4 -q -F -d "$T/small" "$T/img/small.raw" || bail_out "mkfs failed"
eicar_sha=$(sha256sum <"$T/small/home/u/eicar.com") eicar_sha=${eicar_sha%% *}
echo "just some text, no disk" >"$T/text.img"

# Test engines: one scans a tree (no file list), one dies mid-list.
cat >"$T/bin/tree" <<'EOF'
#!/bin/bash
find "$1" -type f -name eicar.com -printf '%p: Tree.EICAR FOUND\n'
EOF
cat >"$T/bin/dies" <<'EOF'
#!/bin/bash
# Reports the EICAR file, then fails before finishing the list.
while IFS= read -r f; do
	case $f in */eicar.com) printf '%s: Dies.EICAR FOUND\n' "$f"; exit 3 ;; esac
done <"$1"
EOF
chmod +x "$T"/bin/*
fx_engine "$T/eng" dies "$T/bin/dies"
{
	printf '[engine]\nname = tree\nbinary = %s\n' "$T/bin/tree"
	printf '[actions]\nscan = {binary} {target}\n'
	printf '[result]\nclean = 0\ndetection = ^(.*): ([^ ]+) FOUND$\n'
	printf 'detection_path = 1\ndetection_threat = 2\n'
} >"$T/eng/tree.ini"
chmod 0644 "$T/eng/tree.ini"

av() {	# av NAME [ARGS...]: a clamav run; report NAME.json, output NAME.out/err
	local n=$1
	shift
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run -o clamav.database="$T/sigs" --report "$T/$n.json" "$@" \
		>"$T/$n.out" 2>"$T/$n.err"
}
q() {	# q NAME FILTER: jq -r FILTER on NAME.json
	jq -r "$2" "$T/$1.json"
}

# The acceptance case of issue #14.
av big "$T/img/big.raw"
is "$?" 2 "a file over the size limit, nothing found: exit 2" || _diag_file "$T/big.err"
is "$(q big .schema)" 2 "the report is schema 2"
is "$(q big '.targets[0] | [.status, .complete, .filesystems[0].status] | @tsv')" \
	"incomplete	false	partial" \
	"the file system is partial, the target incomplete and not complete"
like "$(q big '.targets[0].filesystems[0].reason')" "size limit" \
	"the file system says what was not covered"
like "$(q big '.targets[0].reason')" "size limit" "so does the target"
is "$(q big '.totals | [.clean, .incomplete, .uncovered] | @tsv')" "0	1	1" \
	"the totals count it incomplete and not fully covered, not clean"
is "$(q big '[.status, .exit_code] | @tsv')" "incomplete	2" \
	"the report's status and exit code agree"
like "$(cat "$T/big.out")" $'big.raw: incomplete' "the text says incomplete"
like "$(tail -n 1 "$T/big.out")" "1 incomplete.*exit 2$" \
	"the text summary counts it incomplete and says exit 2"
is "$(q big '.targets[0].host') $(q big .host)" "$(hostname) $(hostname)" \
	"the target names its host"

# Something found, something not covered: exit 1, but not complete.
av inf "$T/img/inf.raw"
is "$?" 1 "a detection beside a file over the limit: exit 1"
is "$(q inf '.targets[0] | [.status, .complete, .filesystems[0].status] | @tsv')" \
	"infected	false	partial" "infected, and says it is not complete"
is "$(q inf '.totals | [.infected, .uncovered] | @tsv')" "1	1" \
	"the totals count it infected and not fully covered"
is "$(q inf '.targets[0].detections[0].sha256')" "$eicar_sha" \
	"the detection has the SHA-256 of the scanned content"

# Tree mode (no file list, no verdict cache): the detection's SHA-256 too.
"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run --engine tree \
	--no-cache --report "$T/tree.json" "$T/img/small.raw" \
	>"$T/tree.out" 2>"$T/tree.err"
is "$?" 1 "a tree-mode engine finds EICAR" || _diag_file "$T/tree.err"
is "$(q tree '.targets[0].detections[0] | [.path, .sha256] | @tsv')" \
	"/home/u/eicar.com	$eicar_sha" "its detection has the SHA-256 as well"
is "$(q tree '.targets[0] | [.status, .complete, .filesystems[0].status] | @tsv')" \
	"infected	true	scanned" "a fully scanned infected target is complete"

# An engine that dies mid-list: only what it reported on counts as scanned.
"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run --engine dies \
	--no-cache --report "$T/dies.json" "$T/img/small.raw" \
	>"$T/dies.out" 2>"$T/dies.err"
is "$?" 1 "an engine that dies after a detection: exit 1"
is "$(q dies '.targets[0].filesystems[0] | [.status, .files.scanned] | @tsv')" \
	"error	1" "the file system is an error and counts only the file reported on"
is "$(q dies '.totals | [.files_scanned, .uncovered] | @tsv')" "1	1" \
	"the totals count what the engine finished, and the gap"
is "$(q dies '.targets[0] | [.status, .complete] | @tsv')" "infected	false" \
	"the target is infected and not complete"

# A text file named as an image: one status everywhere.
av text "$T/text.img"
is "$?" 2 "a text file as an image: exit 2"
is "$(q text '.targets[0].status') $(q text .totals.clean) $(q text .totals.incomplete)" \
	"incomplete 0 1" "the JSON target and the totals agree: incomplete, not clean"
like "$(head -n 1 "$T/text.out")" "^text.img: incomplete" "so does the text"

# A directory without a single image.
av empty "$T/empty"
is "$?" 2 "a directory without images: exit 2"
like "$(cat "$T/empty.err")" "no disk image.*$T/empty" "and says so"
unlike "$(cat "$T/empty.out")" "exit 0" "no summary claims exit 0"

# A report that cannot be written: summary and exit status agree, and the
# message names the error of the write.
mkdir -p "$T/full"
mount -t tmpfs -o size=64k tmpfs "$T/full" || bail_out "cannot mount a tmpfs"
at_exit umount -l "$T/full"
head -c 1M /dev/zero >"$T/full/filler" 2>/dev/null	# fills it
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.database="$T/sigs" --no-cache --report "$T/full/report.json" \
	"$T/img/small.raw" "$T/img/small.raw" "$T/img/small.raw" \
	>"$T/full.out" 2>"$T/full.err"
is "$?" 2 "report on a full file system: exit 2 (though EICAR was found)"
like "$(tail -n 1 "$T/full.out")" "exit 2$" "the summary line says exit 2 too"
like "$(cat "$T/full.err")" "cannot write the report .*No space left on device" \
	"the message names the error"
umount "$T/full"
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.database="$T/sigs" --no-cache --report "$T/nodir/report.json" \
	"$T/img/big.raw" >"$T/nodir.out" 2>"$T/nodir.err"
is "$?" 2 "report in a missing directory: exit 2"
like "$(cat "$T/nodir.err")" "refusing the report .*No such file or directory" \
	"the message names that error"
is "$(cat "$T/nodir.out")" "" "and it is refused before a scan could claim anything"

is "$(leftovers)" "" "nothing left mounted, attached or running"
