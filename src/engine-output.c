/* engine-output.c - reading an engine's output: detections, errors, counts */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine-int.h"
#include "engine-output.h"
#include "util.h"

/* One run's output being read, and what it said so far. */
struct engine_output {
	const struct engine *e;
	struct engine_output_scope sc;
	struct engine_findings f;
	char *context;		/* the threat of the heading above, if any */
	char *last_threat;	/* single: the last threat the stream named */
};

/* Match in the C locale, as regcomp_bytes() (engine.c) compiled. */
static int regexec_bytes(const regex_t *re, const char *s, size_t n,
			 regmatch_t *m)
{
	locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	locale_t old = c ? uselocale(c) : (locale_t)0;
	int r = regexec(re, s, n, m, 0);

	if (c) {
		uselocale(old);
		freelocale(c);
	}
	return r;
}

enum engine_verdict engine_classify_exit(const struct engine *e, int status)
{
	int idx;

	if (WIFEXITED(status))
		idx = WEXITSTATUS(status);
	else if (WIFSIGNALED(status) && WTERMSIG(status) <= SIG_MAX)
		idx = 256 + WTERMSIG(status);
	else
		return ENGINE_ERROR;
	return e->verdict[idx] < 0 ? ENGINE_ERROR :
				     (enum engine_verdict)e->verdict[idx];
}

bool engine_match_detection(const struct engine *e, const char *line,
			    char **path, char **threat)
{
	regmatch_t m[GROUP_MAX + 1];
	const regmatch_t *p = &m[e->group[0]], *t = &m[e->group[1]];

	if (!e->has_re[RE_DETECTION] ||
	    regexec_bytes(&e->re[RE_DETECTION], line, GROUP_MAX + 1, m) != 0)
		return false;
	/* The first path group that took part in the match. */
	for (int k = 0; p->rm_so < 0 && k < GROUP_MAX && e->path_alt[k]; k++)
		p = &m[e->path_alt[k]];
	/*
	 * A group that took no part in the match: no detection, except a
	 * threat group where threat_context can name the threat instead.
	 */
	if (p->rm_so < 0 || (t->rm_so < 0 && !e->has_re[RE_CONTEXT]))
		return false;
	*path = xstrndup(line + p->rm_so, (size_t)(p->rm_eo - p->rm_so));
	/* No threat group: the caller takes the threat from context. */
	*threat = e->group[1] == 0 || t->rm_so < 0 ? NULL :
		xstrndup(line + t->rm_so, (size_t)(t->rm_eo - t->rm_so));
	return true;
}

bool engine_threat_is_incomplete(const struct engine *e, const char *threat)
{
	for (size_t i = 0; i < e->incomplete.n; i++)
		if (str_has_prefix(threat, e->incomplete.v[i]))
			return true;
	return false;
}

bool engine_match_error(const struct engine *e, const char *line)
{
	return e->has_re[RE_ERROR] &&
	       regexec_bytes(&e->re[RE_ERROR], line, 0, NULL) == 0;
}

bool engine_match_summary(const struct engine *e, const char *line,
			  unsigned long *count)
{
	regmatch_t m[2];
	uint64_t v;
	char *num;
	int r;

	if (!e->has_re[RE_SUMMARY] ||
	    regexec_bytes(&e->re[RE_SUMMARY], line, 2, m) != 0 ||
	    m[1].rm_so < 0)
		return false;
	num = xstrndup(line + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
	r = parse_u64(num, &v);
	free(num);
	if (r < 0)
		return false;
	*count = (unsigned long)v;
	return true;
}

bool engine_needs_summary(const struct engine *e)
{
	if (!e->has_re[RE_SUMMARY])
		return false;
	for (size_t i = 0; i < NCODES; i++)
		if (e->verdict[i] == ENGINE_INFECTED)
			return false;
	return true;
}

bool engine_match_context(const struct engine *e, const char *line,
			  char **threat)
{
	regmatch_t m[2];

	if (!e->has_re[RE_CONTEXT] ||
	    regexec_bytes(&e->re[RE_CONTEXT], line, 2, m) != 0 ||
	    m[1].rm_so < 0)
		return false;
	*threat = xstrndup(line + m[1].rm_so,
			   (size_t)(m[1].rm_eo - m[1].rm_so));
	return true;
}

bool engine_tells_progress(const struct engine *e)
{
	return e->has_re[RE_PROGRESS];
}

bool engine_match_progress(const struct engine *e, const char *line,
			   size_t *off, size_t *len)
{
	regmatch_t m[2];

	if (!e->has_re[RE_PROGRESS] ||
	    regexec_bytes(&e->re[RE_PROGRESS], line, 2, m) != 0 ||
	    m[1].rm_so < 0)
		return false;
	*off = (size_t)m[1].rm_so;
	*len = (size_t)(m[1].rm_eo - m[1].rm_so);
	return true;
}

/* An error the output shows: counted, and the first one kept. */
static void add_error(struct engine_output *o, char *msg)
{
	o->f.errors++;
	str_set_first(&o->f.error, msg);
}

static void add_hit(struct engine_findings *f, const char *path,
		    const char *threat)
{
	struct engine_detection *h;

	for (size_t i = 0; i < f->nhits; i++)
		if (!strcmp(f->hits[i].path, path))
			return;
	f->hits = xreallocarray(f->hits, f->nhits + 1, sizeof(*f->hits));
	h = &f->hits[f->nhits++];
	h->path = xstrdup(path);
	h->threat = xstrdup(threat);
}

/*
 * The guest path of a path an engine reported, or NULL if it is not one
 * of ours: in list mode a listed file (or a member of one), in tree mode
 * anything that exists in the guest file system, reached without symlinks.
 */
static char *guest_path(const struct engine_output *o, const char *host)
{
	const struct engine_output_scope *r = &o->sc;
	size_t n = strlen(r->mnt);
	const struct walk_file *f = NULL;
	char *g = NULL, *full;
	bool list = engine_has_action(o->e, ENGINE_SCAN_LIST);

	/* A listed file, also one listed from another root (NTFS streams). */
	if (list && (f = walk_find(r->w, host)))
		return xstrdup(walk_guest_path(r->w, f));
	if (strncmp(host, r->mnt, n) != 0 || host[n] != '/')
		return NULL;
	if (walk_resolve(r->mnt, host + n, &g) < 0)
		return NULL;
	if (list) {
		full = xasprintf("%s%s", r->mnt, g);
		f = walk_find(r->w, full);
		free(full);
		if (!f) {
			free(g);
			return NULL;
		}
	}
	return g;
}

/* An engine's line for a report: host mount paths shown as guest paths. */
static char *guest_line(const struct engine_output *o, const char *line)
{
	struct buf b = { 0 };
	size_t n = strlen(o->sc.mnt);
	const char *p;

	while ((p = strstr(line, o->sc.mnt)) && p[n] == '/') {
		buf_add(&b, line, (size_t)(p - line));
		line = p + n;
	}
	buf_addstr(&b, line);
	return b.p;
}

struct engine_output *engine_output_new(const struct engine *e,
				const struct engine_output_scope *scope)
{
	struct engine_output *o = xcalloc(1, sizeof(*o));

	o->e = e;
	o->sc = *scope;
	return o;
}

void engine_output_line(struct engine_output *o, const char *line)
{
	const struct engine *e = o->e;
	char *path = NULL, *threat = NULL, *ctx = NULL, *g;
	unsigned long count = 0;
	bool summary = engine_match_summary(e, line, &count);

	/* Seen even when it is an error line too (Dr.Web's "scan errors: 1"). */
	o->f.summary_seen |= summary;
	/*
	 * Error lines first: a line that could be both is counted as an
	 * error (visible) rather than dropped as a detection outside the
	 * guest (silent).
	 */
	if (engine_match_error(e, line)) {
		add_error(o, guest_line(o, line));
	} else if (!*line) {
		free(o->context);
		o->context = NULL;
	} else if (engine_match_context(e, line, &ctx)) {
		free(o->context);
		o->context = ctx;
	} else if (engine_match_detection(e, line, &path, &threat)) {
		if (!threat && o->context)
			threat = xstrdup(o->context);
		if (!threat) {
			/* A path line with no heading before it. */
		} else if (engine_threat_is_incomplete(e, threat)) {
			str_set_first(&o->f.incomplete, xasprintf(
				"not fully scanned: %s", threat));
		} else if (o->sc.single) {
			free(o->last_threat);
			o->last_threat = threat;
			threat = NULL;
		} else if ((g = guest_path(o, path))) {
			add_hit(&o->f, g, threat);
			free(g);
		} else {
			/* Never drop a detection silently. */
			char *gl = guest_line(o, line);

			add_error(o, xasprintf("a detection for a path that "
						"is not a scanned file: %s", gl));
			free(gl);
		}
	} else if (summary) {
		o->f.summary += count;
	}
	free(path);
	free(threat);
}

void engine_output_end(struct engine_output *o)
{
	const struct engine_output_scope *r = &o->sc;

	/*
	 * A name with a newline splits the engine's line: trust the exit
	 * status, unless it only meant "not fully scanned".
	 */
	if (r->single && (o->last_threat || (r->infected_rc &&
					     !o->f.incomplete)))
		add_hit(&o->f, walk_guest_path(r->w, walk_find(r->w,
							       r->single)),
			o->last_threat ? o->last_threat : "unknown");
	free(o->context);
	o->context = NULL;
	free(o->last_threat);
	o->last_threat = NULL;
}

void engine_output_read(struct engine_output *o, const char *file)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f = NULL;
	int fd;

	fd = open(file, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || !(f = fdopen(fd, "r"))) {
		add_error(o, xasprintf("cannot read the engine's output "
				       "'%s': %s", file, strerror(errno)));
		if (fd >= 0)
			close(fd);
		goto done;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		engine_output_line(o, line);
	}
	if (ferror(f))
		add_error(o, xasprintf("cannot read the engine's output "
				       "'%s': %s", file, strerror(errno)));
	engine_output_end(o);
done:
	if (f)
		fclose(f);
	free(line);
}

const struct engine_findings *engine_output_findings(
	const struct engine_output *o)
{
	return &o->f;
}

void engine_output_free(struct engine_output *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->f.nhits; i++) {
		free(o->f.hits[i].path);
		free(o->f.hits[i].threat);
	}
	free(o->f.hits);
	free(o->f.error);
	free(o->f.incomplete);
	free(o->context);
	free(o->last_threat);
	free(o);
}
