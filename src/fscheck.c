/* fscheck.c - the file systems' own read-only checks (e2fsck -fn, ...) */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fscheck.h"
#include "loop.h"
#include "proc.h"
#include "util.h"

/* How a tool's exit code reads (from each tool's manual page). */
enum fscheck_codes {
	/*
	 * fsck(8)'s bits (e2fsck, fsck.exfat): 0 clean; 1 and 2 corrected
	 * (never with -n, but not clean), 4 errors left; 8 and up
	 * operational, usage, cancelled or library errors.
	 */
	CODES_FSCK,
	/*
	 * 0 clean, 1 errors found; anything else did not check: xfs_repair -n
	 * (2: a dirty log it will not judge), fsck.vfat -n (2: usage).
	 */
	CODES_ONE,
	/*
	 * 0 clean, anything else a failure the tool does not tell apart
	 * from errors (btrfs check, ntfsfix): counted as errors, so a
	 * failed check always refuses.
	 */
	CODES_NONZERO,
};

struct fscheck_tool {
	const char *types;	/* the probed types it checks, ' '-separated */
	const char *prog;
	const char *const args[3];	/* before the device */
	enum fscheck_codes codes;
};

static const struct fscheck_tool tools[] = {
	{ "ext2 ext3 ext4 ext4dev", "e2fsck", { "-f", "-n" }, CODES_FSCK },
	{ "xfs", "xfs_repair", { "-n" }, CODES_ONE },
	{ "btrfs", "btrfs", { "check", "--readonly" }, CODES_NONZERO },
	{ "ntfs", "ntfsfix", { "-n" }, CODES_NONZERO },
	{ "vfat msdos", "fsck.vfat", { "-n" }, CODES_ONE },
	{ "exfat", "fsck.exfat", { "-n" }, CODES_FSCK },
};

static const char *const status_names[] = {
	[FSCHECK_CLEAN] = "clean",
	[FSCHECK_ERRORS] = "errors",
	[FSCHECK_UNCHECKED] = "unchecked",
};

const char *fscheck_status_name(enum fscheck_status s)
{
	return (unsigned)s < sizeof(status_names) / sizeof(*status_names) ?
	       status_names[s] : "?";
}

static const struct fscheck_tool *find_tool(const char *type)
{
	size_t n = strlen(type ? type : "");

	if (!n)
		return NULL;
	for (size_t i = 0; i < sizeof(tools) / sizeof(*tools); i++)
		for (const char *p = tools[i].types; *p; ) {
			size_t w = strcspn(p, " ");

			if (w == n && !strncmp(p, type, n))
				return &tools[i];
			p += w + (p[w] == ' ');
		}
	return NULL;
}

const char *fscheck_tool(const char *type)
{
	const struct fscheck_tool *t = find_tool(type);

	return t ? t->prog : NULL;
}

enum fscheck_status fscheck_status_of(const char *type, int code)
{
	const struct fscheck_tool *t = find_tool(type);

	if (!t || code < 0)
		return FSCHECK_UNCHECKED;
	if (code == 0)
		return FSCHECK_CLEAN;
	switch (t->codes) {
	case CODES_FSCK:
		return code < 8 ? FSCHECK_ERRORS : FSCHECK_UNCHECKED;
	case CODES_ONE:
		return code == 1 ? FSCHECK_ERRORS : FSCHECK_UNCHECKED;
	case CODES_NONZERO:
	default:
		return FSCHECK_ERRORS;
	}
}

int fscheck_run(const char *type, const char *view, uint64_t offset,
		uint64_t size, const char *log, struct fscheck_result *res,
		char **cause)
{
	static const char *const env[] = { "LC_ALL=C", NULL };
	const struct fscheck_tool *t = find_tool(type);
	struct strv argv = { 0 };
	char *prog = NULL, *dev = NULL;
	int lfd = -1, r, st = 0;

	memset(res, 0, sizeof(*res));
	res->status = FSCHECK_UNCHECKED;
	res->code = -1;
	if (!t) {
		*cause = xasprintf("no check for file system type '%s'",
				   type ? type : "none");
		return -EOPNOTSUPP;
	}
	res->tool = xstrdup(t->prog);
	res->log = xstrdup(log);
	r = proc_find(t->prog, &prog, cause);
	if (r < 0)
		goto done;
	lfd = loop_attach(view, offset, size, false, &dev, cause);
	if (lfd < 0) {
		r = lfd;
		goto done;
	}
	strv_push_take(&argv, prog);
	for (size_t i = 0; i < 3 && t->args[i]; i++)
		strv_push(&argv, t->args[i]);
	strv_push(&argv, dev);
	r = proc_run(argv.v, &(struct proc_io){ .out_path = log,
		     .err_path = log, .env = env }, -1, &st);
	if (r == -ECANCELED) {
		*cause = xstrdup("stopped");
		goto done;
	} else if (r < 0) {
		*cause = xasprintf("cannot run %s: %s", t->prog, strerror(-r));
		goto done;
	}
	if (WIFEXITED(st)) {
		res->code = WEXITSTATUS(st);
		res->status = fscheck_status_of(type, res->code);
	}
done:
	if (lfd >= 0)
		close(lfd);
	free(dev);
	strv_release(&argv);
	return r;
}

void fscheck_result_release(struct fscheck_result *res)
{
	free(res->tool);
	free(res->log);
	memset(res, 0, sizeof(*res));
}
