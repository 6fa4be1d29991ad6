/* output.h - files avbatch writes on the host for the user (report, cache) */
#ifndef AVBATCH_OUTPUT_H
#define AVBATCH_OUTPUT_H

#include <stdbool.h>

/* What an output path is to hold: what may be found there already. */
enum output_kind {
	OUTPUT_REPORT,		/* a JSON report: may replace a previous one */
	OUTPUT_DATABASE,	/* the cache: an existing regular file is used */
	OUTPUT_HTML,		/* a report page: may replace a previous one */
	OUTPUT_METRICS,		/* metrics: may replace previous ones */
	OUTPUT_SAMPLE,		/* a quarantined file: replaces nothing */
};

/* What kind is called in messages: "report", "cache", ... */
const char *output_kind_name(enum output_kind kind);

/* The files no output may be: the targets and their backing chains. */
struct output_guard;

struct output_guard *output_guard_new(void);
/* Protect the file path names (symlinks followed); a missing one is fine. */
void output_guard_add(struct output_guard *g, const char *path);
void output_guard_free(struct output_guard *g);

/*
 * May kind be written at path?  Called for every output path before any
 * work, and again just before writing.  Refused with a *cause: a path
 * that is (or is a link to, or another name of) a protected file; a
 * directory that does not exist or cannot be written (a missing directory
 * of the cache is created by cache_open); a FIFO, device, socket or
 * directory there; for a report, an existing file that is not a previous
 * avbatch file of that kind, or a symlink, unless force (the name is then replaced,
 * never written through).  "-" (stdout) is always fine for a report.
 */
int output_check(const struct output_guard *g, const char *path,
		 enum output_kind kind, bool force, char **cause);

#endif
