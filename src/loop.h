/* loop.h - loop devices over ranges of an image's raw view */
#ifndef AVBATCH_LOOP_H
#define AVBATCH_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A loop device over [offset, offset+size) of view, read-only unless rw
 * (a journal replayed into an overlay's view), for mounting and for
 * programs that read block devices (LVM's report tools).  Returns its open
 * fd: the device goes away when that fd is closed and nothing mounts it.
 * *dev is its name.
 */
int loop_attach(const char *view, uint64_t offset, uint64_t size, bool rw,
		char **dev, char **cause);

#endif
