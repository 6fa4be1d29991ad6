/* target.c - one target of a batch: open, attach, mount and walk, scan, settle */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "btrfs.h"
#include "image.h"
#include "job-int.h"
#include "json.h"
#include "mount.h"
#include "proc.h"
#include "recall.h"
#include "scan.h"
#include "util.h"
#include "walk.h"

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
	job_pause_gate(j);
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

		job_pause_gate(j);
		job_set_phase(j, t, PHASE_SAME, fs->id, engine_name(j->engines[e]->e));
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
	struct recall_park park = { job_park, job_unpark, j };
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
		job_set_phase(j, t, PHASE_SAME, fs->id, NULL);
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

void target_run(struct job *j, struct target *t, size_t idx)
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
		job_set_phase(j, t, PHASE_DONE, NULL, NULL);
		free(workdir);
		return;
	}
	if (t->skip) {
		target_fail(t, TARGET_SKIPPED, xstrdup(t->skip));
		goto done;
	}
	if (j->timeout > 0)
		t->deadline = t0 + j->timeout;
	job_set_phase(j, t, PHASE_OPENING, NULL, NULL);
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
	job_set_phase(j, t, PHASE_SCANNING, NULL, NULL);
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
	job_set_phase(j, t, PHASE_DONE, NULL, NULL);
}

