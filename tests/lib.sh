# tests/lib.sh - TAP helpers for avbatch tests.  Source it from tests/tNNNN-*.sh:
#
#     . "$(dirname "$0")/lib.sh"
#
# Provides (see each function):
#   top_srcdir top_builddir AVBATCH T
#   at_exit CMD [ARG...]      register a cleanup command (argv, run in reverse order)
#   plan N | skip_all REASON | done_testing
#   ok DESC CMD [ARG...]      ok_not DESC CMD [ARG...]
#   is GOT EXPECTED DESC      like GOT ERE DESC      unlike GOT ERE DESC
#   skip REASON [N]           diag MSG...            bail_out REASON
#   need_root                 need_cmd CMD...        leftovers
#
# TAP goes to stdout; everything else (command output, cleanup noise) must go to
# stderr or to files.  Nothing here evaluates strings as shell code.

set -u

# sbin directories: mkfs.*, sfdisk, losetup, blkid live there and CI shells
# do not always have them in PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac
case ":$PATH:" in *:/sbin:*) ;; *) PATH=$PATH:/sbin ;; esac
export PATH

_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || exit 99
: "${top_srcdir:=$(cd "$_lib_dir/.." && pwd)}"
: "${top_builddir:=$(cd "$_lib_dir/.." && pwd)}"
export top_srcdir top_builddir
AVBATCH=${AVBATCH:-$top_builddir/src/avbatch}

# ---------------------------------------------------------------- cleanup

_AT_EXIT_ARGV=()	# all registered argv words, flattened
_AT_EXIT_LEN=()		# number of words of each registered command
_lib_cleaned=0

# at_exit CMD [ARG...]: run "CMD ARG..." (no shell evaluation) when the test
# exits, on EXIT, INT or TERM.  Commands run in reverse order of registration,
# their stdout is sent to stderr, and their failures are ignored.
at_exit() {
	[ $# -gt 0 ] || return 0
	_AT_EXIT_LEN+=("$#")
	_AT_EXIT_ARGV+=("$@")
}

_lib_sanitized=0	# set to 1 when a sanitizer report was found

# _lib_sanitizer_reports: show every ASan/UBSan/LSan report written under
# $T (see ASAN_OPTIONS below) as a diagnostic and bail out: a report
# anywhere in the test fails it, whatever the test's own checks said.
_lib_sanitizer_reports() {
	local f found=
	for f in "$T"/.sanitizer.*; do
		[ -s "$f" ] || continue
		found=1
		diag "sanitizer report $f:"
		head -n 60 -- "$f" | sed 's/^/#   | /'
	done
	[ -n "$found" ] || return 0
	_lib_sanitized=1
	printf 'Bail out! sanitizer report (see above)\n'
}

_lib_cleanup() {
	[ "$_lib_cleaned" = 0 ] || return 0
	_lib_cleaned=1
	local i n end=${#_AT_EXIT_ARGV[@]}
	for ((i = ${#_AT_EXIT_LEN[@]} - 1; i >= 0; i--)); do
		n=${_AT_EXIT_LEN[i]}
		end=$((end - n))
		"${_AT_EXIT_ARGV[@]:end:n}" >&2 || true
	done
	_AT_EXIT_ARGV=() _AT_EXIT_LEN=()
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		_lib_sanitizer_reports
		if [ -n "${AVBATCH_TEST_KEEP:-}" ]; then
			echo "lib.sh: keeping $T" >&2
		else
			# Never descend into something still mounted below $T.
			if awk -v t="$T/" 'index($2 "/", t) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
				echo "lib.sh: something is still mounted below $T:" >&2
				awk -v t="$T/" 'index($2 "/", t) == 1' /proc/self/mounts >&2
			fi
			rm -rf --one-file-system -- "$T" >&2 2>&1 || true
		fi
	fi
}

_lib_on_exit() {
	local rc=$?
	_lib_cleanup
	[ "$_lib_sanitized" = 0 ] || [ "$rc" != 0 ] || rc=1
	exit "$rc"
}

_lib_on_signal() {
	local sig=$1 code=$2
	trap '' INT TERM
	echo "lib.sh: caught SIG$sig, cleaning up" >&2
	_lib_cleanup
	trap - EXIT
	exit "$code"
}

trap _lib_on_exit EXIT
trap '_lib_on_signal INT 130' INT
trap '_lib_on_signal TERM 143' TERM
trap '_lib_on_signal HUP 129' HUP

T=$(mktemp -d "${TMPDIR:-/var/tmp}/avbatch-test.XXXXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 99
}
export T

# Sanitizer builds (./configure --enable-sanitizers): every report goes to
# a file under $T, not to the stderr that tests capture and compare, and
# fails the test when it ends (_lib_sanitizer_reports).  avbatch's children
# get its whitelisted environment, so only avbatch itself and what the
# test runs directly read these; uninstrumented programs ignore them.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:exitcode=86:log_path=$T/.sanitizer"
UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1:log_path=$T/.sanitizer"
export ASAN_OPTIONS UBSAN_OPTIONS

# Tests are hermetic: no verdict cache shared between runs unless a test
# asks for one (--cache FILE).  $AVBATCH runs the binary with a test
# configuration (a later --config on the command line still wins).
if [ -x "$AVBATCH" ]; then
	printf '[avbatch]\ncache = none\n' >"$T/.avbatch.conf"
	chmod 0644 "$T/.avbatch.conf"
	printf '#!/bin/bash\nexec %s --config %s "$@"\n' \
		"$(printf '%q' "$AVBATCH")" "$(printf '%q' "$T/.avbatch.conf")" \
		>"$T/.avbatch"
	chmod 0755 "$T/.avbatch"
	AVBATCH=$T/.avbatch
fi

# ---------------------------------------------------------------- leftovers

# Process names that must not survive a test.  /proc/PID/comm is cut to 15
# bytes (qemu-storage-daemon -> qemu-storage-da), so argv[0] is matched too.
_LIB_WATCHED='^(qemu-storage-daemon|qemu-storage-da|ntfs-3g|lowntfs-3g|mount\.ntfs-3g|mount\.exfat-fus(e)?|fusefat|clamscan|clamd)$'

# _lib_watched_pids: print "PID NAME" of every watched process.
_lib_watched_pids() {
	local d pid comm argv0 name
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		comm='' argv0=''
		IFS= read -r comm 2>/dev/null <"$d/comm" || continue
		IFS= read -r -d '' argv0 2>/dev/null <"$d/cmdline"
		argv0=${argv0##*/}
		name=
		if [[ $argv0 =~ $_LIB_WATCHED ]]; then
			name=$argv0
		elif [[ $comm =~ $_LIB_WATCHED ]]; then
			name=$comm
		fi
		[ -n "$name" ] && printf '%s %s\n' "$pid" "$name"
	done
	return 0
}

_LIB_PRE_PIDS=" $(_lib_watched_pids | awk '{ printf "%s ", $1 }')"

# leftovers: print what this test started and left behind: every FUSE mount
# (fuse, fuseblk, fuse.*) and every mount of a loop device whose source or
# mount point lies under $T, every `losetup -a` line naming a file under $T,
# and every qemu-storage-daemon, ntfs-3g, fusefat, clamscan or clamd process
# that did not exist when lib.sh was sourced and names $T on its command line
# (its image, export, mount point, list or configuration).  Tests keep all
# their files under $T, so another avbatch job on the host (a nightly batch)
# or a test running beside this one is never counted.  Empty output means
# nothing was left behind.
leftovers() {
	local pid name state cmd
	awk -v t="$T/" '($3 ~ /^fuse(blk)?(\.|$)/ || $1 ~ /^\/dev\/loop/) &&
		(index($1 "/", t) == 1 || index($2 "/", t) == 1) {
		print "mount: " $0 }' /proc/self/mounts
	if command -v losetup >/dev/null 2>&1; then
		losetup -a 2>/dev/null | grep -F -- "$T/" | sed 's/^/loop: /'
	fi
	_lib_watched_pids | while read -r pid name; do
		case $_LIB_PRE_PIDS in *" $pid "*) continue ;; esac
		cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
		case $cmd in *"$T/"*) ;; *) continue ;; esac
		state=$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
		printf 'process: %s %s state=%s\n' "$pid" "$name" "${state:-?}"
	done
	return 0
}

# ---------------------------------------------------------------- TAP

_TAP_N=0
_TAP_FAILED=0
_TAP_PLAN=

_tap_desc() {
	# A '#' would start a TAP directive, a newline would end the line.
	local d=${1//$'\n'/ }
	printf '%s' "${d//#/\\#}"
}

_tap_result() {	# _tap_result 0|1 DESC
	_TAP_N=$((_TAP_N + 1))
	if [ "$1" = 0 ]; then
		printf 'ok %d - %s\n' "$_TAP_N" "$(_tap_desc "$2")"
	else
		_TAP_FAILED=$((_TAP_FAILED + 1))
		printf 'not ok %d - %s\n' "$_TAP_N" "$(_tap_desc "$2")"
	fi
}

# diag MSG...: print a TAP diagnostic (each line prefixed with "# ").
diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

_diag_file() {	# _diag_file FILE [MAXLINES]: show a command's output
	[ -s "$1" ] || return 0
	head -n "${2:-40}" -- "$1" | sed 's/^/#   | /'
	local n
	n=$(wc -l <"$1")
	[ "$n" -le "${2:-40}" ] || diag "  ... ($n lines, truncated)"
}

# plan N
plan() {
	_TAP_PLAN=$1
	printf '1..%d\n' "$1"
}

# skip_all REASON: nothing can be tested here; exit 0.
skip_all() {
	printf '1..0 # SKIP %s\n' "$(_tap_desc "$*")"
	exit 0
}

# bail_out REASON: abort the whole test run.
bail_out() {
	printf 'Bail out! %s\n' "$(_tap_desc "$*")"
	exit 99
}

# skip REASON [N]: record N (default 1) skipped tests.
skip() {
	local i n=${2:-1}
	for ((i = 0; i < n; i++)); do
		_TAP_N=$((_TAP_N + 1))
		printf 'ok %d # SKIP %s\n' "$_TAP_N" "$(_tap_desc "$1")"
	done
}

_tap_run() {	# _tap_run EXPECT(0=success,1=failure) DESC CMD...
	local want=$1 desc=$2 rc out
	shift 2
	out=$T/.tap-cmd-output
	if [ $# -eq 0 ]; then
		_tap_result 1 "$desc"
		diag "  no command given"
		return 1
	fi
	"$@" >"$out" 2>&1
	rc=$?
	if { [ "$want" = 0 ] && [ "$rc" = 0 ]; } || { [ "$want" = 1 ] && [ "$rc" != 0 ]; }; then
		_tap_result 0 "$desc"
		return 0
	fi
	_tap_result 1 "$desc"
	diag "  command: $(printf '%q ' "$@")"
	diag "  exit status: $rc"
	_diag_file "$out"
	return 1
}

# ok DESC CMD [ARG...]: pass if the command succeeds.  Its stdout and stderr
# are captured and shown as diagnostics only on failure.  The command runs in
# the current shell (functions may set variables).
ok() {
	local desc=$1
	shift
	_tap_run 0 "$desc" "$@"
}

# ok_not DESC CMD [ARG...]: pass if the command fails.
ok_not() {
	local desc=$1
	shift
	_tap_run 1 "$desc" "$@"
}

# is GOT EXPECTED DESC: exact string comparison, unified diff on failure.
is() {
	if [ "$1" == "$2" ]; then
		_tap_result 0 "$3"
		return 0
	fi
	_tap_result 1 "$3"
	if [[ $1 == *$'\n'* || $2 == *$'\n'* ]]; then
		diag "  --- expected / +++ got"
		diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$1") | tail -n +3 | sed 's/^/#   /'
	else
		diag "       got: '$1'"
		diag "  expected: '$2'"
	fi
	return 1
}

# like GOT ERE DESC: pass if GOT matches the POSIX extended regex anywhere
# (GOT is one string: ^ and $ anchor at its start and end, not at newlines).
like() {
	if [[ $1 =~ $2 ]]; then
		_tap_result 0 "$3"
		return 0
	fi
	_tap_result 1 "$3"
	diag "  got:"
	printf '%s\n' "$1" | head -n 40 | sed 's/^/#   | /'
	diag "  does not match: /$2/"
	return 1
}

# unlike GOT ERE DESC: the opposite of like.
unlike() {
	if ! [[ $1 =~ $2 ]]; then
		_tap_result 0 "$3"
		return 0
	fi
	_tap_result 1 "$3"
	diag "  got:"
	printf '%s\n' "$1" | head -n 40 | sed 's/^/#   | /'
	diag "  matches: /$2/"
	return 1
}

# done_testing: print the plan if none was given; exit 1 if a test failed or
# the plan was not followed, 0 otherwise.
done_testing() {
	if [ -z "$_TAP_PLAN" ]; then
		printf '1..%d\n' "$_TAP_N"
	elif [ "$_TAP_PLAN" != "$_TAP_N" ]; then
		diag "planned $_TAP_PLAN tests but ran $_TAP_N"
		exit 1
	fi
	if [ "$_TAP_FAILED" -gt 0 ]; then
		diag "failed $_TAP_FAILED of $_TAP_N tests"
		exit 1
	fi
	exit 0
}

# ---------------------------------------------------------------- requirements

need_root() {
	[ "$(id -u)" = 0 ] || skip_all "needs root"
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "missing command: $c"
	done
}
