#!/bin/bash
# --libvirt: a real libvirtd (started here) with domains defined on test
# images.  --all-shutoff scans exactly the shut-off domains, with the disk
# formats their definitions declare; a running domain is refused as "in use".
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd virsh libvirtd virtlogd qemu-system-x86_64 jq clamscan tini

plan 10

URI=qemu:///system
# libvirtd probes qemu with daemonized processes; this machine's init does
# not reap them promptly, so the daemons run under tini as subreaper.
for d in virtlogd libvirtd; do
	if ! pgrep -x "$d" >/dev/null; then
		tini -s -- "$d" >"$T/$d.log" 2>&1 &
		at_exit kill "$!"
	fi
done
VIRSH=$(type -P virsh)
virsh() { timeout 120 "$VIRSH" "$@"; }
for _ in $(seq 100); do virsh -c "$URI" version >/dev/null 2>&1 && break; sleep 0.1; done

fx_batch "$T/img" || bail_out "cannot build the test images"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
cp "$T/img/bare.raw" "$T/img/running.raw"
# qemu runs as libvirt-qemu: it must be able to reach the running disk.
chmod 0711 "$T" "$T/img"

define() {	# define NAME IMAGE FORMAT
	cat >"$T/$1.xml" <<XML
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>32</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='$3'/>
      <source file='$2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='$T/img/luks.raw'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
  </devices>
</domain>
XML
	virsh -c "$URI" define "$T/$1.xml" >/dev/null &&
	at_exit virsh -q -c "$URI" undefine "$1" &&
	at_exit virsh -q -c "$URI" destroy "$1"
}
for d in avbt-gpt avbt-bare avbt-run; do	# left by an interrupted run
	virsh -q -c "$URI" destroy "$d" >/dev/null 2>&1
	virsh -q -c "$URI" undefine "$d" >/dev/null 2>&1
done
define avbt-gpt "$T/img/gpt.qcow2" qcow2 || bail_out "cannot define a domain"
define avbt-bare "$T/img/bare.raw" raw
define avbt-run "$T/img/running.raw" raw
virsh -c "$URI" start avbt-run >/dev/null 2>"$T/start.err" ||
	bail_out "cannot start a domain: $(cat "$T/start.err")"
shutoff=$(virsh -q -c "$URI" list --all --state-shutoff --name | grep . | sort | paste -sd,)

"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--libvirt --all-shutoff -o clamav.database="$T/sigs" \
	--report "$T/all.json" >"$T/out" 2>"$T/err"
is "$?" 1 "--all-shutoff: exit 1 (the test images hold EICAR)" || _diag_file "$T/err"
is "$(jq -r '[.targets[].domain] | sort | join(",")' "$T/all.json")" "$shutoff" \
	"exactly the shut-off domains are scanned"
like ",$shutoff," ",avbt-bare,avbt-gpt," "the two shut-off test domains are among them"
is "$(jq -r '.targets[] | select(.domain == "avbt-gpt") | [.name, .format, .image] | @tsv' "$T/all.json")" \
	"avbt-gpt	qcow2	$T/img/gpt.qcow2" "a target per disk, cdroms left out, with the declared format"
is "$(jq -r '[.targets[] | select(.domain | startswith("avbt-")) | .detections[] | .path] | sort | join(",")' "$T/all.json")" \
	"/EFI/test dir/clam.exe,/home/alice/Down loads/eicar.com,/tmp/e i/eicar.com" \
	"their planted files are found"
is "$(jq '[.targets[] | select(.domain == "avbt-run")] | length' "$T/all.json")" 0 \
	"the running domain is not among them"

sum=$(sha256sum <"$T/img/running.raw")
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--libvirt -o clamav.database="$T/sigs" --report "$T/run.json" avbt-run \
	>"$T/out" 2>"$T/err"
is "$?" 2 "a running domain named on the command line: exit 2"
is "$(jq -r '.targets[0] | [.status, .reason] | @tsv' "$T/run.json")" \
	"skipped	in use: the libvirt domain is running" "it is skipped as in use"
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	-o clamav.database="$T/sigs" --report "$T/img.json" "$T/img/running.raw" \
	>"$T/out" 2>"$T/err"
like "$(jq -r '.targets[0] | [.status, .reason] | @tsv' "$T/img.json")" \
	"^skipped	in use" "its image given directly is in use too: qemu holds the lock"
is "$(sha256sum <"$T/img/running.raw")$(leftovers)" "$sum" \
	"nothing touched its disk; nothing left behind"
done_testing
