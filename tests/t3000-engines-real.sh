#!/bin/bash
# The real engines on the same images: clamav, clamd and yara agree on the
# planted EICAR files; several engines in one run mount each file system
# once; clamav and clamd agree on the clamav-testfiles set; many files go
# to clamd as several lists; chkrootkit's findings on a Debian-like root
# reach the report.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan clamdscan clamd yara chkrootkit jq mkfs.ext4 sigtool

plan 21

fx_batch "$T/img" || bail_out "cannot build the test images"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
cat >"$T/rules.yar" <<'YAR'
rule Test_EICAR_YARA
{
	strings:
		$a = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
	condition:
		$a
}
YAR

run() {	# run REPORT ENGINES IMAGES...: avbatch -v run, output in REPORT.{out,err}
	local report=$1 engines=$2 e opts=()
	shift 2
	for e in ${engines//,/ }; do
		case $e in
		clamav|clamd) opts+=(-o "$e.database=$T/sigs") ;;
		yara) opts+=(-o "yara.rules=$T/rules.yar") ;;
		esac
	done
	"$AVBATCH" -v --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run --engine "$engines" "${opts[@]}" \
		--report "$report" "$@" >"$report.out" 2>"$report.err"
}
found() {	# found REPORT ENGINE: "image fs path" of each detection, sorted
	jq -r --arg e "$2" '.targets[] | .name as $n | .detections[] |
		select(.engine == $e) | [$n, .fs, .path] | @tsv' "$1" | LC_ALL=C sort
}
# The plain EICAR files (yara does not look inside archives).
grep -v -e 'clam\.' -e '\.tar\.gz' "$T/img/expect.detections" >"$T/eicar.expected"

run "$T/both.json" clamav,yara "${FX_IMAGES[@]}"
is "$?" 1 "clamav,yara: exit 1" || _diag_file "$T/both.json.err"
is "$(found "$T/both.json" clamav)" "$(cat "$T/img/expect.detections")" \
	"clamav,yara: clamav reports every planted file"
is "$(found "$T/both.json" yara)" "$(cat "$T/eicar.expected")" \
	"clamav,yara: yara reports every plain EICAR file, same paths"
is "$(jq -r '[.targets[].detections[] | select(.threat == "Test_EICAR_YARA")] | length' "$T/both.json")" \
	"$(wc -l <"$T/eicar.expected")" "yara's detections name its rule"
mounts=$(grep -c ': mounted ' "$T/both.json.err")
twice=$(grep ': mounted ' "$T/both.json.err" | awk '{print $2, $4}' | sort | uniq -d)
is "$mounts/$twice" "$(jq '[.targets[].filesystems[] | select(.status == "scanned")] | length' "$T/both.json")/" \
	"each file system is mounted once for both engines"
is "$(jq -r '[.engines[].name] | join(",")' "$T/both.json")" "clamav,yara" \
	"the report lists both engines"

run "$T/clamd.json" clamd "${FX_IMAGES[@]}"
is "$?" 1 "clamd: exit 1" || _diag_file "$T/clamd.json.err"
is "$(found "$T/clamd.json" clamd)" "$(cat "$T/img/expect.detections")" \
	"clamd reports the same files as clamav, same guest paths"
is "$(grep -c 'started its daemon' "$T/clamd.json.err")" 1 \
	"one clamd for the whole batch"
pid=$(sed -n 's/.*started its daemon (pid \([0-9]*\)).*/\1/p' "$T/clamd.json.err")
ok_not "and it is stopped afterwards" test -e "/proc/${pid:-0}"

run "$T/yara.json" yara "${FX_IMAGES[@]}"
is "$(found "$T/yara.json" yara)" "$(cat "$T/eicar.expected")" \
	"yara alone reports the same plain EICAR files"

# The clamav-testfiles set: every sample, hashed into a signature file.
mkdir -p "$T/tf/tree/samples dir" "$T/tfsigs"
cp /usr/share/clamav-testfiles/* "$T/tf/tree/samples dir/"
for f in /usr/share/clamav-testfiles/*; do
	sigtool --md5 "$f"
done | awk -F: '{ printf "%s:%s:Test.File.%d\n", $1, $2, NR }' >"$T/tfsigs/all.hdb"
cp "$T/sigs/test.ndb" "$T/tfsigs/"
size=$(( $(du -sm "$T/tf/tree" | cut -f1) + 16 ))
truncate -s "${size}M" "$T/tf/samples.raw"
mkfs.ext4 -q -F -d "$T/tf/tree" "$T/tf/samples.raw" || bail_out "mkfs failed"
for e in clamav clamd; do
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run --engine "$e" -o "$e.database=$T/tfsigs" \
		--report "$T/tf-$e.json" "$T/tf/samples.raw" >/dev/null 2>&1
done
tf_clamav=$(jq -r '.targets[0].detections[] | [.path, .threat] | @tsv' "$T/tf-clamav.json" | sort)
is "$(jq -r '.targets[0].detections[] | [.path, .threat] | @tsv' "$T/tf-clamd.json" | sort)" \
	"$tf_clamav" "clamav and clamd agree on the clamav-testfiles set"
is "$(echo "$tf_clamav" | wc -l)" "$(ls /usr/share/clamav-testfiles | wc -l)" \
	"every clamav-testfiles sample is detected"

# Many files: clamd gets them as several lists, taken in turn by one
# client run per core; each file is in exactly one list.
mkdir -p "$T/many/tree/d"
for i in $(seq 1500); do echo "file $i" >"$T/many/tree/d/f$i"; done
fx_eicar "$T/many/tree/d/f750"
truncate -s 32M "$T/many/many.raw"
mkfs.ext4 -q -F -N 2048 -d "$T/many/tree" "$T/many/many.raw" || bail_out "mkfs failed"
run "$T/many.json" clamd "$T/many/many.raw"
is "$?/$(jq -r '.targets[0].filesystems[0].files.scanned' "$T/many.json")" 1/1500 \
	"1500 files: all scanned by clamd" || _diag_file "$T/many.json.err"
is "$(found "$T/many.json" clamd)" "$(printf 'many.raw\twhole\t/d/f750')" \
	"the one infected file among them is found"
lists=$(find "$T/state/jobs/$(jq -r .job "$T/many.json")" -name '*.clamd.c*.list')
if [ "$(nproc)" -ge 2 ]; then
	ok "in more lists than client runs at once ($(echo "$lists" | grep -c .))" \
		test "$(echo "$lists" | grep -c .)" -gt "$(nproc)"
else
	skip "one CPU: one list"
fi
# shellcheck disable=SC2086
is "$(cat $lists | sort | uniq -d | wc -l)/$(cat $lists | wc -l)" 0/1500 \
	"every file in exactly one list"

# chkrootkit on a Debian-like root holding known rootkit files.
r=$T/ck/tree
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,usr/lib,usr/src,etc,dev,tmp,var/log,var/tmp,root,home/alice}
for b in ls ps login find du netstat top pstree ss; do
	p=$(command -v "$b") && cp "$p" "$r/usr/bin/" 2>/dev/null
done
cp /bin/sh "$r/bin/"
printf 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n' >"$r/etc/passwd"
: >"$r/var/log/wtmp"
mkdir -p "$r/usr/src/.poop" "$r/dev/.lib"
: >"$r/tmp/ramen.tgz"
printf 'asp stream tcp nowait root /bin/asp\n' >"$r/etc/inetd.conf"
truncate -s 64M "$T/ck/root.raw"
mkfs.ext4 -q -F -d "$r" "$T/ck/root.raw" || bail_out "mkfs failed"
"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" run \
	--engine chkrootkit --report "$T/ck.json" "$T/ck/root.raw" >"$T/ck.out" 2>&1
is "$?" 1 "chkrootkit: its findings make the run exit 1" || _diag_file "$T/ck.out"
is "$(jq -r '.targets[0].detections[] | [.path, .threat] | @tsv' "$T/ck.json" | sort)" \
"/dev/.lib	Possible Lion rootkit installed
/etc/inetd.conf	Possible Ramen Worm installed
/tmp/ramen.tgz	Possible Ramen Worm rootkit installed
/usr/src/.poop	Possible Ramen Worm rootkit installed" \
	"chkrootkit's findings appear with guest paths and its warnings as threats (also the one-line form)"
is "$(jq -r '.targets[0].filesystems[0] | [.status, .files.scanned] | @tsv' "$T/ck.json")" \
	"scanned	0" "chkrootkit: no error, and no file counted as scanned (it checks the paths it chooses)"

is "$(leftovers)" "" "nothing left mounted, attached or running"
done_testing
