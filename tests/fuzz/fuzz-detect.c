/* fuzz-detect.c - libFuzzer target: the engine-output reader, whole */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "engine-output.h"
#include "util.h"
#include "walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * An input is a descriptor's [result] and what the engine printed:
 *
 *   line 1  detection            line 5  summary_infected
 *   line 2  detection_path       line 6  threat_context
 *   line 3  detection_threat     line 7  incomplete_prefix
 *   line 4  error_line           line 8  mode letters (below)
 *   then    the output: streams separated by NUL bytes, "@" standing
 *           for the mount point
 *
 * An empty line leaves its key out.  Mode letters: l the engine reads a
 * file list (else it scans the directory), s the run scanned one file
 * alone (the 1st..4th listed for digits 1-4), i its exit status said
 * "infected", e "infected" is no exit status (the summary decides).  A
 * descriptor that does not load is replaced by clamav.ini's [result].
 */
#define NFIELDS	8

static const char *const keys[NFIELDS - 1] = {
	"detection", "detection_path", "detection_threat", "error_line",
	"summary_infected", "threat_context", "incomplete_prefix",
};

/* The [result] section of engines/clamav.ini. */
static const char fallback[] =
	"detection = ^(.*): ([^ ]+) FOUND$\n"
	"detection_path = 1\n"
	"detection_threat = 2\n"
	"error_line = ^(ERROR|WARNING|LibClamAV Error): |"
	": (Access denied|Can't open directory\\.|.* ERROR)$\n"
	"incomplete_prefix = Heuristics.Limits.Exceeded.\n";

/* The guest: a few files under dir/mnt, walked once. */
static const char *const guest_files[] = {
	"/a", "/dir/b.zip", "/x: y", "/nl\nname",
};

static char *dir, *mnt, *ini;
static struct walk walk;

static void cleanup(void)
{
	walk_release(&walk);
	if (dir)
		rmtree(dir);
	free(dir);
	free(mnt);
	free(ini);
}

static void buf_clear(struct buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

static void write_all(const char *path, const char *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd) < 0) {
		perror(path);
		abort();
	}
}

static void setup(void)
{
	char tmpl[] = "/tmp/fuzz-detect.XXXXXX";
	char *p;

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		abort();
	}
	dir = xstrdup(tmpl);
	ini = xasprintf("%s/detect.ini", dir);
	mnt = xasprintf("%s/mnt", dir);
	p = xasprintf("%s/dir", mnt);
	if (mkdir(mnt, 0755) < 0 || mkdir(p, 0755) < 0) {
		perror(p);
		abort();
	}
	free(p);
	for (size_t i = 0; i < sizeof(guest_files) / sizeof(*guest_files);
	     i++) {
		p = xasprintf("%s%s", mnt, guest_files[i]);
		write_all(p, "x", 1);
		free(p);
	}
	if (walk_fs(&walk, mnt, false, NULL) < 0 || walk.nfiles !=
	    sizeof(guest_files) / sizeof(*guest_files))
		abort();
	atexit(cleanup);
}

/* Load the descriptor of the input's first lines (fields), or NULL. */
static struct engine *load(char *const *fields, bool list, bool rc_infected)
{
	struct engine *e = NULL;
	struct buf b = { 0 };
	char *cause = NULL;

	buf_addstr(&b, "[engine]\nname = detect\nbinary = sh\n[actions]\n"
		   "scan = {binary} -- {target}\n");
	if (list)
		buf_addstr(&b, "scan_list = {binary} -- {list}\n");
	buf_addstr(&b, rc_infected ? "[result]\nclean = 0\ninfected = 1\n"
		   "error = 2\n" : "[result]\nclean = 0\nerror = 2\n");
	for (size_t i = 0; i < NFIELDS - 1; i++) {
		if (!*fields[i])
			continue;
		buf_addstr(&b, keys[i]);
		buf_addstr(&b, " = ");
		buf_addstr(&b, fields[i]);
		buf_addstr(&b, "\n");
	}
	write_all(ini, b.p, b.len);
	if (engine_load(ini, &e, &cause) < 0) {
		free(cause);
		cause = NULL;
		buf_clear(&b);
		buf_addstr(&b, "[engine]\nname = detect\nbinary = sh\n"
			   "[actions]\nscan = {binary} -- {target}\n");
		if (list)
			buf_addstr(&b, "scan_list = {binary} -- {list}\n");
		buf_addstr(&b, "[result]\nclean = 0\ninfected = 1\n"
			   "error = 2\n");
		buf_addstr(&b, fallback);
		write_all(ini, b.p, b.len);
		if (engine_load(ini, &e, &cause) < 0) {
			fprintf(stderr, "%s\n", cause);
			abort();
		}
	}
	buf_release(&b);
	return e;
}

/* What the reader says must hold whatever it was fed. */
static void check(const struct engine_findings *f, bool list)
{
	if ((f->errors == 0) != (f->error == NULL))
		abort();
	if (f->incomplete && strncmp(f->incomplete, "not fully scanned: ", 19))
		abort();
	for (size_t i = 0; i < f->nhits; i++) {
		const char *p = f->hits[i].path;
		char *host;

		if (p[0] != '/' || !f->hits[i].threat)
			abort();
		for (size_t j = 0; j < i; j++)
			if (!strcmp(p, f->hits[j].path))
				abort();
		/* A file list's detections are listed files. */
		host = xasprintf("%s%s", mnt, p);
		if (list && !walk_find(&walk, host))
			abort();
		free(host);
	}
}

/* Feed one stream's lines, "@" read as the mount point. */
static void feed(struct engine_output *o, const char *s, const char *end)
{
	struct buf line = { 0 };

	for (; s < end; s++) {
		if (*s == '\n') {
			engine_output_line(o, line.p ? line.p : "");
			buf_clear(&line);
		} else if (*s == '@') {
			buf_addstr(&line, mnt);
		} else {
			buf_add(&line, s, 1);
		}
	}
	if (line.len)
		engine_output_line(o, line.p);
	engine_output_end(o);
	buf_release(&line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct engine_output_scope sc = { 0 };
	char *fields[NFIELDS], *buf, *p, *end, *mode;
	struct engine *e;
	struct engine_output *o;
	bool list;

	if (!dir)
		setup();
	buf = xmalloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	end = buf + size;
	/* The descriptor's lines: no NUL in them. */
	p = buf;
	for (size_t i = 0; i < NFIELDS; i++) {
		size_t n = strcspn(p, "\n");

		fields[i] = p;
		p += n;
		if (p < end)
			*p++ = '\0';
	}
	mode = fields[NFIELDS - 1];
	list = strchr(mode, 'l') != NULL;
	e = load(fields, list, !strchr(mode, 'e'));
	sc.w = &walk;
	sc.mnt = mnt;
	sc.infected_rc = strchr(mode, 'i') != NULL;
	if (strchr(mode, 's')) {
		size_t k = strcspn(mode, "1234");

		sc.single = walk.files[mode[k] ? mode[k] - '1' : 0].path;
	}
	o = engine_output_new(e, &sc);
	/* Streams end at NUL bytes. */
	while (p < end) {
		char *q = memchr(p, '\0', (size_t)(end - p));

		if (!q)
			q = end;
		feed(o, p, q);
		p = q + 1;
	}
	check(engine_output_findings(o), list);
	(void)engine_needs_summary(e);
	engine_output_free(o);
	engine_free(e);
	free(buf);
	return 0;
}
