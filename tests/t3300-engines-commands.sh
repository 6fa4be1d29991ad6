#!/bin/bash
# avbatch engines list / show / check and avbatch update.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan yara jq

plan 20

E=$top_srcdir/engines
av() { "$AVBATCH" --engines-dir "$E" --state-dir "$T/state" "$@"; }

av engines list >"$T/list" 2>&1
like "$(grep '^clamav ' "$T/list")" 'usable: /[^ ]*/clamscan$' "list: clamav is usable, with its binary"
like "$(grep '^kaspersky ' "$T/list")" "not usable: 'kesl-control' not found in PATH" \
	"list: an absent vendor is not usable, and why"
is "$(grep -c . "$T/list")" "$(ls "$E"/*.ini | wc -l)" "list: one line per descriptor"

fx_sigdb "$T/sig" || bail_out "cannot write test signatures"
av engines check clamav -o clamav.database="$T/sig" >"$T/check" 2>&1
is "$?" 0 "check clamav: exit 0"
like "$(cat "$T/check")" '^clamav +usable: /[^ ]*/clamscan, ClamAV [0-9.]+' \
	"check clamav: names the binary and its version"
printf 'rule r { strings: $a = "x-not-in-clean-files-x" condition: $a }\n' >"$T/rules.yar"
av engines check yara -o yara.rules="$T/rules.yar" >"$T/check" 2>&1
like "$?:$(cat "$T/check")" '^0:yara +usable: /[^ ]*/yara, 4\.' "check yara: usable, with its version"
av engines check kaspersky >"$T/check" 2>&1
like "$?:$(cat "$T/check")" "^2:kaspersky +not usable: 'kesl-control' not found in PATH" \
	"check kaspersky: exit 2, not usable, and why"
av engines check clamav yara kaspersky -o clamav.database="$T/sig" \
	-o yara.rules="$T/rules.yar" >"$T/check" 2>&1
is "$?" 2 "check of several engines exits 2 while one is unusable"
is "$(grep -cE '^[a-z-]+ +usable: ' "$T/check")/$(grep -c 'not usable' "$T/check")" "2/1" \
	"check says which of them are usable"

# update: a descriptor whose signature version is a file its update bumps.
mkdir -p "$T/eng" "$T/db" "$T/bin"
echo 41 >"$T/db/version"
cat >"$T/bin/fakeupd" <<'SH'
#!/bin/sh
# A stand-in updater: bumps the signature version in the database dir.
v=$(cat "$1/version"); echo $((v + 1)) >"$1/version"; echo "updated to $((v + 1))"
SH
chmod 0755 "$T/bin/fakeupd"
cat >"$T/eng/fake.ini" <<INI
[engine]
name = fake
binary = /bin/cat
[options]
database = $T/db
[actions]
scan = {binary} -- {target}
version = {binary} {database}/version
update = $T/bin/fakeupd {database}
[result]
clean = 0
detection = ^(.*): ([^ ]+) FOUND\$
detection_path = 1
detection_threat = 2
INI
chmod 0644 "$T/eng/fake.ini"
"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" update --engine fake >"$T/upd" 2>"$T/upd.err"
is "$?" 0 "update: exit 0 when the update action succeeds"
is "$(cat "$T/upd")" "fake: before: 41
fake: after:  42
update: 1 engine(s), 0 failed" "update prints the signature version before and after, and a summary"
like "$(cat "$T/upd.err")" "fake: running $T/bin/fakeupd \\(output in $T/state/fake.update.log\\)" \
	"it says what it runs and where its output goes before it waits"
is "$(cat "$T/db/version")" 42 "the update action ran once"

# An update that fails after much output (freshclam's retries without a
# network): the last lines, where the rest is, the version it stays at.
cat >"$T/bin/failupd" <<'SH'
#!/bin/sh
for i in $(seq 1 45); do echo "retry $i: cannot reach the mirror"; done
exit 1
SH
chmod 0755 "$T/bin/failupd"
sed "s|^update = .*|update = $T/bin/failupd|" "$T/eng/fake.ini" >"$T/eng/fail.ini"
sed -i 's/^name = fake/name = fail/' "$T/eng/fail.ini"
"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" update --engine fail >"$T/upd" 2>"$T/upd.err"
is "$?" 2 "a failed update exits 2"
is "$(cat "$T/upd")" "fail: before: 42
fail: after:  42 (unchanged: the update failed)
update: 1 engine(s), 1 failed" "it still says the version after, and sums up"
ok "stderr shows the last 5 of its 45 lines and where all of them are" \
	test "$(grep -c '^  | retry' "$T/upd.err")" = 5 -a \
	"$(grep -c "all in $T/state/fail.update.log" "$T/upd.err")" = 1 -a \
	"$(grep -c 'retry 45:' "$T/upd.err")" = 1 -a \
	"$(grep -c . "$T/state/fail.update.log")" = 45
# A hanging update action ends at --timeout.
printf '#!/bin/sh\nsleep 600\n' >"$T/bin/hangupd"
chmod 0755 "$T/bin/hangupd"
sed "s|^update = .*|update = $T/bin/hangupd|; s/^name = fake/name = hang/" "$T/eng/fake.ini" >"$T/eng/hang.ini"
start=$SECONDS
"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" update --engine hang --timeout 2 >"$T/upd" 2>"$T/upd.err"
like "$?:$((SECONDS - start)):$(cat "$T/upd.err")" "^2:[2-9]:.*did not finish in 2 s" \
	"update --timeout ends a hanging update action"
is "$(pgrep -f "$T/bin/hangupd")" "" "and the update program is gone"

# A real freshclam cannot reach its mirrors here (or lacks permission).
mkdir -p "$T/cdb"
av update --engine clamav -o clamav.database="$T/cdb" >"$T/upd" 2>"$T/upd.err"
like "$?:$(grep -v ' running ' "$T/upd.err" | head -1)" "^2:avbatch: update of 'clamav': /[^ ]*freshclam failed" \
	"a failing update exits 2 and says which program failed"
av update --engine yara >"$T/upd" 2>&1
like "$?:$(cat "$T/upd")" '^0:yara: nothing to update' "an engine without an update action has nothing to do"
done_testing
