/* engine-output.h - reading an engine's output: detections, errors, counts */
#ifndef AVBATCH_ENGINE_OUTPUT_H
#define AVBATCH_ENGINE_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "walk.h"

struct engine_output;	/* opaque: the reader of one run's output */

/* What one run scanned: to map the host paths it prints to guest paths. */
struct engine_output_scope {
	const struct walk *w;	/* the walked files */
	const char *mnt;	/* where they are mounted (w's root) */
	const char *single;	/* the one file this run scanned, or NULL */
	bool infected_rc;	/* the exit status said "infected" */
};

struct engine_detection {
	char *path;		/* guest path: raw bytes, may not be UTF-8 */
	char *threat;
};

/* What a run's output said, all its streams together. */
struct engine_findings {
	struct engine_detection *hits;	/* one per guest path, first kept */
	size_t nhits;
	unsigned errors;	/* error lines, unreadable output */
	char *error;		/* the first of them, guest paths shown */
	char *incomplete;	/* the first "not fully scanned: THREAT" */
	unsigned long summary;	/* the engine's own count of infected files */
	bool summary_seen;	/* a summary line was read */
};

/*
 * A reader for one run of engine e over scope (copied; the walk and the
 * strings must outlive the reader).
 */
struct engine_output *engine_output_new(const struct engine *e,
				const struct engine_output_scope *scope);

/* Read one output line (no newline). */
void engine_output_line(struct engine_output *o, const char *line);

/*
 * One output stream has ended: a threat heading ends with it, and a run
 * of a single file gets its detection (see engine_output_scope.single).
 */
void engine_output_end(struct engine_output *o);

/*
 * Read a whole output file line by line, however long it is, and end it;
 * output that cannot be read is an error, never nothing found.
 */
void engine_output_read(struct engine_output *o, const char *file);

/* What was read so far. */
const struct engine_findings *engine_output_findings(
	const struct engine_output *o);

void engine_output_free(struct engine_output *o);

/* Classify an exit status (as from waitpid). */
enum engine_verdict engine_classify_exit(const struct engine *e, int status);

/*
 * Match one output line against the detection expression.  On a match
 * returns true and sets *path and *threat to malloc'd copies (*threat is
 * NULL when the threat comes from a threat_context heading: with
 * detection_threat = 0, or when that group took no part in the match).
 */
bool engine_match_detection(const struct engine *e, const char *line,
			    char **path, char **threat);

/* True if the threat name marks an incomplete scan, not an infection. */
bool engine_threat_is_incomplete(const struct engine *e, const char *threat);

/* True if the line is one the descriptor calls an error line. */
bool engine_match_error(const struct engine *e, const char *line);

/* The engine's own count of infected files from a summary line. */
bool engine_match_summary(const struct engine *e, const char *line,
			  unsigned long *count);

/*
 * Does the verdict rest on the summary line: the descriptor has one
 * (summary_infected) and no exit status that means "infected" (Dr.Web,
 * Bitdefender, Comodo)?  Then a scan whose output has no summary line, or
 * lost part of it, cannot be called clean.
 */
bool engine_needs_summary(const struct engine *e);

/*
 * Threats named by a heading line for the path lines that follow it
 * ("threat_context"; detection_threat = 0).  Returns true and a malloc'd
 * threat when line is such a heading.
 */
bool engine_match_context(const struct engine *e, const char *line,
			  char **threat);

/*
 * Does the engine say, line by line, which file it has finished (the
 * descriptor's progress regex)?  Such a line gives the path's place in it;
 * it only moves progress, it decides nothing.
 */
bool engine_tells_progress(const struct engine *e);
bool engine_match_progress(const struct engine *e, const char *line,
			   size_t *off, size_t *len);

#endif
