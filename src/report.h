/* report.h - the JSON report (schema 2) and the text summary of a job */
#ifndef AVBATCH_REPORT_H
#define AVBATCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "job.h"

#define REPORT_SCHEMA 2

struct json_object *report_build(const struct job *j);
int report_write(const struct job *j, const char *path);
/* The text summary; code is the exit status run ends with. */
/*
 * The text summary: each target, its file systems and detections, then the
 * totals.  problems (-q): only targets that are not clean, with their
 * detections and the file systems not fully scanned; no totals.
 */
void report_print_text(const struct job *j, int code, FILE *out,
		       bool problems);

/* One target as the report shows it, scanned on host. */
struct json_object *report_target(const struct target *t, const char *host);

/*
 * Fill t (image, file systems, results, detections) from what
 * report_target() wrote for a clean or infected target whose every file
 * system was scanned or skipped; detections are tied to these engines.
 * Returns 0, or -EINVAL (t untouched) if o is not such a target.
 */
int report_target_restore(struct target *t, struct json_object *o,
			  struct scanner *const *engines, size_t nengines);

/* Add an LVM logical volume's names and UUIDs to a file system's JSON. */
void report_put_lvm(struct json_object *o, const struct fs *fs);

/* Print bytes for a terminal: control and non-UTF-8 bytes escaped. */
void report_print_safe(FILE *out, const char *s, size_t n);

#endif
