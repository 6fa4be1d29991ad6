/* scan.h - running one engine over a walked file system; managed daemons */
#ifndef AVBATCH_SCAN_H
#define AVBATCH_SCAN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"
#include "sigset.h"
#include "util.h"
#include "walk.h"

struct cache;
struct recall_verdicts;

/* What a signature update since the last batch meant (sigset_diff). */
struct scan_update {
	bool known;		/* the fingerprint changed from a known set */
	enum sigset_change change;
	size_t added, removed, allowed;
	char *why;		/* a full rescan: what decided it */
};

/* One engine of a job, with the daemon avbatch runs for it, if any. */
struct scanner {
	struct engine *e;
	char *binary;		/* resolved program, for the report */
	char *version;		/* first line of the version action */
	char *dir;		/* private: daemon config, socket and logs */
	char *socket;		/* {daemon_socket} */
	char *config;		/* {daemon_config} */
	uint64_t size_limit;	/* largest file handed over; 0: none */
	pid_t daemon;		/* the managed daemon, once started */
	char *daemon_error;	/* why the daemon cannot be used */
	double daemon_since;	/* when it was started */
	bool daemon_ready;	/* its ready action succeeded once */
	double daemon_ready_at;	/* ... at this time_mono() */
	pthread_mutex_t daemon_lock;	/* one thread starts the daemon */
	pthread_mutex_t serial;	/* held per scan unless parallel-safe */
	/* Verdicts by content (and contents being scanned), or NULL. */
	struct recall_verdicts *verdicts;
	char *fingerprint;	/* of engine, options and signatures */
	bool cold;		/* the cache holds no verdict of it yet */
	/*
	 * Signatures updated since the last batch (#20): the verdicts kept
	 * under the last fingerprint, what the update did to them, and the
	 * instance that scans with only the added signatures.
	 */
	struct recall_verdicts *older;
	struct scan_update update;
	struct scanner *delta;
	/* The signatures' set, read meanwhile for the next update. */
	struct buf sigset_context;
	struct strv sigset_paths;
	struct sigset *sigset_keep;	/* read already, or NULL */
	struct cache *sigset_cache;
	pthread_t sigset_thread;
	bool sigset_started;
	const struct scan_hooks *hooks;	/* the job's, or NULL */
	void *hooks_arg;
};

/* How scanning meets the job that runs it. */
struct scan_hooks {
	/* Before an engine run starts: hold while the job is paused. */
	void (*gate)(void *arg);
	/*
	 * Around a wait for the daemon to load or for verdicts other runs
	 * are computing: the job goes on with other work meanwhile.
	 */
	void (*idle_leave)(void *arg);
	void (*idle_enter)(void *arg);
};

struct scan_hit {
	char *path;		/* guest path: raw bytes, may not be UTF-8 */
	char *threat;
};

/* What one engine said about one file system. */
struct scan_result {
	struct scan_hit *hits;
	size_t nhits;
	unsigned errors;	/* error lines and failed runs */
	char *error;		/* the first of them */
	char *incomplete;	/* why not every file was fully scanned */
	uint64_t scanned, bytes, too_large, cached;
	uint64_t delta;		/* clean: checked with added signatures only */
	bool stopped;
	bool timed_out;
};

/* At most n engine processes at once, across all targets (0: no limit). */
void scan_set_max_engines(unsigned n);

/*
 * Set up an engine for a job: its private directory under jobdir, its size
 * limit and its version (the daemon starts on first use).  Takes e.
 */
int scanner_open(struct engine *e, const char *jobdir, struct scanner **out,
		 char **cause);

/* Files (and their bytes) the engine finished or the cache answered. */
struct scan_progress {
	void (*done)(void *arg, uint64_t files, uint64_t bytes);
	void *arg;
};

/*
 * Scan the files of w (mounted at mnt) with the engine: a file list where
 * the descriptor takes one, odd names one by one, the mount point itself
 * otherwise.  Logs go to logbase.{list,out,err}.  An engine still running
 * at deadline (time_mono(); 0: none) is ended and res->timed_out set.
 * What is finished is told to prog (may be NULL) as it happens: file by
 * file where the engine says so (its progress lines), else a list at once.
 */
void scanner_run(struct scanner *s, const struct walk *w, const char *mnt,
		 const char *logbase, double deadline,
		 const struct scan_progress *prog, struct scan_result *res);

struct cache;

/*
 * Use a verdict cache: fingerprints the engine (name, version, options and
 * the content of every signature file).  An engine whose descriptor names
 * no signatures keeps scanning everything.  With delta, an engine whose
 * signatures avbatch can read (signature_sets) scans content that was clean
 * under the last signatures with only those added since.  Returns 0 or
 * -errno.
 */
int scanner_use_cache(struct scanner *s, struct cache *c, bool delta,
		      char **cause);

/* Does this scanner want the walk to hash file contents? */
bool scanner_caches(const struct scanner *s);

/* How the job meets this engine (and its delta instance), before scanning. */
void scanner_set_hooks(struct scanner *s, const struct scan_hooks *hooks,
		       void *arg);

/* Run a command action (a vendor's pause or resume); 0 or -errno. */
int scanner_action(struct scanner *s, enum engine_action a);

/* (Re)read the version line: the version action's first line of output. */
void scanner_read_version(struct scanner *s);

/*
 * Start the managed daemon now, without waiting for it, if it will be
 * needed: it loads its signatures while avbatch attaches, mounts, walks
 * and hashes.  With a cache that already holds verdicts of it, it starts
 * only once some file turns out to need scanning.
 */
void scanner_prestart(struct scanner *s);

/* Stop the managed daemon, if any, and free everything. */
void scanner_close(struct scanner *s);

void scan_result_release(struct scan_result *r);

#endif
