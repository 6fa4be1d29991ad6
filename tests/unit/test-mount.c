/* test-mount.c - unit tests of mount.c: how each file system is mounted */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mount.h"
#include "util.h"
#include "tap.h"


static bool same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* A file system as image_read_layout leaves it. */
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

int main(void)
{
	struct image *img = xcalloc(1, sizeof(*img));
	const struct fs_plan *p;
	size_t m;

	add(img, "ext4");
	add(img, "ext3")->journal_unclean = true;
	add(img, "xfs")->journal_unclean = true;
	add(img, "btrfs");
	add(img, "swap");
	add(img, "crypto_LUKS");
	add(img, NULL);
	add(img, "avbatch_no_such_fs");
	add(img, "ext4");
	img->fs[8].journal_unclean = true;
	img->fs[8].layout_skip = xstrdup("LVM physical volume in no volume "
					 "group");
	add(img, "ext4")->layout_skip = xstrdup("cannot read the file system");
	img->fs[9].layout_uncovered = true;
	mount_plan(img);
	/* Planned again (a snapshot's copy): the same, nothing leaked. */
	mount_plan(img);

	p = &img->fs[0].plan;
	ok(same(p->driver, "ext4") && p->access == FS_KERNEL &&
	   same(p->options, "ro,nosuid,nodev,noexec,noload") && !p->replay &&
	   !p->skip, "a clean ext4: the kernel's, read-only, no journal");
	p = &img->fs[1].plan;
	ok(same(p->driver, "ext4") && same(p->options,
	   "ro,nosuid,nodev,noexec") && p->replay,
	   "an unclean ext3: its journal replayed (into an overlay)");
	p = &img->fs[2].plan;
	ok(same(p->options, "ro,nosuid,nodev,noexec,nouuid") &&
	   p->log_check && !p->replay,
	   "xfs: nouuid, its log checked by the kernel, not by the probe");
	p = &img->fs[3].plan;
	ok(same(p->options, "ro,nosuid,nodev,noexec,"
		"rescue=nologreplay,subvolid=5"),
	   "btrfs: the top level, no log replay");
	p = &img->fs[4].plan;
	ok(same(p->skip, "swap space") && !p->uncovered && !p->driver,
	   "swap is skipped, and covers no files");
	p = &img->fs[5].plan;
	ok(same(p->skip, "encrypted (LUKS)") && p->uncovered,
	   "LUKS is skipped, not covered");
	p = &img->fs[6].plan;
	ok(same(p->skip, "no file system found") && !p->uncovered,
	   "no file system: skipped");
	p = &img->fs[7].plan;
	ok(same(p->skip, "unsupported file system type 'avbatch_no_such_fs'")
	   && p->uncovered, "a type the kernel lacks: skipped, not covered");
	p = &img->fs[8].plan;
	ok(same(p->skip, "LVM physical volume in no volume group") &&
	   !p->uncovered && !p->driver && !p->replay,
	   "the layout's reason comes first");
	p = &img->fs[9].plan;
	ok(same(p->skip, "cannot read the file system") && p->uncovered,
	   "an unreadable file system is not covered");
	m = 0;
	for (size_t i = 0; i < img->nfs; i++)
		m += !img->fs[i].plan.skip != !img->fs[i].plan.driver;
	ok(m == img->nfs, "each is mounted or skipped, and says so");
	image_free(img);
	return tap_done();
}
