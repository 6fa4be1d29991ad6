#!/bin/bash
# The Ansible role and playbook (ansible/): two hypervisors of an inventory
# (local connections standing for two hosts, each with its own images, state
# and report directories) scan in parallel; the controller fetches both
# reports, merges them, prints one summary, and fails the play when something
# was found; a clean fleet passes.  ansible-lint finds nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures.sh"
need_root
need_cmd ansible-playbook ansible-lint mkfs.ext4 clamscan jq

plan 9

mkdir -p "$T/a/img" "$T/b/img" "$T/sigs" "$T/t1/srv" "$T/t2/etc" "$T/bin" "$T/home"
fx_sigdb "$T/sigs" || bail_out "no signatures"
fx_eicar "$T/t1/srv/eicar.com"
echo hello >"$T/t2/etc/motd"
truncate -s 32M "$T/a/img/web01.raw" "$T/b/img/db02.raw" "$T/b/img/db03.raw"
mkfs.ext4 -q -d "$T/t1" "$T/a/img/web01.raw" && mkfs.ext4 -q -d "$T/t2" "$T/b/img/db02.raw" &&
	mkfs.ext4 -q -d "$T/t2" "$T/b/img/db03.raw" || bail_out "mkfs.ext4 failed"
printf '#!/bin/sh\nexec %q --engines-dir %q "$@"\n' "$AVBATCH" "$top_srcdir/engines" >"$T/bin/avbatch"
chmod 0755 "$T/bin/avbatch"

# inventory HOST:IMAGEDIR...: two hosts on local connections.
inventory() {
	local h
	printf 'all:\n  vars:\n'
	printf '    ansible_connection: local\n    ansible_become: false\n'
	printf '    ansible_python_interpreter: /usr/bin/python3\n'
	printf '    avbatch_bin: %s\n' "$T/bin/avbatch"
	printf '    avbatch_options: ["clamav.database=%s"]\n' "$T/sigs"
	printf '    avbatch_engine: clamav\n'
	printf '  children:\n    hypervisors:\n      hosts:\n'
	for h in "$@"; do
		printf '        %s:\n' "${h%%:*}"
		printf '          avbatch_targets: ["%s"]\n' "${h#*:}"
		printf '          avbatch_state_dir: %s\n' "$T/${h%%:*}.state"
		printf '          avbatch_report_dir: %s\n' "$T/${h%%:*}.reports"
	done
}
play() {	# play INVENTORY FETCHDIR: the fleet scan
	HOME=$T/home ANSIBLE_NOCOLOR=1 ANSIBLE_LOCAL_TEMP=$T/home/tmp \
	ANSIBLE_REMOTE_TEMP=$T/home/rtmp ANSIBLE_RETRY_FILES_ENABLED=0 \
	ANSIBLE_FORKS=5 \
		ansible-playbook -i "$1" "$top_srcdir/ansible/fleet-scan.yml" \
		-e "avbatch_fetch_dir=$2" >"$T/play.out" 2>&1
}

inventory "kvm-a:$T/a/img" "kvm-b:$T/b/img" >"$T/inv.yml"
play "$T/inv.yml" "$T/fetch"
rc=$?
ok "the play fails when something was found (exit $rc)" test "$rc" != 0
like "$(cat "$T/play.out")" "something was found \\(exit 1\\)" "and says why"
fleet=$(ls "$T"/fetch/*/fleet.json 2>/dev/null | head -1)
ok "the controller holds the merged report" test -s "$fleet"
is "$(jq -r '[.targets[] | "\(.host)/\(.name)/\(.status)"] | sort | join(" ")' "$fleet")" \
	"kvm-a/web01.raw/infected kvm-b/db02.raw/clean kvm-b/db03.raw/clean" \
	"it holds both hosts' targets, each with its host"
is "$(jq -r '[.targets[].detections[] | .path] | join(" ")' "$fleet")" "/srv/eicar.com" \
	"and the detection"
ok "each host kept its own report" \
	test -n "$(ls "$T"/kvm-a.reports/*-kvm-a.json)" -a -n "$(ls "$T"/kvm-b.reports/*-kvm-b.json)"
like "$(cat "$T/play.out")" "kvm-a web01.raw infected" "the summary names host, target and status"

inventory "kvm-b:$T/b/img" >"$T/inv2.yml"
play "$T/inv2.yml" "$T/fetch2"
is "$?" 0 "a clean fleet passes"

(cd "$top_srcdir/ansible" && HOME=$T/home ANSIBLE_NOCOLOR=1 ansible-lint --offline -q fleet-scan.yml) \
	>"$T/lint.out" 2>&1
is "$?:$(grep -c 'warning\|error' "$T/lint.out")" "0:0" "ansible-lint: clean"
[ -s "$T/lint.out" ] && diag "$(cat "$T/lint.out")"
done_testing
