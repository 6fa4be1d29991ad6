/* cmd-report.c - avbatch report: saved reports merged or in other forms */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "fleet.h"
#include "html.h"
#include "json.h"
#include "util.h"

/* The largest report read (a fleet of thousands of VMs stays far below). */
#define REPORT_MAX	(512u << 20)

/*
 * Load an avbatch report: the file's JSON must be an object from avbatch
 * with a schema.  Prints why not and returns NULL.
 */
static struct json_object *load_report(const char *path)
{
	struct json_object *o = NULL, *tool;
	struct buf b = { 0 };
	char *cause = NULL;
	int r;

	r = read_file(path, REPORT_MAX, &b);
	if (r < 0) {
		fprintf(stderr, "avbatch: cannot read '%s': %s\n", path,
			r == -EINVAL ? "not a regular file" : strerror(-r));
		goto done;
	}
	o = json_parse(b.p, b.len, &cause);
	if (!o) {
		fprintf(stderr, "avbatch: '%s' is not JSON: %s\n", path, cause);
		goto done;
	}
	tool = json_get(o, "tool");
	if (!json_object_is_type(o, json_type_object) ||
	    !json_get_str(tool, "name") ||
	    strcmp(json_get_str(tool, "name"), "avbatch") ||
	    json_get_int(o, "schema", 0) < 1) {
		fprintf(stderr, "avbatch: '%s' is not an avbatch report\n",
			path);
		json_object_put(o);
		o = NULL;
	}
done:
	free(cause);
	buf_release(&b);
	return o;
}

/* avbatch report html REPORT: the page on standard output. */
static int report_html(const char *path)
{
	struct json_object *o = load_report(path);
	struct buf page = { 0 };
	int r = 0;

	if (!o)
		return 2;
	html_format(o, &page);
	if (fwrite(page.p, 1, page.len, stdout) != page.len ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "avbatch: cannot write the page: %s\n",
			strerror(errno));
		r = 2;
	}
	buf_release(&page);
	json_object_put(o);
	return r;
}

/*
 * avbatch report merge [-o FILE] REPORT...: one fleet report, exit status
 * what the fleet deserves (as run's: 0 clean, 1 found, 2 not covered).
 */
static int report_merge(int argc, char **argv)
{
	struct json_object **reps = xcalloc((size_t)argc + 1, sizeof(*reps));
	struct json_object *merged = NULL;
	const char *out = "-";
	char *cause = NULL;
	size_t n = 0;
	int c, r = 2;

	optind = 0;
	while ((c = getopt(argc, argv, "o:")) != -1) {
		if (c != 'o') {
			r = cmd_usage_error("bad option");
			goto done;
		}
		out = optarg;
	}
	if (optind >= argc) {
		r = cmd_usage_error("no report given");
		goto done;
	}
	for (int i = optind; i < argc; i++)
		if (!(reps[n++] = load_report(argv[i])))
			goto done;
	if (fleet_merge(reps, n, &merged, &cause) < 0) {
		fprintf(stderr, "avbatch: cannot merge: %s\n", cause);
		goto done;
	}
	if ((r = json_write(merged, out)) < 0) {
		fprintf(stderr, "avbatch: cannot write '%s': %s\n", out,
			strerror(-r));
		r = 2;
		goto done;
	}
	r = (int)json_get_int(merged, "exit_code", 2);
done:
	for (size_t i = 0; i < n; i++)
		json_object_put(reps[i]);
	free(reps);
	json_object_put(merged);
	free(cause);
	return r;
}

int cmd_report(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "html"))
		return report_html(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "merge"))
		return report_merge(argc - 1, argv + 1);
	return cmd_usage_error("expected 'html REPORT' or 'merge REPORT...'");
}
