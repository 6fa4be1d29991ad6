/* output.c - files avbatch writes on the host for the user (report, cache) */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "output.h"
#include "util.h"

/* The largest file read to tell whether it is a previous report. */
#define REPORT_MAX	(256 << 20)

struct output_guard {
	struct stat *v;
	size_t n;
};

struct output_guard *output_guard_new(void)
{
	return xcalloc(1, sizeof(struct output_guard));
}

void output_guard_add(struct output_guard *g, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return;
	g->v = xreallocarray(g->v, g->n + 1, sizeof(*g->v));
	g->v[g->n++] = st;
}

void output_guard_free(struct output_guard *g)
{
	if (!g)
		return;
	free(g->v);
	free(g);
}

static bool guarded(const struct output_guard *g, const struct stat *st)
{
	for (size_t i = 0; g && i < g->n; i++)
		if (g->v[i].st_dev == st->st_dev && g->v[i].st_ino == st->st_ino)
			return true;
	return false;
}

/*
 * Is the regular file at path one avbatch wrote as kind: a JSON report (an
 * object with "schema" and "tool": {"name": "avbatch"}), a report page
 * (avbatch's HTML head), metrics (avbatch's first HELP line)?  Read
 * through an fd that neither follows a link nor waits on a FIFO.
 */
static bool is_previous(const char *path, enum output_kind kind)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct json_object *o = NULL;
	struct buf b = { 0 };
	char chunk[65536], *cause = NULL;
	struct stat st;
	bool yes = false;
	ssize_t n;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > REPORT_MAX)
		goto done;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 &&
	       b.len + (size_t)n <= REPORT_MAX)
		buf_add(&b, chunk, (size_t)n);
	if (n != 0 || !b.p)
		goto done;
	if (kind == OUTPUT_HTML) {
		yes = str_has_prefix(b.p, "<!DOCTYPE html>") &&
		      strstr(b.p, "<title>avbatch report");
		goto done;
	}
	if (kind == OUTPUT_METRICS) {
		yes = str_has_prefix(b.p, "# HELP avbatch_");
		goto done;
	}
	o = json_parse(b.p, b.len, &cause);
	yes = o && json_object_is_type(o, json_type_object) &&
	      json_get(o, "schema") &&
	      json_get_str(json_get(o, "tool"), "name") &&
	      !strcmp(json_get_str(json_get(o, "tool"), "name"), PACKAGE_NAME);
done:
	json_object_put(o);
	free(cause);
	buf_release(&b);
	close(fd);
	return yes;
}

/* Does the directory path is in exist, and may we create files in it? */
static int check_dir(const char *path, enum output_kind kind, char **why)
{
	char *copy = xstrdup(path);
	const char *dir = dirname(copy);
	struct stat st;
	int r = 0;

	if (stat(dir, &st) < 0) {
		r = -errno;
		if (r == -ENOENT && kind == OUTPUT_DATABASE)
			r = 0;
		else
			*why = xasprintf("directory '%s': %s", dir,
					 strerror(-r));
	} else if (!S_ISDIR(st.st_mode)) {
		r = -ENOTDIR;
		*why = xasprintf("'%s' is not a directory", dir);
	} else if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
		r = -errno;
		*why = xasprintf("directory '%s' is not writable: %s", dir,
				 strerror(-r));
	}
	free(copy);
	return r;
}

const char *output_kind_name(enum output_kind kind)
{
	static const char *const names[] = {
		[OUTPUT_REPORT] = "report", [OUTPUT_DATABASE] = "cache",
		[OUTPUT_HTML] = "report page", [OUTPUT_METRICS] = "metrics",
		[OUTPUT_SAMPLE] = "exported file",
	};

	return names[kind];
}

int output_check(const struct output_guard *g, const char *path,
		 enum output_kind kind, bool force, char **cause)
{
	const char *what = output_kind_name(kind);
	/* What avbatch writes anew each time (not the cache it reuses). */
	bool written = kind != OUTPUT_DATABASE;
	char *why = NULL;
	struct stat st;
	int r;

	if (kind == OUTPUT_REPORT && !strcmp(path, "-"))
		return 0;
	r = check_dir(path, kind, &why);
	if (r < 0)
		goto done;
	if (stat(path, &st) == 0 && guarded(g, &st)) {
		r = -EPERM;
		why = xstrdup("it is a target or a file of a target's "
			      "backing chain");
		goto done;
	}
	if (lstat(path, &st) < 0) {
		r = errno == ENOENT ? 0 : -errno;
		if (r < 0)
			why = xstrdup(strerror(-r));
		goto done;
	}
	if (S_ISLNK(st.st_mode) && (!written || !force)) {
		r = -EPERM;
		why = xasprintf("it is a symbolic link%s",
				written ? " (--force replaces "
				"the link, never what it points to)" : "");
	} else if (!S_ISLNK(st.st_mode) && !S_ISREG(st.st_mode)) {
		r = -EPERM;
		why = xstrdup("it is not a regular file");
	} else if (S_ISREG(st.st_mode) && written && !force &&
		   (kind == OUTPUT_SAMPLE || !is_previous(path, kind))) {
		r = -EEXIST;
		why = kind == OUTPUT_SAMPLE ?
		      xstrdup("it exists (--force replaces it)") :
		      xasprintf("it exists and is not an avbatch %s "
				"(--force replaces it)", what);
	}
done:
	if (r < 0)
		*cause = xasprintf("refusing the %s '%s': %s", what, path, why);
	free(why);
	return r;
}
