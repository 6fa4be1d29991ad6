#!/bin/bash
# The verdict cache shared by hosts in PostgreSQL (--cache postgresql://):
# a real server started here (initdb in $T, its own port on 127.0.0.1).  Two
# runs with separate state directories and separate images that share
# content stand for two hosts: the second hands the engine only what the
# first did not scan.  Content a host holds many times over is answered
# for every copy, so a host whose contents are all known starts no engine
# daemon (shared or local cache alike).  A server killed in the middle of a
# batch leaves the batch complete (every file scanned, the same exit
# status), with a warning.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures.sh"
need_root
need_cmd mkfs.ext4 clamscan jq runuser
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || skip_all "no PostgreSQL server (initdb)"
id postgres >/dev/null 2>&1 || skip_all "no postgres user"

plan 18

# The server runs as postgres: it may pass through $T, not read it.
chmod 0711 "$T"
mkdir -p "$T/pg/sock" && chown postgres: "$T/pg" "$T/pg/sock"
pg() { runuser -u postgres -- "$PGBIN/$1" "${@:2}"; }
pg initdb -D "$T/pg/data" -U postgres --auth=trust >"$T/pg.init" 2>&1 ||
	bail_out "initdb failed"
for try in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 30000))
	pg pg_ctl -D "$T/pg/data" -l "$T/pg/log" -w -t 60 \
		-o "-p $port -k $T/pg/sock -c listen_addresses=127.0.0.1" start \
		>>"$T/pg.start" 2>&1 && break
	port=
done
[ -n "$port" ] || bail_out "PostgreSQL did not start: $(tail -3 "$T/pg/log" 2>/dev/null)"
at_exit runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/pg/data" -m immediate stop
pg createdb -h 127.0.0.1 -p "$port" avbatch || bail_out "createdb failed"
URL=postgresql://postgres@127.0.0.1:$port/avbatch

# Images: twenty files both "hosts" hold, a few of each host's own.
mkdir -p "$T/sigs" "$T/a/srv" "$T/b/srv" "$T/c/srv" "$T/img"
fx_sigdb "$T/sigs" || bail_out "no signatures"
for i in $(seq 1 20); do
	head -c $((1000 + i * 37)) /dev/urandom >"$T/a/srv/shared$i"
	cp "$T/a/srv/shared$i" "$T/b/srv/shared$i"
	cp "$T/a/srv/shared$i" "$T/c/srv/shared$i"
done
fx_eicar "$T/a/srv/eicar.com"
for i in 1 2 3; do head -c 5000 /dev/urandom >"$T/b/srv/own$i"; done
for i in 1 2 3 4; do head -c 5000 /dev/urandom >"$T/c/srv/own$i"; done
fx_eicar "$T/c/srv/eicar.com"
for h in a b c; do
	truncate -s 32M "$T/img/$h.raw"
	mkfs.ext4 -q -d "$T/$h" "$T/img/$h.raw" || bail_out "mkfs.ext4 failed"
done

scan() {	# scan HOST ENGINES-DIR: one host's run with the shared cache
	"$AVBATCH" --engines-dir "$2" --state-dir "$T/$1.state" run \
		--engine clamav -o "clamav.database=$T/sigs" --cache "$URL" \
		--host "kvm-$1" --report "$T/$1.json" "$T/img/$1.raw" \
		>"$T/$1.out" 2>"$T/$1.err"
}
files() { jq -r '[.targets[].filesystems[].files | .scanned, .cached] | join(" ")' "$T/$1.json"; }

scan a "$top_srcdir/engines"
is "$?" 1 "host A: finds its EICAR (exit 1)"
is "$(files a)" "21 0" "host A scans all of its 21 files (cold)"
is "$(pg psql -h 127.0.0.1 -p "$port" -d avbatch -tAc 'SELECT version FROM avbatch_schema')" 1 \
	"avbatch created and versioned its schema"
is "$(pg psql -h 127.0.0.1 -p "$port" -d avbatch -tAc 'SELECT count(*) FROM avbatch_verdicts')" 21 \
	"and stored one verdict per content"

scan b "$top_srcdir/engines"
is "$?" 0 "host B: clean (exit 0)"
is "$(files b)" "3 20" "host B hands the engine only its 3 own files; the 20 shared ones come from the cache"
ok "host B's memos stay in its own state directory" test -s "$T/b.state/memos.sqlite"
unlike "$(cat "$T/b.err")" "NOTICE" "the server's notices (tables that exist) are not printed"

# Hosts D and E hold the same contents, one of them six times over (as
# Debian holds its dpkg triggers files), with an engine whose daemon is a
# test double: its client logs what it is handed.
mkdir -p "$T/d/etc" "$T/e/var" "$T/deng" "$T/dsigs"
echo "test signatures" >"$T/dsigs/test.sig"
for i in $(seq 1 10); do head -c $((700 + i)) /dev/urandom >"$T/d/etc/u$i"; done
for i in $(seq 1 6); do printf 'activate-noawait ldconfig\n' >"$T/d/etc/copy$i.triggers"; done
cp -a "$T/d/etc" "$T/e/var/lib"
for h in d e; do
	truncate -s 16M "$T/img/$h.raw"
	mkfs.ext4 -q -d "$T/$h" "$T/img/$h.raw" || bail_out "mkfs.ext4 failed"
done
cat >"$T/deng/lscan" <<SH
#!/bin/bash
cat -- "\$1" >>"$T/handed"
exit 0
SH
chmod 0755 "$T/deng/lscan"
cat >"$T/deng/listed.ini" <<INI
[engine]
name = listed
binary = $T/deng/lscan
flags = parallel-safe, managed-daemon
signatures = {database}
[options]
database = $T/dsigs
[daemon]
start = sleep 600
ready = true
[actions]
scan_list = {binary} {list}
stop = signal:TERM
[result]
clean = 0
infected = 1
detection = ^(.*): ([^ ]+) FOUND\$
detection_path = 1
detection_threat = 2
INI
chmod 0644 "$T/deng/listed.ini"
dscan() {	# dscan HOST IMAGE CACHE: HOST's run of IMAGE with the listed engine
	: >"$T/handed"
	"$AVBATCH" --engines-dir "$T/deng" --state-dir "$T/$1.state" run \
		--engine listed --cache "$3" --host "kvm-$1" --report "$T/$1.json" \
		"$T/img/$2.raw" >"$T/$1.out" 2>"$T/$1.err"
}
dscan d d "$URL"
is "$(files d)" "11 5" "host D scans each of its 11 contents once, the 5 other copies wait for its verdict"
dscan e e "$URL"
is "$(files e)" "0 16" "host E: every copy of every content answered by the shared cache"
is "$(wc -l <"$T/handed")" 0 "nothing was handed to the engine"
is "$(grep -c 'started its daemon' "$T/e.err")" 0 "no engine daemon is started when every content is known"
dscan ld d "$T/local.sqlite"
dscan le e "$T/local.sqlite"
is "$(files le)/$(wc -l <"$T/handed")" "0 16/0" "a local cache alike: every content known, nothing handed"
is "$(grep -c 'started its daemon' "$T/le.err")" 0 "and no daemon started"

# Host C: the server dies as soon as the engine starts (the engine is
# clamscan behind a wrapper that stops PostgreSQL first).
mkdir -p "$T/eng" "$T/bin"
cat >"$T/bin/clamscan-killpg" <<SH
#!/bin/sh
# Not for the version action (it runs before the batch), only for a scan.
case " \$* " in *" --version "*) exec clamscan "\$@" ;; esac
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/pg/data" -m immediate stop >/dev/null 2>&1
exec clamscan "\$@"
SH
chmod 0755 "$T/bin/clamscan-killpg"
sed "s|^binary = clamscan|binary = $T/bin/clamscan-killpg|" "$top_srcdir/engines/clamav.ini" >"$T/eng/clamav.ini"
chmod 0644 "$T/eng/clamav.ini"
scan c "$T/eng"
rc=$?
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/nc.state" run --no-cache \
	--engine clamav -o "clamav.database=$T/sigs" --report "$T/nc.json" "$T/img/c.raw" >/dev/null 2>&1
is "$rc" "$?" "host C with the server killed mid-batch: the same exit status as without a cache ($rc)"
is "$(jq -r '[.targets[].detections[].path] | join(" ")' "$T/c.json")" "/srv/eicar.com" \
	"its EICAR is found"
is "$(jq -r '[.targets[].filesystems[].files | .scanned + .cached] | add' "$T/c.json")/$(jq -r '.targets[0].status' "$T/c.json")" \
	"25/infected" "every one of its 25 files was scanned or answered before the loss"
like "$(cat "$T/c.err")" "warning: the shared verdict cache stopped answering" "with a warning"
done_testing
