/* btrfs.h - the subvolumes of a btrfs mounted at its top level */
#ifndef AVBATCH_BTRFS_H
#define AVBATCH_BTRFS_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct btrfs_subvol {
	char *path;		/* below the top level: "@home", raw bytes */
	uint64_t id;
	bool snapshot;		/* a snapshot of another subvolume */
	bool readonly;
	char *mounted_at;	/* where the guest mounts it, or NULL */
};

struct btrfs_layout {
	struct btrfs_subvol *v;
	size_t n;
};

/*
 * Describe the subvolumes whose roots a walk of the top level (mounted at
 * mnt, subvolid=5) found at roots ("/@home"): their ids and kinds
 * (ioctls), and where the guest mounts them: the default subvolume at
 * "/", the others as the default subvolume's /etc/fstab says (entries of
 * type btrfs naming this file system's uuid, or no uuid, by subvol= or
 * subvolid=).  Returns 0 or -errno.
 */
int btrfs_read_layout(const char *mnt, const struct strv *roots,
		      const char *uuid, struct btrfs_layout *l, char **cause);

/*
 * The path to report for path (below the top level, "/@home/a"): under
 * the guest's mount point of the nearest mounted subvolume ("/home/a"),
 * else unchanged; *subvol: the innermost subvolume holding it, or NULL
 * (the top level).  Returns a malloc'd path.
 */
char *btrfs_guest_path(const struct btrfs_layout *l, const char *path,
		       const struct btrfs_subvol **subvol);

void btrfs_layout_release(struct btrfs_layout *l);

#endif
