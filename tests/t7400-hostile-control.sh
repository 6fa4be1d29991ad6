#!/bin/bash
# A hostile or stalled client of a job's control socket: ten idle
# connections held open (and reopened when dropped) and one that sends a
# byte and stalls do not make status say "no job is running", do not delay
# stop; a stop whose client gave up is never carried out later; a job that
# does not answer is reported as such (exit 2), and a caller who may not
# see the jobs is told so instead of "no job is running".
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd jq mkfs.ext4 perl setpriv

plan 21

mkdir -p "$T/eng" "$T/bin" "$T/img" "$T/tree/d"
cat >"$T/bin/slowscan" <<'SH'
#!/bin/bash
# Test engine: a second for every file of its list, reports EICAR files.
while IFS= read -r f; do
	sleep 1
	grep -q EICAR-STANDARD-ANTIVIRUS-TEST-FILE -- "$f" && echo "$f: Test.EICAR FOUND"
done <"$1"
exit 0
SH
chmod 0755 "$T/bin/slowscan"
fx_engine "$T/eng" slow "$T/bin/slowscan"
for i in $(seq 120); do echo "file $i" >"$T/tree/d/f$i.txt"; done
truncate -s 16M "$T/img/vm1.raw"
mkfs.ext4 -q -F -d "$T/tree" "$T/img/vm1.raw" || bail_out "mkfs failed"

# The attacker: N idle connections and one that sends a byte and stalls,
# each opened again as soon as the job drops it, until killed.
cat >"$T/bin/hold" <<'PL'
use strict;
use warnings;
use Socket;
use IO::Handle;
my ($path, $n, $ready) = @ARGV;
my @s;
sub conn {
	my ($i) = @_;
	my $fh;
	socket($fh, AF_UNIX, SOCK_STREAM, 0) or return undef;
	connect($fh, pack_sockaddr_un($path)) or return undef;
	syswrite($fh, "{") if $i == $n;
	return $fh;
}
for my $i (0 .. $n) { $s[$i] = conn($i); }
open(my $r, '>', $ready) or die; print $r scalar(grep { defined } @s), "\n"; close $r;
for (;;) {
	my $rin = '';
	vec($rin, fileno($_), 1) = 1 for grep { defined } @s;
	select(my $rout = $rin, undef, undef, 0.1);
	for my $i (0 .. $n) {
		my $buf;
		if (!defined $s[$i] || (vec($rout, fileno($s[$i]), 1) &&
		    !sysread($s[$i], $buf, 65536))) {
			close($s[$i]) if defined $s[$i];
			$s[$i] = conn($i);
		}
	}
}
PL

# Every command is given 20 s: one that hangs fails its checks.
av() { timeout -s KILL 20 "$AVBATCH" --state-dir "$T/state" "$@"; }
# avbatch as nobody: the built binary, no configuration it may not read.
av_nobody() {
	timeout -s KILL 20 setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
		"$top_builddir/src/avbatch" --config /dev/null \
		--state-dir "$T/state" "$@"
}
ms() { date +%s%3N; }

"$AVBATCH" --engines-dir "$T/eng" --state-dir "$T/state" run --engine slow \
	--report "$T/report.json" "$T/img/vm1.raw" >"$T/out" 2>"$T/err" &
pid=$!
at_exit kill -9 "$pid"
for _ in $(seq 300); do
	pgrep -f "$T/bin/slowscan" >/dev/null && break
	sleep 0.05
done
job=$(ls "$T/state/jobs")
sock=$T/state/jobs/$job/ctl.sock
like "$(av status)" "^job $job  running" "status answers before the attack"

perl "$T/bin/hold" "$sock" 10 "$T/ready" 2>"$T/hold.err" &
hold=$!
at_exit kill "$hold"
for _ in $(seq 200); do [ -s "$T/ready" ] && break; sleep 0.05; done
is "$(cat "$T/ready" 2>/dev/null)" 11 "the attacker holds 11 connections"
sleep 1

t0=$(ms)
out=$(av status 2>&1); rc=$?
t1=$(ms)
is "$rc" 0 "status under attack: exit 0"
like "$out" "^job $job  running  0/1 targets done" "status under attack: the job, running"
is "$(( t1 - t0 < 2000 ))" 1 "status under attack answers within 2 s ($((t1 - t0)) ms)"
is "$(av status --json 2>/dev/null | jq -r '.[0].job')" "$job" "status --json under attack"

# A caller who may not look into the state directory is told so.
chmod 0711 "$T"
out=$(av_nobody status 2>&1); rc=$?
is "$rc" 2 "status as nobody: exit 2"
like "$out" "may not see the jobs" "status as nobody: it may not see the jobs"
unlike "$out" "no job is running" "status as nobody: not 'no job is running'"
out=$(av_nobody stop 2>&1); rc=$?
is "$rc/$(kill -0 "$pid" 2>/dev/null && echo alive)" "2/alive" \
	"stop as nobody: exit 2, the job runs on"
like "$out" "may not see the jobs" "stop as nobody: it may not see the jobs"
out=$(av_nobody inspect "$T/img/vm1.raw" 2>&1)
like "$out" "must be run as root \(it attaches disk images" \
	"inspect as nobody: root is needed to attach images, not to mount"

# A job that does not answer (frozen) is not "no job": exit 2 with its id,
# and a stop sent meanwhile, whose client gave up, is not carried out later.
kill -STOP "$pid"
out=$(av status 2>&1); rc=$?
is "$rc" 2 "status of a job that does not answer: exit 2"
like "$out" "job $job.*(not answer|no answer)" "status names the job that does not answer"
t0=$(ms)
out=$(av stop 2>&1); rc=$?
t1=$(ms)
is "$rc" 2 "stop of a job that does not answer: exit 2"
like "$out" "job $job" "stop names the job"
kill -CONT "$pid"
sleep 3
like "$(av status 2>&1)" "^job $job  running" \
	"the stop that timed out was not carried out later"

t0=$(ms)
out=$(av stop 2>&1); rc=$?
t1=$(ms)
like "$rc:$out" "^0:job $job: stopping" "stop under attack: accepted"
is "$(( t1 - t0 < 2000 ))" 1 "stop under attack answers within 2 s ($((t1 - t0)) ms)"
for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && kill -9 "$pid"	# a run that hangs fails
wait "$pid"; rc=$?
is "$rc/$(jq -r '.targets[0].status' "$T/report.json" 2>/dev/null)" "2/stopped" \
	"the run ends, its target stopped"
kill "$hold"; wait "$hold" 2>/dev/null
is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
