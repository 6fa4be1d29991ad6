/* proc.h - spawning children without a shell, signals, reaping */
#ifndef AVBATCH_PROC_H
#define AVBATCH_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "util.h"

/* Where a child's output goes; NULL means /dev/null.  Files are appended. */
struct proc_io {
	const char *out_path;
	const char *err_path;
	const char *const *env;	/* NAME=VALUE entries added to the whitelist */
	const char *cwd;	/* working directory; NULL keeps ours */
	const int *fds;		/* open files the child inherits, at the same
				   numbers (named to it as /proc/self/fd/N) */
	size_t nfds;
	void *tag;		/* non-NULL: an engine process pause may stop */
	/*
	 * proc_run only.  Non-NULL: stdout and stderr reach out_path and
	 * err_path through pipes that avbatch copies, checking every write
	 * (the child's own writes to a full file system fail unseen); set to
	 * 0, or the -errno of the first write or close that failed.
	 */
	int *copy_error;
	/* With copy_error: also shown each piece of stdout as it comes. */
	void (*on_out)(void *arg, const char *data, size_t n);
	void *on_out_arg;
};

/* A running child, as recorded by proc_spawn (for pause and cleanup). */
struct proc_child {
	pid_t pid;		/* also its process group */
	void *tag;
	unsigned long long start;	/* proc_start_time(pid) */
};

/*
 * When pid started (clock ticks since boot, from /proc), to tell a process
 * from a later one that reuses its number; 0 if it does not exist.
 */
unsigned long long proc_start_time(pid_t pid);

/*
 * Block the signals avbatch handles (INT, TERM, HUP, CHLD) and route them
 * through one signalfd.  Also makes avbatch the subreaper of its children's
 * daemons.  Call once, from main, before any child exists.
 */
int proc_signals_init(void);

/* True once SIGINT/SIGTERM/SIGHUP arrived; drains the signalfd. */
bool proc_stop_requested(void);

/* The same, without touching the signalfd: for other threads. */
bool proc_stop_requested_peek(void);

/*
 * Resolve a program name through PATH (the patent's "global tool") unless it
 * is absolute.  As root, the program found must pass trust_check() (owned
 * by root, in directories only root can change).  Returns 0 and a malloc'd
 * path, -ENOENT, or -EPERM for an untrusted program; with *cause (cause may
 * be NULL).
 */
int proc_find(const char *name, char **path, char **cause);

/* proc_find() without the cause. */
int proc_which(const char *name, char **path);

/*
 * Start argv[0] (an absolute path) in its own process group with a clean
 * signal mask, /dev/null stdin and a whitelisted environment.  Returns 0 or
 * an errno value.
 */
int proc_spawn(char *const argv[], const struct proc_io *io, pid_t *pid);

/*
 * Wait for pid.  timeout < 0 waits forever.  Returns 0 with *status set,
 * -ETIMEDOUT, or -ECANCELED when a stop was requested (the child still runs).
 */
int proc_wait(pid_t pid, double timeout, int *status);

/*
 * Has pid ended?  1 (reaped, *status set), 0 (still running), or -errno
 * (e.g. -ECHILD: reaped elsewhere, so ended too).
 */
int proc_try_reap(pid_t pid, int *status);

/*
 * Stop a helper's process group: TERM (and CONT, should it be paused), KILL
 * after grace seconds, then KILL whatever is left of the group.  A child of
 * ours (start 0) is reaped, with *status set.  Any other process (one a dead
 * job left) is named by start, its proc_start_time: it is never signalled
 * once pid names another, and is waited for (grace seconds more after the
 * KILL) until it is gone.
 */
void proc_end_group(pid_t pid, unsigned long long start, double grace,
		    int *status);

/* proc_end_group() of a child of ours. */
void proc_kill_group(pid_t pid, double grace, int *status);

/* What proc_wait_ready waits for. */
struct proc_ready {
	pid_t pid;		/* the helper: a child of ours */
	/*
	 * 1 once the helper is ready, 0 not yet, or -errno (with *cause) to
	 * give up.  It may change *interval, the seconds to the next probe.
	 */
	int (*probe)(void *arg, double *interval, char **cause);
	void *arg;
	double interval;	/* seconds between probes */
	double deadline;	/* time_mono() by which it must be ready */
	const char *late;	/* the cause once the deadline has passed */
	bool (*stop)(void *arg);	/* NULL: proc_stop_requested() */
	const char *log;	/* the helper's log: why it ended */
};

/*
 * Wait until a helper is ready: probe it every interval seconds, waking
 * early when it ends or a stop is asked.  Returns 0; -ECANCELED on a stop
 * (*cause "stopped"); -EIO if the helper ended first (reaped; *cause the
 * last line of its log); -ETIMEDOUT at the deadline (*cause rd->late); or
 * the probe's -errno.  On a failure the helper may still run:
 * proc_kill_group() it.
 */
int proc_wait_ready(const struct proc_ready *rd, char **cause);

/* The last non-empty line of a helper's log ("no message"); malloc'd. */
char *proc_log_last_line(const char *path);

/*
 * Spawn, wait, and end the child's group if a stop is requested or the
 * timeout passes.  Returns 0 with *status, -ECANCELED, -ETIMEDOUT or -errno.
 */
int proc_run(char *const argv[], const struct proc_io *io, double timeout,
	     int *status);

/*
 * Run a program (name resolved through PATH) with the arguments of argv
 * after argv[0], and return its standard output in *out.  A failure
 * (cannot run, timeout, non-zero exit) is -errno with *cause: the first
 * line of its standard error, or what went wrong.
 */
int proc_capture(const char *const *argv, double timeout, struct buf *out,
		 char **cause);

/*
 * proc_capture with io's fds (and env) passed on.  When err is not NULL, a
 * child that exits is no failure: returns its exit code (0-255), with its
 * standard output in *out and its standard error in *err.
 */
int proc_capture_io(const char *const *argv, const struct proc_io *io,
		    double timeout, struct buf *out, struct buf *err,
		    char **cause);

/* Reap exited orphans handed to us as subreaper; never blocks. */
void proc_reap_orphans(void);

/* Ask for a stop from another thread (as SIGTERM would). */
void proc_request_stop(void);

/*
 * A snapshot of the running children (any thread may ask); the caller
 * frees *out.
 */
size_t proc_children(struct proc_child **out);

/*
 * Call fn(arg) after a child is recorded or forgotten (never with a lock
 * held), so the job's state file always lists what cleanup must end.
 */
void proc_on_change(void (*fn)(void *), void *arg);

#endif
