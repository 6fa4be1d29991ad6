/* clean.h - cleaning what a report found: quarantine, undo point, proof */
#ifndef AVBATCH_CLEAN_H
#define AVBATCH_CLEAN_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct json_object;
struct scanner;

/* What became of one detection; names in clean_result_names. */
enum clean_result {
	CLEAN_PLANNED,		/* --dry-run: would be quarantined */
	CLEAN_REMOVED,		/* quarantined, removed, verified */
	CLEAN_CHANGED,		/* changed since the scan: left alone */
	CLEAN_REFUSED,		/* not touched, with the reason */
	CLEAN_ROLLED_BACK,	/* removed, then undone: the reason says why */
	CLEAN_REMAINS,		/* still found after the change, not undone */
	CLEAN_NRESULTS
};

extern const char *const clean_result_names[CLEAN_NRESULTS];

/* One detection of a report selected for cleaning. */
struct clean_item {
	char *fs;		/* file system id */
	char *path;		/* guest path, raw bytes */
	size_t pathlen;
	char *threat;
	char *engine;
	bool hashed;		/* sha256: the content the scan hashed */
	unsigned char sha256[32];
	bool snapshot;		/* found in an internal snapshot */
	enum clean_result result;
	char *reason;		/* or NULL */
	char *quarantine_id;	/* or NULL */
};

/* One file system a change touches (or would). */
struct clean_fs {
	char *id;
	char *type;
	char *plan;		/* the writable plan: "ext4 rw,...", or NULL */
	char *check_before;	/* "e2fsck clean", or NULL: not checked */
	char *check_after;
	char *reason;		/* why it was not written, or NULL */
};

/* One target of the report and what cleaning it came to. */
struct clean_target {
	char *name;
	char *image;
	char *format;
	char *undo_id;		/* "JOB/disk-N" once an undo point exists */
	bool written;		/* the image was written */
	bool rolled_back;	/* ... and brought back by its undo point */
	bool rescanned;		/* the rescan ran and found nothing selected */
	char *reason;		/* why the target was not (fully) cleaned */
	struct clean_fs *fs;
	size_t nfs;
	struct clean_item *items;
	size_t nitems;
};

/* What selects and drives a cleaning. */
struct clean_options {
	const struct strv *targets;	/* names or image paths; none: all */
	const struct strv *threats;	/* globs (fnmatch); none: all */
	bool dry_run;
	const char *quarantine;		/* the store's directory */
	const char *undo_dir;		/* where undo points go (UNDO/JOB) */
	const char *job;		/* this cleaning's id */
	const char *workdir;		/* its private directory */
	struct scanner **scanners;	/* for the rescan, by engine name */
	size_t nscanners;
};

/*
 * The targets of report (as avbatch run wrote it) with the detections the
 * options select, appended to *out (*n of them); targets without a
 * selected detection are left out.  The engine names the selected
 * detections need are appended to engines (each once).  -EINVAL with
 * *cause for a report avbatch cannot read or a --target it does not name.
 */
int clean_select(struct json_object *report, const struct clean_options *o,
		 struct clean_target **out, size_t *n, struct strv *engines,
		 char **cause);

/*
 * Clean one target: refuse an image in use; plan a writable mount for
 * each file system holding a selected detection (a refusal is its
 * items' reason); take an undo point, attach the image writable (qemu's
 * write lock held throughout), check each file system read-only with its
 * own tool, quarantine and remove each file (re-hashed against the scan's
 * sha256 first), check again, detach and commit; then rescan each changed
 * file system with the engines that found its threats, and roll the image
 * back by its undo point if a removed file or one of its threats is still
 * there or a check is not clean.  With o->dry_run, only plans.  Every
 * outcome is in t; returns 0, or -errno with *cause when setting up failed.
 */
int clean_target(const struct clean_options *o, struct clean_target *t,
		 char **cause);

/* 0 every item removed and verified, 1 something remains, 2 not done. */
int clean_exit_code(const struct clean_target *t, size_t n);

/* A target's "remediation" object for the report. */
struct json_object *clean_remediation_json(const struct clean_target *t);

void clean_target_release(struct clean_target *t);

#endif
