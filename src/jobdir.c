/* jobdir.c - a job's directory: created locked, alive while locked */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobdir.h"
#include "util.h"

#define JOBDIR_NEW	".new-"

/*
 * Open dir (a directory, not followed) and take its lock without waiting;
 * then check that dir still names what we locked, since whoever held the
 * lock before us may have removed it.
 */
static int lock_dir(const char *dir, int how, int *out)
{
	struct stat a, b;
	int fd, r = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, how | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	if (fstat(fd, &a) < 0 || lstat(dir, &b) < 0) {
		r = -errno;
		goto fail;
	}
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		r = -ENOENT;
		goto fail;
	}
	*out = fd;
	return 0;
fail:
	close(fd);
	return r;
}

int jobdir_create(const char *jobs, const char *name, int *lock)
{
	char *tmp = xasprintf("%s/" JOBDIR_NEW "XXXXXX", jobs);
	char *path = xasprintf("%s/%s", jobs, name);
	int fd = -1, r = 0;

	if (!mkdtemp(tmp)) {	/* mode 0700 */
		r = -errno;
		goto done;
	}
	r = lock_dir(tmp, LOCK_EX, &fd);
	if (r < 0) {
		/* A cleanup took it for a dead one first: try again. */
		r = -EAGAIN;
		goto fail;
	}
	/* Locked before it has its name: nobody sees it unlocked. */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
		r = errno == ENOTEMPTY ? -EEXIST : -errno;
		goto fail;
	}
	*lock = fd;
	goto done;
fail:
	rmdir(tmp);
	if (fd >= 0)
		close(fd);
done:
	free(tmp);
	free(path);
	return r;
}

int jobdir_lock(const char *dir, int *lock)
{
	return lock_dir(dir, LOCK_EX, lock);
}

int jobdir_alive(const char *dir)
{
	int fd, r;

	/* Shared: probes by several status commands do not collide. */
	r = lock_dir(dir, LOCK_SH, &fd);
	if (r == 0) {
		close(fd);
		return 0;
	}
	if (r == -EBUSY)
		return 1;
	if (r == -EACCES || r == -EPERM)
		return r;
	return 0;	/* gone, or not a directory: no job */
}

bool jobdir_is_new(const char *name)
{
	return str_has_prefix(name, JOBDIR_NEW);
}
