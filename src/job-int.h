/*
 * job-int.h - a batch's insides, shared by job.c (the batch: workers, slots,
 * pause, control, state) and target.c (one target's scan); no one else.
 */
#ifndef AVBATCH_JOB_INT_H
#define AVBATCH_JOB_INT_H

#include <pthread.h>
#include <time.h>

#include "job.h"

/* A batch: what job.h hands out, opaque to the commands. */
struct job {
	char *id;
	char *dir;		/* private state directory, 0700 */
	char *host;
	time_t started, finished;
	struct scanner **engines;
	struct result_engine *einfo;	/* parallel to engines, for reports */
	size_t nengines;
	struct target *targets;
	size_t ntargets;
	bool stopped;
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
	void (*progress)(const struct job_progress *p, void *arg);
	void *progress_arg;
	struct results results;	/* what job_results() returns */
	struct ctl *ctl;
	struct recall *recall;	/* over the verdict cache, if any */
	unsigned long long pid_start;	/* ours, for cleanup's liveness test */
	int lock_fd;		/* holds dir's lock (jobdir.h) while we live */
	int timeline_fd;	/* timeline.jsonl in dir, or -1 */
};

/* job_set_phase() with this phase leaves the target's as it is. */
#define PHASE_SAME	PHASE_NPHASES

/* Record progress for status and state.json. */
void job_set_phase(struct job *j, struct target *t, enum target_phase phase,
		   const char *fs, const char *engine);

/* Hold here while the job is paused (until resumed or stopped). */
void job_pause_gate(struct job *j);

/*
 * About to wait (for a daemon, a template, verdicts another target is
 * computing): park the target, its slot going to the next one; then take a
 * slot back.  arg is the job (these are struct recall_park's callbacks).
 */
void job_park(void *arg);
void job_unpark(void *arg);

/* Scan target idx of the job, from opening its image to its status. */
void target_run(struct job *j, struct target *t, size_t idx);

#endif
