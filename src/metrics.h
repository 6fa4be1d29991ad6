/* metrics.h - a run as Prometheus metrics (node_exporter's textfile collector) */
#ifndef AVBATCH_METRICS_H
#define AVBATCH_METRICS_H

#include <json-c/json.h>

#include "util.h"

/*
 * The metrics of a report (the JSON of report_build()) in Prometheus' text
 * exposition format: when the run finished and how long it took, its exit
 * code, targets by status, detections, files and bytes scanned, files
 * answered from the verdict cache.
 */
void metrics_format(struct json_object *report, struct buf *out);

#endif
