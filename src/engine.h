/* engine.h - INI engine descriptors: loading, commands, options */
#ifndef AVBATCH_ENGINE_H
#define AVBATCH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct engine;		/* opaque: one parsed descriptor */

enum engine_action {
	ENGINE_SCAN,		/* {target}: a directory */
	ENGINE_SCAN_LIST,	/* {list}: a file of paths, one per line */
	ENGINE_VERSION,
	ENGINE_UPDATE,
	ENGINE_PAUSE,
	ENGINE_RESUME,
	ENGINE_STOP,
	ENGINE_STATUS,
	ENGINE_DAEMON,		/* [daemon] start: runs for the whole batch */
	ENGINE_DAEMON_READY,	/* [daemon] ready: exits 0 once it serves */
	ENGINE_NACTIONS
};

/* Behaviour flags ("flags = ..." in [engine]). */
enum engine_flag {
	ENGINE_PARALLEL_SAFE = 1 << 0,	/* several scans may run at once */
	ENGINE_HOST_MOUNTS = 1 << 1,	/* a host daemon opens the paths */
	ENGINE_MANAGED_DAEMON = 1 << 2,	/* [daemon] started around a batch */
	ENGINE_CHOSEN_PATHS = 1 << 3,	/* checks paths it chooses, not files */
};

enum engine_verdict {
	ENGINE_CLEAN,
	ENGINE_INFECTED,
	ENGINE_ERROR,
};

/*
 * Parse one descriptor file.  Returns 0 and a new engine, or -errno with
 * *cause set to a "file:line: what" message.  When running as root, a file
 * that trust_check() refuses (not owned by root, writable by group/other,
 * or in a directory others can change) is refused.
 */
int engine_load(const char *path, struct engine **out, char **cause);

/*
 * Find descriptor NAME.ini in dirs (later directories override earlier
 * ones) and load it.
 */
int engine_find(const char *const *dirs, size_t ndirs, const char *name,
		struct engine **out, char **cause);

void engine_free(struct engine *e);

const char *engine_name(const struct engine *e);
const char *engine_vendor(const struct engine *e);
const char *engine_description(const struct engine *e);
const char *engine_path(const struct engine *e);	/* the descriptor file */
bool engine_has_action(const struct engine *e, enum engine_action a);

/* Override an option (the -o ENGINE.KEY=VALUE of the command line). */
int engine_set_option(struct engine *e, const char *key, const char *value,
		      char **cause);

/*
 * Build argv for an action, substituting {option} names and the variables
 * in vars (a NULL-terminated list of name, value pairs, e.g. "target",
 * "/mnt/x", NULL) per word.  argv[0] is the program resolved through PATH.
 * Returns 0 or -errno (-ENOENT: no such action or program not found) with
 * *cause set.  The caller releases argv with strv_release().
 */
int engine_argv(const struct engine *e, enum engine_action a,
		const char *const *vars, struct strv *argv, char **cause);

bool engine_has_flag(const struct engine *e, enum engine_flag f);

/* The signal of a "signal:NAME" action, or 0 for a command or no action. */
int engine_action_signal(const struct engine *e, enum engine_action a);

/*
 * The files or directories holding the engine's signatures ("signatures"
 * in [engine], with option placeholders), for the verdict cache: a change
 * in any of them changes the verdicts.  Empty: the engine's verdicts are
 * never cached.
 */
int engine_signature_paths(const struct engine *e, struct strv *paths,
			   char **cause);

/*
 * Signatures avbatch can read line by line ("signature_sets" in [engine]):
 * an update is then rescanned with only what it added (sigset.h).
 */
enum engine_sigsets {
	ENGINE_SIGSETS_NONE,
	ENGINE_SIGSETS_CLAMAV,	/* a ClamAV database directory or file */
};
extern const char *const engine_sigsets_names[];	/* "", "clamav" */
enum engine_sigsets engine_signature_sets(const struct engine *e);

/*
 * The option that names the signatures ("signatures = {database}"), or
 * NULL when "signatures" is anything else.
 */
const char *engine_signature_option(const struct engine *e);

/*
 * A second instance of e: its descriptor loaded again, with e's options
 * (an option of it may then be pointed elsewhere).  0 or -errno, *cause.
 */
int engine_clone(const struct engine *e, struct engine **out, char **cause);

/* Every option as "key=value" lines (after -o), for the cache's key. */
void engine_describe_options(const struct engine *e, struct buf *out);

/* The exit status of the version action when it works (usually 0). */
int engine_version_status(const struct engine *e);

/* The program name or path the descriptor gives as its binary. */
const char *engine_binary(const struct engine *e);

/*
 * The binary resolved through PATH and checked as for engine_argv().
 * Returns 0 and a malloc'd path, or -errno with *cause.
 */
int engine_resolve_binary(const struct engine *e, char **path, char **cause);

/*
 * The largest file the engine scans, from the option named by
 * size_limit_option ("100M"); 0 when there is no limit.  -EINVAL with
 * *cause when the option's value is not a size.
 */
int engine_size_limit(const struct engine *e, uint64_t *bytes, char **cause);

/*
 * A managed daemon: true if the descriptor has one and the option named
 * external_option is empty (else the operator's running daemon is used).
 */
bool engine_manages_daemon(const struct engine *e);

/* The value of external_option when it is set (a running daemon), or NULL. */
const char *engine_external_daemon(const struct engine *e);

/*
 * Is the managed daemon told to listen on {daemon_socket} (by its start
 * command or a config line)?  Then it is not ready before that exists.
 */
bool engine_daemon_listens(const struct engine *e);

/*
 * The daemon's configuration file: each "config" line with placeholders
 * substituted from vars, one per line.  Returns 0 or -errno with *cause.
 */
int engine_daemon_config(const struct engine *e, const char *const *vars,
			 struct buf *out, char **cause);

#endif
