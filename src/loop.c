/* loop.c - loop devices over ranges of an image's raw view */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

/*
 * A loop device over [offset, offset+size) of view.  AUTOCLEAR
 * ties its life to its users: it detaches when the mount (or the caller's
 * fd, on failure) lets go.  Returns the open device fd.
 */
int loop_attach(const char *view, uint64_t offset, uint64_t size, bool rw,
		 char **dev, char **cause)
{
	struct loop_config cfg;
	int ctl, bfd, lfd = -1, r = 0;

	bfd = open(view, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (bfd < 0) {
		*cause = xasprintf("cannot open '%s': %s", view,
				   strerror(errno));
		return -errno;
	}
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		r = -errno;
		*cause = xasprintf("cannot open /dev/loop-control: %s",
				   strerror(errno));
		goto done;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)bfd;
	cfg.info.lo_offset = offset;
	cfg.info.lo_sizelimit = size;
	cfg.info.lo_flags = (rw ? 0 : LO_FLAGS_READ_ONLY) | LO_FLAGS_AUTOCLEAR;
	snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "avbatch:%s",
		 view);
	for (int tries = 0; tries < 64; tries++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		char *path;

		if (n < 0) {
			r = -errno;
			break;
		}
		path = xasprintf("/dev/loop%d", n);
		/* The kernel makes a loop opened read-only read-only. */
		lfd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (lfd >= 0 && ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			*dev = path;
			r = 0;
			break;
		}
		r = -errno;
		if (lfd >= 0)
			close(lfd);
		lfd = -1;
		free(path);
		if (r != -EBUSY && r != -ENOENT && r != -ENXIO)
			break;
	}
	if (lfd < 0 && !*cause)
		*cause = xasprintf("cannot set up a loop device: %s",
				   strerror(-r));
	close(ctl);
done:
	close(bfd);
	return lfd >= 0 ? lfd : r;
}
