/* engine-output.h - reading an engine's output: detections, errors, counts */
#ifndef AVBATCH_ENGINE_OUTPUT_H
#define AVBATCH_ENGINE_OUTPUT_H

#include <stdbool.h>

#include "engine.h"

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

#endif
