/* html.h - a report as one self-contained HTML page */
#ifndef AVBATCH_HTML_H
#define AVBATCH_HTML_H

#include <json-c/json.h>

#include "util.h"

/*
 * The page of a report (the JSON of report_build() or a report file): a
 * summary (targets clean, infected, not fully covered), then a table per
 * target of its file systems and detections.  No external asset, nothing
 * fetched; readable without JavaScript, which only adds a filter box and
 * sortable columns.  Every string from the report is escaped.
 */
void html_format(struct json_object *report, struct buf *out);

#endif
