# tests/check-style.awk - the mechanical part of STYLE.md, for make check-style
#
#     awk -f tests/check-style.awk src/*.c
#
# Prints "FILE:LINE: message" for each
#   - banned call (rule 6): system popen sprintf strcpy strcat strtok atoi gets
#   - fd born without close-on-exec (rule 7): open/openat without O_CLOEXEC,
#     fopen without "e" in a literal mode, socket/socketpair without
#     SOCK_CLOEXEC, pipe2/dup3/mkostemp without O_CLOEXEC, accept4 without
#     SOCK_CLOEXEC, signalfd/eventfd/memfd_create/timerfd_create/
#     epoll_create1/inotify_init1 without their CLOEXEC flag, and pipe, dup,
#     dup2, accept, mkstemp, mkstemps, creat, epoll_create, inotify_init and
#     fcntl(F_DUPFD) at all (each has a close-on-exec sibling)
# and exits 1 if it printed anything.  Comments are ignored, and so are
# names inside string literals; a call's arguments are read up to its
# closing parenthesis, across lines.  Member calls (ops->open()) and longer
# names (xopen, open_beneath) are not these calls.  opendir is fine: its fd
# is close-on-exec.

BEGIN {
	# name -> flag its arguments must contain ("" = never allowed)
	need["open"] = "O_CLOEXEC"
	need["openat"] = "O_CLOEXEC"
	need["socket"] = "SOCK_CLOEXEC"
	need["socketpair"] = "SOCK_CLOEXEC"
	need["accept4"] = "SOCK_CLOEXEC"
	need["pipe2"] = "O_CLOEXEC"
	need["dup3"] = "O_CLOEXEC"
	need["mkostemp"] = "O_CLOEXEC"
	need["mkostemps"] = "O_CLOEXEC"
	need["signalfd"] = "SFD_CLOEXEC"
	need["eventfd"] = "EFD_CLOEXEC"
	need["memfd_create"] = "MFD_CLOEXEC"
	need["timerfd_create"] = "TFD_CLOEXEC"
	need["epoll_create1"] = "EPOLL_CLOEXEC"
	need["inotify_init1"] = "IN_CLOEXEC"
	instead["pipe"] = "pipe2(fds, O_CLOEXEC)"
	instead["dup"] = "fcntl(fd, F_DUPFD_CLOEXEC, 0)"
	instead["dup2"] = "dup3(old, new, O_CLOEXEC)"
	instead["accept"] = "accept4(fd, addr, len, SOCK_CLOEXEC)"
	instead["mkstemp"] = "mkostemp(tmpl, O_CLOEXEC)"
	instead["mkstemps"] = "mkostemps(tmpl, n, O_CLOEXEC)"
	instead["creat"] = "open() with O_CREAT|O_TRUNC|O_CLOEXEC"
	instead["epoll_create"] = "epoll_create1(EPOLL_CLOEXEC)"
	instead["inotify_init"] = "inotify_init1(IN_CLOEXEC)"
	split("system popen sprintf strcpy strcat strtok atoi gets", b, " ")
	for (i in b)
		banned[b[i]] = 1
	bad = 0
}

# Read each file whole; check it when the next one starts, and at the end.
FNR == 1 && NR > 1 { check_file(prev) }
{ raw[FNR] = $0; nlines = FNR; prev = FILENAME }
END {
	if (NR > 0)
		check_file(prev)
	exit bad ? 1 : 0
}

# Blank out comments (code[]) and also string and char literals (bare[]),
# one character for one, so columns and lines stay where they were.
function strip(    i, j, c, n, s, cl, bl, st) {
	st = 0	# 0 code, 1 block comment, 2 string, 3 char literal
	for (i = 1; i <= nlines; i++) {
		s = raw[i]
		n = length(s)
		cl = ""
		bl = ""
		for (j = 1; j <= n; j++) {
			c = substr(s, j, 1)
			if (st == 1) {
				if (c == "*" && substr(s, j + 1, 1) == "/") {
					cl = cl "  "
					bl = bl "  "
					j++
					st = 0
				} else {
					cl = cl " "
					bl = bl " "
				}
			} else if (st == 2 || st == 3) {
				cl = cl c
				if (c == "\\") {
					cl = cl substr(s, j + 1, 1)
					bl = bl "  "
					j++
				} else if ((st == 2 && c == "\"") ||
					   (st == 3 && c == "'")) {
					bl = bl c
					st = 0
				} else {
					bl = bl " "
				}
			} else if (c == "/" && substr(s, j + 1, 1) == "*") {
				cl = cl "  "
				bl = bl "  "
				j++
				st = 1
			} else if (c == "/" && substr(s, j + 1, 1) == "/") {
				break
			} else {
				cl = cl c
				bl = bl c
				if (c == "\"")
					st = 2
				else if (c == "'")
					st = 3
			}
		}
		code[i] = cl
		bare[i] = bl
		# an unterminated literal ends with its line
		if (st == 2 || st == 3)
			st = 0
	}
}

# The arguments of the call whose "(" is at line l, column col: the code
# text up to the matching ")", joined across lines.
function call_args(l, col,    depth, j, c, out, s) {
	depth = 0
	out = ""
	for (; l <= nlines; l++) {
		s = bare[l]
		for (j = col; j <= length(s); j++) {
			c = substr(s, j, 1)
			if (c == "(")
				depth++
			else if (c == ")" && --depth == 0)
				return out
			else if (depth > 0)
				out = out substr(code[l], j, 1)
		}
		out = out " "
		col = 1
	}
	return out
}

function report(file, l, msg) {
	printf "%s:%d: %s\n", file, l, msg
	bad = 1
}

# fopen's mode: the string literal after the first top-level comma.
function fopen_ok(args,    m) {
	if (!match(args, /,[ \t]*"[^"]*"/))
		return 0
	m = substr(args, RSTART, RLENGTH)
	sub(/^,[ \t]*"/, "", m)
	return index(m, "e") > 0
}

function check_file(file,    l, s, rest, off, name, pre, col, args) {
	strip()
	for (l = 1; l <= nlines; l++) {
		s = bare[l]
		off = 0
		while (match(substr(s, off + 1),
			     /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
			col = off + RSTART
			name = substr(s, col, RLENGTH)
			off = col + RLENGTH - 1
			sub(/[ \t]*\($/, "", name)
			pre = col > 1 ? substr(s, col - 1, 1) : ""
			if (pre == "." || pre == ">")
				continue
			if (name in banned) {
				report(file, l, "banned call " name "()")
				continue
			}
			if (name in instead) {
				report(file, l, name "() makes an fd without " \
				       "close-on-exec: use " instead[name])
				continue
			}
			if (!(name in need) && name != "fopen" &&
			    name != "fcntl")
				continue
			args = call_args(l, off)
			if (name == "fopen") {
				if (!fopen_ok(args))
					report(file, l, "fopen() without " \
					       "\"e\" (close-on-exec) in its mode")
			} else if (name == "fcntl") {
				if (args ~ /F_DUPFD([^_A-Za-z0-9]|$)/)
					report(file, l, "fcntl(F_DUPFD): use " \
					       "F_DUPFD_CLOEXEC")
			} else if (args !~ ("(^|[^A-Za-z0-9_])" need[name] \
					    "([^A-Za-z0-9_]|$)")) {
				report(file, l, name "() without " need[name])
			}
		}
	}
	delete raw
	delete code
	delete bare
	nlines = 0
}
