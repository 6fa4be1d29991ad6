/* report.c - the JSON report (schema 2) and the text summary of a job */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "report.h"
#include "util.h"

void report_put_lvm(struct json_object *o, const struct fs *fs)
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

static struct json_object *fs_json(const struct fs *fs,
				   const struct fs_result *res)
{
	struct json_object *o = json_object_new_object();
	struct json_object *files = json_object_new_object();
	struct json_object *reasons = json_object_new_object();
	uint64_t skipped = 0;

	for (int i = 0; i < SKIP_NREASONS; i++)
		skipped += res->skipped[i];
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
	report_put_lvm(o, fs);
	json_put_str(o, "status", fs_status_names[res->status]);
	json_put_str(o, "reason", res->reason);
	json_object_object_add(o, "journal_replayed",
			       json_object_new_boolean(res->journal_replayed));
	if (fs->plan.warning)
		json_put_str(o, "warning", fs->plan.warning);
	if (!fs->plan.skip) {
		json_put_str(o, "driver", fs->plan.driver);
		json_put_str(o, "options", fs->plan.options);
	}
	json_put_int(files, "seen", (int64_t)res->seen);
	json_put_int(files, "scanned", (int64_t)res->scanned);
	json_put_int(files, "cached", (int64_t)res->cached);
	json_put_int(files, "skipped", (int64_t)skipped);
	if (res->streams)
		json_put_int(files, "streams", (int64_t)res->streams);
	for (int i = 0; i < SKIP_NREASONS; i++)
		if (res->skipped[i])
			json_put_int(reasons, walk_skip_names[i],
				     (int64_t)res->skipped[i]);
	json_put_obj(files, "skipped_reasons", reasons);
	json_put_obj(o, "files", files);
	if (fs->subvols.n)
		json_put_obj(o, "subvolumes", subvols_json(&fs->subvols));
	json_put_int(o, "bytes_scanned", (int64_t)res->bytes);
	json_put_int(o, "engine_errors", res->engine_errors);
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

struct json_object *report_target(const struct target *t, const char *host)
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
		json_object_array_add(fss, fs_json(&img->fs[k], &t->fsr[k]));
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

/* The status whose name s is, or 0 (pending: no name) if none. */
static int status_of(const char *s, const char *const *names, int n)
{
	for (int i = 0; s && i < n; i++)
		if (names[i] && !strcmp(s, names[i]))
			return i;
	return 0;
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

/* One file system of a remembered target: fully scanned or skipped. */
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

static int restore_fs(struct json_object *x, struct fs *fs,
		      struct fs_result *res)
{
	struct json_object *files = json_get(x, "files");
	struct json_object *reasons = json_get(files, "skipped_reasons");
	struct json_object *lvm = json_get(x, "lvm");
	struct json_object *replayed = json_get(x, "journal_replayed");
	const char *reason = json_get_str(x, "reason");

	res->status = status_of(json_get_str(x, "status"), fs_status_names,
				FS_NSTATUSES);
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
				 json_get_int(files, "cached", 0));
	res->streams = (uint64_t)json_get_int(files, "streams", 0);
	restore_subvols(json_get(x, "subvolumes"), &fs->subvols);
	for (int i = 0; i < SKIP_NREASONS; i++)
		res->skipped[i] = (uint64_t)json_get_int(reasons,
						walk_skip_names[i], 0);
	return 0;
}

static int restore_detection(struct json_object *x, struct detection *d,
			     struct scanner *const *engines, size_t nengines)
{
	const char *engine = json_get_str(x, "engine");

	for (size_t i = 0; engine && i < nengines; i++)
		if (!strcmp(engine, engine_name(engines[i]->e)))
			d->engine = engine_name(engines[i]->e);
	d->fs = dup_or_null(json_get_str(x, "fs"));
	d->path = get_bytes(x, "path", "path_b64", &d->pathlen);
	d->threat = get_bytes(x, "threat", "threat_b64", NULL);
	d->hashed = sha256_parse(json_get_str(x, "sha256"), d->sha256);
	d->subvolume = get_bytes(x, "subvolume", "subvolume_b64", NULL);
	d->snapshot = get_bytes(x, "snapshot", "snapshot_b64", NULL);
	return d->engine && d->fs && d->path && d->threat ? 0 : -EINVAL;
}

int report_target_restore(struct target *t, struct json_object *o,
			  struct scanner *const *engines, size_t nengines)
{
	struct json_object *fss = json_get(o, "filesystems");
	struct json_object *dets = json_get(o, "detections");
	struct json_object *backing = json_get(o, "backing");
	struct json_object *snaps = json_get(o, "snapshots");
	enum target_status status = status_of(json_get_str(o, "status"),
					      target_status_names,
					      TARGET_NSTATUSES);
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

/* The job's status: that of its worst target, as the exit status says. */
static const char *report_status(const struct job *j,
				 const struct job_tally *n, int code)
{
	if (code == 1)
		return "infected";
	if (j->stopped)
		return "stopped";
	if (code == 0)
		return "clean";
	return n->status[TARGET_ERROR] || j->report_error || !j->ntargets ?
	       "error" : "incomplete";
}

struct json_object *report_build(const struct job *j)
{
	struct json_object *o = json_object_new_object();
	struct json_object *tool = json_object_new_object();
	struct json_object *engines = json_object_new_array();
	struct json_object *targets = json_object_new_array();
	struct json_object *totals = json_object_new_object();
	int code = job_exit_code(j);
	struct job_tally n;
	char *t0 = time_iso8601(j->started), *t1 = time_iso8601(j->finished);

	job_tally(j, &n);
	json_put_int(o, "schema", REPORT_SCHEMA);
	json_put_str(tool, "name", PACKAGE_NAME);
	json_put_str(tool, "version", PACKAGE_VERSION);
	json_put_obj(o, "tool", tool);
	json_put_str(o, "job", j->id);
	json_put_str(o, "host", j->host);
	json_put_str(o, "started", t0);
	json_put_str(o, "finished", j->finished ? t1 : NULL);
	json_put_str(o, "status", report_status(j, &n, code));
	json_put_int(o, "exit_code", code);
	for (size_t i = 0; i < j->nengines; i++) {
		struct json_object *e = json_object_new_object();

		json_put_str(e, "name", engine_name(j->engines[i]->e));
		json_put_str(e, "binary", j->engines[i]->binary);
		json_put_str(e, "version", j->engines[i]->version);
		json_object_array_add(engines, e);
	}
	json_put_obj(o, "engines", engines);
	for (size_t i = 0; i < j->ntargets; i++)
		json_object_array_add(targets, report_target(&j->targets[i],
							     j->host));
	json_put_obj(o, "targets", targets);
	json_put_int(totals, "targets", (int64_t)j->ntargets);
	for (int s = 0; s < TARGET_NSTATUSES; s++)
		if (target_status_names[s])
			json_put_int(totals, target_status_names[s],
				     (int64_t)n.status[s]);
	json_put_int(totals, "uncovered", (int64_t)n.uncovered);
	json_put_int(totals, "detections", (int64_t)n.detections);
	json_put_int(totals, "files_scanned", (int64_t)n.files);
	json_put_int(totals, "bytes_scanned", (int64_t)n.bytes);
	json_put_obj(o, "totals", totals);
	free(t0);
	free(t1);
	return o;
}

int report_write(const struct job *j, const char *path)
{
	struct json_object *o = report_build(j);
	int r = json_write(o, path);

	json_object_put(o);
	return r;
}

void report_print_safe(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t l = 2;

		if (c == '\\') {
			fputs("\\\\", out);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\x%02x", c);
		} else if (c < 0x80) {
			fputc(c, out);
		} else {
			while (l <= 4 && i + l <= n && !utf8_valid(s + i, l))
				l++;
			if (l <= 4 && i + l <= n) {
				fwrite(s + i, 1, l, out);
				i += l - 1;
			} else {
				fprintf(out, "\\x%02x", c);
			}
		}
	}
}

void report_print_text(const struct job *j, int code, FILE *out,
		       bool problems)
{
	struct job_tally n;
	const char *sep = " (";

	for (size_t i = 0; i < j->ntargets; i++) {
		const struct target *t = &j->targets[i];

		if (problems && t->status == TARGET_CLEAN)
			continue;
		fputs(t->name, out);
		fprintf(out, ": %s", target_status_names[t->status] ?
			target_status_names[t->status] : "pending");
		if (t->reason)
			fprintf(out, " (%s)", t->reason);
		fputc('\n', out);
		for (size_t k = 0; t->fsr && k < t->img->nfs; k++) {
			const struct fs *fs = &t->img->fs[k];
			const struct fs_result *r = &t->fsr[k];

			if (problems && (r->status == FS_SCANNED ||
					 r->status == FS_SKIPPED) &&
			    !fs->plan.warning)
				continue;
			fprintf(out, "  %-10s %-8s %-8s", fs->id,
				fs->type ? fs->type : "-",
				fs_status_names[r->status] ?
				fs_status_names[r->status] : "pending");
			/* What the engine read, and what the cache answered. */
			if ((r->status == FS_SCANNED ||
			     r->status == FS_PARTIAL) && r->scanned)
				fprintf(out, " %llu files%s",
					(unsigned long long)r->scanned,
					r->cached ? "," : "");
			if ((r->status == FS_SCANNED ||
			     r->status == FS_PARTIAL) &&
			    (r->cached || !r->scanned))
				fprintf(out, " %llu files cached",
					(unsigned long long)r->cached);
			if (r->reason)
				fprintf(out, " (%s)", r->reason);
			if (r->journal_replayed)
				fputs(" [journal replayed]", out);
			fputc('\n', out);
			if (fs->plan.warning)
				fprintf(out, "  %-10s warning: %s\n", "",
					fs->plan.warning);
		}
		for (size_t k = 0; k < t->ndet; k++) {
			fprintf(out, "  FOUND %s:", t->det[k].fs);
			report_print_safe(out, t->det[k].path,
					  t->det[k].pathlen);
			fputs(": ", out);
			report_print_safe(out, t->det[k].threat,
					  strlen(t->det[k].threat));
			fprintf(out, " [%s]", t->det[k].engine);
			if (t->det[k].snapshot) {
				fputs(" in snapshot ", out);
				report_print_safe(out, t->det[k].snapshot,
						  strlen(t->det[k].snapshot));
			}
			fputc('\n', out);
		}
	}
	if (problems)
		return;
	/* The totals of the report, in the same words. */
	job_tally(j, &n);
	fprintf(out, "%zu target(s)", j->ntargets);
	for (int s = 0; s < TARGET_NSTATUSES; s++)
		if (target_status_names[s] && n.status[s]) {
			fprintf(out, "%s%zu %s", sep, n.status[s],
				target_status_names[s]);
			sep = ", ";
		}
	fprintf(out, "%s, %zu detection(s), %zu not fully scanned, exit %d\n",
		*sep == ',' ? ")" : "", n.detections, n.uncovered, code);
}
