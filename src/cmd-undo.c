/* cmd-undo.c - avbatch undo: bring a job's disks back, or drop its points */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "undo.h"
#include "util.h"

/* A job id names one directory: no path, no dot-name. */
static bool job_name_ok(const char *job)
{
	return job[0] && job[0] != '.' && !strchr(job, '/');
}

/* Undo every disk of the job in jobdir: 0, or 2 when one was not undone. */
static int undo_job(const char *jobdir)
{
	struct strv disks = { 0 };
	char *cause = NULL;
	int rc = 0;

	if (undo_list(jobdir, &disks, &cause) < 0) {
		fprintf(stderr, "avbatch: %s\n", cause);
		free(cause);
		return 2;
	}
	for (size_t i = 0; i < disks.n; i++) {
		struct undo *u = NULL;

		if (undo_load(disks.v[i], &u, &cause) == 0 &&
		    undo_apply(u, &cause) == 0) {
			printf("undone: %s\n", undo_image(u));
		} else {
			fprintf(stderr, "avbatch: %s\n", cause);
			rc = 2;
		}
		free(cause);
		cause = NULL;
		undo_free(u);
	}
	strv_release(&disks);
	return rc;
}

int cmd_undo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "drop", no_argument, NULL, 'd' },
		{ "undo-dir", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	const char *base = UNDO_DIR_DEFAULT;
	char *jobdir, *cause = NULL;
	bool drop = false;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'd')
			drop = true;
		else if (c == 'u')
			base = optarg;
		else
			return cmd_usage_error("bad option");
	}
	if (optind != argc - 1)
		return cmd_usage_error("expected one JOB");
	if (!job_name_ok(argv[optind]))
		return cmd_usage_error("bad job id '%s'", argv[optind]);
	jobdir = xasprintf("%s/%s", base, argv[optind]);
	if (!drop) {
		r = undo_job(jobdir);
	} else if (undo_drop(jobdir, &cause) < 0) {
		fprintf(stderr, "avbatch: %s\n", cause);
		free(cause);
		r = 2;
	} else {
		printf("dropped: %s\n", argv[optind]);
		r = 0;
	}
	free(jobdir);
	return r;
}
