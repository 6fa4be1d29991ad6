/* mount.h - attaching images read-only, mounting guest file systems, release */
#ifndef AVBATCH_MOUNT_H
#define AVBATCH_MOUNT_H

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

/*
 * Mount one file system of a view at target (created 0700) through a
 * read-only loop device, with fs->plan (a writable one when the plan
 * replays a journal: view must then be an overlay's).  Returns 0 or -errno with *cause
 * holding the driver's message.
 */
int mount_fs(const char *view, const struct fs *fs, const char *target,
	     struct mnt **out, char **cause);
void mount_release(struct mnt *m);

#endif
