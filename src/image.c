/* image.c - disk image formats, backing chains, partitions, file systems */
#include "config.h"

#include <blkid.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libfdisk.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "json.h"
#include "lvm.h"
#include "proc.h"
#include "util.h"

/* Longest backing chain followed; deeper chains are refused. */
#define MAX_CHAIN	16

/* Longest vmdk descriptor qemu reads (vmdk_read_desc: 1 MiB - 1). */
#define VMDK_DESC_MAX	((1 << 20) - 1)

/* qcow2 (docs/interop/qcow2.txt): external data file bit and its name. */
#define QCOW2_INCOMPAT_DATA_FILE	(1ULL << 2)
#define QCOW2_EXT_DATA_FILE		0x44415441u

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * The format from magic numbers (as qemu's own probes read them).  The
 * caller decides what to trust; this only reads the header and footer.
 */
static void probe_format_fd(int fd, const char **fmt)
{
	unsigned char head[512], foot[512];
	struct stat st;

	memset(head, 0, sizeof(head));
	memset(foot, 0, sizeof(foot));
	if (pread(fd, head, sizeof(head), 0) < 0)
		memset(head, 0, sizeof(head));
	if (fstat(fd, &st) == 0 && st.st_size >= 1024 &&
	    pread(fd, foot, sizeof(foot), st.st_size - 512) < 0)
		memset(foot, 0, sizeof(foot));

	if (!memcmp(head, "QFI\xfb", 4))
		*fmt = head[7] == 1 ? "qcow" : "qcow2";
	else if (!memcmp(head, "QED", 4))
		*fmt = "qed";
	else if (!memcmp(head, "KDMV", 4) || !memcmp(head, "COWD", 4) ||
		 !memcmp(head, "# Disk DescriptorFile", 21))
		*fmt = "vmdk";
	else if (!memcmp(head, "vhdxfile", 8))
		*fmt = "vhdx";
	else if (!memcmp(head, "conectix", 8) || !memcmp(foot, "conectix", 8))
		*fmt = "vpc";
	else if (head[0x40] == 0x7f && head[0x41] == 0x10 &&
		 head[0x42] == 0xda && head[0x43] == 0xbe)
		*fmt = "vdi";
	else
		*fmt = "raw";
}

static int probe_format(const char *path, const char **fmt, char **cause)
{
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		*cause = xasprintf("cannot open '%s': %s", path,
				   strerror(errno));
		return -errno;
	}
	probe_format_fd(fd, fmt);
	close(fd);
	return 0;
}

/* "/proc/self/fd/N": how a child that inherits fd opens that very file. */
static char *fd_path(int fd)
{
	return xasprintf("/proc/self/fd/%d", fd);
}

/* Open the file fd (O_PATH) points to for reading: fd or -errno. */
static int reopen_fd(int fd, const char *name, char **cause)
{
	char *p = fd_path(fd);
	int r;

	r = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	free(p);
	if (r < 0) {
		r = -errno;
		*cause = xasprintf("cannot open '%s': %s", name,
				   strerror(errno));
	}
	return r;
}

/*
 * Open a file that an image names (a backing file, a qcow2 data file, a
 * vmdk extent) once, for qemu to read through the descriptor: it must be
 * a regular file directly in the image's directory dirfd (dir), reached
 * without a symlink in its last component.  O_PATH first, so that a FIFO
 * or a device node is never opened (no open of a FIFO wakes its writer).
 * *real (may be NULL) gets the name in dir.  Returns the fd or -errno.
 */
static int open_named(int dirfd, const char *dir, const char *name,
		      char **real, char **cause)
{
	char *full, *copy = NULL, *base, *parent;
	struct stat dst, pst, st;
	int pfd = -1, fd = -1, r = -EPERM;

	full = name[0] == '/' ? xstrdup(name) : xasprintf("%s/%s", dir, name);
	copy = xstrdup(full);
	base = strrchr(copy, '/');
	*base++ = '\0';
	parent = *copy ? copy : "/";
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..") ||
	    fstat(dirfd, &dst) < 0 ||
	    (pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fstat(pfd, &pst) < 0 || pst.st_dev != dst.st_dev ||
	    pst.st_ino != dst.st_ino) {
		*cause = xasprintf("refusing '%s': outside the image's "
				   "directory %s", full, dir);
		goto done;
	}
	fd = openat(dirfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*cause = xasprintf("refusing '%s': not a regular file in the "
				   "image's directory", full);
		goto done;
	}
	/* Reopened through the descriptor: the very file just checked. */
	r = reopen_fd(fd, full, cause);
	if (r >= 0 && real)
		*real = xasprintf("%s/%s", strcmp(dir, "/") ? dir : "", base);
done:
	if (pfd >= 0)
		close(pfd);
	if (fd >= 0)
		close(fd);
	free(copy);
	free(full);
	return r;
}

/*
 * The external data file a qcow2 image uses (incompatible feature bit 2,
 * its name in header extension "DATA"), read by hand: qemu opens it while
 * opening the image, before qemu-img could say what it is.  *name stays
 * NULL for an image that keeps its data inside.
 */
static int qcow2_data_file(int fd, const char *path, char **name,
			   char **cause)
{
	unsigned char h[104], e[8];
	uint64_t cluster, off;
	uint32_t cbits;

	*name = NULL;
	/* What qemu refuses to open at all needs no data file. */
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    be32(h + 4) < 3 || !(be64(h + 72) & QCOW2_INCOMPAT_DATA_FILE))
		return 0;
	cbits = be32(h + 20);
	if (cbits < 9 || cbits > 21)
		return 0;
	cluster = 1ULL << cbits;
	/* Extensions run from the header's end to the first cluster's. */
	for (off = be32(h + 100); off + sizeof(e) <= cluster; ) {
		uint32_t type, len;

		if (pread(fd, e, sizeof(e), (off_t)off) != (ssize_t)sizeof(e))
			break;
		type = be32(e);
		len = be32(e + 4);
		if (!type || len > cluster - off - sizeof(e))
			break;
		if (type == QCOW2_EXT_DATA_FILE) {
			free(*name);
			*name = xcalloc(1, (size_t)len + 1);
			if (pread(fd, *name, len, (off_t)(off + sizeof(e))) !=
			    (ssize_t)len)
				(*name)[0] = '\0';
		}
		off += sizeof(e) + ((len + 7ULL) & ~7ULL);
	}
	if (!*name || !**name) {
		free(*name);
		*name = NULL;
		*cause = xasprintf("refusing '%s': qcow2 external data file "
				   "without a name", path);
		return -EPERM;
	}
	return 0;
}

/* A sparse vmdk that is only a container of a descriptor naming files. */
static bool vmdk_sparse_names_files(int fd)
{
	unsigned char h[36];

	return pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
	       !memcmp(h, "KDMV", 4) && le64(h + 12) == 0 && le64(h + 28);
}

/* Past spaces and tabs (not line ends), and past all white space. */
static char *skip_blank(const char *p)
{
	return (char *)p + strspn(p, " \t\r\v\f");
}

static char *skip_space(const char *p)
{
	return (char *)p + strspn(p, " \t\r\v\f\n");
}

static bool is_access_word(const char *w, size_t n)
{
	return (n == 2 && !strncasecmp(w, "RW", 2)) ||
	       (n == 6 && !strncasecmp(w, "RDONLY", 6)) ||
	       (n == 8 && !strncasecmp(w, "NOACCESS", 8));
}

#define DIGITS	"0123456789"
#define ALNUM	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" DIGITS

/*
 * The rest of an extent line after its access word, as qemu's sscanf reads
 * "ACCESS SECTORS TYPE "NAME" [OFFSET]" (across line ends): 0 with the
 * name's bounds for the plain one-line shape, 1 for a line that names no
 * file, -EPERM for anything else.
 */
static int vmdk_extent_name(const char *q, char **name, char **name_end)
{
	size_t n;

	q = skip_blank(q);
	n = strspn(q, DIGITS);
	if (!n || skip_blank(q + n) == q + n)
		return -EPERM;
	q = skip_blank(q + n);
	n = strspn(q, ALNUM);
	if (!n)
		return -EPERM;
	q = skip_blank(q + n);
	if (*q == '\n' || !*q)
		return *skip_space(q) == '"' ? -EPERM : 1;
	if (*q != '"')
		return -EPERM;
	*name = (char *)q + 1;
	q = *name + strcspn(*name, "\"\n\r");
	if (*q != '"' || q == *name)
		return -EPERM;
	*name_end = (char *)q;
	q = skip_blank(q + 1);
	q = skip_blank(q + strspn(q, DIGITS));
	return *q == '\n' || !*q ? 0 : -EPERM;
}

/*
 * Pin the extents of a vmdk descriptor (text, as qemu takes any file that
 * is not a sparse header).  Read by hand: qemu opens extents while opening
 * the descriptor.  Each extent ("RW 2048 FLAT "name" 0") is opened with
 * open_named, and f->copy_fd is a copy of the descriptor (a memfd) with
 * every name replaced by /proc/self/fd/N; a line that names a file in any
 * other shape is refused.
 */
static int pin_vmdk(int dirfd, const char *dir, const char *path,
		    struct image_files *f, char **cause)
{
	unsigned char h[512];
	struct buf in = { 0 }, out = { 0 };
	char *p, *end;
	ssize_t n;
	int r = 0, mfd;

	n = pread(f->fd, h, sizeof(h), 0);
	if (n >= 4 && (!memcmp(h, "KDMV", 4) || !memcmp(h, "COWD", 4))) {
		if (vmdk_sparse_names_files(f->fd)) {
			*cause = xasprintf("refusing '%s': a sparse vmdk that "
					   "holds a descriptor of extents",
					   path);
			return -EPERM;
		}
		return 0;
	}
	in.p = xmalloc(VMDK_DESC_MAX + 1);
	n = pread(f->fd, in.p, VMDK_DESC_MAX, 0);
	if (n < 0) {
		r = -errno;
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		goto done;
	}
	in.p[n] = '\0';		/* qemu reads it as a string too */
	for (p = in.p; *p; p = end) {
		char *q, *name = NULL, *real = NULL, *fdp;
		size_t wl;
		int efd;

		end = strchrnul(p, '\n');
		if (*end)
			end++;
		q = skip_blank(p);
		wl = strcspn(q, " \t\r\v\f\n");
		r = is_access_word(q, wl) ? vmdk_extent_name(q + wl, &name,
							     &q) : 1;
		if (r < 0) {
			*cause = xasprintf("refusing '%s': unreadable extent "
					   "line in its vmdk descriptor",
					   path);
			goto done;
		}
		if (r > 0) {
			r = 0;
			buf_add(&out, p, (size_t)(end - p));
			continue;
		}
		fdp = xstrndup(name, (size_t)(q - name));
		efd = open_named(dirfd, dir, fdp, &real, cause);
		free(fdp);
		free(real);
		if (efd < 0) {
			r = efd;
			goto done;
		}
		f->extents = xreallocarray(f->extents, f->nextents + 1,
					   sizeof(*f->extents));
		f->extents[f->nextents++] = efd;
		if (vmdk_sparse_names_files(efd)) {
			*cause = xasprintf("refusing '%s': an extent holds a "
					   "descriptor of extents", path);
			r = -EPERM;
			goto done;
		}
		fdp = fd_path(efd);
		buf_add(&out, p, (size_t)(name - p));
		buf_addstr(&out, fdp);
		buf_add(&out, q, (size_t)(end - q));
		free(fdp);
	}
	mfd = memfd_create("avbatch-vmdk", MFD_CLOEXEC);
	for (size_t off = 0; mfd >= 0 && off < out.len; ) {
		ssize_t w = write(mfd, out.p + off, out.len - off);

		if (w < 0 && errno != EINTR) {
			int e = errno;

			close(mfd);
			mfd = -1;
			errno = e;
		}
		off += w > 0 ? (size_t)w : 0;
	}
	if (mfd < 0) {
		r = -errno;
		*cause = xasprintf("cannot copy the descriptor of '%s': %s",
				   path, strerror(errno));
		goto done;
	}
	f->copy_fd = mfd;
done:
	buf_release(&in);
	buf_release(&out);
	return r;
}

/*
 * Open, before any qemu tool reads the layer, every file it names that
 * qemu would open with it (qcow2 data file, vmdk extents).
 */
static int pin_layer(int dirfd, const char *dir, const char *path,
		     const char *fmt, struct image_files *f, char **cause)
{
	char *name = NULL;
	int r = 0;

	if (!strcmp(fmt, "qcow2")) {
		r = qcow2_data_file(f->fd, path, &name, cause);
		if (r == 0 && name) {
			r = open_named(dirfd, dir, name, NULL, cause);
			if (r >= 0) {
				f->data_fd = r;
				r = 0;
			}
		}
	} else if (!strcmp(fmt, "vmdk")) {
		r = pin_vmdk(dirfd, dir, path, f, cause);
	}
	free(name);
	return r;
}

/* Formats whose qemu driver takes a "backing" node. */
static bool format_has_backing(const char *fmt)
{
	return !strcmp(fmt, "qcow2") || !strcmp(fmt, "qed") ||
	       !strcmp(fmt, "vmdk") || !strcmp(fmt, "qcow");
}

/* A read-only "file" node over a descriptor the child inherits. */
static struct json_object *fd_node(int fd, struct fdv *fds)
{
	struct json_object *o = json_object_new_object();
	char *p = fd_path(fd);

	json_put_str(o, "driver", "file");
	json_put_str(o, "filename", p);
	json_object_object_add(o, "read-only", json_object_new_boolean(1));
	fds->v = xreallocarray(fds->v, fds->n + 1, sizeof(*fds->v));
	fds->v[fds->n++] = fd;
	free(p);
	return o;
}

struct json_object *image_layer_json(const struct image *img, size_t i,
				     bool chain, struct fdv *fds)
{
	const struct image_files *f = &img->files[i];
	const char *fmt = i ? img->backing_fmt.v[i - 1] : img->format;
	struct json_object *o = json_object_new_object();

	json_put_str(o, "driver", fmt);
	json_object_object_add(o, "read-only", json_object_new_boolean(1));
	json_put_obj(o, "file", fd_node(f->copy_fd >= 0 ? f->copy_fd : f->fd,
					fds));
	if (f->data_fd >= 0)
		json_put_obj(o, "data-file", fd_node(f->data_fd, fds));
	for (size_t k = 0; k < f->nextents; k++) {
		fds->v = xreallocarray(fds->v, fds->n + 1, sizeof(*fds->v));
		fds->v[fds->n++] = f->extents[k];
	}
	if (format_has_backing(fmt))
		json_put_obj(o, "backing", chain && i < img->backing.n ?
			     image_layer_json(img, i + 1, true, fds) : NULL);
	return o;
}

void image_layer_writable(struct json_object *lay)
{
	struct json_object *file = json_get(lay, "file");

	json_object_object_add(lay, "read-only", json_object_new_boolean(0));
	if (file)
		json_object_object_add(file, "read-only",
				       json_object_new_boolean(0));
}

/* "json:{...}", the argument that names qemu block options to qemu-img. */
static char *json_arg(struct json_object *o)
{
	return xasprintf("json:%s", json_object_to_json_string_ext(o,
			 JSON_C_TO_STRING_PLAIN |
			 JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Run qemu-img info on layer i alone: it opens nothing but our files. */
static int qemu_img_info(const struct image *img, size_t i,
			 struct json_object **out, char **cause)
{
	struct fdv fds = { 0 };
	struct json_object *o = image_layer_json(img, i, false, &fds);
	char *arg = json_arg(o);
	const char *argv[] = {
		"qemu-img", "info", "--output=json", arg, NULL
	};
	struct buf b = { 0 };
	int r;

	r = proc_capture_io(argv, &(struct proc_io){ .fds = fds.v,
			    .nfds = fds.n }, 60, &b, NULL, cause);
	if (r == 0) {
		*out = json_parse(b.p, b.len, cause);
		if (!*out)
			r = -EINVAL;
	}
	buf_release(&b);
	json_object_put(o);
	free(arg);
	free(fds.v);
	return r;
}

/* The top layer's internal snapshots, from its qemu-img info. */
static void read_snapshots(struct image *img, struct json_object *info)
{
	struct json_object *a = json_get(info, "snapshots");

	if (!a || !json_object_is_type(a, json_type_array))
		return;
	for (size_t k = 0; k < json_object_array_length(a); k++) {
		struct json_object *s = json_object_array_get_idx(a, k);
		const char *id = json_get_str(s, "id");
		const char *name = json_get_str(s, "name");

		if (!id)
			continue;
		strv_push(&img->snapshot_ids, id);
		strv_push(&img->snapshots, name ? name : id);
	}
}

int image_snapshot_copy(const struct image *img, size_t k, const char *dst,
			char **cause)
{
	struct fdv fds = { 0 };
	struct json_object *o = image_layer_json(img, 0, true, &fds);
	char *arg = json_arg(o), *sel;
	struct buf id = { 0 }, out = { 0 };
	const char *argv[] = {
		"qemu-img", "convert", "-n", "-l", NULL, "-O", "raw", arg,
		dst, NULL
	};
	int fd, r;

	/* The id is the header's string: double commas for qemu's options. */
	for (const char *p = img->snapshot_ids.v[k]; *p; p++)
		buf_addf(&id, *p == ',' ? ",," : "%c", *p);
	sel = xasprintf("snapshot.id=%s", id.p ? id.p : "");
	argv[4] = sel;
	fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)img->virtual_size) < 0) {
		r = -errno;
		*cause = xasprintf("cannot create '%s': %s", dst,
				   strerror(errno));
		goto done;
	}
	r = proc_capture_io(argv, &(struct proc_io){ .fds = fds.v,
			    .nfds = fds.n }, -1, &out, NULL, cause);
done:
	if (fd >= 0)
		close(fd);
	buf_release(&out);
	buf_release(&id);
	json_object_put(o);
	free(arg);
	free(sel);
	free(fds.v);
	return r;
}

/* The first non-empty line of b, or NULL. */
static char *first_line(const struct buf *b)
{
	const char *p = b->p;

	while (p && *p == '\n')
		p++;
	return p && *p ? xstrndup(p, strcspn(p, "\n")) : NULL;
}

/*
 * qemu-img check (read-only: never -r) of layer i alone: a corrupt image
 * (a qcow2 truncated under its tables, whose missing clusters qemu would
 * read as zeros) is an error with the check's own words.  Leaks and
 * formats without a check pass.
 */
static int image_check(const struct image *img, size_t i, char **cause)
{
	struct fdv fds = { 0 };
	struct json_object *o = image_layer_json(img, i, false, &fds);
	char *arg = json_arg(o), *sum = NULL, *why = NULL;
	const char *argv[] = { "qemu-img", "check", arg, NULL };
	const char *name = i ? img->backing.v[i - 1] : img->path;
	struct buf b = { 0 }, e = { 0 };
	int r;

	r = proc_capture_io(argv, &(struct proc_io){ .fds = fds.v,
			    .nfds = fds.n }, 120, &b, &e, cause);
	/* 0: clean, 3: leaked clusters only, 63: no check for the format. */
	if (r > 0 && r != 3 && r != 63) {
		sum = first_line(&b);
		why = first_line(&e);
		*cause = xasprintf("image check of '%s' failed: %s%s%s", name,
				   sum ? sum : "check not completed",
				   why ? ": " : "", why ? why : "");
		r = -EIO;
	} else if (r > 0) {
		r = 0;
	}
	buf_release(&b);
	buf_release(&e);
	json_object_put(o);
	free(arg);
	free(sum);
	free(why);
	free(fds.v);
	return r;
}

/* Formats whose qemu-img check does not look for data past the end. */
static const char *const eof_by_map[] = { "qcow", "vdi", "vhdx", "vpc" };

/*
 * Allocated data past the end of layer i's file, which qemu would read as
 * zeros, is corruption: where qemu-img check does not look for it, every
 * data extent qemu-img map gives (layer i alone) must lie inside the file.
 */
static int check_map_eof(const struct image *img, size_t i, char **cause)
{
	const char *fmt = i ? img->backing_fmt.v[i - 1] : img->format;
	const char *name = i ? img->backing.v[i - 1] : img->path;
	struct fdv fds = { 0 };
	struct json_object *o, *map = NULL;
	const char *argv[] = { "qemu-img", "map", "--output=json", NULL, NULL };
	struct buf b = { 0 };
	struct stat st;
	char *arg;
	bool known = false;
	int r;

	for (size_t k = 0; k < ARRAY_SIZE(eof_by_map); k++)
		known |= !strcmp(fmt, eof_by_map[k]);
	if (!known || fstat(img->files[i].fd, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return 0;
	o = image_layer_json(img, i, false, &fds);
	arg = json_arg(o);
	argv[3] = arg;
	r = proc_capture_io(argv, &(struct proc_io){ .fds = fds.v,
			    .nfds = fds.n }, 120, &b, NULL, cause);
	if (r == 0 && !(map = json_parse(b.p, b.len, cause)))
		r = -EINVAL;
	for (size_t k = 0; r == 0 && json_object_is_type(map, json_type_array) &&
	     k < json_object_array_length(map); k++) {
		struct json_object *x = json_object_array_get_idx(map, k);
		struct json_object *data = json_get(x, "data");
		int64_t off = json_get_int(x, "offset", -1);
		int64_t len = json_get_int(x, "length", 0);

		if (!data || !json_object_get_boolean(data) || off < 0 ||
		    off + len <= (int64_t)st.st_size)
			continue;
		*cause = xasprintf("image check of '%s' failed: data at offset "
				   "%lld lies past the end of the file (%lld "
				   "bytes)", name, (long long)off,
				   (long long)st.st_size);
		r = -EIO;
	}
	json_object_put(map);
	json_object_put(o);
	buf_release(&b);
	free(arg);
	free(fds.v);
	return r;
}

bool image_has_magic(const char *path)
{
	const char *fmt;
	char *ignored = NULL;
	bool yes = probe_format(path, &fmt, &ignored) == 0 &&
		   strcmp(fmt, "raw") != 0;

	free(ignored);
	return yes;
}

/* Formats avbatch reads (qemu driver names). */
static const char *const formats[] = {
	"raw", "qcow2", "qcow", "qed", "vmdk", "vpc", "vhdx", "vdi",
};

static const char *known_format(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(formats); i++)
		if (!strcmp(formats[i], name))
			return formats[i];
	return NULL;
}

/* image_open(), with (check) or without the layers' integrity checks. */
static int open_chain(const char *path, const char *format, bool check,
		      struct image **out, char **cause)
{
	struct image *img = xcalloc(1, sizeof(*img));
	struct json_object *info = NULL;
	char *dir = NULL, *copy;
	const char *fmt, *cur;
	struct stat st;
	int dirfd = -1, fd = -1, r;

	img->files = xcalloc(MAX_CHAIN + 1, sizeof(*img->files));
	for (size_t i = 0; i <= MAX_CHAIN; i++)
		img->files[i].fd = img->files[i].copy_fd =
			img->files[i].data_fd = -1;
	img->path = realpath(path, NULL);
	if (!img->path) {
		r = -errno;
		*cause = xasprintf("cannot open '%s': %s", path,
				   strerror(errno));
		goto fail;
	}
	copy = xstrdup(img->path);
	dir = xstrdup(dirname(copy));
	free(copy);
	/* The image itself, once: qemu reads this very file. */
	dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	fd = dirfd < 0 ? -1 : openat(dirfd, strrchr(img->path, '/') + 1,
				     O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		*cause = xasprintf("cannot open '%s': %s", path,
				   strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		r = -EINVAL;
		*cause = xasprintf("'%s' is not a disk image file", path);
		goto fail;
	}
	r = reopen_fd(fd, path, cause);
	if (r < 0)
		goto fail;
	img->files[0].fd = r;
	/* A format the VM's definition declares beats the header's word. */
	if (format) {
		fmt = known_format(format);
		if (!fmt) {
			r = -EINVAL;
			*cause = xasprintf("unsupported image format '%s'",
					   format);
			goto fail;
		}
	} else {
		probe_format_fd(img->files[0].fd, &fmt);
	}
	img->format = xstrdup(fmt);
	img->virtual_size = (uint64_t)st.st_size;
	if (!strcmp(fmt, "raw"))
		goto done;

	for (cur = img->path; ; ) {
		size_t i = img->backing.n;
		const char *bfile, *bfmt;
		char *real = NULL;
		int bfd;

		r = pin_layer(dirfd, dir, cur, fmt, &img->files[i], cause);
		if (r < 0)
			goto fail;
		r = qemu_img_info(img, i, &info, cause);
		if (r < 0)
			goto fail;
		if (cur == img->path) {
			img->virtual_size = (uint64_t)json_get_int(info,
						"virtual-size", 0);
			read_snapshots(img, info);
		}
		/* The name as the header has it (qemu saw only our fds). */
		bfile = json_get_str(info, "backing-filename");
		if (!bfile)
			break;
		if (img->backing.n >= MAX_CHAIN) {
			r = -ELOOP;
			*cause = xasprintf("backing chain longer than %d",
					   MAX_CHAIN);
			goto fail;
		}
		bfd = open_named(dirfd, dir, bfile, &real, cause);
		if (bfd < 0) {
			r = bfd;
			goto fail;
		}
		img->files[i + 1].fd = bfd;
		for (size_t k = 0; k < img->backing.n; k++)
			if (!strcmp(img->backing.v[k], real) ||
			    !strcmp(img->path, real)) {
				free(real);
				r = -ELOOP;
				*cause = xasprintf("backing chain loops at "
						   "'%s'", bfile);
				goto fail;
			}
		bfmt = json_get_str(info, "backing-filename-format");
		if (!bfmt)
			probe_format_fd(bfd, &bfmt);
		if (!known_format(bfmt)) {
			r = -EPERM;
			*cause = xasprintf("refusing '%s': unsupported backing "
					   "format '%s'", real, bfmt);
			free(real);
			goto fail;
		}
		strv_push_take(&img->backing, real);
		strv_push(&img->backing_fmt, bfmt);
		fmt = img->backing_fmt.v[img->backing_fmt.n - 1];
		cur = img->backing.v[img->backing.n - 1];
		json_object_put(info);
		info = NULL;
	}
	for (size_t i = 0; check && i <= img->backing.n; i++) {
		if (!strcmp(i ? img->backing_fmt.v[i - 1] : img->format,
			    "raw"))
			continue;
		r = image_check(img, i, cause);
		if (r == 0)
			r = check_map_eof(img, i, cause);
		if (r < 0)
			goto fail;
	}
done:
	json_object_put(info);
	free(dir);
	close(fd);
	close(dirfd);
	*out = img;
	return 0;
fail:
	json_object_put(info);
	free(dir);
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	image_free(img);
	return r;
}

int image_open(const char *path, const char *format, struct image **out,
	       char **cause)
{
	return open_chain(path, format, true, out, cause);
}

int image_open_chain(const char *path, const char *format,
		     struct image **out, char **cause)
{
	return open_chain(path, format, false, out, cause);
}

/*
 * Does an ext3/ext4 file system need its journal replayed?  Two superblock
 * bits (has_journal, needs_recovery) that libblkid does not report; read
 * by hand rather than by parsing dumpe2fs's text.  An external journal
 * (journal_dev) cannot be replayed from this disk alone.
 */
static bool ext_needs_recovery(int fd, const struct fs *fs)
{
	unsigned char sb[1024];
	uint32_t compat, incompat;

	if (fs->size < 2048 || pread(fd, sb, sizeof(sb),
				     (off_t)(fs->offset + 1024)) !=
	    (ssize_t)sizeof(sb))
		return false;
	if (sb[0x38] != 0x53 || sb[0x39] != 0xef)
		return false;
	compat = (uint32_t)sb[0x5c] | (uint32_t)sb[0x5d] << 8 |
		 (uint32_t)sb[0x5e] << 16 | (uint32_t)sb[0x5f] << 24;
	incompat = (uint32_t)sb[0x60] | (uint32_t)sb[0x61] << 8 |
		   (uint32_t)sb[0x62] << 16 | (uint32_t)sb[0x63] << 24;
	return (compat & 0x0004) && (incompat & 0x0004) &&
	       !(incompat & 0x0008);
}

/* Probe one file system with libblkid at [offset, offset+size) of fd. */
/*
 * Does a range without a file system hold nothing (zeros where sampled:
 * its start and 16 places across it)?  Data there is something avbatch
 * cannot read, not an empty partition.
 */
static bool looks_blank(int fd, uint64_t off, uint64_t size)
{
	unsigned char b[4096];

	for (int i = 0; i <= 16 && size; i++) {
		uint64_t at = i ? off + (size - 1) / 16 * (uint64_t)(i - 1) :
			      off;
		ssize_t n = pread(fd, b, sizeof(b), (off_t)at);

		for (ssize_t k = 0; k < n; k++)
			if (b[k])
				return false;
	}
	return true;
}

/* Not a file system to mount, for a reason the layout shows. */
static void layout_skip(struct fs *fs, bool uncovered, char *reason)
{
	free(fs->layout_skip);
	fs->layout_skip = reason;
	fs->layout_uncovered = uncovered;
}

static void probe_fs(int fd, struct fs *fs)
{
	blkid_probe pr = blkid_new_probe();
	const char *v;
	int r;

	if (!pr || blkid_probe_set_device(pr, fd, (blkid_loff_t)fs->offset,
					  (blkid_loff_t)fs->size) < 0) {
		layout_skip(fs, true, xstrdup("cannot probe the file system"));
		blkid_free_probe(pr);
		return;
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE |
		BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_USAGE);
	blkid_probe_enable_partitions(pr, 0);
	r = blkid_do_safeprobe(pr);
	if (r == 0 && blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0)
		fs->type = xstrdup(v);
	if (r == 0 && blkid_probe_lookup_value(pr, "LABEL", &v, NULL) == 0)
		fs->label = xstrdup(v);
	if (r == 0 && blkid_probe_lookup_value(pr, "UUID", &v, NULL) == 0)
		fs->uuid = xstrdup(v);
	if (fs->ldm) {
		/* Its volumes are described by the LDM database, not here. */
		layout_skip(fs, true, xstrdup("Windows dynamic disk (LDM) "
					      "partition: not supported"));
		blkid_free_probe(pr);
		return;
	}
	if (r == 0)
		fs->journal_unclean = ext_needs_recovery(fd, fs);
	if (r == 1 && !fs->boot_code &&
	    !looks_blank(fd, fs->offset, fs->size))
		layout_skip(fs, true, xstrdup("no known file system, but "
					      "data: nothing avbatch can "
					      "read"));
	if (r == -2)
		layout_skip(fs, true, xstrdup("ambiguous: signatures of "
					      "several file systems found"));
	else if (r < 0)
		layout_skip(fs, true, xstrdup("cannot read the file system"));
	blkid_free_probe(pr);
}

static struct fs *add_fs(struct image *img, char *id, uint64_t off,
			 uint64_t size)
{
	struct fs *fs;

	img->fs = xreallocarray(img->fs, img->nfs + 1, sizeof(*img->fs));
	fs = &img->fs[img->nfs++];
	memset(fs, 0, sizeof(*fs));
	fs->id = id;
	/* LVM names never hold '@' or '/'; partition ids hold neither. */
	fs->name = xstrdup(id);
	for (char *p = fs->name; *p; p++)
		if (*p == '/')
			*p = '@';
	fs->offset = off;
	fs->size = size;
	return fs;
}

/*
 * Does libblkid see a partition table on the whole view?  (libfdisk
 * alone would take a FAT boot sector for an MBR.)
 */
static int has_table(int fd, uint64_t size, bool *yes)
{
	blkid_probe pr = blkid_new_probe();
	int r;

	if (!pr)
		return -ENOMEM;
	r = blkid_probe_set_device(pr, fd, 0, (blkid_loff_t)size);
	if (r == 0) {
		blkid_probe_enable_superblocks(pr, 0);
		blkid_probe_enable_partitions(pr, 1);
		r = blkid_do_safeprobe(pr);
		*yes = r == 0 &&
			blkid_probe_lookup_value(pr, "PTTYPE", NULL, NULL) == 0;
		r = r < 0 && r != -2 ? -EIO : 0;
	}
	blkid_free_probe(pr);
	return r;
}

/*
 * Partitions that hold boot code or nothing, by design: BIOS boot (GRUB's
 * core image), Microsoft reserved, PReP.
 */
static bool is_boot_code(const struct fdisk_parttype *t)
{
	static const char *const guids[] = {
		"21686148-6449-6E6F-744E-656564454649",
		"E3C9E316-0B5C-4DB8-817D-F92DF00215AE",
		"9E1A2D38-C612-4316-AA26-8B49521E5A8B",
	};
	const char *guid = t ? fdisk_parttype_get_string(t) : NULL;

	if (!t)
		return false;
	for (size_t i = 0; guid && i < ARRAY_SIZE(guids); i++)
		if (!strcasecmp(guid, guids[i]))
			return true;
	return !guid && fdisk_parttype_get_code(t) == 0x41;
}

/* Windows dynamic disks: MBR type 0x42, GPT LDM metadata and data. */
static bool is_ldm(const struct fdisk_parttype *t)
{
	const char *guid = t ? fdisk_parttype_get_string(t) : NULL;

	if (!t)
		return false;
	if (guid)
		return !strcasecmp(guid, "5808C8AA-7E8F-42E0-85D2-"
				   "E1E90434CFB3") ||
		       !strcasecmp(guid, "AF9B60A0-1431-4F62-BC68-"
				   "3311714A69AD");
	return fdisk_parttype_get_code(t) == 0x42;
}

/* Does libblkid find any file system superblock at [off, off+size)? */
static bool has_superblock(int fd, uint64_t off, uint64_t size)
{
	blkid_probe pr = blkid_new_probe();
	bool yes = false;

	if (pr && blkid_probe_set_device(pr, fd, (blkid_loff_t)off,
					 (blkid_loff_t)size) == 0) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_enable_partitions(pr, 0);
		yes = blkid_do_safeprobe(pr) == 0;
	}
	blkid_free_probe(pr);
	return yes;
}

/* One reading of a partition table, at one sector size. */
struct table {
	char *label;		/* "gpt", "dos", or NULL: none */
	unsigned long sector_size;
	struct fs *fs;		/* only id, offset, size, ldm, boot_code */
	size_t nfs;
	size_t valid;		/* partitions that lie inside the disk */
	int score;		/* how well this reading fits the disk */
};

static void table_release(struct table *t)
{
	for (size_t i = 0; i < t->nfs; i++)
		free(t->fs[i].id);
	free(t->fs);
	free(t->label);
	memset(t, 0, sizeof(*t));
}

/*
 * Read the table with libfdisk as if the disk had ss-byte sectors, and
 * count the partitions that lie inside the disk: an exFAT boot sector ends
 * in 55 AA like an MBR, and its "table" holds none.  The score prefers a GPT
 * (its header, at LBA 1, is found at one sector size only; at the other
 * the protective MBR reads as DOS), then the reading whose partitions
 * hold more file systems.
 */
static int read_table(const char *view, int fd, uint64_t disk,
		      unsigned long ss, struct table *t, char **cause)
{
	struct fdisk_context *cxt = fdisk_new_context();
	struct fdisk_table *tb = NULL;
	struct fdisk_iter *itr = NULL;
	struct fdisk_partition *pa;
	int r;

	memset(t, 0, sizeof(*t));
	if (!cxt)
		return -ENOMEM;
	r = fdisk_save_user_sector_size(cxt, (unsigned int)ss,
					(unsigned int)ss);
	if (r == 0)
		r = fdisk_assign_device(cxt, view, 1);
	if (r < 0) {
		*cause = xasprintf("cannot read the partition table: %s",
				   strerror(-r));
		goto done;
	}
	if (!fdisk_has_label(cxt))
		goto done;
	t->label = xstrdup(fdisk_label_get_name(fdisk_get_label(cxt, NULL)));
	t->sector_size = fdisk_get_sector_size(cxt);
	r = fdisk_get_partitions(cxt, &tb);
	if (r < 0) {
		*cause = xasprintf("cannot list partitions: %s", strerror(-r));
		goto done;
	}
	itr = fdisk_new_iter(FDISK_ITER_FORWARD);
	while (fdisk_table_next_partition(tb, itr, &pa) == 0) {
		uint64_t off, len;
		struct fs *fs;

		if (fdisk_partition_is_container(pa) ||
		    !fdisk_partition_has_start(pa) ||
		    !fdisk_partition_has_size(pa) ||
		    !fdisk_partition_has_partno(pa))
			continue;
		off = (uint64_t)fdisk_partition_get_start(pa) *
		      t->sector_size;
		len = (uint64_t)fdisk_partition_get_size(pa) * t->sector_size;
		t->fs = xreallocarray(t->fs, t->nfs + 1, sizeof(*t->fs));
		fs = &t->fs[t->nfs++];
		memset(fs, 0, sizeof(*fs));
		fs->id = xasprintf("p%zu", fdisk_partition_get_partno(pa) + 1);
		fs->offset = off;
		fs->size = len;
		fs->ldm = is_ldm(fdisk_partition_get_type(pa));
		fs->boot_code = is_boot_code(fdisk_partition_get_type(pa));
		if (!len || (disk && (off >= disk || len > disk - off)))
			continue;
		t->valid++;
		t->score += has_superblock(fd, off, len);
	}
	if (!strcmp(t->label, "gpt"))
		t->score += 1 << 20;
done:
	fdisk_free_iter(itr);
	fdisk_unref_table(tb);
	fdisk_unref_context(cxt);
	return r;
}

/*
 * List partitions with libfdisk (ids are the guest table's numbers), read
 * at 512 and at 4096 bytes per sector (4Kn disks): the reading that fits
 * best wins.  A table without a partition inside the disk is no table.
 */
static int read_partitions(struct image *img, const char *view, int fd,
			   char **cause)
{
	static const unsigned long sizes[] = { 512, 4096 };
	struct table best = { 0 }, t;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		char *c = NULL;

		r = read_table(view, fd, img->virtual_size, sizes[i], &t, &c);
		if (r < 0 && i == 0) {
			*cause = c;
			table_release(&best);
			return r;
		}
		free(c);
		if (r == 0 && t.valid && (!best.valid ||
					   t.score > best.score)) {
			table_release(&best);
			best = t;
		} else {
			table_release(&t);
		}
	}
	if (!best.valid) {
		table_release(&best);
		add_fs(img, xstrdup("whole"), 0, img->virtual_size);
		return 0;
	}
	img->table = best.label;
	img->sector_size = best.sector_size;
	best.label = NULL;
	for (size_t i = 0; i < best.nfs; i++) {
		struct fs *fs = add_fs(img, best.fs[i].id, best.fs[i].offset,
				       best.fs[i].size);

		best.fs[i].id = NULL;
		fs->ldm = best.fs[i].ldm;
		fs->boot_code = best.fs[i].boot_code;
	}
	table_release(&best);
	return 0;
}

/*
 * Every LVM2 physical volume of the image at once (a VG may span several):
 * their logical volumes become file systems "<vg>/<lv>", probed like
 * partitions; the PVs themselves stay skipped, with the VG named.
 */
static void read_lvm(struct image *img, const char *view, int fd)
{
	struct lvm_pv *pvs = NULL;
	struct lvm_lv *lvs = NULL;
	size_t npv = 0, nlv = 0, *idx = NULL, first = img->nfs;
	char *cause = NULL;
	int r;

	for (size_t i = 0; i < img->nfs; i++) {
		if (!img->fs[i].type || strcmp(img->fs[i].type,
					       "LVM2_member"))
			continue;
		pvs = xreallocarray(pvs, npv + 1, sizeof(*pvs));
		idx = xreallocarray(idx, npv + 1, sizeof(*idx));
		pvs[npv] = (struct lvm_pv){ .offset = img->fs[i].offset,
					    .size = img->fs[i].size };
		idx[npv++] = i;
	}
	if (!npv)
		return;
	r = lvm_read(view, pvs, npv, &lvs, &nlv, &cause);
	for (size_t i = 0; i < npv; i++) {
		struct fs *pv = &img->fs[idx[i]];

		if (r < 0) {
			layout_skip(pv, true, xasprintf("LVM physical volume: "
				    "cannot read it: %s", cause));
			continue;
		}
		if (!pvs[i].vg) {
			layout_skip(pv, false, xstrdup("LVM physical volume "
				    "in no volume group"));
			continue;
		}
		layout_skip(pv, false, xasprintf("LVM physical volume of "
			    "volume group '%s' (its logical volumes are "
			    "listed as %s/...)", pvs[i].vg, pvs[i].vg));
	}
	for (size_t i = 0; i < nlv; i++) {
		struct lvm_lv *lv = &lvs[i];
		struct fs *fs = add_fs(img, xasprintf("%s/%s", lv->vg, lv->lv),
				       lv->offset, lv->size);

		fs->vg = xstrdup(lv->vg);
		fs->lv = xstrdup(lv->lv);
		fs->vg_uuid = xstrdup(lv->vg_uuid);
		fs->lv_uuid = xstrdup(lv->lv_uuid);
		if (lv->skip) {
			layout_skip(fs, true, xstrdup(lv->skip));
			fs->offset = 0;
			continue;
		}
	}
	for (size_t i = first; i < img->nfs; i++)
		if (!img->fs[i].layout_skip)
			probe_fs(fd, &img->fs[i]);
	for (size_t i = 0; i < npv; i++)
		free(pvs[i].vg);
	free(pvs);
	free(idx);
	free(cause);
	lvm_lvs_free(lvs, nlv);
}

int image_read_layout(struct image *img, const char *view, char **cause)
{
	struct stat st;
	bool table = false;
	int fd, r;

	fd = open(view, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*cause = xasprintf("cannot open '%s': %s", view,
				   strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		*cause = xasprintf("cannot stat '%s': %s", view,
				   strerror(errno));
		goto done;
	}
	if (S_ISREG(st.st_mode))
		img->virtual_size = (uint64_t)st.st_size;
	r = has_table(fd, img->virtual_size, &table);
	if (r < 0) {
		*cause = xasprintf("cannot read the disk: %s", strerror(-r));
		goto done;
	}
	if (table)
		r = read_partitions(img, view, fd, cause);
	else
		add_fs(img, xstrdup("whole"), 0, img->virtual_size);
	if (r < 0)
		goto done;
	for (size_t i = 0; i < img->nfs; i++)
		probe_fs(fd, &img->fs[i]);
	read_lvm(img, view, fd);
done:
	close(fd);
	return r;
}

char *image_ntfs_warning(const char *root)
{
	char *path = xasprintf("%s/hiberfil.sys", root);
	char head[4] = "";
	struct stat st;
	int fd;

	/*
	 * Windows writes "hibr" (hibernation, Fast Startup) at the start of
	 * hiberfil.sys and clears it when it resumes: the test ntfs-3g makes.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
		  O_NOCTTY);
	free(path);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    read(fd, head, sizeof(head)) != (ssize_t)sizeof(head) ||
	    strncasecmp(head, "hibr", 4)) {
		close(fd);
		return NULL;
	}
	close(fd);
	return xstrdup("hibernated or shut down with Fast Startup: mounted "
		       "read-only as it is on disk; files changed since "
		       "Windows hibernated are not seen (they are in "
		       "hiberfil.sys)");
}

static void fs_release(struct fs *fs)
{
	free(fs->id);
	free(fs->name);
	free(fs->vg);
	free(fs->lv);
	free(fs->vg_uuid);
	free(fs->lv_uuid);
	free(fs->type);
	free(fs->label);
	free(fs->uuid);
	free(fs->layout_skip);
	free(fs->plan.driver);
	free(fs->plan.options);
	free(fs->plan.skip);
	free(fs->plan.warning);
	btrfs_layout_release(&fs->subvols);
}

int image_map(const struct image *img, struct image_map *m, char **cause)
{
	struct fdv fds = { 0 };
	struct json_object *top = image_layer_json(img, 0, true, &fds);
	char *arg = json_arg(top);
	const char *argv[] = {
		"qemu-img", "map", "--output=json", arg, NULL
	};
	struct json_object *o = NULL;
	struct buf b = { 0 };
	uint64_t next = 0;
	int r;

	memset(m, 0, sizeof(*m));
	/*
	 * Identities first: a file changed after this never matches them.
	 * A layer whose data lies in other files (data file, extents) has
	 * none.
	 */
	for (size_t i = 0; i <= img->backing.n; i++) {
		const struct image_files *f = &img->files[i];
		struct buf id = { 0 };
		struct stat st;

		if (f->data_fd >= 0 || f->copy_fd >= 0 ||
		    fstat(f->fd, &st) < 0 ||
		    !S_ISREG(st.st_mode) || file_identity(&st, &id) < 0) {
			strv_push(&m->ids, "");
		} else {
			id.p[strcspn(id.p, "\n")] = '\0';
			strv_push(&m->ids, id.p);
		}
		buf_release(&id);
	}
	r = proc_capture_io(argv, &(struct proc_io){ .fds = fds.v,
			    .nfds = fds.n }, 300, &b, NULL, cause);
	if (r < 0)
		goto done;
	o = json_parse(b.p, b.len, cause);
	if (!o || !json_object_is_type(o, json_type_array)) {
		if (o)
			*cause = xstrdup("qemu-img map: not a JSON array");
		r = -EINVAL;
		goto done;
	}
	m->v = xcalloc(json_object_array_length(o) + 1, sizeof(*m->v));
	for (size_t i = 0; i < json_object_array_length(o); i++) {
		struct json_object *x = json_object_array_get_idx(o, i);
		struct image_extent *e = &m->v[m->n];
		int64_t depth = json_get_int(x, "depth", -1);
		int64_t off = json_get_int(x, "offset", -1);
		struct json_object *data = json_get(x, "data");
		struct json_object *zero = json_get(x, "zero");

		e->start = (uint64_t)json_get_int(x, "start", -1);
		e->length = (uint64_t)json_get_int(x, "length", 0);
		e->data = data && json_object_get_boolean(data);
		/*
		 * Contiguous, and data with a place (not compressed) or known
		 * zeros; anything else leaves a gap nothing is named across.
		 */
		if (e->start != next || !e->length || depth < 0 ||
		    (size_t)depth > img->backing.n || (e->data && off < 0) ||
		    (!e->data && !(zero && json_object_get_boolean(zero))))
			continue;
		e->depth = (unsigned)depth;
		e->offset = e->data ? (uint64_t)off : 0;
		next = e->start + e->length;
		m->n++;
	}
done:
	json_object_put(o);
	json_object_put(top);
	buf_release(&b);
	free(arg);
	free(fds.v);
	if (r < 0)
		image_map_release(m);
	return r;
}

int image_map_where(const struct image_map *m, uint64_t off, uint64_t len,
		    struct buf *b)
{
	size_t lo = 0, hi = m->n;

	/* The extent holding off. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[mid].start + m->v[mid].length <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; len; i++) {
		const struct image_extent *e = &m->v[i];
		uint64_t skip, n;

		if (i >= m->n || e->start > off)
			return -ENOENT;	/* past the end, or a gap */
		skip = off - e->start;
		n = e->length - skip < len ? e->length - skip : len;
		if (!e->data)
			buf_addf(b, "z%llu;", (unsigned long long)n);
		else if (!*m->ids.v[e->depth])
			return -ENOENT;
		else
			buf_addf(b, "%s@%llu+%llu;", m->ids.v[e->depth],
				 (unsigned long long)(e->offset + skip),
				 (unsigned long long)n);
		off += n;
		len -= n;
	}
	return 0;
}

void image_map_release(struct image_map *m)
{
	free(m->v);
	strv_release(&m->ids);
	memset(m, 0, sizeof(*m));
}

void image_close(struct image *img)
{
	for (size_t i = 0; img && img->files && i <= MAX_CHAIN; i++) {
		struct image_files *f = &img->files[i];

		if (f->fd >= 0)
			close(f->fd);
		if (f->copy_fd >= 0)
			close(f->copy_fd);
		if (f->data_fd >= 0)
			close(f->data_fd);
		for (size_t k = 0; k < f->nextents; k++)
			close(f->extents[k]);
		free(f->extents);
		f->fd = f->copy_fd = f->data_fd = -1;
		f->extents = NULL;
		f->nextents = 0;
	}
}

void image_free(struct image *img)
{
	if (!img)
		return;
	image_close(img);
	for (size_t i = 0; i < img->nfs; i++)
		fs_release(&img->fs[i]);
	free(img->fs);
	free(img->path);
	free(img->format);
	free(img->table);
	strv_release(&img->backing);
	strv_release(&img->backing_fmt);
	strv_release(&img->snapshots);
	strv_release(&img->snapshot_ids);
	free(img->files);
	free(img);
}

/* File name endings that mark a disk image inside a directory. */
static const char *const image_exts[] = {
	".qcow2", ".qcow", ".img", ".raw", ".vmdk", ".vhd", ".vhdx", ".vdi",
	".qed",
};

static bool looks_like_image(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < ARRAY_SIZE(image_exts); i++) {
		size_t e = strlen(image_exts[i]);

		if (n > e && !strcmp(name + n - e, image_exts[i]))
			return true;
	}
	return false;
}

int image_list_dir(const char *dir, struct strv *out, char **cause)
{
	size_t before = out->n;
	struct dirent **list;
	int n;

	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0) {
		n = -errno;
		*cause = xasprintf("cannot read directory '%s': %s", dir,
				   strerror(-n));
		return n;
	}
	for (int i = 0; i < n; i++) {
		char *p = xasprintf("%s/%s", dir, list[i]->d_name);
		struct stat st;

		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    (looks_like_image(list[i]->d_name) || image_has_magic(p)))
			strv_push_take(out, p);
		else
			free(p);
		free(list[i]);
	}
	free(list);
	/* Scanning nothing is not a clean result. */
	if (out->n == before) {
		*cause = xasprintf("no disk image in directory '%s'", dir);
		return -ENOENT;
	}
	return 0;
}
