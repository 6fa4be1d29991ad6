/* scan.c - running one engine over a walked file system; managed daemons */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <openssl/evp.h>

#include "cache.h"
#include "proc.h"
#include "scan.h"
#include "util.h"

/* How long a managed daemon may take to answer (signature loading). */
#define DAEMON_READY_TIMEOUT	600.0
#define DAEMON_STOP_GRACE	10.0

/* The cap on engine processes: a counting semaphore. */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slots_free = PTHREAD_COND_INITIALIZER;
static unsigned slots_max, slots_used;

void scan_set_max_engines(unsigned n)
{
	slots_max = n;
}

static void slot_take(void)
{
	pthread_mutex_lock(&slots_lock);
	while (slots_max && slots_used >= slots_max)
		pthread_cond_wait(&slots_free, &slots_lock);
	slots_used++;
	pthread_mutex_unlock(&slots_lock);
}

static void slot_give(void)
{
	pthread_mutex_lock(&slots_lock);
	slots_used--;
	pthread_cond_signal(&slots_free);
	pthread_mutex_unlock(&slots_lock);
}

/* One run of an engine action, and what its output said. */
struct run {
	struct scanner *s;
	const struct walk *w;
	const char *mnt;
	struct scan_result *res;
	const char *single;	/* the one file this run scanned, if so */
	bool infected_rc;	/* the exit status said "infected" */
	bool incomplete;	/* an incomplete-scan marker was seen */
	unsigned long summary;	/* the engine's own count of infected files */
	bool summary_seen;	/* a summary line was read */
	size_t hits_before;	/* res->nhits when the run started */
	unsigned errors_before;	/* res->errors when the run started */
	double deadline;	/* time_mono() when the target's time is up */
};

/*
 * Count what a run of the engine finished: all it was given (files, bytes)
 * if it ended well (ret 0, no error), else only the files it reported on.
 */
static void count_finished(struct run *r, int ret, uint64_t files,
			   uint64_t bytes)
{
	struct scan_result *res = r->res;

	if (ret == 0 && res->errors == r->errors_before) {
		res->scanned += files;
		res->bytes += bytes;
		return;
	}
	for (size_t i = r->hits_before; i < res->nhits; i++) {
		char *host = xasprintf("%s%s", r->mnt, res->hits[i].path);
		const struct walk_file *f = walk_find(r->w, host);

		res->scanned++;
		res->bytes += f ? f->size : 0;
		free(host);
	}
}

static void set_first(char **slot, char *msg)
{
	if (*slot)
		free(msg);
	else
		*slot = msg;
}

static void add_hit(struct scan_result *res, const char *path,
		    const char *threat)
{
	struct scan_hit *h;

	for (size_t i = 0; i < res->nhits; i++)
		if (!strcmp(res->hits[i].path, path))
			return;
	res->hits = xreallocarray(res->hits, res->nhits + 1,
				  sizeof(*res->hits));
	h = &res->hits[res->nhits++];
	h->path = xstrdup(path);
	h->threat = xstrdup(threat);
}

/*
 * The guest path of a path an engine reported, or NULL if it is not one
 * of ours: in list mode a listed file (or a member of one), in tree mode
 * anything that exists in the guest file system, reached without symlinks.
 */
static char *guest_path(const struct run *r, const char *host)
{
	size_t n = strlen(r->mnt);
	const struct walk_file *f = NULL;
	char *g = NULL, *full;
	bool list = engine_has_action(r->s->e, ENGINE_SCAN_LIST);

	/* A listed file, also one listed from another root (NTFS streams). */
	if (list && (f = walk_find(r->w, host)))
		return xstrdup(walk_guest_path(r->w, f));
	if (strncmp(host, r->mnt, n) != 0 || host[n] != '/')
		return NULL;
	if (walk_resolve(r->mnt, host + n, &g) < 0)
		return NULL;
	if (list) {
		full = xasprintf("%s%s", r->mnt, g);
		f = walk_find(r->w, full);
		free(full);
		if (!f) {
			free(g);
			return NULL;
		}
	}
	return g;
}

/* An engine's line for a report: host mount paths shown as guest paths. */
static char *guest_line(const struct run *r, const char *line)
{
	struct buf b = { 0 };
	size_t n = strlen(r->mnt);
	const char *p;

	while ((p = strstr(line, r->mnt)) && p[n] == '/') {
		buf_add(&b, line, (size_t)(p - line));
		line = p + n;
	}
	buf_addstr(&b, line);
	return b.p;
}

static void parse_line(struct run *r, const char *line, char **context,
		       char **last_threat)
{
	struct engine *e = r->s->e;
	char *path = NULL, *threat = NULL, *ctx = NULL, *g;
	unsigned long count = 0;
	bool summary = engine_match_summary(e, line, &count);

	/* Seen even when it is an error line too (Dr.Web's "scan errors: 1"). */
	r->summary_seen |= summary;
	/*
	 * Error lines first: a line that could be both is counted as an
	 * error (visible) rather than dropped as a detection outside the
	 * guest (silent).
	 */
	if (engine_match_error(e, line)) {
		r->res->errors++;
		set_first(&r->res->error, guest_line(r, line));
	} else if (!*line) {
		free(*context);
		*context = NULL;
	} else if (engine_match_context(e, line, &ctx)) {
		free(*context);
		*context = ctx;
	} else if (engine_match_detection(e, line, &path, &threat)) {
		if (!threat && *context)
			threat = xstrdup(*context);
		if (!threat) {
			/* A path line with no heading before it. */
		} else if (engine_threat_is_incomplete(e, threat)) {
			r->incomplete = true;
			set_first(&r->res->incomplete, xasprintf(
				"not fully scanned: %s", threat));
		} else if (r->single) {
			free(*last_threat);
			*last_threat = threat;
			threat = NULL;
		} else if ((g = guest_path(r, path))) {
			add_hit(r->res, g, threat);
			free(g);
		} else {
			/* Never drop a detection silently. */
			char *gl = guest_line(r, line);

			r->res->errors++;
			set_first(&r->res->error, xasprintf("a detection for "
				"a path that is not a scanned file: %s", gl));
			free(gl);
		}
	} else if (summary) {
		r->summary += count;
	}
	free(path);
	free(threat);
}

/*
 * Read one output file line by line, however long it is; output that
 * cannot be read is an error, never nothing found.
 */
static void parse_output(struct run *r, const char *file)
{
	char *line = NULL, *context = NULL, *last_threat = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f = NULL;
	int fd;

	fd = open(file, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || !(f = fdopen(fd, "r"))) {
		r->res->errors++;
		set_first(&r->res->error, xasprintf("cannot read the engine's "
			  "output '%s': %s", file, strerror(errno)));
		if (fd >= 0)
			close(fd);
		goto done;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		parse_line(r, line, &context, &last_threat);
	}
	if (ferror(f)) {
		r->res->errors++;
		set_first(&r->res->error, xasprintf("cannot read the engine's "
			  "output '%s': %s", file, strerror(errno)));
	}
	/*
	 * A name with a newline splits the engine's line: trust the exit
	 * status, unless it only meant "not fully scanned".
	 */
	if (r->single && (last_threat || (r->infected_rc && !r->incomplete)))
		add_hit(r->res, walk_guest_path(r->w, walk_find(r->w,
							       r->single)),
			last_threat ? last_threat : "unknown");
done:
	if (f)
		fclose(f);
	free(line);
	free(context);
	free(last_threat);
}

/* The variables every action may use: 8 entries of vars. */
static void action_vars(const struct scanner *s, const char *logdir,
			const char **vars)
{
	vars[0] = "logdir";
	vars[1] = logdir;
	vars[2] = "daemon_dir";
	vars[3] = s->dir;
	vars[4] = "daemon_config";
	vars[5] = s->config;
	vars[6] = "daemon_socket";
	vars[7] = s->socket;
}

/* An engine run is about to start: not while the job is paused. */
static void gate(struct scanner *s)
{
	if (s->hooks)
		s->hooks->gate(s->hooks_arg);
}

/* Run one action with its output to logbase.{out,err} and read it. */
static int run_action(struct run *r, enum engine_action a, const char *var,
		      const char *value, const char *logbase)
{
	char *out = xasprintf("%s.out", logbase);
	char *err = xasprintf("%s.err", logbase);
	char *elog = xasprintf("%s.engine.log", logbase);
	char *logdir = xstrdup(logbase), *slash = strrchr(logdir, '/');
	const char *vars[13] = { NULL };
	struct strv argv = { 0 };
	enum engine_verdict verdict;
	char *cause = NULL;
	unsigned errors;
	int ret, st = 0, lost = 0;
	bool uses_elog = false;

	if (slash)
		*slash = '\0';
	action_vars(r->s, logdir, vars);
	vars[8] = var;
	vars[9] = value;
	r->hits_before = r->res->nhits;
	r->errors_before = r->res->errors;
	/* {engine_log}: a report the engine writes, read like its stdout. */
	vars[10] = "engine_log";
	vars[11] = elog;
	unlink(elog);
	ret = engine_argv(r->s->e, a, vars, &argv, &cause);
	if (ret < 0) {
		r->res->errors++;
		set_first(&r->res->error, cause);
		goto done;
	}
	/* Only an action that names {engine_log} owes us that file. */
	for (size_t i = 0; !uses_elog && i < argv.n; i++)
		uses_elog = strstr(argv.v[i], elog) != NULL;
	gate(r->s);
	if (!engine_has_flag(r->s->e, ENGINE_PARALLEL_SAFE))
		pthread_mutex_lock(&r->s->serial);
	slot_take();
	/* A harmless working directory: engines resolve stray relative paths. */
	ret = proc_run(argv.v, &(struct proc_io){ .out_path = out,
		       .err_path = err, .cwd = logdir, .tag = r->s,
		       .copy_error = &lost },
		       r->deadline ? r->deadline - time_mono() : -1, &st);
	slot_give();
	if (!engine_has_flag(r->s->e, ENGINE_PARALLEL_SAFE))
		pthread_mutex_unlock(&r->s->serial);
	/* Output that could not be kept may have held a detection. */
	if (lost < 0) {
		r->res->errors++;
		set_first(&r->res->error, xasprintf("cannot keep the engine's "
			  "output in '%s': %s", logdir, strerror(-lost)));
	}
	if (ret == -ETIMEDOUT) {
		r->res->timed_out = true;
		r->res->errors++;
		set_first(&r->res->error, xstrdup("timed out"));
		parse_output(r, out);
		if (uses_elog)
			parse_output(r, elog);
		goto done;
	}
	if (ret == -ECANCELED) {
		/* What it found before the stop is still found. */
		r->res->stopped = true;
		parse_output(r, out);
		if (uses_elog)
			parse_output(r, elog);
		goto done;
	}
	if (ret < 0) {
		r->res->errors++;
		set_first(&r->res->error, xasprintf("cannot run %s: %s",
			  argv.v[0], strerror(-ret)));
		goto done;
	}
	verdict = engine_classify_exit(r->s->e, st);
	r->infected_rc = verdict == ENGINE_INFECTED;
	r->incomplete = false;
	r->summary = 0;
	r->summary_seen = false;
	errors = r->res->errors;
	parse_output(r, out);
	parse_output(r, err);
	if (uses_elog)
		parse_output(r, elog);
	/* A failing exit counts once, unless error lines already said why. */
	if (verdict == ENGINE_ERROR) {
		if (r->res->errors == errors)
			r->res->errors++;
		set_first(&r->res->error, WIFEXITED(st) ?
			  xasprintf("exited with status %d", WEXITSTATUS(st)) :
			  xasprintf("killed by signal %d", WTERMSIG(st)));
	}
	/* Where only the summary tells "infected", no summary is no verdict. */
	if (verdict == ENGINE_CLEAN && !r->summary_seen &&
	    engine_needs_summary(r->s->e)) {
		r->res->errors++;
		set_first(&r->res->error, xstrdup("no summary line in the "
			  "engine's output, so it cannot be called clean"));
	}
	/* "Infected" with nothing to show for it is not clean. */
	if (r->infected_rc && !r->single && !r->incomplete &&
	    r->res->nhits == r->hits_before) {
		r->res->errors++;
		set_first(&r->res->error, xstrdup("the exit status says "
			  "infected, but no detection line could be read"));
	}
	/* The engine's own count must not exceed what could be read. */
	if (r->summary > r->res->nhits - r->hits_before) {
		r->res->errors++;
		set_first(&r->res->error, xasprintf(
			"the engine counted %lu infected files, but only %zu "
			"detection lines could be read", r->summary,
			r->res->nhits - r->hits_before));
	}
done:
	free(out);
	free(err);
	free(elog);
	free(logdir);
	strv_release(&argv);
	return ret;
}

/*
 * Write the list of files the engine is to scan; counts what it skips, and
 * what it lists (files, bytes).
 */
static int write_list(struct scanner *s, const struct walk *w,
		      const bool *todo, const char *list,
		      struct scan_result *res, uint64_t *files, uint64_t *bytes)
{
	struct buf b = { 0 };
	int r;

	for (size_t i = 0; i < w->nfiles; i++) {
		const struct walk_file *f = &w->files[i];

		if (f->single || !todo[i])
			continue;
		if (s->size_limit && f->size > s->size_limit) {
			res->too_large++;
			continue;
		}
		buf_addstr(&b, f->path);
		buf_addstr(&b, "\n");
		(*files)++;
		*bytes += f->size;
	}
	/* Nothing to list: 1, and the engine is not run. */
	r = b.len ? write_file_atomic(list, b.p, b.len) : 1;
	if (r < 0) {
		res->errors++;
		set_first(&res->error, xasprintf("cannot write '%s': %s",
						 list, strerror(-r)));
	}
	buf_release(&b);
	return r;
}

/* Write {daemon_config}: the client reads it too (e.g. clamdscan). */
static int write_daemon_config(struct scanner *s, char **cause)
{
	const char *vars[9] = { NULL };
	struct buf conf = { 0 };
	int r;

	action_vars(s, s->dir, vars);
	r = engine_daemon_config(s->e, vars, &conf, cause);
	if (r == 0) {
		r = write_file_atomic(s->config, conf.p ? conf.p : "",
				      conf.len);
		if (r < 0)
			*cause = xasprintf("cannot write '%s': %s", s->config,
					   strerror(-r));
	}
	buf_release(&conf);
	return r;
}

/* Start the managed daemon (it loads its signatures meanwhile). */
static int daemon_spawn(struct scanner *s)
{
	char *out = xasprintf("%s/daemon.out", s->dir);
	char *err = xasprintf("%s/daemon.err", s->dir);
	const char *vars[9] = { NULL };
	struct strv argv = { 0 };
	char *cause = NULL;
	int r;

	action_vars(s, s->dir, vars);
	r = engine_argv(s->e, ENGINE_DAEMON, vars, &argv, &cause);
	if (r < 0) {
		s->daemon_error = cause;
		goto done;
	}
	r = -proc_spawn(argv.v, &(struct proc_io){ .out_path = out,
			.err_path = err, .cwd = s->dir, .tag = s }, &s->daemon);
	if (r < 0) {
		s->daemon = 0;
		s->daemon_error = xasprintf("cannot start %s: %s", argv.v[0],
					    strerror(-r));
		goto done;
	}
	s->daemon_since = time_mono();
	msg_info("%s: started its daemon (pid %d)", engine_name(s->e),
		 (int)s->daemon);
done:
	free(out);
	free(err);
	strv_release(&argv);
	return r;
}

/* What daemon_ready asks with. */
struct daemon_probe {
	struct scanner *s;
	char *const *argv;	/* the ready action */
	const char *out;	/* its output */
	bool listens;		/* the daemon makes s->socket when it is up */
};

/* proc_wait_ready's probe: does the daemon's ready action succeed? */
static int daemon_ready(void *arg, double *interval, char **cause)
{
	struct daemon_probe *p = arg;
	struct stat sst;
	int st;

	(void)cause;
	/*
	 * A daemon told to listen on its socket is not asked before the
	 * socket is there (clamd makes it once its signatures are loaded): a
	 * client run costs a core some 25 ms meanwhile.
	 */
	if (p->listens && lstat(p->s->socket, &sst) != 0)
		return 0;
	if (proc_run(p->argv, &(struct proc_io){ .out_path = p->out,
		     .err_path = p->out, .cwd = p->s->dir }, 60, &st) == 0 &&
	    WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	*interval = 0.2;
	return 0;
}

/* Wait until the daemon's ready action succeeds (or it dies, or a stop). */
static int daemon_wait(struct scanner *s)
{
	char *err = xasprintf("%s/daemon.err", s->dir);
	char *ready = xasprintf("%s/ready", s->dir);
	char *late = xasprintf("daemon not ready after %.0f s",
			       DAEMON_READY_TIMEOUT);
	const char *vars[9] = { NULL };
	struct strv rargv = { 0 };
	struct daemon_probe p = { .s = s, .out = ready,
				  .listens = engine_daemon_listens(s->e) };
	char *cause = NULL;
	int r;

	action_vars(s, s->dir, vars);
	r = engine_argv(s->e, ENGINE_DAEMON_READY, vars, &rargv, &cause);
	if (r < 0) {
		s->daemon_error = cause;
		goto done;
	}
	p.argv = rargv.v;
	r = proc_wait_ready(&(struct proc_ready){ .pid = s->daemon,
		.probe = daemon_ready, .arg = &p, .interval = 0.05,
		.deadline = s->daemon_since + DAEMON_READY_TIMEOUT,
		.late = late, .log = err }, &cause);
	if (r == 0) {
		s->daemon_ready = true;
		msg_debug("%s: daemon ready after %.1f s", engine_name(s->e),
			  time_mono() - s->daemon_since);
	} else if (r == -EIO) {
		s->daemon = 0;
		s->daemon_error = xasprintf("daemon exited: %s", cause);
	} else if (r == -ETIMEDOUT) {
		s->daemon_error = xstrdup(cause);
	}
	free(cause);
done:
	free(err);
	free(ready);
	free(late);
	strv_release(&rargv);
	return r;
}

void scanner_prestart(struct scanner *s)
{
	if (!engine_manages_daemon(s->e) || (scanner_caches(s) && !s->cold))
		return;
	/* Held: another thread starts it, or waits for it to load. */
	if (pthread_mutex_trylock(&s->daemon_lock))
		return;
	if (!s->daemon && !s->daemon_error)
		daemon_spawn(s);
	pthread_mutex_unlock(&s->daemon_lock);
}

/* About to wait: let the job go on with other work meanwhile. */
static bool idle_leave(struct scanner *s)
{
	if (!s->hooks)
		return false;
	s->hooks->idle_leave(s->hooks_arg);
	return true;
}

/* Done waiting: back to work (if idle_leave() said so). */
static void idle_enter(struct scanner *s, bool left)
{
	if (left)
		s->hooks->idle_enter(s->hooks_arg);
}

/* The daemon must be up (started on first use) and still running. */
static int daemon_check(struct scanner *s, struct scan_result *res)
{
	bool left = false;
	int r = 0;

	if (!engine_manages_daemon(s->e))
		return 0;
	pthread_mutex_lock(&s->daemon_lock);
	if (!s->daemon && !s->daemon_error)
		daemon_spawn(s);
	if (s->daemon && !s->daemon_ready) {
		/* It loads its signatures: others may attach and walk. */
		pthread_mutex_unlock(&s->daemon_lock);
		left = idle_leave(s);
		pthread_mutex_lock(&s->daemon_lock);
	}
	if (s->daemon && !s->daemon_ready && daemon_wait(s) == -ECANCELED) {
		res->stopped = true;
		r = -ECANCELED;
		goto done;
	}
	if (s->daemon && proc_try_reap(s->daemon, NULL) != 0) {
		s->daemon = 0;
		s->daemon_error = xstrdup("the daemon died during the batch");
	}
	if (s->daemon_error) {
		res->errors++;
		set_first(&res->error, xstrdup(s->daemon_error));
		r = -EIO;
	}
done:
	pthread_mutex_unlock(&s->daemon_lock);
	idle_enter(s, left);
	return r;
}

/* Mark known the files whose content already has a verdict. */
static void lookup_verdicts(struct scanner *s, const struct walk *w,
			    bool *known, struct scan_result *res)
{
	const unsigned char **sha = xcalloc(w->nfiles + 1, sizeof(*sha));
	size_t n = 0, *idx = xcalloc(w->nfiles + 1, sizeof(*idx));
	enum cache_verdict *v = xcalloc(w->nfiles + 1, sizeof(*v));
	char **threat = xcalloc(w->nfiles + 1, sizeof(*threat));

	for (size_t i = 0; i < w->nfiles; i++)
		if (w->files[i].hashed && !known[i]) {
			sha[n] = w->files[i].sha256;
			idx[n++] = i;
		}
	cache_get_many(s->cache, engine_name(s->e), s->fingerprint, sha, n,
		       v, threat);
	for (size_t k = 0; k < n; k++) {
		switch (v[k]) {
		case CACHE_INFECTED:
			add_hit(res, walk_guest_path(w, &w->files[idx[k]]),
				threat[k]);
			/* fall through */
		case CACHE_CLEAN:
			known[idx[k]] = true;
			res->cached++;
			break;
		case CACHE_UNKNOWN:
			break;
		}
		free(threat[k]);
	}
	free(sha);
	free(idx);
	free(v);
	free(threat);
}

/*
 * Files whose content already has a verdict are not scanned again: marks
 * them known.  Returns how many files are known now.
 */
static size_t from_cache(struct scanner *s, const struct walk *w,
			 bool *known, struct scan_result *res)
{
	size_t n = 0;

	if (scanner_caches(s))
		lookup_verdicts(s, w, known, res);
	for (size_t i = 0; i < w->nfiles; i++)
		n += known[i];
	return n;
}

static const struct scan_hit *find_hit(const struct scan_result *res,
				       const char *guest)
{
	for (size_t i = 0; i < res->nhits; i++)
		if (!strcmp(res->hits[i].path, guest))
			return &res->hits[i];
	return NULL;
}

/*
 * Keep what the engine said of each file it scanned: infected ones always
 * (a detection is a detection), clean ones only from runs without errors
 * or incomplete-scan markers (a file it could not read is not clean).
 */
static void to_cache(struct scanner *s, const struct walk *w,
		     const bool *todo, const struct scan_result *res,
		     bool no_errors)
{
	struct cache_entry *e;
	size_t n = 0;

	if (!scanner_caches(s))
		return;
	e = xcalloc(w->nfiles + 1, sizeof(*e));
	for (size_t i = 0; i < w->nfiles; i++) {
		const struct walk_file *f = &w->files[i];
		const struct scan_hit *h;

		if (!todo[i] || !f->hashed ||
		    (s->size_limit && f->size > s->size_limit))
			continue;
		h = find_hit(res, walk_guest_path(w, f));
		if (!h && (!no_errors || res->incomplete))
			continue;
		memcpy(e[n].sha256, f->sha256, 32);
		e[n].verdict = h ? CACHE_INFECTED : CACHE_CLEAN;
		e[n].threat = h ? h->threat : NULL;
		n++;
	}
	cache_store(s->cache, engine_name(s->e), s->fingerprint, e, n);
	free(e);
}

/* A set of contents (sorted SHA-256) one run is scanning right now. */
struct claim {
	unsigned char (*sha)[32];
	size_t n;
	struct claim *next;
};

static int sha_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* Is another run scanning this content now?  Under claims_lock. */
static bool claimed(const struct scanner *s, const unsigned char *sha)
{
	for (const struct claim *c = s->claims; c; c = c->next)
		if (bsearch(sha, c->sha, c->n, sizeof(*c->sha), sha_cmp))
			return true;
	return false;
}

struct by_sha {
	const unsigned char *sha;
	size_t i;
};

static int by_sha_cmp(const void *a, const void *b)
{
	const struct by_sha *x = a, *y = b;
	int c = memcmp(x->sha, y->sha, 32);

	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/*
 * Content that an earlier file of the same walk holds too (btrfs
 * snapshots hold the same files many times over) is scanned once: the
 * other copies wait for its verdict like content another run claimed.
 */
static void wait_for_copies(const struct walk *w, bool *todo, bool *wait)
{
	struct by_sha *v = xcalloc(w->nfiles + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < w->nfiles; i++)
		if (todo[i] && w->files[i].hashed)
			v[n++] = (struct by_sha){ w->files[i].sha256, i };
	qsort(v, n, sizeof(*v), by_sha_cmp);
	for (size_t k = 1; k < n; k++)
		if (!memcmp(v[k].sha, v[k - 1].sha, 32)) {
			todo[v[k].i] = false;
			wait[v[k].i] = true;
		}
	free(v);
}

/*
 * What this round scans (todo): every file without a verdict, except
 * content another run is scanning right now, whose verdict it waits for
 * instead (wait).  With a cache, claims what it will scan.
 */
static void claim(struct scanner *s, const struct walk *w, const bool *known,
		  bool *todo, bool *wait, struct claim *mine)
{
	bool dedup = scanner_caches(s);

	mine->sha = xcalloc(w->nfiles + 1, sizeof(*mine->sha));
	mine->n = 0;
	pthread_mutex_lock(&s->claims_lock);
	for (size_t i = 0; i < w->nfiles; i++) {
		const struct walk_file *f = &w->files[i];

		todo[i] = wait[i] = false;
		if (known[i])
			continue;
		if (dedup && f->hashed && claimed(s, f->sha256)) {
			wait[i] = true;
			continue;
		}
		todo[i] = true;
		if (dedup && f->hashed)
			memcpy(mine->sha[mine->n++], f->sha256, 32);
	}
	if (dedup)
		wait_for_copies(w, todo, wait);
	qsort(mine->sha, mine->n, sizeof(*mine->sha), sha_cmp);
	mine->next = s->claims;
	s->claims = mine;
	pthread_mutex_unlock(&s->claims_lock);
}

/* Its verdicts are in the cache (or not coming): others may go on. */
static void unclaim(struct scanner *s, struct claim *mine)
{
	pthread_mutex_lock(&s->claims_lock);
	for (struct claim **p = &s->claims; *p; p = &(*p)->next)
		if (*p == mine) {
			*p = mine->next;
			break;
		}
	pthread_cond_broadcast(&s->claims_released);
	pthread_mutex_unlock(&s->claims_lock);
	free(mine->sha);
	mine->sha = NULL;
}

/* Wait until no run is scanning what this one waits for. */
static int wait_claims(struct scanner *s, const struct walk *w,
		       const bool *wait, double deadline)
{
	bool asked = false, left = false;
	int r = 0;

	pthread_mutex_lock(&s->claims_lock);
	for (size_t i = 0; i < w->nfiles; i++) {
		if (!wait[i] || !claimed(s, w->files[i].sha256))
			continue;
		if (proc_stop_requested()) {
			r = -ECANCELED;
			break;
		}
		if (deadline && time_mono() >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		if (!asked) {
			/* Something to wait for: others may go on meanwhile. */
			asked = true;
			pthread_mutex_unlock(&s->claims_lock);
			left = idle_leave(s);
			pthread_mutex_lock(&s->claims_lock);
			i--;	/* look at this one again */
			continue;
		}
		cond_wait_ms(&s->claims_released, &s->claims_lock, 200);
		i--;	/* look at this one again */
	}
	pthread_mutex_unlock(&s->claims_lock);
	idle_enter(s, left);
	return r;
}

/* Fold what one run of the engine said into the whole. */
static void merge_run(struct scan_result *into, struct scan_result *from)
{
	for (size_t i = 0; i < from->nhits; i++)
		add_hit(into, from->hits[i].path, from->hits[i].threat);
	into->errors += from->errors;
	if (from->error)
		set_first(&into->error, xstrdup(from->error));
	if (from->incomplete)
		set_first(&into->incomplete, xstrdup(from->incomplete));
	into->scanned += from->scanned;
	into->bytes += from->bytes;
	into->too_large += from->too_large;
	into->stopped |= from->stopped;
	into->timed_out |= from->timed_out;
	scan_result_release(from);
}

/*
 * Lists of at least this many files are split among engine runs, into up
 * to this many lists per run at once: each run takes the next list when
 * it is done, so no run idles at the end while another still has a long
 * list.  A file costs its size plus FILE_COST (opening, typing it).
 */
#define CHUNK_MIN_FILES	256
#define CHUNKS_PER_RUN	8
#define FILE_COST	32768

/* One list of files, scanned by one run of the engine. */
struct chunk {
	struct run r;		/* r.res: where its result goes */
	struct scan_result res;	/* ... when it is one of several */
	const bool *todo;
	const char *logbase;
	int ret;
};

static void chunk_scan(struct chunk *c)
{
	char *list = xasprintf("%s.list", c->logbase);
	uint64_t files = 0, bytes = 0;

	c->ret = write_list(c->r.s, c->r.w, c->todo, list, c->r.res, &files,
			    &bytes);
	if (c->ret == 0) {
		c->ret = run_action(&c->r, ENGINE_SCAN_LIST, "list", list,
				    c->logbase);
		count_finished(&c->r, c->ret, files, bytes);
	}
	free(list);
}

/* Lists to be scanned, taken in turn by the runs. */
struct chunks {
	struct chunk *c;
	size_t n, next;
	bool ended;		/* a run was stopped or timed out */
	pthread_mutex_t lock;
};

static void *chunk_runner(void *arg)
{
	struct chunks *q = arg;

	for (;;) {
		struct chunk *c = NULL;

		pthread_mutex_lock(&q->lock);
		if (!q->ended && q->next < q->n)
			c = &q->c[q->next++];
		pthread_mutex_unlock(&q->lock);
		if (!c)
			return NULL;
		chunk_scan(c);
		pthread_mutex_lock(&q->lock);
		q->ended |= c->ret == -ECANCELED || c->ret == -ETIMEDOUT;
		pthread_mutex_unlock(&q->lock);
	}
}

/* How many runs of the engine to hand a scan of n files to at once. */
static size_t runs_for(const struct scanner *s, size_t n)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t k = n / CHUNK_MIN_FILES;

	if (!engine_has_flag(s->e, ENGINE_PARALLEL_SAFE) ||
	    (!engine_manages_daemon(s->e) && !engine_external_daemon(s->e)))
		return 1;
	if (cpus > 0 && k > (size_t)cpus)
		k = (size_t)cpus;
	return k < 1 ? 1 : k;
}

/*
 * Split the listed todo files (walk order) into n lists of about equal
 * cost: lists[j][i] if file i goes to list j.
 */
static void split_lists(const struct walk *w, const bool *todo, size_t n,
			bool **lists)
{
	uint64_t total = 0, cum = 0;

	for (size_t i = 0; i < w->nfiles; i++)
		if (todo[i] && !w->files[i].single)
			total += w->files[i].size + FILE_COST;
	for (size_t i = 0; i < w->nfiles; i++) {
		if (!todo[i] || w->files[i].single)
			continue;
		lists[cum / (total / n + 1)][i] = true;
		cum += w->files[i].size + FILE_COST;
	}
}

/*
 * Scan the listed todo files.  A daemon that scans in parallel gets them
 * from several runs of its client at once (one per core, each taking the
 * next list): a single client hands files over one by one and leaves the
 * daemon's threads idle between them.  Returns -ECANCELED or -ETIMEDOUT
 * if a run ended so.
 */
static int scan_lists(struct run *r, const bool *todo, const char *logbase)
{
	const struct walk *w = r->w;
	struct chunks q = { .lock = PTHREAD_MUTEX_INITIALIZER };
	size_t n = 0, k;
	pthread_t *th;
	bool *started, **lists;
	int ret = 0;

	for (size_t i = 0; i < w->nfiles; i++)
		n += todo[i] && !w->files[i].single;
	k = runs_for(r->s, n);
	if (k == 1) {
		struct chunk c = { .r = *r, .todo = todo, .logbase = logbase };

		chunk_scan(&c);
		return c.ret;
	}
	q.n = n / CHUNK_MIN_FILES;
	if (q.n > k * CHUNKS_PER_RUN)
		q.n = k * CHUNKS_PER_RUN;
	q.c = xcalloc(q.n, sizeof(*q.c));
	lists = xcalloc(q.n, sizeof(*lists));
	for (size_t j = 0; j < q.n; j++) {
		lists[j] = xcalloc(w->nfiles + 1, sizeof(bool));
		q.c[j] = (struct chunk){ .r = *r, .todo = lists[j],
				       .logbase = xasprintf("%s.c%zu", logbase,
							    j) };
		q.c[j].r.res = &q.c[j].res;
	}
	split_lists(w, todo, q.n, lists);
	/* This thread and k - 1 more take the lists. */
	th = xcalloc(k - 1, sizeof(*th));
	started = xcalloc(k - 1, sizeof(*started));
	for (size_t j = 0; j < k - 1; j++)
		started[j] = pthread_create(&th[j], NULL, chunk_runner,
					    &q) == 0;
	chunk_runner(&q);
	for (size_t j = 0; j < k - 1; j++)
		if (started[j])
			pthread_join(th[j], NULL);
	for (size_t j = 0; j < q.n; j++) {
		if (q.c[j].ret == -ECANCELED || q.c[j].ret == -ETIMEDOUT)
			ret = q.c[j].ret;
		merge_run(r->res, &q.c[j].res);
		free(lists[j]);
		free((char *)q.c[j].logbase);
	}
	pthread_mutex_destroy(&q.lock);
	free(q.c);
	free(lists);
	free(th);
	free(started);
	return ret;
}

/* Scan the todo files: in lists, and odd names one by one. */
static int scan_files(struct run *r, const bool *todo, const char *logbase)
{
	struct scanner *s = r->s;
	const struct walk *w = r->w;
	struct scan_result *res = r->res;
	int ret;

	ret = scan_lists(r, todo, logbase);
	for (size_t i = 0; ret != -ECANCELED && ret != -ETIMEDOUT &&
	     i < w->nfiles; i++) {
		const struct walk_file *f = &w->files[i];
		char *base;

		if (!f->single || !todo[i])
			continue;
		if (s->size_limit && f->size > s->size_limit) {
			res->too_large++;
			continue;
		}
		base = xasprintf("%s.single%zu", logbase, i);
		r->single = f->path;
		ret = run_action(r, ENGINE_SCAN, "target", f->path, base);
		count_finished(r, ret, 1, f->size);
		r->single = NULL;
		free(base);
	}
	return ret;
}

void scanner_run(struct scanner *s, const struct walk *w, const char *mnt,
		 const char *logbase, double deadline, struct scan_result *res)
{
	struct run r = { .s = s, .w = w, .mnt = mnt, .res = res,
			 .deadline = deadline };
	bool *known = NULL, *todo = NULL, *wait = NULL;

	if (!engine_has_action(s->e, ENGINE_SCAN_LIST)) {
		if (daemon_check(s, res) < 0)
			goto done;
		int ret;

		/*
		 * An engine that checks paths it chooses scans no file whole;
		 * a directory-scanning engine never sees named streams.
		 */
		ret = run_action(&r, ENGINE_SCAN, "target", mnt, logbase);
		if (!engine_has_flag(s->e, ENGINE_CHOSEN_PATHS))
			count_finished(&r, ret, w->nfiles - w->nstreams,
				       w->bytes);
		if (w->nstreams)
			set_first(&res->incomplete, xasprintf(
				"%llu named data stream(s) not scanned: the "
				"engine scans a directory", (unsigned long long)
				w->nstreams));
		if (ret < 0 || engine_has_flag(s->e, ENGINE_CHOSEN_PATHS))
			goto done;
		/*
		 * A name with a newline splits the engine's line about it: that
		 * file is scanned again alone, so its detection is not lost
		 * (the split lines may still count as errors).
		 */
		for (size_t i = 0; i < w->nfiles; i++) {
			char *base;

			if (!w->files[i].single || res->stopped ||
			    res->timed_out)
				continue;
			base = xasprintf("%s.single%zu", logbase, i);
			r.single = w->files[i].path;
			run_action(&r, ENGINE_SCAN, "target", r.single, base);
			r.single = NULL;
			free(base);
		}
		goto done;
	}
	known = xcalloc(w->nfiles + 1, sizeof(*known));
	todo = xcalloc(w->nfiles + 1, sizeof(*todo));
	wait = xcalloc(w->nfiles + 1, sizeof(*wait));
	/*
	 * Rounds: scan what has no verdict and nobody else is scanning; then
	 * take the verdicts of what others were scanning.  Content they could
	 * not give a verdict for is scanned in the next round.
	 */
	for (unsigned round = 0; ; round++) {
		struct claim mine = { 0 };
		unsigned errors = res->errors;
		bool any_todo = false, any_wait = false;
		char *base;
		int ret = 0;

		if (from_cache(s, w, known, res) == w->nfiles)
			break;
		claim(s, w, known, todo, wait, &mine);
		for (size_t i = 0; i < w->nfiles; i++) {
			any_todo |= todo[i];
			any_wait |= wait[i];
		}
		/* The daemon is started only if something is left to scan. */
		if (any_todo && daemon_check(s, res) < 0) {
			unclaim(s, &mine);
			break;
		}
		base = round ? xasprintf("%s.%u", logbase, round) :
			       xstrdup(logbase);
		if (any_todo)
			ret = scan_files(&r, todo, base);
		free(base);
		if (!res->stopped && !res->timed_out)
			to_cache(s, w, todo, res, res->errors == errors);
		unclaim(s, &mine);
		for (size_t i = 0; i < w->nfiles; i++)
			known[i] |= todo[i];
		if (!any_wait || ret == -ECANCELED || ret == -ETIMEDOUT)
			break;
		ret = wait_claims(s, w, wait, deadline);
		if (ret == -ECANCELED)
			res->stopped = true;
		if (ret == -ETIMEDOUT) {
			res->timed_out = true;
			res->errors++;
			set_first(&res->error, xstrdup("timed out"));
		}
		if (ret < 0)
			break;
	}
done:
	if (res->too_large)
		set_first(&res->incomplete, xasprintf(
			"%llu file(s) over the engine's size limit of %llu "
			"bytes not scanned", (unsigned long long)res->too_large,
			(unsigned long long)s->size_limit));
	free(known);
	free(todo);
	free(wait);
}

int scanner_action(struct scanner *s, enum engine_action a)
{
	char *log = xasprintf("%s/action.log", s->dir);
	const char *vars[9] = { NULL };
	struct strv argv = { 0 };
	char *cause = NULL;
	int r, st = 0;

	action_vars(s, s->dir, vars);
	r = engine_argv(s->e, a, vars, &argv, &cause);
	if (r == 0)
		r = proc_run(argv.v, &(struct proc_io){ .out_path = log,
			     .err_path = log, .cwd = s->dir }, 60, &st);
	if (r == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		r = -EIO;
	if (r < 0)
		msg_info("%s: %s failed: %s", engine_name(s->e),
			 a == ENGINE_PAUSE ? "pause" : "resume",
			 cause ? cause : strerror(-r));
	free(cause);
	free(log);
	strv_release(&argv);
	return r;
}

void scanner_read_version(struct scanner *s)
{
	char *out = xasprintf("%s/version.out", s->dir);
	char *err = xasprintf("%s/version.err", s->dir);
	const char *vars[9] = { NULL };
	struct strv argv = { 0 };
	char *cause = NULL;
	struct buf b = { 0 };
	int st;

	action_vars(s, s->dir, vars);
	if (engine_argv(s->e, ENGINE_VERSION, vars, &argv, &cause) == 0 &&
	    proc_run(argv.v, &(struct proc_io){ .out_path = out,
		     .err_path = err, .cwd = s->dir }, 60, &st) == 0 &&
	    WIFEXITED(st) &&
	    WEXITSTATUS(st) == engine_version_status(s->e) &&
	    read_file(out, 1 << 16, &b) == 0 && !b.len)
		read_file(err, 1 << 16, &b);	/* some print it there */
	free(s->version);
	s->version = NULL;
	if (b.len) {
		b.p[strcspn(b.p, "\n")] = '\0';
		s->version = xstrdup(b.p);
	}
	free(s->binary);
	s->binary = NULL;
	if (argv.n)
		s->binary = xstrdup(argv.v[0]);
	else if (proc_which(engine_binary(s->e), &s->binary) < 0)
		s->binary = NULL;
	unlink(out);
	unlink(err);
	free(out);
	free(err);
	free(cause);
	buf_release(&b);
	strv_release(&argv);
}

int scanner_open(struct engine *e, const char *jobdir, struct scanner **out,
		 char **cause)
{
	struct scanner *s = xcalloc(1, sizeof(*s));
	const char *ext = NULL;
	int r;

	s->e = e;
	pthread_mutex_init(&s->daemon_lock, NULL);
	pthread_mutex_init(&s->serial, NULL);
	pthread_mutex_init(&s->claims_lock, NULL);
	pthread_cond_init(&s->claims_released, NULL);
	s->dir = xasprintf("%s/engine-%s", jobdir, engine_name(e));
	s->config = xasprintf("%s/daemon.conf", s->dir);
	r = mkdir_private(s->dir);
	if (r < 0) {
		*cause = xasprintf("cannot create '%s': %s", s->dir,
				   strerror(-r));
		goto fail;
	}
	r = engine_size_limit(e, &s->size_limit, cause);
	if (r < 0)
		goto fail;
	ext = engine_external_daemon(e);
	s->socket = ext ? xstrdup(ext) : xasprintf("%s/daemon.sock", s->dir);
	if (engine_has_flag(e, ENGINE_MANAGED_DAEMON)) {
		r = write_daemon_config(s, cause);
		if (r < 0)
			goto fail;
	}
	scanner_read_version(s);
	*out = s;
	return 0;
fail:
	s->e = NULL;	/* the caller keeps e on failure */
	scanner_close(s);
	return r;
}

/*
 * Hash every regular file below path, in name order, into ctx: its name and
 * its content, or (with racy) its name and identity, setting *racy if one
 * changed too recently for its identity to vouch for its content.
 */
static int hash_tree(EVP_MD_CTX *ctx, const char *path, size_t base,
		     bool *racy)
{
	struct dirent **names;
	struct stat st;
	int n, r = 0;

	if (lstat(path, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) && racy) {
		struct buf id = { 0 };

		EVP_DigestUpdate(ctx, path + base, strlen(path + base) + 1);
		*racy |= file_identity(&st, &id) < 0;
		EVP_DigestUpdate(ctx, id.p, id.len);
		buf_release(&id);
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		unsigned char chunk[1 << 16];
		ssize_t k;
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0)
			return -errno;
		EVP_DigestUpdate(ctx, path + base, strlen(path + base) + 1);
		while ((k = read(fd, chunk, sizeof(chunk))) > 0)
			EVP_DigestUpdate(ctx, chunk, (size_t)k);
		r = k < 0 ? -errno : 0;
		close(fd);
		return r;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char *p;

		if (r == 0 && strcmp(names[i]->d_name, ".") &&
		    strcmp(names[i]->d_name, "..")) {
			p = xasprintf("%s/%s", path, names[i]->d_name);
			r = hash_tree(ctx, p, base, racy);
			free(p);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/*
 * SHA-256 (hex) of head and the signature files below paths: their
 * content, or (with racy) their identities.
 */
static int digest_signatures(const struct scanner *s, const struct buf *head,
			     const struct strv *paths, bool *racy,
			     char **hex, char **cause)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	struct buf b = { 0 };
	int r = 0;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		*cause = xstrdup("cannot compute SHA-256 (OpenSSL)");
		r = -ENOMEM;
		goto done;
	}
	EVP_DigestUpdate(ctx, head->p, head->len);
	for (size_t i = 0; i < paths->n && r == 0; i++) {
		r = hash_tree(ctx, paths->v[i], 0, racy);
		if (r < 0)
			*cause = xasprintf("cannot read the signatures '%s' "
					   "of engine '%s': %s", paths->v[i],
					   engine_name(s->e), strerror(-r));
	}
	if (r == 0 && !EVP_DigestFinal_ex(ctx, md, NULL)) {
		*cause = xstrdup("cannot compute SHA-256 (OpenSSL)");
		r = -EIO;
	}
	for (int i = 0; r == 0 && i < 32; i++)
		buf_addf(&b, "%02x", md[i]);
	*hex = b.p;
done:
	EVP_MD_CTX_free(ctx);
	return r;
}

bool scanner_caches(const struct scanner *s)
{
	return s->cache && s->fingerprint;
}

int scanner_use_cache(struct scanner *s, struct cache *c, char **cause)
{
	struct strv paths = { 0 };
	struct buf head = { 0 }, memo = { 0 };
	char *ids = NULL;
	bool racy = false;
	int r;

	r = engine_signature_paths(s->e, &paths, cause);
	if (r < 0 || !paths.n)
		goto done;
	/* What decides a verdict: engine, version, options, signatures. */
	buf_addf(&head, "%s\n%s\n", engine_name(s->e),
		 s->version ? s->version : "");
	engine_describe_options(s->e, &head);
	/*
	 * Hashing a production database takes seconds: the fingerprint is
	 * remembered by the signature files' identities, which any change
	 * to them changes.
	 */
	r = digest_signatures(s, &head, &paths, &racy, &ids, cause);
	if (r < 0)
		goto done;
	if (cache_memo_get(c, "fingerprint", ids, &memo) == 0) {
		s->fingerprint = memo.p;
		memo.p = NULL;
	} else {
		r = digest_signatures(s, &head, &paths, NULL,
				      &s->fingerprint, cause);
		if (r < 0)
			goto done;
		if (!racy)
			cache_memo_put(c, "fingerprint", ids, s->fingerprint,
				       strlen(s->fingerprint));
	}
	s->cache = c;
	s->cold = !cache_has_verdicts(c, engine_name(s->e), s->fingerprint);
done:
	strv_release(&paths);
	buf_release(&head);
	buf_release(&memo);
	free(ids);
	return r;
}

void scanner_close(struct scanner *s)
{
	int sig;

	if (!s)
		return;
	if (s->daemon > 0) {
		sig = engine_action_signal(s->e, ENGINE_STOP);
		if (sig && sig != SIGTERM)
			kill(-s->daemon, sig);
		proc_kill_group(s->daemon, DAEMON_STOP_GRACE, NULL);
		msg_debug("%s: daemon stopped", engine_name(s->e));
	}
	engine_free(s->e);
	free(s->binary);
	free(s->version);
	free(s->dir);
	free(s->socket);
	free(s->config);
	free(s->daemon_error);
	free(s->fingerprint);
	pthread_mutex_destroy(&s->daemon_lock);
	pthread_mutex_destroy(&s->serial);
	pthread_mutex_destroy(&s->claims_lock);
	pthread_cond_destroy(&s->claims_released);
	free(s);
}

void scan_result_release(struct scan_result *r)
{
	for (size_t i = 0; i < r->nhits; i++) {
		free(r->hits[i].path);
		free(r->hits[i].threat);
	}
	free(r->hits);
	free(r->error);
	free(r->incomplete);
	memset(r, 0, sizeof(*r));
}
