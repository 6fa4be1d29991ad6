/*
 * write-tool.c - drives the writable side of mount.c, fscheck.c and
 * mtools.c for tests/t1950-write-plan.sh (not a test itself):
 *
 *   write-tool plan WORKDIR IMAGE [check]    each fs: its writable plan
 *                       (and its check: a raw IMAGE may be written then)
 *   write-tool put WORKDIR IMAGE FS NAME TEXT   create NAME, writable mount
 *   write-tool del WORKDIR IMAGE FS NAME        delete it the same way
 *   write-tool cat WORKDIR IMAGE FS NAME        read it, read-only mount
 *   write-tool check WORKDIR IMAGE FS           the fs's read-only check
 *   write-tool mdel|mread|mls VIEW OFFSET PATH [DST] LOG   mtools.h
 *
 * IMAGE is a raw file for put and del (written in place).  Exit 0, or 1
 * with the cause on stderr.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fscheck.h"
#include "image.h"
#include "mount.h"
#include "mtools.h"
#include "proc.h"
#include "util.h"

static struct image *img;
static struct attach *ro;

static int open_image(const char *workdir, const char *path, char **cause)
{
	int r = image_open(path, NULL, &img, cause);

	if (r == 0)
		r = mount_attach(img, workdir, &ro, cause);
	if (r == 0)
		r = image_read_layout(img, mount_attach_view(ro), cause);
	if (r == 0)
		mount_plan(img);
	return r;
}

static int find_fs(const char *id, size_t *k, char **cause)
{
	for (size_t i = 0; i < img->nfs; i++)
		if (!strcmp(img->fs[i].id, id)) {
			*k = i;
			return 0;
		}
	*cause = xasprintf("no file system '%s'", id);
	return -ENOENT;
}

/* The view writes go to: the raw file itself, else the read-only view. */
static const char *write_view(const char *path)
{
	return strcmp(img->format, "raw") ? mount_attach_view(ro) : path;
}

static int cmd_plan(const char *workdir, const char *path, bool check,
		    char **cause)
{
	for (size_t k = 0; k < img->nfs; k++) {
		struct fs *fs = &img->fs[k];
		struct fs_plan plan;
		struct fscheck_result res;
		char *c = NULL;
		int r = mount_plan_write(img, k, &plan, &c);

		printf("%s\t%s\t", fs->id, fs->type ? fs->type : "-");
		if (r == -EPERM)
			printf("refused: %s\n", c);
		else if (r < 0)
			printf("nothing: %s\n", c);
		else if (!check)
			printf("write %s %s\n", plan.driver, plan.options);
		else if (mount_write_check(write_view(path), img, k, &plan,
					   workdir, &res, &c) < 0)
			printf("refused: %s\n", c);
		else
			printf("write %s %s, %s%s %s\n", plan.driver,
			       plan.options, plan.replay ?
			       "journal replayed, " : "", res.tool,
			       fscheck_status_name(res.status));
		if (check && r == 0)
			fscheck_result_release(&res);
		free(c);
		mount_plan_release(&plan);
	}
	(void)cause;
	return 0;
}

static int write_file(const char *path, const char *text, char **cause)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		      O_NOFOLLOW, 0644);
	size_t n = strlen(text);

	if (fd < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0) {
		*cause = xasprintf("cannot write '%s': %s", path,
				   strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* put / del: a writable mount of the raw image file itself. */
static int cmd_change(const char *workdir, const char *path, size_t k,
		      const char *name, const char *text, char **cause)
{
	struct fs_plan plan;
	struct fscheck_result res = { 0 };
	struct mnt *m = NULL;
	char *target = xasprintf("%s/rw", workdir);
	char *file = xasprintf("%s/%s", target, name);
	int r;

	r = mount_plan_write(img, k, &plan, cause);
	if (r == 0)
		r = mount_write_check(path, img, k, &plan, workdir, &res,
				      cause);
	if (r == 0)
		r = mount_filesystem_write(path, &img->fs[k], &plan, target,
					   &m, cause);
	if (r == 0 && text)
		r = write_file(file, text, cause);
	else if (r == 0 && unlink(file) < 0) {
		r = -errno;
		*cause = xasprintf("cannot delete '%s': %s", file,
				   strerror(errno));
	}
	if (m) {
		char *c = NULL;
		int u = mount_unmount(m, &c);

		if (u < 0 && r == 0) {
			r = u;
			*cause = c;
		} else {
			free(c);
		}
	}
	mount_plan_release(&plan);
	fscheck_result_release(&res);
	free(file);
	free(target);
	return r;
}

/* cat: the ordinary read-only mount, what a scan sees. */
static int cmd_cat(const char *workdir, size_t k, const char *name,
		   char **cause)
{
	struct attach *rw = NULL;
	struct mount_source src = { .img = img, .name = "test", .ro = ro,
				    .rw = &rw, .workdir = workdir };
	struct mount_note note;
	struct mnt *m = NULL;
	struct buf b = { 0 };
	char *target = xasprintf("%s/ro", workdir);
	char *file = xasprintf("%s/%s", target, name);
	int r;

	r = mount_filesystem(&src, k, target, &m, &note, cause);
	if (r == 0) {
		if (read_file(file, 1 << 20, &b) == 0)
			fwrite(b.p, 1, b.len, stdout);
		else
			printf("absent\n");
		mount_note_release(&note);
	}
	mount_release(m);
	if (rw)
		mount_detach(rw);
	buf_release(&b);
	free(file);
	free(target);
	return r;
}

static int cmd_check(const char *workdir, size_t k, char **cause)
{
	struct fs *fs = &img->fs[k];
	struct fscheck_result res;
	char *log = xasprintf("%s/check.log", workdir);
	int r;

	r = fscheck_run(fs->type, mount_attach_view(ro), fs->offset, fs->size,
			log, &res, cause);
	if (r == 0)
		printf("%s %s %d\n", res.tool, fscheck_status_name(res.status),
		       res.code);
	fscheck_result_release(&res);
	free(log);
	return r;
}

static int cmd_mtools(char **argv, int argc, char **cause)
{
	uint64_t off;
	struct strv list = { 0 };
	int r;

	if (argc < 6 || parse_u64(argv[3], &off) < 0) {
		*cause = xstrdup("usage: mdel|mread|mls VIEW OFFSET PATH [DST] "
				 "LOG");
		return -EINVAL;
	}
	if (!strcmp(argv[1], "mdel"))
		return mtools_delete(argv[2], off, argv[4], argv[5], cause);
	if (!strcmp(argv[1], "mread") && argc >= 7)
		return mtools_read(argv[2], off, argv[4], argv[5], argv[6],
				   cause);
	r = mtools_list(argv[2], off, argv[4], &list, argv[5], cause);
	for (size_t i = 0; r == 0 && i < list.n; i++)
		printf("%s\n", list.v[i]);
	strv_release(&list);
	return r;
}

int main(int argc, char **argv)
{
	char *cause = NULL;
	size_t k = 0;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: see write-tool.c\n");
		return 2;
	}
	if (proc_signals_init() < 0 || mount_private_namespace(&cause) < 0) {
		fprintf(stderr, "write-tool: %s\n", cause ? cause : "signals");
		return 1;
	}
	if (argv[1][0] == 'm') {
		r = cmd_mtools(argv, argc, &cause);
		goto done;
	}
	r = argc < 4 ? -EINVAL : open_image(argv[2], argv[3], &cause);
	if (r == 0 && strcmp(argv[1], "plan"))
		r = argc < 5 ? -EINVAL : find_fs(argv[4], &k, &cause);
	if (r < 0)
		goto done;
	if (!strcmp(argv[1], "plan"))
		r = cmd_plan(argv[2], argv[3], argc > 4, &cause);
	else if (!strcmp(argv[1], "put") && argc == 7)
		r = cmd_change(argv[2], argv[3], k, argv[5], argv[6], &cause);
	else if (!strcmp(argv[1], "del") && argc == 6)
		r = cmd_change(argv[2], argv[3], k, argv[5], NULL, &cause);
	else if (!strcmp(argv[1], "cat") && argc == 6)
		r = cmd_cat(argv[2], k, argv[5], &cause);
	else if (!strcmp(argv[1], "check"))
		r = cmd_check(argv[2], k, &cause);
	else
		r = -EINVAL;
done:
	if (ro)
		mount_detach(ro);
	if (img)
		image_free(img);
	if (r < 0)
		fprintf(stderr, "write-tool: %s\n", cause ? cause :
			strerror(-r));
	free(cause);
	return r < 0;
}
