#!/bin/bash
# Layouts that are easy to misread: exFAT over a whole disk (its boot
# sector's 55 AA looks like an empty DOS table), a GPT written for 4096-byte
# logical sectors (4Kn), and data behind an empty DOS table, which must
# never make a target "clean".
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan jq fdisk mkfs.exfat mount.exfat-fuse mkfs.ext4

plan 9

fx_layouts "$T/img" || bail_out "cannot build the test images"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
# An MBR signature and no partition, in front of data no tool knows.
head -c 4M /dev/urandom >"$T/img/junk.raw"
dd if=/dev/zero of="$T/img/junk.raw" bs=1 seek=446 count=64 conv=notrunc \
	status=none
printf '\x55\xaa' | dd of="$T/img/junk.raw" bs=1 seek=510 conv=notrunc \
	status=none
(cd "$T/img" && sha256sum ./*.raw) >"$T/sums.before"

run() {
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run --engine clamav -o clamav.database="$T/sigs" \
		--report "$T/report.json" "$@" >"$T/out" 2>"$T/err"
}

run "$T/img/exfat.raw" "$T/img/gpt4k.raw"
is "$?" 1 "run exits 1: found" || _diag_file "$T/err"
is "$(jq -r '.targets[] | select(.name == "exfat.raw") | .filesystems[] |
	[.id, .type, .status] | @tsv' "$T/report.json")" \
	"whole	exfat	scanned" "the whole-disk exFAT is the file system 'whole'"
is "$(jq -r '.targets[] | select(.name == "exfat.raw") | .detections[] |
	[.fs, .path] | @tsv' "$T/report.json")" \
	"whole	/docs/eicar.com" "the EICAR on the exFAT is found"
is "$(jq -r '.targets[] | select(.name == "gpt4k.raw") |
	[.partition_table, .sector_size] | @tsv' "$T/report.json")" \
	"gpt	4096" "the 4Kn GPT is read, with its sector size"
is "$(jq -r '.targets[] | select(.name == "gpt4k.raw") | .filesystems[] |
	[.id, .type, .offset, .status] | @tsv' "$T/report.json")" \
	"p1	ext4	1048576	scanned" "its partition lies at sector 256 of 4096 bytes"
is "$(jq -r '.targets[] | select(.name == "gpt4k.raw") | .detections[] |
	[.fs, .path] | @tsv' "$T/report.json")" \
	"p1	/home/alice/eicar.com" "the EICAR on the 4Kn disk is found"

run "$T/img/junk.raw"
is "$?" 2 "data behind an empty DOS table: exit 2, not clean" ||
	_diag_file "$T/err"

(cd "$T/img" && sha256sum ./*.raw) >"$T/sums.after"
is "$(cat "$T/sums.after")" "$(cat "$T/sums.before")" "no image changed"
is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
