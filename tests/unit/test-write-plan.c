/* test-write-plan.c - unit tests of mount_plan_write: what may be written */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fscheck.h"
#include "mount.h"
#include "util.h"
#include "tap.h"

static struct fs *add(struct image *img, const char *type)
{
	struct fs *fs;

	img->fs = xreallocarray(img->fs, img->nfs + 1, sizeof(*img->fs));
	fs = &img->fs[img->nfs++];
	memset(fs, 0, sizeof(*fs));
	fs->id = xasprintf("p%zu", img->nfs);
	fs->name = xstrdup(fs->id);
	fs->type = type ? xstrdup(type) : NULL;
	return fs;
}

/* Plan fs k; true if it comes out as want (driver/options or refusal). */
static bool plans(struct image *img, size_t k, int want_r,
		  const char *driver, enum fs_access access,
		  const char *what)
{
	struct fs_plan p;
	char *cause = NULL;
	int r = mount_plan_write(img, k, &p, &cause);
	bool good = r == want_r;

	if (r == 0)
		good = good && p.write && !p.checked && !p.skip && !cause &&
		       !strcmp(p.driver, driver) && p.access == access &&
		       !strcmp(p.options, what);
	else
		good = good && !p.write && !p.driver && p.skip && cause &&
		       !strcmp(p.skip, what) && !strcmp(cause, what);
	free(cause);
	mount_plan_release(&p);
	return good;
}

int main(void)
{
	struct image *img = xcalloc(1, sizeof(*img));
	struct fs_plan p;
	struct mnt *m = NULL;
	struct fscheck_result res;
	char *cause = NULL;
	int r;

	add(img, "ext4");
	add(img, "ext2")->journal_unclean = true;
	add(img, "xfs");
	add(img, "btrfs");
	add(img, "ntfs");
	add(img, "ntfs")->plan.warning = xstrdup("hibernated ...");
	add(img, "vfat");
	add(img, "exfat");
	add(img, "swap");
	add(img, "swsuspend");
	add(img, "crypto_LUKS");
	add(img, "BitLocker");
	add(img, "linux_raid_member");
	add(img, NULL);
	add(img, "ext4")->layout_skip = xstrdup("thin logical volume: needs "
						"a device-mapper table");
	img->fs[14].layout_uncovered = true;
	add(img, "avbatch_no_such_fs");

	ok(plans(img, 0, 0, "ext4", FS_KERNEL, "rw,nosuid,nodev,noexec"),
	   "ext4: the kernel's, rw, nosuid, nodev, noexec; no noload");
	ok(plans(img, 1, 0, "ext4", FS_KERNEL, "rw,nosuid,nodev,noexec"),
	   "an unclean ext2: the same (its journal replays when written)");
	ok(plans(img, 2, 0, "xfs", FS_KERNEL,
		 "rw,nosuid,nodev,noexec,nouuid"), "xfs: nouuid");
	ok(plans(img, 3, 0, "btrfs", FS_KERNEL,
		 "rw,nosuid,nodev,noexec,subvolid=5"),
	   "btrfs: the top level, log replay allowed");
	ok(plans(img, 4, 0, "ntfs-3g", FS_FUSE,
		 "rw,nosuid,nodev,noexec,streams_interface=xattr"),
	   "ntfs: ntfs-3g, never remove_hiberfile");
	ok(plans(img, 5, -EPERM, NULL, 0, "hibernated or shut down with Fast "
		 "Startup: a resume would overwrite the changes"),
	   "an NTFS a read-only mount found hibernated: refused");
	ok(plans(img, 6, 0, "mtools", FS_EXTRACT,
		 "changed in place by mtools"), "FAT: mtools");
	ok(plans(img, 7, 0, "mount.exfat-fuse", FS_FUSE,
		 "rw,nosuid,nodev,noexec"), "exFAT: exfat-fuse");
	ok(plans(img, 8, -ENOENT, NULL, 0, "swap space: nothing to write"),
	   "swap: nothing to write");
	ok(plans(img, 9, -EPERM, NULL, 0, "swap holding a hibernation image: "
		 "a resume would overwrite the changes"),
	   "swap with a hibernation image: refused");
	ok(plans(img, 10, -EPERM, NULL, 0, "encrypted (LUKS): never unlocked, "
		 "never written"), "LUKS: refused");
	ok(plans(img, 11, -EPERM, NULL, 0, "encrypted (BitLocker): never "
		 "unlocked, never written"), "BitLocker: refused");
	ok(plans(img, 12, -EPERM, NULL, 0, "MD RAID member: guest arrays are "
		 "not assembled"), "a RAID member: refused, the read-only reason");
	ok(plans(img, 13, -ENOENT, NULL, 0, "no file system found: nothing to "
		 "write"), "no file system: nothing to write");
	ok(plans(img, 14, -EPERM, NULL, 0, "thin logical volume: needs a "
		 "device-mapper table"), "the layout's refusal comes first");
	r = mount_plan_write(img, 15, &p, &cause);
	ok(r == -EPERM && p.skip && (!strcmp(p.skip, "unsupported file system "
	   "type 'avbatch_no_such_fs'")), "an unknown type: refused");
	free(cause);
	cause = NULL;
	mount_plan_release(&p);

	/* Never mounted writable before its check; FAT never mounted. */
	mount_plan_write(img, 0, &p, &cause);
	r = mount_filesystem_write("/nonexistent", &img->fs[0], &p,
				   "/nonexistent/mnt", &m, &cause);
	ok(r == -EPERM && !m && cause && strstr(cause, "not checked"),
	   "a plan not checked is not mounted");
	free(cause);
	cause = NULL;
	mount_plan_release(&p);
	mount_plan_write(img, 6, &p, &cause);
	p.checked = true;
	r = mount_filesystem_write("/nonexistent", &img->fs[6], &p,
				   "/nonexistent/mnt", &m, &cause);
	ok(r == -EOPNOTSUPP && !m, "a FAT plan is not mounted");
	free(cause);
	cause = NULL;
	mount_plan_release(&p);
	mount_plan_write(img, 10, &p, &cause);
	free(cause);
	cause = NULL;
	r = mount_write_check("/nonexistent", img, 10, &p, "/nonexistent",
			      &res, &cause);
	ok(r == -EPERM && !p.checked && cause, "a refused plan is not checked");
	free(cause);
	mount_plan_release(&p);
	image_free(img);
	return tap_done();
}
