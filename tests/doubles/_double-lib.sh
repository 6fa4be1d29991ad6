# tests/doubles/_double-lib.sh - shared by the engine test doubles in this
# directory (sourced, not executed; the doubles are the executables here).
#
# A test double stands in for a commercial scanner that cannot be installed
# on a test machine.  It decides from file CONTENT only:
#   a file containing AVBATCH-DOUBLE-ERROR          -> an error while scanning it
#   a file containing EICAR-STANDARD-ANTIVIRUS-TEST-FILE -> infected
#   anything else                                   -> clean
# and prints what the vendor's documentation (engines-reference.md) says
# the product prints for that.  Nothing here evaluates a file name as shell
# code: names are passed as arguments, read with NUL or newline delimiters,
# and printed with printf '%s'.

set -u
export LC_ALL=C

DBL_FILES=0		# objects looked at
DBL_INFECTED=0		# objects found infected
DBL_ERRORS=0		# objects that could not be scanned
DBL_CLEAN=0

# dbl_verdict FILE: print clean, infected or error for one regular file.
dbl_verdict() {
	if ! [ -r "$1" ]; then
		echo error
	elif grep -qF -e 'AVBATCH-DOUBLE-ERROR' -e 'AVBATCH-DOUBLE-PASSWORD' -- "$1" 2>/dev/null; then
		echo error
	elif grep -qF -e 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' -- "$1" 2>/dev/null; then
		echo infected
	else
		echo clean
	fi
}

# dbl_walk CALLBACK TARGET [FIND-OPTION...]: call "CALLBACK PATH VERDICT" for
# every regular file under TARGET (TARGET itself if it is a regular file).
# Symbolic links are never followed, not even TARGET itself (find -P); paths
# are printed as find builds them from TARGET, so an absolute TARGET gives
# absolute paths.  FIND-OPTIONs (e.g. -maxdepth 1) go before -type f.
dbl_walk() {
	local cb=$1 target=$2 f v
	shift 2
	case $target in -*) target=./$target ;; esac	# not a find expression
	while IFS= read -r -d '' f; do
		v=$(dbl_verdict "$f")
		dbl_count "$v"
		"$cb" "$f" "$v"
	done < <(find -P "$target" "$@" -type f -print0)
	# A directory find could not read: not everything was scanned.  (Its
	# message stays find's own, on stderr; the exit status shows it.)
	wait "$!" || DBL_ERRORS=$((DBL_ERRORS + 1))
}

# dbl_list CALLBACK LISTFILE: the same for each path listed in LISTFILE, one
# per line.  A listed path that is not a regular file (missing, a symlink,
# a directory) is an error.
dbl_list() {
	local cb=$1 list=$2 f v
	while IFS= read -r f || [ -n "$f" ]; do
		[ -n "$f" ] || continue
		if [ -L "$f" ] || ! [ -f "$f" ]; then
			v=error
		else
			v=$(dbl_verdict "$f")
		fi
		dbl_count "$v"
		"$cb" "$f" "$v"
	done <"$list"
}

dbl_count() {
	DBL_FILES=$((DBL_FILES + 1))
	case $1 in
	infected) DBL_INFECTED=$((DBL_INFECTED + 1)) ;;
	error) DBL_ERRORS=$((DBL_ERRORS + 1)) ;;
	*) DBL_CLEAN=$((DBL_CLEAN + 1)) ;;
	esac
}

# dbl_form FILE: the output form a file asks for, from the marker
# AVBATCH-DOUBLE-FORM-<n> in its content (0 without one), for doubles that
# print several real forms of a line (t3200 plants one file per form).
dbl_form() {
	local m
	m=$(grep -aoE -e 'AVBATCH-DOUBLE-FORM-[0-9]+' -- "$1" 2>/dev/null | head -n 1)
	printf '%s\n' "${m:-AVBATCH-DOUBLE-FORM-0}" | sed 's/.*-//'
}

# dbl_is_zip FILE: true if FILE is a zip archive (by name; the doubles
# then report the member "eicar.com" inside it, as real scanners do).
dbl_is_zip() {
	case $1 in *.zip) return 0 ;; esac
	return 1
}

# dbl_exists PATH: true if PATH exists (a dangling symlink counts).
dbl_exists() {
	[ -e "$1" ] || [ -L "$1" ]
}

# dbl_lc WORD: WORD in lower case (for case-insensitive option parsing).
dbl_lc() {
	printf '%s' "$1" | tr '[:upper:]' '[:lower:]'
}
