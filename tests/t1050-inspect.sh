#!/bin/bash
# inspect as a user types it: a directory stands for the images in it (as
# for run), sizes for people, and data it could not read is not "ready";
# a file system in the report's form (a label's bytes kept, not lossy).
. "$(dirname "$0")/lib.sh"
need_root
need_cmd mkfs.ext4 qemu-img jq

plan 8
mkdir -p "$T/img" "$T/empty" "$T/t/etc"
echo hello >"$T/t/etc/motd"
truncate -s 32M "$T/img/a.raw"
mkfs.ext4 -q -d "$T/t" "$T/img/a.raw" || bail_out "mkfs failed"
qemu-img convert -O qcow2 "$T/img/a.raw" "$T/img/b.qcow2" || bail_out "qemu-img failed"
echo "not an image" >"$T/img/notes.txt"

"$AVBATCH" --state-dir "$T/state" inspect "$T/img" >"$T/out" 2>"$T/err"
rc=$?
is "$rc:$(grep -c '^/' "$T/out")" "0:2" "inspect DIR inspects the images in it (not notes.txt), exit 0"
like "$(cat "$T/out")" "a.raw: raw, 32.0 MiB, ready" "with the image's size for people"
like "$(cat "$T/out")" $'\n  whole +ext4 +32.0 MiB ' "and each file system's"
"$AVBATCH" --state-dir "$T/state" inspect "$T/empty" >/dev/null 2>"$T/err"
like "$?:$(cat "$T/err")" "^2:.*no disk image in directory" "a directory without images: exit 2, and why"
cp "$T/img/notes.txt" "$T/notes.img"
"$AVBATCH" --state-dir "$T/state" inspect --json "$T/notes.img" >"$T/j" 2>/dev/null
is "$?:$(jq -r '.[0].status' "$T/j")" "2:incomplete" \
	"a text file is not a ready image: incomplete, exit 2 (as run says)"
truncate -s 32M "$T/latin1.raw"
mkfs.ext4 -q -L "$(printf 'caf\351')" "$T/latin1.raw" || bail_out "mkfs failed"
"$AVBATCH" --state-dir "$T/state" inspect --json "$T/latin1.raw" >"$T/j" 2>/dev/null
is "$(jq -r '.[0].filesystems[0].label_b64' "$T/j")" "$(printf 'caf\351' | base64)" \
	"--json: a label that is not UTF-8 keeps its bytes (label_b64), as in the report"
"$AVBATCH" --state-dir "$T/state" inspect "$T/latin1.raw" >"$T/out" 2>/dev/null
like "$(cat "$T/out")" "label 'caf\\\\xe9'" "the text escapes that byte"
is "$(leftovers)" "" "nothing left behind"
done_testing
