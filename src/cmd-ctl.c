/* cmd-ctl.c - avbatch status, pause, resume, stop: talking to running jobs */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cmd.h"
#include "ctl.h"
#include "jobdir.h"
#include "json.h"
#include "result.h"
#include "util.h"

/*
 * Ids of the running jobs, sorted: those whose directory's lock their
 * process holds (jobdir.h), whether or not they answer.  -errno when we
 * may not look (not root): that is not "no job".
 */
static int running_jobs(struct strv *ids)
{
	char *dir = xasprintf("%s/jobs", G.state_dir);
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!d && errno != ENOENT)
		r = -errno;
	while (d && r == 0 && (de = readdir(d))) {
		char *path;

		if (de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		r = jobdir_alive(path);
		if (r > 0)
			strv_push(ids, de->d_name);
		r = r < 0 ? r : 0;
		free(path);
	}
	if (d)
		closedir(d);
	free(dir);
	strv_sort(ids);
	return r;
}

static int no_access(int r)
{
	fprintf(stderr, "avbatch: may not see the jobs in '%s/jobs' (%s); "
		"run as root\n", G.state_dir, strerror(-r));
	return 2;
}

/* JOB as given, or the only running job; NULL and *r, an exit status. */
static char *pick_job(const char *given, int *r)
{
	struct strv ids = { 0 };
	char *id = NULL;
	int e;

	*r = 2;
	if (given)
		return xstrdup(given);
	e = running_jobs(&ids);
	if (e < 0)
		no_access(e);
	else if (ids.n == 1)
		id = xstrdup(ids.v[0]);
	else if (ids.n == 0)
		fprintf(stderr, "avbatch: no job is running (state directory "
			"%s)\n", G.state_dir);
	else
		fprintf(stderr, "avbatch: %zu jobs are running; name one "
			"(avbatch status lists them)\n", ids.n);
	strv_release(&ids);
	return id;
}

/*
 * Send cmd to job id.  A job that was listed as running (listed) but has
 * ended since is -ESRCH, quietly; other failures are printed.
 */
static int request(const char *id, const char *cmd,
		   struct json_object **reply, bool listed)
{
	char *dir, *sock, *cause = NULL;
	int r;

	if (strchr(id, '/') || id[0] == '.') {
		fprintf(stderr, "avbatch: bad job id '%s'\n", id);
		return -EINVAL;
	}
	dir = xasprintf("%s/jobs/%s", G.state_dir, id);
	sock = xasprintf("%s/%s", dir, CTL_SOCKET);
	r = ctl_request(sock, cmd, reply, &cause);
	if (r == 0 && !json_object_get_boolean(json_get(*reply, "ok"))) {
		cause = xstrdup(json_get_str(*reply, "error") ?
				json_get_str(*reply, "error") : "refused");
		r = -EINVAL;
	}
	if (r < 0 && r != -ETIMEDOUT && listed && jobdir_alive(dir) == 0)
		r = -ESRCH;
	else if (r == -ETIMEDOUT)
		fprintf(stderr, "avbatch: job %s is running but does not "
			"answer (%s)\n", id, cause);
	else if (r < 0)
		fprintf(stderr, "avbatch: job %s: %s\n", id, cause);
	free(dir);
	free(sock);
	free(cause);
	return r;
}

static void print_duration(double s)
{
	long t = s > 0 ? (long)(s + 0.5) : 0;

	printf("%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

/* "F of N files  P%  eta H:MM:SS" of a job or a target, if it has totals. */
static void print_done(struct json_object *o)
{
	int64_t total = json_get_int(o, "bytes_total", 0);

	if (total <= 0)
		return;
	printf("  %lld of %lld files  %lld%%",
	       (long long)json_get_int(o, "files_done", 0),
	       (long long)json_get_int(o, "files_total", 0),
	       (long long)(json_get_int(o, "bytes_done", 0) * 100 / total));
	if (json_get(o, "eta_s")) {
		printf("  eta ");
		print_duration(json_object_get_double(json_get(o, "eta_s")));
	}
}

static void print_status(struct json_object *st)
{
	struct json_object *ts = json_get(st, "targets");
	size_t n = json_object_array_length(ts);

	printf("job %s  %s  %lld/%zu targets done  elapsed ",
	       json_get_str(st, "job"), json_get_str(st, "state"),
	       (long long)json_get_int(st, "targets_done", 0), n);
	print_duration(json_object_get_double(json_get(st, "elapsed_s")));
	print_done(st);
	printf("  pid %lld\n", (long long)json_get_int(st, "pid", 0));
	for (size_t i = 0; i < n; i++) {
		struct json_object *t = json_object_array_get_idx(ts, i);
		const char *state = json_get_str(t, "state");
		enum target_phase phase = target_phase_from_name(state);

		printf("  %-20s %-9s", json_get_str(t, "name"), state);
		if (phase == PHASE_DONE)
			printf(" %s", json_get_str(t, "status"));
		if (json_get_str(t, "fs"))
			printf(" %s", json_get_str(t, "fs"));
		if (json_get_str(t, "engine"))
			printf(" %s", json_get_str(t, "engine"));
		if (phase == PHASE_SCANNING)
			print_done(t);
		putchar('\n');
	}
}

/* status [JOB] [--json]: every running job when none is named. */
static int do_status(const char *given, bool json)
{
	struct json_object *all = json_object_new_array();
	struct strv ids = { 0 };
	int r = 0;

	if (given)
		strv_push(&ids, given);
	else if ((r = running_jobs(&ids)) < 0)
		r = no_access(r);
	if (!ids.n && !json && r == 0)
		printf("no job is running\n");
	for (size_t i = 0; i < ids.n; i++) {
		struct json_object *reply = NULL;
		int e = request(ids.v[i], "status", &reply, !given);

		if (e < 0) {
			r = e == -ESRCH ? r : 2;
			continue;
		}
		if (!json)
			print_status(reply);
		json_object_array_add(all, reply);
	}
	if (json)
		json_write(all, "-");
	json_object_put(all);
	strv_release(&ids);
	return r;
}

int cmd_ctl(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct json_object *reply = NULL;
	const char *cmd = argv[0];
	bool json = false;
	char *id;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j' || strcmp(cmd, "status"))
			return cmd_usage_error("bad option");
		json = true;
	}
	if (argc - optind > 1)
		return cmd_usage_error("too many arguments");
	if (!strcmp(cmd, "status"))
		return do_status(optind < argc ? argv[optind] : NULL, json);
	id = pick_job(optind < argc ? argv[optind] : NULL, &r);
	if (!id)
		return r;
	r = request(id, cmd, &reply, false);
	if (r == 0 && !strcmp(cmd, "stop"))
		printf("job %s: stopping; what it did not finish can be "
		       "scanned later with: avbatch run --resume %s\n", id, id);
	else if (r == 0)
		printf("job %s: %s\n", id, json_get_str(reply, "state"));
	json_object_put(reply);
	free(id);
	return r < 0 ? 2 : 0;
}

/* cleanup [JOB]: release what dead jobs left; JOB even if it finished. */
int cmd_cleanup(int argc, char **argv)
{
	struct buf done = { 0 };
	char *cause = NULL, *dir;
	int r = 0;

	if (argc > 2)
		return cmd_usage_error("too many arguments");
	if (argc == 2) {
		if (strchr(argv[1], '/') || argv[1][0] == '.')
			return cmd_usage_error("bad job id '%s'", argv[1]);
		dir = xasprintf("%s/jobs/%s", G.state_dir, argv[1]);
		r = cleanup_job(dir, &done, &cause);
		if (r == -ENOENT) {
			/* A mistyped id must not pass for a cleaned job. */
			free(cause);
			cause = xasprintf("no job '%s' in %s/jobs (avbatch "
					  "status lists the running ones)",
					  argv[1], G.state_dir);
		}
		if (r == -EALREADY) {
			/* A finished job named on purpose: drop its files. */
			r = rmtree(dir);
			if (r == 0)
				buf_addf(&done, "removed %s\n", dir);
		}
		free(dir);
	} else {
		cleanup_dead_jobs(G.state_dir, &done);
	}
	if (done.len)
		fputs(done.p, stdout);
	else if (r == 0)
		printf("nothing to clean up\n");
	if (r < 0)
		fprintf(stderr, "avbatch: %s\n", cause ? cause : strerror(-r));
	buf_release(&done);
	free(cause);
	return r < 0 ? 2 : 0;
}

/*
 * avbatch jobs [--json]: every job in the state directory, newest last:
 * running, or how it ended (its report's status), with its targets and
 * detections, so a finished or stopped one can be found (for --resume,
 * cleanup, its report).
 */
int cmd_jobs(int argc, char **argv)
{
	char *jobs = xasprintf("%s/jobs", G.state_dir);
	struct json_object *all = json_object_new_array();
	struct dirent **list = NULL;
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	int n, r = 0;

	if (argc > 2 || (argc == 2 && !json)) {
		free(jobs);
		json_object_put(all);
		return cmd_usage_error("expected no argument or --json");
	}
	n = scandir(jobs, &list, NULL, alphasort);
	if (n < 0 && errno != ENOENT) {
		fprintf(stderr, "avbatch: cannot read '%s': %s\n", jobs,
			strerror(errno));
		r = 2;
	}
	for (int i = 0; i < n; i++) {
		const char *id = list[i]->d_name;
		char *dir = xasprintf("%s/%s", jobs, id);
		char *rep = xasprintf("%s/report.json", dir);
		struct json_object *o = NULL, *x;
		struct buf b = { 0 };
		int alive;

		if (id[0] == '.' || jobdir_is_new(id))
			goto next;
		alive = jobdir_alive(dir);
		if (read_file(rep, 64 << 20, &b) == 0)
			o = json_parse(b.p, b.len, NULL);
		x = json_object_new_object();
		json_put_str(x, "job", id);
		json_put_str(x, "state", alive > 0 ? "running" : o ?
			     json_get_str(o, "status") : "unknown");
		json_put_str(x, "started", json_get_str(o, "started"));
		json_put_str(x, "finished", json_get_str(o, "finished"));
		json_put_int(x, "targets", json_get_int(json_get(o, "totals"),
							"targets", 0));
		json_put_int(x, "detections", json_get_int(json_get(o,
			     "totals"), "detections", 0));
		/* Stopped before the end: run --resume finishes it. */
		json_object_object_add(x, "stopped", json_object_new_boolean(
			alive <= 0 && json_get_int(json_get(o, "totals"),
						   "stopped", 0) > 0));
		json_object_array_add(all, x);
		if (!json)
			printf("%-22s %-10s %s  %lld target(s), %lld "
			       "detection(s)%s\n", id,
			       json_get_str(x, "state"),
			       json_get_str(x, "started") ?
			       json_get_str(x, "started") : "-",
			       (long long)json_get_int(x, "targets", 0),
			       (long long)json_get_int(x, "detections", 0),
			       json_object_get_boolean(json_get(x, "stopped")) ?
			       ", stopped (run --resume finishes it)" : "");
		json_object_put(o);
next:
		buf_release(&b);
		free(rep);
		free(dir);
		free(list[i]);
	}
	free(list);
	if (json && json_write(all, "-") < 0)
		r = 2;
	else if (!json && !json_object_array_length(all) && !r)
		printf("no job in %s\n", jobs);
	json_object_put(all);
	free(jobs);
	return r;
}
