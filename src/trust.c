/* trust.c - may root run or read a path: owners and modes of every component */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust.h"
#include "util.h"

#define TRUST_MAX_LINKS	40	/* as the kernel's own limit on a lookup */

/* The one owner root trusts besides itself is itself. */
static bool trusted_owner(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/*
 * May the entry at epath (est) be trusted as found in directory dpath
 * (dst)?  Returns NULL or why not.
 */
static char *check_lookup(const char *dpath, const struct stat *dst,
			  const char *epath, const struct stat *est)
{
	if (!trusted_owner(dst->st_uid))
		return xasprintf("directory '%s' is owned by uid %u", dpath,
				 (unsigned)dst->st_uid);
	if (!(dst->st_mode & (S_IWGRP | S_IWOTH)))
		return NULL;
	if (!(dst->st_mode & S_ISVTX))
		return xasprintf("directory '%s' is writable by group or "
				 "others", dpath);
	if (!trusted_owner(est->st_uid))
		return xasprintf("'%s' is owned by uid %u in the sticky "
				 "directory '%s' others can write", epath,
				 (unsigned)est->st_uid, dpath);
	/* Without fs.protected_hardlinks anyone can link root's files here. */
	if (!S_ISDIR(est->st_mode) && est->st_nlink > 1)
		return xasprintf("'%s' has other hard links, in the sticky "
				 "directory '%s' others can write", epath,
				 dpath);
	return NULL;
}

/* The file the path ends at. */
static char *check_file(const char *fpath, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return xasprintf("'%s' is not a regular file", fpath);
	if (!trusted_owner(st->st_uid))
		return xasprintf("'%s' is owned by uid %u", fpath,
				 (unsigned)st->st_uid);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return xasprintf("'%s' is writable by group or others", fpath);
	return NULL;
}

/* Open dir (a resolved path without symlinks) and stat it. */
static int open_dir(const char *dir, int *fd, struct stat *st)
{
	int nfd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (nfd < 0)
		return -errno;
	if (fstat(nfd, st) < 0) {
		int r = -errno;

		close(nfd);
		return r;
	}
	if (*fd >= 0)
		close(*fd);
	*fd = nfd;
	return 0;
}

/*
 * Written by hand: realpath() and openat2(RESOLVE_NO_SYMLINKS) either
 * hide the symlinks on the way or refuse them all, and the rule here
 * needs each directory and link as it is met.
 */
int trust_check(const char *path, char **cause)
{
	struct buf cur = { 0 };		/* the directory reached, resolved */
	char *todo = NULL, *why = NULL, *cwd = NULL;
	struct stat dst, est;
	unsigned links = 0;
	int dfd = -1, fd = -1, r;

	if (geteuid() != 0)
		return 0;
	if (path[0] == '/') {
		todo = xstrdup(path);
	} else {
		cwd = getcwd(NULL, 0);
		if (!cwd) {
			r = -errno;
			why = xasprintf("cannot tell the working directory: %s",
					strerror(errno));
			goto done;
		}
		todo = xasprintf("%s/%s", cwd, path);
	}
	buf_addstr(&cur, "");
	r = open_dir("/", &dfd, &dst);
	if (r < 0) {
		why = xasprintf("'/': %s", strerror(-r));
		goto done;
	}
	for (char *p = todo; ;) {
		char *name, *entry, target[PATH_MAX], *next;
		ssize_t n;

		while (*p == '/')
			p++;
		if (!*p) {	/* the path ends at a directory */
			why = xasprintf("'%s' is not a regular file",
					cur.len ? cur.p : "/");
			r = -EPERM;
			goto done;
		}
		name = p;
		p += strcspn(p, "/");
		if (*p)
			*p++ = '\0';
		while (*p == '/')
			p++;
		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			char *slash = strrchr(cur.p, '/');

			if (slash) {
				cur.len = (size_t)(slash - cur.p);
				*slash = '\0';
			}
			r = open_dir(cur.len ? cur.p : "/", &dfd, &dst);
			if (r < 0) {
				why = xasprintf("'%s': %s", cur.len ? cur.p :
						"/", strerror(-r));
				goto done;
			}
			continue;
		}
		entry = xasprintf("%s/%s", cur.p, name);
		fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &est) < 0) {
			r = -errno;
			why = xasprintf("'%s': %s", entry, strerror(errno));
			free(entry);
			goto done;
		}
		why = check_lookup(cur.len ? cur.p : "/", &dst, entry, &est);
		if (!why && S_ISLNK(est.st_mode)) {
			n = readlinkat(fd, "", target, sizeof(target));
			if (n < 0 || (size_t)n >= sizeof(target) ||
			    ++links > TRUST_MAX_LINKS) {
				r = n < 0 ? -errno : (size_t)n >=
					sizeof(target) ? -ENAMETOOLONG :
					-ELOOP;
				why = xasprintf("'%s': %s", entry,
						strerror(-r));
				free(entry);
				goto done;
			}
			next = xasprintf("%.*s/%s", (int)n, target, p);
			free(todo);
			todo = p = next;
			if (target[0] == '/') {
				buf_release(&cur);
				buf_addstr(&cur, "");
				r = open_dir("/", &dfd, &dst);
				if (r < 0) {
					why = xasprintf("'/': %s",
							strerror(-r));
					free(entry);
					goto done;
				}
			}
			close(fd);
			fd = -1;
			free(entry);
			continue;
		}
		if (!why && !*p)
			why = check_file(entry, &est);
		if (why || !*p) {
			free(entry);
			r = why ? -EPERM : 0;
			goto done;
		}
		if (!S_ISDIR(est.st_mode)) {
			r = -ENOTDIR;
			why = xasprintf("'%s': %s", entry, strerror(ENOTDIR));
			free(entry);
			goto done;
		}
		close(dfd);
		dfd = fd;
		fd = -1;
		dst = est;
		buf_addstr(&cur, "/");
		buf_addstr(&cur, name);
		free(entry);
	}
done:
	if (r < 0)
		*cause = xasprintf("refusing '%s': %s", path, why);
	free(why);
	free(todo);
	free(cwd);
	buf_release(&cur);
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return r;
}
