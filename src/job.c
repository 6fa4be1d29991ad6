/* job.c - a batch: targets, their file systems, scanning, results */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "job.h"
#include "mount.h"
#include "proc.h"
#include "util.h"

int job_create(const char *state_dir, struct job **out, char **cause)
{
	struct job *j = xcalloc(1, sizeof(*j));
	char stamp[32], host[256] = "";
	unsigned short rnd = 0;
	char *jobs;
	struct tm tm;
	int r;

	j->started = time(NULL);
	gmtime_r(&j->started, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (unsigned short)getpid();
	j->id = xasprintf("%s-%04x", stamp, rnd);
	gethostname(host, sizeof(host) - 1);
	j->host = xstrdup(host);

	r = mkdir_private(state_dir);
	jobs = xasprintf("%s/jobs", state_dir);
	if (!r)
		r = mkdir_private(jobs);
	j->dir = xasprintf("%s/%s", jobs, j->id);
	free(jobs);
	if (!r)
		r = mkdir_private(j->dir);
	if (r < 0) {
		*cause = xasprintf("cannot create the job directory '%s': %s",
				   j->dir, strerror(-r));
		job_free(j);
		return r;
	}
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

void job_add_target(struct job *j, const char *arg)
{
	const char *slash;
	struct target *t;

	j->targets = xreallocarray(j->targets, j->ntargets + 1,
				   sizeof(*j->targets));
	t = &j->targets[j->ntargets++];
	memset(t, 0, sizeof(*t));
	t->arg = xstrdup(arg);
	slash = strrchr(arg, '/');
	t->name = xstrdup(slash && slash[1] ? slash + 1 : arg);
}

static void add_detection(struct target *t, const char *fsid,
			  const char *path, size_t len, const char *threat,
			  const char *engine)
{
	struct detection *d;

	for (size_t i = 0; i < t->ndet; i++) {
		d = &t->det[i];
		if (!strcmp(d->fs, fsid) && d->pathlen == len &&
		    !memcmp(d->path, path, len) && d->engine == engine)
			return;
	}
	t->det = xreallocarray(t->det, t->ndet + 1, sizeof(*t->det));
	d = &t->det[t->ndet++];
	d->fs = xstrdup(fsid);
	d->path = xstrndup(path, len);
	d->pathlen = len;
	d->threat = xstrdup(threat);
	d->engine = engine;
}

static void fs_fail(struct fs_result *r, const char *status, char *reason)
{
	r->status = status;
	free(r->reason);
	r->reason = reason;
}

/* Fold one engine's result for a file system into the target. */
static void merge_result(struct target *t, struct fs *fs,
			 struct fs_result *res, const struct scanner *sc,
			 struct scan_result *sr)
{
	const char *name = engine_name(sc->e);

	for (size_t i = 0; i < sr->nhits; i++)
		add_detection(t, fs->id, sr->hits[i].path,
			      strlen(sr->hits[i].path), sr->hits[i].threat,
			      name);
	/* Counts: what the engines handed their files to saw at most. */
	if (sr->scanned > res->scanned)
		res->scanned = sr->scanned;
	if (sr->bytes > res->bytes)
		res->bytes = sr->bytes;
	if (sr->too_large > res->skipped[SKIP_TOO_LARGE])
		res->skipped[SKIP_TOO_LARGE] = sr->too_large;
	res->engine_errors += sr->errors;
	if (sr->stopped) {
		fs_fail(res, "stopped", xstrdup("stopped"));
	} else if (sr->errors) {
		fs_fail(res, "error", xasprintf("%s: %s", name, sr->error ?
						sr->error : "failed"));
	} else if (sr->incomplete) {
		res->uncovered = true;
		if (!res->reason)
			res->reason = xasprintf("%s: %s", name,
						sr->incomplete);
	}
}

/* Mount one file system, walk it and scan it with every engine. */
static void do_fs(struct job *j, struct target *t, size_t k,
		  const char *view, const char *workdir)
{
	struct fs *fs = &t->img->fs[k];
	struct fs_result *res = &t->fsr[k];
	struct walk w = { 0 };
	struct mnt *m = NULL;
	char *cause = NULL;
	char *mnt = xasprintf("%s/%s", workdir, fs->id);
	int r;

	r = mount_fs(view, fs, mnt, &m, &cause);
	if (r < 0) {
		fs_fail(res, r == -ECANCELED ? "stopped" : "error", cause);
		res->uncovered = true;
		goto done;
	}
	msg_debug("%s: mounted %s (%s) at %s", t->name, fs->id,
		  fs->plan.driver, mnt);
	r = walk_fs(&w, mnt);
	if (r < 0) {
		fs_fail(res, "error", xasprintf("cannot walk the file system: "
						"%s", strerror(-r)));
		res->uncovered = true;
		goto done;
	}
	res->seen = w.seen;
	memcpy(res->skipped, w.skipped, sizeof(res->skipped));
	if (w.skipped[SKIP_UNREADABLE] || w.skipped[SKIP_PATH_TOO_LONG]) {
		res->uncovered = true;
		res->reason = xstrdup("some entries could not be read");
	}
	for (size_t e = 0; e < j->nengines; e++) {
		struct scan_result sr = { 0 };
		char *base = xasprintf("%s/%s.%s", workdir, fs->id,
				       engine_name(j->engines[e]->e));

		scanner_run(j->engines[e], &w, mnt, base, &sr);
		merge_result(t, fs, res, j->engines[e], &sr);
		scan_result_release(&sr);
		free(base);
		if (!strcmp(res->status ? res->status : "", "stopped"))
			break;
	}
	if (!res->status)
		res->status = "scanned";
done:
	mount_release(m);
	walk_release(&w);
	free(mnt);
}

static void target_fail(struct target *t, const char *status, char *reason)
{
	t->status = status;
	free(t->reason);
	t->reason = reason;
}

static void run_target(struct job *j, struct target *t, size_t idx)
{
	struct attach *a = NULL;
	char *cause = NULL;
	char *workdir = xasprintf("%s/t%zu", j->dir, idx);
	double t0 = time_mono();
	int r;

	r = mount_check_in_use(t->arg, &cause);
	if (r == -EBUSY) {
		target_fail(t, "skipped", cause);
		goto done;
	}
	free(cause);
	cause = NULL;
	r = image_open(t->arg, &t->img, &cause);
	if (r < 0) {
		target_fail(t, "error", cause);
		goto done;
	}
	r = mkdir_private(workdir);
	if (r < 0) {
		target_fail(t, "error", xasprintf("cannot create '%s': %s",
						  workdir, strerror(-r)));
		goto done;
	}
	r = mount_attach(t->img, workdir, &a, &cause);
	if (r < 0) {
		target_fail(t, r == -EBUSY ? "skipped" :
			       r == -ECANCELED ? "stopped" : "error", cause);
		goto done;
	}
	r = image_read_layout(t->img, mount_attach_view(a), &cause);
	if (r < 0) {
		target_fail(t, "error", cause);
		goto done;
	}
	t->fsr = xcalloc(t->img->nfs, sizeof(*t->fsr));
	for (size_t k = 0; k < t->img->nfs; k++) {
		struct fs *fs = &t->img->fs[k];
		struct fs_result *res = &t->fsr[k];

		if (proc_stop_requested()) {
			fs_fail(res, "stopped", xstrdup("stopped"));
			continue;
		}
		if (fs->plan.skip) {
			fs_fail(res, "skipped", xstrdup(fs->plan.skip));
			res->uncovered = fs->plan.uncovered;
			continue;
		}
		do_fs(j, t, k, mount_attach_view(a), workdir);
	}
	t->status = "clean";
	for (size_t k = 0; k < t->img->nfs; k++) {
		const char *st = t->fsr[k].status;

		if (!strcmp(st, "stopped"))
			t->status = "stopped";
		else if (!strcmp(st, "error") && strcmp(t->status, "stopped"))
			t->status = "error";
	}
	if (t->ndet && strcmp(t->status, "stopped"))
		t->status = "infected";
done:
	mount_detach(a);
	if (t->img && t->fsr)
		rmdir(workdir);
	free(workdir);
	t->duration = time_mono() - t0;
}

void job_run(struct job *j)
{
	for (size_t i = 0; i < j->ntargets; i++) {
		struct target *t = &j->targets[i];

		if (proc_stop_requested()) {
			target_fail(t, "stopped", xstrdup("stopped before "
							  "it started"));
			continue;
		}
		msg_info("scanning %s", t->arg);
		run_target(j, t, i);
	}
	j->stopped = proc_stop_requested();
	proc_reap_orphans();
	j->finished = time(NULL);
}

size_t job_detections(const struct job *j)
{
	size_t n = 0;

	for (size_t i = 0; i < j->ntargets; i++)
		n += j->targets[i].ndet;
	return n;
}

int job_exit_code(const struct job *j)
{
	if (job_detections(j))
		return 1;
	for (size_t i = 0; i < j->ntargets; i++) {
		const struct target *t = &j->targets[i];

		if (strcmp(t->status, "clean"))
			return 2;
		for (size_t k = 0; t->img && k < t->img->nfs; k++)
			if (t->fsr[k].uncovered || t->fsr[k].engine_errors)
				return 2;
	}
	return j->stopped ? 2 : 0;
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
		}
		free(t->det);
		free(t->fsr);
		free(t->reason);
		free(t->arg);
		free(t->name);
		image_free(t->img);
	}
	for (size_t i = 0; i < j->nengines; i++)
		scanner_close(j->engines[i]);
	free(j->engines);
	free(j->targets);
	free(j->id);
	free(j->dir);
	free(j->host);
	free(j);
}
