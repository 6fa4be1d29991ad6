/* engine.h - INI engine descriptors: commands, options, reading results */
#ifndef AVBATCH_ENGINE_H
#define AVBATCH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

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
	ENGINE_NACTIONS
};

enum engine_verdict {
	ENGINE_CLEAN,
	ENGINE_INFECTED,
	ENGINE_ERROR,
};

/*
 * Parse one descriptor file.  Returns 0 and a new engine, or -errno with
 * *cause set to a "file:line: what" message.  When running as root, a file
 * not owned by root or writable by group/other is refused.
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

/* Classify an exit status (as from waitpid). */
enum engine_verdict engine_classify_exit(const struct engine *e, int status);

/*
 * Match one output line against the detection expression.  On a match
 * returns true and sets *path and *threat to malloc'd copies.
 */
bool engine_match_detection(const struct engine *e, const char *line,
			    char **path, char **threat);

/* True if the threat name marks an incomplete scan, not an infection. */
bool engine_threat_is_incomplete(const struct engine *e, const char *threat);

/* True if the line is one the descriptor calls an error line. */
bool engine_match_error(const struct engine *e, const char *line);

#endif
