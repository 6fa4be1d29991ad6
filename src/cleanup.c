/* cleanup.c - releasing what a job that died (kill -9, crash) left behind */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "jobdir.h"
#include "json.h"
#include "proc.h"

/* How long a helper of a dead job has to end after TERM, and after KILL. */
#define CLEANUP_GRACE	2.0

/* Is the process that pid named when it was recorded still there? */
static bool same_process(int64_t pid, int64_t start)
{
	return pid > 0 && start > 0 &&
	       proc_start_time((pid_t)pid) == (unsigned long long)start;
}

/* Stop each recorded process group whose leader is still the same process. */
static void kill_groups(struct json_object *procs, struct buf *done)
{
	size_t n = procs ? json_object_array_length(procs) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(procs, i);
		int64_t pid = json_get_int(p, "pid", 0);

		if (!same_process(pid, json_get_int(p, "start", 0)))
			continue;
		proc_end_group((pid_t)pid, (unsigned long long)json_get_int(p,
			       "start", 0), CLEANUP_GRACE, NULL);
		buf_addf(done, "killed %s process group %lld\n",
			 json_get_str(p, "role") ? json_get_str(p, "role") :
			 "a", (long long)pid);
	}
}

/* Unmount everything below dir, deepest first (host-visible mounts). */
static void unmount_below(const char *dir, struct buf *done)
{
	struct libmnt_table *tb = mnt_new_table_from_file(
					"/proc/self/mountinfo");
	struct libmnt_iter *itr = mnt_new_iter(MNT_ITER_BACKWARD);
	struct libmnt_fs *fs;
	size_t n = strlen(dir);

	while (tb && itr && mnt_table_next_fs(tb, itr, &fs) == 0) {
		const char *t = mnt_fs_get_target(fs);

		if (!t || strncmp(t, dir, n) || t[n] != '/')
			continue;
		if (umount2(t, MNT_DETACH) == 0)
			buf_addf(done, "unmounted %s\n", t);
	}
	mnt_free_iter(itr);
	mnt_unref_table(tb);
}

/* Detach loop devices whose backing file lies below dir (FUSE views). */
static void detach_loops(const char *dir, struct buf *done)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	size_t n = strlen(dir);

	while (d && (de = readdir(d))) {
		char *bf, *dev;
		struct buf b = { 0 };
		int fd;

		if (strncmp(de->d_name, "loop", 4))
			continue;
		bf = xasprintf("/sys/block/%s/loop/backing_file", de->d_name);
		if (read_file(bf, 4096, &b) == 0 && b.len > n &&
		    !strncmp(b.p, dir, n) && b.p[n] == '/') {
			dev = xasprintf("/dev/%s", de->d_name);
			fd = open(dev, O_RDONLY | O_CLOEXEC);
			if (fd >= 0 && ioctl(fd, LOOP_CLR_FD, 0) == 0)
				buf_addf(done, "detached %s\n", dev);
			if (fd >= 0)
				close(fd);
			free(dev);
		}
		buf_release(&b);
		free(bf);
	}
	if (d)
		closedir(d);
}

int cleanup_job(const char *jobdir, struct buf *done, char **cause)
{
	char *state = xasprintf("%s/state.json", jobdir);
	struct json_object *st = NULL;
	struct buf b = { 0 };
	int lock = -1, r;

	/* A live job holds its directory's lock; we hold it while removing. */
	r = jobdir_lock(jobdir, &lock);
	if (r == -EBUSY) {
		*cause = xasprintf("job %s is still running", jobdir);
		goto done;
	}
	if (r < 0) {
		*cause = xasprintf("cannot lock '%s': %s", jobdir,
				   strerror(-r));
		goto done;
	}
	if (read_file(state, 1 << 24, &b) == 0)
		st = json_parse(b.p, b.len, NULL);
	if (st && same_process(json_get_int(st, "pid", 0),
			       json_get_int(st, "pid_start", 0))) {
		*cause = xasprintf("job %s is still running (pid %lld)",
				   jobdir, (long long)json_get_int(st, "pid",
								     0));
		r = -EBUSY;
		goto done;
	}
	if (st && !strcmp(json_get_str(st, "state") ?
			  json_get_str(st, "state") : "", "finished")) {
		r = -EALREADY;
		goto done;
	}
	kill_groups(st ? json_get(st, "processes") : NULL, done);
	unmount_below(jobdir, done);
	detach_loops(jobdir, done);
	r = rmtree(jobdir);
	if (r < 0)
		*cause = xasprintf("cannot remove '%s': %s", jobdir,
				   strerror(-r));
	else
		buf_addf(done, "removed %s\n", jobdir);
done:
	if (lock >= 0)
		close(lock);
	json_object_put(st);
	buf_release(&b);
	free(state);
	return r;
}

int cleanup_dead_jobs(const char *state_dir, struct buf *done)
{
	char *jobs = xasprintf("%s/jobs", state_dir);
	DIR *d = opendir(jobs);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char *dir, *cause = NULL;

		/* A job directory, or one a run that died was making. */
		if (de->d_name[0] == '.' && !jobdir_is_new(de->d_name))
			continue;
		dir = xasprintf("%s/%s", jobs, de->d_name);
		if (cleanup_job(dir, done, &cause) == 0)
			n++;
		free(cause);
		free(dir);
	}
	if (d)
		closedir(d);
	free(jobs);
	return n;
}

int cleanup_old_jobs(const char *state_dir, size_t keep, unsigned days,
		     struct buf *done)
{
	char *jobs = xasprintf("%s/jobs", state_dir);
	time_t cutoff = time(NULL) - (time_t)days * 86400;
	struct dirent **list = NULL;
	size_t kept = 0;
	int n, removed = 0;

	/* Ids begin with the start time: newest last. */
	n = scandir(jobs, &list, NULL, alphasort);
	for (int i = n - 1; i >= 0; i--) {
		char *dir = xasprintf("%s/%s", jobs, list[i]->d_name);
		struct stat st;
		int lock = -1;

		if (list[i]->d_name[0] == '.' ||
		    lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
		    jobdir_alive(dir) != 0)
			goto next;
		/* A finished job: kept while among the newest and young. */
		if (kept < keep && (!days || st.st_mtime >= cutoff)) {
			kept++;
			goto next;
		}
		if (jobdir_lock(dir, &lock) == 0 && rmtree(dir) == 0) {
			buf_addf(done, "removed old job %s\n", dir);
			removed++;
		}
		if (lock >= 0)
			close(lock);
next:
		free(dir);
		free(list[i]);
	}
	free(list);
	free(jobs);
	return removed;
}
