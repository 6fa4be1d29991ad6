/* job.c - a batch: targets, their file systems, scanning, results */
#include "config.h"

#include <dirent.h>
#include <errno.h>
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
#include "job.h"
#include "jobdir.h"
#include "json.h"
#include "mount.h"
#include "proc.h"
#include "recall.h"
#include "report.h"
#include "util.h"

const char *const fs_status_names[FS_NSTATUSES] = {
	[FS_SCANNED] = "scanned",
	[FS_PARTIAL] = "partial",
	[FS_SKIPPED] = "skipped",
	[FS_ERROR] = "error",
	[FS_STOPPED] = "stopped",
};

const char *const target_status_names[TARGET_NSTATUSES] = {
	[TARGET_CLEAN] = "clean",
	[TARGET_INCOMPLETE] = "incomplete",
	[TARGET_INFECTED] = "infected",
	[TARGET_ERROR] = "error",
	[TARGET_SKIPPED] = "skipped",
	[TARGET_STOPPED] = "stopped",
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
	t->phase = "pending";
	slash = strrchr(arg, '/');
	t->name = xstrdup(slash && slash[1] ? slash + 1 : arg);
	return t;
}

static struct detection *add_detection(struct target *t, const char *fsid,
					const char *path, size_t len,
					const char *threat, const char *engine,
					const char *subvol)
{
	struct detection *d;

	for (size_t i = 0; i < t->ndet; i++) {
		d = &t->det[i];
		if (!strcmp(d->fs, fsid) && d->pathlen == len &&
		    !memcmp(d->path, path, len) && d->engine == engine &&
		    !strcmp(d->subvolume ? d->subvolume : "",
			    subvol ? subvol : "") &&
		    !strcmp(d->snapshot ? d->snapshot : "",
			    t->scan_snapshot ? t->scan_snapshot : ""))
			return d;
	}
	t->det = xreallocarray(t->det, t->ndet + 1, sizeof(*t->det));
	d = &t->det[t->ndet++];
	d->fs = xstrdup(fsid);
	d->path = xstrndup(path, len);
	d->pathlen = len;
	d->threat = xstrdup(threat);
	d->engine = engine;
	d->subvolume = subvol ? xstrdup(subvol) : NULL;
	d->snapshot = t->scan_snapshot ? xstrdup(t->scan_snapshot) : NULL;
	d->hashed = false;
	return d;
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
		struct detection *d = add_detection(t, fs->id, path,
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

/* Record progress for status and state.json (main thread only writes). */
static void progress(struct job *j, struct target *t, const char *phase,
		     const char *fs, const char *engine)
{
	pthread_mutex_lock(&j->lock);
	if (phase)
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
		working->phase = "waiting";
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
		working->phase = "scanning";
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
 * The view a file system is read through: the image's read-only view, or
 * for an unclean journal a throwaway overlay (started on first need).  If
 * no overlay can be had, the journal is left alone (noload) and the file
 * system marked as not fully covered.
 */
static const char *fs_view(struct target *t, size_t k, struct attach *a,
			   struct attach **rw, const char *workdir)
{
	struct fs *fs = &t->img->fs[k];
	struct fs_result *res = &t->fsr[k];
	char *cause = NULL, *o;

	if (!fs->plan.replay)
		return mount_attach_view(a);
	if (*rw || mount_attach_overlay(t->img, workdir, rw, &cause) == 0)
		return mount_attach_view(*rw);
	msg_info("%s: %s: %s", t->name, fs->id, cause);
	fs->plan.replay = false;
	fs->plan.log_check = false;
	o = fs->plan.options;
	fs->plan.options = xasprintf("%s,%s", o, strcmp(fs->plan.driver,
				     "xfs") ? "noload" : "norecovery");
	free(o);
	res->uncovered = true;
	free(res->reason);
	res->reason = xasprintf("journal not replayed (%s): files that live "
				"only in the journal were not scanned", cause);
	free(cause);
	return mount_attach_view(a);
}

/*
 * Mount one file system; an xfs whose dirty log the kernel refuses on a
 * read-only device is mounted again with the log replayed in an overlay
 * (or, if even that fails, without the log and marked not covered).
 */
static int mount_one(struct target *t, size_t k, struct attach *a,
		     struct attach **rw, const char *workdir, const char *mnt,
		     struct mnt **m, char **cause)
{
	struct fs *fs = &t->img->fs[k];
	struct fs_result *res = &t->fsr[k];
	char *o;
	int r;

	r = mount_fs(fs_view(t, k, a, rw, workdir), fs, mnt, m, cause);
	if (r == 0 || !fs->plan.log_check || fs->plan.replay ||
	    r == -ECANCELED)
		return r;
	fs->plan.log_check = false;
	if (r == -EROFS) {
		msg_debug("%s: %s: dirty log, replaying it in an overlay",
			  t->name, fs->id);
		fs->plan.replay = true;
	} else {
		res->uncovered = true;
		free(res->reason);
		res->reason = xasprintf("log not replayed (%s): files that "
					"live only in the log were not "
					"scanned", *cause);
		o = fs->plan.options;
		fs->plan.options = xasprintf("%s,norecovery", o);
		free(o);
	}
	free(*cause);
	*cause = NULL;
	return mount_fs(fs_view(t, k, a, rw, workdir), fs, mnt, m, cause);
}

static bool is_ntfs_3g(const struct fs *fs)
{
	return fs->plan.access == FS_FUSE && !strcmp(fs->plan.driver,
						      "ntfs-3g");
}

/*
 * NTFS named data streams: ntfs-3g opens them by name ("file:stream") only
 * with streams_interface=windows, which also hides every name that holds a
 * colon; so the file system is walked through its usual mount and its
 * streams read through a second one.  If that cannot be mounted, the
 * file system is not fully covered.
 */
static void walk_ntfs_streams(struct target *t, size_t k, struct attach *a,
			      const char *workdir, bool hash,
			      struct fs_work *fw)
{
	static const char xattr[] = "streams_interface=xattr";
	struct fs sfs = t->img->fs[k];
	struct fs_result *res = &t->fsr[k];
	const char *o = sfs.plan.options, *at = strstr(o, xattr);
	char *cause = NULL;
	int r;

	if (!at)
		return;		/* not the plan image_plan_fs makes */
	sfs.plan.options = xasprintf("%.*sstreams_interface=windows%s",
				     (int)(at - o), o, at + strlen(xattr));
	/* No fs name holds '#' (LVM names cannot). */
	fw->smnt = xasprintf("%s/%s#streams", workdir, sfs.name);
	r = mount_fs(mount_attach_view(a), &sfs, fw->smnt, &fw->sm, &cause);
	free(sfs.plan.options);
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
	bool hash = false, locate;
	char *cause = NULL;
	int r;

	recall_place_init(j->recall, map, fs->offset, &pl);
	fw->mnt = xasprintf("%s/%s", workdir, fs->name);
	r = mount_one(t, k, a, rw, workdir, fw->mnt, &fw->m, &cause);
	if (r == 0 && fs->plan.replay)
		res->journal_replayed = true;
	if (r < 0) {
		fs_fail(res, r == -ECANCELED ? FS_STOPPED : FS_ERROR, cause);
		res->uncovered = true;
		return;
	}
	msg_debug("%s: mounted %s (%s) at %s", t->name, fs->id,
		  fs->plan.driver, fw->mnt);
	if (fs->type && !strcmp(fs->type, "ntfs") && !fs->plan.warning)
		fs->plan.warning = image_ntfs_warning(fw->mnt);
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
	if (is_ntfs_3g(fs))
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

/* Scan a walked file system with every engine. */
static void fs_scan(struct job *j, struct target *t, size_t k,
		    const char *workdir, struct fs_work *fw)
{
	struct fs *fs = &t->img->fs[k];
	struct fs_result *res = &t->fsr[k];

	for (size_t e = 0; e < j->nengines; e++) {
		struct scan_result sr = { 0 };
		char *base = xasprintf("%s/%s.%s", workdir, fs->name,
				       engine_name(j->engines[e]->e));

		pause_gate(j);
		progress(j, t, NULL, fs->id, engine_name(j->engines[e]->e));
		scanner_run(j->engines[e], &fw->w, fw->mnt, base, t->deadline,
			    &sr);
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
		progress(j, t, NULL, fs->id, NULL);
		fs_walk(j, t, k, a, rw, map, workdir, &fws[k]);
	}
	recall_lead_end(j->recall, lead);
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
		if (t->img->fs[k].plan.skip)
			continue;
		pthread_mutex_lock(&j->lock);
		t->bytes_done += t->img->fs[k].size;
		t->files_done += res->scanned;
		pthread_mutex_unlock(&j->lock);
	}
	free(fws);
}

/*
 * A scanned target's status, from its file systems' (the one place it is
 * decided): stopped or error if one of them is; infected if something was
 * found; incomplete if some data was not covered (a partial file system,
 * one skipped though it holds data), saying where; clean otherwise.
 */
static void target_settle(struct target *t)
{
	const struct fs_result *gap = NULL;
	size_t gap_k = 0;

	t->status = TARGET_CLEAN;
	for (size_t k = 0; k < t->img->nfs; k++) {
		const struct fs_result *r = &t->fsr[k];

		if (r->status == FS_STOPPED)
			t->status = TARGET_STOPPED;
		else if ((r->status == FS_ERROR || r->status == FS_PENDING) &&
			 t->status != TARGET_STOPPED)
			t->status = TARGET_ERROR;
		if (r->timed_out && !t->reason)
			t->reason = xstrdup("timed out");
		if ((r->uncovered || r->status == FS_PARTIAL) && !gap) {
			gap = r;
			gap_k = k;
		}
	}
	if (t->ndet && t->status != TARGET_STOPPED)
		t->status = TARGET_INFECTED;
	else if (gap && t->status == TARGET_CLEAN)
		t->status = TARGET_INCOMPLETE;
	if (gap && !t->reason && t->status == TARGET_INCOMPLETE)
		t->reason = xasprintf("not fully scanned: %s: %s",
				      t->img->fs[gap_k].id, gap->reason ?
				      gap->reason : "not covered");
	/* Reverting the VM to an internal snapshot brings its files back. */
	if (!target_snapshots_covered(t) && t->status == TARGET_CLEAN) {
		t->status = TARGET_INCOMPLETE;
		if (t->snapshot_gap)
			t->reason = xstrdup(t->snapshot_gap);
		else
			t->reason = xasprintf("%zu internal snapshot%s not "
					      "scanned (--snapshots)",
					      t->img->snapshots.n,
					      t->img->snapshots.n == 1 ?
					      "" : "s");
	}
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

bool target_snapshots_covered(const struct target *t)
{
	return !t->img || !t->img->snapshots.n ||
	       (t->snapshots_scanned && !t->snapshot_gap);
}

bool target_complete(const struct target *t)
{
	if (!target_snapshots_covered(t))
		return false;
	if (t->status == TARGET_CLEAN)
		return true;
	if (t->status != TARGET_INFECTED || !t->img || !t->fsr)
		return false;
	for (size_t k = 0; k < t->img->nfs; k++) {
		const struct fs_result *r = &t->fsr[k];

		if (r->uncovered || r->engine_errors || r->timed_out ||
		    (r->status != FS_SCANNED && r->status != FS_SKIPPED))
			return false;
	}
	return true;
}

/* Remember t's result if its image files did not change meanwhile. */
static void remember(struct job *j, struct target *t, const char *key,
		     const char *ids)
{
	if (!key || !ids || !target_complete(t))
		return;
	recall_target_store(j->recall, key, ids, t->img->path,
			    &t->img->backing, report_target(t, j->host));
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
		progress(j, t, "done", NULL, NULL);
		free(workdir);
		return;
	}
	if (t->skip) {
		target_fail(t, TARGET_SKIPPED, xstrdup(t->skip));
		goto done;
	}
	if (j->timeout > 0)
		t->deadline = t0 + j->timeout;
	progress(j, t, "opening", NULL, NULL);
	r = mount_check_in_use(t->arg, &cause);
	if (r == -EBUSY) {
		target_fail(t, TARGET_SKIPPED, cause);
		goto done;
	}
	free(cause);
	cause = NULL;
	key = recall_key(j, t);
	if (key && recall_target_lookup(j->recall, key, &memo) == 0 &&
	    report_target_restore(t, memo, j->engines, j->nengines) == 0) {
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
	t->fsr = xcalloc(t->img->nfs, sizeof(*t->fsr));
	pthread_mutex_lock(&j->lock);
	for (size_t k = 0; k < t->img->nfs; k++)
		if (!t->img->fs[k].plan.skip)
			t->bytes_total += t->img->fs[k].size;
	pthread_mutex_unlock(&j->lock);
	/* Clones of one template: name their contents by place. */
	if (key && t->img->backing.n &&
	    image_map(t->img, &map, &cause) < 0) {
		msg_debug("%s: %s", t->name, cause);
		free(cause);
		cause = NULL;
	}
	progress(j, t, "scanning", NULL, NULL);
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
	progress(j, t, "done", NULL, NULL);
}

static double paused_time(const struct job *j)
{
	return j->paused_total + (j->paused ? time_mono() - j->paused_since :
				  0);
}

struct json_object *job_status(struct job *j)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ts = json_object_new_array();
	struct json_object *pids = json_object_new_array();
	struct proc_child *ch = NULL;
	size_t n = proc_children(&ch), done = 0;
	char *t0 = time_iso8601(j->started);

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

		done += !strcmp(t->phase, "done");
		json_put_str(x, "name", t->name);
		json_put_str(x, "state", t->phase);
		json_put_str(x, "status", target_status_names[t->status]);
		json_put_str(x, "fs", t->cur_fs);
		json_put_str(x, "engine", t->cur_engine);
		json_put_int(x, "files_done", (int64_t)t->files_done);
		json_put_int(x, "bytes_done", (int64_t)t->bytes_done);
		json_put_int(x, "bytes_total", (int64_t)t->bytes_total);
		if (!strcmp(t->phase, "scanning")) {
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

/* One line for a terminal: targets, bytes, rate, time left. */
static void print_progress(struct job *j)
{
	uint64_t done = 0, total = 0;
	size_t finished = 0;
	double el, rate;

	pthread_mutex_lock(&j->lock);
	for (size_t i = 0; i < j->ntargets; i++) {
		done += j->targets[i].bytes_done;
		total += j->targets[i].bytes_total;
		finished += !strcmp(j->targets[i].phase, "done");
	}
	el = time_mono() - j->run_start - paused_time(j);
	pthread_mutex_unlock(&j->lock);
	rate = el > 0 ? (double)done / el : 0;
	fprintf(stderr, "\r\033[K%zu/%zu targets  %.1f of %.1f GiB  %.1f MiB/s",
		finished, j->ntargets, (double)done / (1 << 30),
		(double)total / (1 << 30), rate / (1 << 20));
	if (rate > 0 && total > done)
		fprintf(stderr, "  eta %.0f s", (double)(total - done) / rate);
	if (j->paused)
		fputs("  (paused)", stderr);
	fflush(stderr);
}

/* On a terminal, the progress line, once a second until the job ends. */
static void *progress_loop(void *arg)
{
	struct job *j = arg;

	pthread_mutex_lock(&j->lock);
	while (!j->ended) {
		pthread_mutex_unlock(&j->lock);
		print_progress(j);
		pthread_mutex_lock(&j->lock);
		cond_wait_ms(&j->resumed, &j->lock, 1000);
	}
	pthread_mutex_unlock(&j->lock);
	fputs("\r\033[K", stderr);
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
			progress(j, t, "done", NULL, NULL);
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

	for (size_t e = 0; e < j->nengines; e++) {
		j->engines[e]->hooks = &hooks;
		j->engines[e]->hooks_arg = j;
	}
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

	/* What the batch need not do again; the recall owns the cache. */
	j->recall = recall_open(j->cache);
	j->cache = NULL;
	if (ctl_start(sock, control, j, &j->ctl, &cause) < 0) {
		msg_info("%s; status, pause, resume and stop will not reach "
			 "this job", cause);
		free(cause);
	}
	free(sock);
	proc_on_change(save_state_cb, j);
	job_save_state(j);
	j->run_start = time_mono();
	show = verbosity >= 0 && isatty(STDERR_FILENO) &&
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

size_t job_detections(const struct job *j)
{
	size_t n = 0;

	for (size_t i = 0; i < j->ntargets; i++)
		n += j->targets[i].ndet;
	return n;
}

void job_tally(const struct job *j, struct job_tally *n)
{
	memset(n, 0, sizeof(*n));
	for (size_t i = 0; i < j->ntargets; i++) {
		const struct target *t = &j->targets[i];

		n->status[t->status]++;
		n->uncovered += !target_complete(t);
		n->detections += t->ndet;
		for (size_t k = 0; t->fsr && k < t->img->nfs; k++) {
			n->files += t->fsr[k].scanned;
			n->bytes += t->fsr[k].bytes;
		}
	}
}

int job_exit_code(const struct job *j)
{
	struct job_tally n;

	job_tally(j, &n);
	if (j->report_error)
		return 2;
	if (n.detections)
		return 1;
	return n.uncovered || j->stopped ? 2 : 0;
}

void job_free(struct job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->ntargets; i++) {
		struct target *t = &j->targets[i];

		for (size_t k = 0; t->fsr && k < t->img->nfs; k++)
			free(t->fsr[k].reason);
		for (size_t k = 0; k < t->ndet; k++) {
			free(t->det[k].fs);
			free(t->det[k].path);
			free(t->det[k].threat);
			free(t->det[k].subvolume);
			free(t->det[k].snapshot);
		}
		free(t->det);
		free(t->fsr);
		free(t->reason);
		free(t->snapshot_gap);
		free(t->arg);
		free(t->name);
		free(t->domain);
		free(t->format);
		free(t->skip);
		image_free(t->img);
	}
	for (size_t i = 0; i < j->nengines; i++)
		scanner_close(j->engines[i]);
	/* The cache is the recall's once the job has run. */
	recall_close(j->recall ? j->recall : recall_open(j->cache));
	free(j->engines);
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
