/* cmd.h - what the command files share: global options, the command table */
#ifndef AVBATCH_CMD_H
#define AVBATCH_CMD_H

#include "util.h"

/* Global options, set by main before a command runs. */
struct globals {
	const char *config;
	const char *state_dir;
	const char *default_engine;
	const char *cache;		/* verdict cache; NULL: none */
	const char *quarantine;		/* the quarantine store */
	struct strv engine_dirs;	/* in override order, last wins */
	unsigned keep_jobs;		/* finished job directories kept */
	unsigned keep_job_days;		/* ... at most this old (0: any) */
};

extern struct globals G;

enum cmd_flags {
	CMD_NEEDS_ROOT = 1 << 0,	/* mounts, loop devices, namespaces */
	CMD_NEEDS_ENGINES = 1 << 1,	/* loads descriptors */
	CMD_NO_MOUNTS = 1 << 2,		/* root only to attach images */
};

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	unsigned flags;
	const char *usage;
	const char *help;
};

int cmd_run(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_engines(int argc, char **argv);
int cmd_update(int argc, char **argv);
int cmd_ctl(int argc, char **argv);	/* status, pause, resume, stop */
int cmd_cleanup(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_quarantine(int argc, char **argv);
int cmd_undo(int argc, char **argv);
int cmd_clean(int argc, char **argv);

/* The engine search path as a plain array for engine_find(). */
const char *const *cmd_engine_dirs(size_t *n);

struct engine;

/*
 * Load the comma-separated engines of list and apply "-o E.KEY=VALUE"
 * options to them.  Returns 0, or an exit status after printing why; the
 * caller frees *out with cmd_free_engines() either way.
 */
int cmd_load_engines(const char *list, const struct strv *options,
		     struct engine ***out, size_t *nout);
void cmd_free_engines(struct engine **engines, size_t n);

/* Print a usage error for the running command and return exit status 2. */
int cmd_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
