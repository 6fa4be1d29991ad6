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

/* End a process group: TERM (and CONT), then KILL after grace seconds; reaps pid. */
void proc_kill_group(pid_t pid, double grace, int *status);

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
