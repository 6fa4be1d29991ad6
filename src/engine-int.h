/* engine-int.h - a parsed descriptor, shared by engine.c and its readers */
#ifndef AVBATCH_ENGINE_INT_H
#define AVBATCH_ENGINE_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "util.h"

/*
 * Private to engine.c (which parses descriptors) and engine-output.c (which
 * reads an engine's output with them): no other file includes this.
 */

#define GROUP_MAX	9		/* detection_path/_threat: \1 to \9 */
#define SIG_MAX		64		/* highest signal number on Linux */
#define NCODES		(256 + SIG_MAX + 1)	/* exit codes, then -1..-64 */

enum regex_slot {
	RE_DETECTION, RE_ERROR, RE_SUMMARY, RE_CONTEXT, RE_PROGRESS, RE_NSLOTS
};

struct engine_opt {
	char *key;
	char *value;
};

struct action {
	bool set;
	int sig;		/* signal:NAME; 0 for a command */
	struct strv words;	/* argv template, literal braces doubled */
	unsigned line;
};

struct engine {
	char *path;
	char *name, *description, *vendor, *binary;
	unsigned flags;
	struct engine_opt *opts;
	size_t nopts;
	struct action actions[ENGINE_NACTIONS];
	signed char verdict[NCODES];	/* enum engine_verdict, or -1 */
	regex_t re[RE_NSLOTS];
	bool has_re[RE_NSLOTS];
	int group[2];			/* detection_path, detection_threat */
	int path_alt[GROUP_MAX];	/* more detection_path groups, 0-ended */
	struct strv incomplete;
	char *size_option;		/* option holding the largest file */
	struct strv daemon_config;	/* lines of the daemon's config file */
	char *external_option;		/* set: use a running daemon */
	int version_status;		/* exit status of a working version */
	struct strv signatures;		/* words: files/dirs of the signatures */
	enum engine_sigsets sigsets;	/* how avbatch reads them, if it can */
};

#endif
