/* result.h - what a batch found: targets, file systems, detections */
#ifndef AVBATCH_RESULT_H
#define AVBATCH_RESULT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "image.h"
#include "walk.h"

struct detection {
	char *fs;		/* file system id */
	char *path;		/* guest path, raw bytes (may not be UTF-8) */
	size_t pathlen;
	char *threat;
	const char *engine;
	bool hashed;		/* sha256 holds the scanned content's hash */
	unsigned char sha256[32];
	char *subvolume;	/* btrfs: the subvolume holding it, or NULL */
	char *snapshot;		/* the internal qcow2 snapshot it lives in,
				   or NULL: the image's current state */
};

/* What became of a file system (report schema 2); names in fs_status_names. */
enum fs_status {
	FS_PENDING,		/* not decided yet */
	FS_SCANNED,		/* every file handed to every engine */
	FS_PARTIAL,		/* scanned, but some files were not */
	FS_SKIPPED,		/* not mounted, with the reason */
	FS_ERROR,
	FS_STOPPED,
	FS_NSTATUSES
};

/* What became of a target; names in target_status_names. */
enum target_status {
	TARGET_PENDING,		/* not done yet */
	TARGET_CLEAN,		/* all data scanned, nothing found */
	TARGET_INCOMPLETE,	/* nothing found, something not covered */
	TARGET_INFECTED,
	TARGET_ERROR,
	TARGET_SKIPPED,
	TARGET_STOPPED,
	TARGET_NSTATUSES
};

/* Report names of the statuses; NULL for the pending ones. */
extern const char *const fs_status_names[FS_NSTATUSES];
extern const char *const target_status_names[TARGET_NSTATUSES];

/*
 * The status a report names name (a report of another run, say); the
 * count (FS_NSTATUSES, TARGET_NSTATUSES) if name is NULL or names none.
 */
enum fs_status fs_status_from_name(const char *name);
enum target_status target_status_from_name(const char *name);

/*
 * Where a target is in its job (the "state" status shows); names in
 * target_phase_names.
 */
enum target_phase {
	PHASE_PENDING,
	PHASE_OPENING,
	PHASE_SCANNING,
	PHASE_WAITING,		/* parked: waiting without a slot */
	PHASE_DONE,
	PHASE_NPHASES
};

extern const char *const target_phase_names[PHASE_NPHASES];

/* The phase status names name; PHASE_NPHASES if none. */
enum target_phase target_phase_from_name(const char *name);

/* What happened to one file system of a target (parallel to img->fs). */
struct fs_result {
	enum fs_status status;
	char *reason;
	bool uncovered;		/* its files were not all scanned */
	bool timed_out;		/* the target's --timeout ended it */
	bool journal_replayed;	/* mounted after replay in an overlay */
	uint64_t seen, scanned, cached, bytes;
	uint64_t delta;		/* cached clean, checked by a delta scan */
	uint64_t streams;	/* NTFS named data streams among the files */
	uint64_t skipped[SKIP_NREASONS];
	unsigned engine_errors;
};

struct target {
	char *arg;		/* as named on the command line */
	char *name;		/* for reports: the image's file name */
	char *domain;		/* the libvirt domain it belongs to, if any */
	char *format;		/* as the domain declares it, or NULL: probe */
	char *skip;		/* known before starting: why not to scan it */
	struct image *img;	/* NULL when it could not be opened */
	enum target_status status;
	char *reason;
	double duration;
	bool recalled;		/* its result came from the cache, unchanged */
	bool snapshots_scanned;	/* its internal snapshots were (--snapshots) */
	char *snapshot_gap;	/* why a snapshot was not fully covered */
	const char *scan_snapshot;	/* the one being scanned, or NULL */
	/* Progress for status, under the job's lock. */
	enum target_phase phase;
	const char *cur_fs, *cur_engine;
	/* Files and bytes to scan (walked, times the engines), and done:
	   finished by the engine or answered by the cache. */
	uint64_t files_total, files_done, bytes_total, bytes_done;
	double started_at;
	double deadline;	/* time_mono() when --timeout ends it; 0: none */
	struct fs_result *fsr;
	struct detection *det;
	size_t ndet;
};

/* An engine as a report names it. */
struct result_engine {
	const char *name;
	const char *binary;	/* resolved program, or NULL */
	const char *version;	/* first line of its version, or NULL */
	/* Its signatures changed since the last batch with a cache. */
	bool updated;
	const char *change;	/* sigset_change_names: what that meant */
	size_t added, removed, allowed;	/* signature lines */
	const char *full_why;	/* why all content was scanned in full */
};

/* A batch's results: what a report is made of (job_results() fills it). */
struct results {
	const char *id;		/* the job's */
	const char *host;
	time_t started, finished;	/* finished: 0 while it runs */
	const struct target *targets;
	size_t ntargets;
	const struct result_engine *engines;
	size_t nengines;
	bool stopped;		/* a stop request ended it early */
	int report_error;	/* -errno: the --report file was not written */
};

/*
 * The detection of threat at path (len bytes) in file system fsid by
 * engine, in t's snapshot being scanned: the one t already has, or a new
 * one (not hashed yet).
 */
struct detection *result_add_detection(struct target *t, const char *fsid,
				       const char *path, size_t len,
				       const char *threat, const char *engine,
				       const char *subvol);

/*
 * A scanned target's status, from its file systems' (the one place it is
 * decided), with the reason when it is not clean.
 */
void target_settle(struct target *t);

/*
 * Is every file system of t that holds data fully covered?  True for a
 * clean target, and for an infected one without gaps.
 */
bool target_complete(const struct target *t);

/* t ends with this status and reason (taken). */
void target_fail(struct target *t, enum target_status status, char *reason);

/* No internal snapshot of t's image was left unscanned or half scanned. */
bool target_snapshots_covered(const struct target *t);

/* Free everything t holds (not t itself), leaving it empty. */
void target_release(struct target *t);

/* What the totals, the text summary and the exit status are made of. */
struct results_tally {
	size_t status[TARGET_NSTATUSES];	/* targets by status */
	size_t uncovered;	/* targets not complete, whatever status */
	size_t detections;
	uint64_t files, bytes;	/* that the engines finished */
};

void results_tally(const struct target *t, size_t n,
		   struct results_tally *out);
size_t results_detections(const struct target *t, size_t n);

/*
 * The exit status of run: 1 found, 2 something not covered (or the report
 * not written, or the run stopped), 0 every target clean.
 */
int results_exit_code(const struct results *r);

/* A file system as reports and inspect show it; res NULL: no result yet. */
struct json_object *result_fs_json(const struct fs *fs,
				   const struct fs_result *res);

/* One target as the report shows it, scanned on host. */
struct json_object *result_target_json(const struct target *t,
				       const char *host);

/*
 * Fill t (image, file systems, results, detections) from what
 * result_target_json() wrote for a clean or infected target whose every
 * file system was scanned or skipped; detections are tied to these
 * engines (by name).  Returns 0, or -EINVAL (t untouched) if o is not
 * such a target.
 */
int result_target_load(struct target *t, struct json_object *o,
		       const struct result_engine *engines, size_t nengines);

/*
 * Only the detections of a target result_target_json() wrote, whatever
 * its file systems came to (what avbatch clean acts on): 0 with *out (*n
 * of them, freed by result_detections_free), or -EINVAL for a detection
 * that is not one (no fs, path, threat, or an engine not in engines).
 */
int result_detections_load(struct json_object *o,
			   const struct result_engine *engines,
			   size_t nengines, struct detection **out, size_t *n);
void result_detections_free(struct detection *det, size_t n);

#endif
