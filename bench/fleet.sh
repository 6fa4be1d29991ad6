#!/bin/bash
# bench/fleet.sh - issue #19 benchmark: the shared verdict cache.  Two hosts
# hold the same kind of guests (W1: a Debian template and its clones, built
# by bench/run.sh).  Host A scans them cold with --cache postgresql://...;
# then host B (its own state directory: no memos, no recall) scans them
#   (1) cold with its own empty SQLite cache (the batch alone), and
#   (2) with the PostgreSQL cache host A filled.
# Prints wall and CPU time of each and (2)/(1); detections must agree.
#
#   sudo bench/fleet.sh [WORKDIR]        (default /var/tmp/avbatch-bench)
#
# Knobs: those of bench/run.sh (BENCH_CLONES, BENCH_HASH_SIGS, ...).
set -euo pipefail

WORKDIR=${1:-/var/tmp/avbatch-bench}
REPO=$(cd "$(dirname "$0")/.." && pwd)
AVBATCH=$REPO/src/avbatch
log() { printf '== %s %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must be run as root"
command -v /usr/bin/time >/dev/null || die "needs /usr/bin/time (apt-get install time)"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || die "needs PostgreSQL (apt-get install postgresql)"

# The guests and signatures of bench/run.sh, none of its runs.
BENCH_RUNS=none "$REPO/bench/run.sh" "$WORKDIR" >/dev/null || true
ls "$WORKDIR"/images/*.qcow2 >/dev/null 2>&1 || die "bench/run.sh built no images"
WORKDIR=$(cd "$WORKDIR" && pwd)
F=$WORKDIR/fleet
rm -rf "$F"
mkdir -p "$F/pg/sock"
chmod 0711 "$WORKDIR" "$F"
chown postgres: "$F/pg" "$F/pg/sock"
pg() { runuser -u postgres -- "$PGBIN/$1" "${@:2}"; }
pg initdb -D "$F/pg/data" -U postgres --auth=trust >"$F/pg.init" 2>&1
port=$((20000 + RANDOM % 30000))
pg pg_ctl -D "$F/pg/data" -l "$F/pg/log" -w -o "-p $port -k $F/pg/sock -c listen_addresses=127.0.0.1" start >/dev/null
trap 'runuser -u postgres -- "$PGBIN/pg_ctl" -D "$F/pg/data" -m immediate stop >/dev/null 2>&1 || true' EXIT
pg createdb -h 127.0.0.1 -p "$port" avbatch
URL=postgresql://postgres@127.0.0.1:$port/avbatch

IMAGES=("$WORKDIR"/images/*.qcow2)
# run HOST CACHE NAME: one host's cold batch, timed.
run() {
	/usr/bin/time -f '%e %U %S %M' -o "$F/$3.time" \
		"$AVBATCH" --engines-dir "$REPO/engines" --state-dir "$F/$1.state" \
		run --engine clamd -o "clamd.database=$WORKDIR/sigs" -o clamd.threads=2 \
		--jobs 2 --cache "$2" --host "$1" --report "$F/$3.json" "${IMAGES[@]}" \
		>"$F/$3.out" 2>"$F/$3.err" || true
	read -r wall user sys rss < <(tail -n 1 "$F/$3.time")
	printf '%-34s %8.2f s wall %8.2f CPU-s %6d MiB  %s detections, %s files scanned, %s cached\n' \
		"$3" "$wall" "$(echo "$user + $sys" | bc)" $((rss / 1024)) \
		"$(jq '.totals.detections' "$F/$3.json")" \
		"$(jq '.totals.files_scanned' "$F/$3.json")" \
		"$(jq '[.targets[].filesystems[].files.cached] | add' "$F/$3.json")"
}
dets() { jq -r '.targets[] | .name as $n | .detections[] | [$n, .fs, .path] | @tsv' "$1" | sort; }

log "host A: cold, filling the shared cache"
run kvm-a "$URL" a-shared
log "host B: cold alone (its own empty cache)"
run kvm-b "$F/b-alone.sqlite" b-alone
log "host B: with the cache host A filled"
run kvm-b2 "$URL" b-shared
wall() { tail -n 1 "$F/$1.time" | cut -d' ' -f1; }
ratio=$(echo "scale=3; $(wall b-shared) / $(wall b-alone)" | bc)
echo "host B with the shared cache / alone: $ratio (target <= 0.2)"
if [ "$(dets "$F/b-shared.json")" = "$(dets "$F/b-alone.json")" ] &&
   [ "$(dets "$F/a-shared.json")" = "$(dets "$F/b-alone.json")" ]; then
	echo "detections: identical in all three runs ($(dets "$F/b-alone.json" | wc -l))"
else
	echo "detections DIFFER"; exit 1
fi
