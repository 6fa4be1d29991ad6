/* cmd-run.c - avbatch run: scan targets with engines, print and report */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "cache-pg.h"
#include "cleanup.h"
#include "cmd.h"
#include "engine.h"
#include "html.h"
#include "image.h"
#include "job.h"
#include "journal.h"
#include "json.h"
#include "libvirt.h"
#include "metrics.h"
#include "mount.h"
#include "output.h"
#include "proc.h"
#include "report.h"
#include "scan.h"
#include "util.h"

/* Where verdicts are kept between runs (--cache, --no-cache). */
#ifndef AVBATCH_CACHE
#define AVBATCH_CACHE	LOCALSTATEDIR "/lib/avbatch/cache.sqlite"
#endif

/*
 * A directory target stands for the disk images directly inside it: by
 * name (.qcow2, .raw, ...) or by their header (qcow2, vmdk, ... magic).
 */
static int add_targets(struct job *j, const char *arg, char **cause)
{
	struct strv imgs = { 0 };
	struct stat st;
	int r;

	if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode)) {
		job_add_target(j, arg);
		return 0;
	}
	r = image_list_dir(arg, &imgs, cause);
	for (size_t i = 0; i < imgs.n; i++)
		job_add_target(j, imgs.v[i]);
	strv_release(&imgs);
	return r;
}

/*
 * A libvirt domain's disks as targets: named after the domain (and the
 * disk, when it has several), with the format its definition declares.
 * A domain that is not shut off is in use: never touched.
 */
static int add_domain(struct job *j, const char *uri, const char *name,
		      char **cause)
{
	struct vm *vm = NULL;
	int r;

	r = libvirt_vm(uri, name, &vm, cause);
	if (r < 0)
		return r;
	if (!vm->ndisks) {
		struct target *t = job_add_target(j, name);

		t->domain = xstrdup(name);
		t->skip = xstrdup("the domain has no disk");
	}
	for (size_t i = 0; i < vm->ndisks; i++) {
		struct vm_disk *d = &vm->disks[i];
		struct target *t = job_add_target(j, d->path ? d->path : name);

		free(t->name);
		t->name = vm->ndisks > 1 ? xasprintf("%s:%s", name, d->dev) :
					   xstrdup(name);
		t->domain = xstrdup(name);
		t->format = d->format ? xstrdup(d->format) : NULL;
		if (libvirt_vm_running(vm))
			t->skip = xasprintf("in use: the libvirt domain is "
					    "%s", vm->state);
		else if (d->skip)
			t->skip = xstrdup(d->skip);
	}
	libvirt_vm_free(vm);
	return 0;
}

static int add_libvirt(struct job *j, const char *uri, bool all_shutoff,
		       char **names, int n, char **cause)
{
	struct strv all = { 0 };
	int r = 0;

	if (all_shutoff)
		r = libvirt_shutoff(uri, &all, cause);
	for (size_t i = 0; r == 0 && i < all.n; i++)
		r = add_domain(j, uri, all.v[i], cause);
	for (int i = 0; r == 0 && i < n; i++)
		r = add_domain(j, uri, names[i], cause);
	strv_release(&all);
	return r;
}

/*
 * Every target and every file of its backing chain: what no output path
 * may be.  A target that cannot be opened, or is skipped (in use), protects
 * at least its own path.
 */
static struct output_guard *guard_targets(const struct results *res)
{
	struct output_guard *g = output_guard_new();

	for (size_t i = 0; i < res->ntargets; i++) {
		const struct target *t = &res->targets[i];
		struct image *img = NULL;
		char *cause = NULL;

		output_guard_add(g, t->arg);
		if (!t->skip &&
		    image_open_chain(t->arg, t->format, &img, &cause) == 0)
			for (size_t k = 0; k < img->backing.n; k++)
				output_guard_add(g, img->backing.v[k]);
		free(cause);
		image_free(img);
	}
	return g;
}

/* run.json: what a later --resume needs to do the rest of this job. */
static void save_run(struct job *j, const struct job_options *jo,
		     const char *engine_arg, const struct strv *options,
		     const char *cache)
{
	const struct results *res = job_results(j);
	struct json_object *o = json_object_new_object();
	struct json_object *ex = json_object_new_array();
	struct json_object *opts = json_object_new_array();
	struct json_object *ts = json_object_new_array();
	char *path = xasprintf("%s/run.json", job_dir(j));

	json_put_str(o, "engine", engine_arg);
	for (size_t i = 0; i < options->n; i++)
		json_object_array_add(opts,
				      json_object_new_string(options->v[i]));
	json_put_obj(o, "options", opts);
	for (size_t i = 0; i < res->ntargets; i++) {
		const struct target *t = &res->targets[i];
		struct json_object *x = json_object_new_object();

		json_put_str(x, "arg", t->arg);
		json_put_str(x, "name", t->name);
		json_put_str(x, "domain", t->domain);
		json_put_str(x, "format", t->format);
		json_object_array_add(ts, x);
	}
	json_put_obj(o, "targets", ts);
	json_put_int(o, "jobs", jo->jobs);
	json_put_double(o, "timeout", jo->timeout);
	/* What --resume must ask again: the cache (null: none), exclusions. */
	json_put_str(o, "cache", cache);
	for (size_t i = 0; i < jo->exclude.n; i++)
		json_object_array_add(ex, json_object_new_string(
				      jo->exclude.v[i]));
	json_put_obj(o, "exclude", ex);
	json_object_object_add(o, "snapshots", json_object_new_boolean(
			       jo->snapshots));
	json_write(o, path);
	json_object_put(o);
	free(path);
}

/*
 * --resume JOB: that job's engines and options, and the targets it did not
 * finish (stopped in its report).  *run holds what the strings point into.
 */
static int load_resume(const char *id, struct json_object **run,
		       struct json_object **report, char **cause)
{
	char *dir = xasprintf("%s/jobs/%s", G.state_dir, id);
	char *files[2] = { xasprintf("%s/run.json", dir),
			   xasprintf("%s/report.json", dir) };
	struct json_object **out[2] = { run, report };
	int r = 0;

	if (strchr(id, '/') || id[0] == '.') {
		*cause = xasprintf("bad job id '%s'", id);
		r = -EINVAL;
	}
	for (int i = 0; r == 0 && i < 2; i++) {
		struct buf b = { 0 };

		r = read_file(files[i], 64 << 20, &b);
		if (r < 0)
			*cause = xasprintf("cannot resume job %s: %s: %s", id,
					   files[i], strerror(-r));
		else if (!(*out[i] = json_parse(b.p, b.len, cause)))
			r = -EINVAL;
		buf_release(&b);
	}
	free(files[0]);
	free(files[1]);
	free(dir);
	return r;
}

/*
 * The targets of a resumed job: every one of the batch, so that its report
 * covers the whole batch.  Those the stopped job finished clean or infected
 * keep that result (not scanned again); the others are scanned.
 */
static void add_resumed(struct job *j, struct json_object *run,
			struct json_object *report)
{
	struct json_object *ts = json_get(run, "targets");
	struct json_object *done = json_get(report, "targets");

	for (size_t i = 0; i < json_array_len(ts); i++) {
		struct json_object *x = json_object_array_get_idx(ts, i);
		struct json_object *d = json_object_array_get_idx(done, i);
		const struct results *res = job_results(j);
		struct target *t;

		t = job_add_target(j, json_get_str(x, "arg"));
		free(t->name);
		t->name = xstrdup(json_get_str(x, "name"));
		if (json_get_str(x, "domain"))
			t->domain = xstrdup(json_get_str(x, "domain"));
		if (json_get_str(x, "format"))
			t->format = xstrdup(json_get_str(x, "format"));
		if (d && result_target_load(t, d, res->engines,
					    res->nengines) == 0)
			msg_debug("%s: finished by job %s", t->name,
				  json_get_str(report, "job"));
	}
}

/* The id of the job whose state.json names process pid, or NULL. */
static char *job_of_pid(pid_t pid)
{
	char *jobs = xasprintf("%s/jobs", G.state_dir), *id = NULL;
	DIR *d = opendir(jobs);
	struct dirent *de;

	while (d && !id && (de = readdir(d))) {
		char *state = xasprintf("%s/%s/state.json", jobs, de->d_name);
		struct json_object *o = NULL;
		struct buf b = { 0 };

		if (de->d_name[0] != '.' && read_file(state, 1 << 24, &b) == 0)
			o = json_parse(b.p, b.len, NULL);
		if (o && json_get_int(o, "pid", 0) == pid)
			id = xstrdup(de->d_name);
		json_object_put(o);
		buf_release(&b);
		free(state);
	}
	if (d)
		closedir(d);
	free(jobs);
	return id;
}

/*
 * run --detach: the same run (argv without --detach) in a process of its
 * own, its output in STATE_DIR/run-PID.log; return once its job runs,
 * with the job id on stdout.  A run that ends before that is reported
 * with its exit status and its last words.
 */
static int run_detached(int argc, char **argv)
{
	static const char *const pass[] = { "PATH", "ASAN_OPTIONS",
					    "UBSAN_OPTIONS" };
	struct strv args = { 0 }, env = { 0 };
	char exe[4096], *log = NULL, *id = NULL;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	pid_t pid = 0;
	int r, st = 0;

	if (n <= 0 || (r = mkdir_private(G.state_dir)) < 0) {
		fprintf(stderr, "avbatch: cannot detach: %s\n",
			n <= 0 ? "no /proc/self/exe" : strerror(-r));
		return 2;
	}
	exe[n] = '\0';
	strv_push(&args, exe);
	if (G.config) {
		strv_push(&args, "--config");
		strv_push(&args, G.config);
	}
	for (size_t i = 0; i < G.engine_dirs.n; i++) {
		strv_push(&args, "--engines-dir");
		strv_push(&args, G.engine_dirs.v[i]);
	}
	strv_push(&args, "--state-dir");
	strv_push(&args, G.state_dir);
	if (verbosity < 0)
		strv_push(&args, "-q");
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--detach"))
			strv_push(&args, argv[i]);
	for (size_t i = 0; i < ARRAY_SIZE(pass); i++)
		if (getenv(pass[i]))
			strv_push_take(&env, xasprintf("%s=%s", pass[i],
						       getenv(pass[i])));
	log = xasprintf("%s/run-%d.log", G.state_dir, (int)getpid());
	r = proc_spawn(args.v, &(struct proc_io){ .out_path = log,
		       .err_path = log, .env = (const char *const *)env.v },
		       &pid);
	if (r) {
		fprintf(stderr, "avbatch: cannot start the run: %s\n",
			strerror(r));
		r = 2;
		goto done;
	}
	/* Its job is running once its state.json names it. */
	for (int i = 0; i < 1200 && !(id = job_of_pid(pid)); i++) {
		if (proc_try_reap(pid, &st) != 0) {
			struct buf b = { 0 };

			read_file(log, 1 << 16, &b);
			fprintf(stderr, "avbatch: the run ended before its job "
				"started (%s %d)%s%s", WIFEXITED(st) ?
				"exit status" : "signal", WIFEXITED(st) ?
				WEXITSTATUS(st) : WTERMSIG(st),
				b.len ? ":\n" : "\n", b.len ? b.p : "");
			buf_release(&b);
			r = 2;
			goto done;
		}
		usleep(100000);
	}
	if (!id) {
		fprintf(stderr, "avbatch: no job started in 120 s (log: %s)\n",
			log);
		r = 2;
		goto done;
	}
	printf("%s\n", id);
	msg_info("job %s runs detached (pid %d); its output goes to %s; "
		 "avbatch status %s", id, (int)pid, log, id);
	r = 0;
done:
	strv_release(&args);
	strv_release(&env);
	free(log);
	free(id);
	return r;
}

/* A name with each "{job}" replaced by the job's id. */
static char *expand_job_id(const struct job *j, const char *name)
{
	struct buf b = { 0 };
	const char *p;

	while ((p = strstr(name, "{job}"))) {
		buf_add(&b, name, (size_t)(p - name));
		buf_addstr(&b, job_id(j));
		name = p + 5;
	}
	buf_addstr(&b, name);
	return b.p;
}

/*
 * Write the report (JSON; "-" is stdout), its page or its metrics (a
 * node_exporter textfile, 0644 so the collector may read it) at path,
 * checked again just before: the path may have changed during the scan.
 * Says why it could not and returns -errno.
 */
static int write_output(const struct results *res,
			const struct output_guard *g, const char *path,
			enum output_kind kind, bool force)
{
	struct json_object *o;
	struct buf b = { 0 };
	char *cause = NULL;
	int r;

	r = output_check(g, path, kind, force, &cause);
	if (r < 0) {
		msg_info("%s", cause);
		free(cause);
		return r;
	}
	o = report_build(res);
	if (kind == OUTPUT_REPORT)
		r = json_write(o, path);
	else if (kind == OUTPUT_HTML)
		html_format(o, &b);
	else
		metrics_format(o, &b);
	if (kind != OUTPUT_REPORT)
		r = write_file_atomic_mode(path, b.p, b.len,
					   kind == OUTPUT_METRICS ? 0644 :
					   0600);
	if (r < 0)
		msg_info("cannot write the %s '%s': %s",
			 output_kind_name(kind), path, strerror(-r));
	buf_release(&b);
	json_object_put(o);
	return r;
}

/*
 * One journal (or syslog) record per detection and one for the run, for a
 * SIEM that does not read reports; best effort: a log that refuses them
 * changes nothing about the run.
 */
static void send_records(const struct results *res)
{
	struct json_object *o = report_build(res);
	int r = journal_report(o);

	if (r < 0)
		msg_info("cannot send detection records to the journal: %s",
			 strerror(-r));
	json_object_put(o);
}

/* The progress line on a terminal: targets, bytes, rate, time left. */
static void print_progress(const struct job_progress *p, void *arg)
{
	double rate = p->elapsed > 0 ? (double)p->bytes_done / p->elapsed : 0;
	char *done, *total, *per_s;

	(void)arg;
	if (p->ended) {
		fputs("\r\033[K", stderr);
		return;
	}
	done = size_human(p->bytes_done);
	total = size_human(p->bytes_total);
	per_s = size_human((uint64_t)rate);
	fprintf(stderr, "\r\033[K%zu/%zu targets  %s of %s  %s/s",
		p->targets_done, p->targets, done, total, per_s);
	if (p->eta >= 0)
		fprintf(stderr, "  eta %.0f s", p->eta);
	if (p->paused)
		fputs("  (paused)", stderr);
	fflush(stderr);
	free(done);
	free(total);
	free(per_s);
}

int cmd_run(int argc, char **argv)
{
	enum { OPT_REPORT = 256, OPT_FORMAT, OPT_TIMEOUT, OPT_MAX_ENGINES,
	       OPT_LIBVIRT, OPT_ALL_SHUTOFF, OPT_RESUME, OPT_CACHE,
	       OPT_NO_CACHE, OPT_HOST, OPT_FORCE, OPT_METRICS,
	       OPT_REPORT_HTML, OPT_EXCLUDE, OPT_DETACH, OPT_SNAPSHOTS,
	       OPT_NO_DELTA, OPT_DELTA };
	static const struct option opts[] = {
		{ "engine", required_argument, NULL, 'e' },
		{ "option", required_argument, NULL, 'o' },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "jobs", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "max-engines", required_argument, NULL, OPT_MAX_ENGINES },
		{ "libvirt", optional_argument, NULL, OPT_LIBVIRT },
		{ "all-shutoff", no_argument, NULL, OPT_ALL_SHUTOFF },
		{ "resume", required_argument, NULL, OPT_RESUME },
		{ "cache", required_argument, NULL, OPT_CACHE },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "delta", no_argument, NULL, OPT_DELTA },
		{ "no-delta", no_argument, NULL, OPT_NO_DELTA },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{ "report-html", required_argument, NULL, OPT_REPORT_HTML },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "detach", no_argument, NULL, OPT_DETACH },
		{ "snapshots", no_argument, NULL, OPT_SNAPSHOTS },
		{ NULL, 0, NULL, 0 }
	};
	const char *engine_arg = G.default_engine, *report = NULL;
	struct strv options = { 0 };
	bool json = false, all_shutoff = false, force = false;
	const char *uri = NULL, *resume = NULL, *host = NULL;
	const char *shared = NULL, *metrics = NULL, *html = NULL;
	char *memos = NULL, *report_name = NULL, *html_name = NULL;
	struct strv exclude = { 0 };
	bool cache_set = false, detach = false, snapshots = false;
	/* Off by default: see README, Limits (slower than a cold batch here). */
	bool delta = false;
	const char *cache = !G.cache ? AVBATCH_CACHE : *G.cache ? G.cache :
			    NULL;
	struct json_object *old_run = NULL, *old_report = NULL;
	unsigned jobs = 1, max_engines = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	int n, timeout = 0;
	bool max_set = false;
	struct engine **engines = NULL;
	size_t nengines = 0;
	bool host_mounts = false;
	struct output_guard *guard = NULL;
	struct job *j = NULL;
	struct job_options jo = { 0 };
	struct results res;
	struct cache *vc = NULL;
	char *cause = NULL;
	int c, r = 2;

	optind = 0;
	while ((c = getopt_long(argc, argv, "e:o:j:qv", opts, NULL)) != -1) {
		switch (c) {
		case 'q':	/* also after the command, as users type it */
			verbosity = -1;
			break;
		case 'v':
			verbosity++;
			break;
		case 'j':
		case OPT_TIMEOUT:
		case OPT_MAX_ENGINES:
			/* --timeout 0 means none; the others need 1. */
			if (parse_int(optarg, &n) < 0 ||
			    n < (c == OPT_TIMEOUT ? 0 : 1)) {
				r = cmd_usage_error("bad number '%s'", optarg);
				goto done;
			}
			if (c == 'j')
				jobs = (unsigned)n;
			else if (c == OPT_TIMEOUT)
				timeout = n;
			else
				max_engines = (unsigned)n;
			max_set |= c == OPT_MAX_ENGINES;
			break;
		case 'e':
			engine_arg = optarg;
			break;
		case 'o':
			strv_push(&options, optarg);
			break;
		case OPT_REPORT:
			report = optarg;
			break;
		case OPT_LIBVIRT:
			uri = optarg ? optarg : "qemu:///system";
			break;
		case OPT_ALL_SHUTOFF:
			all_shutoff = true;
			break;
		case OPT_RESUME:
			resume = optarg;
			break;
		case OPT_CACHE:
			cache = optarg;
			cache_set = true;
			break;
		case OPT_NO_CACHE:
			cache = NULL;
			cache_set = true;
			break;
		case OPT_DELTA:
			delta = true;
			break;
		case OPT_NO_DELTA:
			delta = false;
			break;
		case OPT_HOST:
			if (!*optarg || !utf8_valid(optarg, strlen(optarg))) {
				r = cmd_usage_error("--host: expected a name");
				goto done;
			}
			host = optarg;
			break;
		case OPT_METRICS:
			metrics = optarg;
			break;
		case OPT_EXCLUDE:
			if (optarg[0] != '/' && optarg[0] != '*') {
				r = cmd_usage_error("--exclude: a glob of guest "
						    "paths, from '/' (e.g. "
						    "'/var/cache/*'), not '%s'",
						    optarg);
				goto done;
			}
			strv_push(&exclude, optarg);
			break;
		case OPT_REPORT_HTML:
			html = optarg;
			break;
		case OPT_SNAPSHOTS:
			snapshots = true;
			break;
		case OPT_FORCE:
			force = true;
			break;
		case OPT_DETACH:
			detach = true;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				r = cmd_usage_error("unknown format '%s'",
						    optarg);
				goto done;
			}
			json = !strcmp(optarg, "json");
			break;
		default:
			r = cmd_usage_error("bad option");
			goto done;
		}
	}
	if (all_shutoff && !uri) {
		r = cmd_usage_error("--all-shutoff goes with --libvirt");
		goto done;
	}
	if (resume) {
		struct json_object *o;

		if (optind < argc || uri) {
			r = cmd_usage_error("--resume takes no targets");
			goto done;
		}
		if (load_resume(resume, &old_run, &old_report, &cause) < 0)
			goto fail;
		/* The job's engines; its options first, so -o can amend. */
		if (engine_arg == G.default_engine &&
		    json_get_str(old_run, "engine"))
			engine_arg = json_get_str(old_run, "engine");
		o = json_get(old_run, "options");
		for (size_t i = json_object_array_length(o); i-- > 0;)
			strv_insert0(&options, json_object_get_string(
				     json_object_array_get_idx(o, i)));
		/* Its cache (or none) and exclusions, unless given anew. */
		if (!cache_set && json_get(old_run, "cache"))
			cache = json_get_str(old_run, "cache");
		else if (!cache_set && json_object_object_get_ex(old_run,
							"cache", NULL))
			cache = NULL;
		snapshots = snapshots || json_object_get_boolean(
			json_get(old_run, "snapshots"));
		o = exclude.n ? NULL : json_get(old_run, "exclude");
		for (size_t i = 0; i < json_array_len(o); i++)
			strv_push(&exclude, json_object_get_string(
				  json_object_array_get_idx(o, i)));
	} else if (optind >= argc && !all_shutoff) {
		r = cmd_usage_error("no target given");
		goto done;
	}
	if (detach) {
		r = run_detached(argc, argv);
		goto done;
	}

	r = cmd_load_engines(engine_arg, &options, &engines, &nengines);
	if (r)
		goto done;
	for (size_t i = 0; i < nengines; i++)
		host_mounts |= engine_has_flag(engines[i], ENGINE_HOST_MOUNTS);
	/* What jobs that died left behind goes first. */
	{
		struct buf done = { 0 };

		if (cleanup_dead_jobs(G.state_dir, &done) > 0)
			msg_info("released what dead jobs left:\n%s",
				 done.p);
		/* Finished jobs' directories do not pile up (tmpfs: RAM). */
		buf_release(&done);
		if (cleanup_old_jobs(G.state_dir, G.keep_jobs,
				     G.keep_job_days, &done) > 0)
			msg_debug("%s", done.p);
		buf_release(&done);
	}
	/*
	 * Mounts stay private unless an engine's daemon, running outside
	 * avbatch, must open the files itself.
	 */
	if (!host_mounts && mount_private_namespace(&cause) < 0)
		goto fail;
	if (job_create(G.state_dir, &j, &cause) < 0)
		goto fail;
	for (size_t i = 0; i < nengines; i++) {
		struct engine *e = engines[i];

		engines[i] = NULL;
		if (job_add_engine(j, e, &cause) < 0)
			goto fail;
	}
	if (resume) {
		add_resumed(j, old_run, old_report);
	} else if (uri) {
		if (add_libvirt(j, uri, all_shutoff, argv + optind,
				argc - optind, &cause) < 0)
			goto fail;
	} else {
		for (int i = optind; i < argc; i++)
			if (add_targets(j, argv[i], &cause) < 0)
				goto fail;
	}
	/*
	 * Verdicts shared by hosts live in PostgreSQL; this host's memos
	 * (about its own files) then stay in its state directory.
	 */
	if (cache && pgcache_is_url(cache)) {
		shared = cache;
		cache = memos = xasprintf("%s/memos.sqlite", G.state_dir);
	}
	/* "{job}" in a report's name: one report a run, dated by its id. */
	if (report)
		report = report_name = expand_job_id(j, report);
	if (html)
		html = html_name = expand_job_id(j, html);
	/* Outputs are checked before anything is scanned. */
	guard = guard_targets(job_results(j));
	if (cache && output_check(guard, cache, OUTPUT_DATABASE, force,
				  &cause) < 0)
		goto fail;
	if (cache)
		output_guard_add(guard, cache);
	if ((report && output_check(guard, report, OUTPUT_REPORT, force,
				    &cause) < 0) ||
	    (html && output_check(guard, html, OUTPUT_HTML, force,
				  &cause) < 0) ||
	    (metrics && output_check(guard, metrics, OUTPUT_METRICS, force,
				     &cause) < 0))
		goto fail;
	if (cache) {
		if (cache_open(cache, &vc, &cause) < 0)
			goto fail;
		/* A database out of reach costs time, never a verdict. */
		if (shared && cache_share(vc, shared, &cause) < 0) {
			msg_info("warning: %s: scanning without it", cause);
			free(cause);
			cause = NULL;
		}
		r = job_use_cache(j, vc, delta, &cause);
		vc = NULL;
		if (r < 0)
			goto fail;
	}
	jo.jobs = jobs;
	jo.timeout = timeout;
	jo.exclude = exclude;
	exclude = (struct strv){ 0 };
	jo.snapshots = snapshots;
	/* The fleet's name for this host (an inventory name). */
	jo.host = host;
	if (verbosity >= 0 && isatty(STDERR_FILENO))
		jo.progress = print_progress;
	save_run(j, &jo, engine_arg, &options, shared ? shared : cache);
	job_set_options(j, &jo);
	/* By default, never fewer engine slots than targets at once. */
	scan_set_max_engines(max_set || max_engines > jobs ? max_engines :
			     jobs);
	msg_info("job %s: %zu target(s), state in %s", job_id(j),
		 job_results(j)->ntargets, job_dir(j));

	job_run(j);
	res = *job_results(j);
	send_records(&res);

	/*
	 * Checked again (the path may have changed during the scan), and
	 * before anything shows the exit status, which says this too.
	 */
	if (report && (r = write_output(&res, guard, report, OUTPUT_REPORT,
				      force)) < 0)
		res.report_error = r;
	if (html && (r = write_output(&res, guard, html, OUTPUT_HTML,
				      force)) < 0)
		res.report_error = r;
	/* Metrics last: they say how the run ended, report errors too. */
	if (metrics && (r = write_output(&res, guard, metrics, OUTPUT_METRICS,
				       force)) < 0)
		res.report_error = r;
	r = results_exit_code(&res);
	{
		char *copy = xasprintf("%s/report.json", job_dir(j));

		report_write(&res, copy);
		free(copy);
	}
	if (json) {
		if (!report || strcmp(report, "-"))
			report_write(&res, "-");
	} else {
		/*
		 * With --report -, stdout is the report alone; with -q, only
		 * what needs someone's attention, on stderr.
		 */
		report_print_text(&res, r, verbosity < 0 || (report &&
				  !strcmp(report, "-")) ? stderr : stdout,
				  verbosity < 0);
	}
	goto done;
fail:
	fprintf(stderr, "avbatch: %s\n", cause);
	r = 2;
done:
	free(cause);
	cmd_free_engines(engines, nengines);
	json_object_put(old_run);
	json_object_put(old_report);
	strv_release(&options);
	output_guard_free(guard);
	cache_close(vc);
	job_free(j);
	free(memos);
	free(report_name);
	free(html_name);
	strv_release(&exclude);
	strv_release(&jo.exclude);
	return r;
}
