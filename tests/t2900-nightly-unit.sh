#!/bin/bash
# The nightly systemd unit: it verifies (systemd-analyze), it cannot hang
# unseen (a per-target --timeout and a finite TimeoutStartSec), it keeps one
# dated report a night ({job} in the name), and its OnFailure= hook tells
# "found" (exit 1) from "not covered" (exit 2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures.sh"
need_root
need_cmd systemd-analyze mkfs.ext4 clamscan jq

plan 10

unit=$top_builddir/conf/avbatch.service
hook=$top_srcdir/conf/avbatch-alert@.service
mkdir -p "$T/units" "$T/fake"
sed "s|^ExecStart=[^ ]*/avbatch |ExecStart=$top_builddir/src/avbatch |" "$unit" >"$T/units/avbatch.service"
cp "$hook" "$T/units/avbatch-alert@avbatch.service.service"
(cd "$T/units" && systemd-analyze verify --man=no avbatch.service \
	avbatch-alert@avbatch.service.service) >"$T/verify" 2>&1
is "$?:$(cat "$T/verify")" "0:" "systemd-analyze verify: the unit and its hook are sound"

exec_start=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | tr -d '\\\n')
like "$exec_start" ' --timeout [1-9][0-9]* ' "ExecStart stops a target that hangs (--timeout)"
like "$(grep '^TimeoutStartSec=' "$unit")" '^TimeoutStartSec=[1-9][0-9]*(h|min|s)?$' \
	"and the unit has a finite start timeout"
like "$exec_start" '--report [^ ]*\{job\}[^ ]*\.json' "reports are named by job: one a night"
like "$(grep '^OnFailure=' "$unit")" '^OnFailure=avbatch-alert@%n\.service$' "failure runs the hook"

# {job}: two runs, two reports, each named by its own job.
mkdir -p "$T/sigs" "$T/t/etc" "$T/reports"
fx_sigdb "$T/sigs" || bail_out "no signatures"
echo hello >"$T/t/etc/motd"
truncate -s 32M "$T/vm.raw"
mkfs.ext4 -q -d "$T/t" "$T/vm.raw" || bail_out "mkfs.ext4 failed"
for i in 1 2; do
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" -q run \
		--engine clamav -o "clamav.database=$T/sigs" \
		--report "$T/reports/report-{job}.json" --report-html "$T/reports/report-{job}.html" \
		"$T/vm.raw" >/dev/null 2>&1
done
jobs=$(for f in "$T"/reports/report-*.json; do jq -r .job "$f"; done | sort -u | wc -l)
names=$(for f in "$T"/reports/report-*.json; do
	[ "$(basename "$f")" = "report-$(jq -r .job "$f").json" ] && echo ok; done | wc -l)
is "$jobs:$names:$(ls "$T"/reports/*.html | wc -l)" "2:2:2" \
	"two nights, two reports and pages, each named by its job"

# Finished job directories do not pile up in the state directory (tmpfs):
# keep_jobs (and keep_job_days) bound them; each run prunes at its start.
printf '[avbatch]\ncache = none\nkeep_jobs = 2\n' >"$T/keep.conf"
chmod 0644 "$T/keep.conf"
for i in 1 2 3 4; do
	"$AVBATCH" --config "$T/keep.conf" --engines-dir "$top_srcdir/engines" \
		--state-dir "$T/kstate" -q run --engine clamav -o "clamav.database=$T/sigs" \
		"$T/vm.raw" >/dev/null 2>&1
done
is "$(ls "$T/kstate/jobs" | wc -l)" 3 "keep_jobs = 2: the two newest finished jobs and the last one stay"

# The hook's script, as systemd would run it ($$ is $, %i the failed unit).
script=$(sed -n "/^ExecStart=/,/'\$/p" "$hook" | tr -d '\\\n' |
	sed -e "s/^ExecStart=\/bin\/sh -c '//" -e "s/'\$//" -e 's/\$\$/$/g' -e 's/%i/avbatch.service/g')
printf '#!/bin/sh\necho "$FAKE_STATUS"\n' >"$T/fake/systemctl"
printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>%q\n' "$T/logged" >"$T/fake/logger"
chmod 0755 "$T/fake/systemctl" "$T/fake/logger"
for st in 1 2; do
	FAKE_STATUS=$st PATH=$T/fake:$PATH sh -c "$script"
done
like "$(sed -n 1p "$T/logged")" "nightly scan: malware found" "the hook says found for exit 1"
like "$(sed -n 2p "$T/logged")" "nightly scan: some disks or files not scanned" \
	"and not covered for exit 2"
like "$(sed -n 1p "$T/logged")" "-p daemon.warning -t avbatch" "as a warning tagged avbatch"
done_testing
