#!/bin/bash
# Signature sets (#20): what a ClamAV update added, as a database that real
# clamscan loads and that finds exactly what the added signatures find.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan sigtool sha256sum md5sum

plan 26

E=$top_srcdir/engines
av() { "$AVBATCH" --engines-dir "$E" --state-dir "$T/state" "$@"; }
sigset() { av engines sigset clamav -o clamav.database="$1" "${@:2}"; }
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
# Files clamscan -d DB reports under tree, sorted, as "name: threat".
found() {
	clamscan --no-summary -r -i -d "$1" -- "$T/tree" 2>>"$T/clamscan.err" |
		sed -n "s|^$T/tree/\(.*\): \(.*\) FOUND\$|\1: \2|p" | sort
}

fx_sigdb "$T/db" || bail_out "cannot write test signatures"

# Files each matched by one signature only.
mkdir -p "$T/tree"
fx_eicar "$T/tree/eicar.com"
cp -- "$FX_TESTFILES/clam.exe" "$T/tree/clam.exe"
printf 'a body only the new ndb knows: avbatch-delta-body-7f3a\n' >"$T/tree/body.txt"
printf 'a file the new hsb knows by hash\n' >"$T/tree/hash.bin"
printf 'first avbatch-ldb-part-one, then avbatch-ldb-part-two\n' >"$T/tree/logic.txt"
printf 'nothing here\n' >"$T/tree/clean.txt"

sigset "$T/db" --save "$T/old.set" >"$T/out" 2>&1
like "$?:$(cat "$T/out")" $'^0:engine: clamav\ndigest: [0-9a-f]{64}\nhdb: 3 \\(detect\\)\nndb: 1 \\(detect\\)$' \
	"the old set: 3 hash and 1 body signatures, and its digest"
is "$(found "$T/db")" "$(printf '%s\n' 'clam.exe: Test.ClamExe.HDB.UNOFFICIAL' \
	'eicar.com: Test.EICAR.NDB.UNOFFICIAL')" "the old database finds eicar.com and clam.exe"

# The update: a body (in the changed test.ndb), a hash and a logical signature.
body="Test.Delta.NDB:0:*:$(hex avbatch-delta-body-7f3a)"
sum=$(sha256sum <"$T/tree/hash.bin") sum=${sum%% *}
hash="$sum:$(stat -c %s "$T/tree/hash.bin"):Test.Delta.HSB"
logic="Test.Delta.LDB;Engine:51-255,Target:0;0&1;$(hex avbatch-ldb-part-one);$(hex avbatch-ldb-part-two)"
printf '%s\r\n' "$body" >>"$T/db/test.ndb"
printf '%s\n' "$hash" >"$T/db/test.hsb"
printf '%s\n' "$logic" >"$T/db/test.ldb"

sigset "$T/db" --save "$T/new.set" --since "$T/old.set" --delta "$T/delta" >"$T/out" 2>&1
is "$?" 0 "the new set compared with the old one, its delta written"
like "$(cat "$T/out")" $'\nchange: delta\nadded: 3\nremoved: 0\nallowed: 0\ndelta detections: 3$' \
	"three detections added: a delta"
is "$(cd "$T/delta" && ls)" $'delta.hsb\ndelta.ldb\ndelta.ndb' "the delta: one file per added type"
is "$(cat "$T/delta/delta.ndb")|$(cat "$T/delta/delta.hsb")|$(cat "$T/delta/delta.ldb")" \
	"$body|$hash|$logic" "each holds exactly the added line (CR removed)"

delta=$(found "$T/delta")
is "$delta" "$(printf '%s\n' 'body.txt: Test.Delta.NDB.UNOFFICIAL' \
	'hash.bin: Test.Delta.HSB.UNOFFICIAL' 'logic.txt: Test.Delta.LDB.UNOFFICIAL')" \
	"clamscan with the delta finds exactly the files of the new signatures"
unlike "$delta" 'eicar.com|clam\.exe' "and nothing the old signatures find"
is "$(found "$T/db")" "$(printf '%s\n' \
	'body.txt: Test.Delta.NDB.UNOFFICIAL' 'clam.exe: Test.ClamExe.HDB.UNOFFICIAL' \
	'eicar.com: Test.EICAR.NDB.UNOFFICIAL' 'hash.bin: Test.Delta.HSB.UNOFFICIAL' \
	'logic.txt: Test.Delta.LDB.UNOFFICIAL')" \
	"the full new database finds the old detections and the delta's"
is "$(grep -c 'ERROR\|Error' "$T/clamscan.err")" 0 "clamscan loaded every database without an error"

sigset "$T/db" --since "$T/new.set" >"$T/out" 2>&1
like "$(cat "$T/out")" $'\nchange: same\nadded: 0\nremoved: 0' "no update: the same set"

# Removing a signature and allowing a file never forces a rescan of clean content.
rm -f -- "$T/db/test.ldb"
sum=$(md5sum <"$T/tree/hash.bin") sum=${sum%% *}
printf '%s:%s:Test.Delta.HSB\n' "$sum" "$(stat -c %s "$T/tree/hash.bin")" >"$T/db/test.fp"
sigset "$T/db" --save "$T/fp.set" --since "$T/new.set" >"$T/out" 2>&1
like "$?:$(cat "$T/out")" $'^0:.*\nchange: clean-holds\nadded: 0\nremoved: 1\nallowed: 1$' \
	"a removed logical signature and a new .fp entry: clean content holds"
unlike "$(found "$T/db")" 'hash\.bin|logic\.txt' "(the full database indeed no longer finds them)"

# Taking an allow-list entry back can make clean content infected.
rm -f -- "$T/db/test.fp"
sigset "$T/db" --save "$T/nofp.set" --since "$T/fp.set" >"$T/out" 2>&1
like "$(cat "$T/out")" $'\nchange: full\n.*\nwhy: an allow-list entry was removed from .fp$' \
	"an allow-list entry removed: a full rescan"

# Bytecode and files of unknown type: everything changed.
printf 'ClamBCaa`|`\n' >"$T/db/x.cbc"
sigset "$T/db" --since "$T/fp.set" >"$T/out" 2>&1
like "$(cat "$T/out")" $'\nchange: full\n.*\nwhy: .*\\.cbc$' "new bytecode: a full rescan"
rm -f -- "$T/db/x.cbc"
printf 'x\n' >"$T/db/extra.sig2"
sigset "$T/db" --save "$T/unknown.set" --since "$T/fp.set" >"$T/out" 2>&1
like "$(cat "$T/out")" $'\nchange: full\n.*\nwhy: a file of unknown type changed: .sig2$' \
	"a file of unknown type: a full rescan"
printf 'y\n' >"$T/db/extra.sig2"
sigset "$T/db" --since "$T/unknown.set" >"$T/out" 2>&1
like "$(cat "$T/out")" $'\nchange: full\n' "and so is a change to it"
rm -f -- "$T/db/extra.sig2"

# A container (.cud, as sigtool builds one) holds the same set as its files.
mkdir -p "$T/build" "$T/cvd"
for f in ndb hdb hsb; do cp -- "$T/db/test.$f" "$T/build/t.$f"; done
printf 'test\n' >"$T/build/COPYING"
(cd "$T/build" && printf '1\navbatch\n' | sigtool --build=t.cud --unsigned --no-cdiff) \
	>"$T/sigtool.log" 2>&1
cp -- "$T/build/t.cud" "$T/cvd/"
sigset "$T/cvd" --since "$T/nofp.set" >"$T/out" 2>&1
like "$?:$(cat "$T/out")" $'^0:.*\nchange: same\nadded: 0\nremoved: 0' \
	"a container unpacked: the same set as its files"
is "$(found "$T/cvd")" "$(printf '%s\n' 'body.txt: Test.Delta.NDB.UNOFFICIAL' \
	'clam.exe: Test.ClamExe.HDB.UNOFFICIAL' 'eicar.com: Test.EICAR.NDB.UNOFFICIAL' \
	'hash.bin: Test.Delta.HSB.UNOFFICIAL')" "(clamscan loads that container)"
is "$(ls -A "$T/state")" "" "no unpacked container is left behind"

# A container of whole-file types only (as bytecode.cvd): the delta keeps it
# whole, signed as it is, beside the pieces of the other containers.
mkdir -p "$T/build2"
printf 'test\n' >"$T/build2/COPYING"
printf '0:0:7a7a7a7a7a7a:avbatch test type:CL_TYPE_ANY:CL_TYPE_TEXT_ASCII\n' >"$T/build2/w.ftm"
(cd "$T/build2" && printf '1\navbatch\n' | sigtool --build=w.cud --unsigned --no-cdiff) \
	>>"$T/sigtool.log" 2>&1
cp -- "$T/build2/w.cud" "$T/cvd/"
sigset "$T/cvd" --save "$T/cvd.set" >/dev/null 2>&1
printf 'Test.Delta2.NDB:0:*:%s\n' "$(hex avbatch-delta-two)" >"$T/cvd/local.ndb"
sigset "$T/cvd" --since "$T/cvd.set" --delta "$T/delta2" >"$T/out" 2>&1
like "$?:$(cat "$T/out")" $'^0:.*\nchange: delta\nadded: 1\n' "a container of whole-file types unchanged, a body added: delta"
is "$(cd "$T/delta2" && ls)" $'delta.ndb\nw.cud' "the delta: the added line, and that container as it is"
printf 'x avbatch-delta-two x\n' >"$T/two.txt"
like "$(clamscan --no-summary -d "$T/delta2" "$T/two.txt" 2>&1)" "^$T/two.txt: Test.Delta2.NDB.UNOFFICIAL FOUND\$" \
	"clamscan loads that delta"

head -c 4096 /dev/urandom >"$T/cvd/bad.cvd"
sigset "$T/cvd" >"$T/out" 2>&1
like "$?:$(cat "$T/out")" "^2:avbatch: '$T/cvd/bad.cvd' is not a ClamAV database container \\(bad header\\)$" \
	"a container with a bad header: a clear error"
printf 'ClamAV-VDB:%0501d' 0 >"$T/cvd/bad.cvd"
sigset "$T/cvd" >"$T/out" 2>&1
like "$?:$(cat "$T/out")" "^2:avbatch: sigtool cannot unpack '$T/cvd/bad.cvd': " \
	"a container sigtool refuses: its error"

is "$(leftovers)" "" "nothing left behind"
