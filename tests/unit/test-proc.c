/* test-proc.c - unit tests of proc.c: waiting for a helper, stopping one */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"
#include "tap.h"


static void is_str(const char *got, const char *want, const char *desc)
{
	ok(got && !strcmp(got, want), desc);
	if (!got || strcmp(got, want))
		printf("# got '%s', want '%s'\n", got ? got : "(null)", want);
}

static void is_int(long got, long want, const char *desc)
{
	ok(got == want, desc);
	if (got != want)
		printf("# got %ld, want %ld\n", got, want);
}

/* Ready once the file arg names exists. */
static int file_exists(void *arg, double *interval, char **cause)
{
	(void)interval;
	(void)cause;
	return access(arg, F_OK) == 0;
}

/* Never ready. */
static int never(void *arg, double *interval, char **cause)
{
	(void)arg;
	(void)interval;
	(void)cause;
	return 0;
}

/* Gives up with an error of its own. */
static int broken(void *arg, double *interval, char **cause)
{
	(void)arg;
	(void)interval;
	*cause = xstrdup("the probe failed");
	return -EPROTO;
}

/* A stop once the time_mono() arg points to has passed. */
static bool stop_after(void *arg)
{
	return time_mono() >= *(double *)arg;
}

/* Start /bin/sh -c script, its output to log. */
static pid_t sh(const char *script, const char *log)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	pid_t pid = 0;

	if (proc_spawn(argv, &(struct proc_io){ .out_path = log,
		       .err_path = log }, &pid) != 0)
		return 0;
	return pid;
}

/* Has pid gone (or become a zombie nobody of ours can reap)? */
static bool gone(pid_t pid)
{
	char *path = xasprintf("/proc/%d/stat", (int)pid);
	struct buf b = { 0 };
	char *p;
	bool r = true;

	if (read_file(path, 4096, &b) == 0 && (p = strrchr(b.p, ')')))
		r = p[1] == ' ' && p[2] == 'Z';
	buf_release(&b);
	free(path);
	return r;
}

int main(void)
{
	char dir[] = "/tmp/avbatch-test-proc.XXXXXX";
	char *flag, *log, *script, *cause = NULL;
	struct buf b = { 0 };
	double t0, when;
	unsigned long long start;
	pid_t pid, sleeper;
	int r, st = 0;

	if (!mkdtemp(dir)) {
		printf("Bail out! cannot create a temporary directory\n");
		return 1;
	}
	flag = xasprintf("%s/ready", dir);
	log = xasprintf("%s/helper.log", dir);

	/* A helper that becomes ready after a while. */
	script = xasprintf("sleep 0.3; : >'%s'; exec sleep 30", flag);
	pid = sh(script, log);
	ok(pid > 0, "a helper starts");
	t0 = time_mono();
	r = proc_wait_ready(&(struct proc_ready){ .pid = pid,
		.probe = file_exists, .arg = flag, .interval = 0.02,
		.deadline = t0 + 10, .late = "late", .log = log }, &cause);
	is_int(r, 0, "a helper that gets ready: 0");
	ok(time_mono() - t0 >= 0.25, "not before it was ready");
	ok(cause == NULL, "no cause when ready");
	proc_end_group(pid, 0, 5, &st);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM,
	   "stopping it ends it with TERM");
	is_int(proc_try_reap(pid, NULL), -ECHILD, "and reaps it");
	free(script);

	/* One that exits before it is ready: its last words are the cause. */
	pid = sh("echo starting; echo 'cannot open the image' >&2; echo; "
		 "exit 3", log);
	r = proc_wait_ready(&(struct proc_ready){ .pid = pid,
		.probe = never, .interval = 0.05, .deadline = time_mono() + 10,
		.late = "late", .log = log }, &cause);
	is_int(r, -EIO, "a helper that exits first: -EIO");
	is_str(cause, "cannot open the image", "the last line of its log");
	is_int(proc_try_reap(pid, NULL), -ECHILD, "it was reaped");
	free(cause);
	cause = NULL;

	/* One that never gets ready. */
	pid = sh("exec sleep 30", log);
	t0 = time_mono();
	r = proc_wait_ready(&(struct proc_ready){ .pid = pid,
		.probe = never, .interval = 0.05, .deadline = t0 + 0.3,
		.late = "not ready in time", .log = log }, &cause);
	is_int(r, -ETIMEDOUT, "a helper never ready: -ETIMEDOUT");
	is_str(cause, "not ready in time", "the cause the caller gave");
	ok(time_mono() - t0 >= 0.3 && time_mono() - t0 < 5,
	   "at the deadline");
	ok(proc_try_reap(pid, NULL) == 0, "the helper still runs");
	free(cause);
	cause = NULL;

	/* A probe that gives up: its error as it is. */
	r = proc_wait_ready(&(struct proc_ready){ .pid = pid,
		.probe = broken, .interval = 0.05, .deadline = time_mono() + 10,
		.log = log }, &cause);
	is_int(r, -EPROTO, "a probe's error is returned");
	is_str(cause, "the probe failed", "with its cause");
	free(cause);
	cause = NULL;

	/* A stop asked while waiting. */
	when = time_mono() + 0.2;
	r = proc_wait_ready(&(struct proc_ready){ .pid = pid,
		.probe = never, .interval = 0.05, .deadline = time_mono() + 10,
		.late = "late", .stop = stop_after, .arg = &when,
		.log = log }, &cause);
	is_int(r, -ECANCELED, "a stop: -ECANCELED");
	is_str(cause, "stopped", "its cause");
	ok(time_mono() >= when && time_mono() - when < 2, "when it came");
	free(cause);
	cause = NULL;
	proc_kill_group(pid, 5, NULL);

	/* A group that TERM does not end gets KILL after the grace. */
	pid = sh("trap '' TERM; while :; do sleep 0.05; done", log);
	ok(pid > 0, "a helper that ignores TERM starts");
	usleep(200000);
	t0 = time_mono();
	proc_end_group(pid, 0, 0.3, &st);
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	   "it is killed after the grace");
	ok(time_mono() - t0 >= 0.25, "not before");

	/* A process that is not our child: named by its start time. */
	free(flag);
	flag = xasprintf("%s/pid", dir);
	script = xasprintf("setsid sleep 30 & echo $! >'%s'", flag);
	pid = sh(script, log);
	proc_wait(pid, 10, &st);
	read_file(flag, 64, &b);
	sleeper = b.len ? (pid_t)strtol(b.p, NULL, 10) : 0;
	start = sleeper > 0 ? proc_start_time(sleeper) : 0;
	ok(start > 0, "a stranger runs");
	proc_end_group(sleeper, start + 1, 1, NULL);
	ok(proc_start_time(sleeper) == start,
	   "it is not touched under another start time");
	proc_end_group(sleeper, start, 1, NULL);
	ok(gone(sleeper), "with its own, it is ended");
	free(script);

	/* The process-wide stop (a signal, ctl) too; last: it stays. */
	pid = sh("exec sleep 30", log);
	proc_request_stop();
	r = proc_wait_ready(&(struct proc_ready){ .pid = pid,
		.probe = never, .interval = 0.05, .deadline = time_mono() + 10,
		.late = "late", .log = log }, &cause);
	is_int(r, -ECANCELED, "proc_request_stop(): -ECANCELED");
	free(cause);
	cause = NULL;
	proc_kill_group(pid, 5, &st);
	ok(WIFSIGNALED(st), "the helper is stopped");

	buf_release(&b);
	rmtree(dir);
	free(flag);
	free(log);
	return tap_done();
}
