/* metrics.c - a run as Prometheus metrics (node_exporter's textfile collector) */
#include "config.h"

#include <string.h>
#include <time.h>

#include "json.h"
#include "metrics.h"
#include "result.h"

/* Every target status a report may hold, so each has a series (0 too). */
static const enum target_status statuses[] = {
	TARGET_CLEAN, TARGET_INFECTED, TARGET_INCOMPLETE, TARGET_ERROR,
	TARGET_SKIPPED, TARGET_STOPPED,
};

/* A report's "2026-11-27T09:30:00Z" as Unix time; 0 when missing. */
static time_t iso_time(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (!s || !(end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) || *end)
		return 0;
	return timegm(&tm);
}

static void gauge(struct buf *out, const char *name, const char *help,
		  double v)
{
	buf_addf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help,
		 name, name, v);
}

void metrics_format(struct json_object *report, struct buf *out)
{
	struct json_object *targets = json_get(report, "targets");
	struct json_object *totals = json_get(report, "totals");
	size_t nt = json_array_len(targets);
	time_t start = iso_time(json_get_str(report, "started"));
	time_t end = iso_time(json_get_str(report, "finished"));
	int64_t cached = 0;

	gauge(out, "avbatch_last_run_timestamp_seconds",
	      "When the last avbatch run finished (Unix time).", (double)end);
	gauge(out, "avbatch_last_run_duration_seconds",
	      "How long the last avbatch run took.",
	      end >= start ? (double)(end - start) : 0);
	gauge(out, "avbatch_last_run_exit_code",
	      "Exit status of the last run: 0 clean, 1 found, 2 not covered.",
	      (double)json_get_int(report, "exit_code", 2));
	buf_addstr(out, "# HELP avbatch_last_run_targets Targets of the last "
		   "run by status.\n# TYPE avbatch_last_run_targets gauge\n");
	for (size_t s = 0; s < sizeof(statuses) / sizeof(*statuses); s++) {
		int64_t n = 0;

		for (size_t i = 0; i < nt; i++) {
			const char *st = json_get_str(
				json_object_array_get_idx(targets, i),
				"status");

			n += target_status_from_name(st) == statuses[s];
		}
		buf_addf(out, "avbatch_last_run_targets{status=\"%s\"} %lld\n",
			 target_status_names[statuses[s]], (long long)n);
	}
	for (size_t i = 0; i < nt; i++) {
		struct json_object *fss = json_get(
			json_object_array_get_idx(targets, i), "filesystems");
		size_t nf = json_array_len(fss);

		for (size_t k = 0; k < nf; k++)
			cached += json_get_int(json_get(
				json_object_array_get_idx(fss, k), "files"),
				"cached", 0);
	}
	gauge(out, "avbatch_last_run_detections",
	      "Detections in the last run.",
	      (double)json_get_int(totals, "detections", 0));
	gauge(out, "avbatch_last_run_files_scanned",
	      "Files the engines scanned in the last run.",
	      (double)json_get_int(totals, "files_scanned", 0));
	gauge(out, "avbatch_last_run_files_cached",
	      "Files answered from the verdict cache in the last run.",
	      (double)cached);
	gauge(out, "avbatch_last_run_bytes_scanned",
	      "Bytes the engines scanned in the last run.",
	      (double)json_get_int(totals, "bytes_scanned", 0));
}
