/* cmd-report.c - avbatch report: a saved report in other forms */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
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

int cmd_report(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "html"))
		return report_html(argv[2]);
	return cmd_usage_error("expected 'html REPORT'");
}
