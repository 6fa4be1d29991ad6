/* fleet.c - the reports of many hosts as one fleet report */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "fleet.h"
#include "json.h"
#include "report.h"
#include "util.h"

/* A copy of o with key set to a string (o itself is left alone). */
static struct json_object *with_str(struct json_object *o, const char *key,
				    const char *v, bool keep)
{
	struct json_object *c = NULL;

	if (json_object_deep_copy(o, &c, NULL) < 0)
		abort();
	if (!keep || !json_get_str(c, key))
		json_put_str(c, key, v);
	return c;
}

/* Add every integer member of from to the same member of sum. */
static void add_totals(struct json_object *sum, struct json_object *from)
{
	if (!from || !json_object_is_type(from, json_type_object))
		return;
	json_object_object_foreach(from, key, v) {
		if (!json_object_is_type(v, json_type_int))
			continue;
		json_put_int(sum, key, json_get_int(sum, key, 0) +
			     json_object_get_int64(v));
	}
}

/* ISO 8601 UTC strings order as their times do. */
static void span(const char **lo, const char **hi, const char *a,
		 const char *b)
{
	if (a && (!*lo || strcmp(a, *lo) < 0))
		*lo = a;
	if (b && (!*hi || strcmp(b, *hi) > 0))
		*hi = b;
}

int fleet_merge(struct json_object *const *reports, size_t n,
		struct json_object **out, char **cause)
{
	struct json_object *o = json_object_new_object();
	struct json_object *tool = json_object_new_object();
	struct json_object *hosts = json_object_new_array();
	struct json_object *engines = json_object_new_array();
	struct json_object *targets = json_object_new_array();
	struct json_object *totals = json_object_new_object();
	const char *started = NULL, *finished = NULL;
	bool found = false, gap = false, error = false, stopped = false;
	struct strv jobs = { 0 };
	char *id, *now = time_iso8601(time(NULL));
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *rep = reports[i];
		const char *job = json_get_str(rep, "job");
		const char *host = json_get_str(rep, "host");
		int64_t code = json_get_int(rep, "exit_code", 2);

		if (!job || strv_has(&jobs, job)) {
			*cause = job ? xasprintf("job '%s' is given twice",
						 job) :
				       xstrdup("a report without a job id");
			r = job ? -EEXIST : -EINVAL;
			goto done;
		}
		strv_push(&jobs, job);
		if (!host)
			host = "unknown";
		json_object_array_add(hosts, json_object_new_string(host));
		span(&started, &finished, json_get_str(rep, "started"),
		     json_get_str(rep, "finished"));
		for (size_t k = 0; k < json_array_len(json_get(rep, "engines")); k++)
			json_object_array_add(engines, with_str(
				json_object_array_get_idx(
					json_get(rep, "engines"), k),
				"host", host, false));
		for (size_t k = 0; k < json_array_len(json_get(rep, "targets"));
		     k++) {
			struct json_object *t = with_str(
				json_object_array_get_idx(
					json_get(rep, "targets"), k),
				"host", host, true);

			json_put_str(t, "job", job);
			json_object_array_add(targets, t);
		}
		add_totals(totals, json_get(rep, "totals"));
		found |= code == 1 ||
			 json_get_int(json_get(rep, "totals"), "detections",
				      0) > 0;
		gap |= code != 0 && code != 1;
		/* Why not covered, worst first: error, stopped, incomplete. */
		if (code != 0 && code != 1) {
			const char *st = json_get_str(rep, "status");
			/* A job's status: its worst target's, by name. */
			enum target_status s = target_status_from_name(st);

			error |= !st || s == TARGET_ERROR;
			stopped |= s == TARGET_STOPPED;
		}
	}
	json_put_int(totals, "hosts", (int64_t)n);
	id = xasprintf("fleet-%s", now);
	json_put_int(o, "schema", REPORT_SCHEMA);
	json_put_str(tool, "name", PACKAGE_NAME);
	json_put_str(tool, "version", PACKAGE_VERSION);
	json_put_obj(o, "tool", tool);
	tool = NULL;
	json_put_str(o, "job", id);
	free(id);
	json_put_obj(o, "hosts", hosts);
	hosts = NULL;
	json_put_str(o, "merged", now);
	json_put_str(o, "started", started);
	json_put_str(o, "finished", finished);
	json_put_str(o, "status", found ? "infected" : !gap ? "clean" :
		     error ? "error" : stopped ? "stopped" : "incomplete");
	json_put_int(o, "exit_code", found ? 1 : gap ? 2 : 0);
	json_put_obj(o, "engines", engines);
	engines = NULL;
	json_put_obj(o, "targets", targets);
	targets = NULL;
	json_put_obj(o, "totals", totals);
	totals = NULL;
	*out = o;
	o = NULL;
done:
	json_object_put(o);
	json_object_put(tool);
	json_object_put(hosts);
	json_object_put(engines);
	json_object_put(targets);
	json_object_put(totals);
	strv_release(&jobs);
	free(now);
	return r;
}
