/* test-engine.c - unit tests of engine descriptors (TAP) */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "engine-output.h"
#include "proc.h"
#include "util.h"

extern char **environ;

static int ntests, nfailed;
static char *tmpdir;

static void ok(bool cond, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	ntests++;
	if (!cond)
		nfailed++;
	printf("%sok %d - ", cond ? "" : "not ", ntests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void skip(const char *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	ntests++;
	printf("ok %d - ", ntests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP %s\n", why);
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static bool streq(const char *a, const char *b)
{
	if (a && b && !strcmp(a, b))
		return true;
	diag("got '%s', expected '%s'", a ? a : "(null)", b ? b : "(null)");
	return false;
}

static void write_file(const char *path, const void *data, size_t len,
		       mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0) {
		printf("Bail out! cannot write %s: %s\n", path,
		       strerror(errno));
		exit(99);
	}
	if (chmod(path, mode) < 0) {
		printf("Bail out! cannot chmod %s\n", path);
		exit(99);
	}
}

/* Write tmpdir/NAME.ini (mode 0644) and load it, as engine_load() does. */
static int load_text(const char *name, const char *text, struct engine **e,
		     char **cause, char **path)
{
	char *p = xasprintf("%s/%s.ini", tmpdir, name);
	int r;

	write_file(p, text, strlen(text), 0644);
	*e = NULL;
	*cause = NULL;
	r = engine_load(p, e, cause);
	if (path)
		*path = p;
	else
		free(p);
	return r;
}

#define BASE_ENGINE	"[engine]\nname = t\nbinary = /bin/sh\n"
#define BASE_ACTIONS	"[actions]\nscan = {binary} -- {target}\n"
#define BASE_RESULT	"[result]\nclean = 0\n" \
			"detection = ^(.*): ([^ ]+) FOUND$\n" \
			"detection_path = 1\ndetection_threat = 2\n"
#define BASE		BASE_ENGINE BASE_ACTIONS BASE_RESULT

/*
 * Load text as tmpdir/t.ini and check it fails with cause
 * "PATH:LINE: MSG..." (LINE 0: "PATH: MSG...").
 */
static void expect_error(const char *desc, const char *text, unsigned line,
			 const char *msg)
{
	struct engine *e;
	char *cause, *path, *want;
	int r;

	r = load_text("t", text, &e, &cause, &path);
	if (line)
		want = xasprintf("%s:%u: %s", path, line, msg);
	else
		want = xasprintf("%s: %s", path, msg);
	if (r == 0) {
		ok(false, "%s", desc);
		diag("loaded, expected: %s", want);
	} else if (!cause || strncmp(cause, want, strlen(want))) {
		ok(false, "%s", desc);
		diag("got '%s'", cause ? cause : "(null)");
		diag("expected '%s...'", want);
	} else {
		ok(r == -EINVAL, "%s", desc);
	}
	engine_free(e);
	free(cause);
	free(path);
	free(want);
}

static struct engine *load_ok(const char *desc, const char *name,
			      const char *text)
{
	struct engine *e;
	char *cause;
	int r = load_text(name, text, &e, &cause, NULL);

	ok(r == 0 && e, "%s", desc);
	if (r < 0)
		diag("%s", cause);
	free(cause);
	return e;
}

/* argv of action a as one string, words in [brackets]; NULL on error. */
static char *argv_str(const struct engine *e, enum engine_action a,
		      const char *const *vars, int *rp, char **cause)
{
	struct strv sv = { 0 };
	struct buf b = { 0 };
	int r;

	*cause = NULL;
	r = engine_argv(e, a, vars, &sv, cause);
	if (rp)
		*rp = r;
	if (r < 0)
		return NULL;
	for (size_t i = 0; i < sv.n; i++)
		buf_addf(&b, "%s[%s]", i ? " " : "", sv.v[i]);
	strv_release(&sv);
	if (!b.p)
		buf_add(&b, "", 0);
	return b.p;
}

static void expect_argv(const char *desc, const struct engine *e,
			enum engine_action a, const char *const *vars,
			const char *want)
{
	char *cause, *got;
	int r;

	got = argv_str(e, a, vars, &r, &cause);
	if (!got) {
		ok(false, "%s", desc);
		diag("engine_argv: %d %s", r, cause ? cause : "");
	} else {
		ok(streq(got, want), "%s", desc);
	}
	free(got);
	free(cause);
}

static void expect_detection(const struct engine *e, const char *line,
			     const char *path, const char *threat,
			     const char *desc)
{
	char *p = NULL, *t = NULL;
	bool m = engine_match_detection(e, line, &p, &t);

	if (!path)
		ok(!m, "%s", desc);
	else
		ok(m && streq(p, path) && streq(t, threat), "%s", desc);
	free(p);
	free(t);
}

static int status_exit(int code)
{
	return (code & 0xff) << 8;
}

static int status_signal(int sig)
{
	return sig & 0x7f;
}

static int status_stopped(int sig)
{
	return (sig << 8) | 0x7f;
}

/*
 * A copy of the shipped clamav.ini in tmpdir: the checkout may belong to
 * another user than the one running the tests, and root refuses that.
 */
static char *shipped_clamav(void)
{
	const char *srcdir = getenv("srcdir");
	char *src = xasprintf("%s/engines/clamav.ini",
			      srcdir && *srcdir ? srcdir : ".");
	char *dst = xasprintf("%s/clamav.ini", tmpdir);
	struct buf b = { 0 };

	if (read_file(src, 1 << 20, &b) < 0) {
		printf("Bail out! cannot read %s\n", src);
		exit(99);
	}
	write_file(dst, b.p, b.len, 0644);
	buf_release(&b);
	free(src);
	return dst;
}

static const char *const scan_vars[] = {
	"target", "/mnt/guest 1/-p2", "list", "/run/x/list", NULL
};

/* The shipped descriptor ($srcdir/engines/clamav.ini): all of it. */
static void test_shipped(void)
{
	char *path = shipped_clamav(), *cause = NULL, *fake;
	struct engine *e = NULL;
	int r;

	r = engine_load(path, &e, &cause);
	ok(r == 0, "shipped clamav.ini loads");
	if (r < 0) {
		diag("%s", cause);
		free(cause);
		free(path);
		return;
	}
	ok(streq(engine_name(e), "clamav"), "clamav: name");
	ok(streq(engine_path(e), path), "clamav: path");
	ok(*engine_vendor(e) && *engine_description(e),
	   "clamav: vendor and description");
	ok(engine_has_action(e, ENGINE_SCAN) &&
	   engine_has_action(e, ENGINE_SCAN_LIST) &&
	   engine_has_action(e, ENGINE_VERSION) &&
	   engine_has_action(e, ENGINE_UPDATE) &&
	   engine_has_action(e, ENGINE_PAUSE) &&
	   engine_has_action(e, ENGINE_RESUME) &&
	   engine_has_action(e, ENGINE_STOP) &&
	   !engine_has_action(e, ENGINE_STATUS) &&
	   !engine_has_action(e, ENGINE_NACTIONS), "clamav: actions");

	/* PATH was pointed at tmpdir/bin, which has fake programs */
	fake = xasprintf("[%s/bin/clamscan]", tmpdir);
	{
		char *want = xasprintf("%s [-r] [--no-summary] "
			"[--alert-exceeds-max] [--cross-fs=no] "
			"[--follow-dir-symlinks=0] [--follow-file-symlinks=0] "
			"[--max-dir-recursion=2147483647] "
			"[--max-filesize=100M] [--max-scansize=400M] "
			"[-d] [/var/lib/clamav] [--] [/mnt/guest 1/-p2]", fake);

		expect_argv("clamav: scan argv", e, ENGINE_SCAN, scan_vars,
			    want);
		free(want);
		want = xasprintf("%s [--no-summary] "
			"[--alert-exceeds-max] "
			"[--follow-dir-symlinks=0] [--follow-file-symlinks=0] "
			"[--max-filesize=100M] [--max-scansize=400M] "
			"[-d] [/var/lib/clamav] [-f] [/run/x/list]", fake);
		expect_argv("clamav: scan_list argv", e, ENGINE_SCAN_LIST,
			    scan_vars, want);
		free(want);
		want = xasprintf("%s [-d] [/var/lib/clamav] [--version]",
				 fake);
		expect_argv("clamav: version argv", e, ENGINE_VERSION, NULL,
			    want);
		free(want);
		want = xasprintf("[%s/bin/freshclam] "
				 "[--datadir=/var/lib/clamav]", tmpdir);
		expect_argv("clamav: update resolves freshclam through PATH",
			    e, ENGINE_UPDATE, NULL, want);
		free(want);
	}

	r = engine_set_option(e, "database", "/srv/my sigs", &cause);
	ok(r == 0, "clamav: -o database=...");
	{
		char *want = xasprintf("%s [-d] [/srv/my sigs] [--version]",
				       fake);

		expect_argv("clamav: overridden option is one word", e,
			    ENGINE_VERSION, NULL, want);
		free(want);
	}
	r = engine_set_option(e, "nope", "x", &cause);
	ok(r == -ENOENT && streq(cause, "engine 'clamav' has no option 'nope'"),
	   "clamav: unknown option refused");
	free(cause);
	free(fake);

	{
		char *got = argv_str(e, ENGINE_PAUSE, NULL, &r, &cause);

		ok(!got && r == -EOPNOTSUPP, "clamav: pause is a signal");
		free(cause);
		got = argv_str(e, ENGINE_STATUS, NULL, &r, &cause);
		ok(!got && r == -ENOENT &&
		   streq(cause, "engine 'clamav' has no action 'status'"),
		   "clamav: no status action");
		free(cause);
		got = argv_str(e, ENGINE_SCAN, NULL, &r, &cause);
		ok(!got && r == -EINVAL && cause &&
		   strstr(cause, "needs a value for {target}"),
		   "clamav: scan without a target");
		free(cause);
	}

	ok(engine_classify_exit(e, status_exit(0)) == ENGINE_CLEAN &&
	   engine_classify_exit(e, status_exit(1)) == ENGINE_INFECTED &&
	   engine_classify_exit(e, status_exit(2)) == ENGINE_ERROR &&
	   engine_classify_exit(e, status_exit(50)) == ENGINE_ERROR &&
	   engine_classify_exit(e, status_signal(SIGKILL)) == ENGINE_ERROR &&
	   engine_classify_exit(e, status_signal(SIGSEGV)) == ENGINE_ERROR &&
	   engine_classify_exit(e, status_stopped(SIGSTOP)) == ENGINE_ERROR,
	   "clamav: exit codes");

	expect_detection(e, "/mnt/g/eicar.com: Win.Test.EICAR_HDB-1 FOUND",
			 "/mnt/g/eicar.com", "Win.Test.EICAR_HDB-1",
			 "clamav: detection line");
	expect_detection(e, "/mnt/g/a: b FOUND.com: Test.EICAR FOUND",
			 "/mnt/g/a: b FOUND.com", "Test.EICAR",
			 "clamav: path with ': ' and ' FOUND'");
	expect_detection(e, "/mnt/g/x: Evil FOUND: Test.EICAR FOUND",
			 "/mnt/g/x: Evil FOUND", "Test.EICAR",
			 "clamav: path that looks like a detection");
	expect_detection(e, "/mnt/g/\xff\xfe\x80 caf\xe9: Sig\xc3 FOUND",
			 "/mnt/g/\xff\xfe\x80 caf\xe9", "Sig\xc3",
			 "clamav: non-UTF-8 bytes (C.UTF-8 locale)");
	expect_detection(e, "/mnt/g/-dash.com: Test.EICAR.NDB.UNOFFICIAL FOUND",
			 "/mnt/g/-dash.com", "Test.EICAR.NDB.UNOFFICIAL",
			 "clamav: path starting with '-' inside");
	expect_detection(e, "/mnt/g/x: OK", NULL, NULL,
			 "clamav: OK line is no detection");
	expect_detection(e, "/mnt/g/x: Empty file", NULL, NULL,
			 "clamav: empty-file line is no detection");
	expect_detection(e, "/mnt/g/x: Sig FOUND ", NULL, NULL,
			 "clamav: trailing blank is no detection");
	expect_detection(e, "", NULL, NULL, "clamav: empty line");
	{
		size_t n = 1 << 20;
		char *line = xmalloc(n + 64), *p = NULL, *t = NULL;
		bool m;

		for (size_t i = 0; i < n; i++)
			line[i] = (char)(i % 3 == 0 ? ':' : i % 3 == 1 ? ' ' :
					 "\xff/a"[i % 3]);
		memcpy(line + n, ": Very.Long FOUND", 18);
		m = engine_match_detection(e, line, &p, &t);
		ok(m && p && strlen(p) == n && streq(t, "Very.Long"),
		   "clamav: 1 MiB hostile line");
		free(p);
		free(t);
		free(line);
	}

	{
		size_t off = 0, len = 0;

		ok(engine_tells_progress(e) &&
		   engine_match_progress(e, "/mnt/g/a: b: OK", &off, &len) &&
		   off == 0 && len == 11, "clamav: progress line: OK");
		ok(engine_match_progress(e, "/mnt/g/x: Sig FOUND", &off,
					 &len) && len == 8,
		   "clamav: progress line: FOUND");
		ok(!engine_match_progress(e, "LibClamAV Warning: odd", &off,
					  &len) &&
		   !engine_match_progress(e, "/mnt/g/x: OK ", &off, &len),
		   "clamav: no progress line");
	}
	ok(engine_match_error(e, "WARNING: /mnt/g/x: Can't access file"),
	   "clamav: error line: can't access");
	ok(engine_match_error(e, "/mnt/g/x: Access denied"),
	   "clamav: error line: access denied");
	ok(engine_match_error(e, "/mnt/g/d: Can't open directory."),
	   "clamav: error line: directory");
	ok(engine_match_error(e, "/mnt/g/x: Can't read file ERROR"),
	   "clamav: error line: libclamav ERROR");
	ok(engine_match_error(e, "LibClamAV Error: cli_loaddbdir: No "
			      "supported database files found"),
	   "clamav: error line: database");
	ok(engine_match_error(e, "ERROR: Can't open file or directory"),
	   "clamav: error line: ERROR:");
	ok(!engine_match_error(e, "/mnt/g/x: Sig FOUND") &&
	   !engine_match_error(e, "/mnt/g/x: Empty file") &&
	   !engine_match_error(e, "/mnt/g/x: Symbolic link") &&
	   !engine_match_error(e, "/mnt/g/x ERROR: Empty file") &&
	   !engine_match_error(e, "LibClamAV Warning: cli_scanxz: oops"),
	   "clamav: not error lines");

	ok(engine_threat_is_incomplete(e, "Heuristics.Limits.Exceeded.Max") &&
	   !engine_threat_is_incomplete(e, "Heuristics.Limits") &&
	   !engine_threat_is_incomplete(e, "Win.Test.EICAR_HDB-1"),
	   "clamav: incomplete threats");

	engine_free(e);
	free(path);
}

/* Run argv with stdout and stderr to files; returns the wait status. */
static int run(struct strv *argv, const char *out, const char *err,
	       const char *cwd)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = -1;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	if (posix_spawn(&pid, argv->v[0], &fa, NULL, argv->v, environ) == 0)
		waitpid(pid, &status, 0);
	posix_spawn_file_actions_destroy(&fa);
	return status;
}

/* Count detections in an output file; checks each against want[]. */
static size_t read_detections(const struct engine *e, const char *file,
			      const char *const *want, size_t nwant,
			      size_t *matched)
{
	struct buf b = { 0 };
	size_t n = 0;
	char *line, *next;

	*matched = 0;
	if (read_file(file, 1 << 20, &b) < 0)
		return 0;
	for (line = b.p; line && *line; line = next) {
		char *p, *t;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!engine_match_detection(e, line, &p, &t)) {
			diag("output: %s", line);
			continue;
		}
		n++;
		for (size_t i = 0; i < nwant; i++)
			if (!strcmp(p, want[i]) &&
			    !strcmp(t, "Test.EICAR.NDB.UNOFFICIAL"))
				(*matched)++;
		free(p);
		free(t);
	}
	buf_release(&b);
	return n;
}

/*
 * clamav.ini against the real clamscan: EICAR under hostile names, with a
 * custom signature database.  The test string is kept reversed here, so
 * that scanners never flag this source.
 */
static void test_clamscan(void)
{
	static const char rev[] = "*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-"
				  "RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X";
	static const char *const names[] = {
		"eicar.com", "a: b FOUND.com", "-dash.com", "with space.com",
		"x: Fake FOUND", "caf\xe9\xff.com",
	};
	char eicar[sizeof(rev)], *dbdir, *db, *scan, *list, *out, *err, *cause;
	char *path = shipped_clamav();
	const char *want[ARRAY_SIZE(names) + 1];
	struct buf b = { 0 };
	struct strv argv = { 0 };
	struct engine *e = NULL;
	const char *sig;
	size_t n, matched;
	int r, status;
	char *prog;

	if (proc_which("clamscan", &prog) < 0) {
		skip("clamscan not installed", "real clamscan run");
		free(path);
		return;
	}
	free(prog);
	for (size_t i = 0; i < sizeof(rev) - 1; i++)
		eicar[i] = rev[sizeof(rev) - 2 - i];
	eicar[sizeof(rev) - 1] = '\0';

	dbdir = xasprintf("%s/db", tmpdir);
	db = xasprintf("%s/test.ndb", dbdir);
	scan = xasprintf("%s/scan", tmpdir);
	list = xasprintf("%s/list", tmpdir);
	out = xasprintf("%s/out", tmpdir);
	err = xasprintf("%s/err", tmpdir);
	mkdir(dbdir, 0755);
	mkdir(scan, 0755);
	/* Test.EICAR.NDB:0:*:<hex of the signature text inside EICAR> */
	sig = strstr(eicar, "EICAR");
	buf_addstr(&b, "Test.EICAR.NDB:0:*:");
	for (const char *s = sig; *s && *s != '!'; s++)
		buf_addf(&b, "%02x", (unsigned char)*s);
	buf_addstr(&b, "\n");
	write_file(db, b.p, b.len, 0644);
	buf_release(&b);

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char *f = xasprintf("%s/%s", scan, names[i]);

		write_file(f, eicar, strlen(eicar), 0644);
		want[i] = f;
		buf_addf(&b, "%s\n", f);
	}
	{
		char *f = xasprintf("%s/clean.txt", scan);

		write_file(f, "hello\n", 6, 0644);
		free(f);
	}
	write_file(list, b.p, b.len, 0644);
	buf_release(&b);

	r = engine_load(path, &e, &cause);
	if (r < 0) {
		ok(false, "real clamscan: load clamav.ini");
		diag("%s", cause);
		free(cause);
		goto done;
	}
	engine_set_option(e, "database", dbdir, NULL);

	{
		const char *vars[] = { "target", scan, NULL };

		r = engine_argv(e, ENGINE_SCAN, vars, &argv, &cause);
		status = r < 0 ? -1 : run(&argv, out, err, NULL);
		strv_release(&argv);
		n = read_detections(e, out, want, ARRAY_SIZE(names), &matched);
		ok(engine_classify_exit(e, status) == ENGINE_INFECTED &&
		   n == ARRAY_SIZE(names) && matched == ARRAY_SIZE(names),
		   "real clamscan: scan finds %zu of %zu hostile names",
		   matched, ARRAY_SIZE(names));
	}
	{
		const char *vars[] = { "list", list, NULL };

		r = engine_argv(e, ENGINE_SCAN_LIST, vars, &argv, &cause);
		status = r < 0 ? -1 : run(&argv, out, err, NULL);
		strv_release(&argv);
		n = read_detections(e, out, want, ARRAY_SIZE(names), &matched);
		ok(engine_classify_exit(e, status) == ENGINE_INFECTED &&
		   n == ARRAY_SIZE(names) && matched == ARRAY_SIZE(names),
		   "real clamscan: scan_list finds %zu of %zu", matched,
		   ARRAY_SIZE(names));
	}
	{
		/* a relative target starting with '-' needs the "--" */
		const char *vars[] = { "target", "-dash.com", NULL };
		const char *w[] = { "-dash.com" };

		r = engine_argv(e, ENGINE_SCAN, vars, &argv, &cause);
		status = r < 0 ? -1 : run(&argv, out, err, scan);
		strv_release(&argv);
		n = read_detections(e, out, w, 1, &matched);
		ok(engine_classify_exit(e, status) == ENGINE_INFECTED &&
		   n == 1 && matched == 1,
		   "real clamscan: target starting with '-'");
	}
	{
		char *missing = xasprintf("%s/missing", tmpdir);
		const char *vars[] = { "target", missing, NULL };
		bool saw_error = false;
		char *line, *next;

		r = engine_argv(e, ENGINE_SCAN, vars, &argv, &cause);
		status = r < 0 ? -1 : run(&argv, out, err, NULL);
		strv_release(&argv);
		read_file(err, 1 << 20, &b);
		for (line = b.p; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			if (engine_match_error(e, line))
				saw_error = true;
		}
		buf_release(&b);
		ok(engine_classify_exit(e, status) == ENGINE_ERROR && saw_error,
		   "real clamscan: missing target is an error with an "
		   "error line");
		free(missing);
	}
done:
	engine_free(e);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		free((char *)want[i]);
	free(dbdir);
	free(db);
	free(scan);
	free(list);
	free(out);
	free(err);
	free(path);
}

static void test_errors(void)
{
	expect_error("unknown section", BASE "[remediate]\nx = 1\n", 11,
		     "unknown section [remediate]");
	expect_error("malformed section header", "[engine\nname = t\n", 1,
		     "malformed section header");
	expect_error("text after section header", "[engine] x\n", 1,
		     "unexpected text after section header");
	expect_error("key outside a section", "; c\nname = t\n" BASE, 2,
		     "key 'name' outside a section");
	expect_error("unknown key", BASE_ENGINE "colour = red\n" BASE_ACTIONS
		     BASE_RESULT, 4, "unknown key 'colour' in [engine]");
	expect_error("result key in [actions]", BASE_ENGINE BASE_ACTIONS
		     "clean = 0\n" BASE_RESULT, 6,
		     "unknown key 'clean' in [actions]");
	expect_error("duplicate key", BASE_ENGINE "binary = /bin/ls\n"
		     BASE_ACTIONS BASE_RESULT, 4,
		     "duplicate key 'binary' (first on line 3)");
	expect_error("duplicate option", BASE "[options]\na = 1\na = 2\n",
		     13, "duplicate key 'a' (first on line 12)");
	expect_error("line without '='", BASE_ENGINE "binary\n", 4,
		     "expected 'key = value'");
	expect_error("bad engine name", "[engine]\nname = T\n", 2,
		     "bad engine name 'T'");
	expect_error("engine name starting with '-'", "[engine]\nname = -t\n",
		     2, "bad engine name '-t'");
	expect_error("name does not match file",
		     "[engine]\nname = other\nbinary = sh\n" BASE_ACTIONS
		     BASE_RESULT, 2,
		     "name 'other' does not match the file name 't.ini'");
	expect_error("missing name", "[engine]\nbinary = sh\n" BASE_ACTIONS
		     BASE_RESULT, 0, "missing key 'name'");
	expect_error("missing binary", "[engine]\nname = t\n" BASE_ACTIONS
		     BASE_RESULT, 0, "missing key 'binary'");
	expect_error("missing clean", BASE_ENGINE BASE_ACTIONS
		     "[result]\ndetection = ^(.*): (.*)$\n"
		     "detection_path = 1\ndetection_threat = 2\n", 0,
		     "missing key 'clean'");
	expect_error("missing scan", BASE_ENGINE "[actions]\n"
		     "version = {binary} -V\n" BASE_RESULT, 0,
		     "missing key 'scan' or 'scan_list'");
	expect_error("missing detection", BASE_ENGINE BASE_ACTIONS
		     "[result]\nclean = 0\n", 0, "missing key 'detection'");
	expect_error("missing detection_threat", BASE_ENGINE BASE_ACTIONS
		     "[result]\nclean = 0\ndetection = ^(.*): (.*)$\n"
		     "detection_path = 1\n", 0,
		     "missing key 'detection_threat'");
	expect_error("relative binary", "[engine]\nname = t\n"
		     "binary = bin/sh\n", 3,
		     "'binary' must be a program name or an absolute path");
	expect_error("unknown flag", BASE "[engine]\n"
		     "flags = parallel-safe, turbo\n", 12,
		     "unknown flag 'turbo'");
	expect_error("empty flag", BASE_ENGINE "flags = parallel-safe,\n", 4,
		     "empty item in 'flags'");

	expect_error("bad regex", BASE_ENGINE BASE_ACTIONS "[result]\n"
		     "clean = 0\ndetection = ^(.*: x$\n", 8,
		     "bad regular expression in 'detection': ");
	expect_error("nested intervals", BASE
		     "error_line = ((a{1,255}){1,255}){1,255}\n", 11,
		     "regular expression in 'error_line' is too large once "
		     "its {m,n} intervals are expanded");
	expect_error("large interval", BASE "error_line = x|[a{]b{1,20000}\n",
		     11, "regular expression in 'error_line' is too large");
	expect_error("empty regex", BASE "error_line =\n", 11,
		     "empty regular expression in 'error_line'");
	expect_error("group beyond the expression", BASE_ENGINE BASE_ACTIONS
		     "[result]\nclean = 0\ndetection = ^(.*): ([^ ]+) FOUND$\n"
		     "detection_path = 1\ndetection_threat = 3\n", 10,
		     "detection_threat = 3, but 'detection' has 2 groups");
	expect_error("group 0", BASE_ENGINE BASE_ACTIONS "[result]\n"
		     "detection_path = 0\n", 7,
		     "'detection_path' must be a group number from 1 to 9");
	expect_error("group 10", BASE_ENGINE BASE_ACTIONS "[result]\n"
		     "detection_threat = 10\n", 7,
		     "'detection_threat' must be a group number from 0 to 9");
	expect_error("progress without group", BASE
		     "progress = ^.*: OK$\n", 11,
		     "'progress' needs a group for the file's path");
	expect_error("summary without group", BASE
		     "summary_infected = ^Infected files: [0-9]+$\n", 11,
		     "'summary_infected' needs a group for the count");

	expect_error("exit code word", BASE "infected = one\n", 11,
		     "bad exit code 'one'");
	expect_error("exit code 256", BASE "infected = 1, 256\n", 11,
		     "bad exit code '256'");
	expect_error("exit code -65", BASE "error = -65\n", 11,
		     "bad exit code '-65'");
	expect_error("exit code +1", BASE "error = +1\n", 11,
		     "bad exit code '+1'");
	expect_error("exit code 1.5", BASE "error = 1.5\n", 11,
		     "bad exit code '1.5'");
	expect_error("empty exit code list", BASE "error =\n", 11,
		     "empty item in 'error'");
	expect_error("exit code listed twice", BASE "error = 2, 0\n", 11,
		     "exit code 0 listed twice");

	expect_error("unknown placeholder", BASE_ENGINE "[actions]\n"
		     "scan = {binary} {nope} {target}\n" BASE_RESULT, 5,
		     "unknown placeholder {nope} in 'scan'");
	expect_error("{list} in scan", BASE_ENGINE "[actions]\n"
		     "scan = {binary} {list} {target}\n" BASE_RESULT, 5,
		     "unknown placeholder {list} in 'scan'");
	expect_error("{target} in version", BASE "[actions]\n"
		     "version = {binary} {target}\n", 12,
		     "unknown placeholder {target} in 'version'");
	expect_error("program from {target}", BASE_ENGINE "[actions]\n"
		     "scan = {target} -x\n" BASE_RESULT, 5,
		     "the program in 'scan' may not come from {target}");
	expect_error("scan without {target}", BASE_ENGINE "[actions]\n"
		     "scan = {binary} /\n" BASE_RESULT, 5,
		     "'scan' does not use {target}");
	expect_error("scan_list without {list}", BASE "[actions]\n"
		     "scan_list = {binary} -f /tmp/x\n", 12,
		     "'scan_list' does not use {list}");
	expect_error("bad placeholder", BASE "[actions]\n"
		     "version = {binary} {Version}\n", 12,
		     "bad placeholder (use {name}; write {{ for a literal "
		     "brace) in 'version'");
	expect_error("lone '{'", BASE "[actions]\nversion = {binary} {\n", 12,
		     "bad placeholder");
	expect_error("lone '}'", BASE "[actions]\nversion = {binary} }\n", 12,
		     "unmatched '}' (write }} for a literal brace) in "
		     "'version'");
	expect_error("unterminated double quote", BASE "[actions]\n"
		     "version = {binary} \"-V\n", 12,
		     "unterminated double quote in 'version'");
	expect_error("unterminated single quote", BASE "[actions]\n"
		     "version = {binary} '-V\n", 12,
		     "unterminated single quote in 'version'");
	expect_error("empty command", BASE "[actions]\nversion =\n", 12,
		     "empty command in 'version'");
	expect_error("blank command", BASE "[actions]\nversion = \"\"\n", 12,
		     "empty program name in 'version'");
	expect_error("relative program", BASE "[actions]\n"
		     "update = bin/fresh\n", 12,
		     "program 'bin/fresh' in 'update' must be a name or an "
		     "absolute path");
	expect_error("unknown signal", BASE "[actions]\npause = signal:STP\n",
		     12, "unknown signal 'STP' in 'pause'");
	expect_error("signal for scan", BASE_ENGINE "[actions]\n"
		     "scan = signal:TERM\n" BASE_RESULT, 5,
		     "'scan' must be a command, not a signal");
	expect_error("bad option name", BASE "[options]\nData-Base = x\n", 12,
		     "bad option name 'Data-Base'");
	expect_error("reserved option name", BASE "[options]\ntarget = x\n",
		     12, "option name 'target' is reserved");
}

/* Writes text with an embedded NUL: expect_error stops at strlen. */
static void test_nul(void)
{
	static const char text[] = "[engine]\nname = t\nbinary = sh\n"
				   "vendor = a\0b\n";
	char *path = xasprintf("%s/t.ini", tmpdir), *cause = NULL;
	struct engine *e = NULL;
	int r;

	write_file(path, text, sizeof(text) - 1, 0644);
	r = engine_load(path, &e, &cause);
	ok(r == -EINVAL && cause && strstr(cause, ":4: NUL byte in line"),
	   "NUL byte refused with its line");
	free(cause);
	free(path);
}

static void test_lines(void)
{
	struct engine *e;
	struct buf b = { 0 };
	char *long_value;

	/* continuation: a command longer than inih's 200-byte lines */
	buf_addstr(&b, BASE_ENGINE "[options]\n");
	long_value = xmalloc(151);
	memset(long_value, 'v', 150);
	long_value[150] = '\0';
	buf_addf(&b, "a = %s\nb = %s\n", long_value, long_value);
	buf_addstr(&b, "[actions]\nscan = {binary} \\\n"
		   "\t{a} \\\n"
		   "    --opt=1 a\\;b x\\\n"
		   "\ty \\\n"
		   "\t{b} -- {target}\n" BASE_RESULT);
	e = load_ok("continued command", "t", b.p);
	if (e) {
		const char *vars[] = { "target", "/t", NULL };
		char *want = xasprintf("[/bin/sh] [%s] [--opt=1] [a;b] [x] "
				       "[y] [%s] [--] [/t]",
				       long_value, long_value);

		expect_argv("continued command: argv", e, ENGINE_SCAN, vars,
			    want);
		free(want);
	}
	engine_free(e);
	buf_release(&b);

	/* a line over inih's limit is an error, never a truncated value */
	buf_addstr(&b, BASE_ENGINE "[options]\n");
	buf_addf(&b, "a = %s%s\n", long_value, long_value);
	buf_addstr(&b, BASE_ACTIONS BASE_RESULT);
	expect_error("long line refused", b.p, 5,
		     "line longer than 197 bytes");
	buf_release(&b);
	/* exactly 197 bytes is fine */
	buf_addstr(&b, BASE_ENGINE "[options]\na = ");
	for (int i = 0; i < 197 - 4; i++)
		buf_addstr(&b, "w");
	buf_addstr(&b, "\n" BASE_ACTIONS BASE_RESULT);
	e = load_ok("197-byte line", "t", b.p);
	engine_free(e);
	buf_release(&b);
	/* a 500-byte line that inih would have split into key = value */
	buf_addstr(&b, BASE_ENGINE "[actions]\nscan = {binary} -- {target}");
	for (int i = 0; i < 200; i++)
		buf_addstr(&b, " ");
	buf_addstr(&b, "x = {target}");
	for (int i = 0; i < 300; i++)
		buf_addstr(&b, "y");
	buf_addstr(&b, "\n" BASE_RESULT);
	expect_error("500-byte line refused", b.p, 5,
		     "line longer than 197 bytes");
	buf_release(&b);
	free(long_value);

	expect_error("continuation at end of file", BASE
		     "incomplete_prefix = x \\\n",
		     11, "backslash continuation at end of file");
	expect_error("continued into an empty line", BASE_ENGINE
		     "description = x \\\n\nvendor = y\n", 5,
		     "a continued line may not be empty or a comment");
	expect_error("continued into a comment", BASE_ENGINE
		     "description = x \\\n; c\n", 5,
		     "a continued line may not be empty or a comment");
	expect_error("detection cannot be continued", BASE_ENGINE BASE_ACTIONS
		     "[result]\nclean = 0\ndetection = ^(.*): \\\n([^ ]+)$\n",
		     8, "'detection' cannot be continued on another line");
	expect_error("indented key", BASE_ENGINE "  vendor = x\n", 4,
		     "unexpected indentation");

	e = load_ok("CRLF, BOM, comments, inline comments", "t",
		    "\xef\xbb\xbf; comment\r\n# comment\r\n[engine] ; c\r\n"
		    "name = t\r\nbinary = /bin/sh ; inline\r\n"
		    "  ; indented comment\r\n\r\n"
		    "description = one ; two\r\n"
		    "[actions]\r\nscan = {binary} \\\r\n -- {target}\r\n"
		    BASE_RESULT);
	if (e) {
		const char *vars[] = { "target", "/t", NULL };

		ok(streq(engine_description(e), "one"),
		   "inline comment stripped");
		expect_argv("CRLF continuation", e, ENGINE_SCAN, vars,
			    "[/bin/sh] [--] [/t]");
	}
	engine_free(e);

	e = load_ok("incomplete_prefix repeated and listed", "t", BASE
		    "incomplete_prefix = A.\nincomplete_prefix = B., C.\n"
		    "[engine]\n"
		    "flags = parallel-safe, host-mounts\n");
	if (e)
		ok(engine_threat_is_incomplete(e, "A.x") &&
		   engine_threat_is_incomplete(e, "B.y") &&
		   engine_threat_is_incomplete(e, "C.") &&
		   !engine_threat_is_incomplete(e, "D.x"),
		   "incomplete prefixes");
	engine_free(e);
}

/* The keys added for daemons, size limits, summaries and context lines. */
static void test_extensions(void)
{
	static const char *const vars[] = { "daemon_dir", "/run/x",
		"daemon_config", "/run/x/d.conf", NULL };
	struct engine *e;
	struct buf b = { 0 };
	unsigned long n = 0;
	uint64_t lim = 1;
	char *cause = NULL, *t = NULL, *p = NULL;

	e = load_ok("a managed daemon", "t", BASE_ENGINE
		    "flags = managed-daemon, host-mounts\n"
		    "size_limit_option = maxsize\n"
		    "[options]\nsock =\nthreads = 2\nmaxsize = 10M\n"
		    BASE_ACTIONS BASE_RESULT
		    "summary_infected = ^Infected files: ([0-9]+)$\n"
		    "[daemon]\nstart = {binary} -c {daemon_config}\n"
		    "ready = {binary} --ping {daemon_dir}/s\n"
		    "config = LocalSocket {daemon_dir}/s\n"
		    "config = MaxThreads {threads}\n"
		    "config = Literal {{braces}}\n"
		    "external_option = sock\n");
	if (e) {
		ok(engine_has_flag(e, ENGINE_MANAGED_DAEMON) &&
		   engine_has_flag(e, ENGINE_HOST_MOUNTS) &&
		   !engine_has_flag(e, ENGINE_PARALLEL_SAFE), "flags");
		ok(engine_manages_daemon(e), "managed while 'sock' is empty");
		ok(!engine_daemon_listens(e),
		   "not told {daemon_socket}: asked if ready from the start");
		ok(engine_daemon_config(e, vars, &b, &cause) == 0 &&
		   streq(b.p, "LocalSocket /run/x/s\nMaxThreads 2\n"
			 "Literal {braces}\n"), "config lines substituted");
		buf_release(&b);
		expect_argv("daemon start", e, ENGINE_DAEMON, vars,
			    "[/bin/sh] [-c] [/run/x/d.conf]");
		ok(engine_size_limit(e, &lim, &cause) == 0 &&
		   lim == 10 << 20, "size limit from its option");
		ok(engine_match_summary(e, "Infected files: 12", &n) &&
		   n == 12, "summary count");
		ok(!engine_match_summary(e, "Infected files: x", &n),
		   "no summary count in other lines");
		ok(engine_set_option(e, "sock", "/run/clamd.sock",
				     &cause) == 0 &&
		   !engine_manages_daemon(e), "an external socket: not managed");
		ok(engine_set_option(e, "maxsize", "big", &cause) == 0 &&
		   engine_size_limit(e, &lim, &cause) == -EINVAL &&
		   cause && strstr(cause, "not a size"), "a bad size");
		free(cause);
		cause = NULL;
	}
	engine_free(e);

	e = load_ok("a daemon on {daemon_socket}", "t", BASE_ENGINE
		    "flags = managed-daemon\n" BASE_ACTIONS BASE_RESULT
		    "[daemon]\nstart = {binary}\nready = {binary}\n"
		    "config = LocalSocket {daemon_socket}\n");
	ok(e && engine_daemon_listens(e),
	   "told {daemon_socket}: not asked before the socket is there");
	engine_free(e);

	expect_error("daemon without the flag", BASE "[daemon]\n"
		     "start = {binary}\n", 0,
		     "[daemon] needs 'flags = managed-daemon'");
	expect_error("daemon without ready", BASE_ENGINE
		     "flags = managed-daemon\n" BASE_ACTIONS BASE_RESULT
		     "[daemon]\nstart = {binary}\n", 0,
		     "managed-daemon needs 'start' and 'ready'");
	expect_error("config with an unknown placeholder", BASE_ENGINE
		     "flags = managed-daemon\n" BASE_ACTIONS BASE_RESULT
		     "[daemon]\nstart = {binary}\nready = {binary}\n"
		     "config = X {nosuch}\n", 0, "unknown placeholder {nosuch}");
	expect_error("external_option must be an option", BASE_ENGINE
		     "flags = managed-daemon\n" BASE_ACTIONS BASE_RESULT
		     "[daemon]\nstart = {binary}\nready = {binary}\n"
		     "external_option = nosuch\n", 15,
		     "'external_option' names 'nosuch'");
	expect_error("threat 0 needs a context", BASE_ENGINE BASE_ACTIONS
		     "[result]\nclean = 0\ndetection = ^(/.*)$\n"
		     "detection_path = 1\ndetection_threat = 0\n", 10,
		     "detection_threat = 0 needs 'threat_context'");

	e = load_ok("threats from context lines", "t", BASE_ENGINE
		    BASE_ACTIONS "[result]\nclean = 0\n"
		    "detection = ^(/.*)$\ndetection_path = 1\n"
		    "detection_threat = 0\n"
		    "threat_context = ^WARNING: (Possible .* installed):$\n");
	if (e) {
		ok(engine_match_context(e, "WARNING: Possible Lion rootkit "
					"installed:", &t) &&
		   streq(t, "Possible Lion rootkit installed"),
		   "a context line names the threat");
		ok(engine_match_detection(e, "/m/dev/.lib/", &p, &cause) &&
		   streq(p, "/m/dev/.lib/") && cause == NULL,
		   "a path line has no threat of its own");
		free(t);
		free(p);
	}
	engine_free(e);

	/* Several path groups: the first that took part (archive members). */
	expect_error("a path group list ending in a comma", BASE_ENGINE
		     BASE_ACTIONS "[result]\nclean = 0\ndetection_path = 1,\n",
		     8, "'detection_path' must be a group number from 1 to 9");
	expect_error("a second path group beyond the expression", BASE_ENGINE
		     BASE_ACTIONS "[result]\nclean = 0\n"
		     "detection = ^(.*): ([^ ]+) FOUND$\n"
		     "detection_path = 1, 3\ndetection_threat = 2\n", 9,
		     "detection_path = 3, but 'detection' has 2 groups");
	expect_error("one threat group only", BASE_ENGINE BASE_ACTIONS
		     "[result]\nclean = 0\ndetection_threat = 1, 2\n", 8,
		     "'detection_threat' must be a group number from 0 to 9");
	e = load_ok("archive members", "t", BASE_ENGINE BASE_ACTIONS
		    "[result]\nclean = 0\n"
		    "detection = ^(\\[(/[^]]*)\\] .*|(/.*)): Infected: (.+)$\n"
		    "detection_path = 2, 3\ndetection_threat = 4\n");
	if (e) {
		ok(engine_match_detection(e, "[/m/a b.zip] eicar.com: "
					  "Infected: X [AVP]", &p, &t) &&
		   streq(p, "/m/a b.zip") && streq(t, "X [AVP]"),
		   "a member's line names its archive (the first group)");
		free(p);
		free(t);
		ok(engine_match_detection(e, "/m/c d.com: Infected: X", &p,
					  &t) && streq(p, "/m/c d.com"),
		   "a file's line names the file (the second group)");
		free(p);
		free(t);
	}
	engine_free(e);
	/* A threat group that took no part: the context names the threat. */
	e = load_ok("threat group or context", "t", BASE_ENGINE BASE_ACTIONS
		    "[result]\nclean = 0\n"
		    "detection = ^(WARNING: (Possible .* installed) in (/.*)|"
		    "(/.*))$\ndetection_path = 3, 4\ndetection_threat = 2\n"
		    "threat_context = ^WARNING: (Possible .* installed):$\n");
	if (e) {
		ok(engine_match_detection(e, "WARNING: Possible Ramen Worm "
					  "installed in /m/etc/inetd.conf",
					  &p, &t) &&
		   streq(p, "/m/etc/inetd.conf") &&
		   streq(t, "Possible Ramen Worm installed"),
		   "a one-line warning names path and threat");
		free(p);
		free(t);
		ok(engine_match_detection(e, "/m/tmp/ramen.tgz", &p, &t) &&
		   streq(p, "/m/tmp/ramen.tgz") && t == NULL,
		   "a path line takes its threat from the heading");
		free(p);
		free(t);
	}
	engine_free(e);
}

static void test_templates(void)
{
	struct engine *e;
	const char *vars[] = { "target", "/mnt/a b/{x}", "logdir", "",
			       "list", "ignored", NULL };

	e = load_ok("quoting", "t", BASE_ENGINE "[options]\n"
		    "opt = has space\nempty =\ndash = -rf /\n"
		    "[actions]\n"
		    "scan = {binary} 'a  b' \"c\\\"d\" e\\ f 'g\\h' \"\" "
		    "x\"y\"'z' "
		    "{{lit}} \\{ '{{' pre{target}post '{target}' {logdir} "
		    "{opt} {empty} {dash} \"{opt}x\" \t\ttab\n"
		    "version = {binary} --{opt}--\n"
		    "update = sh -c {opt}\n"
		    "status = /bin/echo {binary}\n"
		    BASE_RESULT);
	if (!e)
		return;
	expect_argv("split and substitute", e, ENGINE_SCAN, vars,
		    "[/bin/sh] [a  b] [c\"d] [e f] [g\\h] [] [xyz] [{lit}] "
		    "[{] [{] [pre/mnt/a b/{x}post] [/mnt/a b/{x}] [] "
		    "[has space] [] [-rf /] [has spacex] [tab]");
	expect_argv("option inside a word", e, ENGINE_VERSION, NULL,
		    "[/bin/sh] [--has space--]");
	expect_argv("binary name as program", e, ENGINE_UPDATE, NULL,
		    "[/bin/sh] [-c] [has space]");
	expect_argv("absolute program", e, ENGINE_STATUS, NULL,
		    "[/bin/echo] [/bin/sh]");
	{
		char *cause = NULL;
		const char *v2[] = { "target", "/t", NULL };
		char *got = argv_str(e, ENGINE_SCAN, v2, NULL, &cause);

		ok(!got && cause && strstr(cause, "needs a value for {logdir}"),
		   "missing {logdir}");
		free(cause);
	}
	engine_free(e);

	e = load_ok("program through PATH", "t", BASE "[actions]\n"
		    "update = avbatch-test-tool --x\n"
		    "status = avbatch-no-such-tool\n");
	if (e) {
		char *want = xasprintf("[%s/bin/avbatch-test-tool] [--x]",
				       tmpdir);
		char *cause = NULL;
		int r;

		expect_argv("program resolved through PATH", e, ENGINE_UPDATE,
			    NULL, want);
		free(want);
		free(argv_str(e, ENGINE_STATUS, NULL, &r, &cause));
		ok(r == -ENOENT && streq(cause, "program "
		   "'avbatch-no-such-tool' not found in PATH"),
		   "missing program");
		free(cause);
	}
	engine_free(e);

	e = load_ok("binary not installed", "t", "[engine]\nname = t\n"
		    "binary = avbatch-no-such-scanner\n" BASE_ACTIONS
		    BASE_RESULT);
	if (e) {
		const char *v2[] = { "target", "/t", NULL };
		char *cause = NULL;
		int r;

		free(argv_str(e, ENGINE_SCAN, v2, &r, &cause));
		ok(r == -ENOENT && streq(cause, "program "
		   "'avbatch-no-such-scanner' not found in PATH"),
		   "binary not found at argv time");
		free(cause);
	}
	engine_free(e);
}

static void test_exit_codes(void)
{
	struct engine *e = load_ok("signal exit codes", "t", BASE_ENGINE
				   BASE_ACTIONS "[result]\n"
				   "clean = 0, -13\ninfected = 1, 3\n"
				   "error = 2, -9, 255\n"
				   "detection = ^(.*): ([^ ]+) FOUND$\n"
				   "detection_path = 1\n"
				   "detection_threat = 2\n");

	if (!e)
		return;
	ok(engine_classify_exit(e, status_exit(0)) == ENGINE_CLEAN &&
	   engine_classify_exit(e, status_signal(SIGPIPE)) == ENGINE_CLEAN &&
	   engine_classify_exit(e, status_exit(3)) == ENGINE_INFECTED &&
	   engine_classify_exit(e, status_signal(SIGKILL)) == ENGINE_ERROR &&
	   engine_classify_exit(e, status_exit(255)) == ENGINE_ERROR &&
	   engine_classify_exit(e, status_exit(4)) == ENGINE_ERROR &&
	   engine_classify_exit(e, status_signal(SIGTERM)) == ENGINE_ERROR &&
	   engine_classify_exit(e, status_stopped(SIGTSTP)) == ENGINE_ERROR,
	   "classify exit codes and signals");
	engine_free(e);

	e = load_ok("intervals within limits", "t", BASE
		    "error_line = ^(x{1,9}|[[:alpha:]{]{2,50}){1,20}$\n"
		    "summary_infected = ^([0-9]{1,9}) (a{999})?\\)$\n");
	if (e)
		ok(engine_match_error(e, "xxxab") &&
		   !engine_match_error(e, "x1"), "interval expression works");
	engine_free(e);

	e = load_ok("unparsed groups", "t", BASE_ENGINE BASE_ACTIONS
		    "[result]\nclean = 0\n"
		    "detection = ^(A: (.*)|B: (.*))$\n"
		    "detection_path = 2\ndetection_threat = 2\n");
	if (e) {
		expect_detection(e, "A: x", "x", "x", "alternative matched");
		expect_detection(e, "B: x", NULL, NULL,
				 "group outside the match is no detection");
		ok(!engine_match_error(e, "anything"), "no error_line");
	}
	engine_free(e);
}

static void test_files(void)
{
	char *path = xasprintf("%s/t.ini", tmpdir), *cause = NULL;
	char *link = xasprintf("%s/l.ini", tmpdir);
	struct engine *e = NULL;
	int r;

	r = engine_load(link, &e, &cause);
	ok(r == -ENOENT && cause && strstr(cause, "No such file"),
	   "missing file");
	free(cause);
	cause = NULL;

	write_file(path, BASE, strlen(BASE), 0644);
	if (symlink(path, link) == 0) {
		r = engine_load(link, &e, &cause);
		ok(r == -ELOOP && cause && strstr(cause, "symbolic link"),
		   "symlink refused");
		free(cause);
		cause = NULL;
	} else {
		skip("symlink failed", "symlink refused");
	}
	unlink(link);
	if (mkfifo(link, 0644) == 0) {
		r = engine_load(link, &e, &cause);
		ok(r == -EINVAL && cause && strstr(cause, "not a regular file"),
		   "FIFO refused without blocking");
		free(cause);
		cause = NULL;
	}
	unlink(link);

	if (geteuid() != 0) {
		skip("not root", "group-writable descriptor refused");
		skip("not root", "world-writable descriptor refused");
		skip("not root", "descriptor owned by another user refused");
	} else {
		chmod(path, 0620);
		r = engine_load(path, &e, &cause);
		ok(r == -EPERM && cause && !strcmp(cause + strlen(path),
		   ": refusing descriptor writable by group or other"),
		   "group-writable descriptor refused");
		free(cause);
		cause = NULL;
		chmod(path, 0666);
		r = engine_load(path, &e, &cause);
		ok(r == -EPERM && cause && strstr(cause, "writable by group "
		   "or other"), "world-writable descriptor refused");
		free(cause);
		cause = NULL;
		chmod(path, 0644);
		if (chown(path, 1, 0) == 0) {
			r = engine_load(path, &e, &cause);
			ok(r == -EPERM && cause && strstr(cause, "refusing "
			   "descriptor not owned by root"),
			   "descriptor owned by another user refused");
			free(cause);
			cause = NULL;
			if (chown(path, 0, 0) < 0)
				diag("chown back failed");
		} else {
			skip("chown failed",
			     "descriptor owned by another user refused");
		}
	}
	engine_free(e);
	free(path);
	free(link);
}

static void test_find(void)
{
	char *d[3], *cause = NULL;
	struct engine *e = NULL;
	int r;

	for (int i = 0; i < 3; i++) {
		d[i] = xasprintf("%s/dir%d", tmpdir, i);
		mkdir(d[i], 0755);
	}
	for (int i = 0; i < 3; i += 2) {
		char *p = xasprintf("%s/t.ini", d[i]);
		char *text = xasprintf(BASE "[engine]\ndescription = dir%d\n",
				       i);

		write_file(p, text, strlen(text), 0644);
		free(p);
		free(text);
	}
	r = engine_find((const char *const *)d, 3, "t", &e, &cause);
	ok(r == 0 && streq(engine_description(e), "dir2"),
	   "engine_find: the last directory wins");
	engine_free(e);
	e = NULL;
	r = engine_find((const char *const *)d, 2, "t", &e, &cause);
	ok(r == 0 && streq(engine_description(e), "dir0"),
	   "engine_find: skips directories without it");
	engine_free(e);
	e = NULL;
	r = engine_find((const char *const *)d, 3, "zz", &e, &cause);
	{
		char *want = xasprintf("no engine 'zz' in %s:%s:%s", d[0], d[1],
				       d[2]);

		ok(r == -ENOENT && !e && streq(cause, want),
		   "engine_find: not found");
		free(want);
	}
	free(cause);
	cause = NULL;
	r = engine_find((const char *const *)d, 3, "../t", &e, &cause);
	ok(r == -EINVAL && !e && streq(cause, "bad engine name '../t'"),
	   "engine_find: bad name");
	free(cause);
	cause = NULL;
	{
		/* a broken override does not fall back to the earlier one */
		char *p = xasprintf("%s/t.ini", d[2]);

		write_file(p, "[engine\n", 8, 0644);
		r = engine_find((const char *const *)d, 3, "t", &e, &cause);
		ok(r == -EINVAL && !e && cause &&
		   strstr(cause, "malformed section header"),
		   "engine_find: broken override is an error");
		free(cause);
		free(p);
	}
	for (int i = 0; i < 3; i++)
		free(d[i]);
}

/* signature_sets: the option that names the signatures; a clone's options. */
static void test_sigsets(void)
{
	struct engine *e, *c = NULL;
	struct strv paths = { 0 };
	char *cause = NULL;

	expect_error("signature_sets without signatures", BASE_ENGINE
		     "signature_sets = clamav\n" BASE_ACTIONS BASE_RESULT, 4,
		     "signature_sets needs 'signatures' to be one option");
	expect_error("signature_sets with signatures not one option",
		     BASE_ENGINE "signature_sets = clamav\n"
		     "signatures = {db}/main.cvd\n" BASE_ACTIONS BASE_RESULT
		     "[options]\ndb = /x\n", 4,
		     "signature_sets needs 'signatures' to be one option");
	expect_error("unknown signature_sets", BASE_ENGINE
		     "signature_sets = yara\n" BASE_ACTIONS BASE_RESULT, 4,
		     "unknown signature_sets 'yara' (known: clamav)");
	e = load_ok("signature_sets = clamav", "t", BASE_ENGINE
		    "signature_sets = clamav\nsignatures = {db}\n"
		    BASE_ACTIONS BASE_RESULT "[options]\ndb = /x\n");
	if (!e)
		return;
	ok(engine_signature_sets(e) == ENGINE_SIGSETS_CLAMAV &&
	   streq(engine_signature_option(e), "db"),
	   "signature_sets: clamav, named by option 'db'");
	engine_set_option(e, "db", "/y", NULL);
	ok(engine_clone(e, &c, &cause) == 0 &&
	   engine_signature_paths(c, &paths, &cause) == 0 &&
	   paths.n == 1 && streq(paths.v[0], "/y"),
	   "a clone keeps the options set on the original");
	engine_set_option(c, "db", "/delta", NULL);
	strv_release(&paths);
	ok(engine_signature_paths(e, &paths, &cause) == 0 && paths.n == 1 &&
	   streq(paths.v[0], "/y"), "... and changing the clone's leaves it");
	strv_release(&paths);
	free(cause);
	engine_free(c);
	engine_free(e);
	e = load_ok("no signature_sets", "t", BASE);
	ok(e && engine_signature_sets(e) == ENGINE_SIGSETS_NONE &&
	   !engine_signature_option(e), "no signature_sets: none");
	engine_free(e);
}

static void make_fake_bin(void)
{
	static const char *const progs[] = {
		"clamscan", "freshclam", "avbatch-test-tool"
	};
	char *bin = xasprintf("%s/bin", tmpdir);

	mkdir(bin, 0755);
	for (size_t i = 0; i < ARRAY_SIZE(progs); i++) {
		char *p = xasprintf("%s/%s", bin, progs[i]);

		write_file(p, "#!/bin/sh\nexit 0\n", 17, 0755);
		free(p);
	}
	setenv("PATH", bin, 1);
	free(bin);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/test-engine.XXXXXX", t && *t ? t : "/tmp");

	tmpdir = mkdtemp(tmpl);
	if (!tmpdir) {
		printf("Bail out! mkdtemp %s: %s\n", tmpl, strerror(errno));
		return 99;
	}
	/* Output lines are bytes: matching must not depend on the locale. */
	setlocale(LC_ALL, "C.UTF-8");
	umask(022);

	test_clamscan();	/* needs the real PATH */
	make_fake_bin();
	test_shipped();
	test_errors();
	test_nul();
	test_lines();
	test_templates();
	test_extensions();
	test_exit_codes();
	test_files();
	test_find();
	test_sigsets();

	rmtree(tmpdir);
	free(tmpdir);
	printf("1..%d\n", ntests);
	return nfailed ? 1 : 0;
}
