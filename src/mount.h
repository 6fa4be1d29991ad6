/* mount.h - attaching images; planning, mounting, releasing file systems */
#ifndef AVBATCH_MOUNT_H
#define AVBATCH_MOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

struct attach;		/* an image exposed as a read-only raw view */
struct mnt;		/* one mounted guest file system */

/*
 * Move avbatch into a private mount namespace so that guest mounts are
 * invisible to the host and vanish with the namespace.
 */
int mount_private_namespace(char **cause);

/*
 * Refuse an image a running VM has open: qemu marks the WRITE permission
 * with an OFD lock on byte 101.  Returns 0, -EBUSY ("in use") or -errno.
 */
int mount_check_in_use(const char *path, char **cause);

/*
 * Expose img read-only as a raw view: for raw images the file image_open
 * opened (as /proc/self/fd/N, valid in avbatch's own process only), a
 * qemu-storage-daemon FUSE export in workdir otherwise.  Holds a shared
 * lock that keeps qemu from opening the image for writing meanwhile.
 */
int mount_attach(const struct image *img, const char *workdir,
		 struct attach **out, char **cause);
/*
 * A writable view of img for journal replay: qemu-storage-daemon with a
 * throwaway qcow2 overlay in workdir on top of the read-only chain, so
 * every write lands in the overlay (removed by mount_detach) and the image
 * stays byte-identical.
 */
int mount_attach_overlay(const struct image *img, const char *workdir,
			 struct attach **out, char **cause);
/*
 * A writable view of img itself (a single-file image of any format),
 * guarded by an undo point: qemu-storage-daemon writes the image through
 * qemu's copy-before-write filter, which first copies what every range it
 * writes held into undo (an empty qcow2 of the disk's size, see undo.h).
 * Refused (-EBUSY) while a writer holds the image; qemu then holds the
 * image's write lock for as long as it is attached, so no VM starts on it.
 */
int mount_attach_writable(const struct image *img, const char *workdir,
			  const char *undo, struct attach **out, char **cause);
/*
 * Is the program serving the attached image still there?  0, or -EIO with
 * *cause once it has died (what was read since may not be the image).
 */
int mount_attach_check(struct attach *a, char **cause);

const char *mount_attach_view(const struct attach *a);
void mount_detach(struct attach *a);

/*
 * Decide how each file system of img is mounted (fs->plan), or why it is
 * not, from what image_read_layout found: the driver per type (the kernel's,
 * or a FUSE program where the kernel has none), read-only options that
 * never replay a journal on the image, or a replay into an overlay where
 * an ext journal needs recovery.
 */
void mount_plan(struct image *img);

/* Where one image's file systems are mounted from. */
struct mount_source {
	struct image *img;	/* its plans end as what was done */
	const char *name;	/* the target's, for log lines */
	struct attach *ro;	/* the image's read-only view */
	struct attach **rw;	/* a throwaway overlay, started on first need
				   (the caller detaches it) */
	const char *workdir;	/* where the overlay goes */
};

/* What mounting a file system came to, for its result. */
struct mount_note {
	bool replayed;		/* its journal (or log) replayed in an overlay */
	bool uncovered;		/* not every file can be seen: reason says why */
	char *reason;		/* or NULL */
};

/*
 * Mount file system k of src->img at target (created 0700) by its plan,
 * through a read-only loop device, with the fallbacks: a journal the plan
 * replays is replayed into the throwaway overlay (the mount stays ro), or
 * if no overlay can be had left alone (noload, norecovery); an xfs whose
 * dirty log the kernel refuses on a read-only device is mounted again with
 * the log replayed, or if that fails without it.  The plan ends as what
 * was done (the driver and options reported); an NTFS hibernated by
 * Windows gets its warning.  Returns 0 or -errno with *cause holding the
 * driver's message; *note says what the result must tell in either case
 * (released by mount_note_release).
 */
int mount_filesystem(const struct mount_source *src, size_t k,
		     const char *target, struct mnt **out,
		     struct mount_note *note, char **cause);
void mount_note_release(struct mount_note *note);

/* Is fs mounted by ntfs-3g with named data streams shown as xattrs? */
bool mount_has_streams(const struct fs *fs);

/*
 * A second mount of such an NTFS at target, read-only from a's view, where
 * named data streams open by name ("file:stream").
 */
int mount_streams(struct attach *a, const struct fs *fs, const char *target,
		  struct mnt **out, char **cause);

/*
 * The writable plan for file system k of img (plan->write), or why there
 * is none (plan->skip, also in *cause): -EPERM for a refusal (encrypted, an
 * LV that needs device-mapper, a hibernated NTFS, a type with no writable
 * driver), -ENOENT where there is nothing to write (swap, no file system).
 * ext2/3/4, xfs and btrfs with the kernel (a journal replays on the
 * device written), NTFS with ntfs-3g (never remove_hiberfile), exFAT with
 * exfat-fuse, all nosuid,nodev,noexec; FAT through mtools (mtools.h), not
 * mounted.  Release with mount_plan_release.
 */
int mount_plan_write(const struct image *img, size_t k, struct fs_plan *plan,
		     char **cause);
void mount_plan_release(struct fs_plan *plan);

struct fscheck_result;

/*
 * Before the first write by plan to file system k of img, through view
 * (the protected, writable view of the change): an NTFS is looked at
 * through a read-only mount (in workdir) for Windows' hibernation; an ext
 * journal or xfs log that needs replaying is replayed on view by one
 * writable mount (plan->replay); then the file system is checked
 * read-only with its own tool (fscheck.h, its log in workdir).  Returns 0 with *check clean
 * (plan->checked), or -EPERM with the reason in *cause and plan->skip
 * (plan->write cleared) for a hibernated NTFS or a check that did not come
 * out clean.
 */
int mount_write_check(const char *view, const struct image *img, size_t k,
		      struct fs_plan *plan, const char *workdir,
		      struct fscheck_result *check, char **cause);

/*
 * Mount fs (whose offset and size lie in view, which must be writable) at
 * target with its writable plan, through a writable loop device: for the
 * duration of one change, in the private namespace.  -EPERM for a plan
 * mount_write_check has not passed, -EOPNOTSUPP for a FAT plan (mtools.h
 * changes it in place).
 */
int mount_filesystem_write(const char *view, const struct fs *fs,
			   const struct fs_plan *plan, const char *target,
			   struct mnt **out, char **cause);

/*
 * Unmount m and release it, telling whether everything reached the device:
 * no lazy detach, and a FUSE driver's own exit status.  Returns 0 or
 * -errno with *cause (m is released either way).
 */
int mount_unmount(struct mnt *m, char **cause);

void mount_release(struct mnt *m);

#endif
