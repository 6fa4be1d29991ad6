#!/bin/bash
# avp.com - TEST DOUBLE for the console front-end of Kaspersky's Windows
# products (Kaspersky Internet Security / Anti-Virus 6.0 and later consumer
# builds, same command family as KES for Mac `kav`).  Not the real program.
#
# Follows engines-reference.md section 7.1:
#   avp.com SCAN <objects...> | /@:<listfile>  /i0../i4,/i8,/i9  /fa|/fe|/fi
#           /R:<file> | /RA:<file>  /C:<file>  /e:...  [DOC mirror]
#   report lines "YYYY-MM-DD HH:MM:SS <sep> object <sep> status [<sep> threat]"
#   and the "; --- Statistics ---" block with "; Total detected:",
#   "; Suspicions:", "; Errors:" [3P IRMA KAV 18 fixture];
#   return codes 0 success, 1 invalid parameter value, 2 unknown error,
#   3 task completion error, 4 cancelled, 101 all dangerous objects
#   processed, 102 dangerous objects detected [DOC KES for Mac 26827];
#   UPDATE, HELP, PAUSE/STOP <task> /password=<pwd>, RESUME <task>;
#   EICAR name EICAR-Test-File [3P, section 15].
# INVENTED: TAB as the field separator (the reference says "probably TAB"),
# the "error" status line and its message, exit 3 for a scan with errors
# but no detection, the precedence of 102 over errors, the header and HELP
# texts.  The real avp.com is Windows-only; this double runs on Linux,
# where avbatch's paths begin with '/', so it tells switches from objects
# by their exact spelling (/i0, /fa, /RA:..., /@:...).
. "$(dirname -- "${BASH_SOURCE[0]}")/_double-lib.sh"

bad_param() {
	printf 'Error: invalid parameter value: %s\n' "$1" >&2
	exit 1
}

REPORT=
emit() {	# one report line: to the console and to the /R or /RA file
	printf '%s\n' "$1"
	if [ -n "$REPORT" ]; then printf '%s\n' "$1" >>"$REPORT"; fi
}

on_object() {	# PATH VERDICT
	local now
	now=$(date '+%Y-%m-%d %H:%M:%S')
	case $2 in
	infected) emit "$now	$1	detected	EICAR-Test-File" ;;
	error) emit "$now	$1	error	Access denied" ;;
	esac
}

do_scan() {
	local objects=() list='' action=8 a o
	for a in "$@"; do
		case $a in
		/i[0-4] | /i8 | /i9) action=${a#/i} ;;
		/fa | /fe | /fi | /FA | /FE | /FI) ;;
		/R:?* | /RA:?* | /r:?* | /ra:?*) REPORT=${a#*:} ;;
		/@:?*) list=${a#/@:} ;;
		/C:?* | /c:?*) ;;
		/e:?* | /es:?* | /E:?* | /ES:?*) ;;
		/MEMORY | /STARTUP | /MAIL | /REMDRIVES | /FIXDRIVES | /NETDRIVES | /QUARANTINE | /ALL)
			bad_param "$a (not supported by the test double)" ;;
		/i* | /f* | /R* | /@* | /C* | /e*) bad_param "$a" ;;
		*) objects+=("$a") ;;
		esac
	done
	[ "$action" = 0 ] || bad_param "only /i0 (report only) is supported by the test double"
	[ -n "$list" ] || [ ${#objects[@]} -gt 0 ] || bad_param 'no object to scan'
	if [ -n "$REPORT" ]; then
		: >"$REPORT" || { echo "Error: cannot create report file $REPORT" >&2; exit 2; }
	fi
	emit "AV bases release date: 2026-11-27 06:00:00 (full)"
	# KAV 18 ignores /i0 when not interactive and disinfects [3P IRMA
	# kaspersky_win test capture]: the double says so, as the real one
	# does, and changes nothing (avbatch's mounts are read-only anyway).
	emit "Warning: scan action parameter is ignored due to non-interactive mode is in effect"
	emit "; --- Settings ---"
	emit "; Action on detect:	Disinfect automatically"
	emit "; Scan objects:	All objects"
	emit "; ------------------"
	if [ -n "$list" ]; then
		[ -r "$list" ] || bad_param "/@:$list"
		dbl_list on_object "$list"
	fi
	for o in "${objects[@]}"; do
		if ! dbl_exists "$o"; then
			on_object "$o" error
			dbl_count error
			continue
		fi
		dbl_walk on_object "$o"
	done
	emit ";  --- Statistics ---"
	emit "; Processed objects:	$DBL_FILES"
	emit "; Total detected:	$DBL_INFECTED"
	emit "; Detected exactly:	$DBL_INFECTED"
	emit "; Suspicions:	0"
	emit "; Disinfected:	0"
	emit "; Deleted:	0"
	emit "; Skipped:	0"
	emit "; Password protected:	0"
	emit "; Corrupted:	0"
	emit "; Errors:	$DBL_ERRORS"
	[ "$DBL_INFECTED" -eq 0 ] || exit 102
	[ "$DBL_ERRORS" -eq 0 ] || exit 3
	exit 0
}

[ $# -gt 0 ] || bad_param 'no command'
cmd=$(printf '%s' "$1" | tr '[:lower:]' '[:upper:]')
shift
case $cmd in
SCAN) do_scan "$@" ;;
HELP)
	echo 'Kaspersky Internet Security 6.0.4.1611 (test double)'
	echo 'Usage: avp.com <command> [options]'
	exit 0
	;;
UPDATE)
	echo 'AV bases release date: 2026-11-27 06:00:00 (full)'
	echo 'Update completed'
	exit 0
	;;
PAUSE | STOP | RESUME)
	[ $# -ge 1 ] || bad_param "$cmd needs a task name"
	[ $# -le 2 ] || bad_param "$3"
	if [ $# -eq 2 ]; then
		case $2 in /password=*) ;; *) bad_param "$2" ;; esac
	fi
	printf 'Task %s: %s done\n' "$1" "$cmd"
	exit 0
	;;
*) bad_param "$cmd" ;;
esac
