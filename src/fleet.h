/* fleet.h - the reports of many hosts as one fleet report */
#ifndef AVBATCH_FLEET_H
#define AVBATCH_FLEET_H

#include <stddef.h>
#include <json-c/json.h>

/*
 * Merge reports (each one host's run) into one: every target gains the
 * "host" and "job" of its report, engines are listed per host, totals are
 * summed, started/finished span them all, and the exit code is what the
 * fleet as a whole deserves: 1 when anything was found anywhere, else 2
 * when anything was not covered (or a report says so), else 0.  The same
 * job given twice is refused (-EEXIST with *cause).  The reports are not
 * changed; the result is new.
 */
int fleet_merge(struct json_object *const *reports, size_t n,
		struct json_object **out, char **cause);

#endif
