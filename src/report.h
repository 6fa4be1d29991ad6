/* report.h - the JSON report (schema 2) and the text summary of a batch */
#ifndef AVBATCH_REPORT_H
#define AVBATCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "result.h"

#define REPORT_SCHEMA 2

struct json_object *report_build(const struct results *r);
int report_write(const struct results *r, const char *path);
/*
 * The text summary: each target, its file systems and detections, then the
 * totals.  problems (-q): only targets that are not clean, with their
 * detections and the file systems not fully scanned; no totals.  code is
 * the exit status run ends with.
 */
void report_print_text(const struct results *r, int code, FILE *out,
		       bool problems);

/* Print bytes for a terminal: control and non-UTF-8 bytes escaped. */
void report_print_safe(FILE *out, const char *s, size_t n);

#endif
