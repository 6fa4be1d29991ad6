/* job.h - a batch: targets, their file systems, scanning, results */
#ifndef AVBATCH_JOB_H
#define AVBATCH_JOB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "engine.h"
#include "image.h"
#include "scan.h"
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

/* What happened to one file system of a target (parallel to img->fs). */
struct fs_result {
	enum fs_status status;
	char *reason;
	bool uncovered;		/* its files were not all scanned */
	bool timed_out;		/* the target's --timeout ended it */
	bool journal_replayed;	/* mounted after replay in an overlay */
	uint64_t seen, scanned, cached, bytes;
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
	const char *phase;	/* pending, opening, scanning, waiting, done */
	const char *cur_fs, *cur_engine;
	uint64_t bytes_total, bytes_done, files_done;
	double started_at;
	double deadline;	/* time_mono() when --timeout ends it; 0: none */
	struct fs_result *fsr;
	struct detection *det;
	size_t ndet;
};

struct job {
	char *id;
	char *dir;		/* private state directory, 0700 */
	char *host;
	time_t started, finished;
	struct scanner **engines;
	size_t nengines;
	struct target *targets;
	size_t ntargets;
	bool stopped;
	int report_error;	/* -errno: the --report file was not written */
	unsigned jobs;		/* targets worked on at once (--jobs) */
	double timeout;		/* seconds per target (--timeout); 0: none */
	struct strv exclude;	/* guest path globs not scanned (--exclude) */
	bool snapshots;		/* scan internal qcow2 snapshots too */
	size_t next;		/* the next target a worker takes */
	/* Control from other shells (ctl.c's thread) meets the run here. */
	pthread_mutex_t lock;
	/*
	 * Slots, under lock: a target holds one of the jobs slots while it
	 * works.  One that only waits (for the daemon to load, for verdicts
	 * another target is computing) steps aside: it is parked, its slot
	 * goes to the next target, and it takes one back before going on.
	 */
	unsigned active;	/* targets holding a slot */
	unsigned parked;	/* targets waiting without one */
	unsigned resuming;	/* parked ones waiting for a slot back */
	unsigned idle_workers;	/* worker threads without a target */
	pthread_cond_t slot_free;
	pthread_t *threads;	/* every worker thread started */
	size_t nthreads;
	pthread_cond_t resumed;
	bool paused;
	double paused_since, paused_total;
	double run_start;	/* time_mono() when scanning began */
	bool ended;		/* no more work: the progress line stops */
	struct ctl *ctl;
	struct cache *cache;	/* verdicts by content, or NULL (--no-cache) */
	struct recall *recall;	/* over cache, once the job runs */
	unsigned long long pid_start;	/* ours, for cleanup's liveness test */
	int lock_fd;		/* holds dir's lock (jobdir.h) while we live */
};

/* A new job with its state directory under state_dir/jobs. */
int job_create(const char *state_dir, struct job **out, char **cause);
/* The job takes ownership of e (also on failure). */
int job_add_engine(struct job *j, struct engine *e, char **cause);
/* A new target; the caller may set its domain, format and skip. */
struct target *job_add_target(struct job *j, const char *arg);

/*
 * Scan every target; a stop request ends it early, releasing everything.
 * While it runs, the job answers status/pause/resume/stop on its control
 * socket and keeps state.json in its directory up to date.
 */
void job_run(struct job *j);

/* What status shows: the job, its targets, their progress. */
struct json_object *job_status(struct job *j);

/* Write job_status() to state.json in the job's directory, atomically. */
void job_save_state(struct job *j);

/*
 * Is every file system of t that holds data fully covered?  True for a
 * clean target, and for an infected one without gaps.
 */
bool target_complete(const struct target *t);

/* No internal snapshot of t's image was left unscanned or half scanned. */
bool target_snapshots_covered(const struct target *t);

/* What the totals, the text summary and the exit status are made of. */
struct job_tally {
	size_t status[TARGET_NSTATUSES];	/* targets by status */
	size_t uncovered;	/* targets not complete, whatever status */
	size_t detections;
	uint64_t files, bytes;	/* that the engines finished */
};

void job_tally(const struct job *j, struct job_tally *n);

/*
 * The exit status of run, from job_tally(): 1 found, 2 something not
 * covered (or the report not written), 0 every target clean.
 */
int job_exit_code(const struct job *j);
size_t job_detections(const struct job *j);

void job_free(struct job *j);

#endif
