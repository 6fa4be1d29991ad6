/* test-engine-output.c - unit tests of the engine-output reader (TAP) */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "engine-output.h"
#include "util.h"
#include "walk.h"

static int ntests, nfailed;
static char *tmpdir, *mnt;
static struct walk walk;

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
	if (!a && !b)
		return true;
	diag("got '%s', expected '%s'", a ? a : "(null)", b ? b : "(null)");
	return false;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0) {
		printf("Bail out! cannot write %s: %s\n", path,
		       strerror(errno));
		exit(99);
	}
}

/*
 * A copy of the shipped engines/NAME.ini in tmpdir (root refuses a
 * checkout another user owns), loaded.
 */
static struct engine *shipped(const char *name)
{
	const char *srcdir = getenv("srcdir");
	char *src = xasprintf("%s/engines/%s.ini",
			      srcdir && *srcdir ? srcdir : ".", name);
	char *dst = xasprintf("%s/%s.ini", tmpdir, name);
	struct engine *e = NULL;
	struct buf b = { 0 };
	char *cause = NULL;

	if (read_file(src, 1 << 20, &b) < 0) {
		printf("Bail out! cannot read %s\n", src);
		exit(99);
	}
	write_file(dst, b.p, b.len);
	if (engine_load(dst, &e, &cause) < 0) {
		printf("Bail out! %s\n", cause);
		exit(99);
	}
	buf_release(&b);
	free(src);
	free(dst);
	return e;
}

/* Feed text (lines, '\n' between them) as one stream and end it. */
static void feed(struct engine_output *o, const char *text)
{
	char *copy = xstrdup(text), *line = copy, *nl;

	while ((nl = strchr(line, '\n'))) {
		*nl = '\0';
		engine_output_line(o, line);
		line = nl + 1;
	}
	if (*line)
		engine_output_line(o, line);
	engine_output_end(o);
	free(copy);
}

/* The findings' hits as "PATH=THREAT;" in order. */
static char *hits_str(const struct engine_findings *f)
{
	struct buf b = { 0 };

	for (size_t i = 0; i < f->nhits; i++) {
		buf_addstr(&b, f->hits[i].path);
		buf_addstr(&b, "=");
		buf_addstr(&b, f->hits[i].threat);
		buf_addstr(&b, ";");
	}
	return b.p ? b.p : xstrdup("");
}

static void check_hits(const struct engine_findings *f, const char *want,
		       const char *desc)
{
	char *got = hits_str(f);

	ok(streq(got, want), "%s", desc);
	free(got);
}

/* The guest file system: a few files under tmpdir/mnt, walked. */
static void make_guest(void)
{
	static const char *const files[] = {
		"/a", "/dir/b.zip", "/x: y", "/z - infected with q",
		"/nl\nname",
	};
	char *p;
	int r;

	mnt = xasprintf("%s/mnt", tmpdir);
	p = xasprintf("%s/dir", mnt);
	if (mkdir(mnt, 0755) < 0 || mkdir(p, 0755) < 0) {
		printf("Bail out! mkdir %s: %s\n", p, strerror(errno));
		exit(99);
	}
	free(p);
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
		p = xasprintf("%s%s", mnt, files[i]);
		write_file(p, "x", 1);
		free(p);
	}
	r = walk_fs(&walk, mnt, false, NULL);
	if (r < 0 || walk.nfiles != 5) {
		printf("Bail out! walk_fs %s: %d, %zu files\n", mnt, r,
		       walk.nfiles);
		exit(99);
	}
}

/* clamscan/clamdscan lines, from a file list (engines/clamav.ini). */
static void test_clamav(void)
{
	struct engine *e = shipped("clamav");
	struct engine_output_scope sc = { .w = &walk, .mnt = mnt };
	struct engine_output *o = engine_output_new(e, &sc);
	const struct engine_findings *f;
	char *text;

	text = xasprintf(
		"%s/a: Win.Test.EICAR_HDB-1 FOUND\n"
		"%s/x: y: Eicar-Sig FOUND\n"
		"%s/a: Other FOUND\n"
		"%s/dir/b.zip/eicar.com: Win.Test.EICAR_HDB-1 FOUND\n"
		"LibClamAV Warning: cli_scanxz: oops\n"
		"WARNING: %s/gone: Can't access file\n"
		"%s/nothere: Eicar-Sig FOUND\n"
		"%s/z - infected with q: Heuristics.Limits.Exceeded.MaxFileSize"
		" FOUND\n", mnt, mnt, mnt, mnt, mnt, mnt, mnt);
	feed(o, text);
	f = engine_output_findings(o);
	check_hits(f, "/a=Win.Test.EICAR_HDB-1;/x: y=Eicar-Sig;"
		   "/dir/b.zip=Win.Test.EICAR_HDB-1;",
		   "clamav: detections by guest path, first threat kept, "
		   "archive member as its file");
	ok(f->errors == 2, "clamav: the error line and the detection "
	   "outside the scanned files are errors (%u)", f->errors);
	ok(streq(f->error, "WARNING: /gone: Can't access file"),
	   "clamav: the first error, with the guest path");
	ok(streq(f->incomplete, "not fully scanned: "
		 "Heuristics.Limits.Exceeded.MaxFileSize"),
	   "clamav: a limits heuristic is incomplete, not a detection");
	ok(!f->summary_seen && f->summary == 0, "clamav: no summary line");
	engine_output_free(o);
	free(text);

	/* The second error is counted; its text is not kept. */
	o = engine_output_new(e, &sc);
	text = xasprintf("%s/nothere: Eicar-Sig FOUND\n"
			 "%s/a: Can't open directory.\n", mnt, mnt);
	feed(o, text);
	f = engine_output_findings(o);
	ok(f->errors == 2 && streq(f->error, "a detection for a path that "
				   "is not a scanned file: /nothere: "
				   "Eicar-Sig FOUND"),
	   "clamav: a detection of no scanned file is never dropped");
	ok(f->nhits == 0, "clamav: ... and is no detection");
	engine_output_free(o);
	free(text);

	/* A file scanned alone: its name splits the engine's line. */
	sc.single = walk.files[2].path;
	o = engine_output_new(e, &sc);
	text = xasprintf("%s/nl\nname: Eicar-Sig FOUND\n", mnt);
	feed(o, text);
	check_hits(engine_output_findings(o), "/nl\nname=Eicar-Sig;",
		   "clamav: a single file takes the threat of its split line");
	engine_output_free(o);
	free(text);

	sc.infected_rc = true;
	o = engine_output_new(e, &sc);
	feed(o, "");
	check_hits(engine_output_findings(o), "/nl\nname=unknown;",
		   "clamav: a single file the exit status calls infected");
	engine_output_free(o);

	o = engine_output_new(e, &sc);
	text = xasprintf("%s/nl\nname: Heuristics.Limits.Exceeded.Max FOUND",
			 mnt);
	feed(o, text);
	f = engine_output_findings(o);
	ok(f->nhits == 0 && f->incomplete, "clamav: ... unless the status "
	   "only meant \"not fully scanned\"");
	engine_output_free(o);
	free(text);
	engine_free(e);
}

/* Dr.Web's drweb-ctl (tests/doubles/drweb-ctl), a directory scanned. */
static void test_drweb(void)
{
	struct engine *e = shipped("drweb");
	struct engine_output_scope sc = { .w = &walk, .mnt = mnt };
	struct engine_output *o = engine_output_new(e, &sc);
	const struct engine_findings *f;
	char *text;

	text = xasprintf(
		"%s/a - infected with EICAR Test File (NOT a Virus!)\n"
		"%s/z - infected with q - Ok\n"
		"%s/dir/b.zip - Read error\n"
		"Scanned objects: 5, scan errors: 1, threats found: 1, "
		"threats neutralized: 0.\n"
		"Scanned 1 KB in 0.1 s with speed 10 KB/s.\n", mnt, mnt, mnt);
	feed(o, text);
	f = engine_output_findings(o);
	check_hits(f, "/a=EICAR Test File (NOT a Virus!);",
		   "drweb: a threat with blanks; a clean file named like a "
		   "detection is none");
	ok(f->errors == 2, "drweb: a read error and the summary's errors "
	   "(%u)", f->errors);
	ok(streq(f->error, "/dir/b.zip - Read error"),
	   "drweb: the first error, with the guest path");
	ok(f->summary_seen && f->summary == 0,
	   "drweb: an error summary is seen, not counted");
	ok(engine_needs_summary(e), "drweb: the verdict rests on the summary");
	engine_output_free(o);
	free(text);

	o = engine_output_new(e, &sc);
	text = xasprintf(
		"%s/a - infected with EICAR Test File (NOT a Virus!)\n"
		"Scanned objects: 5, scan errors: 0, threats found: 1, "
		"threats neutralized: 0.\n", mnt);
	feed(o, text);
	feed(o, "Scanned objects: 1, scan errors: 0, threats found: 2, "
	     "threats neutralized: 0.");
	f = engine_output_findings(o);
	ok(f->summary_seen && f->summary == 3 && f->errors == 0,
	   "drweb: summary counts add up over streams (%lu)", f->summary);
	engine_output_free(o);
	free(text);
	engine_free(e);
}

/* chkrootkit: threats named by a heading, paths on the lines below. */
static void test_chkrootkit(void)
{
	struct engine *e = shipped("chkrootkit");
	struct engine_output_scope sc = { .w = &walk, .mnt = mnt };
	struct engine_output *o = engine_output_new(e, &sc);
	const struct engine_findings *f;
	char *text;

	text = xasprintf(
		"WARNING: Possible Lion rootkit installed:\n"
		"%s/dir/\n"
		"%s/a\n"
		"\n"
		"%s/x: y\n"
		"WARNING: Possible Ramen Worm installed in %s/z - infected "
		"with q\n", mnt, mnt, mnt, mnt);
	feed(o, text);
	f = engine_output_findings(o);
	check_hits(f, "/dir=Possible Lion rootkit installed;"
		   "/a=Possible Lion rootkit installed;"
		   "/z - infected with q=Possible Ramen Worm installed;",
		   "chkrootkit: a heading names the paths below it, up to "
		   "a blank line");
	ok(f->errors == 0, "chkrootkit: no errors");
	engine_output_free(o);
	free(text);

	/* A heading does not carry over into the next stream. */
	o = engine_output_new(e, &sc);
	feed(o, "WARNING: Possible Lion rootkit installed:");
	text = xasprintf("%s/a\n", mnt);
	feed(o, text);
	ok(engine_output_findings(o)->nhits == 0,
	   "chkrootkit: a heading ends with its stream");
	engine_output_free(o);
	free(text);
	engine_free(e);
}

/* Whole files: read to the end, long lines too; unreadable is an error. */
static void test_files(void)
{
	struct engine *e = shipped("clamav");
	struct engine_output_scope sc = { .w = &walk, .mnt = mnt };
	struct engine_output *o = engine_output_new(e, &sc);
	const struct engine_findings *f;
	char *out = xasprintf("%s/scan.out", tmpdir);
	char *missing = xasprintf("%s/missing.out", tmpdir);
	char *want;
	struct buf b = { 0 };

	buf_addstr(&b, "WARNING: ");
	for (int i = 0; i < 10000; i++)
		buf_addstr(&b, "long ");
	buf_addstr(&b, "\n");
	buf_addstr(&b, mnt);
	buf_addstr(&b, "/a: Eicar-Sig FOUND");	/* no final newline */
	write_file(out, b.p, b.len);
	engine_output_read(o, out);
	engine_output_read(o, missing);
	f = engine_output_findings(o);
	check_hits(f, "/a=Eicar-Sig;", "file: a last line without newline");
	want = xasprintf("cannot read the engine's output '%s': %s", missing,
			 strerror(ENOENT));
	ok(f->error && !strncmp(f->error, "WARNING: long ", 14) &&
	   strlen(f->error) == 9 + 10000 * 5, "file: a 50 kB line is one line");
	ok(f->errors == 2, "file: output that cannot be read is an error");
	engine_output_free(o);

	o = engine_output_new(e, &sc);
	engine_output_read(o, missing);
	ok(streq(engine_output_findings(o)->error, want),
	   "file: the error names the file");
	engine_output_free(o);
	buf_release(&b);
	free(want);
	free(out);
	free(missing);
	engine_free(e);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	char *tmpl = xasprintf("%s/test-engine-output.XXXXXX",
			       t && *t ? t : "/tmp");

	tmpdir = mkdtemp(tmpl);
	if (!tmpdir) {
		printf("Bail out! mkdtemp %s: %s\n", tmpl, strerror(errno));
		return 99;
	}
	/* Output lines are bytes: reading must not depend on the locale. */
	setlocale(LC_ALL, "C.UTF-8");
	umask(022);

	make_guest();
	test_clamav();
	test_drweb();
	test_chkrootkit();
	test_files();

	walk_release(&walk);
	rmtree(tmpdir);
	free(tmpdir);
	free(mnt);
	printf("1..%d\n", ntests);
	return nfailed ? 1 : 0;
}
