/* job.c - a batch: workers and slots, pause and stop, control, state.json */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "job-int.h"
#include "jobdir.h"
#include "json.h"
#include "proc.h"
#include "recall.h"
#include "scan.h"
#include "util.h"

int job_create(const char *state_dir, struct job **out, char **cause)
{
	struct job *j = xcalloc(1, sizeof(*j));
	char stamp[32], host[256] = "";
	unsigned short rnd = 0;
	char *jobs;
	struct tm tm;
	int r;

	j->lock_fd = -1;
	j->timeline_fd = -1;
	j->started = time(NULL);
	gmtime_r(&j->started, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	j->pid_start = proc_start_time(getpid());
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->resumed, NULL);
	pthread_cond_init(&j->slot_free, NULL);
	gethostname(host, sizeof(host) - 1);
	j->host = xstrdup(host);

	r = mkdir_private(state_dir);
	jobs = xasprintf("%s/jobs", state_dir);
	if (!r)
		r = mkdir_private(jobs);
	/* Created with its lock held: alive to cleanup from the first. */
	for (int try = 0; r == 0 && j->lock_fd < 0; try++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (unsigned short)(getpid() + try);
		free(j->id);
		free(j->dir);
		j->id = xasprintf("%s-%04x", stamp, rnd);
		j->dir = xasprintf("%s/%s", jobs, j->id);
		r = jobdir_create(jobs, j->id, &j->lock_fd);
		if ((r == -EEXIST || r == -EAGAIN) && try < 16)
			r = 0;	/* taken, or lost to a cleanup: another name */
	}
	if (r < 0) {
		*cause = xasprintf("cannot create the job directory '%s': %s",
				   j->dir ? j->dir : jobs, strerror(-r));
		free(jobs);
		job_free(j);
		return r;
	}
	free(jobs);
	job_save_state(j);
	*out = j;
	return 0;
}

int job_add_engine(struct job *j, struct engine *e, char **cause)
{
	struct scanner *sc;
	int r;

	r = scanner_open(e, j->dir, &sc, cause);
	if (r < 0) {
		engine_free(e);
		return r;
	}
	j->engines = xreallocarray(j->engines, j->nengines + 1,
				   sizeof(*j->engines));
	j->einfo = xreallocarray(j->einfo, j->nengines + 1,
				 sizeof(*j->einfo));
	j->einfo[j->nengines] = (struct result_engine){
		.name = engine_name(sc->e) };
	j->engines[j->nengines++] = sc;
	return 0;
}

struct target *job_add_target(struct job *j, const char *arg)
{
	const char *slash;
	struct target *t;

	j->targets = xreallocarray(j->targets, j->ntargets + 1,
				   sizeof(*j->targets));
	t = &j->targets[j->ntargets++];
	memset(t, 0, sizeof(*t));
	t->arg = xstrdup(arg);
	t->phase = PHASE_PENDING;
	slash = strrchr(arg, '/');
	t->name = xstrdup(slash && slash[1] ? slash + 1 : arg);
	return t;
}

/* Record progress for status and state.json (main thread only writes). */
/*
 * timeline.jsonl in the job's directory: a line each time a target starts
 * doing something else (seconds since the run began), to see where a
 * batch's time goes (bench/run.sh sums it).  A diagnostic: best effort.
 * Under j->lock.
 */
static void timeline(struct job *j, double at, const struct target *t,
		     const char *what, const char *fs, const char *engine)
{
	struct json_object *o;
	struct buf b = { 0 };

	if (j->timeline_fd < 0)
		return;
	o = json_object_new_object();
	json_put_int(o, "ms", (int64_t)((at - j->run_start) * 1000));
	if (t)
		json_put_str(o, "target", t->name);
	json_put_str(o, "phase", what);
	if (fs)
		json_put_str(o, "fs", fs);
	if (engine)
		json_put_str(o, "engine", engine);
	buf_addf(&b, "%s\n", json_object_to_json_string_ext(o,
		 JSON_C_TO_STRING_PLAIN));
	if (write(j->timeline_fd, b.p, b.len) != (ssize_t)b.len) {
		close(j->timeline_fd);
		j->timeline_fd = -1;
	}
	buf_release(&b);
	json_object_put(o);
}

void job_set_phase(struct job *j, struct target *t,
		   enum target_phase phase, const char *fs, const char *engine)
{
	pthread_mutex_lock(&j->lock);
	if (phase != PHASE_SAME)
		t->phase = phase;
	t->cur_fs = fs;
	t->cur_engine = engine;
	timeline(j, time_mono(), t, target_phase_names[t->phase], fs, engine);
	pthread_mutex_unlock(&j->lock);
	job_save_state(j);
}

/* Hold here while the job is paused (until resumed or stopped). */
void job_pause_gate(struct job *j)
{
	pthread_mutex_lock(&j->lock);
	while (j->paused && !proc_stop_requested())
		cond_wait_ms(&j->resumed, &j->lock, 200);
	pthread_mutex_unlock(&j->lock);
}

static void gate(void *arg)
{
	job_pause_gate(arg);
}

/*
 * Targets in hand (working, or parked: waiting with their disk attached
 * but without a slot) per --jobs slot: no new target starts beyond it.
 */
#define IN_HAND_PER_SLOT	5

static void *worker(void *arg);

/* The target this worker thread works on (for the phase while parked). */
static __thread struct target *working;

/* Start one more worker thread.  Under j->lock. */
static void add_worker(struct job *j)
{
	pthread_t th;

	if (pthread_create(&th, NULL, worker, j) != 0)
		return;
	j->threads = xreallocarray(j->threads, j->nthreads + 1,
				   sizeof(*j->threads));
	j->threads[j->nthreads++] = th;
	j->idle_workers++;
}

/*
 * May a new target start now?  A slot is free, no parked target waits for
 * one, and not too many are in hand.  Under j->lock.
 */
static bool may_start(const struct job *j)
{
	return j->active < j->jobs && !j->resuming &&
	       j->active + j->parked < IN_HAND_PER_SLOT * j->jobs;
}

/* About to wait: park the target; its slot goes to the next one. */
void job_park(void *arg)
{
	struct job *j = arg;

	pthread_mutex_lock(&j->lock);
	j->active--;
	j->parked++;
	if (working) {
		working->phase = PHASE_WAITING;
		timeline(j, time_mono(), working, "waiting", NULL, NULL);
	}
	if (!j->idle_workers && j->next < j->ntargets && may_start(j))
		add_worker(j);
	pthread_cond_broadcast(&j->slot_free);
	pthread_mutex_unlock(&j->lock);
	job_save_state(j);
}

/*
 * Done waiting: take a slot back (before any new target starts) once the
 * job is not paused.
 */
void job_unpark(void *arg)
{
	struct job *j = arg;

	pthread_mutex_lock(&j->lock);
	j->resuming++;
	while ((j->active >= j->jobs || j->paused) && !proc_stop_requested())
		cond_wait_ms(&j->slot_free, &j->lock, 200);
	j->resuming--;
	j->parked--;
	j->active++;
	if (working) {
		working->phase = PHASE_SCANNING;
		timeline(j, time_mono(), working, "scanning", working->cur_fs,
			 working->cur_engine);
	}
	pthread_cond_broadcast(&j->slot_free);
	pthread_mutex_unlock(&j->lock);
	job_save_state(j);
}

static double paused_time(const struct job *j)
{
	return j->paused_total + (j->paused ? time_mono() - j->paused_since :
				  0);
}

/*
 * The whole job's bytes done and to scan, and the seconds left at the rate
 * measured so far (-1: not known yet).  A target not walked yet counts as
 * the mean of those walked.  Under j->lock.
 */
static double job_eta(const struct job *j, uint64_t *done, uint64_t *total)
{
	uint64_t walked_total = 0;
	size_t walked = 0, unwalked = 0;
	double el = time_mono() - j->run_start - paused_time(j), rate;

	*done = *total = 0;
	for (size_t i = 0; i < j->ntargets; i++) {
		const struct target *t = &j->targets[i];

		*done += t->bytes_done;
		*total += t->bytes_total;
		if (t->bytes_total) {
			walked_total += t->bytes_total;
			walked++;
		} else if (t->phase != PHASE_DONE) {
			unwalked++;
		}
	}
	if (walked)
		*total += walked_total / walked * unwalked;
	rate = el > 0 ? (double)*done / el : 0;
	if (rate <= 0 || *total < *done)
		return -1;
	return (double)(*total - *done) / rate;
}

struct json_object *job_status(struct job *j)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ts = json_object_new_array();
	struct json_object *pids = json_object_new_array();
	struct proc_child *ch = NULL;
	size_t n = proc_children(&ch), done = 0;
	char *t0 = time_iso8601(j->started);
	uint64_t bdone, btotal, fdone = 0, ftotal = 0;
	double eta;

	pthread_mutex_lock(&j->lock);
	json_put_str(o, "job", j->id);
	json_put_int(o, "pid", getpid());
	json_put_int(o, "pid_start", (int64_t)j->pid_start);
	json_put_str(o, "dir", j->dir);
	json_put_str(o, "started", t0);
	json_put_str(o, "state", j->finished ? "finished" :
		     proc_stop_requested_peek() ? "stopping" :
		     j->paused ? "paused" : "running");
	json_put_double(o, "elapsed_s", difftime(j->finished ? j->finished :
						  time(NULL), j->started));
	for (size_t i = 0; i < j->ntargets; i++) {
		struct target *t = &j->targets[i];
		struct json_object *x = json_object_new_object();
		double el = t->started_at ? time_mono() - t->started_at : 0;

		done += t->phase == PHASE_DONE;
		json_put_str(x, "name", t->name);
		json_put_str(x, "state", target_phase_names[t->phase]);
		json_put_str(x, "status", target_status_names[t->status]);
		json_put_str(x, "fs", t->cur_fs);
		json_put_str(x, "engine", t->cur_engine);
		fdone += t->files_done;
		ftotal += t->files_total;
		json_put_int(x, "files_done", (int64_t)t->files_done);
		json_put_int(x, "files_total", (int64_t)t->files_total);
		json_put_int(x, "bytes_done", (int64_t)t->bytes_done);
		json_put_int(x, "bytes_total", (int64_t)t->bytes_total);
		if (t->phase == PHASE_SCANNING) {
			el -= paused_time(j);
			json_put_double(x, "elapsed_s", el > 0 ? el : 0);
			if (t->bytes_done && t->bytes_total > t->bytes_done)
				json_put_double(x, "eta_s", el / (double)
					t->bytes_done * (double)(t->bytes_total -
					t->bytes_done));
		}
		json_object_array_add(ts, x);
	}
	json_put_int(o, "targets_done", (int64_t)done);
	json_put_int(o, "files_done", (int64_t)fdone);
	json_put_int(o, "files_total", (int64_t)ftotal);
	eta = job_eta(j, &bdone, &btotal);
	json_put_int(o, "bytes_done", (int64_t)bdone);
	json_put_int(o, "bytes_total", (int64_t)btotal);
	if (eta >= 0 && !j->finished)
		json_put_double(o, "eta_s", eta);
	json_put_obj(o, "targets", ts);
	pthread_mutex_unlock(&j->lock);
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_new_object();

		json_put_int(p, "pid", ch[i].pid);
		json_put_int(p, "start", (int64_t)ch[i].start);
		json_put_str(p, "role", ch[i].tag ? "engine" : "helper");
		json_object_array_add(pids, p);
	}
	json_put_obj(o, "processes", pids);
	free(ch);
	free(t0);
	return o;
}

/* state.json: what status says, readable even when the job is gone. */
void job_save_state(struct job *j)
{
	static pthread_mutex_t save = PTHREAD_MUTEX_INITIALIZER;
	struct json_object *o = job_status(j);
	char *path = xasprintf("%s/state.json", j->dir);

	pthread_mutex_lock(&save);	/* one writer of state.json at a time */
	json_write(o, path);
	pthread_mutex_unlock(&save);
	json_object_put(o);
	free(path);
}

static void save_state_cb(void *j)
{
	job_save_state(j);
}

/*
 * Freeze or thaw the engines: the descriptor's pause/resume command, or a
 * signal to each engine process group (STOP/CONT by default).
 */
static void signal_engines(enum engine_action a, int dflt)
{
	struct proc_child *ch = NULL;
	size_t n = proc_children(&ch);

	for (size_t i = 0; i < n; i++) {
		struct scanner *sc = ch[i].tag;
		int sig;

		if (!sc)
			continue;
		sig = engine_action_signal(sc->e, a);
		if (!sig && engine_has_action(sc->e, a)) {
			bool first = true;

			for (size_t k = 0; k < i; k++)
				first &= ch[k].tag != sc;
			if (first)
				scanner_action(sc, a);
			continue;
		}
		kill(-ch[i].pid, sig ? sig : dflt);
	}
	free(ch);
}

/* The control socket's commands (ctl.c's thread calls this). */
static struct json_object *control(void *arg, const char *cmd, char **cause)
{
	struct job *j = arg;
	bool was;

	if (!strcmp(cmd, "status"))
		return job_status(j);
	if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) {
		bool pause = !strcmp(cmd, "pause");

		pthread_mutex_lock(&j->lock);
		was = j->paused;
		if (pause && !was)
			j->paused_since = time_mono();
		if (!pause && was)
			j->paused_total += time_mono() - j->paused_since;
		j->paused = pause;
		pthread_mutex_unlock(&j->lock);
		if (pause != was)
			signal_engines(pause ? ENGINE_PAUSE : ENGINE_RESUME,
				       pause ? SIGSTOP : SIGCONT);
		if (!pause)
			pthread_cond_broadcast(&j->resumed);
		job_save_state(j);
		return job_status(j);
	}
	if (!strcmp(cmd, "stop")) {
		msg_info("stop requested from the control socket");
		proc_request_stop();
		return job_status(j);
	}
	*cause = xasprintf("unknown command '%s'", cmd);
	return NULL;
}

void job_progress(struct job *j, struct job_progress *p)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < j->ntargets; i++)
		p->targets_done += j->targets[i].phase == PHASE_DONE;
	p->targets = j->ntargets;
	p->elapsed = time_mono() - j->run_start - paused_time(j);
	p->eta = job_eta(j, &p->bytes_done, &p->bytes_total);
	p->paused = j->paused;
	p->ended = j->ended;
	pthread_mutex_unlock(&j->lock);
}

/* The progress callback, once a second until the job ends, then once more. */
static void *progress_loop(void *arg)
{
	struct job *j = arg;
	struct job_progress p;

	pthread_mutex_lock(&j->lock);
	while (!j->ended) {
		pthread_mutex_unlock(&j->lock);
		job_progress(j, &p);
		j->progress(&p, j->progress_arg);
		pthread_mutex_lock(&j->lock);
		cond_wait_ms(&j->resumed, &j->lock, 1000);
	}
	pthread_mutex_unlock(&j->lock);
	job_progress(j, &p);
	j->progress(&p, j->progress_arg);
	return NULL;
}

/* A worker: takes the next target while there is one and it may start. */
static void *worker(void *arg)
{
	struct job *j = arg;

	for (;;) {
		struct target *t;
		size_t i;

		pthread_mutex_lock(&j->lock);
		while (j->next < j->ntargets && (j->paused || !may_start(j)) &&
		       !proc_stop_requested())
			cond_wait_ms(&j->slot_free, &j->lock, 200);
		i = j->next;
		if (i < j->ntargets) {
			j->next++;
			j->active++;
			j->idle_workers--;
		}
		pthread_mutex_unlock(&j->lock);
		if (i >= j->ntargets)
			break;
		t = &j->targets[i];
		if (proc_stop_requested()) {
			target_fail(t, TARGET_STOPPED, xstrdup("stopped before "
							  "it started"));
			job_set_phase(j, t, PHASE_DONE, NULL, NULL);
		} else {
			msg_info("scanning %s", t->arg);
			working = t;
			target_run(j, t, i);
			working = NULL;
		}
		pthread_mutex_lock(&j->lock);
		j->active--;
		j->idle_workers++;
		pthread_cond_broadcast(&j->slot_free);
		pthread_mutex_unlock(&j->lock);
	}
	return NULL;
}

/*
 * --jobs workers, and one more whenever a target parks and no worker is
 * free to start the next; the first runs in this thread if none starts.
 */
static void run_workers(struct job *j)
{
	static const struct scan_hooks hooks = {
		.gate = gate, .idle_leave = job_park,
		.idle_enter = job_unpark,
	};

	for (size_t e = 0; e < j->nengines; e++)
		scanner_set_hooks(j->engines[e], &hooks, j);
	pthread_mutex_lock(&j->lock);
	for (unsigned i = 0; i < j->jobs; i++)
		add_worker(j);
	if (!j->nthreads) {
		j->idle_workers++;
		pthread_mutex_unlock(&j->lock);
		worker(j);
		pthread_mutex_lock(&j->lock);
	}
	/* Workers start workers: join until the last one has ended. */
	for (size_t i = 0; i < j->nthreads; i++) {
		pthread_t th = j->threads[i];

		pthread_mutex_unlock(&j->lock);
		pthread_join(th, NULL);
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
}

void job_run(struct job *j)
{
	char *sock = xasprintf("%s/%s", j->dir, CTL_SOCKET);
	char *cause = NULL, *tl;
	pthread_t bar;
	bool show;

	/* What the batch need not do again (nothing without a cache). */
	if (!j->recall)
		j->recall = recall_open(NULL);
	if (ctl_start(sock, control, j, &j->ctl, &cause) < 0) {
		msg_info("%s; status, pause, resume and stop will not reach "
			 "this job", cause);
		free(cause);
	}
	free(sock);
	proc_on_change(save_state_cb, j);
	job_save_state(j);
	tl = xasprintf("%s/timeline.jsonl", j->dir);
	j->timeline_fd = open(tl, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			      O_CLOEXEC, 0600);
	free(tl);
	j->run_start = time_mono();
	show = j->progress &&
	       pthread_create(&bar, NULL, progress_loop, j) == 0;
	run_workers(j);
	j->stopped = proc_stop_requested();
	pthread_mutex_lock(&j->lock);
	/* When each engine's daemon started and had its signatures loaded. */
	for (size_t i = 0; i < j->nengines; i++) {
		const struct scanner *sc = j->engines[i];

		if (sc->daemon_since > 0)
			timeline(j, sc->daemon_since, NULL, "daemon-start",
				 NULL, engine_name(sc->e));
		if (sc->daemon_ready_at > 0)
			timeline(j, sc->daemon_ready_at, NULL, "daemon-ready",
				 NULL, engine_name(sc->e));
	}
	j->ended = true;
	pthread_cond_broadcast(&j->resumed);
	pthread_mutex_unlock(&j->lock);
	if (show)
		pthread_join(bar, NULL);
	proc_on_change(NULL, NULL);
	ctl_stop(j->ctl);
	j->ctl = NULL;
	proc_reap_orphans();
	j->finished = time(NULL);
	job_save_state(j);
}

void job_set_options(struct job *j, struct job_options *o)
{
	j->jobs = o->jobs;
	j->timeout = o->timeout;
	strv_release(&j->exclude);
	j->exclude = o->exclude;
	o->exclude = (struct strv){ 0 };
	j->snapshots = o->snapshots;
	if (o->host) {
		free(j->host);
		j->host = xstrdup(o->host);
	}
	j->progress = o->progress;
	j->progress_arg = o->progress_arg;
}

int job_use_cache(struct job *j, struct cache *c, bool delta, char **cause)
{
	recall_close(j->recall);
	j->recall = recall_open(c);
	for (size_t i = 0; i < j->nengines; i++) {
		int r = scanner_use_cache(j->engines[i], c, delta,
					  cause);

		if (r < 0)
			return r;
	}
	return 0;
}

const char *job_id(const struct job *j)
{
	return j->id;
}

const char *job_dir(const struct job *j)
{
	return j->dir;
}

/* What a signature update meant for an engine, for the report. */
static void job_update_info(const struct scan_update *u,
			    struct result_engine *e)
{
	e->updated = u->known;
	e->change = sigset_change_names[u->change];
	e->added = u->added;
	e->removed = u->removed;
	e->allowed = u->allowed;
	e->full_why = u->change == SIGSET_FULL ? u->why : NULL;
}

const struct results *job_results(struct job *j)
{
	struct results *r = &j->results;

	/* An engine's version may have been read again while it ran. */
	for (size_t i = 0; i < j->nengines; i++) {
		j->einfo[i].binary = j->engines[i]->binary;
		j->einfo[i].version = j->engines[i]->version;
		job_update_info(&j->engines[i]->update, &j->einfo[i]);
	}
	*r = (struct results){
		.id = j->id, .host = j->host,
		.started = j->started, .finished = j->finished,
		.targets = j->targets, .ntargets = j->ntargets,
		.engines = j->einfo, .nengines = j->nengines,
		.stopped = j->stopped,
	};
	return r;
}

void job_free(struct job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->ntargets; i++)
		target_release(&j->targets[i]);
	for (size_t i = 0; i < j->nengines; i++)
		scanner_close(j->engines[i]);
	recall_close(j->recall);
	free(j->engines);
	free(j->einfo);
	free(j->targets);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->resumed);
	pthread_cond_destroy(&j->slot_free);
	free(j->threads);
	free(j->id);
	free(j->dir);
	free(j->host);
	strv_release(&j->exclude);
	if (j->timeline_fd >= 0)
		close(j->timeline_fd);
	if (j->lock_fd >= 0)
		close(j->lock_fd);	/* the job directory may go now */
	free(j);
}
