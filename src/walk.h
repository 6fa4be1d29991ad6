/* walk.h - the files of one mounted guest file system, walked by avbatch */
#ifndef AVBATCH_WALK_H
#define AVBATCH_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

/* Why an entry was not handed to an engine. */
enum walk_skip {
	SKIP_SYMLINK,		/* never followed: it would resolve on the host */
	SKIP_DEVICE,		/* character or block device node */
	SKIP_FIFO,
	SKIP_SOCKET,
	SKIP_UNREADABLE,	/* could not be examined or opened */
	SKIP_PATH_TOO_LONG,	/* longer than PATH_MAX: no engine can open it */
	SKIP_TOO_LARGE,		/* over the engine's size limit */
	SKIP_EXCLUDED,		/* its guest path matches an --exclude glob */
	SKIP_NREASONS
};

extern const char *const walk_skip_names[SKIP_NREASONS];

struct walk_file {
	char *path;		/* host path: mount point + guest path */
	uint64_t size;
	bool single;		/* a name no file list can carry (\n, \r, long) */
	bool hashed;		/* sha256 holds the content's hash */
	bool recalled;		/* ... known by where its bytes lie, not read */
	char *where;		/* where its bytes lie (walk_locator), or NULL */
	bool stream;		/* an NTFS named stream, "file:stream" */
	unsigned char sha256[32];
};

/* One extent of a file: bytes at logical in the file lie at physical. */
struct walk_extent {
	uint64_t logical, physical, length;
};

/*
 * Content hashes known by where the bytes lie.  A file whose extents (from
 * FIEMAP, as byte offsets on the device the file system is mounted from)
 * are named by where() and whose place recall() knows is not read at all.
 * Only for file systems whose FIEMAP offsets are device offsets (ext2/3/4,
 * xfs) mounted straight from the device locator describes.
 */
struct walk_locator {
	/* A malloc'd name for these extents, or NULL if they have none. */
	char *(*where)(void *arg, const struct walk_extent *x, size_t n,
		       uint64_t size);
	/* The SHA-256 of the content at where, if known. */
	bool (*recall)(void *arg, const char *where, unsigned char sha[32]);
	void *arg;
};

struct walk {
	struct walk_file *files;	/* regular files, sorted by path */
	size_t nfiles;
	uint64_t seen;			/* every non-directory entry */
	uint64_t skipped[SKIP_NREASONS];
	uint64_t bytes;			/* of the regular files */
	size_t root_len;		/* strlen of the mount point */
	size_t sroot_len;		/* of walk_streams' sroot */
	/*
	 * Directories on another device than their parent, within the same
	 * mount: the roots of btrfs subvolumes (guest paths, "/@home").
	 */
	struct strv subtrees;
	uint64_t nstreams;		/* named streams listed */
	/*
	 * Set before walk_fs: globs (fnmatch) of guest paths not walked; a
	 * directory that matches is not entered.  Each counts as excluded.
	 */
	const struct strv *exclude;
};

/*
 * Walk root with *at() calls only: never following a symlink, never
 * entering another mount, with no depth limit.  With hash, every regular
 * file's content is hashed (SHA-256) on the way, for the verdict cache;
 * with loc too, files whose place loc knows are not read.
 * Returns 0 or -errno.
 */
int walk_fs(struct walk *w, const char *root, bool hash,
	    const struct walk_locator *loc);

/*
 * After walk_fs over an ntfs-3g mount (streams_interface=xattr, where a
 * file's named data streams are its "user." attributes): list each named
 * stream as a file of its own, sroot + guest path + ":" + stream, sroot
 * being the same file system mounted with streams_interface=windows.  A
 * stream of a file whose path holds a colon cannot be opened by that name
 * (ntfs-3g splits at the first colon): it is counted unreadable.
 */
void walk_streams(struct walk *w, const char *sroot, bool hash);

/* The entry for a host path, or NULL if the walk did not list it. */
const struct walk_file *walk_find(const struct walk *w, const char *path);

/* The guest path ("/etc/passwd") of a listed file. */
const char *walk_guest_path(const struct walk *w, const struct walk_file *f);

/*
 * Map a guest path an engine reported to something that exists under
 * root, never following a symlink: the path itself, or else the nearest
 * regular file it lies inside ("a.zip/eicar.com" -> "a.zip").  Returns 0
 * and a malloc'd guest path, or -ENOENT.
 */
int walk_resolve(const char *root, const char *guest, char **out);

/*
 * The SHA-256 of a guest file's content: the walk's hash, or else read now
 * below root (never through a symlink, never off its file system).
 * Returns 0 or -errno.
 */
int walk_sha256(const struct walk *w, const char *root, const char *guest,
		unsigned char sha[32]);

void walk_release(struct walk *w);

#endif
