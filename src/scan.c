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

#include "engine-output.h"
#include "proc.h"
#include "recall.h"
#include "scan.h"
#include "sigset.h"
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
	const struct scan_progress *prog;
	/* Progress lines of the run going on: files told finished, and a
	   line not complete yet. */
	unsigned char *told;	/* a bit per file of w */
	uint64_t told_files, told_bytes;
	struct buf partial;
};

/* Tell the job that files (bytes) are finished. */
static void tell(const struct run *r, uint64_t files, uint64_t bytes)
{
	if (r->prog && (files || bytes))
		r->prog->done(r->prog->arg, files, bytes);
}

/* A line of output as it comes: is it about a file the engine finished? */
static void live_line(struct run *r, const char *line)
{
	const struct walk_file *f;
	size_t off, len, i;
	char *path;

	if (!engine_match_progress(r->s->e, line, &off, &len))
		return;
	path = xstrndup(line + off, len);
	f = walk_find(r->w, path);
	free(path);
	if (!f)
		return;
	i = (size_t)(f - r->w->files);
	if (r->told[i / 8] & (1u << (i % 8)))
		return;
	r->told[i / 8] |= (unsigned char)(1u << (i % 8));
	r->told_files++;
	r->told_bytes += f->size;
	tell(r, 1, f->size);
}

/* Longer than this, a line is no progress line we could use. */
#define LIVE_LINE_MAX	65536

/* proc_run's on_out: the engine's stdout in pieces, cut into lines. */
static void live_output(void *arg, const char *data, size_t n)
{
	struct run *r = arg;
	const char *nl;

	while ((nl = memchr(data, '\n', n))) {
		buf_add(&r->partial, data, (size_t)(nl - data));
		if (r->partial.len <= LIVE_LINE_MAX)
			live_line(r, r->partial.p);
		r->partial.len = 0;
		n -= (size_t)(nl + 1 - data);
		data = nl + 1;
	}
	if (r->partial.len + n <= LIVE_LINE_MAX + 1)
		buf_add(&r->partial, data, n);
	else
		r->partial.len = LIVE_LINE_MAX + 1;
}

/*
 * Count what a run of the engine finished: all it was given (files, bytes)
 * if it ended well (ret 0, no error), else only the files it reported on.
 */
static void count_finished(struct run *r, int ret, uint64_t files,
			   uint64_t bytes)
{
	struct scan_result *res = r->res;
	uint64_t files0 = res->scanned, bytes0 = res->bytes;

	if (ret == 0 && res->errors == r->errors_before) {
		res->scanned += files;
		res->bytes += bytes;
		goto tell;
	}
	for (size_t i = r->hits_before; i < res->nhits; i++) {
		char *host = xasprintf("%s%s", r->mnt, res->hits[i].path);
		const struct walk_file *f = walk_find(r->w, host);

		res->scanned++;
		res->bytes += f ? f->size : 0;
		free(host);
	}
tell:
	/* What its progress lines did not tell already. */
	files = res->scanned - files0;
	bytes = res->bytes - bytes0;
	tell(r, files > r->told_files ? files - r->told_files : 0,
	     bytes > r->told_bytes ? bytes - r->told_bytes : 0);
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
 * Read a run's output files (NULL-ended) into its result.  infected_rc:
 * the exit status said "infected".
 */
static void read_output(struct run *r, bool infected_rc,
			const char *const *files)
{
	/*
	 * r->incomplete: also an earlier run's marker when this one timed
	 * out or was stopped (then infected_rc is that run's too).
	 */
	struct engine_output_scope sc = { .w = r->w, .mnt = r->mnt,
		.single = r->single,
		.infected_rc = infected_rc && !r->incomplete };
	struct engine_output *o = engine_output_new(r->s->e, &sc);
	const struct engine_findings *f;

	for (size_t i = 0; files[i]; i++)
		engine_output_read(o, files[i]);
	f = engine_output_findings(o);
	r->res->errors += f->errors;
	if (f->error)
		str_set_first(&r->res->error, xstrdup(f->error));
	for (size_t i = 0; i < f->nhits; i++)
		add_hit(r->res, f->hits[i].path, f->hits[i].threat);
	if (f->incomplete) {
		r->incomplete = true;
		str_set_first(&r->res->incomplete, xstrdup(f->incomplete));
	}
	r->summary += f->summary;
	r->summary_seen |= f->summary_seen;
	engine_output_free(o);
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
	r->told_files = r->told_bytes = 0;
	r->partial.len = 0;
	if (r->prog && engine_tells_progress(r->s->e))
		r->told = xcalloc(r->w->nfiles / 8 + 1, 1);
	/* {engine_log}: a report the engine writes, read like its stdout. */
	vars[10] = "engine_log";
	vars[11] = elog;
	unlink(elog);
	ret = engine_argv(r->s->e, a, vars, &argv, &cause);
	if (ret < 0) {
		r->res->errors++;
		str_set_first(&r->res->error, cause);
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
		       .copy_error = &lost,
		       .on_out = r->told ? live_output : NULL,
		       .on_out_arg = r },
		       r->deadline ? r->deadline - time_mono() : -1, &st);
	slot_give();
	if (!engine_has_flag(r->s->e, ENGINE_PARALLEL_SAFE))
		pthread_mutex_unlock(&r->s->serial);
	/* Output that could not be kept may have held a detection. */
	if (lost < 0) {
		r->res->errors++;
		str_set_first(&r->res->error, xasprintf("cannot keep the engine's "
			  "output in '%s': %s", logdir, strerror(-lost)));
	}
	if (ret == -ETIMEDOUT) {
		r->res->timed_out = true;
		r->res->errors++;
		str_set_first(&r->res->error, xstrdup("timed out"));
		read_output(r, r->infected_rc, (const char *[]){ out,
			    uses_elog ? elog : NULL, NULL });
		goto done;
	}
	if (ret == -ECANCELED) {
		/* What it found before the stop is still found. */
		r->res->stopped = true;
		read_output(r, r->infected_rc, (const char *[]){ out,
			    uses_elog ? elog : NULL, NULL });
		goto done;
	}
	if (ret < 0) {
		r->res->errors++;
		str_set_first(&r->res->error, xasprintf("cannot run %s: %s",
			  argv.v[0], strerror(-ret)));
		goto done;
	}
	verdict = engine_classify_exit(r->s->e, st);
	r->infected_rc = verdict == ENGINE_INFECTED;
	r->incomplete = false;
	r->summary = 0;
	r->summary_seen = false;
	errors = r->res->errors;
	read_output(r, r->infected_rc, (const char *[]){ out, err,
		    uses_elog ? elog : NULL, NULL });
	/* A failing exit counts once, unless error lines already said why. */
	if (verdict == ENGINE_ERROR) {
		if (r->res->errors == errors)
			r->res->errors++;
		str_set_first(&r->res->error, WIFEXITED(st) ?
			  xasprintf("exited with status %d", WEXITSTATUS(st)) :
			  xasprintf("killed by signal %d", WTERMSIG(st)));
	}
	/* Where only the summary tells "infected", no summary is no verdict. */
	if (verdict == ENGINE_CLEAN && !r->summary_seen &&
	    engine_needs_summary(r->s->e)) {
		r->res->errors++;
		str_set_first(&r->res->error, xstrdup("no summary line in the "
			  "engine's output, so it cannot be called clean"));
	}
	/* "Infected" with nothing to show for it is not clean. */
	if (r->infected_rc && !r->single && !r->incomplete &&
	    r->res->nhits == r->hits_before) {
		r->res->errors++;
		str_set_first(&r->res->error, xstrdup("the exit status says "
			  "infected, but no detection line could be read"));
	}
	/* The engine's own count must not exceed what could be read. */
	if (r->summary > r->res->nhits - r->hits_before) {
		r->res->errors++;
		str_set_first(&r->res->error, xasprintf(
			"the engine counted %lu infected files, but only %zu "
			"detection lines could be read", r->summary,
			r->res->nhits - r->hits_before));
	}
done:
	free(r->told);
	r->told = NULL;
	buf_release(&r->partial);
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
		str_set_first(&res->error, xasprintf("cannot write '%s': %s",
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
		s->daemon_ready_at = time_mono();
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

/* Start the managed daemon now, without waiting for it. */
static void daemon_prestart(struct scanner *s)
{
	if (!engine_manages_daemon(s->e))
		return;
	/* Held: another thread starts it, or waits for it to load. */
	if (pthread_mutex_trylock(&s->daemon_lock))
		return;
	if (!s->daemon && !s->daemon_error)
		daemon_spawn(s);
	pthread_mutex_unlock(&s->daemon_lock);
}

void scanner_prestart(struct scanner *s)
{
	/*
	 * After an update, the full database is started once some content
	 * turns out to need it (from_older()).
	 */
	if (s->older && s->delta)
		daemon_prestart(s->delta);
	if (s->older || (scanner_caches(s) && !s->cold))
		return;
	daemon_prestart(s);
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
		str_set_first(&res->error, xstrdup(s->daemon_error));
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
	char **threat = xcalloc(w->nfiles + 1, sizeof(*threat));

	res->cached += recall_verdicts_lookup(s->verdicts, w, known, threat);
	for (size_t i = 0; i < w->nfiles; i++) {
		if (threat[i])
			add_hit(res, walk_guest_path(w, &w->files[i]),
				threat[i]);
		free(threat[i]);
	}
	free(threat);
}

/*
 * Content without a verdict under the new signatures, but with one under
 * the last ones: what the update did decides.  The old verdict holds if
 * nothing changed, a clean one if detections were only removed (or
 * allow-list entries added); with detections added, clean content is to be
 * checked (check[i]) with only those.  A verdict that holds is kept under
 * the new fingerprint and counts as cached.
 */
static void from_older(struct scanner *s, const struct walk *w, bool *known,
		       bool *check, struct scan_result *res)
{
	bool *had = xcalloc(w->nfiles + 1, sizeof(*had));
	bool *keep = xcalloc(w->nfiles + 1, sizeof(*keep));
	char **threat = xcalloc(w->nfiles + 1, sizeof(*threat));
	bool full = false;
	size_t n = 0;

	memcpy(had, known, w->nfiles * sizeof(*had));
	recall_verdicts_lookup(s->older, w, had, threat);
	for (size_t i = 0; i < w->nfiles; i++) {
		check[i] = false;
		full |= !known[i] && !had[i];
		if (known[i] || !had[i])
			continue;
		/* Infected: the full database names it again. */
		full |= threat[i] && s->update.change != SIGSET_SAME;
		if (threat[i] && s->update.change != SIGSET_SAME)
			continue;
		if (!threat[i] && s->update.change == SIGSET_DELTA) {
			check[i] = true;
			continue;
		}
		if (threat[i])
			add_hit(res, walk_guest_path(w, &w->files[i]),
				threat[i]);
		keep[i] = known[i] = true;
		n++;
	}
	recall_verdicts_keep(s->verdicts, w, keep,
			     (const char *const *)threat);
	res->cached += n;
	/* It loads while the delta scans. */
	if (full)
		daemon_prestart(s);
	for (size_t i = 0; i < w->nfiles; i++)
		free(threat[i]);
	free(threat);
	free(had);
	free(keep);
}

/*
 * Files whose content already has a verdict are not scanned again: marks
 * them known; check: those only the added signatures need to see.
 * Returns how many files are known now.
 */
static size_t from_cache(struct scanner *s, const struct walk *w,
			 bool *known, bool *check, struct scan_result *res)
{
	size_t n = 0;

	if (scanner_caches(s))
		lookup_verdicts(s, w, known, res);
	if (s->older)
		from_older(s, w, known, check, res);
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
	const char **threat;
	bool *keep;

	if (!scanner_caches(s))
		return;
	keep = xcalloc(w->nfiles + 1, sizeof(*keep));
	threat = xcalloc(w->nfiles + 1, sizeof(*threat));
	for (size_t i = 0; i < w->nfiles; i++) {
		const struct walk_file *f = &w->files[i];
		const struct scan_hit *h;

		if (!todo[i] || !f->hashed ||
		    (s->size_limit && f->size > s->size_limit))
			continue;
		h = find_hit(res, walk_guest_path(w, f));
		if (!h && (!no_errors || res->incomplete))
			continue;
		keep[i] = true;
		threat[i] = h ? h->threat : NULL;
	}
	recall_verdicts_keep(s->verdicts, w, keep, threat);
	free(keep);
	free(threat);
}

/* Wait for the verdicts others are computing (the job parks it). */
static int wait_claims(struct scanner *s, const struct walk *w,
		       const bool *wait, double deadline)
{
	struct recall_park park = { 0 };

	if (s->hooks)
		park = (struct recall_park){ s->hooks->idle_leave,
			s->hooks->idle_enter, s->hooks_arg };
	return recall_verdicts_wait(s->verdicts, w, wait, deadline, &park);
}

/* Fold what one run of the engine said into the whole. */
static void merge_run(struct scan_result *into, struct scan_result *from)
{
	for (size_t i = 0; i < from->nhits; i++)
		add_hit(into, from->hits[i].path, from->hits[i].threat);
	into->errors += from->errors;
	if (from->error)
		str_set_first(&into->error, xstrdup(from->error));
	if (from->incomplete)
		str_set_first(&into->incomplete, xstrdup(from->incomplete));
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

/*
 * Scan the todo files marked check (clean under the last signatures) with
 * only the signatures added since (the delta instance).  Those it finds
 * nothing in are clean under the new ones too: kept so, marked known and
 * taken out of todo.  Those it finds something in stay in todo, for the
 * full database to name their threats exactly; so does everything when the
 * delta run fails.  Returns -ECANCELED or -ETIMEDOUT if it ended so.
 */
static int scan_delta(struct run *r, bool *todo, const bool *check,
		      bool *known, const char *logbase)
{
	struct scanner *s = r->s, *d = s->delta;
	const struct walk *w = r->w;
	struct scan_result dres = { 0 };
	struct run dr = { .s = d, .w = w, .mnt = r->mnt, .res = &dres,
			  .deadline = r->deadline };
	bool *dtodo = xcalloc(w->nfiles + 1, sizeof(*dtodo));
	bool *clean = xcalloc(w->nfiles + 1, sizeof(*clean));
	const char **none = xcalloc(w->nfiles + 1, sizeof(*none));
	char *base = xasprintf("%s.delta", logbase);
	bool any = false;
	int ret = 0;

	for (size_t i = 0; i < w->nfiles; i++) {
		dtodo[i] = todo[i] && check[i];
		any |= dtodo[i];
	}
	if (!any)
		goto done;
	if (daemon_check(d, &dres) == 0)
		ret = scan_files(&dr, dtodo, base);
	if (dres.stopped || ret == -ECANCELED) {
		r->res->stopped = true;
		ret = -ECANCELED;
		goto done;
	}
	if (dres.timed_out || ret == -ETIMEDOUT) {
		r->res->timed_out = true;
		r->res->errors++;
		str_set_first(&r->res->error, xstrdup("timed out"));
		ret = -ETIMEDOUT;
		goto done;
	}
	if (dres.errors || dres.incomplete) {
		msg_info("warning: %s: the scan with the added signatures "
			 "failed (%s): scanning with all of them",
			 engine_name(s->e), dres.error ? dres.error :
			 dres.incomplete);
		goto done;
	}
	for (size_t i = 0; i < w->nfiles; i++) {
		const struct walk_file *f = &w->files[i];

		/* Over the size limit: not scanned, so not clean. */
		if (!dtodo[i] || (d->size_limit && f->size > d->size_limit) ||
		    find_hit(&dres, walk_guest_path(w, f)))
			continue;
		clean[i] = known[i] = true;
		todo[i] = false;
		r->res->delta++;
	}
	recall_verdicts_keep(s->verdicts, w, clean, none);
done:
	scan_result_release(&dres);
	free(dtodo);
	free(clean);
	free(none);
	free(base);
	return ret;
}

/* Tell what became known (from the cache) since last told. */
static void tell_known(const struct run *r, const bool *known, bool *told)
{
	uint64_t files = 0, bytes = 0;

	for (size_t i = 0; i < r->w->nfiles; i++) {
		if (!known[i] || told[i])
			continue;
		told[i] = true;
		files++;
		bytes += r->w->files[i].size;
	}
	tell(r, files, bytes);
}

void scanner_run(struct scanner *s, const struct walk *w, const char *mnt,
		 const char *logbase, double deadline,
		 const struct scan_progress *prog, struct scan_result *res)
{
	struct run r = { .s = s, .w = w, .mnt = mnt, .res = res,
			 .deadline = deadline, .prog = prog };
	bool *known = NULL, *todo = NULL, *wait = NULL, *told = NULL;
	bool *check = NULL;

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
			str_set_first(&res->incomplete, xasprintf(
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
	check = xcalloc(w->nfiles + 1, sizeof(*check));
	todo = xcalloc(w->nfiles + 1, sizeof(*todo));
	wait = xcalloc(w->nfiles + 1, sizeof(*wait));
	told = xcalloc(w->nfiles + 1, sizeof(*told));
	/*
	 * Rounds: scan what has no verdict and nobody else is scanning; then
	 * take the verdicts of what others were scanning.  Content they could
	 * not give a verdict for is scanned in the next round.
	 */
	for (unsigned round = 0; ; round++) {
		struct recall_claim *mine;
		unsigned errors = res->errors;
		bool any_todo = false, any_wait = false;
		size_t nknown;
		char *base;
		int ret = 0;

		nknown = from_cache(s, w, known, check, res);
		tell_known(&r, known, told);
		if (nknown == w->nfiles)
			break;
		mine = recall_verdicts_claim(s->verdicts, w, known, todo,
					     wait);
		base = round ? xasprintf("%s.%u", logbase, round) :
			       xstrdup(logbase);
		if (s->delta) {
			ret = scan_delta(&r, todo, check, known, base);
			tell_known(&r, known, told);
		}
		for (size_t i = 0; i < w->nfiles; i++) {
			any_todo |= todo[i];
			any_wait |= wait[i];
		}
		/* The daemon is started only if something is left to scan. */
		if (ret == 0 && any_todo && daemon_check(s, res) < 0) {
			recall_verdicts_unclaim(s->verdicts, mine);
			free(base);
			break;
		}
		if (ret == 0 && any_todo)
			ret = scan_files(&r, todo, base);
		free(base);
		if (!res->stopped && !res->timed_out)
			to_cache(s, w, todo, res, res->errors == errors);
		recall_verdicts_unclaim(s->verdicts, mine);
		/* Scanning told its own progress. */
		for (size_t i = 0; i < w->nfiles; i++) {
			known[i] |= todo[i];
			told[i] |= todo[i];
		}
		if (!any_wait || ret == -ECANCELED || ret == -ETIMEDOUT)
			break;
		ret = wait_claims(s, w, wait, deadline);
		if (ret == -ECANCELED)
			res->stopped = true;
		if (ret == -ETIMEDOUT) {
			res->timed_out = true;
			res->errors++;
			str_set_first(&res->error, xstrdup("timed out"));
		}
		if (ret < 0)
			break;
	}
done:
	if (res->too_large)
		str_set_first(&res->incomplete, xasprintf(
			"%llu file(s) over the engine's size limit of %llu "
			"bytes not scanned", (unsigned long long)res->too_large,
			(unsigned long long)s->size_limit));
	free(known);
	free(check);
	free(todo);
	free(wait);
	free(told);
}

void scanner_set_hooks(struct scanner *s, const struct scan_hooks *hooks,
		       void *arg)
{
	for (; s; s = s->delta) {
		s->hooks = hooks;
		s->hooks_arg = arg;
	}
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

/* scanner_open() with its private directory at dir (taken). */
static int scanner_open_at(struct engine *e, char *dir, struct scanner **out,
			   char **cause)
{
	struct scanner *s = xcalloc(1, sizeof(*s));
	const char *ext = NULL;
	int r;

	s->e = e;
	pthread_mutex_init(&s->daemon_lock, NULL);
	pthread_mutex_init(&s->serial, NULL);
	s->dir = dir;
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

int scanner_open(struct engine *e, const char *jobdir, struct scanner **out,
		 char **cause)
{
	return scanner_open_at(e, xasprintf("%s/engine-%s", jobdir,
					    engine_name(e)), out, cause);
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

/*
 * What else decides what a signature line means, for its set: the engine's
 * name, its version (without ClamAV's "/daily/date", which is the database)
 * and its options, but the one naming the signatures.
 */
static void sigset_context(const struct scanner *s, struct buf *b)
{
	const char *opt = engine_signature_option(s->e);
	const char *v = s->version ? s->version : "";
	struct buf opts = { 0 };
	size_t optlen = strlen(opt);
	char *nl;

	buf_addf(b, "%s\n%.*s\n", engine_name(s->e), (int)strcspn(v, "/"), v);
	engine_describe_options(s->e, &opts);
	for (char *line = opts.p; line && (nl = strchr(line, '\n'));
	     line = nl + 1)
		if (strncmp(line, opt, optlen) || line[optlen] != '=')
			buf_add(b, line, (size_t)(nl + 1 - line));
	buf_release(&opts);
}

/*
 * Remember the signatures' set under the fingerprint: s->sigset_keep, or
 * else read now from s->sigset_paths.
 */
static void *remember_sigset(void *arg)
{
	struct scanner *s = arg;
	struct sigset *now = NULL;
	char *cause = NULL;

	if (s->sigset_keep) {
		sigset_remember(s->sigset_cache, s->fingerprint,
				s->sigset_keep);
	} else if (sigset_read(&s->sigset_paths, s->dir, &now,
			       &cause) == 0) {
		sigset_set_context(now, s->sigset_context.p,
				   s->sigset_context.len);
		sigset_remember(s->sigset_cache, s->fingerprint, now);
	} else {
		msg_info("warning: %s: %s: the next signature update is "
			 "scanned with all signatures", engine_name(s->e),
			 cause);
	}
	sigset_free(now);
	free(cause);
	return NULL;
}

/*
 * Only the next update needs the set of these signatures (set, taken, or
 * read from paths: reading and keeping a production database's takes
 * seconds): kept by a thread of its own meanwhile, joined at the end.
 */
static void remember_later(struct scanner *s, struct cache *c,
			   const struct strv *paths, struct sigset *set)
{
	for (size_t i = 0; i < paths->n; i++)
		strv_push(&s->sigset_paths, paths->v[i]);
	s->sigset_cache = c;
	s->sigset_keep = set;
	s->sigset_started = pthread_create(&s->sigset_thread, NULL,
					   remember_sigset, s) == 0;
	if (!s->sigset_started)
		remember_sigset(s);
}

/* A second instance of the engine, with only the signatures in db. */
static int open_delta(struct scanner *s, const char *db, char **cause)
{
	struct engine *e = NULL;
	int r;

	r = engine_clone(s->e, &e, cause);
	if (r == 0)
		r = engine_set_option(e, engine_signature_option(s->e), db,
				      cause);
	if (r == 0)
		r = scanner_open_at(e, xasprintf("%s/delta", s->dir),
				    &s->delta, cause);
	if (r < 0)
		engine_free(e);
	else
		s->delta->cold = true;
	return r;
}

/*
 * Signatures avbatch can read: keep the set of this fingerprint for the
 * next update.  If the signatures changed since the last fingerprint with
 * verdicts: what the update did (s->update), the verdicts kept under the
 * last one (s->older), and with detections added, an instance with only
 * those (s->delta).  No verdict depends on any of it: when something fails,
 * everything is scanned with the full database.
 */
static void use_sigsets(struct scanner *s, struct cache *c,
			const struct strv *paths)
{
	struct sigset *old = NULL, *now = NULL;
	char *last = NULL, *cause = NULL, *db = NULL;
	struct sigset_diff d = { 0 };
	size_t detections = 0;
	int r;

	if (!s->cold && sigset_remembered(c, s->fingerprint))
		return;
	sigset_context(s, &s->sigset_context);
	if (s->cold)
		last = recall_last_fingerprint(c, engine_name(s->e));
	if (!last || !strcmp(last, s->fingerprint) ||
	    !sigset_remembered(c, last)) {
		remember_later(s, c, paths, NULL);
		free(last);
		return;
	}
	if (sigset_recall(c, last, &old) == 0) {
		db = xasprintf("%s/delta-db", s->dir);
		r = mkdir_private(db);
		if (r < 0)
			cause = xasprintf("cannot create '%s': %s", db,
					  strerror(-r));
		else
			r = sigset_read_delta(paths, old, s->dir, db, &now,
					      &detections, &cause);
	} else {
		r = sigset_read(paths, s->dir, &now, &cause);
	}
	if (r < 0)
		goto done;
	sigset_set_context(now, s->sigset_context.p, s->sigset_context.len);
	/* The thread only reads it, as the comparison below does. */
	remember_later(s, c, paths, now);
	if (!old)
		goto done;
	sigset_diff(old, now, &d);
	s->update = (struct scan_update){ .known = true, .change = d.change,
		.added = d.added, .removed = d.removed, .allowed = d.allowed,
		.why = d.why };
	if (d.change == SIGSET_DELTA && detections)
		r = open_delta(s, db, &cause);
	if (r < 0)
		s->update.change = SIGSET_FULL;
	else if (d.change != SIGSET_FULL)
		s->older = recall_verdicts_open(c, engine_name(s->e), last);
	msg_debug("%s: signatures since the last batch: %s (%zu added, %zu "
		  "removed, %zu allowed)", engine_name(s->e),
		  sigset_change_names[s->update.change], d.added, d.removed,
		  d.allowed);
done:
	if (r < 0) {
		msg_info("warning: %s: %s: content is scanned with all its "
			 "signatures", engine_name(s->e), cause);
		if (s->update.known && !s->update.why)
			s->update.why = xstrdup(cause);
	}
	sigset_free(old);
	free(cause);
	free(last);
	free(db);
}

bool scanner_caches(const struct scanner *s)
{
	return s->verdicts != NULL;
}

int scanner_use_cache(struct scanner *s, struct cache *c, bool delta,
		      char **cause)
{
	struct strv paths = { 0 };
	struct buf head = { 0 };
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
	s->fingerprint = recall_fingerprint(c, ids);
	if (!s->fingerprint) {
		r = digest_signatures(s, &head, &paths, NULL,
				      &s->fingerprint, cause);
		if (r < 0)
			goto done;
		if (!racy)
			recall_fingerprint_keep(c, ids, s->fingerprint);
	}
	s->verdicts = recall_verdicts_open(c, engine_name(s->e),
					   s->fingerprint);
	s->cold = !recall_verdicts_any(s->verdicts);
	/* A running daemon of the operator's has its database loaded. */
	if (delta && engine_signature_sets(s->e) == ENGINE_SIGSETS_CLAMAV &&
	    !engine_external_daemon(s->e))
		use_sigsets(s, c, &paths);
done:
	strv_release(&paths);
	buf_release(&head);
	free(ids);
	return r;
}

void scanner_close(struct scanner *s)
{
	int sig;

	if (!s)
		return;
	if (s->sigset_started)
		pthread_join(s->sigset_thread, NULL);
	strv_release(&s->sigset_paths);
	buf_release(&s->sigset_context);
	sigset_free(s->sigset_keep);
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
	recall_verdicts_close(s->verdicts);
	recall_verdicts_close(s->older);
	free(s->update.why);
	scanner_close(s->delta);
	pthread_mutex_destroy(&s->daemon_lock);
	pthread_mutex_destroy(&s->serial);
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
