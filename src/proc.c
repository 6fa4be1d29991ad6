/* proc.c - spawning children without a shell, signals, reaping */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "trust.h"
#include "util.h"

static int sigfd = -1;
static int stopfd = -1;		/* readable for good once a stop is asked */
static atomic_bool stop_requested;

/* Record a stop and wake every thread that waits (they poll stopfd). */
static void set_stop(void)
{
	uint64_t one = 1;

	stop_requested = true;
	if (stopfd >= 0 && write(stopfd, &one, sizeof(one)) < 0)
		return;
}

/* Running children: the control thread reads it to pause and report. */
static pthread_mutex_t children_lock = PTHREAD_MUTEX_INITIALIZER;
static struct proc_child *children;
static size_t nchildren, children_alloc;
static void (*change_fn)(void *);
static void *change_arg;

void proc_on_change(void (*fn)(void *), void *arg)
{
	change_fn = fn;
	change_arg = arg;
}

static void changed(void)
{
	if (change_fn)
		change_fn(change_arg);
}

unsigned long long proc_start_time(pid_t pid)
{
	char *path = xasprintf("/proc/%d/stat", (int)pid);
	struct buf b = { 0 };
	unsigned long long start = 0;
	char *p;

	/* Field 22; the name in field 2 may hold spaces and parentheses. */
	if (read_file(path, 4096, &b) == 0 && (p = strrchr(b.p, ')'))) {
		int field = 2;

		for (; *p && field < 22; p++)
			if (*p == ' ')
				field++;
		start = strtoull(p, NULL, 10);
	}
	buf_release(&b);
	free(path);
	return start;
}

static void child_add(pid_t pid, void *tag)
{
	unsigned long long start = proc_start_time(pid);

	pthread_mutex_lock(&children_lock);
	if (nchildren == children_alloc) {
		children_alloc = children_alloc ? children_alloc * 2 : 8;
		children = xreallocarray(children, children_alloc,
					 sizeof(*children));
	}
	children[nchildren].pid = pid;
	children[nchildren].tag = tag;
	children[nchildren].start = start;
	nchildren++;
	pthread_mutex_unlock(&children_lock);
	changed();
}

static void child_gone(pid_t pid)
{
	bool found = false;

	pthread_mutex_lock(&children_lock);
	for (size_t i = 0; i < nchildren && !found; i++)
		if (children[i].pid == pid) {
			children[i] = children[--nchildren];
			found = true;
		}
	pthread_mutex_unlock(&children_lock);
	if (found)
		changed();
}

size_t proc_children(struct proc_child **out)
{
	size_t n;

	pthread_mutex_lock(&children_lock);
	n = nchildren;
	*out = xcalloc(n + 1, sizeof(**out));
	if (n)
		memcpy(*out, children, n * sizeof(**out));
	pthread_mutex_unlock(&children_lock);
	return n;
}

void proc_request_stop(void)
{
	set_stop();
}

/* The only environment a child sees: no guest- or user-controlled values. */
static char *const child_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C",
	"LANG=C",
	"HOME=/root",
	"TMPDIR=/tmp",
	NULL
};

int proc_signals_init(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0)
		return -errno;
	stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (stopfd < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	/* Daemonizing helpers (FUSE drivers, qemu) stay our children. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return -errno;
	return 0;
}

/* Read pending signals; returns true if a SIGCHLD was among them. */
static bool drain_signals(void)
{
	struct signalfd_siginfo si;
	bool chld = false;

	if (sigfd < 0)
		return false;
	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			chld = true;
		else
			set_stop();
	}
	return chld;
}

bool proc_stop_requested_peek(void)
{
	return stop_requested;
}

bool proc_stop_requested(void)
{
	drain_signals();
	return stop_requested;
}

int proc_find(const char *name, char **path, char **cause)
{
	const char *env = getenv("PATH"), *p, *end;
	char *cand = NULL;
	struct stat st;
	int r;

	if (!name || !*name)
		goto missing;
	if (strchr(name, '/')) {
		if (name[0] != '/' || stat(name, &st) < 0 ||
		    !S_ISREG(st.st_mode) || access(name, X_OK) < 0)
			goto missing;
		cand = xstrdup(name);
		goto found;
	}
	if (!env || !*env)
		env = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = env; ; p = end + 1) {
		end = strchrnul(p, ':');
		/* Relative PATH entries (and empty ones, meaning ".") are ignored. */
		if (end > p && *p == '/') {
			cand = xasprintf("%.*s/%s", (int)(end - p), p, name);
			if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) &&
			    access(cand, X_OK) == 0)
				goto found;
			free(cand);
			cand = NULL;
		}
		if (!*end)
			break;
	}
missing:
	if (cause)
		*cause = name && name[0] == '/' ?
			xasprintf("program '%s' not found", name) :
			xasprintf("program '%s' not found in PATH",
				  name ? name : "");
	return -ENOENT;
found:
	/* The first one found or none: a later one is not what was meant. */
	r = trust_check(cand, cause);
	if (r < 0) {
		free(cand);
		return r;
	}
	*path = cand;
	return 0;
}

int proc_which(const char *name, char **path)
{
	char *cause = NULL;
	int r = proc_find(name, path, &cause);

	free(cause);
	return r;
}

/* Start argv; with pipes (write ends), its stdout and stderr go there. */
static int spawn(char *const argv[], const struct proc_io *io,
		 const int *pipes, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	struct strv env = { 0 };
	sigset_t none, dfl;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
					 O_RDONLY, 0);
	if (pipes) {
		posix_spawn_file_actions_adddup2(&fa, pipes[0], STDOUT_FILENO);
		posix_spawn_file_actions_adddup2(&fa, pipes[1], STDERR_FILENO);
	} else {
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO,
			io && io->out_path ? io->out_path : "/dev/null",
			O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO,
			io && io->err_path ? io->err_path : "/dev/null",
			O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
	}
	if (io && io->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, io->cwd);
	/* dup2 onto itself clears FD_CLOEXEC in the child only. */
	for (size_t i = 0; io && i < io->nfds; i++)
		posix_spawn_file_actions_adddup2(&fa, io->fds[i], io->fds[i]);
	sigemptyset(&none);
	sigfillset(&dfl);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
				 POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);
	/* Extra entries go first: getenv() takes the first of a name. */
	for (size_t i = 0; io && io->env && io->env[i]; i++)
		strv_push(&env, io->env[i]);
	for (size_t i = 0; child_env[i]; i++)
		strv_push(&env, child_env[i]);
	r = posix_spawn(pid, argv[0], &fa, &at, argv, env.v);
	strv_release(&env);
	if (!r)
		child_add(*pid, io ? io->tag : NULL);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (!r)
		msg_debug("started %s as pid %d", argv[0], (int)*pid);
	return r;
}

int proc_spawn(char *const argv[], const struct proc_io *io, pid_t *pid)
{
	return spawn(argv, io, NULL, pid);
}

/* A child's stdout and stderr on their way from pipes to their files. */
struct copy {
	int from[2];	/* read ends (non-blocking); -1 once at their end */
	int to[2];	/* out_path, err_path; -1: discarded */
	int err;	/* the first failure, -errno */
	const struct proc_io *io;	/* its on_out, if any */
};

static void copy_fail(struct copy *c, int i, int err)
{
	if (!c->err)
		c->err = err;
	/* Nothing after a gap: what is kept is a true start of the output. */
	if (c->to[i] >= 0)
		close(c->to[i]);
	c->to[i] = -1;
}

/* Move what pipe i holds now into its file; false once nothing came. */
static bool copy_some(struct copy *c, int i)
{
	char chunk[16384];
	ssize_t n, w;

	if (c->from[i] < 0)
		return false;
	n = read(c->from[i], chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	if (n <= 0) {
		if (n < 0)
			copy_fail(c, i, -errno);
		close(c->from[i]);
		c->from[i] = -1;
		return false;
	}
	if (i == 0 && c->io->on_out)
		c->io->on_out(c->io->on_out_arg, chunk, (size_t)n);
	for (char *p = chunk; c->to[i] >= 0 && n > 0; p += w, n -= w) {
		w = write(c->to[i], p, (size_t)n);
		if (w < 0 && errno == EINTR) {
			w = 0;
		} else if (w <= 0) {
			copy_fail(c, i, w < 0 ? -errno : -EIO);
			break;
		}
	}
	return true;
}

/* The pipes and files of a copied run; 0 or -errno. */
static int copy_open(struct copy *c, const struct proc_io *io, int *pipes)
{
	const char *path[2] = { io->out_path, io->err_path };
	int fds[2];

	c->io = io;
	for (int i = 0; i < 2; i++) {
		c->to[i] = open(path[i] ? path[i] : "/dev/null",
				O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
				O_NOCTTY | O_CLOEXEC, 0600);
		if (c->to[i] < 0 || pipe2(fds, O_CLOEXEC) < 0)
			return -errno;
		c->from[i] = fds[0];
		pipes[i] = fds[1];
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
	}
	return 0;
}

/* Take what the pipes still hold, close everything; the first error. */
static int copy_close(struct copy *c)
{
	for (int i = 0; i < 2; i++) {
		/* What is left: at most the pipe's size from the child. */
		for (int k = 0; k < 1024 && copy_some(c, i); k++)
			;
		/* A daemon the child left holding the pipe writes no more. */
		if (c->from[i] >= 0)
			close(c->from[i]);
		if (c->to[i] >= 0 && close(c->to[i]) < 0 && !c->err)
			c->err = -errno;
		c->from[i] = c->to[i] = -1;
	}
	return c->err;
}

/*
 * Wait for pid in whichever thread: its pidfd wakes this thread alone
 * when it exits, stopfd wakes every thread on a stop, sigfd brings in
 * the signals (one thread reads each); c, if any, is copied meanwhile.
 */
static int wait_child(pid_t pid, double timeout, int *status,
		      struct copy *c)
{
	double deadline = timeout < 0 ? 0 : time_mono() + timeout;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), r;

	for (;;) {
		struct pollfd pfd[5] = {
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = stopfd, .events = POLLIN },
			{ .fd = sigfd, .events = POLLIN },
			{ .fd = c ? c->from[0] : -1, .events = POLLIN },
			{ .fd = c ? c->from[1] : -1, .events = POLLIN },
		};
		pid_t w = waitpid(pid, status, WNOHANG);
		int ms = -1;

		if (w == pid) {
			child_gone(pid);
			r = 0;
			break;
		}
		if (w < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		drain_signals();
		if (stop_requested) {
			r = -ECANCELED;
			break;
		}
		if (timeout >= 0) {
			double left = deadline - time_mono();

			if (left <= 0) {
				r = -ETIMEDOUT;
				break;
			}
			ms = (int)(left * 1000) + 1;
		}
		/* Without a pidfd, look again now and then. */
		if (pidfd < 0 && (ms < 0 || ms > 200))
			ms = 200;
		if (poll(pfd, 5, ms) > 0 && c) {
			for (int i = 0; i < 2; i++)
				if (pfd[3 + i].revents)
					copy_some(c, i);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

int proc_wait(pid_t pid, double timeout, int *status)
{
	return wait_child(pid, timeout, status, NULL);
}

int proc_try_reap(pid_t pid, int *status)
{
	int st;
	pid_t w = waitpid(pid, &st, WNOHANG);

	if (w == 0)
		return 0;
	child_gone(pid);
	if (w < 0)
		return -errno;
	if (status)
		*status = st;
	return 1;
}

/* Has a group's leader ended?  A child of ours (start 0) is reaped. */
static bool leader_gone(pid_t pid, unsigned long long start, int *st)
{
	pid_t w = waitpid(pid, st, WNOHANG);

	if (w == pid)
		return true;
	/* Not ours (or reaped elsewhere): gone once /proc says so. */
	if (w < 0 && errno == ECHILD)
		return !start || proc_start_time(pid) != start;
	return false;
}

void proc_end_group(pid_t pid, unsigned long long start, double grace,
		    int *status)
{
	double deadline = time_mono() + grace;
	bool killed = false;
	int st = 0;

	if (pid <= 0 || (start && proc_start_time(pid) != start))
		return;
	kill(-pid, SIGTERM);
	kill(-pid, SIGCONT);
	while (!leader_gone(pid, start, &st)) {
		if (time_mono() >= deadline) {
			/* A stranger that outlives even the KILL is left. */
			if (killed)
				break;
			kill(-pid, SIGKILL);
			killed = true;
			if (!start) {
				waitpid(pid, &st, 0);
				break;
			}
			deadline = time_mono() + grace;
		}
		usleep(20000);
	}
	child_gone(pid);
	/*
	 * Anything else left in the group is not allowed to outlive it (a
	 * stranger's, while no other process has taken its number).
	 */
	if (!start || proc_start_time(pid) == 0 ||
	    proc_start_time(pid) == start)
		kill(-pid, SIGKILL);
	if (status)
		*status = st;
}

void proc_kill_group(pid_t pid, double grace, int *status)
{
	proc_end_group(pid, 0, grace, status);
}

char *proc_log_last_line(const char *path)
{
	struct buf b = { 0 };
	char *line = NULL, *p, *end;

	if (!path || read_file(path, 1 << 20, &b) < 0 || !b.len) {
		buf_release(&b);
		return xstrdup("no message");
	}
	end = b.p + b.len;
	while (end > b.p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	*end = '\0';
	p = strrchr(b.p, '\n');
	line = xstrdup(p ? p + 1 : b.p);
	buf_release(&b);
	return line;
}

/*
 * Sleep up to seconds; pidfd (the helper ended) and, when watched, stopfd
 * (a stop was asked) end it early.
 */
static void nap(int pidfd, bool watch_stop, double seconds)
{
	struct pollfd pfd[2] = {
		{ .fd = pidfd, .events = POLLIN },
		{ .fd = watch_stop ? stopfd : -1, .events = POLLIN },
	};

	if (poll(pfd, 2, (int)(seconds * 1000) + 1) < 0 && errno != EINTR)
		usleep((useconds_t)(seconds * 1e6));
}

int proc_wait_ready(const struct proc_ready *rd, char **cause)
{
	int pidfd = (int)syscall(SYS_pidfd_open, rd->pid, 0), r;

	for (;;) {
		double interval = rd->interval, left;

		r = rd->probe(rd->arg, &interval, cause);
		if (r != 0) {
			r = r > 0 ? 0 : r;
			break;
		}
		/* A stop first: a helper the same signal ended did not fail. */
		if (rd->stop ? rd->stop(rd->arg) : proc_stop_requested()) {
			*cause = xstrdup("stopped");
			r = -ECANCELED;
			break;
		}
		if (proc_try_reap(rd->pid, NULL) != 0) {
			*cause = proc_log_last_line(rd->log);
			r = -EIO;
			break;
		}
		left = rd->deadline - time_mono();
		if (left <= 0) {
			*cause = xstrdup(rd->late ? rd->late : "timed out");
			r = -ETIMEDOUT;
			break;
		}
		nap(pidfd, !rd->stop, interval < left ? interval : left);
	}
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

int proc_run(char *const argv[], const struct proc_io *io, double timeout,
	     int *status)
{
	struct copy c = { { -1, -1 }, { -1, -1 }, 0, NULL }, *cp = NULL;
	int pipes[2] = { -1, -1 }, r;
	pid_t pid;

	if (io && io->copy_error) {
		cp = &c;
		r = copy_open(cp, io, pipes);
		if (r < 0)
			goto done;
	}
	r = -spawn(argv, io, cp ? pipes : NULL, &pid);
	for (int i = 0; i < 2; i++)
		if (pipes[i] >= 0)
			close(pipes[i]);
	pipes[0] = pipes[1] = -1;
	if (r)
		goto done;
	r = wait_child(pid, timeout, status, cp);
	if (r == -ECANCELED || r == -ETIMEDOUT)
		proc_kill_group(pid, 5.0, NULL);
done:
	for (int i = 0; i < 2; i++)
		if (pipes[i] >= 0)
			close(pipes[i]);
	if (cp)
		*io->copy_error = copy_close(cp);
	return r;
}

void proc_reap_orphans(void)
{
	int st;

	while (waitpid(-1, &st, WNOHANG) > 0)
		;
}

int proc_capture(const char *const *argv, double timeout, struct buf *out,
		 char **cause)
{
	return proc_capture_io(argv, NULL, timeout, out, NULL, cause);
}

int proc_capture_io(const char *const *argv, const struct proc_io *io,
		    double timeout, struct buf *out, struct buf *errout,
		    char **cause)
{
	char tmpl[] = "/tmp/avbatch-out.XXXXXX";
	char err[] = "/tmp/avbatch-err.XXXXXX";
	struct strv av = { 0 };
	char *prog = NULL;
	struct buf e = { 0 };
	int fd, r, st = 0, lost = 0;

	r = proc_find(argv[0], &prog, cause);
	if (r < 0)
		return r;
	/* Both made here, with O_EXCL: nobody can plant either in /tmp. */
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		fd = mkostemp(err, O_CLOEXEC);
		if (fd < 0)
			unlink(tmpl);
	}
	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("cannot create a temporary file: %s",
				   strerror(errno));
		free(prog);
		return r;
	}
	close(fd);
	strv_push_take(&av, prog);
	for (size_t i = 1; argv[i]; i++)
		strv_push(&av, argv[i]);
	r = proc_run(av.v, &(struct proc_io){ .out_path = tmpl,
		     .err_path = err, .copy_error = &lost,
		     .env = io ? io->env : NULL,
		     .fds = io ? io->fds : NULL, .nfds = io ? io->nfds : 0 },
		     timeout, &st);
	if (r == 0 && lost < 0) {
		r = lost;
		*cause = xasprintf("cannot keep the output of %s in '%s': %s",
				   argv[0], tmpl, strerror(-r));
	} else if (r < 0) {
		*cause = xasprintf("%s: %s", argv[0], strerror(-r));
	} else if (errout && WIFEXITED(st)) {
		r = read_file(tmpl, 64 << 20, out);
		if (r == 0)
			r = read_file(err, 1 << 16, errout);
		if (r < 0)
			*cause = xasprintf("cannot read the output of %s: %s",
					   argv[0], strerror(-r));
		else
			r = WEXITSTATUS(st);
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		read_file(err, 1 << 16, &e);
		if (e.len)
			e.p[strcspn(e.p, "\n")] = '\0';
		*cause = e.len && *e.p ? xstrdup(e.p) :
			xasprintf("%s failed", argv[0]);
		r = -EIO;
	} else {
		r = read_file(tmpl, 64 << 20, out);
		if (r < 0)
			*cause = xasprintf("cannot read the output of %s: %s",
					   argv[0], strerror(-r));
	}
	unlink(tmpl);
	unlink(err);
	buf_release(&e);
	strv_release(&av);
	return r;
}
