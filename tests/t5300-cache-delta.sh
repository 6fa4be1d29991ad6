#!/bin/bash
# Delta rescans (#20): after a signature update, content cached clean is
# scanned with only the added signatures (a second, small engine instance),
# infected content with all of them, and the batch finds exactly what a
# cold run with the new database finds.  A removed signature turns a cached
# detection clean without rescanning clean content; --no-delta scans
# everything.  With clamscan (clamav) and a managed clamd (clamd).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan clamd clamdscan jq mkfs.ext4 sha256sum md5sum

plan 31

hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# Two files the first signatures find, four only later ones do, the rest clean.
mkdir -p "$T/tree/etc" "$T/tree/home/u"
fx_eicar "$T/tree/home/u/eicar.com"
cp -- "$FX_TESTFILES/clam.exe" "$T/tree/home/u/clam.exe"
printf 'a body only a later ndb knows: avbatch-delta-body-7f3a\n' >"$T/tree/home/u/body.txt"
printf 'a file a later hsb knows by hash\n' >"$T/tree/home/u/hash.bin"
printf 'a file a later hdb knows by MD5\n' >"$T/tree/home/u/md5.bin"
printf 'first avbatch-ldb-part-one, then avbatch-ldb-part-two\n' >"$T/tree/home/u/logic.txt"
printf 'found only by the last update: avbatch-extra-9c1e\n' >"$T/tree/etc/extra.txt"
for i in 1 2 3 4 5; do echo "config $i" >"$T/tree/etc/f$i.conf"; done
truncate -s 16M "$T/disk.raw" && mkfs.ext4 -q -F -d "$T/tree" "$T/disk.raw" ||
	bail_out "cannot make the image"
files=12

body="Test.Delta.NDB:0:*:$(hex avbatch-delta-body-7f3a)"
sum=$(sha256sum <"$T/tree/home/u/hash.bin") sum=${sum%% *}
hash="$sum:$(stat -c %s "$T/tree/home/u/hash.bin"):Test.Delta.HSB"
sum=$(md5sum <"$T/tree/home/u/md5.bin") sum=${sum%% *}
md5="$sum:$(stat -c %s "$T/tree/home/u/md5.bin"):Test.Delta.HDB"
logic="Test.Delta.LDB;Engine:51-255,Target:0;0&1;$(hex avbatch-ldb-part-one);$(hex avbatch-ldb-part-two)"
extra="Test.Extra.NDB:0:*:$(hex avbatch-extra-9c1e)"

run() {	# run ENGINE REPORT [OPTION...]: the image, ENGINE's signatures and cache
	local e=$1 r=$2
	shift 2
	"$AVBATCH" -v --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run --engine "$e" -o "$e.database=$T/$e/sigs" \
		--cache "$T/$e/cache.sqlite" --delta --report "$r" "$@" "$T/disk.raw" \
		>"$r.out" 2>"$r.err"
}
found() {	# found REPORT: "path threat" of each detection, sorted
	jq -r '.targets[].detections[] | "\(.path) \(.threat)"' "$1" | sort
}
counts() {	# counts REPORT: scanned/cached/delta of the file system
	jq -r '.targets[0].filesystems[0].files | "\(.scanned)/\(.cached)/\(.delta // 0)"' "$1"
}
update() {	# update REPORT: what the report says the signature update was
	jq -r '.engines[0].signature_update // {} |
		"\(.change) \(.added) \(.removed) \(.allowed)"' "$1"
}
joblog() {	# joblog REPORT GLOB: the job's log files named so
	find "$T/state/jobs/$(jq -r .job "$1")" -name "$2" | sort
}
listed() {	# listed REPORT ENGINE: the files handed to the full database
	cat $(joblog "$1" "*.$2.list") /dev/null | sed 's|^.*/||' | sort | tr '\n' ' '
}

for e in clamav clamd; do
	fx_sigdb "$T/$e/sigs" || bail_out "cannot write the test signatures"
	run $e "$T/$e-1.json"
	is "$?:$(found "$T/$e-1.json" | tr '\n' ' ')" \
		"1:/home/u/clam.exe Test.ClamExe.HDB.UNOFFICIAL /home/u/eicar.com Test.EICAR.NDB.UNOFFICIAL " \
		"$e: the first run finds what the first signatures know, and caches"

	# An update adds a body, two hash and a logical signature.
	printf '%s\n' "$body" >>"$T/$e/sigs/test.ndb"
	printf '%s\n' "$md5" >>"$T/$e/sigs/test.hdb"
	printf '%s\n' "$hash" >"$T/$e/sigs/test.hsb"
	printf '%s\n' "$logic" >"$T/$e/sigs/test.ldb"
	run $e "$T/$e-2.json"
	st=$?
	run $e "$T/$e-cold.json" --cache "$T/$e/cold.sqlite"
	is "$st:$(found "$T/$e-2.json")" "1:$(found "$T/$e-cold.json")" \
		"$e: after the update, exactly the detections (and threat names) of a cold run"
	is "$(found "$T/$e-2.json" | wc -l)" 6 "$e: ... the two old ones and the four new ones"
	is "$(update "$T/$e-2.json")" "delta 4 0 0" \
		"$e: the report says four detections were added: a delta rescan"
	is "$(counts "$T/$e-2.json")" "6/0/6" \
		"$e: the six clean files were checked by the delta only; six went to the full database"
	is "$(listed "$T/$e-2.json" $e)" "body.txt clam.exe eicar.com hash.bin logic.txt md5.bin " \
		"$e: the full database saw the two cached detections and the delta's four hits"
	is "$(joblog "$T/$e-2.json" "*.$e.delta.list" | wc -l)" 1 \
		"$e: the delta instance scanned a list"
	like "$(cat "$T/$e-2.json.out")" $'scanned  6 files, 6 checked by delta\n' \
		"$e: the text summary says what the delta checked"
	is "$(counts "$T/$e-cold.json")" "$files/0/0" "$e: (the cold run scanned every file)"

	# A removed signature: the cached detection turns clean, clean content
	# stays clean without a scan.
	rm -f -- "$T/$e/sigs/test.ldb"
	run $e "$T/$e-3.json"
	is "$?:$(found "$T/$e-3.json" | tr '\n' ' ')" \
		"1:/home/u/body.txt Test.Delta.NDB.UNOFFICIAL /home/u/clam.exe Test.ClamExe.HDB.UNOFFICIAL /home/u/eicar.com Test.EICAR.NDB.UNOFFICIAL /home/u/hash.bin Test.Delta.HSB.UNOFFICIAL /home/u/md5.bin Test.Delta.HDB.UNOFFICIAL " \
		"$e: a removed signature: its detection is gone"
	is "$(update "$T/$e-3.json") $(counts "$T/$e-3.json")" "clean-holds 0 1 0 6/6/0" \
		"$e: only content cached infected was scanned again"

	# --no-delta: everything is scanned with the full database.
	printf '%s\n' "$extra" >>"$T/$e/sigs/test.ndb"
	run $e "$T/$e-4.json" --no-delta
	is "$?:$(found "$T/$e-4.json" | grep -c .)" "1:6" "$e: --no-delta finds the new detection too"
	like "$(found "$T/$e-4.json")" '/etc/extra.txt Test.Extra.NDB.UNOFFICIAL' "$e: ... extra.txt"
	is "$(update "$T/$e-4.json") $(counts "$T/$e-4.json")" "null null null null $files/0/0" \
		"$e: --no-delta: every file is scanned with all signatures"
	is "$(joblog "$T/$e-4.json" '*.delta.*' | wc -l)" 0 "$e: ... and no delta instance ran"
done

is "$(leftovers)" "" "nothing left behind"
done_testing
