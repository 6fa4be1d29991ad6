#!/bin/bash
# run --exclude GLOB: guest paths matching a glob are not scanned, counted
# as skipped "excluded", and the report does not call the target clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures.sh"
need_root
need_cmd mkfs.ext4 clamscan jq

plan 8
mkdir -p "$T/sigs" "$T/t/srv" "$T/t/var/cache/apt/sub" "$T/c/var/cache/apt"
fx_sigdb "$T/sigs" || bail_out "no signatures"
fx_eicar "$T/t/srv/eicar.com"
fx_eicar "$T/t/var/cache/apt/eicar.com"
fx_eicar "$T/t/var/cache/apt/sub/eicar2.com"
echo ok >"$T/t/var/cache/keep"
fx_eicar "$T/c/var/cache/apt/eicar.com"
truncate -s 32M "$T/vm.raw" "$T/clean.raw"
mkfs.ext4 -q -d "$T/t" "$T/vm.raw" && mkfs.ext4 -q -d "$T/c" "$T/clean.raw" ||
	bail_out "mkfs.ext4 failed"
scan() {
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
		--engine clamav -o "clamav.database=$T/sigs" --report "$T/r.json" "$@" \
		>"$T/out" 2>"$T/err"
}
scan --exclude '/var/cache/apt' "$T/vm.raw"
is "$?" 1 "what is not excluded is still found (exit 1)"
is "$(jq -r '[.targets[0].detections[].path] | join(" ")' "$T/r.json")" "/srv/eicar.com" \
	"nothing under an excluded directory is scanned"
is "$(jq -r '.targets[0].filesystems[0] | "\(.status) \(.files.skipped_reasons.excluded // "?")"' "$T/r.json")" \
	"partial 1" "the file system is partial; the pruned directory counts as excluded"
like "$(jq -r '.targets[0].filesystems[0].reason' "$T/r.json")" "excluded \\(--exclude\\)" \
	"and says why"
is "$(jq -r '.targets[0].complete' "$T/r.json")" false "the infected target is not complete"
scan --exclude '/var/cache/*' "$T/clean.raw"
is "$?:$(jq -r '.targets[0].status' "$T/r.json")" "2:incomplete" \
	"a target whose only finding was excluded is incomplete, not clean (exit 2)"
scan --exclude '/no/match/*' "$T/clean.raw"
is "$?:$(jq -r '.targets[0].status' "$T/r.json")" "1:infected" "a glob that matches nothing changes nothing"
scan --exclude 'var/*' "$T/clean.raw"
like "$?:$(cat "$T/err")" "^2:.*--exclude: a glob of guest paths, from '/'" "a glob not from / is a usage error"
done_testing
