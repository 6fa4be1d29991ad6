#!/bin/bash
# The quarantine store (#17 item 4): items put by the pipeline's own code
# (tests/unit/quarantine-put, as clean will) are listed, shown and
# exported; a host scanner finds nothing in the store but finds the
# exported file; the store is 0700 and its files 0600; a symlinked,
# shared or foreign store is refused, and so is an id that leaves it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures.sh"
need_root
need_cmd clamscan jq setpriv sha256sum
PUT=$top_builddir/tests/unit/quarantine-put
[ -x "$PUT" ] || skip_all "tests/unit/quarantine-put is not built (make check builds it)"
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)

fx_sigdb "$T/sigs" || bail_out "cannot build the test signatures"
mkdir "$T/host"
fx_eicar "$T/host/eicar.com" || bail_out "cannot write EICAR"
chmod 0751 "$T/host/eicar.com"
touch -d '2020-02-03 04:05:06.123456789' "$T/host/eicar.com"
setfattr -n user.origin -v guest "$T/host/eicar.com" 2>/dev/null
sum=$(sha256sum <"$T/host/eicar.com") sum=${sum%% *}
Q=$T/lib/quarantine
QA=(--quarantine "$Q")

# clamscan with the test signatures only: its exit status (0 clean, 1 found).
scan() {
	clamscan --no-summary --database="$T/sigs" -r "$@" >"$T/scan.out" 2>&1
}

plan 45

printf 'clean main data\n' >"$T/host/readme.txt"
# EICAR as the file and as its NTFS stream payload.exe (a stream of
# readme.txt in the second item).
id=$("$PUT" "$Q" "$T/host/eicar.com" /home/alice/eicar.com Eicar-Test-Signature 2>"$T/put.err")
like "$id" '^[0-9]{8}T[0-9]{6}-[0-9a-f]{16}$' "an item is put (id time-random)" ||
	diag "$(cat "$T/put.err")"
sid=$("$PUT" "$Q" "$T/host/readme.txt" /Docs/readme.txt Eicar-Test-Signature \
	payload.exe="$T/host/eicar.com" 2>>"$T/put.err")
like "$sid" '^[0-9]{8}T[0-9]{6}-[0-9a-f]{16}$' "an item with a named stream is put" ||
	diag "$(cat "$T/put.err")"
is "$(stat -c '%a %U' "$Q")" "700 root" "the store is created 0700, root's"
is "$(stat -c '%a' "$Q/$id.data") $(stat -c '%a' "$Q/$id.json")" "600 600" \
	"content and record are 0600"

out=$("$AVBATCH" quarantine list "${QA[@]}" 2>&1)
like "$out" "(^|"$'\n'")$id Eicar-Test-Signature /srv/vm/test.qcow2 p1:/home/alice/eicar.com($|"$'\n'")" \
	"list: id, threat, image, fs and guest path"
"$AVBATCH" quarantine list --json "${QA[@]}" >"$T/list.json" 2>&1
is "$(jq -r --arg id "$id" '.[] | select(.id == $id) | .sha256' "$T/list.json")" "$sum" \
	"list --json: the original's sha256"
is "$(jq -r --arg id "$sid" '.[] | select(.id == $id) | .streams[0] | "\(.name) \(.size) \(.sha256)"' "$T/list.json")" \
	"payload.exe 68 $sum" "... a stream's name, size and sha256"
is "$(jq -r --arg id "$id" '.[] | select(.id == $id) | "\(.size) \(.mode % 4096) \(.mtime.sec) \(.mtime.nsec)"' "$T/list.json")" \
	"68 $((8#751)) $(date -d '2020-02-03 04:05:06' +%s) 123456789" \
	"... its size, mode and mtime to the nanosecond"
is "$(jq -r '.[].cipher' "$T/list.json")" $'null\nnull' "... and not the cipher key"
if getfattr -n user.origin "$T/host/eicar.com" >/dev/null 2>&1; then
	is "$(jq -r --arg id "$id" '.[] | select(.id == $id) | .xattrs["user.origin"]' "$T/list.json" | base64 -d)" "guest" \
		"... its xattrs (value in base64)"
else
	skip "no user xattrs on $T"
fi

out=$("$AVBATCH" quarantine show "${QA[@]}" "$id" 2>&1)
like "$out" $'(^|\n)path: +/home/alice/eicar.com\n' "show: the guest path"
like "$out" $'(^|\n)mode: +0751\n' "show: the mode"
like "$out" $'(^|\n)sha256: +'"$sum"$'\n' "show: the sha256"
is "$("$AVBATCH" quarantine show --json "${QA[@]}" "$id" | jq -r .id)" "$id" \
	"show --json: the record"

# What a host scanner sees.
scan "$T/host/eicar.com"
is "$?" 1 "the test signatures find the original (the check below can fail)"
scan "$Q"
is "$?" 0 "clamscan finds nothing in the store" || diag "$(cat "$T/scan.out")"
ok "no byte run of EICAR in the store" \
	bash -c '! grep -rqa "EICAR-STANDARD" "$1"' _ "$Q"

# export
mkdir "$T/out"
ok "export" "$AVBATCH" quarantine export "${QA[@]}" "$id" "$T/out/sample"
ok "the exported file is the original, byte for byte" cmp "$T/host/eicar.com" "$T/out/sample"
is "$(stat -c %a "$T/out/sample")" 600 "it is 0600"
scan "$T/out/sample"
is "$?" 1 "clamscan finds the exported file"
echo keep >"$T/out/other"
ok_not "an existing file is refused" \
	"$AVBATCH" quarantine export "${QA[@]}" "$id" "$T/out/other"
is "$(cat "$T/out/other")" keep "... and kept as it was"
ok "--force replaces it" \
	"$AVBATCH" quarantine export --force "${QA[@]}" "$id" "$T/out/other"
ok "... with the original" cmp "$T/host/eicar.com" "$T/out/other"
like "$("$AVBATCH" quarantine show "${QA[@]}" "$sid")" $'(^|\n)streams: +payload.exe \\(68 bytes\\)' \
	"show lists the streams kept"
ok "export --stream: a stream's bytes" \
	"$AVBATCH" quarantine export --stream payload.exe "${QA[@]}" "$sid" "$T/out/stream"
ok "... the original's" cmp "$T/host/eicar.com" "$T/out/stream"

# A symlink another user planted where the export goes.
chmod 0755 "$T"	# the other user must reach $T/pub
mkdir -m 1777 "$T/pub"
echo victim >"$T/victim"
"${NOBODY[@]}" ln -s "$T/victim" "$T/pub/sample"
out=$("$AVBATCH" quarantine export "${QA[@]}" "$id" "$T/pub/sample" 2>&1)
like "$out" "symbolic link" "an export onto a planted symlink is refused"
"$AVBATCH" quarantine export --force "${QA[@]}" "$id" "$T/pub/sample" 2>/dev/null
is "$(cat "$T/victim"):$(stat -c %F "$T/pub/sample")" "victim:regular file" \
	"with --force the link is replaced, never written through"

# Ids that leave the store; restore.
out=$("$AVBATCH" quarantine show "${QA[@]}" ../quarantine 2>&1)
is "$?:$out" "2:avbatch: '../quarantine' is not a quarantine id" "show ../x is refused"
out=$("$AVBATCH" quarantine restore "${QA[@]}" "$id" 2>&1)
like "$?:$out" '^2:.*not implemented yet' "restore says it is not implemented (exit 2)"

# The store's directory: symlinked, shared, someone else's.
ln -s "$Q" "$T/qlink"
out=$("$AVBATCH" quarantine list --quarantine "$T/qlink" 2>&1)
like "$?:$out" "^2:.*refusing the quarantine store '$T/qlink': it is a symbolic link" \
	"a symlinked store is refused"
"${NOBODY[@]}" mkdir "$T/pub/q"
"${NOBODY[@]}" ln -s "$Q" "$T/pub/q2"
out=$("$PUT" "$T/pub/q2" "$T/host/eicar.com" /x Threat 2>&1)
like "$?:$out" "^1:.*it is a symbolic link" "put refuses a symlink another user planted"
is "$(ls "$Q" | wc -l)" 4 "... and nothing was added to where it points"
out=$("$AVBATCH" quarantine list --quarantine "$T/pub/q" 2>&1)
like "$?:$out" "^2:.*owned by uid $(id -u nobody)" "a store another user owns is refused"
mkdir -m 0700 "$T/ww" && chmod 0777 "$T/ww"
out=$("$AVBATCH" quarantine list --quarantine "$T/ww" 2>&1)
like "$?:$out" "^2:.*mode is 0777" "a world-writable store is refused"
out=$("$PUT" "$T/ww" "$T/host/eicar.com" /x Threat 2>&1)
like "$?:$out" "^1:.*mode is 0777" "... for put as well"

# The configuration's store (quarantine = DIR).
printf '[avbatch]\ncache = none\nquarantine = %s\n' "$Q" >"$T/q.conf"
is "$("$AVBATCH" --config "$T/q.conf" quarantine list | cut -d' ' -f1 | sort)" \
	"$(printf '%s\n' "$id" "$sid" | sort)" \
	"the configuration's quarantine key names the store"

# A damaged record is named; the other items are still listed.
printf '{"kind": "avbatch-quarantine", "schema": 1, "id": [' >"$Q/20261203T000000-0000000000000000.json"
out=$("$AVBATCH" quarantine list "${QA[@]}" 2>&1)
like "$?:$out" "^2:.*record of '20261203T000000-0000000000000000' in '$Q' is damaged.*$id" \
	"list names a damaged record (exit 2) and lists the others"
rm -f "$Q/20261203T000000-0000000000000000.json"

# Damaged content is an error, never a wrong file.
printf '\x01' | dd of="$Q/$id.data" bs=1 seek=40 conv=notrunc status=none
out=$("$AVBATCH" quarantine export "${QA[@]}" "$id" "$T/out/damaged" 2>&1)
like "$?:$out" "^2:.*is damaged" "a damaged content is found on export"
ok_not "... and nothing is written" test -e "$T/out/damaged"

ok "remove" "$AVBATCH" quarantine remove "${QA[@]}" "$id"
ok "... the other" "$AVBATCH" quarantine remove "${QA[@]}" "$sid"
is "$("$AVBATCH" quarantine list "${QA[@]}" 2>&1; ls "$Q")" "" "the items are gone, all their files"
done_testing
