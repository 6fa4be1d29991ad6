/* cmd-clean.c - avbatch clean: quarantine what a reviewed report found */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "clean.h"
#include "cmd.h"
#include "engine.h"
#include "jobdir.h"
#include "json.h"
#include "mount.h"
#include "proc.h"
#include "scan.h"
#include "undo.h"
#include "util.h"

/* Print a guest string on the terminal without its control bytes. */
static void put_safe(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		putchar((unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' :
			s[i]);
}

static void print_target(const struct clean_target *t, bool dry_run)
{
	printf("%s:", t->name);
	if (t->undo_id)
		printf(" undo point %s", t->undo_id);
	if (t->rolled_back)
		printf(", rolled back");
	else if (t->rescanned)
		printf(", rescanned: clean");
	putchar('\n');
	if (t->reason) {
		printf("  reason: ");
		put_safe(t->reason, strlen(t->reason));
		putchar('\n');
	}
	for (size_t i = 0; i < t->nfs; i++) {
		const struct clean_fs *f = &t->fs[i];

		printf("  %s (%s): %s", f->id, f->type ? f->type : "-",
		       f->plan ? f->plan : "not written");
		if (f->check_before)
			printf(", before: %s", f->check_before);
		if (f->check_after)
			printf(", after: %s", f->check_after);
		if (f->reason) {
			printf(", ");
			put_safe(f->reason, strlen(f->reason));
		}
		putchar('\n');
	}
	for (size_t i = 0; i < t->nitems; i++) {
		const struct clean_item *it = &t->items[i];

		printf("  %s %s ", dry_run && it->result == CLEAN_PLANNED ?
		       "would quarantine" : clean_result_names[it->result],
		       it->fs);
		put_safe(it->path, it->pathlen);
		printf(" (");
		put_safe(it->threat, strlen(it->threat));
		printf(")");
		if (it->quarantine_id)
			printf(" quarantine %s", it->quarantine_id);
		if (it->reason) {
			printf(": ");
			put_safe(it->reason, strlen(it->reason));
		}
		putchar('\n');
	}
}

/* The last line: how many detections came to what, and the exit status. */
static void print_totals(const struct clean_target *t, size_t n, int rc)
{
	size_t count[CLEAN_NRESULTS] = { 0 };
	const char *sep = "";

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < t[i].nitems; j++)
			count[t[i].items[j].result]++;
	for (int k = 0; k < CLEAN_NRESULTS; k++)
		if (count[k]) {
			printf("%s%zu %s", sep, count[k],
			       clean_result_names[k]);
			sep = ", ";
		}
	printf("%sexit %d\n", sep, rc);
}

static int read_report(const char *path, struct json_object **out)
{
	struct buf b = { 0 };
	char *cause = NULL;
	int r = read_file(path, 64 << 20, &b);

	if (r < 0) {
		fprintf(stderr, "avbatch: cannot read '%s': %s\n", path,
			strerror(-r));
		return 2;
	}
	*out = json_parse(b.p, b.len, &cause);
	buf_release(&b);
	if (!*out) {
		fprintf(stderr, "avbatch: '%s': %s\n", path, cause);
		free(cause);
		return 2;
	}
	return 0;
}

/* This cleaning's id and private directory, locked like a job's. */
static int make_workdir(char **id, char **dir, int *lock, char **cause)
{
	char *jobs = xasprintf("%s/jobs", G.state_dir), stamp[32];
	time_t now = time(NULL);
	unsigned short rnd = 0;
	struct tm tm;
	int r;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	r = mkdir_private(G.state_dir);
	if (r == 0)
		r = mkdir_private(jobs);
	for (int try = 0; r == 0 && *lock < 0; try++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (unsigned short)(getpid() + try);
		free(*id);
		*id = xasprintf("clean-%s-%04x", stamp, rnd);
		r = jobdir_create(jobs, *id, lock);
		if ((r == -EEXIST || r == -EAGAIN) && try < 16)
			r = 0;
	}
	if (r < 0)
		*cause = xasprintf("cannot create a job directory in '%s': %s",
				   jobs, strerror(-r));
	else
		*dir = xasprintf("%s/%s", jobs, *id);
	free(jobs);
	return r;
}

/* What state.json needs: a clean killed mid-way is released by cleanup. */
struct clean_state {
	const char *id, *dir;
};

/*
 * state.json, rewritten whenever a helper starts or ends: the process and
 * the helpers (qemu-storage-daemon holding the image writable) that
 * avbatch cleanup must end if this process dies, so that qemu closes the
 * undo file whole and avbatch undo can restore the image.
 */
static void save_state(void *arg)
{
	const struct clean_state *cs = arg;
	struct json_object *o = json_object_new_object();
	struct json_object *pids = json_object_new_array();
	struct proc_child *ch = NULL;
	size_t n = proc_children(&ch);
	char *path = xasprintf("%s/state.json", cs->dir);

	json_put_str(o, "job", cs->id);
	json_put_str(o, "state", "cleaning");
	json_put_int(o, "pid", getpid());
	json_put_int(o, "pid_start", (int64_t)proc_start_time(getpid()));
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_new_object();

		json_put_int(p, "pid", ch[i].pid);
		json_put_int(p, "start", (int64_t)ch[i].start);
		json_put_str(p, "role", "helper");
		json_object_array_add(pids, p);
	}
	json_put_obj(o, "processes", pids);
	json_write(o, path);
	json_object_put(o);
	free(ch);
	free(path);
}

static void write_report(const char *path, const char *job,
			 const char *source, const struct clean_target *t,
			 size_t n, bool dry_run, int rc)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ts = json_object_new_array();

	json_put_int(o, "schema", 1);
	json_put_str(o, "kind", "clean");
	json_put_str(o, "job", job);
	json_put_str(o, "report", source);
	json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
	for (size_t i = 0; i < n; i++) {
		struct json_object *x = json_object_new_object();

		json_put_str(x, "name", t[i].name);
		json_put_str(x, "image", t[i].image);
		json_put_obj(x, "remediation", clean_remediation_json(&t[i]));
		json_object_array_add(ts, x);
	}
	json_put_obj(o, "targets", ts);
	json_put_int(o, "exit_code", rc);
	if (json_write(o, path) < 0)
		fprintf(stderr, "avbatch: cannot write '%s'\n", path);
	json_object_put(o);
}

int cmd_clean(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "threat", required_argument, NULL, 'T' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "quarantine", required_argument, NULL, 'q' },
		{ "undo-dir", required_argument, NULL, 'u' },
		{ "report", required_argument, NULL, 'r' },
		{ "action", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct strv targets = { 0 }, threats = { 0 }, options = { 0 };
	struct strv names = { 0 };
	struct clean_options o = { .targets = &targets, .threats = &threats,
				   .undo_dir = UNDO_DIR_DEFAULT };
	struct clean_state cs = { 0 };
	struct json_object *report = NULL;
	struct clean_target *t = NULL;
	struct engine **engines = NULL;
	size_t n = 0, nengines = 0;
	const char *report_out = NULL;
	char *cause = NULL, *id = NULL, *dir = NULL;
	int c, r = 0, lock = -1;

	o.quarantine = G.quarantine;
	optind = 0;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 't')
			strv_push(&targets, optarg);
		else if (c == 'T')
			strv_push(&threats, optarg);
		else if (c == 'n')
			o.dry_run = true;
		else if (c == 'q')
			o.quarantine = optarg;
		else if (c == 'u')
			o.undo_dir = optarg;
		else if (c == 'r')
			report_out = optarg;
		else if (c == 'o')
			strv_push(&options, optarg);
		else if (c == 'a' && strcmp(optarg, "quarantine")) {
			fprintf(stderr, "avbatch: clean: --action %s is not "
				"implemented yet (only quarantine)\n", optarg);
			r = 2;
			goto done;
		} else if (c != 'a') {
			r = cmd_usage_error("bad option");
			goto done;
		}
	}
	if (optind != argc - 1) {
		r = cmd_usage_error("expected one REPORT");
		goto done;
	}
	r = read_report(argv[optind], &report);
	if (r)
		goto done;
	if (clean_select(report, &o, &t, &n, &names, &cause) < 0) {
		r = cmd_usage_error("%s", cause);
		goto done;
	}
	if (!n) {
		printf("nothing selected to clean\n");
		goto done;
	}
	if (!o.dry_run) {
		struct buf list = { 0 };

		for (size_t i = 0; i < names.n; i++)
			buf_addf(&list, "%s%s", i ? "," : "", names.v[i]);
		r = cmd_load_engines(list.p, &options, &engines, &nengines);
		buf_release(&list);
		if (r)
			goto done;
	}
	if (mount_private_namespace(&cause) < 0 ||
	    make_workdir(&id, &dir, &lock, &cause) < 0)
		goto fail;
	o.job = id;
	o.workdir = dir;
	cs.id = id;
	cs.dir = dir;
	save_state(&cs);
	proc_on_change(save_state, &cs);
	o.scanners = xcalloc(nengines + 1, sizeof(*o.scanners));
	for (size_t i = 0; i < nengines; i++) {
		struct engine *e = engines[i];

		engines[i] = NULL;
		if (scanner_open(e, dir, &o.scanners[o.nscanners], &cause) < 0)
			goto fail;
		o.nscanners++;
	}
	for (size_t i = 0; i < n; i++) {
		if (clean_target(&o, &t[i], &cause) < 0) {
			fprintf(stderr, "avbatch: %s: %s\n", t[i].name, cause);
			free(cause);
			cause = NULL;
			free(t[i].reason);
			t[i].reason = xstrdup("not cleaned");
			for (size_t j = 0; j < t[i].nitems; j++)
				if (t[i].items[j].result == CLEAN_PLANNED &&
				    !o.dry_run)
					t[i].items[j].result = CLEAN_REFUSED;
		}
		print_target(&t[i], o.dry_run);
	}
	r = clean_exit_code(t, n);
	print_totals(t, n, r);
	if (report_out)
		write_report(report_out, id, argv[optind], t, n, o.dry_run, r);
	goto done;
fail:
	fprintf(stderr, "avbatch: %s\n", cause);
	r = 2;
done:
	proc_on_change(NULL, NULL);
	for (size_t i = 0; i < o.nscanners; i++)
		scanner_close(o.scanners[i]);
	free(o.scanners);
	cmd_free_engines(engines, nengines);
	for (size_t i = 0; i < n; i++)
		clean_target_release(&t[i]);
	free(t);
	if (dir)
		rmtree(dir);
	if (lock >= 0)
		close(lock);
	if (report)
		json_object_put(report);
	strv_release(&targets);
	strv_release(&threats);
	strv_release(&options);
	strv_release(&names);
	free(cause);
	free(id);
	free(dir);
	return r;
}
