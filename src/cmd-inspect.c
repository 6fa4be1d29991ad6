/* cmd-inspect.c - avbatch inspect: what run would do, without mounting */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "image.h"
#include "json.h"
#include "mount.h"
#include "proc.h"
#include "report.h"
#include "result.h"
#include "util.h"

/* What run would make of an image, as far as inspect can tell. */
enum inspect_status {
	INSPECT_READY,
	INSPECT_INCOMPLETE,	/* data it could not read */
	INSPECT_SKIPPED,	/* in use */
	INSPECT_ERROR
};

static const char *const inspect_status_names[] = {
	[INSPECT_READY] = "ready",
	[INSPECT_INCOMPLETE] = "incomplete",
	[INSPECT_SKIPPED] = "skipped",
	[INSPECT_ERROR] = "error",
};

/* A file system as the report shows it, with what run would do to it. */
static struct json_object *fs_plan_json(const struct fs *fs)
{
	struct json_object *o = result_fs_json(fs, NULL);

	json_put_str(o, "action", fs->plan.skip ? "skip" :
		     fs->plan.access == FS_EXTRACT ? "extract" : "mount");
	json_put_str(o, "reason", fs->plan.skip);
	if (fs->plan.replay)
		json_put_str(o, "journal", "unclean: replayed into a "
			     "throwaway overlay");
	return o;
}

/* Inspect one image: in-use check, format, chain, layout; ready or not. */
static struct json_object *inspect_one(const char *arg, const char *workdir,
				       bool *ready)
{
	struct json_object *o = json_object_new_object();
	struct json_object *fss = json_object_new_array();
	struct json_object *backing = json_object_new_array();
	struct image *img = NULL;
	struct attach *a = NULL;
	enum inspect_status status = INSPECT_READY;
	const char *slash;
	char *cause = NULL;
	int r;

	r = mount_check_in_use(arg, &cause);
	if (r == -EBUSY) {
		status = INSPECT_SKIPPED;
		goto done;
	}
	free(cause);
	cause = NULL;
	r = image_open(arg, NULL, &img, &cause);
	if (r == 0)
		r = mount_attach(img, workdir, &a, &cause);
	if (r == 0)
		r = image_read_layout(img, mount_attach_view(a), &cause);
	if (r == 0)
		mount_plan(img);
	if (r < 0)
		status = r == -EBUSY ? INSPECT_SKIPPED : INSPECT_ERROR;
	/* Data run could not read: run would not call it clean either. */
	for (size_t i = 0; r == 0 && i < img->nfs; i++)
		if (img->fs[i].plan.skip && img->fs[i].plan.uncovered)
			status = INSPECT_INCOMPLETE;
	for (size_t i = 0; img && i < img->backing.n; i++)
		json_object_array_add(backing,
			json_object_new_string(img->backing.v[i]));
	for (size_t i = 0; r == 0 && i < img->nfs; i++)
		json_object_array_add(fss, fs_plan_json(&img->fs[i]));
done:
	slash = strrchr(arg, '/');
	json_put_str(o, "name", slash && slash[1] ? slash + 1 : arg);
	json_put_str(o, "image", img ? img->path : arg);
	json_put_str(o, "format", img ? img->format : NULL);
	json_put_int(o, "virtual_size", img ? (int64_t)img->virtual_size : 0);
	json_put_obj(o, "backing", backing);
	json_put_str(o, "partition_table", img ? img->table : NULL);
	if (img && img->sector_size)
		json_put_int(o, "sector_size", (int64_t)img->sector_size);
	json_put_str(o, "status", inspect_status_names[status]);
	json_put_str(o, "reason", cause);
	json_put_obj(o, "filesystems", fss);
	mount_detach(a);
	image_free(img);
	free(cause);
	*ready = status == INSPECT_READY;
	return o;
}

static void print_text(struct json_object *t)
{
	struct json_object *fss = json_get(t, "filesystems");
	struct json_object *bk = json_get(t, "backing");
	const char *reason = json_get_str(t, "reason");

	char *vsize = size_human((uint64_t)json_get_int(t, "virtual_size",
							 0));

	printf("%s: %s, %s", json_get_str(t, "image"),
	       json_get_str(t, "format") ? json_get_str(t, "format") : "?",
	       vsize);
	free(vsize);
	if (json_get_str(t, "partition_table"))
		printf(", %s partition table", json_get_str(t,
							    "partition_table"));
	printf(", %s", json_get_str(t, "status"));
	if (reason)
		printf(" (%s)", reason);
	putchar('\n');
	for (size_t i = 0; i < json_object_array_length(bk); i++)
		printf("  backing %s\n", json_object_get_string(
			json_object_array_get_idx(bk, i)));
	for (size_t i = 0; i < json_object_array_length(fss); i++) {
		struct json_object *f = json_object_array_get_idx(fss, i);
		const char *type = json_get_str(f, "type");
		struct buf label = { 0 };

		char *size = size_human((uint64_t)json_get_int(f, "size", 0));

		printf("  %-10s %-10s %10s  ", json_get_str(f, "id"),
		       type ? type : "-", size);
		free(size);
		/* The label's bytes, as the guest wrote them. */
		if (json_get_bytes(f, "label", "label_b64", &label) == 0) {
			fputs("label '", stdout);
			report_print_safe(stdout, label.p ? label.p : "",
					  label.len);
			fputs("'  ", stdout);
		}
		buf_release(&label);
		if (json_get_str(f, "reason"))
			printf("skip: %s\n", json_get_str(f, "reason"));
		else
			printf("%s %s: %s\n", json_get_str(f, "action"),
			       json_get_str(f, "driver"),
			       json_get_str(f, "options"));
		if (json_get_str(f, "journal"))
			printf("  %-10s journal %s\n", "",
			       json_get_str(f, "journal"));
		if (json_get_str(f, "warning"))
			printf("  %-10s warning: %s\n", "",
			       json_get_str(f, "warning"));
	}
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct json_object *all = NULL;
	struct strv args = { 0 };
	char *cause = NULL, *dir = NULL;
	bool json = false;
	int c, r = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return cmd_usage_error("bad option");
		json = true;
	}
	if (optind >= argc)
		return cmd_usage_error("no image given");
	/* A directory stands for the images in it, as it does for run. */
	for (int i = optind; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			strv_push(&args, argv[i]);
		} else if (image_list_dir(argv[i], &args, &cause) < 0) {
			fprintf(stderr, "avbatch: %s\n", cause);
			free(cause);
			cause = NULL;
			r = 2;
		}
	}
	if (mount_private_namespace(&cause) < 0 ||
	    mkdir_private(G.state_dir) < 0) {
		fprintf(stderr, "avbatch: %s\n", cause ? cause :
			"cannot create the state directory");
		free(cause);
		strv_release(&args);
		return 2;
	}
	all = json_object_new_array();
	for (size_t i = 0; i < args.n && !proc_stop_requested(); i++) {
		struct json_object *t;
		bool ready;

		dir = xasprintf("%s/inspect-%d-%zu", G.state_dir,
				(int)getpid(), i);
		if (mkdir_private(dir) < 0) {
			fprintf(stderr, "avbatch: cannot create '%s'\n", dir);
			free(dir);
			r = 2;
			break;
		}
		t = inspect_one(args.v[i], dir, &ready);
		rmdir(dir);
		free(dir);
		if (!ready)
			r = 2;
		if (!json)
			print_text(t);
		json_object_array_add(all, t);
	}
	if (json && json_write(all, "-") < 0)
		r = 2;
	json_object_put(all);
	strv_release(&args);
	return r;
}
