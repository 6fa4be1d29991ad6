/* job.h - a batch: targets, their file systems, scanning, results */
#ifndef AVBATCH_JOB_H
#define AVBATCH_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "result.h"
#include "util.h"

/* A batch (opaque): its targets, engines, state directory and control. */
struct job;
struct cache;

/* Where a running job is, for a progress line. */
struct job_progress {
	size_t targets_done, targets;
	uint64_t bytes_done, bytes_total;	/* bytes_total: see job_eta */
	double elapsed;		/* seconds scanning, pauses not counted */
	double eta;		/* seconds left at the rate so far; < 0: unknown */
	bool paused;
	bool ended;		/* the job has no more work */
};

/*
 * How a job runs (cmd-run.c's options); job_set_options() takes it before
 * job_run().
 */
struct job_options {
	unsigned jobs;		/* targets worked on at once (--jobs) */
	double timeout;		/* seconds per target (--timeout); 0: none */
	struct strv exclude;	/* guest path globs not scanned (--exclude) */
	bool snapshots;		/* scan internal qcow2 snapshots too */
	const char *host;	/* the fleet's name for this host, or NULL */
	/*
	 * Called about once a second while the job scans (from a thread of
	 * its own), and a last time with ended set; NULL: never.
	 */
	void (*progress)(const struct job_progress *p, void *arg);
	void *progress_arg;
};

/* A new job with its state directory under state_dir/jobs. */
int job_create(const char *state_dir, struct job **out, char **cause);
/* The job takes ownership of e (also on failure). */
int job_add_engine(struct job *j, struct engine *e, char **cause);
/*
 * A new target; the caller may set its domain, format and skip (until
 * the next job_add_target(), which may move it).
 */
struct target *job_add_target(struct job *j, const char *arg);
/* Take o (and o->exclude: left empty), before job_run(). */
void job_set_options(struct job *j, struct job_options *o);
/*
 * Use the verdict cache c (the job takes it, also on failure) for every
 * engine added so far; delta: after a signature update, content cached
 * clean is scanned with only the added signatures, where an engine can.
 */
int job_use_cache(struct job *j, struct cache *c, bool delta, char **cause);

/* The job's id, and its private state directory (0700). */
const char *job_id(const struct job *j);
const char *job_dir(const struct job *j);

/*
 * Scan every target; a stop request ends it early, releasing everything.
 * While it runs, the job answers status/pause/resume/stop on its control
 * socket and keeps state.json in its directory up to date.
 */
void job_run(struct job *j);

/* Where the job is now (job_options.progress gets the same). */
void job_progress(struct job *j, struct job_progress *p);

/*
 * What the job found so far, for a report: valid until the next call on
 * j that adds to it (job_add_*, job_run) or frees it.
 */
const struct results *job_results(struct job *j);

/* What status shows: the job, its targets, their progress. */
struct json_object *job_status(struct job *j);

/* Write job_status() to state.json in the job's directory, atomically. */
void job_save_state(struct job *j);

void job_free(struct job *j);

#endif
