/* clean.c - the clean pipeline: from a reviewed report to proven removal */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <json-c/json.h>

#include "clean.h"
#include "engine.h"
#include "fscheck.h"
#include "image.h"
#include "json.h"
#include "mount.h"
#include "mtools.h"
#include "quarantine.h"
#include "result.h"
#include "scan.h"
#include "undo.h"
#include "walk.h"

const char *const clean_result_names[CLEAN_NRESULTS] = {
	[CLEAN_PLANNED] = "planned",
	[CLEAN_REMOVED] = "removed",
	[CLEAN_CHANGED] = "changed since the scan",
	[CLEAN_REFUSED] = "refused",
	[CLEAN_ROLLED_BACK] = "rolled back",
	[CLEAN_REMAINS] = "remains",
};

/* Largest xattr list and value kept in a quarantine record. */
#define XATTR_MAX	(64 * 1024)
/* Largest NTFS named stream read into memory to be quarantined. */
#define STREAM_MAX	(64 * 1024 * 1024)

static bool matches_any(const struct strv *globs, const char *s)
{
	if (!globs || !globs->n)
		return true;
	for (size_t i = 0; i < globs->n; i++)
		if (fnmatch(globs->v[i], s, 0) == 0)
			return true;
	return false;
}

static bool target_named(const struct strv *names, const char *name,
			 const char *image)
{
	if (!names || !names->n)
		return true;
	return strv_has(names, name) || strv_has(names, image);
}

/* Turn one report target's selected detections into a clean_target. */
static void select_target(const struct clean_options *o,
			  struct detection *det, size_t ndet, const char *name,
			  const char *image, const char *format,
			  struct clean_target *t, struct strv *engines)
{
	t->name = xstrdup(name);
	t->image = xstrdup(image);
	t->format = format ? xstrdup(format) : NULL;
	t->items = xcalloc(ndet + 1, sizeof(*t->items));
	for (size_t i = 0; i < ndet; i++) {
		struct detection *d = &det[i];
		struct clean_item *it;

		if (!matches_any(o->threats, d->threat))
			continue;
		it = &t->items[t->nitems++];
		it->fs = xstrdup(d->fs);
		it->path = xmalloc(d->pathlen + 1);
		memcpy(it->path, d->path, d->pathlen);
		it->path[d->pathlen] = '\0';
		it->pathlen = d->pathlen;
		it->threat = xstrdup(d->threat);
		it->engine = xstrdup(d->engine);
		it->hashed = d->hashed;
		memcpy(it->sha256, d->sha256, sizeof(it->sha256));
		it->snapshot = d->snapshot != NULL;
		if (!strv_has(engines, d->engine))
			strv_push(engines, d->engine);
	}
}

int clean_select(struct json_object *report, const struct clean_options *o,
		 struct clean_target **out, size_t *n, struct strv *engines,
		 char **cause)
{
	struct json_object *ts = json_get(report, "targets");
	struct json_object *es = json_get(report, "engines");
	size_t ne = json_array_len(es);
	struct result_engine *re = xcalloc(ne + 1, sizeof(*re));
	struct clean_target *v = NULL;
	struct strv found = { 0 };
	size_t nv = 0;
	int r = 0;

	if (!json_array_len(ts)) {
		*cause = xstrdup("the report names no target");
		r = -EINVAL;
		goto done;
	}
	for (size_t i = 0; i < ne; i++)
		re[i].name = json_get_str(json_object_array_get_idx(es, i),
					  "name");
	v = xcalloc(json_array_len(ts) + 1, sizeof(*v));
	for (size_t i = 0; i < json_array_len(ts); i++) {
		struct json_object *x = json_object_array_get_idx(ts, i);
		const char *name = json_get_str(x, "name");
		const char *image = json_get_str(x, "image");
		struct detection *det = NULL;
		size_t ndet = 0;

		if (!name || !image || !target_named(o->targets, name, image))
			continue;
		strv_push(&found, name);
		strv_push(&found, image);
		if (!json_array_len(json_get(x, "detections")))
			continue;
		if (result_detections_load(x, re, ne, &det, &ndet) < 0) {
			*cause = xasprintf("cannot read the detections of "
					   "target '%s' of the report", name);
			r = -EINVAL;
			goto done;
		}
		select_target(o, det, ndet, name, image,
			      json_get_str(x, "format"), &v[nv], engines);
		result_detections_free(det, ndet);
		if (v[nv].nitems)
			nv++;
		else
			clean_target_release(&v[nv]);
	}
	for (size_t i = 0; o->targets && i < o->targets->n; i++)
		if (!strv_has(&found, o->targets->v[i])) {
			*cause = xasprintf("the report has no target '%s'",
					   o->targets->v[i]);
			r = -EINVAL;
			goto done;
		}
	*out = v;
	*n = nv;
	v = NULL;
	nv = 0;
done:
	for (size_t i = 0; i < nv; i++)
		clean_target_release(&v[i]);
	free(v);
	free(re);
	strv_release(&found);
	return r;
}

static void item_set(struct clean_item *it, enum clean_result res,
		     char *reason)
{
	it->result = res;
	free(it->reason);
	it->reason = reason;
}

/* Every item of file system id not decided yet ends with res and reason. */
static void items_of_fs(struct clean_target *t, const char *id,
			enum clean_result from, enum clean_result res,
			const char *reason)
{
	for (size_t i = 0; i < t->nitems; i++)
		if (!strcmp(t->items[i].fs, id) && t->items[i].result == from)
			item_set(&t->items[i], res,
				 reason ? xstrdup(reason) : NULL);
}

static void items_all(struct clean_target *t, enum clean_result from,
		      enum clean_result res, const char *reason)
{
	for (size_t i = 0; i < t->nitems; i++)
		if (t->items[i].result == from)
			item_set(&t->items[i], res,
				 reason ? xstrdup(reason) : NULL);
}

static bool fs_has_items(const struct clean_target *t, const char *id,
			 enum clean_result res)
{
	for (size_t i = 0; i < t->nitems; i++)
		if (!strcmp(t->items[i].fs, id) && t->items[i].result == res)
			return true;
	return false;
}

static bool any_removed(const struct clean_target *t)
{
	for (size_t i = 0; i < t->nitems; i++)
		if (t->items[i].result == CLEAN_REMOVED)
			return true;
	return false;
}

/* The file system types cleaning is implemented (and tested) for. */
static bool type_supported(const char *type)
{
	static const char *const types[] = { "ext2", "ext3", "ext4", "xfs",
					      "ntfs", "vfat", "exfat" };

	for (size_t i = 0; type && i < ARRAY_SIZE(types); i++)
		if (!strcmp(type, types[i]))
			return true;
	return false;
}

static int openat2_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};

	return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
}

/*
 * The extended attributes of fd, for the quarantine record, and on an
 * NTFS mounted by ntfs-3g (streams_interface=xattr) its named data streams,
 * its "user." attributes: those go enciphered into the store, not into the
 * record.  -E2BIG or -errno when one cannot be read whole (the file is
 * then not removed: its streams would be lost).
 */
static int read_attrs(int fd, bool ntfs, struct quarantine_attr **out,
		      size_t *nx, size_t *ns, struct buf *names)
{
	struct quarantine_attr *v;
	ssize_t len = flistxattr(fd, NULL, 0);
	size_t max = ntfs ? STREAM_MAX : XATTR_MAX, n = 0;

	*nx = *ns = 0;
	if (len == 0 || (len < 0 && errno == ENOTSUP))
		return 0;
	if (len < 0 || len > XATTR_MAX)
		return len < 0 ? -errno : -E2BIG;
	names->p = xmalloc((size_t)len + 1);
	len = flistxattr(fd, names->p, (size_t)len);
	if (len < 0)
		return -errno;
	names->len = (size_t)len;
	for (char *p = names->p; p < names->p + len; p += strlen(p) + 1)
		n++;
	*out = v = xcalloc(n + 1, sizeof(*v));
	/* Streams first, then attributes: two arrays in one. */
	for (int pass = 0; pass < 2; pass++)
		for (char *p = names->p; p < names->p + len;
		     p += strlen(p) + 1) {
			bool stream = ntfs && str_has_prefix(p, "user.");
			ssize_t vl;
			char *val;

			if (stream != (pass == 0))
				continue;
			vl = fgetxattr(fd, p, NULL, 0);
			if (vl < 0)
				return -errno;
			if ((size_t)vl > max)
				return -E2BIG;
			val = xmalloc((size_t)vl + 1);
			vl = fgetxattr(fd, p, val, (size_t)vl);
			if (vl < 0) {
				free(val);
				return -errno;
			}
			v->name = stream ? p + 5 : p;
			v->name_len = strlen(v->name);
			v->value = val;
			v->len = (size_t)vl;
			v++;
			if (stream)
				++*ns;
			else
				++*nx;
		}
	return 0;
}

/*
 * Put it (content from fd, its file's metadata in meta) into the store
 * under the report's sha256: 0 with it->quarantine_id set, or -1 with it
 * marked changed since the scan, or refused, and why.
 */
static int put_item(struct quarantine *q, struct quarantine_item *meta,
		    int fd, const char *image, const char *job,
		    struct clean_item *it)
{
	char *id = NULL, *c = NULL;
	int r;

	meta->image = image;
	meta->fs = it->fs;
	meta->path = it->path;
	meta->path_len = it->pathlen;
	meta->threat = it->threat;
	meta->engine = it->engine;
	meta->job = job;
	meta->sha256 = it->sha256;
	r = quarantine_put(q, meta, fd, &id, &c);
	if (r == -ESTALE)
		item_set(it, CLEAN_CHANGED, xstrdup("changed since the scan: "
			 "its content is not what the scan hashed"));
	else if (r < 0)
		item_set(it, CLEAN_REFUSED, xasprintf("cannot quarantine it: "
			 "%s", c));
	else
		it->quarantine_id = id;
	free(c);
	return r < 0 ? -1 : 0;
}

/*
 * Take the item's file out of the file system mounted at rootfd: opened
 * beneath it without following a symlink, a regular file, its content
 * (checked against the scan's sha256) and metadata into the store, then
 * unlinked.  The item's result says what happened.
 */
static void remove_one(struct quarantine *q, int rootfd, bool ntfs,
		       const char *image, const char *job,
		       struct clean_item *it)
{
	const char *rel = it->path;
	char *dir = NULL, *base;
	struct quarantine_item meta = { 0 };
	struct quarantine_attr *xattrs = NULL;
	struct buf names = { 0 };
	size_t nx = 0, ns = 0;
	struct stat st, st2;
	int dfd = -1, fd = -1, r;

	while (*rel == '/')
		rel++;
	if (memchr(it->path, '\0', it->pathlen) || !*rel) {
		item_set(it, CLEAN_REFUSED, xstrdup("not a file name"));
		return;
	}
	dir = xstrdup(rel);
	base = strrchr(dir, '/');
	if (base) {
		*base++ = '\0';
		dfd = openat2_beneath(rootfd, dir, O_PATH | O_DIRECTORY);
	} else {
		base = dir;
		dfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	}
	if (dfd >= 0)
		fd = openat2_beneath(dfd, base, O_RDONLY | O_NOCTTY |
				     O_NONBLOCK);
	if (fd < 0 && errno == ENOENT && ntfs && strchr(base, ':')) {
		item_set(it, CLEAN_REFUSED, xstrdup("found in an NTFS named "
			 "stream: cleaning a stream is not implemented yet"));
		goto done;
	}
	if (fd < 0) {
		item_set(it, CLEAN_REFUSED, xasprintf(
			 "cannot open it without following a link: %s",
			 strerror(errno)));
		goto done;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		item_set(it, CLEAN_REFUSED, xstrdup("not a regular file"));
		goto done;
	}
	r = read_attrs(fd, ntfs, &xattrs, &nx, &ns, &names);
	if (r < 0) {
		item_set(it, CLEAN_REFUSED, xasprintf("cannot read its "
			 "extended attributes or named streams whole: %s",
			 strerror(-r)));
		goto done;
	}
	meta.mode = st.st_mode;
	meta.uid = st.st_uid;
	meta.gid = st.st_gid;
	meta.atime = st.st_atim;
	meta.mtime = st.st_mtim;
	meta.ctime = st.st_ctim;
	meta.streams = ns ? xattrs : NULL;
	meta.nstreams = ns;
	meta.xattrs = xattrs + ns;
	meta.nxattrs = nx;
	if (put_item(q, &meta, fd, image, job, it) < 0)
		goto done;
	/* The name still holds the file quarantined. */
	if (fstatat(dfd, base, &st2, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st2.st_dev != st.st_dev || st2.st_ino != st.st_ino ||
	    unlinkat(dfd, base, 0) < 0) {
		item_set(it, CLEAN_REFUSED, xasprintf("quarantined as %s but "
			 "not removed: %s", it->quarantine_id,
			 strerror(errno)));
		goto done;
	}
	item_set(it, CLEAN_REMOVED, NULL);
done:
	for (size_t i = 0; xattrs && xattrs[i].name; i++)
		free((void *)xattrs[i].value);
	free(xattrs);
	buf_release(&names);
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	free(dir);
}

/*
 * The same for a FAT file system, changed in place by mtools (never
 * mounted): the file copied out by its exact path into our directory,
 * quarantined from that copy (checked against the scan's sha256), then
 * deleted from the image.
 */
static void remove_fat(struct quarantine *q, const char *view,
		       const struct fs *fs, const char *workdir, size_t n,
		       const char *image, const char *job,
		       struct clean_item *it)
{
	char *dst = xasprintf("%s/fat-%zu", workdir, n);
	char *log = xasprintf("%s/mtools.log", workdir);
	struct quarantine_item meta = { 0 };
	char *c = NULL;
	struct stat st;
	int fd = -1, r;

	if (memchr(it->path, '\0', it->pathlen)) {
		item_set(it, CLEAN_REFUSED, xstrdup("not a file name"));
		goto done;
	}
	r = mtools_read(view, fs->offset, it->path, dst, log, &c);
	if (r == 0)
		fd = open(dst, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (r < 0 || fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		item_set(it, CLEAN_REFUSED, xasprintf("cannot read it with "
			 "mtools: %s", c ? c : strerror(errno)));
		goto done;
	}
	meta.mode = st.st_mode;		/* FAT keeps no owner or mode */
	meta.atime = st.st_atim;
	meta.mtime = st.st_mtim;
	meta.ctime = st.st_mtim;
	if (put_item(q, &meta, fd, image, job, it) == 0) {
		r = mtools_delete(view, fs->offset, it->path, log, &c);
		if (r < 0)
			item_set(it, CLEAN_REFUSED, xasprintf("quarantined as "
				 "%s but not removed: %s", it->quarantine_id,
				 c));
		else
			item_set(it, CLEAN_REMOVED, NULL);
	}
done:
	if (fd >= 0)
		close(fd);
	unlink(dst);
	free(dst);
	free(log);
	free(c);
}

static struct clean_fs *fs_entry(struct clean_target *t, const struct fs *fs)
{
	for (size_t i = 0; i < t->nfs; i++)
		if (!strcmp(t->fs[i].id, fs->id))
			return &t->fs[i];
	t->fs = xreallocarray(t->fs, t->nfs + 1, sizeof(*t->fs));
	memset(&t->fs[t->nfs], 0, sizeof(*t->fs));
	t->fs[t->nfs].id = xstrdup(fs->id);
	t->fs[t->nfs].type = fs->type ? xstrdup(fs->type) : NULL;
	return &t->fs[t->nfs++];
}

static char *check_text(const struct fscheck_result *res)
{
	return xasprintf("%s %s", res->tool,
			 fscheck_status_name(res->status));
}

/*
 * Plan the writable mount of every file system with pending items:
 * plans[k] for those that pass, and a refusal for the items of the rest.
 */
static void plan_all(struct image *img, struct clean_target *t,
		     struct fs_plan *plans, bool *use)
{
	for (size_t i = 0; i < t->nitems; i++) {
		struct clean_item *it = &t->items[i];
		size_t k;

		if (it->result != CLEAN_PLANNED)
			continue;
		if (it->snapshot)
			item_set(it, CLEAN_REFUSED, xstrdup("found in an "
				 "internal snapshot: cleaning snapshots is not "
				 "implemented yet"));
		else if (!it->hashed)
			item_set(it, CLEAN_REFUSED, xstrdup("the report has no "
				 "sha256 of it to check it against"));
		for (k = 0; k < img->nfs; k++)
			if (!strcmp(img->fs[k].id, it->fs))
				break;
		if (k == img->nfs && it->result == CLEAN_PLANNED)
			item_set(it, CLEAN_REFUSED, xasprintf("the image has "
				 "no file system '%s' any more", it->fs));
	}
	for (size_t k = 0; k < img->nfs; k++) {
		struct fs *fs = &img->fs[k];
		struct clean_fs *cf;
		char *c = NULL;

		if (!fs_has_items(t, fs->id, CLEAN_PLANNED))
			continue;
		cf = fs_entry(t, fs);
		/* The plan's own refusal first: it says why it is unsafe. */
		if (mount_plan_write(img, k, &plans[k], &c) < 0) {
			cf->reason = c;
			c = NULL;
		} else if (!type_supported(fs->type)) {
			cf->reason = xasprintf("cleaning %s is not implemented "
					       "yet", fs->type);
		} else {
			cf->plan = xasprintf("%s %s", plans[k].driver,
					     plans[k].options);
			use[k] = true;
		}
		if (cf->reason)
			items_of_fs(t, fs->id, CLEAN_PLANNED, CLEAN_REFUSED,
				    cf->reason);
		free(c);
	}
}

/*
 * The write itself, on the writable view: per file system the check,
 * the writable mount, each removal, the unmount and the check again.
 * Returns 0, or -EIO when a check after the change is not clean (the
 * caller rolls back).
 */
static int write_all(const struct clean_options *o, struct image *img,
		     const char *view, struct clean_target *t,
		     struct fs_plan *plans, const bool *use,
		     struct quarantine *q)
{
	int ret = 0;

	for (size_t k = 0; k < img->nfs; k++) {
		struct fs *fs = &img->fs[k];
		struct clean_fs *cf;
		struct fscheck_result res = { 0 };
		struct mnt *m = NULL;
		char *target = NULL, *log = NULL, *c = NULL;
		int rootfd = -1;

		if (!use[k] || !fs_has_items(t, fs->id, CLEAN_PLANNED))
			continue;
		cf = fs_entry(t, fs);
		target = xasprintf("%s/rw-%s", o->workdir, fs->name);
		log = xasprintf("%s/check-%s.log", o->workdir, fs->name);
		if (mount_write_check(view, img, k, &plans[k], o->workdir,
				      &res, &c) < 0) {
			cf->reason = c;
			c = NULL;
			items_of_fs(t, fs->id, CLEAN_PLANNED, CLEAN_REFUSED,
				    cf->reason);
			goto next;
		}
		cf->check_before = check_text(&res);
		fscheck_result_release(&res);
		if (plans[k].access == FS_EXTRACT) {
			t->written = true;
			for (size_t i = 0; i < t->nitems; i++)
				if (!strcmp(t->items[i].fs, fs->id) &&
				    t->items[i].result == CLEAN_PLANNED)
					remove_fat(q, view, fs, o->workdir, i,
						   img->path, o->job,
						   &t->items[i]);
			goto check_after;
		}
		if (mount_filesystem_write(view, fs, &plans[k], target, &m,
					   &c) < 0) {
			cf->reason = xasprintf("cannot mount it writable: %s",
					       c);
			items_of_fs(t, fs->id, CLEAN_PLANNED, CLEAN_REFUSED,
				    cf->reason);
			goto next;
		}
		t->written = true;
		rootfd = open(target, O_PATH | O_DIRECTORY | O_CLOEXEC |
			      O_NOFOLLOW);
		for (size_t i = 0; i < t->nitems; i++) {
			struct clean_item *it = &t->items[i];

			if (strcmp(it->fs, fs->id) ||
			    it->result != CLEAN_PLANNED)
				continue;
			if (rootfd < 0)
				item_set(it, CLEAN_REFUSED, xasprintf(
					 "cannot open '%s': %s", target,
					 strerror(errno)));
			else
				remove_one(q, rootfd, !strcmp(fs->type,
					   "ntfs"), img->path, o->job, it);
		}
		if (rootfd >= 0)
			close(rootfd);
		if (mount_unmount(m, &c) < 0) {
			cf->reason = xasprintf("unmounting it failed: %s", c);
			ret = -EIO;
			goto next;
		}
check_after:
		if (fscheck_run(fs->type, view, fs->offset, fs->size, log,
				&res, &c) < 0) {
			cf->reason = xasprintf("no check after the change: "
					       "%s", c);
			ret = -EIO;
		} else {
			cf->check_after = check_text(&res);
			if (res.status != FSCHECK_CLEAN) {
				cf->reason = xasprintf("%s is not clean after "
						       "the change (exit %d)",
						       res.tool, res.code);
				ret = -EIO;
			}
		}
		fscheck_result_release(&res);
next:
		free(c);
		free(target);
		free(log);
	}
	return ret;
}

/* Is guest path p (n bytes) one of the items removed from fs id? */
static struct clean_item *removed_item(struct clean_target *t,
				       const char *id, const char *p)
{
	for (size_t i = 0; i < t->nitems; i++)
		if (t->items[i].result == CLEAN_REMOVED &&
		    !strcmp(t->items[i].fs, id) && !strcmp(t->items[i].path, p))
			return &t->items[i];
	return NULL;
}

/* Is p a selected item of fs id that was left where it was? */
static bool left_item(struct clean_target *t, const char *id, const char *p)
{
	for (size_t i = 0; i < t->nitems; i++)
		if (t->items[i].result != CLEAN_REMOVED &&
		    !strcmp(t->items[i].fs, id) && !strcmp(t->items[i].path, p))
			return true;
	return false;
}

static bool threat_removed(struct clean_target *t, const char *id,
			   const char *threat)
{
	for (size_t i = 0; i < t->nitems; i++)
		if (t->items[i].result == CLEAN_REMOVED &&
		    !strcmp(t->items[i].fs, id) &&
		    !strcmp(t->items[i].threat, threat))
			return true;
	return false;
}

static struct scanner *scanner_named(const struct clean_options *o,
				     const char *name)
{
	for (size_t i = 0; i < o->nscanners; i++)
		if (!strcmp(engine_name(o->scanners[i]->e), name))
			return o->scanners[i];
	return NULL;
}

/*
 * The proof: each changed file system mounted read-only as a scan mounts
 * it; every removed path must be gone, and a rescan with the engines that
 * found them must not find a removed path or threat again.  Returns 0, or
 * -EIO with *cause (the caller rolls back).
 */
static int verify_all(const struct clean_options *o, struct image *img,
		      struct clean_target *t, char **cause)
{
	struct attach *ro = NULL, *rw = NULL;
	int r;

	r = mount_attach(img, o->workdir, &ro, cause);
	if (r < 0)
		return r;
	for (size_t k = 0; r == 0 && k < img->nfs; k++) {
		struct fs *fs = &img->fs[k];
		struct mount_source src = { .img = img, .name = t->name,
					    .ro = ro, .rw = &rw,
					    .workdir = o->workdir };
		struct mount_note note = { 0 };
		struct mnt *m = NULL;
		struct walk w = { 0 };
		char *target;
		int rootfd = -1;

		if (!fs_has_items(t, fs->id, CLEAN_REMOVED))
			continue;
		target = xasprintf("%s/ro-%s", o->workdir, fs->name);
		r = mount_filesystem(&src, k, target, &m, &note, cause);
		mount_note_release(&note);
		if (r == 0)
			rootfd = open(target, O_PATH | O_DIRECTORY |
				      O_CLOEXEC | O_NOFOLLOW);
		if (r == 0 && rootfd < 0) {
			*cause = xasprintf("cannot open '%s': %s", target,
					   strerror(errno));
			r = -EIO;
		}
		/* Each removed path, looked up as it was removed. */
		for (size_t i = 0; r == 0 && i < t->nitems; i++) {
			struct clean_item *it = &t->items[i];
			const char *rel = it->path;
			int fd;

			while (*rel == '/')
				rel++;
			if (it->result != CLEAN_REMOVED ||
			    strcmp(it->fs, fs->id))
				continue;
			fd = openat2_beneath(rootfd, rel, O_PATH);
			if (fd >= 0) {
				close(fd);
				*cause = xasprintf("'%s' is still there after "
						   "the change", it->path);
				r = -EIO;
			}
		}
		if (rootfd >= 0)
			close(rootfd);
		rootfd = -1;
		if (r == 0 && walk_fs(&w, target, false, NULL) < 0) {
			*cause = xasprintf("cannot walk '%s' again", fs->id);
			r = -EIO;
		}
		for (size_t e = 0; r == 0 && e < o->nscanners; e++) {
			struct scanner *s = o->scanners[e];
			struct scan_result res = { 0 };
			char *logbase = xasprintf("%s/rescan-%s-%s", o->workdir,
						  fs->name, engine_name(s->e));
			bool used = false;

			for (size_t i = 0; i < t->nitems; i++)
				used |= t->items[i].result == CLEAN_REMOVED &&
					!strcmp(t->items[i].fs, fs->id) &&
					scanner_named(o, t->items[i].engine) ==
					s;
			if (used) {
				scanner_run(s, &w, target, logbase, 0, NULL,
					    &res);
				if (res.errors) {
					*cause = xasprintf("the rescan of '%s' "
						"failed: %s", fs->id, res.error ?
						res.error : "no message");
					r = -EIO;
				}
			}
			for (size_t h = 0; r == 0 && h < res.nhits; h++) {
				const char *g = res.hits[h].path;

				if (removed_item(t, fs->id, g) ||
				    (threat_removed(t, fs->id,
						    res.hits[h].threat) &&
				     !left_item(t, fs->id, g))) {
					*cause = xasprintf("the rescan still "
						"finds '%s' in '%s'",
						res.hits[h].threat, g);
					r = -EIO;
				}
			}
			scan_result_release(&res);
			free(logbase);
		}
		walk_release(&w);
		mount_release(m);
		free(target);
	}
	if (rw)
		mount_detach(rw);
	mount_detach(ro);
	return r;
}

int clean_target(const struct clean_options *o, struct clean_target *t,
		 char **cause)
{
	struct image *img = NULL;
	struct attach *a = NULL;
	struct quarantine *q = NULL;
	struct undo *u = NULL;
	struct fs_plan *plans = NULL;
	bool *use = NULL, any = false;
	char *c = NULL, *jobdir = NULL;
	int r;

	if (mount_check_in_use(t->image, &c) < 0) {
		t->reason = c;
		items_all(t, CLEAN_PLANNED, CLEAN_REFUSED, t->reason);
		return 0;
	}
	r = image_open(t->image, t->format, &img, &c);
	if (r == 0)
		r = mount_attach(img, o->workdir, &a, &c);
	if (r == 0)
		r = image_read_layout(img, mount_attach_view(a), &c);
	mount_detach(a);
	a = NULL;
	if (r < 0) {
		t->reason = c;
		c = NULL;
		items_all(t, CLEAN_PLANNED, CLEAN_REFUSED, t->reason);
		r = 0;
		goto done;
	}
	mount_plan(img);
	plans = xcalloc(img->nfs + 1, sizeof(*plans));
	use = xcalloc(img->nfs + 1, sizeof(*use));
	plan_all(img, t, plans, use);
	for (size_t k = 0; k < img->nfs; k++)
		any |= use[k];
	if (o->dry_run || !any)
		goto done;

	r = quarantine_open(o->quarantine, true, &q, cause);
	if (r < 0)
		goto done;
	jobdir = xasprintf("%s/%s", o->undo_dir, o->job);
	r = undo_begin(img, jobdir, &u, &c);
	if (r == 0) {
		char *d = xstrdup(undo_file(u)), *s = strrchr(d, '/');

		if (s)
			*s = '\0';
		s = strrchr(d, '/');
		t->undo_id = xasprintf("%s/%s", o->job, s ? s + 1 : d);
		free(d);
		r = mount_attach_writable(img, o->workdir, undo_file(u), &a,
					  &c);
	}
	if (r < 0) {
		t->reason = c;
		c = NULL;
		items_all(t, CLEAN_PLANNED, CLEAN_REFUSED, t->reason);
		r = 0;
		goto done;
	}
	r = write_all(o, img, mount_attach_view(a), t, plans, use, q);
	if (r == 0 && mount_attach_check(a, &c) < 0)
		r = -EIO;
	mount_detach(a);
	a = NULL;
	{
		char *cc = NULL;

		if (undo_commit(u, &cc) < 0 && r == 0) {
			r = -EIO;
			str_set_first(&c, cc);
		} else {
			free(cc);
		}
	}
	if (r == 0 && !any_removed(t))
		goto restore;
	if (r == 0 && t->written)
		r = verify_all(o, img, t, &c);
	if (r < 0 && t->written) {
		char *uc = NULL;

		str_set_first(&t->reason, c ? c : xstrdup("a check after the "
			      "change failed"));
		c = NULL;
		if (undo_apply(u, &uc) == 0) {
			t->rolled_back = true;
			items_all(t, CLEAN_REMOVED, CLEAN_ROLLED_BACK,
				  t->reason);
		} else {
			char *m = xasprintf("%s; rolling back failed: %s",
					    t->reason, uc);

			free(t->reason);
			t->reason = m;
			items_all(t, CLEAN_REMOVED, CLEAN_REMAINS, t->reason);
		}
		free(uc);
	} else if (r == 0 && t->written) {
		t->rescanned = true;
	}
	r = 0;
	goto done;
restore:
	/*
	 * Mounting alone writes (times, counts), and so may the replay of a
	 * journal before a check that then refused: give the guest its disk.
	 */
	if (undo_apply(u, &c) == 0) {
		t->rolled_back = true;
		str_set_first(&t->reason, xstrdup("nothing was removed: the "
			      "image was brought back to its undo point"));
	} else {
		str_set_first(&t->reason, xasprintf("nothing was removed, but "
			      "the image was not brought back: %s", c));
	}
	r = 0;
done:
	for (size_t k = 0; plans && k < img->nfs; k++)
		mount_plan_release(&plans[k]);
	free(plans);
	free(use);
	mount_detach(a);
	undo_free(u);
	quarantine_close(q);
	image_free(img);
	free(jobdir);
	free(c);
	return r;
}

int clean_exit_code(const struct clean_target *t, size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < t[i].nitems; j++)
			switch (t[i].items[j].result) {
			case CLEAN_PLANNED:
			case CLEAN_REMOVED:
				break;
			case CLEAN_CHANGED:
			case CLEAN_REMAINS:
				if (rc < 1)
					rc = 1;
				break;
			default:
				rc = 2;
			}
	return rc;
}

struct json_object *clean_remediation_json(const struct clean_target *t)
{
	struct json_object *o = json_object_new_object();
	struct json_object *fss = json_object_new_array();
	struct json_object *dets = json_object_new_array();

	json_put_str(o, "undo", t->undo_id);
	json_object_object_add(o, "written", json_object_new_boolean(
			       t->written));
	json_object_object_add(o, "rolled_back", json_object_new_boolean(
			       t->rolled_back));
	json_object_object_add(o, "rescanned", json_object_new_boolean(
			       t->rescanned));
	json_put_str(o, "reason", t->reason);
	for (size_t i = 0; i < t->nfs; i++) {
		struct json_object *f = json_object_new_object();

		json_put_str(f, "id", t->fs[i].id);
		json_put_str(f, "type", t->fs[i].type);
		json_put_str(f, "plan", t->fs[i].plan);
		json_put_str(f, "check_before", t->fs[i].check_before);
		json_put_str(f, "check_after", t->fs[i].check_after);
		json_put_str(f, "reason", t->fs[i].reason);
		json_object_array_add(fss, f);
	}
	json_put_obj(o, "filesystems", fss);
	for (size_t i = 0; i < t->nitems; i++) {
		const struct clean_item *it = &t->items[i];
		struct json_object *d = json_object_new_object();

		json_put_str(d, "fs", it->fs);
		json_put_bytes(d, "path", "path_b64", it->path, it->pathlen);
		json_put_str(d, "threat", it->threat);
		json_put_str(d, "engine", it->engine);
		json_put_str(d, "action", "quarantine");
		json_put_str(d, "result", clean_result_names[it->result]);
		json_put_str(d, "quarantine_id", it->quarantine_id);
		json_put_str(d, "reason", it->reason);
		json_object_array_add(dets, d);
	}
	json_put_obj(o, "detections", dets);
	return o;
}

void clean_target_release(struct clean_target *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nitems; i++) {
		free(t->items[i].fs);
		free(t->items[i].path);
		free(t->items[i].threat);
		free(t->items[i].engine);
		free(t->items[i].reason);
		free(t->items[i].quarantine_id);
	}
	for (size_t i = 0; i < t->nfs; i++) {
		free(t->fs[i].id);
		free(t->fs[i].type);
		free(t->fs[i].plan);
		free(t->fs[i].check_before);
		free(t->fs[i].check_after);
		free(t->fs[i].reason);
	}
	free(t->items);
	free(t->fs);
	free(t->name);
	free(t->image);
	free(t->format);
	free(t->undo_id);
	free(t->reason);
	memset(t, 0, sizeof(*t));
}
