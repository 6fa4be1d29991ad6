/* job.c - a batch: targets, their file systems, scanning, results */
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
#include "image.h"
#include "job.h"
#include "jobdir.h"
#include "json.h"
#include "mount.h"
#include "proc.h"
#include "recall.h"
#include "scan.h"
#include "util.h"
#include "walk.h"

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
};

int job_create(const char *state_dir, struct job **out, char **cause)
{
	struct job *j = xcalloc(1, sizeof(*j));
	char stamp[32], host[256] = "";
	unsigned short rnd = 0;
	char *jobs;
	struct tm tm;
	int r;

	j->lock_fd = -1;
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

static void fs_fail(struct fs_result *r, enum fs_status status,
		    char *reason)
{
	r->status = status;
	free(r->reason);
	r->reason = reason;
}

/*
 * Fold one engine's result for a file system, walked as w and mounted at mnt,
 * into the target; each detection gets the hash of the content scanned.
 */
static void merge_result(struct target *t, struct fs *fs,
			 struct fs_result *res, const struct scanner *sc,
			 struct scan_result *sr, const struct walk *w,
			 const char *mnt)
{
	const char *name = engine_name(sc->e);

	for (size_t i = 0; i < sr->nhits; i++) {
		const struct btrfs_subvol *sv = NULL;
		char *path = btrfs_guest_path(&fs->subvols, sr->hits[i].path,
					      &sv);
		struct detection *d = result_add_detection(t, fs->id, path,
			strlen(path), sr->hits[i].threat, name,
			sv ? sv->path : NULL);

		free(path);
		/* The content scanned, by its path below the mount. */
		if (!d->hashed)
			d->hashed = walk_sha256(w, mnt, sr->hits[i].path,
						d->sha256) == 0;
	}
	/* Counts: what the engines handed their files to saw at most. */
	if (sr->scanned > res->scanned)
		res->scanned = sr->scanned;
	if (sr->bytes > res->bytes)
		res->bytes = sr->bytes;
	if (sr->cached > res->cached)
		res->cached = sr->cached;
	if (sr->delta > res->delta)
		res->delta = sr->delta;
	if (sr->too_large > res->skipped[SKIP_TOO_LARGE])
		res->skipped[SKIP_TOO_LARGE] = sr->too_large;
	res->engine_errors += sr->errors;
	if (sr->timed_out) {
		fs_fail(res, FS_ERROR, xstrdup("timed out"));
		res->timed_out = true;
	} else if (sr->stopped) {
		fs_fail(res, FS_STOPPED, xstrdup("stopped"));
	} else if (sr->errors) {
		fs_fail(res, FS_ERROR, xasprintf("%s: %s", name, sr->error ?
						sr->error : "failed"));
	} else if (sr->incomplete) {
		res->uncovered = true;
		if (!res->reason)
			res->reason = xasprintf("%s: %s", name,
						sr->incomplete);
	}
}

/* progress() with this phase leaves the target's as it is. */
#define PHASE_SAME	PHASE_NPHASES

/* Record progress for status and state.json (main thread only writes). */
static void progress(struct job *j, struct target *t,
		     enum target_phase phase, const char *fs,
		     const char *engine)
{
	pthread_mutex_lock(&j->lock);
	if (phase != PHASE_SAME)
		t->phase = phase;
	t->cur_fs = fs;
	t->cur_engine = engine;
	pthread_mutex_unlock(&j->lock);
	job_save_state(j);
}

/* Hold here while the job is paused (until resumed or stopped). */
static void pause_gate(struct job *j)
{
	pthread_mutex_lock(&j->lock);
	while (j->paused && !proc_stop_requested())
		cond_wait_ms(&j->resumed, &j->lock, 200);
	pthread_mutex_unlock(&j->lock);
}

static void gate(void *arg)
{
	pause_gate(arg);
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
static void idle_leave(void *arg)
{
	struct job *j = arg;

	pthread_mutex_lock(&j->lock);
	j->active--;
	j->parked++;
	if (working)
		working->phase = PHASE_WAITING;
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
static void idle_enter(void *arg)
{
	struct job *j = arg;

	pthread_mutex_lock(&j->lock);
	j->resuming++;
	while ((j->active >= j->jobs || j->paused) && !proc_stop_requested())
		cond_wait_ms(&j->slot_free, &j->lock, 200);
	j->resuming--;
	j->parked--;
	j->active++;
	if (working)
		working->phase = PHASE_SCANNING;
	pthread_cond_broadcast(&j->slot_free);
	pthread_mutex_unlock(&j->lock);
	job_save_state(j);
}

/* A file system on its way: mounted and walked, then scanned. */
struct fs_work {
	struct mnt *m;
	char *mnt;
	struct mnt *sm;		/* NTFS: the mount that opens named streams */
	char *smnt;
	struct walk w;
	bool walked;
};

/*
 * Before a file system's next step: wait while paused; fail it if the
 * batch is stopping or the target's time is up.  False when failed.
 */
static bool fs_gate(struct job *j, struct target *t, struct fs_result *res)
{
	pause_gate(j);
	if (proc_stop_requested()) {
		fs_fail(res, FS_STOPPED, xstrdup("stopped"));
		return false;
	}
	if (t->deadline && time_mono() >= t->deadline) {
		fs_fail(res, FS_ERROR, xstrdup("timed out"));
		res->timed_out = true;
		res->uncovered = true;
		return false;
	}
	return true;
}

/*
 * NTFS named data streams, read through a second mount (mount_streams):
 * if that cannot be mounted, the file system is not fully covered.
 */
static void walk_ntfs_streams(struct target *t, size_t k, struct attach *a,
			      const char *workdir, bool hash,
			      struct fs_work *fw)
{
	struct fs *fs = &t->img->fs[k];
	struct fs_result *res = &t->fsr[k];
	char *cause = NULL;
	int r;

	/* No fs name holds '#' (LVM names cannot). */
	fw->smnt = xasprintf("%s/%s#streams", workdir, fs->name);
	r = mount_streams(a, fs, fw->smnt, &fw->sm, &cause);
	if (r < 0) {
		res->uncovered = true;
		free(res->reason);
		res->reason = xasprintf("named data streams not scanned: %s",
					cause);
		free(cause);
		return;
	}
	walk_streams(&fw->w, fw->smnt, hash);
}

/*
 * btrfs: which subvolumes the walk of the top level went through, which
 * are snapshots, and where the guest mounts them (for the paths reported).
 */
static void read_subvols(struct target *t, size_t k, struct fs_work *fw)
{
	struct fs *fs = &t->img->fs[k];
	char *cause = NULL;

	btrfs_layout_release(&fs->subvols);
	if (btrfs_read_layout(fw->mnt, &fw->w.subtrees, fs->uuid,
			      &fs->subvols, &cause) < 0) {
		/* Paths stay as they are below the top level. */
		msg_info("%s: %s: %s", t->name, fs->id, cause);
		btrfs_layout_release(&fs->subvols);
	}
	free(cause);
}

/* Mount one file system and walk it (hashing what caching engines need). */
static void fs_walk(struct job *j, struct target *t, size_t k,
		    struct attach *a, struct attach **rw,
		    const struct image_map *map, const char *workdir,
		    struct fs_work *fw)
{
	struct fs *fs = &t->img->fs[k];
	struct fs_result *res = &t->fsr[k];
	struct recall_place pl;
	struct mount_source src = { .img = t->img, .name = t->name,
				    .ro = a, .rw = rw, .workdir = workdir };
	struct mount_note note;
	bool hash = false, locate;
	char *cause = NULL;
	int r;

	recall_place_init(j->recall, map, fs->offset, &pl);
	fw->mnt = xasprintf("%s/%s", workdir, fs->name);
	r = mount_filesystem(&src, k, fw->mnt, &fw->m, &note, &cause);
	if (note.uncovered) {
		res->uncovered = true;
		free(res->reason);
		res->reason = note.reason;
		note.reason = NULL;
	}
	mount_note_release(&note);
	if (r == 0 && note.replayed)
		res->journal_replayed = true;
	if (r < 0) {
		fs_fail(res, r == -ECANCELED ? FS_STOPPED : FS_ERROR, cause);
		res->uncovered = true;
		return;
	}
	msg_debug("%s: mounted %s (%s) at %s", t->name, fs->id,
		  fs->plan.driver, fw->mnt);
	for (size_t e = 0; e < j->nengines; e++)
		hash |= scanner_caches(j->engines[e]);
	/* A replayed journal is read through an overlay, not the map's chain. */
	locate = hash && map && recall_place_known(fs) && !fs->plan.replay;
	fw->w.exclude = &j->exclude;
	r = walk_fs(&fw->w, fw->mnt, hash, locate ? &pl.loc : NULL);
	if (r == 0 && locate) {
		size_t known = 0;

		for (size_t i = 0; i < fw->w.nfiles; i++)
			known += fw->w.files[i].recalled;
		msg_debug("%s: %s: %zu of %zu files known by where they lie",
			  t->name, fs->id, known, fw->w.nfiles);
		recall_place_remember(j->recall, &fw->w);
	}
	if (r < 0) {
		fs_fail(res, FS_ERROR, xasprintf("cannot walk the file system: "
						"%s", strerror(-r)));
		res->uncovered = true;
		return;
	}
	if (mount_has_streams(fs))
		walk_ntfs_streams(t, k, a, workdir, hash, fw);
	if (fs->type && !strcmp(fs->type, "btrfs"))
		read_subvols(t, k, fw);
	fw->walked = true;
	res->seen = fw->w.seen;
	res->streams = fw->w.nstreams;
	memcpy(res->skipped, fw->w.skipped, sizeof(res->skipped));
	if (fw->w.skipped[SKIP_UNREADABLE] ||
	    fw->w.skipped[SKIP_PATH_TOO_LONG]) {
		res->uncovered = true;
		res->reason = xstrdup("some entries could not be read");
	} else if (fw->w.skipped[SKIP_EXCLUDED]) {
		res->uncovered = true;
		res->reason = xasprintf("%llu entries excluded (--exclude)",
			(unsigned long long)fw->w.skipped[SKIP_EXCLUDED]);
	}
}

/* A target's files and bytes finished, as scanner_run tells them. */
struct target_progress {
	struct job *j;
	struct target *t;
};

static void files_done(void *arg, uint64_t files, uint64_t bytes)
{
	struct target_progress *p = arg;

	pthread_mutex_lock(&p->j->lock);
	p->t->files_done += files;
	p->t->bytes_done += bytes;
	pthread_mutex_unlock(&p->j->lock);
}

/* Scan a walked file system with every engine. */
static void fs_scan(struct job *j, struct target *t, size_t k,
		    const char *workdir, struct fs_work *fw)
{
	struct fs *fs = &t->img->fs[k];
	struct fs_result *res = &t->fsr[k];
	struct target_progress tp = { j, t };
	const struct scan_progress prog = { files_done, &tp };

	for (size_t e = 0; e < j->nengines; e++) {
		struct scan_result sr = { 0 };
		char *base = xasprintf("%s/%s.%s", workdir, fs->name,
				       engine_name(j->engines[e]->e));

		pause_gate(j);
		progress(j, t, PHASE_SAME, fs->id, engine_name(j->engines[e]->e));
		scanner_run(j->engines[e], &fw->w, fw->mnt, base, t->deadline,
			    &prog, &sr);
		merge_result(t, fs, res, j->engines[e], &sr, &fw->w, fw->mnt);
		scan_result_release(&sr);
		free(base);
		if (res->status == FS_STOPPED || res->timed_out)
			break;
	}
	/* Scanned only if no file was left out. */
	if (res->status == FS_PENDING)
		res->status = res->uncovered ? FS_PARTIAL : FS_SCANNED;
}

static void fs_work_release(struct fs_work *fw)
{
	mount_release(fw->sm);
	fw->sm = NULL;
	free(fw->smnt);
	fw->smnt = NULL;
	mount_release(fw->m);
	fw->m = NULL;
	walk_release(&fw->w);
	free(fw->mnt);
	fw->mnt = NULL;
}

/*
 * Mount and walk every file system of the target first (while the engine
 * daemon loads its signatures), then scan them one by one.
 */
static void scan_filesystems(struct job *j, struct target *t,
			     struct attach *a, struct attach **rw,
			     const struct image_map *map, const char *workdir)
{
	struct fs_work *fws = xcalloc(t->img->nfs + 1, sizeof(*fws));
	struct recall_park park = { idle_leave, idle_enter, j };
	const char *lead = recall_lead_begin(j->recall, map, &park);
	char *cause = NULL;

	for (size_t k = 0; k < t->img->nfs; k++) {
		struct fs *fs = &t->img->fs[k];
		struct fs_result *res = &t->fsr[k];

		if (fs->plan.skip) {
			fs_fail(res, FS_SKIPPED, xstrdup(fs->plan.skip));
			res->uncovered = fs->plan.uncovered;
			continue;
		}
		if (!fs_gate(j, t, res))
			continue;
		progress(j, t, PHASE_SAME, fs->id, NULL);
		fs_walk(j, t, k, a, rw, map, workdir, &fws[k]);
	}
	recall_lead_end(j->recall, lead);
	/* What there is to scan: every walked file, for every engine. */
	pthread_mutex_lock(&j->lock);
	for (size_t k = 0; k < t->img->nfs; k++) {
		if (!fws[k].walked)
			continue;
		t->files_total += fws[k].w.nfiles * j->nengines;
		t->bytes_total += fws[k].w.bytes * j->nengines;
	}
	pthread_mutex_unlock(&j->lock);
	for (size_t k = 0; k < t->img->nfs; k++) {
		struct fs_result *res = &t->fsr[k];

		if (fws[k].walked && fs_gate(j, t, res))
			fs_scan(j, t, k, workdir, &fws[k]);
		if (fws[k].walked && (mount_attach_check(a, &cause) < 0 ||
				      mount_attach_check(*rw, &cause) < 0)) {
			fs_fail(res, FS_ERROR, cause);
			cause = NULL;
			res->uncovered = true;
		}
		fs_work_release(&fws[k]);
	}
	free(fws);
}

/*
 * --snapshots: every internal snapshot of the image is copied out
 * (image_snapshot_copy, a sparse raw file in workdir: qemu's block driver
 * cannot open a snapshot read-only in place) and its file systems scanned
 * like the current state's; what is found there names the snapshot.  The
 * verdict cache makes the files it shares with the current state cheap.
 */
static void scan_snapshots(struct job *j, struct target *t,
			   const char *workdir)
{
	struct image *cur = t->img;
	struct fs_result *cur_fsr = t->fsr;

	for (size_t k = 0; k < cur->snapshots.n; k++) {
		/* Names are the guest's: files and reasons use the index. */
		char *dir = xasprintf("%s/s%zu", workdir, k);
		char *copy = xasprintf("%s/s%zu.raw", workdir, k);
		const char *name = cur->snapshots.v[k];
		struct attach *a = NULL, *rw = NULL;
		struct image *simg = NULL;
		struct fs_result *fsr = NULL;
		char *cause = NULL;
		int r;

		r = mkdir_private(dir);
		if (r < 0)
			cause = xasprintf("cannot create '%s': %s", dir,
					  strerror(-r));
		if (r == 0)
			r = image_snapshot_copy(cur, k, copy, &cause);
		if (r == 0)
			r = image_open(copy, "raw", &simg, &cause);
		if (r == 0)
			r = mount_attach(simg, dir, &a, &cause);
		if (r == 0)
			r = image_read_layout(simg, mount_attach_view(a),
					      &cause);
		if (r == 0)
			mount_plan(simg);
		if (r == 0) {
			fsr = xcalloc(simg->nfs + 1, sizeof(*fsr));
			pthread_mutex_lock(&j->lock);
			t->img = simg;
			t->fsr = fsr;
			t->scan_snapshot = name;
			pthread_mutex_unlock(&j->lock);
			scan_filesystems(j, t, a, &rw, NULL, dir);
			pthread_mutex_lock(&j->lock);
			t->img = cur;
			t->fsr = cur_fsr;
			t->scan_snapshot = NULL;
			/* Progress named the copy's file systems: not after it. */
			t->cur_fs = NULL;
			pthread_mutex_unlock(&j->lock);
			for (size_t f = 0; f < simg->nfs; f++) {
				if (!t->snapshot_gap && (fsr[f].uncovered ||
				    (fsr[f].status != FS_SCANNED &&
				     fsr[f].status != FS_SKIPPED)))
					t->snapshot_gap = xasprintf(
						"internal snapshot %zu not "
						"fully scanned: %s: %s", k + 1,
						simg->fs[f].id, fsr[f].reason ?
						fsr[f].reason : "not covered");
				free(fsr[f].reason);
			}
		} else if (!t->snapshot_gap) {
			t->snapshot_gap = xasprintf("internal snapshot %zu "
						    "not scanned: %s", k + 1,
						    cause);
		}
		free(cause);
		free(fsr);
		mount_detach(rw);
		mount_detach(a);
		image_free(simg);
		unlink(copy);
		rmdir(dir);
		free(copy);
		free(dir);
	}
	t->snapshots_scanned = true;
}

static void target_fail(struct target *t, enum target_status status,
			char *reason)
{
	t->status = status;
	free(t->reason);
	t->reason = reason;
}

/* The key t's result is recalled by (recall.h), or NULL. */
static char *recall_key(const struct job *j, const struct target *t)
{
	struct recall_verdicts **v = xcalloc(j->nengines + 1, sizeof(*v));
	char *key;

	for (size_t i = 0; i < j->nengines; i++)
		v[i] = j->engines[i]->verdicts;
	key = recall_target_key(j->recall, t->arg, t->format, v, j->nengines,
				&j->exclude, j->snapshots);
	free(v);
	return key;
}

/* Remember t's result if its image files did not change meanwhile. */
static void remember(struct job *j, struct target *t, const char *key,
		     const char *ids)
{
	if (!key || !ids || !target_complete(t))
		return;
	recall_target_store(j->recall, key, ids, t->img->path,
			    &t->img->backing, result_target_json(t, j->host));
}

static void run_target(struct job *j, struct target *t, size_t idx)
{
	struct attach *a = NULL, *rw = NULL;
	char *cause = NULL;
	char *workdir = xasprintf("%s/t%zu", j->dir, idx);
	char *key = NULL;
	struct buf ids = { 0 };
	struct image_map map = { 0 };
	struct json_object *memo = NULL;
	double t0 = time_mono();
	int r;

	t->started_at = t0;
	/* A target the job it resumes finished keeps that result. */
	if (t->recalled) {
		progress(j, t, PHASE_DONE, NULL, NULL);
		free(workdir);
		return;
	}
	if (t->skip) {
		target_fail(t, TARGET_SKIPPED, xstrdup(t->skip));
		goto done;
	}
	if (j->timeout > 0)
		t->deadline = t0 + j->timeout;
	progress(j, t, PHASE_OPENING, NULL, NULL);
	r = mount_check_in_use(t->arg, &cause);
	if (r == -EBUSY) {
		target_fail(t, TARGET_SKIPPED, cause);
		goto done;
	}
	free(cause);
	cause = NULL;
	key = recall_key(j, t);
	if (key && recall_target_lookup(j->recall, key, &memo) == 0 &&
	    result_target_load(t, memo, j->einfo, j->nengines) == 0) {
		msg_debug("%s: unchanged since it was scanned: result recalled",
			  t->name);
		goto done;
	}
	/* Daemons load their signatures while this target is attached. */
	for (size_t e = 0; e < j->nengines; e++)
		scanner_prestart(j->engines[e]);
	r = image_open(t->arg, t->format, &t->img, &cause);
	if (r < 0) {
		target_fail(t, TARGET_ERROR, cause);
		goto done;
	}
	if (key && recall_chain_identity(t->img->path, &t->img->backing,
					  &ids) < 0)
		buf_release(&ids);
	r = mkdir_private(workdir);
	if (r < 0) {
		target_fail(t, TARGET_ERROR, xasprintf("cannot create '%s': %s",
						  workdir, strerror(-r)));
		goto done;
	}
	r = mount_attach(t->img, workdir, &a, &cause);
	if (r < 0) {
		target_fail(t, r == -EBUSY ? TARGET_SKIPPED :
			    r == -ECANCELED ? TARGET_STOPPED : TARGET_ERROR,
			    cause);
		goto done;
	}
	r = image_read_layout(t->img, mount_attach_view(a), &cause);
	if (r < 0) {
		target_fail(t, TARGET_ERROR, cause);
		goto done;
	}
	mount_plan(t->img);
	t->fsr = xcalloc(t->img->nfs, sizeof(*t->fsr));
	/* Clones of one template: name their contents by place. */
	if (key && t->img->backing.n &&
	    image_map(t->img, &map, &cause) < 0) {
		msg_debug("%s: %s", t->name, cause);
		free(cause);
		cause = NULL;
	}
	progress(j, t, PHASE_SCANNING, NULL, NULL);
	scan_filesystems(j, t, a, &rw, map.n ? &map : NULL, workdir);
	if (j->snapshots && t->img->snapshots.n) {
		mount_detach(rw);
		rw = NULL;
		scan_snapshots(j, t, workdir);
	}
	target_settle(t);
	mount_detach(rw);
	mount_detach(a);
	a = rw = NULL;
	remember(j, t, key, ids.p);
done:
	mount_detach(rw);
	mount_detach(a);
	image_close(t->img);
	if (t->img && t->fsr)
		rmdir(workdir);
	free(workdir);
	free(key);
	json_object_put(memo);
	buf_release(&ids);
	image_map_release(&map);
	t->duration = time_mono() - t0;
	progress(j, t, PHASE_DONE, NULL, NULL);
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
			progress(j, t, PHASE_DONE, NULL, NULL);
		} else {
			msg_info("scanning %s", t->arg);
			working = t;
			run_target(j, t, i);
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
		.gate = gate, .idle_leave = idle_leave,
		.idle_enter = idle_enter,
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
	char *cause = NULL;
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
	j->run_start = time_mono();
	show = j->progress &&
	       pthread_create(&bar, NULL, progress_loop, j) == 0;
	run_workers(j);
	j->stopped = proc_stop_requested();
	pthread_mutex_lock(&j->lock);
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
	if (j->lock_fd >= 0)
		close(j->lock_fd);	/* the job directory may go now */
	free(j);
}
