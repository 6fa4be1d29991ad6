/* undo.h - undo points: what an image held before avbatch wrote it */
#ifndef AVBATCH_UNDO_H
#define AVBATCH_UNDO_H

#include <stdbool.h>

#include "image.h"
#include "util.h"

/*
 * An undo point of one disk: a directory of its own inside a job's undo
 * directory (UNDO/JOB/disk-N), holding record.json (the image's path,
 * format and identity) and undo.qcow2, an empty qcow2 of the disk's size
 * into which qemu's copy-before-write filter copies what every range of
 * the guest's disk held before it is first written (mount.h,
 * mount_attach_writable).  Undoing writes those ranges back through
 * qemu's own block layer (qemu-img commit).
 */
struct undo;

/* Where undo points live unless --undo-dir says otherwise. */
#define UNDO_DIR_DEFAULT	LOCALSTATEDIR "/lib/avbatch/undo"

/*
 * Take an undo point of img (opened by image_open) in jobdir (created
 * 0700 if missing): records the image's identity (device, inode, size,
 * ctime, SHA-256 of its first and last MiB, or all of it when smaller) and
 * creates the empty undo file, both on disk (fsync'd) before anything
 * writes the image.
 */
int undo_begin(const struct image *img, const char *jobdir,
	       struct undo **out, char **cause);

/* The undo file, for mount_attach_writable. */
const char *undo_file(const struct undo *u);
const char *undo_image(const struct undo *u);

/*
 * Once the writable view is detached: the undo file fsync'd and the image
 * as it is now recorded, which undo_apply then expects to find.  -EIO
 * when the writer did not close the undo file whole (it was killed).
 */
int undo_commit(struct undo *u, char **cause);

/* Read the undo point in dir (UNDO/JOB/disk-N). */
int undo_load(const char *dir, struct undo **out, char **cause);

/*
 * The disks' undo points of a job (jobdir: UNDO/JOB), appended to out in
 * the order they were taken; -ENOENT when there is none.
 */
int undo_list(const char *jobdir, struct strv *out, char **cause);

/*
 * Bring the image back to what the guest saw before the undo point: the
 * same file (device and inode), unused (-EBUSY), and as the commit left
 * it (-ESTALE when it changed since: a VM ran on it, or it was replaced);
 * a point whose writer died before its commit is undone too.  -EALREADY
 * when it was undone before.
 */
int undo_apply(struct undo *u, char **cause);

/* Remove a job's undo points (jobdir: UNDO/JOB) without undoing them. */
int undo_drop(const char *jobdir, char **cause);

void undo_free(struct undo *u);

#endif
