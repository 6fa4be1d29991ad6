/* walk.c - the files of one mounted guest file system, walked by avbatch */
#include "config.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "walk.h"

/*
 * Longest path put in a file list: clamscan reads lists with a 1024-byte
 * buffer and would split a longer line in two.
 */
#define LIST_MAX_LINE	1022

const char *const walk_skip_names[SKIP_NREASONS] = {
	[SKIP_SYMLINK] = "symlink",
	[SKIP_DEVICE] = "device",
	[SKIP_FIFO] = "fifo",
	[SKIP_SOCKET] = "socket",
	[SKIP_UNREADABLE] = "unreadable",
	[SKIP_PATH_TOO_LONG] = "path_too_long",
	[SKIP_TOO_LARGE] = "too_large",
	[SKIP_EXCLUDED] = "excluded",
};

struct walker {
	struct walk *w;
	size_t alloc;
	uint64_t mnt_id;
	bool hash;
	const struct walk_locator *loc;
};

/* Most extents a file may have and still be located rather than read. */
#define WHERE_MAX_EXTENTS	32

/* Where the open file's bytes lie, named by the locator; or NULL. */
static char *file_where(const struct walker *wk, int fd, uint64_t size)
{
	struct {
		struct fiemap fm;
		struct fiemap_extent fe[WHERE_MAX_EXTENTS];
	} q;
	struct walk_extent x[WHERE_MAX_EXTENTS];
	const __u32 plain = FIEMAP_EXTENT_LAST | FIEMAP_EXTENT_MERGED |
			    FIEMAP_EXTENT_SHARED;
	__u32 n;

	if (!size)
		return NULL;
	memset(&q, 0, sizeof(q));
	q.fm.fm_length = FIEMAP_MAX_OFFSET;
	q.fm.fm_extent_count = WHERE_MAX_EXTENTS;
	if (ioctl(fd, FS_IOC_FIEMAP, &q.fm) < 0)
		return NULL;
	n = q.fm.fm_mapped_extents;
	/* All of it, in plain extents: not inline, encoded or unwritten. */
	if (!n || n > WHERE_MAX_EXTENTS ||
	    !(q.fe[n - 1].fe_flags & FIEMAP_EXTENT_LAST))
		return NULL;
	for (__u32 i = 0; i < n; i++) {
		if (q.fe[i].fe_flags & ~plain)
			return NULL;
		x[i].logical = q.fe[i].fe_logical;
		x[i].physical = q.fe[i].fe_physical;
		x[i].length = q.fe[i].fe_length;
	}
	return wk->loc->where(wk->loc->arg, x, n, size);
}

/* SHA-256 of what is left to read from fd (libcrypto); false on error. */
static bool hash_fd(int fd, unsigned char sha[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char chunk[1 << 16];
	bool ok = false;
	ssize_t n;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto done;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (!EVP_DigestUpdate(ctx, chunk, (size_t)n))
			goto done;
	ok = n == 0 && EVP_DigestFinal_ex(ctx, sha, NULL);
done:
	EVP_MD_CTX_free(ctx);
	return ok;
}

/*
 * SHA-256 of a file's content, or recalled by where its bytes lie; false
 * if it cannot be read.
 */
static bool hash_file(const struct walker *wk, int dfd, const char *name,
		      struct walk_file *f)
{
	bool ok = false;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC |
		    O_NONBLOCK);
	if (fd < 0)
		goto done;
	if (wk->loc && (f->where = file_where(wk, fd, f->size)) &&
	    wk->loc->recall(wk->loc->arg, f->where, f->sha256)) {
		ok = f->recalled = true;
		goto done;
	}
	ok = hash_fd(fd, f->sha256);
done:
	if (fd >= 0)
		close(fd);
	return ok;
}

static int statx_at(int dfd, const char *name, struct statx *stx)
{
	return statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
		     STATX_TYPE | STATX_SIZE | STATX_MNT_ID, stx);
}

static void add_file(struct walker *wk, int dfd, const struct buf *path,
		     const char *name, uint64_t size)
{
	struct walk *w = wk->w;
	struct walk_file *f;

	if (w->nfiles == wk->alloc) {
		wk->alloc = wk->alloc ? wk->alloc * 2 : 256;
		w->files = xreallocarray(w->files, wk->alloc,
					 sizeof(*w->files));
	}
	f = &w->files[w->nfiles++];
	memset(f, 0, sizeof(*f));
	f->path = xstrndup(path->p, path->len);
	f->size = size;
	f->single = strpbrk(name, "\n\r") || path->len > LIST_MAX_LINE;
	f->hashed = wk->hash && hash_file(wk, dfd, name, f);
	w->bytes += size;
}

static enum walk_skip skip_reason(mode_t mode)
{
	if (S_ISLNK(mode))
		return SKIP_SYMLINK;
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return SKIP_DEVICE;
	if (S_ISFIFO(mode))
		return SKIP_FIFO;
	if (S_ISSOCK(mode))
		return SKIP_SOCKET;
	return SKIP_UNREADABLE;
}

/* Does the guest path g match one of the --exclude globs? */
static bool excluded(const struct walk *w, const char *g)
{
	for (size_t i = 0; w->exclude && i < w->exclude->n; i++)
		if (fnmatch(w->exclude->v[i], g, 0) == 0)
			return true;
	return false;
}

static uint64_t stx_dev(const struct statx *stx)
{
	return (uint64_t)stx->stx_dev_major << 32 | stx->stx_dev_minor;
}

static void walk_dir(struct walker *wk, int dfd, struct buf *path,
		     uint64_t dev)
{
	struct walk *w = wk->w;
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		w->skipped[SKIP_UNREADABLE]++;
		return;
	}
	while ((de = readdir(d))) {
		size_t keep = path->len;
		struct statx stx;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		buf_addstr(path, "/");
		buf_addstr(path, de->d_name);
		if (excluded(w, path->p + w->root_len)) {
			/* Not looked at: whatever it is, it is not covered. */
			w->seen++;
			w->skipped[SKIP_EXCLUDED]++;
		} else if (statx_at(dirfd(d), de->d_name, &stx) < 0) {
			w->seen++;
			w->skipped[SKIP_UNREADABLE]++;
		} else if (S_ISDIR(stx.stx_mode)) {
			int fd;

			if (stx.stx_mnt_id != wk->mnt_id)
				goto next;
			fd = openat(dirfd(d), de->d_name, O_RDONLY |
				    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (stx_dev(&stx) != dev)
				strv_push(&w->subtrees, path->p + w->root_len);
			if (fd < 0)
				w->skipped[SKIP_UNREADABLE]++;
			else
				walk_dir(wk, fd, path, stx_dev(&stx));
		} else {
			w->seen++;
			if (!S_ISREG(stx.stx_mode))
				w->skipped[skip_reason(stx.stx_mode)]++;
			else if (path->len >= PATH_MAX)
				w->skipped[SKIP_PATH_TOO_LONG]++;
			else
				add_file(wk, dirfd(d), path, de->d_name,
					 stx.stx_size);
		}
next:
		path->len = keep;
		path->p[keep] = '\0';
	}
	closedir(d);
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct walk_file *)a)->path,
		      ((const struct walk_file *)b)->path);
}

int walk_fs(struct walk *w, const char *root, bool hash,
	    const struct walk_locator *loc)
{
	struct walker wk = { .w = w, .hash = hash, .loc = loc };
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
	wk.mnt_id = stx.stx_mnt_id;
	w->root_len = strlen(root);
	buf_addstr(&path, root);
	walk_dir(&wk, fd, &path, stx_dev(&stx));
	buf_release(&path);
	if (w->nfiles)
		qsort(w->files, w->nfiles, sizeof(*w->files), cmp_file);
	return 0;
}

const struct walk_file *walk_find(const struct walk *w, const char *path)
{
	struct walk_file key = { .path = (char *)path };

	if (!w->nfiles)
		return NULL;
	return bsearch(&key, w->files, w->nfiles, sizeof(*w->files),
		       cmp_file);
}

const char *walk_guest_path(const struct walk *w, const struct walk_file *f)
{
	return f->path + (f->stream ? w->sroot_len : w->root_len);
}

/* Open name below dirfd, refusing symlinks and anything outside it. */
static int open_beneath(int dirfd, const char *name)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};

	return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
}

/* Where ntfs-3g (streams_interface=xattr) shows a named data stream. */
#define STREAM_XATTR_PREFIX	"user."

/* The attribute names of path (NUL-ended each); -errno. */
static ssize_t list_xattrs(const char *path, char **out)
{
	ssize_t n = llistxattr(path, NULL, 0);

	*out = NULL;
	if (n <= 0)
		return n < 0 ? -errno : 0;
	*out = xmalloc((size_t)n + 1);
	n = llistxattr(path, *out, (size_t)n);
	if (n < 0) {
		int e = errno;

		free(*out);
		*out = NULL;
		return -e;
	}
	(*out)[n] = '\0';
	return n;
}

/* List one named stream of the regular file at guest path g. */
static void add_stream(struct walker *wk, int sfd, const char *g,
		       const char *stream, struct buf *path)
{
	struct walk *w = wk->w;
	size_t keep = path->len;
	struct statx stx;
	char *rel, *slash;
	int dfd;

	w->seen++;
	/* A name with '/' cannot be opened; one with ':' opens elsewhere. */
	if (!*stream || strchr(stream, '/') || strchr(g, ':')) {
		w->skipped[SKIP_UNREADABLE]++;
		return;
	}
	/* The file's directory, reached without a symlink. */
	rel = xstrdup(g + 1);
	slash = strrchr(rel, '/');
	if (slash)
		*slash = '\0';
	dfd = slash ? open_beneath(sfd, rel) : fcntl(sfd, F_DUPFD_CLOEXEC, 0);
	free(rel);
	rel = xasprintf("%s:%s", strrchr(g, '/') + 1, stream);
	buf_addstr(path, g);
	buf_addstr(path, ":");
	buf_addstr(path, stream);
	if (dfd < 0 || statx_at(dfd, rel, &stx) < 0 ||
	    !S_ISREG(stx.stx_mode))
		w->skipped[SKIP_UNREADABLE]++;
	else if (path->len >= PATH_MAX)
		w->skipped[SKIP_PATH_TOO_LONG]++;
	else {
		add_file(wk, dfd, path, rel, stx.stx_size);
		w->files[w->nfiles - 1].stream = true;
		w->nstreams++;
	}
	if (dfd >= 0)
		close(dfd);
	free(rel);
	path->len = keep;
	path->p[keep] = '\0';
}

void walk_streams(struct walk *w, const char *sroot, bool hash)
{
	struct walker wk = { .w = w, .hash = hash };
	size_t n = w->nfiles, plen = strlen(STREAM_XATTR_PREFIX);
	struct buf path = { 0 };
	int sfd;

	w->sroot_len = strlen(sroot);
	wk.alloc = w->nfiles;
	sfd = open(sroot, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	for (size_t i = 0; i < n; i++) {
		char *names, *g;
		ssize_t len;

		if (w->files[i].stream)
			continue;
		len = list_xattrs(w->files[i].path, &names);
		g = xstrdup(walk_guest_path(w, &w->files[i]));
		if (len < 0 && len != -ENOTSUP && len != -ENODATA) {
			/* Its streams, if any, cannot be listed. */
			w->seen++;
			w->skipped[SKIP_UNREADABLE]++;
		}
		for (char *x = names; len > 0 && x < names + len;
		     x += strlen(x) + 1) {
			if (strncmp(x, STREAM_XATTR_PREFIX, plen))
				continue;
			if (sfd < 0) {
				w->seen++;
				w->skipped[SKIP_UNREADABLE]++;
				continue;
			}
			buf_addstr(&path, sroot);
			add_stream(&wk, sfd, g, x + plen, &path);
			buf_release(&path);
		}
		free(g);
		free(names);
	}
	if (sfd >= 0)
		close(sfd);
	if (w->nfiles)
		qsort(w->files, w->nfiles, sizeof(*w->files), cmp_file);
}

int walk_resolve(const char *root, const char *guest, char **out)
{
	char *p = xstrdup(guest), *slash;
	int rootfd, r = -ENOENT;
	struct stat st;

	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		free(p);
		return -errno;
	}
	for (bool exact = true; p[0] == '/' && p[1]; exact = false) {
		int fd = open_beneath(rootfd, p + 1);

		if (fd >= 0 && fstat(fd, &st) == 0 &&
		    (exact || S_ISREG(st.st_mode))) {
			close(fd);
			*out = p;
			p = NULL;
			r = 0;
			break;
		}
		if (fd >= 0)
			close(fd);
		slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = '\0';
	}
	close(rootfd);
	free(p);
	return r;
}

int walk_sha256(const struct walk *w, const char *root, const char *guest,
		unsigned char sha[32])
{
	struct open_how how = {
		.flags = O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	char *host = xasprintf("%s%s", root, guest);
	const struct walk_file *f = walk_find(w, host);
	int rootfd = -1, fd = -1, r = 0;
	struct stat st;

	free(host);
	if (f && f->hashed) {
		memcpy(sha, f->sha256, 32);
		return 0;
	}
	if (guest[0] != '/' || !guest[1])
		return -EINVAL;
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd >= 0)
		fd = (int)syscall(SYS_openat2, rootfd, guest + 1, &how,
				  sizeof(how));
	if (rootfd < 0 || fd < 0)
		r = -errno;
	else if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else if (!hash_fd(fd, sha))
		r = -EIO;
	if (fd >= 0)
		close(fd);
	if (rootfd >= 0)
		close(rootfd);
	return r;
}

void walk_release(struct walk *w)
{
	for (size_t i = 0; i < w->nfiles; i++) {
		free(w->files[i].path);
		free(w->files[i].where);
	}
	free(w->files);
	strv_release(&w->subtrees);
	memset(w, 0, sizeof(*w));
}
