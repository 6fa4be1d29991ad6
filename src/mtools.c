/* mtools.c - changing a FAT file system in an image with mtools */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "mtools.h"
#include "proc.h"
#include "util.h"

/*
 * No kernel vfat on the hosts avbatch serves, and fusefat shows names
 * wrongly (mount.c): mtools is the FAT implementation at hand.  Its
 * environment: no check of the boot sector's geometry (guests' FATs are
 * not floppies), UTF-8 names.
 */
static const char *const mtools_env[] = {
	"MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8", NULL
};

/*
 * path as mtools' "::/..." argument: '[' and ']' (legal in FAT long names)
 * escaped so that mtools matches them literally; NULL for a path that
 * cannot be named exactly ('*', '?' and '\' are not in FAT names, but
 * mtools would read them as patterns or separators).
 */
static char *mtools_name(const char *path)
{
	struct buf b = { 0 };

	if (!path || path[0] != '/' || strpbrk(path, "*?\\"))
		return NULL;
	buf_addstr(&b, "::");
	for (const char *p = path; *p; p++) {
		if (*p == '[' || *p == ']')
			buf_add(&b, "\\", 1);
		buf_add(&b, p, 1);
	}
	return b.p;
}

/* "VIEW@@OFFSET", mtools' way to a file system inside an image. */
static char *mtools_image(const char *view, uint64_t offset)
{
	if (strstr(view, "@@"))
		return NULL;
	return xasprintf("%s@@%llu", view, (unsigned long long)offset);
}

/*
 * Run mtools program prog with the options in opts, "-i" view@@offset and
 * the arguments in args (NULL-terminated); stdout to out_path (NULL: the
 * log).
 */
static int mtools_run(const char *prog, const char *const *opts,
		      const char *view, uint64_t offset,
		      const char *const *args, const char *out_path,
		      const char *log, char **cause)
{
	struct strv argv = { 0 };
	char *exe = NULL, *img = mtools_image(view, offset);
	int r, st = 0;

	if (!img) {
		*cause = xasprintf("'%s' cannot be named to mtools", view);
		return -EINVAL;
	}
	r = proc_find(prog, &exe, cause);
	if (r < 0)
		goto done;
	strv_push_take(&argv, exe);
	for (; opts && *opts; opts++)
		strv_push(&argv, *opts);
	strv_push(&argv, "-i");
	strv_push(&argv, img);
	for (; *args; args++)
		strv_push(&argv, *args);
	r = proc_run(argv.v, &(struct proc_io){
		     .out_path = out_path ? out_path : log, .err_path = log,
		     .env = mtools_env }, -1, &st);
	if (r == -ECANCELED) {
		*cause = xstrdup("stopped");
	} else if (r < 0) {
		*cause = xasprintf("cannot run %s: %s", prog, strerror(-r));
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *c = proc_log_last_line(log);

		*cause = xasprintf("%s failed: %s", prog, c);
		free(c);
		r = -EIO;
	}
done:
	strv_release(&argv);
	free(img);
	return r;
}

/* Refuse a path mtools cannot be told exactly. */
static char *name_or_cause(const char *path, char **cause)
{
	char *name = mtools_name(path);

	if (!name)
		*cause = xasprintf("'%s' cannot be named exactly to mtools",
				   path ? path : "");
	return name;
}

int mtools_extract(const char *view, uint64_t offset, const char *dir,
		   const char *log, char **cause)
{
	/* Recursive, attributes and times kept, never asking. */
	char *dst = xasprintf("%s/", dir);
	int r = mtools_run("mcopy", (const char *const[]){ "-s", "-p", "-n",
			   NULL }, view, offset,
			   (const char *const[]){ "::/", dst, NULL }, NULL, log,
			   cause);

	free(dst);
	return r;
}

int mtools_delete(const char *view, uint64_t offset, const char *path,
		  const char *log, char **cause)
{
	char *name = name_or_cause(path, cause);
	int r;

	if (!name)
		return -EINVAL;
	r = mtools_run("mdel", NULL, view, offset,
		       (const char *const[]){ name, NULL }, NULL, log, cause);
	free(name);
	return r;
}

int mtools_read(const char *view, uint64_t offset, const char *path,
		const char *dst, const char *log, char **cause)
{
	/* -m: its modification time; never -n (no overwriting). */
	static const char *const opts[] = { "-m", NULL };
	char *name = name_or_cause(path, cause);
	struct stat st;
	int r;

	if (!name)
		return -EINVAL;
	if (lstat(dst, &st) == 0 || errno != ENOENT) {
		r = errno == ENOENT || errno == 0 ? -EEXIST : -errno;
		*cause = xasprintf("'%s' exists or cannot be checked", dst);
		goto done;
	}
	r = mtools_run("mcopy", opts, view, offset,
		       (const char *const[]){ name, dst, NULL }, NULL, log,
		       cause);
done:
	free(name);
	return r;
}

int mtools_list(const char *view, uint64_t offset, const char *path,
		struct strv *out, const char *log, char **cause)
{
	/* -a: hidden files too; -b: one full "::/path" a line. */
	static const char *const opts[] = { "-a", "-b", NULL };
	char *name = name_or_cause(path, cause);
	char *tmp = NULL, *line, *end;
	struct buf b = { 0 };
	int r;

	if (!name)
		return -EINVAL;
	/* Under the log's directory: avbatch's own, 0700. */
	tmp = xasprintf("%s.list", log);
	unlink(tmp);
	r = mtools_run("mdir", opts, view, offset,
		       (const char *const[]){ name, NULL }, tmp, log, cause);
	if (r < 0)
		goto done;
	r = read_file(tmp, 16 << 20, &b);
	if (r < 0) {
		*cause = xasprintf("cannot read '%s': %s", tmp, strerror(-r));
		goto done;
	}
	for (line = b.p; line && *line; line = *end ? end + 1 : end) {
		end = strchrnul(line, '\n');
		if (end > line && !strncmp(line, "::", 2))
			strv_push_take(out, xstrndup(line + 2,
				       (size_t)(end - line - 2)));
	}
done:
	if (tmp)
		unlink(tmp);
	free(tmp);
	buf_release(&b);
	free(name);
	return r;
}
