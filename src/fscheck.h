/* fscheck.h - the file systems' own read-only checks (e2fsck -fn, ...) */
#ifndef AVBATCH_FSCHECK_H
#define AVBATCH_FSCHECK_H

#include <stdint.h>

enum fscheck_status {
	FSCHECK_CLEAN,		/* the tool found nothing wrong */
	FSCHECK_ERRORS,		/* it found errors (it changed nothing) */
	FSCHECK_UNCHECKED,	/* it could not check (usage, I/O, dirty log) */
};

/* "clean", "errors", "unchecked". */
const char *fscheck_status_name(enum fscheck_status s);

/*
 * The checking program for a probed file system type ("e2fsck" for
 * "ext4"), or NULL for a type avbatch has no check for.
 */
const char *fscheck_tool(const char *type);

/* What the check of type ending with exit code code means. */
enum fscheck_status fscheck_status_of(const char *type, int code);

struct fscheck_result {
	enum fscheck_status status;
	int code;		/* the tool's exit code, or -1 */
	char *tool;		/* "e2fsck" */
	char *log;		/* where its output went */
};

/*
 * Check the file system of type at [offset, offset + size) of view with
 * its own tool in read-only mode, through a read-only loop device (what
 * xfs_repair needs), the tool's output appended to log.  Returns 0 with
 * *res filled (whatever the tool found), or -errno with *cause when the
 * tool cannot be run at all (-EOPNOTSUPP: no check for that type).
 */
int fscheck_run(const char *type, const char *view, uint64_t offset,
		uint64_t size, const char *log, struct fscheck_result *res,
		char **cause);

void fscheck_result_release(struct fscheck_result *res);

#endif
