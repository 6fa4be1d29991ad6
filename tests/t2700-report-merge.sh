#!/bin/bash
# avbatch report merge: the reports of several hosts as one fleet report:
# every target with its host and job, totals over all, and the exit status
# the fleet deserves (1 found anywhere, else 2 not covered anywhere, else 0).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures.sh"
need_root
need_cmd mkfs.ext4 clamscan jq

plan 14

mkdir -p "$T/img1" "$T/img2" "$T/sigs" "$T/t1/srv" "$T/t2/etc"
fx_sigdb "$T/sigs" || bail_out "no signatures"
fx_eicar "$T/t1/srv/eicar.com"
echo hello >"$T/t2/etc/motd"
truncate -s 32M "$T/img1/web01.raw" "$T/img2/db02.raw" "$T/img2/db03.raw"
mkfs.ext4 -q -d "$T/t1" "$T/img1/web01.raw" && mkfs.ext4 -q -d "$T/t2" "$T/img2/db02.raw" &&
	mkfs.ext4 -q -d "$T/t2" "$T/img2/db03.raw" || bail_out "mkfs.ext4 failed"
scan() {	# scan STATE REPORT IMAGE...: one "host"'s run
	local st=$1 rep=$2
	shift 2
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/$st" run \
		--engine clamav -o "clamav.database=$T/sigs" --report "$T/$rep" "$@" \
		>/dev/null 2>&1
}
scan s1 h1.json "$T/img1/web01.raw"
# Two runs of one machine stand for two hosts: the second one's name.
scan s2 h2b.json --host kvm02 "$T/img2/db02.raw" "$T/img2/db03.raw"

"$AVBATCH" report merge -o "$T/fleet.json" "$T/h1.json" "$T/h2b.json"
is "$?" 1 "merge exits 1: something was found on one host"
f=$T/fleet.json
is "$(jq -r '[.targets[] | "\(.host)/\(.name)"] | join(" ")' "$f")" \
	"$(hostname)/web01.raw kvm02/db02.raw kvm02/db03.raw" \
	"every target of every host, each with its host"
is "$(jq -r '[.targets[].job] | unique | length' "$f")" 2 "and its job"
is "$(jq -c '.totals | [.targets, .infected, .clean, .detections, .hosts]' "$f")" "[3,1,2,1,2]" \
	"totals over all hosts"
is "$(jq -r '.status, .exit_code, (.hosts | join(","))' "$f" | tr '\n' ' ')" \
	"infected 1 $(hostname),kvm02 " "the fleet's status, exit code and hosts"
is "$(jq -r '.targets[0].detections[0].path' "$f")" "/srv/eicar.com" "detections kept"
is "$(jq -r '[.engines[].host] | join(",")' "$f")" "$(hostname),kvm02" "engines listed per host"

"$AVBATCH" report text "$f" >"$T/text"
is "$?" 1 "report text exits as the report says (1)"
like "$(cat "$T/text")" "/web01\.raw: infected"$'\n'"  FOUND whole:/srv/eicar\.com: [^"$'\n'"]*"$'\n'"kvm02/db02\.raw: clean"$'\n' \
	"report text: each target with its host and status, detections under it"
like "$(tail -n 1 "$T/text")" "^2 host\(s\), 3 target\(s\), 1 detection\(s\), 0 not fully scanned, exit 1$" \
	"and the fleet's totals"
"$AVBATCH" report merge "$T/h2b.json" >"$T/one.json"
is "$?:$(jq -r .exit_code "$T/one.json")" "0:0" "a clean fleet exits 0 (report on stdout)"
jq '.exit_code = 2 | .status = "error" | .host = "kvm03" | .job = "j3"' "$T/h2b.json" >"$T/h3.json"
"$AVBATCH" report merge -o "$T/f2.json" "$T/h2b.json" "$T/h3.json"
is "$?:$(jq -r .status "$T/f2.json")" "2:error" "nothing found but a host not covered: exit 2, and why"
"$AVBATCH" report merge -o "$T/f3.json" "$T/h1.json" "$T/h1.json" 2>"$T/err"
like "$?:$(cat "$T/err")" "^2:.*job '.*' is given twice" "the same report twice is refused"
echo '{"a": 1}' >"$T/other.json"
"$AVBATCH" report merge "$T/h1.json" "$T/other.json" >/dev/null 2>"$T/err"
like "$?:$(cat "$T/err")" "^2:.*is not an avbatch report" "a file that is no report is refused"
done_testing
