/* image.h - disk image formats, backing chains, partitions, file systems */
#ifndef AVBATCH_IMAGE_H
#define AVBATCH_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "btrfs.h"
#include "util.h"

struct json_object;

/* Descriptors a child process inherits. */
struct fdv {
	int *v;
	size_t n;
};

enum fs_access {
	FS_KERNEL,		/* mount with the kernel driver */
	FS_FUSE,		/* mount with a FUSE program */
	FS_EXTRACT,		/* copy out with a reader program (mtools) */
};

/*
 * How a file system will be mounted, or why it will not be: decided by
 * mount_plan (mount.h) from what the layout shows.
 */
struct fs_plan {
	char *driver;		/* kernel type ("ext4"), FUSE or reader program */
	enum fs_access access;
	char *options;		/* full option string, "ro,nosuid,..." */
	char *skip;		/* reason it is not mounted, or NULL */
	bool uncovered;		/* skipping leaves files unscanned (LUKS, ...) */
	bool replay;		/* unclean journal: replay it in an overlay
				   (a writable plan: replayed on the device
				   written, by mount_write_check) */
	bool log_check;		/* xfs: EROFS on a read-only device means
				   a dirty log (then replay) */
	char *warning;		/* mounted, but the picture may be stale */
	bool write;		/* a writable plan (mount_plan_write) */
	bool checked;		/* ... its file system found clean just before
				   (mount_write_check) */
};

/* One guest file system: a partition, or the whole disk. */
struct fs {
	char *id;		/* "p3", "p5", "whole", "vg0/root" */
	char *name;		/* id as a file name ("vg0@root") */
	char *vg, *lv;		/* an LVM logical volume's names, or NULL */
	char *vg_uuid, *lv_uuid;
	uint64_t offset, size;	/* bytes, in the image's raw view */
	char *type, *label, *uuid;
	bool ldm;		/* a Windows dynamic disk (LDM) partition */
	bool boot_code;		/* a boot loader's partition, never a file system */
	char *layout_skip;	/* what the layout shows instead of a file
				   system to mount (an LVM PV, unreadable
				   data), or NULL */
	bool layout_uncovered;	/* ... and it may hold files */
	bool journal_unclean;	/* ext3/4: the journal needs recovery */
	struct fs_plan plan;
	struct btrfs_layout subvols;	/* btrfs: its subvolumes, once walked */
};

/*
 * The files qemu reads for one layer of the chain, each opened once by
 * avbatch and checked by descriptor; qemu is handed these descriptors
 * (as /proc/self/fd/N), never a name.
 */
struct image_files {
	int fd;			/* the layer's file */
	int copy_fd;		/* a vmdk descriptor's copy naming its extents
				   by descriptor (what qemu reads), or -1 */
	int data_fd;		/* qcow2 external data file, or -1 */
	int *extents;		/* vmdk extents named in copy_fd */
	size_t nextents;
};

struct image {
	char *path;		/* absolute, as resolved */
	char *format;		/* raw, qcow2, vmdk, vpc, vhdx, vdi */
	struct strv backing;	/* top to bottom, absolute */
	struct strv backing_fmt;
	struct image_files *files;	/* [0] the image, [i] backing.v[i - 1] */
	struct strv snapshots;	/* the image's internal (qcow2) snapshots:
				   names as qemu-img shows them */
	struct strv snapshot_ids;	/* and their ids, what selects one */
	uint64_t virtual_size;
	char *table;		/* "gpt", "dos" or NULL */
	unsigned long sector_size;	/* the table's bytes per sector, or 0 */
	struct fs *fs;
	size_t nfs;
};

/*
 * Identify the image's format (format, as a VM definition declares it, or
 * else from the header) and read its backing chain with qemu-img, allowing
 * only regular files in the image's own directory, and check each layer
 * (qemu-img check, read-only).  Every file a layer names (backing file,
 * qcow2 data file, vmdk extent) is opened once, without following
 * symlinks, before any qemu tool sees the layer, and qemu only ever
 * opens those descriptors.  Opens nothing for writing.
 */
int image_open(const char *path, const char *format, struct image **out,
	       char **cause);

/*
 * The same without the checks (one qemu-img run a layer, not two): for
 * knowing which files the chain names, never for attaching it.
 */
int image_open_chain(const char *path, const char *format,
		     struct image **out, char **cause);

/*
 * Read the partition table (libfdisk) and probe every file system
 * (libblkid) on view, the image's raw block view; fills img->fs with what
 * the probe finds (mount_plan then plans each one's mount).  LVM physical
 * volumes are read with LVM's tools (lvm.h) and their logical volumes
 * added as file systems "<vg>/<lv>".
 */
int image_read_layout(struct image *img, const char *view, char **cause);

/* Where a range of the raw view lies: in which chain file, at what offset. */
struct image_extent {
	uint64_t start, length;	/* in the raw view */
	uint64_t offset;	/* in the chain file, when data */
	unsigned depth;		/* 0: the image, 1: its backing file, ... */
	bool data;		/* read from that file; else it reads as zeros */
};

struct image_map {
	struct image_extent *v;	/* by start, covering the view */
	size_t n;
	struct strv ids;	/* each chain file's identity; "" if unusable */
};

/*
 * Read where every range of the image's raw view lies (qemu-img map): what
 * lets clones of one template name identical file contents by place.
 */
int image_map(const struct image *img, struct image_map *m, char **cause);

/*
 * Append to b a name for the bytes at [off, off + len) of the raw view
 * that any image sharing those chain files, unchanged, shares: -ENOENT if
 * some of them cannot be pinned down (compressed, a changing file).
 */
int image_map_where(const struct image_map *m, uint64_t off, uint64_t len,
		    struct buf *b);

void image_map_release(struct image_map *m);

/*
 * After mounting an NTFS at root: a warning if Windows hibernated it (or
 * shut down with Fast Startup), when files seen may be stale; else NULL.
 */
char *image_ntfs_warning(const char *root);

/*
 * Layer i of img (0: the image) as qemu block options over the descriptors
 * avbatch checked, read-only; with its backing chain nested below when
 * chain is true, else with no backing file.  Its descriptors are appended
 * to fds for the child that opens it.
 */
struct json_object *image_layer_json(const struct image *img, size_t i,
				     bool chain, struct fdv *fds);

/* Make a layer's options (format node and its file node) writable. */
void image_layer_writable(struct json_object *lay);

/*
 * Copy internal snapshot k of img (its top layer) into the new file dst
 * (created with O_EXCL, a sparse raw image of the snapshot's disk) with
 * qemu-img convert, which only reads the image.
 */
int image_snapshot_copy(const struct image *img, size_t k, const char *dst,
			char **cause);

/* Does path start like a disk image format other than raw (qcow2, ...)? */
bool image_has_magic(const char *path);

/*
 * The disk images directly inside dir, appended to out (sorted): files
 * named like one (.qcow2, .raw, ...) or starting like one (qcow2, vmdk,
 * ... magic).  -ENOENT with *cause when there is none.
 */
int image_list_dir(const char *dir, struct strv *out, char **cause);

/*
 * Close the files image_open opened, once nothing will attach, check or
 * map img again (a batch keeps its targets' images to the end).
 */
void image_close(struct image *img);

void image_free(struct image *img);

#endif
