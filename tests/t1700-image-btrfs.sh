#!/bin/bash
# btrfs: every subvolume and snapshot is scanned, not only the default
# one (the top level is mounted, subvolid=5).  Files are reported under
# the guest's own paths where its /etc/fstab mounts the subvolume (/home
# for @home), else under the subvolume's path; snapshots are listed as
# such, and each detection names its subvolume.  With the verdict cache,
# content held by several subvolumes is handed to the engine once.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd clamscan jq mkfs.btrfs btrfs blkid

grep -qw btrfs /proc/filesystems || skip_all "no btrfs in this kernel"
plan 11

fx_btrfs "$T/img" || bail_out "cannot build the test image"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
(cd "$T/img" && sha256sum btrfs.raw) >"$T/sums.before"

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine clamav -o clamav.database="$T/sigs" --report "$T/report.json" \
	"$T/img/btrfs.raw" >"$T/out" 2>"$T/err"
is "$?" 1 "run exits 1: found" || _diag_file "$T/err"
is "$(jq -r '.targets[].detections[] | [.fs, .subvolume, .path] | @tsv' \
	"$T/report.json" | LC_ALL=C sort)" \
	"whole	@	/root/eicar.com
whole	@home	/home/alice/eicar.com
whole	@snapshots/1	/@snapshots/1/root/eicar.com
whole	@snapshots/1	/@snapshots/1/usr/bin/evil" \
	"files in @, in @home and in a read-only snapshot are all found"
is "$(jq -r '.targets[].filesystems[] | .subvolumes[] |
	[.path, .mounted_at // "-", .snapshot, .readonly] | @tsv' \
	"$T/report.json" | LC_ALL=C sort)" \
	"@	/	false	false
@home	/home	false	false
@snapshots/1	-	true	true
@var	-	false	false" \
	"subvolumes listed: where the guest mounts them, which are snapshots"
like "$(jq -r '.targets[].filesystems[].options' "$T/report.json")" \
	'(^|,)subvolid=5(,|$)' "the top level is mounted"
is "$(jq -r '.targets[].filesystems[].files.scanned' "$T/report.json")" \
	"13" "every file of every subvolume is counted"

# 13 files, 6 distinct contents (the snapshot repeats @, every EICAR is
# the same): each handed over once, the copies take its verdict.
sleep 2.1	# a file changed in the last 2 s is not vouched for
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine clamav -o clamav.database="$T/sigs" --cache "$T/cache.sqlite" \
	--report "$T/report2.json" "$T/img/btrfs.raw" >"$T/out" 2>"$T/err"
is "$(jq -r '.targets[].filesystems[].files | [.scanned, .cached] | @tsv' \
	"$T/report2.json")" "6	7" "with the cache, each content is scanned once"
is "$(jq -r '.targets[].detections | length' "$T/report2.json")" "4" \
	"and every copy of the EICAR is still reported"
# Unchanged: the target is recalled, with the same detections and list.
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine clamav -o clamav.database="$T/sigs" --cache "$T/cache.sqlite" \
	--report "$T/report3.json" "$T/img/btrfs.raw" >"$T/out" 2>"$T/err"
is "$(jq -r '.targets[].cached' "$T/report3.json")" "true" \
	"the unchanged image is recalled"
is "$(jq -c '[.targets[] | (.detections | sort), .filesystems[].subvolumes]' \
	"$T/report3.json")" \
	"$(jq -c '[.targets[] | (.detections | sort), .filesystems[].subvolumes]' \
	"$T/report2.json")" "with its detections' subvolumes and its subvolume list"

(cd "$T/img" && sha256sum btrfs.raw) >"$T/sums.after"
is "$(cat "$T/sums.after")" "$(cat "$T/sums.before")" "no image changed"
is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
