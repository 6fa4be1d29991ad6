#!/bin/bash
# Engine output that is lost, and trust of what root runs (issue #13,
# items 7 and 8).
#
# 7: a state directory on a full file system (a small tmpfs) must not turn
#    an infected disk into "clean, exit 0" for an engine whose exit status
#    says nothing (Dr.Web: the verdict comes from its output lines): the
#    output that could not be kept makes the file system an error (exit 2),
#    and so does a missing summary line for such an engine.
# 8: a descriptor, the program it names and the configuration file are
#    trusted only when every component of their path is owned by root and
#    not writable by group or others (a sticky directory only above an
#    entry root owns), so `nobody` cannot swap what root runs or reads.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd jq mkfs.ext4 setpriv

plan 29

DOUBLES=$top_srcdir/tests/doubles
attacker() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }

# ------------------------------------------------------------- item 7

mkdir -p "$T/tree/d" "$T/img" "$T/pad" "$T/mute" "$T/state"
printf 'clean\n' >"$T/tree/d/readme.txt"
fx_eicar "$T/tree/d/eicar.com" || bail_out "cannot write EICAR"
truncate -s 8M "$T/img/vm.raw" &&
	mkfs.ext4 -q -F -E root_owner=0:0 -d "$T/tree" "$T/img/vm.raw" ||
	bail_out "cannot build vm.raw"

# drweb-ctl that prints 4 MB of progress lines before the double's own
# output (its detection and summary come last), and one that prints nothing.
cat >"$T/pad/drweb-ctl" <<EOF
#!/bin/bash
if [ "\${1:-}" = scan ]; then
	yes 'Progress: scanning, please wait' | head -c 4194304
fi
exec "$DOUBLES/drweb-ctl" "\$@"
EOF
cat >"$T/mute/drweb-ctl" <<EOF
#!/bin/bash
[ "\${1:-}" = scan ] && exit 0
exec "$DOUBLES/drweb-ctl" "\$@"
EOF
chmod 0755 "$T/pad/drweb-ctl" "$T/mute/drweb-ctl"

run7() {	# run7 BINDIR STATEDIR: exit status in $?, report in $T/r.json
	rm -f "$T/r.json"
	PATH="$1:$DOUBLES:$PATH" "$AVBATCH" --engines-dir "$top_srcdir/engines" \
		--state-dir "$2" run --engine drweb --no-cache \
		--report "$T/r.json" "$T/img/vm.raw" >"$T/out" 2>"$T/err"
}
fs() {		# status and reason of the file system
	jq -r '.targets[0].filesystems[0] | [.status, .reason // ""] | @tsv' \
		"$T/r.json" 2>/dev/null
}
show() { _diag_file "$T/err" 10; diag "fs: $(fs)"; }

run7 "$T/pad" "$T/state"
is "$?" 1 "padded drweb-ctl, room for its output: EICAR found, exit 1" || show
is "$(jq -r '.targets[0].detections[].path' "$T/r.json" 2>/dev/null)" \
	"/d/eicar.com" "the detection after 4 MB of output is read"

mkdir -p "$T/full"
mount -t tmpfs -o size=1m,mode=0700 tmpfs "$T/full" || bail_out "cannot mount a tmpfs"
at_exit umount -l "$T/full"
run7 "$T/pad" "$T/full"
rc=$?
is "$rc" 2 "state directory full, output lost: exit 2, never 0" || show
like "$(fs)" "^error	drweb: .*output.*No space left on device" \
	"the file system is an error that says the output was lost" || show
umount "$T/full"

run7 "$T/mute" "$T/state"
is "$?" 2 "no summary line from an engine whose exit status says nothing: exit 2" || show
like "$(fs)" "^error	drweb: .*summary" "the file system is an error naming the missing summary" ||
	show

# ------------------------------------------------------------- item 8

chmod 0755 "$T"		# nobody may reach the directories below
mkdir -p "$T/good/bin" "$T/ww" "$T/sticky"
chmod 0755 "$T/good" "$T/good/bin"
chmod 0777 "$T/ww"
chmod 1777 "$T/sticky"

descriptor() {	# descriptor FILE NAME BINARY
	printf '[engine]\nname = %s\nbinary = %s\n[actions]\nscan = {binary} {target}\nversion = {binary} --version\n[result]\nclean = 0\ndetection = ^(.*): ([^ ]+) FOUND$\ndetection_path = 1\ndetection_threat = 2\n' \
		"$2" "$3" >"$1" && chmod 0644 "$1"
}
program() {	# program FILE: a version action that leaves a mark when it runs
	printf '#!/bin/sh\necho ran >"%s.ran"\necho "prog 1.0"\n' "$1" >"$1" &&
		chmod 0755 "$1"
}
av() {		# av [GLOBAL-OPTION...] -- ARG...: output in $T/av.out
	PATH="$T/good/bin:$PATH" "$AVBATCH" --state-dir "$T/state" "$@" \
		>"$T/av.out" 2>&1
}

program "$T/good/bin/goodprog"
descriptor "$T/good/good.ini" good goodprog
av --engines-dir "$T/good" engines check good
is "$?" 0 "trusted descriptor and program: engines check works" || _diag_file "$T/av.out"

# A root-owned descriptor in a directory anyone can write.
descriptor "$T/ww/wwdesc.ini" wwdesc goodprog
av --engines-dir "$T/ww" engines show wwdesc
is "$?" 2 "descriptor in a world-writable directory: refused" || _diag_file "$T/av.out"
like "$(cat "$T/av.out")" "'$T/ww' .*writable" "the error names the directory"
ok "nobody can indeed swap it" attacker mv "$T/ww/wwdesc.ini" "$T/ww/moved.ini"

# A trusted descriptor naming a program nobody wrote in such a directory.
attacker sh -c 'printf "#!/bin/sh\\necho ran >\"\$0.ran\"\\necho evil 1.0\\n" >"$1" && chmod 0755 "$1"' \
	sh "$T/ww/evilprog" || bail_out "nobody cannot write $T/ww/evilprog"
descriptor "$T/good/nobodys.ini" nobodys "$T/ww/evilprog"
av --engines-dir "$T/good" engines check nobodys
is "$?" 2 "program owned by nobody: engines check refuses it" || _diag_file "$T/av.out"
ok_not "nobody's program did not run as root" test -e "$T/ww/evilprog.ran"
like "$(cat "$T/av.out")" "'$T/ww/evilprog'" "the error names the program"

# A root-owned program in a directory nobody can write to: swappable.
program "$T/ww/rootprog"
descriptor "$T/good/wwprog.ini" wwprog "$T/ww/rootprog"
av --engines-dir "$T/good" engines check wwprog
is "$?" 2 "root's program in a world-writable directory: refused" || _diag_file "$T/av.out"
ok_not "it did not run" test -e "$T/ww/rootprog.ran"
like "$(cat "$T/av.out")" "'$T/ww'" "the error names the directory"

# The same found through PATH.
descriptor "$T/good/viapath.ini" viapath rootprog
PATH="$T/ww:$PATH" "$AVBATCH" --state-dir "$T/state" --engines-dir "$T/good" \
	engines check viapath >"$T/av.out" 2>&1
is "$?" 2 "a program found in PATH in a world-writable directory: refused" ||
	_diag_file "$T/av.out"
ok_not "it did not run" test -e "$T/ww/rootprog.ran"

# Sticky directories (like /tmp): an entry root owns cannot be swapped,
# one that nobody owns (here a symlink to the engines) can.
ln -s "$T/good" "$T/sticky/rootlink"
av --engines-dir "$T/sticky/rootlink" engines check good
is "$?" 0 "root's symlink in a sticky directory is followed" || _diag_file "$T/av.out"
attacker ln -s "$T/good" "$T/sticky/link" || bail_out "nobody cannot link"
av --engines-dir "$T/sticky/link" engines check good
is "$?" 2 "nobody's symlink in a sticky directory: refused" || _diag_file "$T/av.out"
like "$(cat "$T/av.out")" "'$T/sticky/link'" "the error names the symlink"

# A hard link to one of root's descriptors in a sticky directory is what
# nobody could make there without fs.protected_hardlinks (made by root here).
descriptor "$T/good/linked.ini" linked goodprog
ln "$T/good/linked.ini" "$T/sticky/linked.ini"
av --engines-dir "$T/sticky" engines show linked
is "$?" 2 "a hard link to root's descriptor in a sticky directory: refused" ||
	_diag_file "$T/av.out"
like "$(cat "$T/av.out")" "'$T/sticky/linked.ini' has other hard links" \
	"the error names the link"
rm -f "$T/sticky/linked.ini"
cp -p "$T/good/linked.ini" "$T/sticky/linked.ini"
av --engines-dir "$T/sticky" engines show linked
is "$?" 0 "root's own descriptor in a sticky directory is accepted" ||
	_diag_file "$T/av.out"

# The configuration file.
printf '[avbatch]\nengine = good\n' >"$T/good/avbatch.conf"
chmod 0644 "$T/good/avbatch.conf"
cp -p "$T/good/avbatch.conf" "$T/ww/avbatch.conf"
ln -s "$T/good/avbatch.conf" "$T/good/link.conf"
av --config "$T/good/link.conf" --engines-dir "$T/good" engines list
is "$?" 0 "a configuration through root's symlink in a trusted directory" ||
	_diag_file "$T/av.out"
av --config "$T/ww/avbatch.conf" --engines-dir "$T/good" engines list
is "$?" 2 "a configuration file in a world-writable directory: refused" ||
	_diag_file "$T/av.out"
like "$(cat "$T/av.out")" "'$T/ww'" "the error names the directory"
attacker ln -s "$T/good/avbatch.conf" "$T/ww/link.conf" || bail_out "nobody cannot link"
av --config "$T/ww/link.conf" --engines-dir "$T/good" engines list
is "$?" 2 "a configuration through nobody's symlink: refused" || _diag_file "$T/av.out"

is "$(leftovers)" "" "nothing is left behind"
done_testing
