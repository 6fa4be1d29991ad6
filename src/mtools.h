/* mtools.h - changing a FAT file system in an image with mtools */
#ifndef AVBATCH_MTOOLS_H
#define AVBATCH_MTOOLS_H

#include <stdint.h>

#include "util.h"

/*
 * The FAT file system at offset of view (an image's raw view, or a file
 * holding only the file system), named by guest path ("/DIR/FILE.EXE",
 * matched without regard to case as FAT does).  mtools reads patterns in
 * names, so a path holding '*', '?', '[', ']' or '\' is refused (-EINVAL),
 * as is one mtools cannot be told exactly.  Each returns 0 or -errno with
 * *cause; mtools' messages go to log (appended), never to the terminal.
 */

/* Copy every file of the FAT at offset in view into the directory dir. */
int mtools_extract(const char *view, uint64_t offset, const char *dir,
		   const char *log, char **cause);

/* Delete the regular file path. */
int mtools_delete(const char *view, uint64_t offset, const char *path,
		  const char *log, char **cause);

/*
 * Copy the regular file path out to dst, a host file that must not exist
 * yet (in a directory only avbatch writes), with its modification time.
 */
int mtools_read(const char *view, uint64_t offset, const char *path,
		const char *dst, const char *log, char **cause);

/*
 * The entries of directory path (".", ".." left out), appended to out as
 * full guest paths ("/DIR/FILE.EXE"), long names where the guest has them.
 */
int mtools_list(const char *view, uint64_t offset, const char *path,
		struct strv *out, const char *log, char **cause);

#endif
