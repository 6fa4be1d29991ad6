#!/bin/bash
# Detections as structured records for a SIEM: one journal record per
# detection and one per run, with fixed MESSAGE_IDs and their fields, sent
# by libsystemd to the journal socket.  No journald runs on the test
# machine: the test listens on /run/systemd/journal/socket itself, in a
# private mount namespace with its own /run, and reads what arrives.  A
# hostile guest file name must arrive as one field, not forge others.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures.sh"
need_root
need_cmd socat unshare mkfs.ext4 clamscan
ldd "$top_builddir/src/avbatch" 2>/dev/null | grep -q libsystemd ||
	skip_all "avbatch was built without libsystemd (syslog only)"

plan 7

mkdir -p "$T/tree/srv" "$T/sigs"
fx_sigdb "$T/sigs" || bail_out "no signatures"
evil=$'x" AVBATCH_THREAT=forged\nAVBATCH_FS=p9 .com'
fx_eicar "$T/tree/srv/$evil"
fx_eicar "$T/tree/srv/plain.com"
truncate -s 32M "$T/data.raw"
mkfs.ext4 -q -d "$T/tree" "$T/data.raw" || bail_out "mkfs.ext4 failed"

cat >"$T/inner.sh" <<'SH'
#!/bin/bash
# In a private mount namespace: our own /run, a journal socket listener,
# then the scan.
set -u
mount -t tmpfs -o mode=0755 tmpfs /run || exit 97
mkdir -p /run/systemd/journal
socat -u UNIX-RECV:/run/systemd/journal/socket,mode=0666 \
	"OPEN:$T/journal.bin,creat,append" 2>"$T/socat.err" &
spid=$!
for _ in $(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
"$@"
rc=$?
sleep 0.5
kill "$spid"
wait "$spid" 2>/dev/null
exit "$rc"
SH
chmod 0755 "$T/inner.sh"
unshare -m --propagation private "$T/inner.sh" \
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
	run --engine clamav -o "clamav.database=$T/sigs" \
	--report "$T/r.json" "$T/data.raw" >"$T/out" 2>"$T/err"
is "$?" 1 "the scan finds the files (exit 1)"
job=$(jq -r .job "$T/r.json")

# Records: datagrams of FIELD=value lines; a value with a newline in it is
# FIELD, newline, 64-bit little-endian length, the bytes, newline (the
# binary-safe form).  Parsed the way journald does; each field printed as
# one line, newlines in values as \n.
perl -e '
	local $/; my $d = <STDIN>;
	while (length $d) {
		if ($d =~ s/\A([A-Z0-9_]+)=([^\n]*)\n//) { print "$1=$2\n"; next }
		$d =~ s/\A([A-Z0-9_]+)\n// or die "bad record\n";
		my ($k, $n) = ($1, unpack("Q<", substr($d, 0, 8)));
		my $v = substr($d, 8, $n); substr($d, 0, 9 + $n) = "";
		$v =~ s/\n/\\n/g; print "$k=$v\n";
	}' <"$T/journal.bin" >"$T/fields"
is "$?" 0 "the records are well formed"
j=$T/fields
is "$(grep -c '^MESSAGE_ID=5e0c1e6e0c9b4a1fa3b1d7c0a7b1d001$' "$j")" 2 \
	"one detection record per detection, with its MESSAGE_ID"
is "$(grep -c '^MESSAGE_ID=5e0c1e6e0c9b4a1fa3b1d7c0a7b1d002$' "$j")" 1 \
	"one record for the run"
for f in "AVBATCH_JOB=$job" "AVBATCH_TARGET=data.raw" "AVBATCH_FS=whole" \
	"AVBATCH_PATH=/srv/plain.com" \
	"AVBATCH_THREAT=Test.EICAR.NDB.UNOFFICIAL" "AVBATCH_ENGINE=clamav" \
	"AVBATCH_EXIT_CODE=1" "AVBATCH_DETECTIONS=2" "PRIORITY=4" \
	"SYSLOG_IDENTIFIER=avbatch"; do
	grep -qxF -- "$f" "$j" || { diag "missing field $f"; break; }
	f=
done
is "$f" "" "every field is there: job, target, fs, path, threat, engine, the run's exit code and count"
is "$(grep -c '^AVBATCH_THREAT=forged' "$j")/$(grep -c '^AVBATCH_FS=p9' "$j")" 0/0 \
	"a guest name can neither forge a field nor end its own early"
ok "the hostile name arrives whole in AVBATCH_PATH" \
	grep -qxF -- "AVBATCH_PATH=/srv/${evil//$'\n'/\\n}" "$j"
done_testing
