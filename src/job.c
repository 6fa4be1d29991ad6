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

/*
 * Longest path put in a file list: clamscan reads lists with a 1024-byte
 * buffer and would split a longer line in two.
 */
#define LIST_MAX_LINE	1022

/* Regular files of one mounted file system, as host paths. */
struct walk {
	struct strv files;	/* names without newline: go in a list */
	struct strv singles;	/* odd or long names: scanned one by one */
	uint64_t mnt_id;
	uint64_t seen, skipped, bytes;
	bool incomplete;
	char *error;
};

static int statx_at(int dfd, const char *name, struct statx *stx)
{
	return statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
		     STATX_TYPE | STATX_SIZE | STATX_MNT_ID, stx);
}

/*
 * Walk a directory with *at() calls: no symlink is ever followed, no other
 * mount is entered, and depth is limited only by PATH_MAX (deeper files
 * cannot be handed to an engine by name and are counted as skipped).
 */
static void walk_dir(struct walk *w, int dfd, struct buf *path)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		w->incomplete = true;
		return;
	}
	while ((de = readdir(d))) {
		size_t keep = path->len;
		struct statx stx;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		buf_addstr(path, "/");
		buf_addstr(path, de->d_name);
		if (statx_at(dirfd(d), de->d_name, &stx) < 0) {
			w->seen++;
			w->skipped++;
			w->incomplete = true;
		} else if (S_ISDIR(stx.stx_mode)) {
			int fd;

			if (stx.stx_mnt_id != w->mnt_id)
				goto next;
			fd = openat(dirfd(d), de->d_name, O_RDONLY |
				    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				w->incomplete = true;
				goto next;
			}
			walk_dir(w, fd, path);
		} else {
			w->seen++;
			if (!S_ISREG(stx.stx_mode) || path->len >= PATH_MAX) {
				w->skipped++;
				if (S_ISREG(stx.stx_mode))
					w->incomplete = true;
			} else if (strpbrk(de->d_name, "\n\r") ||
				   path->len > LIST_MAX_LINE) {
				strv_push(&w->singles, path->p);
				w->bytes += stx.stx_size;
			} else {
				strv_push(&w->files, path->p);
				w->bytes += stx.stx_size;
			}
		}
next:
		path->len = keep;
		path->p[keep] = '\0';
	}
	closedir(d);
}

static int walk_fs(struct walk *w, const char *root)
{
	struct buf path = { 0 };
	struct statx stx;
	int fd;

	fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	w->mnt_id = stx.stx_mnt_id;
	buf_addstr(&path, root);
	walk_dir(w, fd, &path);
	buf_release(&path);
	return 0;
}

static void walk_release(struct walk *w)
{
	strv_release(&w->files);
	strv_release(&w->singles);
	free(w->error);
}

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

/* Run the version action once; its first output line names the engine. */
static void engine_version(struct job *j, struct job_engine *je)
{
	struct strv argv = { 0 };
	char *out = xasprintf("%s/%s.version", j->dir, engine_name(je->e));
	char *cause = NULL;
	struct buf b = { 0 };
	int st;

	unlink(out);
	if (engine_argv(je->e, ENGINE_VERSION, NULL, &argv, &cause) == 0 &&
	    proc_run(argv.v, &(struct proc_io){ .out_path = out }, 60,
		     &st) == 0 &&
	    read_file(out, 1 << 16, &b) == 0 && b.len) {
		b.p[strcspn(b.p, "\n")] = '\0';
		je->version = xstrdup(b.p);
	}
	if (argv.n)
		je->binary = xstrdup(argv.v[0]);
	unlink(out);
	free(out);
	free(cause);
	buf_release(&b);
	strv_release(&argv);
}

void job_add_engine(struct job *j, struct engine *e)
{
	struct job_engine *je;

	j->engines = xreallocarray(j->engines, j->nengines + 1,
				   sizeof(*j->engines));
	je = &j->engines[j->nengines++];
	memset(je, 0, sizeof(*je));
	je->e = e;
	engine_version(j, je);
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

/* What one engine run over one file system produced. */
struct scan {
	struct job_engine *je;
	struct target *t;
	struct fs *fs;
	struct fs_result *res;
	const char *mnt;	/* host mount point: stripped from paths */
	const char *logdir;	/* the target's private directory */
	struct strv *known;	/* sorted list handed to the engine, or NULL */
	char *first_error;
	bool infected_rc;	/* the exit status said "infected" */
	bool incomplete;	/* an incomplete-scan marker was seen */
};

/* Map an engine's host path to a guest path under the mount, or NULL. */
static const char *guest_path(const struct scan *s, const char *host)
{
	size_t n = strlen(s->mnt);

	if (strncmp(host, s->mnt, n) != 0 || host[n] != '/')
		return NULL;
	if (s->known && !bsearch(&host, s->known->v, s->known->n,
				 sizeof(char *), strv_cmp))
		return NULL;
	return host + n;
}

/* Read one output file line by line: detections and error lines. */
static void parse_output(struct scan *s, const char *file,
			 const char *single)
{
	struct buf b = { 0 };
	char *line, *next;
	char *last_threat = NULL;

	if (read_file(file, 256 << 20, &b) < 0 || !b.len)
		goto done;
	for (line = b.p; line && *line; line = next) {
		char *path = NULL, *threat = NULL;
		const char *g;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (engine_match_detection(s->je->e, line, &path, &threat)) {
			if (engine_threat_is_incomplete(s->je->e, threat)) {
				s->incomplete = true;
				s->res->uncovered = true;
				if (!s->first_error)
					s->first_error = xasprintf(
						"not fully scanned: %s",
						threat);
			} else if (single) {
				free(last_threat);
				last_threat = threat;
				threat = NULL;
			} else if ((g = guest_path(s, path))) {
				add_detection(s->t, s->fs->id, g, strlen(g),
					      threat,
					      engine_name(s->je->e));
			}
			free(path);
			free(threat);
		} else if (engine_match_error(s->je->e, line)) {
			s->res->engine_errors++;
			if (!s->first_error)
				s->first_error = xstrdup(line);
		}
	}
	/*
	 * A name with a newline splits the engine's line: trust the exit
	 * status, unless it only meant "not fully scanned".
	 */
	if (single && (last_threat || (s->infected_rc && !s->incomplete))) {
		const char *g = single + strlen(s->mnt);

		add_detection(s->t, s->fs->id, g, strlen(g),
			      last_threat ? last_threat : "unknown",
			      engine_name(s->je->e));
	}
done:
	free(last_threat);
	buf_release(&b);
}

/* Run one engine action; returns 0, -ECANCELED or -errno. */
static int scan_run(struct scan *s, enum engine_action a, const char *const *vars,
		    const char *logbase, const char *single)
{
	char *out = xasprintf("%s.out", logbase);
	char *err = xasprintf("%s.err", logbase);
	struct strv argv = { 0 };
	enum engine_verdict verdict;
	char *cause = NULL;
	unsigned errors;
	int r, st = 0;

	r = engine_argv(s->je->e, a, vars, &argv, &cause);
	if (r < 0) {
		if (!s->first_error)
			s->first_error = cause;
		else
			free(cause);
		s->res->engine_errors++;
		goto done;
	}
	/* A harmless working directory: engines resolve stray relative paths. */
	r = proc_run(argv.v, &(struct proc_io){ .out_path = out,
		     .err_path = err, .cwd = s->logdir }, -1, &st);
	if (r < 0) {
		if (r != -ECANCELED && !s->first_error)
			s->first_error = xasprintf("cannot run %s: %s",
						   argv.v[0], strerror(-r));
		goto done;
	}
	verdict = engine_classify_exit(s->je->e, st);
	s->infected_rc = verdict == ENGINE_INFECTED;
	s->incomplete = false;
	errors = s->res->engine_errors;
	parse_output(s, out, single);
	parse_output(s, err, NULL);
	/* A failing exit counts once, unless error lines already said why. */
	if (verdict == ENGINE_ERROR) {
		if (s->res->engine_errors == errors)
			s->res->engine_errors++;
		if (!s->first_error)
			s->first_error = WIFEXITED(st) ?
				xasprintf("exited with status %d",
					  WEXITSTATUS(st)) :
				xasprintf("killed by signal %d",
					  WTERMSIG(st));
	}
done:
	free(out);
	free(err);
	strv_release(&argv);
	return r;
}

/*
 * Hand the walked files to an engine: one list, plus odd names one by one.
 * Failures are recorded in res; returns -ECANCELED on a stop, else 0.
 */
static int scan_fs(struct target *t, struct fs *fs,
		   struct fs_result *res, struct job_engine *je,
		   const char *mnt, struct walk *w, const char *logdir)
{
	struct scan s = { .je = je, .t = t, .fs = fs, .res = res,
			  .mnt = mnt, .logdir = logdir };
	char *base = xasprintf("%s/%s.%s", logdir, fs->id, engine_name(je->e));
	int r = 0;

	if (!engine_has_action(je->e, ENGINE_SCAN_LIST)) {
		const char *vars[] = { "target", mnt, NULL };

		r = scan_run(&s, ENGINE_SCAN, vars, base, NULL);
	} else if (w->files.n) {
		char *list = xasprintf("%s.list", base);
		struct buf b = { 0 };

		for (size_t i = 0; i < w->files.n; i++) {
			buf_addstr(&b, w->files.v[i]);
			buf_addstr(&b, "\n");
		}
		r = write_file_atomic(list, b.p, b.len);
		buf_release(&b);
		if (r < 0) {
			s.first_error = xasprintf("cannot write '%s': %s",
						  list, strerror(-r));
		} else {
			const char *vars[] = { "list", list, NULL };

			s.known = &w->files;
			r = scan_run(&s, ENGINE_SCAN_LIST, vars, base, NULL);
			s.known = NULL;
		}
		free(list);
	}
	for (size_t i = 0; !r && i < w->singles.n; i++) {
		const char *vars[] = { "target", w->singles.v[i], NULL };
		char *b1 = xasprintf("%s.single%zu", base, i);

		r = scan_run(&s, ENGINE_SCAN, vars, b1, w->singles.v[i]);
		free(b1);
	}
	if (r == -ECANCELED) {
		fs_fail(res, "stopped", xstrdup("stopped"));
	} else if (r < 0 || res->engine_errors) {
		res->engine_errors += r < 0;
		fs_fail(res, "error", xasprintf("%s: %s", engine_name(je->e),
			s.first_error ? s.first_error : strerror(-r)));
	} else if (s.first_error && !res->reason) {
		res->reason = s.first_error;
		s.first_error = NULL;
	}
	if (!res->status)
		res->status = "scanned";
	free(s.first_error);
	free(base);
	return r == -ECANCELED ? r : 0;
}

/* Mount one file system, walk it and scan it with every engine. */
static int do_fs(struct job *j, struct target *t, size_t k, const char *view,
		 const char *workdir)
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
	r = walk_fs(&w, mnt);
	if (r < 0) {
		fs_fail(res, "error", xasprintf("cannot walk the file system: "
						"%s", strerror(-r)));
		res->uncovered = true;
		goto done;
	}
	strv_sort(&w.files);
	res->seen = w.seen;
	res->skipped = w.skipped;
	res->scanned = w.files.n + w.singles.n;
	res->bytes = w.bytes;
	if (w.incomplete) {
		res->uncovered = true;
		res->reason = xstrdup("some entries could not be read");
	}
	for (size_t e = 0; e < j->nengines && !r; e++)
		r = scan_fs(t, fs, res, &j->engines[e], mnt, &w, workdir);
done:
	mount_release(m);
	walk_release(&w);
	free(mnt);
	return r;
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
	for (size_t i = 0; i < j->nengines; i++) {
		engine_free(j->engines[i].e);
		free(j->engines[i].binary);
		free(j->engines[i].version);
	}
	free(j->engines);
	free(j->targets);
	free(j->id);
	free(j->dir);
	free(j->host);
	free(j);
}
