/* test-fscheck.c - unit tests of fscheck.c: what each tool's exit means */
#include "config.h"

#include <string.h>

#include "fscheck.h"
#include "tap.h"

static int is(const char *type, int code, enum fscheck_status want)
{
	return fscheck_status_of(type, code) == want;
}

int main(void)
{
	ok(!strcmp(fscheck_tool("ext4"), "e2fsck") &&
	   !strcmp(fscheck_tool("ext2"), "e2fsck") &&
	   !strcmp(fscheck_tool("xfs"), "xfs_repair") &&
	   !strcmp(fscheck_tool("btrfs"), "btrfs") &&
	   !strcmp(fscheck_tool("ntfs"), "ntfsfix") &&
	   !strcmp(fscheck_tool("vfat"), "fsck.vfat") &&
	   !strcmp(fscheck_tool("exfat"), "fsck.exfat"),
	   "each type has its own tool");
	ok(!fscheck_tool("swap") && !fscheck_tool("ext") &&
	   !fscheck_tool("ext4 ") && !fscheck_tool("") && !fscheck_tool(NULL),
	   "no tool for other types, nor for parts of a name");
	/* e2fsck(8): 0, 1 corrected, 2 reboot, 4 left, 8 operational, ... */
	ok(is("ext4", 0, FSCHECK_CLEAN), "e2fsck 0: clean");
	ok(is("ext4", 1, FSCHECK_ERRORS) && is("ext4", 2, FSCHECK_ERRORS) &&
	   is("ext3", 4, FSCHECK_ERRORS) && is("ext2", 5, FSCHECK_ERRORS),
	   "e2fsck 1, 2, 4: errors");
	ok(is("ext4", 8, FSCHECK_UNCHECKED) && is("ext4", 12, FSCHECK_UNCHECKED)
	   && is("ext4", 16, FSCHECK_UNCHECKED) &&
	   is("ext4", 32, FSCHECK_UNCHECKED) &&
	   is("ext4", 128, FSCHECK_UNCHECKED),
	   "e2fsck 8, 16, 32, 128: could not check");
	ok(is("exfat", 0, FSCHECK_CLEAN) && is("exfat", 4, FSCHECK_ERRORS) &&
	   is("exfat", 8, FSCHECK_UNCHECKED), "fsck.exfat: fsck's codes");
	/* xfs_repair(8) -n: 0 none, 1 corruption; 2 a dirty log. */
	ok(is("xfs", 0, FSCHECK_CLEAN) && is("xfs", 1, FSCHECK_ERRORS) &&
	   is("xfs", 2, FSCHECK_UNCHECKED) && is("xfs", 4, FSCHECK_UNCHECKED),
	   "xfs_repair -n: 0 clean, 1 errors, 2 dirty log unchecked");
	/* fsck.fat(8): 0 none, 1 errors, 2 usage. */
	ok(is("vfat", 0, FSCHECK_CLEAN) && is("msdos", 1, FSCHECK_ERRORS) &&
	   is("vfat", 2, FSCHECK_UNCHECKED), "fsck.vfat -n: 0, 1, 2");
	ok(is("btrfs", 0, FSCHECK_CLEAN) && is("btrfs", 1, FSCHECK_ERRORS) &&
	   is("ntfs", 0, FSCHECK_CLEAN) && is("ntfs", 1, FSCHECK_ERRORS),
	   "btrfs check, ntfsfix: any failure counts as errors");
	ok(is("swap", 0, FSCHECK_UNCHECKED) && is("ext4", -1, FSCHECK_UNCHECKED),
	   "no tool, no exit: unchecked, never clean");
	ok(!strcmp(fscheck_status_name(FSCHECK_CLEAN), "clean") &&
	   !strcmp(fscheck_status_name(FSCHECK_ERRORS), "errors") &&
	   !strcmp(fscheck_status_name(FSCHECK_UNCHECKED), "unchecked") &&
	   !strcmp(fscheck_status_name((enum fscheck_status)7), "?"),
	   "status names");
	return tap_done();
}
