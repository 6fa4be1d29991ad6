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
#include "report.h"
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

/* A string of a report for a terminal: escaped, "-" when missing. */
static void put_safe(const char *s)
{
	if (!s)
		s = "-";
	report_print_safe(stdout, s, strlen(s));
}

/*
 * avbatch report text REPORT: its summary as run prints it, from the
 * file (a host's report or a fleet's): each target (with its host), its
 * file systems that were not fully scanned, its detections, the totals.
 * Exit status: the report's.
 */
static int report_text(const char *path)
{
	struct json_object *o = load_report(path), *ts, *tot;
	int r;

	if (!o)
		return 2;
	ts = json_get(o, "targets");
	for (size_t i = 0; i < json_array_len(ts); i++) {
		struct json_object *t = json_object_array_get_idx(ts, i);
		struct json_object *fss = json_get(t, "filesystems");
		struct json_object *ds = json_get(t, "detections");
		struct json_object *c = json_get(t, "complete");

		if (json_get_str(t, "host")) {
			put_safe(json_get_str(t, "host"));
			putchar('/');
		}
		put_safe(json_get_str(t, "name"));
		fputs(": ", stdout);
		put_safe(json_get_str(t, "status"));
		if (c && !json_object_get_boolean(c))
			fputs(", not complete", stdout);
		if (json_get_str(t, "reason")) {
			fputs(" (", stdout);
			put_safe(json_get_str(t, "reason"));
			putchar(')');
		}
		putchar('\n');
		for (size_t k = 0; k < json_array_len(fss);
		     k++) {
			struct json_object *f = json_object_array_get_idx(fss,
									  k);
			const char *st = json_get_str(f, "status");
			enum fs_status s = fs_status_from_name(st);

			if ((s == FS_SCANNED || s == FS_SKIPPED) &&
			    !json_get_str(f, "warning"))
				continue;
			fputs("  ", stdout);
			put_safe(json_get_str(f, "id"));
			putchar(' ');
			put_safe(st);
			if (json_get_str(f, "reason")) {
				fputs(" (", stdout);
				put_safe(json_get_str(f, "reason"));
				putchar(')');
			}
			putchar('\n');
		}
		for (size_t k = 0; k < json_array_len(ds);
		     k++) {
			struct json_object *d = json_object_array_get_idx(ds, k);
			struct buf b = { 0 };

			json_get_bytes(d, "path", "path_b64", &b);
			fputs("  FOUND ", stdout);
			put_safe(json_get_str(d, "fs"));
			putchar(':');
			report_print_safe(stdout, b.p ? b.p : "", b.len);
			fputs(": ", stdout);
			put_safe(json_get_str(d, "threat"));
			fputs(" [", stdout);
			put_safe(json_get_str(d, "engine"));
			fputs("]\n", stdout);
			buf_release(&b);
		}
	}
	tot = json_get(o, "totals");
	r = (int)json_get_int(o, "exit_code", 2);
	if (json_get_int(tot, "hosts", 0))
		printf("%lld host(s), ", (long long)json_get_int(tot, "hosts",
								  0));
	printf("%lld target(s), %lld detection(s), %lld not fully scanned, "
	       "exit %d\n", (long long)json_get_int(tot, "targets", 0),
	       (long long)json_get_int(tot, "detections", 0),
	       (long long)json_get_int(tot, "uncovered", 0), r);
	json_object_put(o);
	return r == 0 || r == 1 ? r : 2;
}

int cmd_report(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "html"))
		return report_html(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "text"))
		return report_text(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "merge"))
		return report_merge(argc - 1, argv + 1);
	return cmd_usage_error("expected 'html REPORT', 'text REPORT' or "
			       "'merge REPORT...'");
}
