#!/bin/bash
# run --metrics FILE: node_exporter textfile-collector metrics written
# atomically at the end of a run, readable by the collector, accepted by
# promtool; run --report-html FILE: the page beside them.  A previous file
# of the kind is replaced; another file is refused before the scan.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures.sh"
need_root
need_cmd mkfs.ext4 clamscan jq promtool

plan 11

mkdir -p "$T/img" "$T/sigs" "$T/t1/srv" "$T/t2/etc" "$T/prom"
fx_sigdb "$T/sigs" || bail_out "no signatures"
fx_eicar "$T/t1/srv/eicar.com"
echo hello >"$T/t2/etc/motd"
truncate -s 32M "$T/img/web01.raw" "$T/img/db02.raw"
mkfs.ext4 -q -d "$T/t1" "$T/img/web01.raw" && mkfs.ext4 -q -d "$T/t2" "$T/img/db02.raw" ||
	bail_out "mkfs.ext4 failed"
scan() {
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
		--engine clamav -o "clamav.database=$T/sigs" --report "$T/r.json" "$@" \
		>"$T/out" 2>"$T/err"
}
m=$T/prom/avbatch.prom
scan --metrics "$m" --report-html "$T/r.html" "$T/img/web01.raw" "$T/img/db02.raw"
is "$?" 1 "the run finds the file (exit 1)"
ok "promtool check metrics accepts the file" promtool check metrics <"$m"
get() { awk -v k="$1" '$1 == k { print $2 }' "$m"; }
is "$(get avbatch_last_run_exit_code):$(get avbatch_last_run_detections)" "1:1" \
	"exit code and detections"
is "$(get 'avbatch_last_run_targets{status="infected"}'):$(get 'avbatch_last_run_targets{status="clean"}'):$(get 'avbatch_last_run_targets{status="incomplete"}')" \
	"1:1:0" "targets by status, every status present"
is "$(get avbatch_last_run_files_scanned)" "$(jq .totals.files_scanned "$T/r.json")" \
	"files scanned, as the report counts them"
ok "the run's time is now, its duration sane" \
	test "$(( $(date +%s) - $(get avbatch_last_run_timestamp_seconds | cut -d. -f1) ))" -lt 300
is "$(stat -c %a "$m"):$(ls "$T/prom")" "644:avbatch.prom" \
	"readable by the collector, and no temporary left beside it"
like "$(cat "$T/r.html")" '<title>avbatch report' "--report-html writes the page"

scan --metrics "$m" --report-html "$T/r.html" "$T/img/db02.raw"
is "$?:$(get avbatch_last_run_exit_code):$(get avbatch_last_run_files_cached)" "0:0:0" \
	"the next run replaces the metrics (no --force needed for its own file)"
echo "not metrics" >"$T/prom/other.prom"
scan --metrics "$T/prom/other.prom" "$T/img/db02.raw"
like "$?:$(cat "$T/err")" "^2:.*refusing the metrics '$T/prom/other.prom': it exists and is not an avbatch metrics" \
	"another file is refused, before the scan"
is "$(cat "$T/prom/other.prom")" "not metrics" "and left as it was"
done_testing
