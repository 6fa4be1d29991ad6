/* result.c - what a batch found: statuses, totals, a target's JSON */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "result.h"
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

const char *const target_phase_names[PHASE_NPHASES] = {
	[PHASE_PENDING] = "pending",
	[PHASE_OPENING] = "opening",
	[PHASE_SCANNING] = "scanning",
	[PHASE_WAITING] = "waiting",
	[PHASE_DONE] = "done",
};

/* The status whose name s is, or n if none (pending has no name). */
static int status_of(const char *s, const char *const *names, int n)
{
	for (int i = 0; s && i < n; i++)
		if (names[i] && !strcmp(s, names[i]))
			return i;
	return n;
}

enum fs_status fs_status_from_name(const char *name)
{
	return (enum fs_status)status_of(name, fs_status_names,
					 FS_NSTATUSES);
}

enum target_status target_status_from_name(const char *name)
{
	return (enum target_status)status_of(name, target_status_names,
					      TARGET_NSTATUSES);
}

enum target_phase target_phase_from_name(const char *name)
{
	return (enum target_phase)status_of(name, target_phase_names,
					     PHASE_NPHASES);
}

struct detection *result_add_detection(struct target *t, const char *fsid,
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

/*
 * A scanned target's status, from its file systems' (the one place it is
 * decided): stopped or error if one of them is; infected if something was
 * found; incomplete if some data was not covered (a partial file system,
 * one skipped though it holds data), saying where; clean otherwise.
 */
void target_settle(struct target *t)
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

void target_fail(struct target *t, enum target_status status, char *reason)
{
	t->status = status;
	free(t->reason);
	t->reason = reason;
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

void target_release(struct target *t)
{
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
	memset(t, 0, sizeof(*t));
}

size_t results_detections(const struct target *t, size_t n)
{
	size_t d = 0;

	for (size_t i = 0; i < n; i++)
		d += t[i].ndet;
	return d;
}

void results_tally(const struct target *ts, size_t nt,
		   struct results_tally *n)
{
	memset(n, 0, sizeof(*n));
	for (size_t i = 0; i < nt; i++) {
		const struct target *t = &ts[i];

		n->status[t->status]++;
		n->uncovered += !target_complete(t);
		n->detections += t->ndet;
		for (size_t k = 0; t->fsr && k < t->img->nfs; k++) {
			n->files += t->fsr[k].scanned;
			n->bytes += t->fsr[k].bytes;
		}
	}
}

int results_exit_code(const struct results *r)
{
	struct results_tally n;

	results_tally(r->targets, r->ntargets, &n);
	if (r->report_error)
		return 2;
	if (n.detections)
		return 1;
	return n.uncovered || r->stopped ? 2 : 0;
}

/* An LVM logical volume's names and UUIDs, in a file system's JSON. */
static void put_lvm(struct json_object *o, const struct fs *fs)
{
	struct json_object *l;

	if (!fs->vg)
		return;
	l = json_object_new_object();
	json_put_str(l, "vg", fs->vg);
	json_put_str(l, "lv", fs->lv);
	json_put_str(l, "vg_uuid", fs->vg_uuid);
	json_put_str(l, "lv_uuid", fs->lv_uuid);
	json_put_obj(o, "lvm", l);
}

/* A btrfs's subvolumes: path, id, where the guest mounts it, kind. */
static struct json_object *subvols_json(const struct btrfs_layout *l)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < l->n; i++) {
		const struct btrfs_subvol *sv = &l->v[i];
		struct json_object *o = json_object_new_object();

		json_put_bytes(o, "path", "path_b64", sv->path,
			       strlen(sv->path));
		json_put_int(o, "id", (int64_t)sv->id);
		if (sv->mounted_at)
			json_put_bytes(o, "mounted_at", "mounted_at_b64",
				       sv->mounted_at, strlen(sv->mounted_at));
		else
			json_put_str(o, "mounted_at", NULL);
		json_object_object_add(o, "snapshot",
				       json_object_new_boolean(sv->snapshot));
		json_object_object_add(o, "readonly",
				       json_object_new_boolean(sv->readonly));
		json_object_array_add(a, o);
	}
	return a;
}

/* What the engines made of a file system's files, by the numbers. */
static struct json_object *files_json(const struct fs_result *res)
{
	struct json_object *files = json_object_new_object();
	struct json_object *reasons = json_object_new_object();
	uint64_t skipped = 0;

	for (int i = 0; i < SKIP_NREASONS; i++)
		skipped += res->skipped[i];
	json_put_int(files, "seen", (int64_t)res->seen);
	json_put_int(files, "scanned", (int64_t)res->scanned);
	json_put_int(files, "cached", (int64_t)res->cached);
	if (res->delta)
		json_put_int(files, "delta", (int64_t)res->delta);
	json_put_int(files, "skipped", (int64_t)skipped);
	if (res->streams)
		json_put_int(files, "streams", (int64_t)res->streams);
	for (int i = 0; i < SKIP_NREASONS; i++)
		if (res->skipped[i])
			json_put_int(reasons, walk_skip_names[i],
				     (int64_t)res->skipped[i]);
	json_put_obj(files, "skipped_reasons", reasons);
	return files;
}

struct json_object *result_fs_json(const struct fs *fs,
				   const struct fs_result *res)
{
	struct json_object *o = json_object_new_object();

	json_put_str(o, "id", fs->id);
	json_put_str(o, "type", fs->type);
	if (fs->label)
		json_put_bytes(o, "label", "label_b64", fs->label,
			       strlen(fs->label));
	else
		json_put_str(o, "label", NULL);
	json_put_str(o, "uuid", fs->uuid);
	json_put_int(o, "offset", (int64_t)fs->offset);
	json_put_int(o, "size", (int64_t)fs->size);
	put_lvm(o, fs);
	if (res) {
		json_put_str(o, "status", fs_status_names[res->status]);
		json_put_str(o, "reason", res->reason);
		json_object_object_add(o, "journal_replayed",
			json_object_new_boolean(res->journal_replayed));
	}
	if (fs->plan.warning)
		json_put_str(o, "warning", fs->plan.warning);
	if (!fs->plan.skip) {
		json_put_str(o, "driver", fs->plan.driver);
		json_put_str(o, "options", fs->plan.options);
	}
	if (res)
		json_put_obj(o, "files", files_json(res));
	if (fs->subvols.n)
		json_put_obj(o, "subvolumes", subvols_json(&fs->subvols));
	if (res) {
		json_put_int(o, "bytes_scanned", (int64_t)res->bytes);
		json_put_int(o, "engine_errors", res->engine_errors);
	}
	return o;
}

/* Lowercase hex of a SHA-256, or NULL if not known. */
static struct json_object *sha256_json(bool known, const unsigned char *sha)
{
	static const char hex[] = "0123456789abcdef";
	char s[65];

	if (!known)
		return NULL;
	for (int i = 0; i < 32; i++) {
		s[2 * i] = hex[sha[i] >> 4];
		s[2 * i + 1] = hex[sha[i] & 15];
	}
	s[64] = '\0';
	return json_object_new_string(s);
}

/* Parse what sha256_json() wrote; false if it is not that. */
static bool sha256_parse(const char *s, unsigned char *sha)
{
	for (int i = 0; s && i < 64; i++) {
		const char *p = s[i] ? strchr("0123456789abcdef", s[i]) :
				NULL;
		int v;

		if (!p)
			return false;
		v = (int)(p - "0123456789abcdef");
		sha[i / 2] = (unsigned char)(i % 2 ? sha[i / 2] | v : v << 4);
	}
	return s && !s[64];
}

/* An image's internal snapshots: how many, named, and whether scanned. */
static struct json_object *snapshots_json(const struct target *t)
{
	struct json_object *o = json_object_new_object();
	struct json_object *names = json_object_new_array();
	const struct strv *s = &t->img->snapshots;

	json_put_int(o, "count", (int64_t)s->n);
	json_object_object_add(o, "scanned", json_object_new_boolean(
			       t->snapshots_scanned));
	for (size_t k = 0; k < s->n; k++)
		json_object_array_add(names, json_object_new_string(s->v[k]));
	json_put_obj(o, "names", names);
	return o;
}

struct json_object *result_target_json(const struct target *t,
				       const char *host)
{
	struct json_object *o = json_object_new_object();
	struct json_object *backing = json_object_new_array();
	struct json_object *fss = json_object_new_array();
	struct json_object *dets = json_object_new_array();
	const struct image *img = t->img;

	json_put_str(o, "name", t->name);
	json_put_str(o, "host", host);
	if (t->domain)
		json_put_str(o, "domain", t->domain);
	json_put_str(o, "image", img ? img->path : t->arg);
	json_put_str(o, "format", img ? img->format : NULL);
	for (size_t i = 0; img && i < img->backing.n; i++)
		json_object_array_add(backing,
			json_object_new_string(img->backing.v[i]));
	json_put_obj(o, "backing", backing);
	json_put_str(o, "partition_table", img ? img->table : NULL);
	if (img && img->sector_size)
		json_put_int(o, "sector_size", (int64_t)img->sector_size);
	json_put_str(o, "status", target_status_names[t->status]);
	json_object_object_add(o, "complete", json_object_new_boolean(
			       target_complete(t)));
	json_put_str(o, "reason", t->reason);
	json_put_double(o, "duration_s", t->duration);
	json_object_object_add(o, "cached", json_object_new_boolean(
			       t->recalled));
	for (size_t k = 0; img && t->fsr && k < img->nfs; k++)
		json_object_array_add(fss, result_fs_json(&img->fs[k],
							      &t->fsr[k]));
	json_put_obj(o, "filesystems", fss);
	if (img && img->snapshots.n)
		json_put_obj(o, "snapshots", snapshots_json(t));
	for (size_t k = 0; k < t->ndet; k++) {
		struct json_object *d = json_object_new_object();

		json_put_str(d, "fs", t->det[k].fs);
		json_put_bytes(d, "path", "path_b64", t->det[k].path,
			       t->det[k].pathlen);
		json_put_bytes(d, "threat", "threat_b64", t->det[k].threat,
			       strlen(t->det[k].threat));
		json_put_str(d, "engine", t->det[k].engine);
		json_put_obj(d, "sha256", sha256_json(t->det[k].hashed,
						      t->det[k].sha256));
		if (t->det[k].subvolume)
			json_put_bytes(d, "subvolume", "subvolume_b64",
				       t->det[k].subvolume,
				       strlen(t->det[k].subvolume));
		if (t->det[k].snapshot)
			json_put_bytes(d, "snapshot", "snapshot_b64",
				       t->det[k].snapshot,
				       strlen(t->det[k].snapshot));
		json_object_array_add(dets, d);
	}
	json_put_obj(o, "detections", dets);
	return o;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static bool is_array(struct json_object *o)
{
	return o && json_object_is_type(o, json_type_array);
}

/* Bytes under key (or key_b64) as a new string; NULL if missing or bad. */
static char *get_bytes(struct json_object *o, const char *key,
		       const char *key_b64, size_t *len)
{
	struct buf b = { 0 };
	char *s;

	if (json_get_bytes(o, key, key_b64, &b) < 0 ||
	    memchr(b.p ? b.p : "", '\0', b.len)) {
		buf_release(&b);
		return NULL;
	}
	s = b.p ? b.p : xstrdup("");
	if (len)
		*len = b.len;
	return s;
}

/* The subvolumes subvols_json wrote (a recalled target's report). */
static void restore_subvols(struct json_object *a, struct btrfs_layout *l)
{
	size_t n = json_array_len(a);

	l->v = xcalloc(n + 1, sizeof(*l->v));
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		struct json_object *snap = json_get(o, "snapshot");
		struct json_object *ro = json_get(o, "readonly");
		struct btrfs_subvol *sv = &l->v[l->n];

		sv->path = get_bytes(o, "path", "path_b64", NULL);
		if (!sv->path)
			continue;
		sv->mounted_at = get_bytes(o, "mounted_at", "mounted_at_b64",
					   NULL);
		sv->id = (uint64_t)json_get_int(o, "id", 0);
		sv->snapshot = snap && json_object_get_boolean(snap);
		sv->readonly = ro && json_object_get_boolean(ro);
		l->n++;
	}
}

/* One file system of a remembered target: fully scanned or skipped. */
static int restore_fs(struct json_object *x, struct fs *fs,
		      struct fs_result *res)
{
	struct json_object *files = json_get(x, "files");
	struct json_object *reasons = json_get(files, "skipped_reasons");
	struct json_object *lvm = json_get(x, "lvm");
	struct json_object *replayed = json_get(x, "journal_replayed");
	const char *reason = json_get_str(x, "reason");

	res->status = fs_status_from_name(json_get_str(x, "status"));
	if ((res->status != FS_SCANNED && res->status != FS_SKIPPED) ||
	    !json_get_str(x, "id") || !files)
		return -EINVAL;
	fs->id = xstrdup(json_get_str(x, "id"));
	fs->type = dup_or_null(json_get_str(x, "type"));
	fs->uuid = dup_or_null(json_get_str(x, "uuid"));
	fs->label = get_bytes(x, "label", "label_b64", NULL);
	fs->offset = (uint64_t)json_get_int(x, "offset", 0);
	fs->size = (uint64_t)json_get_int(x, "size", 0);
	if (lvm) {
		fs->vg = dup_or_null(json_get_str(lvm, "vg"));
		fs->lv = dup_or_null(json_get_str(lvm, "lv"));
		fs->vg_uuid = dup_or_null(json_get_str(lvm, "vg_uuid"));
		fs->lv_uuid = dup_or_null(json_get_str(lvm, "lv_uuid"));
	}
	fs->plan.warning = dup_or_null(json_get_str(x, "warning"));
	res->journal_replayed = replayed &&
				json_object_get_boolean(replayed);
	res->reason = dup_or_null(reason);
	if (res->status == FS_SKIPPED) {
		fs->plan.skip = xstrdup(reason ? reason : "skipped");
	} else {
		fs->plan.driver = dup_or_null(json_get_str(x, "driver"));
		fs->plan.options = dup_or_null(json_get_str(x, "options"));
	}
	/* Nothing was handed to an engine this time: all of it is cached. */
	res->seen = (uint64_t)json_get_int(files, "seen", 0);
	res->cached = (uint64_t)(json_get_int(files, "scanned", 0) +
				 json_get_int(files, "cached", 0) +
				 json_get_int(files, "delta", 0));
	res->streams = (uint64_t)json_get_int(files, "streams", 0);
	restore_subvols(json_get(x, "subvolumes"), &fs->subvols);
	for (int i = 0; i < SKIP_NREASONS; i++)
		res->skipped[i] = (uint64_t)json_get_int(reasons,
						walk_skip_names[i], 0);
	return 0;
}

static int restore_detection(struct json_object *x, struct detection *d,
			     const struct result_engine *engines,
			     size_t nengines)
{
	const char *engine = json_get_str(x, "engine");

	for (size_t i = 0; engine && i < nengines; i++)
		if (!strcmp(engine, engines[i].name))
			d->engine = engines[i].name;
	d->fs = dup_or_null(json_get_str(x, "fs"));
	d->path = get_bytes(x, "path", "path_b64", &d->pathlen);
	d->threat = get_bytes(x, "threat", "threat_b64", NULL);
	d->hashed = sha256_parse(json_get_str(x, "sha256"), d->sha256);
	d->subvolume = get_bytes(x, "subvolume", "subvolume_b64", NULL);
	d->snapshot = get_bytes(x, "snapshot", "snapshot_b64", NULL);
	return d->engine && d->fs && d->path && d->threat ? 0 : -EINVAL;
}

int result_detections_load(struct json_object *o,
			   const struct result_engine *engines,
			   size_t nengines, struct detection **out, size_t *n)
{
	struct json_object *dets = json_get(o, "detections");
	size_t nd = json_array_len(dets), k = 0;
	struct detection *det = xcalloc(nd + 1, sizeof(*det));

	if (dets && !is_array(dets))
		nd = 0;
	for (; k < nd; k++)
		if (restore_detection(json_object_array_get_idx(dets, k),
				      &det[k], engines, nengines) < 0) {
			result_detections_free(det, k + 1);
			return -EINVAL;
		}
	*out = det;
	*n = nd;
	return 0;
}

void result_detections_free(struct detection *det, size_t n)
{
	for (size_t k = 0; det && k < n; k++) {
		free(det[k].fs);
		free(det[k].path);
		free(det[k].threat);
		free(det[k].subvolume);
		free(det[k].snapshot);
	}
	free(det);
}

int result_target_load(struct target *t, struct json_object *o,
		       const struct result_engine *engines, size_t nengines)
{
	struct json_object *fss = json_get(o, "filesystems");
	struct json_object *dets = json_get(o, "detections");
	struct json_object *backing = json_get(o, "backing");
	struct json_object *snaps = json_get(o, "snapshots");
	enum target_status status = target_status_from_name(
		json_get_str(o, "status"));
	struct image *img = xcalloc(1, sizeof(*img));
	struct fs_result *fsr = NULL;
	struct detection *det = NULL;
	size_t nfs = 0, ndet = 0;
	int r = -EINVAL;

	if ((status != TARGET_CLEAN && status != TARGET_INFECTED) ||
	    !json_get_str(o, "image") || !is_array(fss) ||
	    !is_array(dets) || !is_array(backing))
		goto fail;
	img->path = xstrdup(json_get_str(o, "image"));
	img->format = dup_or_null(json_get_str(o, "format"));
	img->table = dup_or_null(json_get_str(o, "partition_table"));
	img->sector_size = (unsigned long)json_get_int(o, "sector_size", 0);
	for (size_t i = 0; i < json_object_array_length(backing); i++) {
		struct json_object *b = json_object_array_get_idx(backing, i);

		if (!json_object_is_type(b, json_type_string))
			goto fail;
		strv_push(&img->backing, json_object_get_string(b));
	}
	nfs = json_object_array_length(fss);
	img->fs = xcalloc(nfs + 1, sizeof(*img->fs));
	fsr = xcalloc(nfs + 1, sizeof(*fsr));
	for (img->nfs = 0; img->nfs < nfs; img->nfs++)
		if (restore_fs(json_object_array_get_idx(fss, img->nfs),
			       &img->fs[img->nfs], &fsr[img->nfs]) < 0) {
			img->nfs++;
			goto fail;
		}
	det = xcalloc(json_object_array_length(dets) + 1, sizeof(*det));
	for (; ndet < json_object_array_length(dets); ndet++)
		if (restore_detection(json_object_array_get_idx(dets, ndet),
				      &det[ndet], engines, nengines) < 0) {
			ndet++;
			goto fail;
		}
	if (!ndet != (status == TARGET_CLEAN))
		goto fail;
	if (snaps && is_array(json_get(snaps, "names"))) {
		struct json_object *names = json_get(snaps, "names");

		for (size_t k = 0; k < json_object_array_length(names); k++)
			strv_push(&img->snapshots, json_object_get_string(
				  json_object_array_get_idx(names, k)));
		t->snapshots_scanned = json_object_get_boolean(
			json_get(snaps, "scanned"));
	}
	t->img = img;
	t->fsr = fsr;
	t->det = det;
	t->ndet = ndet;
	t->status = status;
	t->recalled = true;
	return 0;
fail:
	for (size_t k = 0; k < img->nfs; k++)
		free(fsr[k].reason);
	for (size_t k = 0; k < ndet; k++) {
		free(det[k].fs);
		free(det[k].path);
		free(det[k].threat);
		free(det[k].subvolume);
		free(det[k].snapshot);
	}
	free(det);
	free(fsr);
	image_free(img);
	return r;
}
