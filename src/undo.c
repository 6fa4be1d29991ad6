/* undo.c - undo points: what an image held before avbatch wrote it */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "mount.h"
#include "proc.h"
#include "undo.h"

#define RECORD_SCHEMA	1
/* Images up to twice this are hashed whole; larger ones head and tail. */
#define IDENTITY_SPAN	(1024 * 1024)
/* qcow2 v3 header: incompatible feature bits (big-endian u64), dirty bit. */
#define QCOW2_INCOMPAT_OFFSET	72
#define QCOW2_INCOMPAT_DIRTY	0x01

enum undo_state {
	UNDO_BEGUN,		/* taken; its writer may still run, or died */
	UNDO_COMMITTED,		/* the writer is done: the image as it left it */
	UNDO_APPLIED,		/* undone */
};

static const char *const undo_state_names[] = {
	[UNDO_BEGUN] = "begun",
	[UNDO_COMMITTED] = "committed",
	[UNDO_APPLIED] = "applied",
};

/* What tells one image file (and its content, roughly) from another. */
struct identity {
	uint64_t dev, ino, size;
	int64_t ctime_ns;	/* every write changes it, none sets it back */
	char sha256[2 * 32 + 1];
};

struct undo {
	char *dir;
	char *record;		/* dir/record.json */
	char *file;		/* dir/undo.qcow2 */
	char *image;
	char *format;
	uint64_t virtual_size;
	enum undo_state state;
	struct identity before, after;
};

static int state_from_name(const char *s, enum undo_state *out)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(undo_state_names); i++)
		if (!strcmp(s, undo_state_names[i])) {
			*out = (enum undo_state)i;
			return 0;
		}
	return -EINVAL;
}

/* Hash len bytes of fd from off into ctx. */
static int hash_range(int fd, off_t off, uint64_t len, EVP_MD_CTX *ctx)
{
	char chunk[65536];

	while (len > 0) {
		size_t want = len < sizeof(chunk) ? (size_t)len : sizeof(chunk);
		ssize_t k = pread(fd, chunk, want, off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		EVP_DigestUpdate(ctx, chunk, (size_t)k);
		off += k;
		len -= (uint64_t)k;
	}
	return 0;
}

/* The identity of the open image file fd. */
static int identity_of(int fd, struct identity *id)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	struct stat st;
	int r;

	if (!ctx)
		abort();
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto done;
	}
	id->dev = (uint64_t)st.st_dev;
	id->ino = (uint64_t)st.st_ino;
	id->size = (uint64_t)st.st_size;
	id->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 +
		       st.st_ctim.tv_nsec;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	if (id->size <= 2 * IDENTITY_SPAN) {
		r = hash_range(fd, 0, id->size, ctx);
	} else {
		r = hash_range(fd, 0, IDENTITY_SPAN, ctx);
		if (r == 0)
			r = hash_range(fd, (off_t)(id->size - IDENTITY_SPAN),
				       IDENTITY_SPAN, ctx);
	}
	if (r < 0)
		goto done;
	EVP_DigestFinal_ex(ctx, md, NULL);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(id->sha256 + 2 * i, 3, "%02x", md[i]);
done:
	EVP_MD_CTX_free(ctx);
	return r;
}

static bool identity_same(const struct identity *a, const struct identity *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->ctime_ns == b->ctime_ns && !strcmp(a->sha256, b->sha256);
}

static struct json_object *identity_json(const struct identity *id)
{
	struct json_object *o = json_object_new_object();

	json_put_int(o, "dev", (int64_t)id->dev);
	json_put_int(o, "ino", (int64_t)id->ino);
	json_put_int(o, "size", (int64_t)id->size);
	json_put_int(o, "ctime_ns", id->ctime_ns);
	json_put_str(o, "sha256", id->sha256);
	return o;
}

static int identity_read(struct json_object *o, struct identity *id)
{
	const char *sha = json_get_str(o, "sha256");

	if (!o || !sha || strlen(sha) != sizeof(id->sha256) - 1)
		return -EINVAL;
	id->dev = (uint64_t)json_get_int(o, "dev", 0);
	id->ino = (uint64_t)json_get_int(o, "ino", 0);
	id->size = (uint64_t)json_get_int(o, "size", 0);
	id->ctime_ns = json_get_int(o, "ctime_ns", 0);
	memcpy(id->sha256, sha, sizeof(id->sha256));
	return 0;
}

/* Write record.json (atomically: fsync'd, renamed) and fsync dir. */
static int record_write(const struct undo *u, char **cause)
{
	struct json_object *o = json_object_new_object();
	int dfd, r;

	json_put_int(o, "schema", RECORD_SCHEMA);
	json_put_str(o, "image", u->image);
	json_put_str(o, "format", u->format);
	json_put_int(o, "virtual_size", (int64_t)u->virtual_size);
	json_put_str(o, "state", undo_state_names[u->state]);
	json_put_obj(o, "before", identity_json(&u->before));
	if (u->state != UNDO_BEGUN)
		json_put_obj(o, "after", identity_json(&u->after));
	r = json_write(o, u->record);
	json_object_put(o);
	if (r < 0) {
		*cause = xasprintf("cannot write '%s': %s", u->record,
				   strerror(-r));
		return r;
	}
	dfd = open(u->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		r = -errno;
		*cause = xasprintf("cannot sync '%s': %s", u->dir,
				   strerror(errno));
	}
	if (dfd >= 0)
		close(dfd);
	return r;
}

/* fsync the file at path (the undo file qemu wrote). */
static int sync_path(const char *path, char **cause)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r = 0;

	if (fd < 0 || fsync(fd) < 0) {
		r = -errno;
		*cause = xasprintf("cannot sync '%s': %s", path,
				   strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * mkdir_private(path), creating (0700) up to levels missing directories
 * above it first (the undo directory, /var/lib/avbatch).
 */
static int mkdir_parents(const char *path, int levels)
{
	char *parent, *slash;
	int r = mkdir_private(path);

	if (r != -ENOENT || levels <= 0)
		return r;
	parent = xstrdup(path);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		r = mkdir_parents(parent, levels - 1);
	}
	free(parent);
	return r < 0 ? r : mkdir_private(path);
}

/* Make a new disk-N directory in jobdir: its path, or NULL with errno. */
static char *new_disk_dir(const char *jobdir)
{
	for (unsigned n = 0; n < 10000; n++) {
		char *d = xasprintf("%s/disk-%u", jobdir, n);

		if (mkdir(d, 0700) == 0)
			return d;
		free(d);
		if (errno != EEXIST)
			return NULL;
	}
	errno = ENOSPC;
	return NULL;
}

static struct undo *undo_new(const char *dir)
{
	struct undo *u = xcalloc(1, sizeof(*u));

	u->dir = xstrdup(dir);
	u->record = xasprintf("%s/record.json", dir);
	u->file = xasprintf("%s/undo.qcow2", dir);
	return u;
}

int undo_begin(const struct image *img, const char *jobdir,
	       struct undo **out, char **cause)
{
	struct undo *u = NULL;
	char *dir = NULL, *size = NULL;
	/*
	 * Lazy refcounts: qemu sets the header's dirty bit before the first
	 * write and clears it only once every table is written at close, so
	 * an undo file left by a killed daemon is known (undo_file_closed).
	 */
	const char *argv[] = {
		"qemu-img", "create", "-q", "-f", "qcow2", "-o",
		"lazy_refcounts=on", NULL, NULL, NULL
	};
	struct buf b = { 0 };
	int r;

	r = mkdir_parents(jobdir, 3);
	if (r < 0) {
		*cause = xasprintf("cannot create '%s': %s", jobdir,
				   strerror(-r));
		goto fail;
	}
	dir = new_disk_dir(jobdir);
	if (!dir) {
		r = -errno;
		*cause = xasprintf("cannot create an undo point in '%s': %s",
				   jobdir, strerror(errno));
		goto fail;
	}
	u = undo_new(dir);
	u->image = xstrdup(img->path);
	u->format = xstrdup(img->format);
	u->virtual_size = img->virtual_size;
	u->state = UNDO_BEGUN;
	r = identity_of(img->files[0].fd, &u->before);
	if (r < 0) {
		*cause = xasprintf("cannot read '%s': %s", img->path,
				   strerror(-r));
		goto fail;
	}
	/* The copy-before-write target: as long as the guest's disk. */
	size = xasprintf("%llu", (unsigned long long)img->virtual_size);
	argv[7] = u->file;
	argv[8] = size;
	r = proc_capture(argv, 60, &b, cause);
	if (r == 0)
		r = sync_path(u->file, cause);
	if (r == 0)
		r = record_write(u, cause);
	if (r < 0)
		goto fail;
	*out = u;
	goto done;
fail:
	if (dir)
		rmtree(dir);
	undo_free(u);
done:
	buf_release(&b);
	free(size);
	free(dir);
	return r;
}

const char *undo_file(const struct undo *u)
{
	return u->file;
}

const char *undo_image(const struct undo *u)
{
	return u->image;
}

static int undo_file_closed(const struct undo *u, char **cause);

int undo_commit(struct undo *u, char **cause)
{
	int fd, r;

	/* A writer that died (a crash at exit) never finished the file. */
	r = undo_file_closed(u, cause);
	if (r == 0)
		r = sync_path(u->file, cause);
	if (r < 0)
		return r;
	fd = open(u->image, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("cannot open '%s': %s", u->image,
				   strerror(errno));
		return r;
	}
	r = identity_of(fd, &u->after);
	close(fd);
	if (r < 0) {
		*cause = xasprintf("cannot read '%s': %s", u->image,
				   strerror(-r));
		return r;
	}
	u->state = UNDO_COMMITTED;
	return record_write(u, cause);
}

int undo_load(const char *dir, struct undo **out, char **cause)
{
	struct undo *u = undo_new(dir);
	struct json_object *o = NULL;
	struct buf b = { 0 };
	const char *image, *format;
	int r;

	r = read_file(u->record, 1 << 20, &b);
	if (r < 0) {
		*cause = xasprintf("cannot read '%s': %s", u->record,
				   strerror(-r));
		goto fail;
	}
	o = json_parse(b.p, b.len, cause);
	r = -EINVAL;
	if (!o)
		goto fail;
	image = json_get_str(o, "image");
	format = json_get_str(o, "format");
	if (json_get_int(o, "schema", 0) != RECORD_SCHEMA || !image ||
	    !format || state_from_name(json_get_str(o, "state"), &u->state) ||
	    identity_read(json_get(o, "before"), &u->before) ||
	    (u->state != UNDO_BEGUN &&
	     identity_read(json_get(o, "after"), &u->after))) {
		*cause = xasprintf("'%s' is not an undo record", u->record);
		goto fail;
	}
	u->image = xstrdup(image);
	u->format = xstrdup(format);
	u->virtual_size = (uint64_t)json_get_int(o, "virtual_size", 0);
	json_object_put(o);
	buf_release(&b);
	*out = u;
	return 0;
fail:
	json_object_put(o);
	buf_release(&b);
	undo_free(u);
	return r;
}

int undo_list(const char *jobdir, struct strv *out, char **cause)
{
	DIR *d = opendir(jobdir);
	struct dirent *e;
	struct strv names = { 0 };
	size_t n0 = out->n;

	if (!d) {
		*cause = xasprintf("no undo point '%s': %s", jobdir,
				   strerror(errno));
		return -errno;
	}
	while ((e = readdir(d)))
		if (str_has_prefix(e->d_name, "disk-"))
			strv_push(&names, e->d_name);
	closedir(d);
	/* disk-N in the order taken: by N. */
	for (unsigned n = 0; out->n - n0 < names.n && n < 10000; n++) {
		char *name = xasprintf("disk-%u", n);

		if (strv_has(&names, name))
			strv_push_take(out, xasprintf("%s/%s", jobdir, name));
		free(name);
	}
	strv_release(&names);
	if (out->n == n0) {
		*cause = xasprintf("no undo point in '%s'", jobdir);
		return -ENOENT;
	}
	return 0;
}

/*
 * Write every range the undo file holds back into the image, through
 * qemu's block layer: the undo file as a qcow2 whose backing is the image
 * (its chain as image_open checked it), committed into it.  qemu-img takes
 * the image's write lock, and -d leaves the undo file as it is.
 */
static int commit_back(const struct undo *u, const struct image *img,
		       char **cause)
{
	struct json_object *top = json_object_new_object();
	struct json_object *file = json_object_new_object();
	struct fdv fds = { 0 };
	struct json_object *lay = image_layer_json(img, 0, true, &fds);
	const char *argv[] = { "qemu-img", "commit", "-q", "-d", NULL, NULL };
	struct buf b = { 0 };
	char *arg, *path = NULL;
	int fd, r;

	fd = open(u->file, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("cannot open '%s': %s", u->file,
				   strerror(errno));
		goto done;
	}
	path = xasprintf("/proc/self/fd/%d", fd);
	image_layer_writable(lay);
	json_put_str(file, "driver", "file");
	json_put_str(file, "filename", path);
	json_put_str(top, "driver", "qcow2");
	json_put_obj(top, "file", file);
	file = NULL;
	json_put_obj(top, "backing", lay);
	lay = NULL;
	fds.v = xreallocarray(fds.v, fds.n + 1, sizeof(*fds.v));
	fds.v[fds.n++] = fd;
	arg = xasprintf("json:%s", json_object_to_json_string_ext(top,
			JSON_C_TO_STRING_PLAIN |
			JSON_C_TO_STRING_NOSLASHESCAPE));
	argv[4] = arg;
	r = proc_capture_io(argv, &(struct proc_io){ .fds = fds.v,
			    .nfds = fds.n }, -1, &b, NULL, cause);
	free(arg);
done:
	if (fd >= 0)
		close(fd);
	json_object_put(lay);
	json_object_put(file);
	json_object_put(top);
	buf_release(&b);
	free(fds.v);
	free(path);
	return r;
}

/*
 * Was the undo file closed by qemu (every table written), or left by a
 * daemon killed while writing?  One header field read by hand: qemu has
 * no tool that reports the qcow2 dirty bit without repairing it.
 */
static int undo_file_closed(const struct undo *u, char **cause)
{
	unsigned char h[QCOW2_INCOMPAT_OFFSET + 8];
	int fd = open(u->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	ssize_t k = fd < 0 ? -1 : pread(fd, h, sizeof(h), 0);

	if (fd >= 0)
		close(fd);
	if (k != (ssize_t)sizeof(h) || memcmp(h, "QFI\xfb", 4)) {
		*cause = xasprintf("cannot read the undo file '%s'", u->file);
		return -EINVAL;
	}
	if (h[QCOW2_INCOMPAT_OFFSET + 7] & QCOW2_INCOMPAT_DIRTY) {
		*cause = xasprintf("the undo point of '%s' is incomplete: the "
				   "qemu-storage-daemon writing it was killed "
				   "(not ended by avbatch cleanup)", u->image);
		return -EIO;
	}
	return 0;
}

/* Open the recorded image, the very file the point was taken of. */
static int open_recorded(const struct undo *u, struct identity *now,
			 char **cause)
{
	int fd, r;

	fd = open(u->image, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
		  O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("cannot open '%s': %s", u->image,
				   strerror(errno));
		return r;
	}
	r = identity_of(fd, now);
	if (r < 0) {
		*cause = xasprintf("cannot read '%s': %s", u->image,
				   strerror(-r));
		close(fd);
		return r;
	}
	if (now->dev != u->before.dev || now->ino != u->before.ino) {
		*cause = xasprintf("'%s' is not the file the undo point was "
				   "taken of (replaced since)", u->image);
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int undo_apply(struct undo *u, char **cause)
{
	struct image *img = NULL;
	struct identity now;
	struct stat st;
	char *path = NULL;
	int fd, r;

	if (u->state == UNDO_APPLIED) {
		*cause = xasprintf("'%s' was undone already", u->image);
		return -EALREADY;
	}
	r = undo_file_closed(u, cause);
	if (r < 0)
		return r;
	fd = open_recorded(u, &now, cause);
	if (fd < 0)
		return fd;
	path = xasprintf("/proc/self/fd/%d", fd);
	r = mount_check_in_use(path, cause);
	if (r < 0)
		goto done;
	if (u->state == UNDO_COMMITTED && !identity_same(&now, &u->after)) {
		r = -ESTALE;
		*cause = xasprintf("'%s' changed since it was written (a VM "
				   "ran on it?): not undone", u->image);
		goto done;
	}
	r = image_open(u->image, u->format, &img, cause);
	if (r < 0)
		goto done;
	if (fstat(img->files[0].fd, &st) < 0 ||
	    (uint64_t)st.st_dev != now.dev || (uint64_t)st.st_ino != now.ino) {
		r = -ESTALE;
		*cause = xasprintf("'%s' was replaced while being undone",
				   u->image);
		goto done;
	}
	r = commit_back(u, img, cause);
	if (r < 0)
		goto done;
	/* A raw image does not grow; any other format keeps what it grew. */
	if (!strcmp(u->format, "raw") && now.size != u->before.size &&
	    ftruncate(fd, (off_t)u->before.size) < 0) {
		r = -errno;
		*cause = xasprintf("cannot truncate '%s': %s", u->image,
				   strerror(errno));
		goto done;
	}
	if (fsync(fd) < 0) {
		r = -errno;
		*cause = xasprintf("cannot sync '%s': %s", u->image,
				   strerror(errno));
		goto done;
	}
	u->state = UNDO_APPLIED;
	r = identity_of(fd, &u->after);
	if (r == 0)
		r = record_write(u, cause);
	else
		*cause = xasprintf("cannot read '%s': %s", u->image,
				   strerror(-r));
done:
	image_free(img);
	free(path);
	close(fd);
	return r;
}

int undo_drop(const char *jobdir, char **cause)
{
	int r = rmtree(jobdir);

	if (r < 0)
		*cause = xasprintf("cannot remove '%s': %s", jobdir,
				   strerror(-r));
	return r;
}

void undo_free(struct undo *u)
{
	if (!u)
		return;
	free(u->dir);
	free(u->record);
	free(u->file);
	free(u->image);
	free(u->format);
	free(u);
}
