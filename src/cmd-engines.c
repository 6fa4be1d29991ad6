/* cmd-engines.c - avbatch engines (list, show, check) and avbatch update */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "engine.h"
#include "json.h"
#include "proc.h"
#include "result.h"
#include "scan.h"
#include "sigset.h"
#include "util.h"
#include "walk.h"

/* How long the test scan of engines check may take (a daemon loads). */
#define PROBE_TIMEOUT	600.0

/* Names of every NAME.ini in the search path, sorted, each once. */
static void engine_names(struct strv *names)
{
	size_t ndirs;
	const char *const *dirs = cmd_engine_dirs(&ndirs);

	for (size_t i = 0; i < ndirs; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			size_t n = strlen(de->d_name);
			char *name;
			bool dup = false;

			if (n <= 4 || strcmp(de->d_name + n - 4, ".ini"))
				continue;
			name = xstrndup(de->d_name, n - 4);
			for (size_t k = 0; k < names->n; k++)
				dup |= !strcmp(names->v[k], name);
			if (dup)
				free(name);
			else
				strv_push_take(names, name);
		}
		if (d)
			closedir(d);
	}
	strv_sort(names);
}

static int load(const char *name, struct engine **e, char **cause)
{
	size_t ndirs;
	const char *const *dirs = cmd_engine_dirs(&ndirs);

	return engine_find(dirs, ndirs, name, e, cause);
}

/* A private directory under the state directory, for one command. */
static char *private_dir(const char *what, char **cause)
{
	char *dir = xasprintf("%s/%s-%d", G.state_dir, what, (int)getpid());
	int r = mkdir_private(G.state_dir);

	if (r == 0)
		r = mkdir_private(dir);
	if (r < 0) {
		*cause = xasprintf("cannot create '%s': %s", dir,
				   strerror(-r));
		free(dir);
		return NULL;
	}
	return dir;
}

static int engines_list(void)
{
	struct strv names = { 0 };
	struct engine **es;
	char **causes;
	int w = 6;

	engine_names(&names);
	es = xcalloc(names.n + 1, sizeof(*es));
	causes = xcalloc(names.n + 1, sizeof(*causes));
	/* Vendor names whole: the column is as wide as the longest. */
	for (size_t i = 0; i < names.n; i++)
		if (load(names.v[i], &es[i], &causes[i]) == 0 &&
		    (int)strlen(engine_vendor(es[i])) > w)
			w = (int)strlen(engine_vendor(es[i]));
	for (size_t i = 0; i < names.n; i++) {
		char *bin = NULL, *cause = NULL;

		if (!es[i])
			printf("%-13s %-*s  invalid: %s\n", names.v[i], w, "-",
			       causes[i]);
		else if (engine_resolve_binary(es[i], &bin, &cause) == -ENOENT)
			printf("%-13s %-*s  not usable: '%s' not found in "
			       "PATH\n", names.v[i], w, engine_vendor(es[i]),
			       engine_binary(es[i]));
		else if (!bin)
			printf("%-13s %-*s  not usable: %s\n", names.v[i], w,
			       engine_vendor(es[i]), cause);
		else
			printf("%-13s %-*s  usable: %s\n", names.v[i], w,
			       engine_vendor(es[i]), bin);
		free(bin);
		free(cause);
		free(causes[i]);
		engine_free(es[i]);
	}
	free(es);
	free(causes);
	strv_release(&names);
	return 0;
}

static int engines_show(const char *name)
{
	static const char *const actions[ENGINE_NACTIONS] = {
		"scan", "scan_list", "version", "update", "pause", "resume",
		"stop", "status", "daemon start", "daemon ready",
	};
	static const char *const vars[] = {
		"target", "{target}", "list", "{list}", "logdir", "{logdir}",
		"daemon_dir", "{daemon_dir}", "daemon_config",
		"{daemon_config}", "daemon_socket", "{daemon_socket}", NULL
	};
	struct engine *e = NULL;
	struct buf opts = { 0 };
	char *cause = NULL;

	if (load(name, &e, &cause) < 0) {
		fprintf(stderr, "avbatch: %s\n", cause);
		free(cause);
		return 2;
	}
	printf("name: %s\nvendor: %s\ndescriptor: %s\n", engine_name(e),
	       engine_vendor(e), engine_path(e));
	for (int a = 0; a < ENGINE_NACTIONS; a++) {
		struct strv argv = { 0 };
		int sig = engine_action_signal(e, (enum engine_action)a);

		if (!engine_has_action(e, (enum engine_action)a))
			continue;
		printf("%s:", actions[a]);
		if (sig)
			printf(" signal SIG%s to the engine's process group\n",
			       sigabbrev_np(sig));
		else if (engine_argv(e, (enum engine_action)a, vars, &argv,
				     &cause) < 0)
			printf(" (%s)\n", cause);
		else {
			for (size_t i = 0; i < argv.n; i++)
				printf(" %s", argv.v[i]);
			putchar('\n');
		}
		free(cause);
		cause = NULL;
		strv_release(&argv);
	}
	engine_describe_options(e, &opts);
	if (opts.len) {
		/* One "key=value" a line: as -o NAME.KEY=VALUE takes them. */
		printf("options (-o %s.KEY=VALUE):\n", engine_name(e));
		for (const char *p = opts.p, *nl; (nl = strchr(p, '\n'));
		     p = nl + 1)
			printf("  %.*s\n", (int)(nl - p), p);
	}
	buf_release(&opts);
	engine_free(e);
	return 0;
}

/*
 * The NAME arguments and "-o E.KEY=VALUE" options of check and selftest
 * (options as run takes them).  argv[0] is the subcommand.  Returns 0 or
 * an exit status after printing why.
 */
static int engine_args(int argc, char **argv, struct strv *names,
		       struct strv *options)
{
	static const struct option opts[] = {
		{ "option", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c != 'o')
			return cmd_usage_error("bad option");
		if (!strchr(optarg, '.') || !strchr(optarg, '='))
			return cmd_usage_error("bad option '%s': expected "
					       "ENGINE.KEY=VALUE", optarg);
		strv_push(options, optarg);
	}
	for (int i = optind; i < argc; i++)
		strv_push(names, argv[i]);
	return 0;
}

/* Every option must name one of the engines.  0 or a usage error. */
static int options_named(const struct strv *names, const struct strv *options)
{
	for (size_t i = 0; i < options->n; i++) {
		const char *o = options->v[i];
		bool known = false;

		for (size_t k = 0; k < names->n; k++) {
			size_t n = strlen(names->v[k]);

			known |= !strncmp(o, names->v[k], n) && o[n] == '.';
		}
		if (!known)
			return cmd_usage_error("bad option '%s': no engine of "
					       "this command is called so", o);
	}
	return 0;
}

/* Load one engine and apply the options that name it. */
static int load_with(const char *name, const struct strv *options,
		     struct engine **e, char **cause)
{
	size_t n = strlen(name);
	int r = load(name, e, cause);

	for (size_t i = 0; r == 0 && i < options->n; i++) {
		const char *o = options->v[i], *eq = strchr(o, '=');
		char *key;

		if (strncmp(o, name, n) || o[n] != '.' || !eq)
			continue;
		key = xstrndup(o + n + 1, (size_t)(eq - o - n - 1));
		r = engine_set_option(*e, key, eq + 1, cause);
		free(key);
	}
	if (r < 0 && *e) {
		engine_free(*e);
		*e = NULL;
	}
	return r;
}

/*
 * Can the engine scan here: a clean file in a directory of ours, scanned
 * the way run scans a file system, with no error and nothing found (an
 * empty signature database, a daemon that does not start, a licence that
 * expired all show up here).  Returns 0 or -EIO with *cause.
 */
static int probe_scan(struct scanner *s, const char *dir, char **cause)
{
	static const char text[] = "avbatch engines check: a clean file\n";
	char *root = xasprintf("%s/probe", dir);
	char *file = xasprintf("%s/clean.txt", root);
	char *logbase = xasprintf("%s/probe-scan", dir);
	struct scan_result res = { 0 };
	struct walk w = { 0 };
	int r;

	r = mkdir_private(root);
	if (r == 0)
		r = write_file_atomic(file, text, sizeof(text) - 1);
	if (r == 0)
		r = walk_fs(&w, root, false, NULL);
	if (r < 0) {
		*cause = xasprintf("cannot prepare a test scan in '%s': %s",
				   root, strerror(-r));
		goto done;
	}
	scanner_run(s, &w, root, logbase, time_mono() + PROBE_TIMEOUT, NULL,
		    &res);
	if (res.errors) {
		*cause = xasprintf("a test scan of a clean file failed: %s",
				   res.error ? res.error : "no message");
		r = -EIO;
	} else if (res.nhits) {
		*cause = xasprintf("a test scan found '%s' in a clean file",
				   res.hits[0].threat);
		r = -EIO;
	}
done:
	scan_result_release(&res);
	walk_release(&w);
	free(root);
	free(file);
	free(logbase);
	return r;
}

/*
 * Is an engine usable here: program found, its version action (which
 * names the signature version too) answers, and it can scan a clean file.
 * Prints one line.
 */
static bool check_one(const char *name, const struct strv *options,
		      const char *dir)
{
	struct scanner *s = NULL;
	struct engine *e = NULL;
	char *cause = NULL;
	bool usable = false;

	if (load_with(name, options, &e, &cause) < 0) {
		printf("%-13s not usable: %s\n", name, cause);
	} else if (scanner_open(e, dir, &s, &cause) < 0) {
		printf("%-13s not usable: %s\n", name, cause);
		engine_free(e);
	} else if (!s->binary) {
		char *bin = NULL;

		if (engine_resolve_binary(e, &bin, &cause) != -EPERM) {
			free(cause);
			cause = xasprintf("'%s' not found in PATH",
					  engine_binary(e));
		}
		printf("%-13s not usable: %s\n", name, cause);
		free(bin);
	} else if (engine_has_action(e, ENGINE_VERSION) && !s->version) {
		printf("%-13s not usable: %s does not answer its version "
		       "action\n", name, s->binary);
	} else if (probe_scan(s, dir, &cause) < 0) {
		printf("%-13s not usable: %s\n", name, cause);
	} else {
		printf("%-13s usable: %s, %s\n", name, s->binary,
		       s->version ? s->version : "no version action");
		usable = true;
	}
	fflush(stdout);
	free(cause);
	scanner_close(s);
	return usable;
}

/* The engines run would use without --engine: avbatch.conf's "engine". */
static void configured_engines(struct strv *names)
{
	char *copy = xstrdup(G.default_engine), *p = copy, *comma;

	for (; p; p = comma) {
		comma = strchr(p, ',');
		if (comma)
			*comma++ = '\0';
		if (*p && !strv_has(names, p))
			strv_push(names, p);
	}
	free(copy);
}

static int engines_check(int argc, char **argv)
{
	struct strv names = { 0 }, options = { 0 };
	char *cause = NULL, *dir = NULL;
	int r;

	r = engine_args(argc, argv, &names, &options);
	if (r)
		goto done;
	/* No name: the engines configured, not every descriptor. */
	if (!names.n)
		configured_engines(&names);
	r = options_named(&names, &options);
	if (r)
		goto done;
	dir = private_dir("check", &cause);
	if (!dir) {
		fprintf(stderr, "avbatch: %s\n", cause);
		r = 2;
		goto done;
	}
	for (size_t i = 0; i < names.n; i++)
		if (!check_one(names.v[i], &options, dir))
			r = 2;
	rmtree(dir);
done:
	free(dir);
	free(cause);
	strv_release(&names);
	strv_release(&options);
	return r;
}

/*
 * The EICAR test file, reversed: the avbatch binary itself must not look
 * like EICAR to a scanner on the host.  Reversed again at run time.
 */
static const char eicar_rev[] =
	"*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X";

/* What the selftest disk holds: guest path and whether it is EICAR. */
static const struct planted {
	const char *path;
	const char *what;
	bool eicar;
} planted[] = {
	{ "/eicar.com", "EICAR", true },
	{ "/archive/eicar.zip", "EICAR inside a zip", true },
	{ "/with space/eicar copy.com", "EICAR, a name with blanks", true },
	{ "/new\nline.com", "EICAR, a name with a newline", true },
	{ "/clean.txt", "a clean file", false },
};

#define SELFTEST_IMAGE_MB	16
#define SELFTEST_TIMEOUT	3600.0

/* Run a helper program found through PATH; 0 or -errno with *cause. */
static int run_tool(const char *const *args, const char *log, char **cause)
{
	struct strv argv = { 0 };
	char *bin = NULL;
	int r, st = 0;

	r = proc_which(args[0], &bin);
	if (r < 0) {
		*cause = xasprintf("'%s' not found in PATH", args[0]);
		goto done;
	}
	strv_push(&argv, bin);
	for (size_t i = 1; args[i]; i++)
		strv_push(&argv, args[i]);
	r = proc_run(argv.v, &(struct proc_io){ .out_path = log,
		     .err_path = log }, 300, &st);
	if (r < 0)
		*cause = xasprintf("cannot run %s: %s", bin, strerror(-r));
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		*cause = xasprintf("%s failed (see '%s')", bin, log);
		r = -EIO;
	}
done:
	free(bin);
	strv_release(&argv);
	return r;
}

/* Write one planted file under tree. */
static int plant(const char *tree, const struct planted *p, const char *eicar,
		 char **cause)
{
	static const char clean[] = "avbatch selftest: nothing to see here\n";
	char *path = xasprintf("%s%s", tree, p->path);
	char *slash = strrchr(path, '/');
	int r;

	*slash = '\0';
	r = mkdir_private(path);
	*slash = '/';
	if (r == 0)
		r = p->eicar ? write_file_atomic(path, eicar, strlen(eicar)) :
			write_file_atomic(path, clean, sizeof(clean) - 1);
	if (r < 0)
		*cause = xasprintf("cannot write '%s': %s", path, strerror(-r));
	free(path);
	return r;
}

/*
 * The selftest disk: an ext4 image holding the planted files (the zip is
 * stored, not compressed, so it is the same for every engine).  Built
 * with the tools the test fixtures use: zip and mkfs.ext4 -d.
 */
static int build_disk(const char *dir, const char *disk, char **cause)
{
	char *tree = xasprintf("%s/tree", dir), *src = xasprintf("%s/eicar.com",
								  dir);
	char *zip = xasprintf("%s/archive/eicar.zip", tree);
	char *log = xasprintf("%s/build.log", dir);
	char eicar[sizeof(eicar_rev)];
	size_t n = sizeof(eicar_rev) - 1;
	int r, fd;

	for (size_t i = 0; i < n; i++)
		eicar[i] = eicar_rev[n - 1 - i];
	eicar[n] = '\0';
	r = mkdir_private(tree);
	if (r < 0) {
		*cause = xasprintf("cannot create '%s': %s", tree,
				   strerror(-r));
		goto done;
	}
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(planted); i++)
		if (strcmp(planted[i].path, "/archive/eicar.zip"))
			r = plant(tree, &planted[i], eicar, cause);
	if (r == 0)
		r = plant(dir, &(struct planted){ "/eicar.com", "", true },
			  eicar, cause);
	if (r == 0) {
		*strrchr(zip, '/') = '\0';
		r = mkdir_private(zip);
		zip[strlen(zip)] = '/';
		if (r < 0)
			*cause = xasprintf("cannot create '%s': %s", zip,
					   strerror(-r));
	}
	if (r == 0)
		r = run_tool((const char *[]){ "zip", "-q", "-0", "-j", zip,
			     src, NULL }, log, cause);
	if (r < 0)
		goto done;
	fd = open(disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)SELFTEST_IMAGE_MB << 20) < 0) {
		r = -errno;
		*cause = xasprintf("cannot create '%s': %s", disk,
				   strerror(errno));
		if (fd >= 0)
			close(fd);
		goto done;
	}
	close(fd);
	r = run_tool((const char *[]){ "mkfs.ext4", "-q", "-F", "-E",
		     "root_owner=0:0", "-d", tree, disk, NULL }, log, cause);
done:
	free(tree);
	free(src);
	free(zip);
	free(log);
	return r;
}

/* A guest path for a terminal: a newline shown as \n. */
static char *shown(const char *path)
{
	struct buf b = { 0 };

	for (const char *p = path; *p; p++) {
		if (*p == '\n')
			buf_addstr(&b, "\\n");
		else
			buf_add(&b, p, 1);
	}
	return b.p ? b.p : xstrdup("");
}

/* One check's outcome: one line, and counts the failures. */
static void verdict(unsigned *failed, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void verdict(unsigned *failed, bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("  %s  ", ok ? "pass" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		(*failed)++;
}

/*
 * The threat reported at a guest path in the report's detections, or
 * NULL.  Also counts detections at paths that were not planted as EICAR.
 */
static char *threat_at(struct json_object *dets, const char *path)
{
	size_t n = dets ? json_object_array_length(dets) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(dets, i);
		struct buf p = { 0 }, t = { 0 };
		bool hit;

		if (json_get_bytes(d, "path", "path_b64", &p) < 0) {
			buf_release(&p);
			continue;
		}
		hit = p.p && !strcmp(p.p, path);
		buf_release(&p);
		if (!hit)
			continue;
		if (json_get_bytes(d, "threat", "threat_b64", &t) < 0 || !t.p) {
			buf_release(&t);
			return xstrdup("?");
		}
		return t.p;
	}
	return NULL;
}

/* Detections at paths no EICAR was planted at (as "p1, p2"), or NULL. */
static char *unexpected(struct json_object *dets)
{
	size_t n = dets ? json_object_array_length(dets) : 0;
	struct buf out = { 0 };

	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(dets, i);
		struct buf p = { 0 };
		bool known = false;

		if (json_get_bytes(d, "path", "path_b64", &p) == 0 && p.p)
			for (size_t k = 0; k < ARRAY_SIZE(planted); k++)
				known |= planted[k].eicar &&
					 !strcmp(planted[k].path, p.p);
		if (!known) {
			char *s = shown(p.p ? p.p : "?");

			buf_addf(&out, "%s%s", out.len ? ", " : "", s);
			free(s);
		}
		buf_release(&p);
	}
	return out.p;
}

/*
 * avbatch engines selftest NAME [-o NAME.KEY=VALUE]...: prove that a
 * descriptor works on this host.  Builds a small disk, runs the whole
 * "run" path on it (this binary, a private state directory, no cache) and
 * checks the report.  0 all checks passed, 1 some failed, 2 could not run.
 */
static int engines_selftest(int argc, char **argv)
{
	struct strv names = { 0 }, options = { 0 }, child = { 0 };
	struct json_object *rep = NULL, *tgt, *fs, *dets;
	struct scanner *s = NULL;
	struct engine *e = NULL;
	char *cause = NULL, *dir = NULL, *disk = NULL, *report = NULL;
	char *out = NULL, *err = NULL, *path = NULL, exe[PATH_MAX];
	struct buf text = { 0 };
	unsigned failed = 0;
	const char *name, *status, *reason;
	ssize_t len;
	int r, st = 0;

	r = engine_args(argc, argv, &names, &options);
	if (r)
		goto done;
	if (names.n != 1) {
		r = cmd_usage_error("expected 'selftest ENGINE'");
		goto done;
	}
	name = names.v[0];
	r = options_named(&names, &options);
	if (r)
		goto done;
	if (geteuid() != 0) {
		fprintf(stderr, "avbatch: engines selftest: must be run as "
			"root (it builds and mounts a disk)\n");
		r = 2;
		goto done;
	}
	/* Short names: clamd's socket path under it must fit in 108 bytes. */
	dir = private_dir("st", &cause);
	if (!dir)
		goto fail;
	if (load_with(name, &options, &e, &cause) < 0 ||
	    scanner_open(e, dir, &s, &cause) < 0)
		goto fail;
	e = NULL;
	if (!s->binary) {
		cause = xasprintf("'%s' not found in PATH",
				  engine_binary(s->e));
		goto fail;
	}
	printf("selftest of '%s' (%s), descriptor %s\n", name,
	       engine_description(s->e), engine_path(s->e));
	disk = xasprintf("%s/selftest.raw", dir);
	if (build_disk(dir, disk, &cause) < 0)
		goto fail;

	/* The whole run path: this binary, its engine directories. */
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len < 0) {
		cause = xasprintf("cannot find this program: %s",
				  strerror(errno));
		goto fail;
	}
	exe[len] = '\0';
	report = xasprintf("%s/report.json", dir);
	out = xasprintf("%s/run.out", dir);
	err = xasprintf("%s/run.err", dir);
	strv_push(&child, exe);
	strv_push_take(&child, xasprintf("--state-dir=%s/s", dir));
	for (size_t i = 0; i < G.engine_dirs.n; i++)
		strv_push_take(&child, xasprintf("--engines-dir=%s",
						 G.engine_dirs.v[i]));
	strv_push(&child, "run");
	strv_push(&child, "--no-cache");
	strv_push_take(&child, xasprintf("--engine=%s", name));
	for (size_t i = 0; i < options.n; i++)
		strv_push_take(&child, xasprintf("--option=%s",
						 options.v[i]));
	strv_push_take(&child, xasprintf("--report=%s", report));
	strv_push(&child, disk);
	printf("running:");
	for (size_t i = 0; i < child.n; i++)
		printf(" %s", child.v[i]);
	printf("\n");
	fflush(stdout);
	/* The engines are found through our PATH, as run would find them. */
	path = xasprintf("PATH=%s", getenv("PATH") ? getenv("PATH") : "");
	r = proc_run(child.v, &(struct proc_io){ .out_path = out,
		     .err_path = err, .cwd = dir,
		     .env = (const char *const[]){ path, NULL } },
		     SELFTEST_TIMEOUT, &st);
	if (r < 0) {
		cause = xasprintf("cannot run '%s': %s", exe, strerror(-r));
		goto fail;
	}
	if (read_file(report, 64 << 20, &text) < 0 ||
	    !(rep = json_parse(text.p ? text.p : "", text.len, &cause))) {
		free(cause);
		cause = xasprintf("the run wrote no report (exit status %d; "
				  "see '%s')", WIFEXITED(st) ?
				  WEXITSTATUS(st) : -1, err);
		goto fail;
	}
	tgt = json_object_array_get_idx(json_get(rep, "targets"), 0);
	fs = json_object_array_get_idx(json_get(tgt, "filesystems"), 0);
	dets = json_get(tgt, "detections");
	status = json_get_str(fs, "status");
	reason = json_get_str(fs, "reason");

	verdict(&failed, WIFEXITED(st) && WEXITSTATUS(st) == 1,
		"run exits 1 (something found): exit status %d",
		WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	verdict(&failed, fs_status_from_name(status) == FS_SCANNED,
		"the file system is scanned without errors: %s%s%s",
		status ? status : "no file system", reason ? ": " : "",
		reason ? reason : "");
	for (size_t i = 0; i < ARRAY_SIZE(planted); i++) {
		char *t = threat_at(dets, planted[i].path);
		char *p = shown(planted[i].path);

		if (planted[i].eicar)
			verdict(&failed, t != NULL, "%s detected at %s: %s",
				planted[i].what, p, t ? t : "not reported");
		else
			verdict(&failed, t == NULL, "%s at %s is clean%s%s",
				planted[i].what, p, t ? ": reported as " : "",
				t ? t : "");
		free(t);
		free(p);
	}
	free(cause);
	cause = unexpected(dets);
	verdict(&failed, cause == NULL, "no detection at any other path%s%s",
		cause ? ": " : "", cause ? cause : "");
	if (engine_has_action(s->e, ENGINE_VERSION))
		verdict(&failed, s->version != NULL,
			"the version action answers: %s",
			s->version ? s->version : "no answer");
	else
		printf("  note  no version action\n");
	if (engine_has_action(s->e, ENGINE_UPDATE))
		verdict(&failed, true, "an update action exists");
	else
		printf("  note  no update action: the signatures are "
		       "updated another way (see the descriptor)\n");
	if (failed) {
		printf("selftest of '%s': %u check(s) FAILED\n", name, failed);
		printf("For a bug report, paste this output, 'avbatch engines "
		       "show %s', and the files kept in %s (report.json, "
		       "run.err, s/jobs/*/: the engine's own output).\n",
		       name, dir);
		r = 1;
		goto done;
	}
	printf("selftest of '%s': all checks passed\n", name);
	rmtree(dir);
	r = 0;
	goto done;
fail:
	fprintf(stderr, "avbatch: selftest of '%s': %s\n", names.n ?
		names.v[0] : "?", cause ? cause : "failed");
	if (dir)
		fprintf(stderr, "  its files are kept in %s\n", dir);
	r = 2;
done:
	if (rep)
		json_object_put(rep);
	buf_release(&text);
	scanner_close(s);
	engine_free(e);
	strv_release(&names);
	strv_release(&options);
	strv_release(&child);
	free(cause);
	free(dir);
	free(disk);
	free(report);
	free(out);
	free(err);
	free(path);
	return r;
}

static const char *const kind_names[] = {
	[SIGSET_DETECT] = "detect",
	[SIGSET_ALLOW] = "allow",
	[SIGSET_CONTEXT] = "whole-file",
	[SIGSET_UNKNOWN] = "unknown",
};

/*
 * engines sigset ENGINE [-o E.KEY=VALUE]... [--save FILE]
 * [--since FILE [--delta DIR]]: the engine's signatures as delta rescans
 * see them, per type; compared with a set saved before, and the database
 * of what was added since.
 */
static int engines_sigset(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "option", required_argument, NULL, 'o' },
		{ "save", required_argument, NULL, 's' },
		{ "since", required_argument, NULL, 'S' },
		{ "delta", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 }
	};
	struct strv names = { 0 }, options = { 0 }, paths = { 0 };
	const char *save = NULL, *since = NULL, *delta = NULL;
	struct sigset *set = NULL, *old = NULL;
	struct sigset_diff d = { 0 };
	struct engine *e = NULL;
	struct buf b = { 0 };
	char *cause = NULL, *tmp = NULL, *digest;
	size_t detections = 0;
	int c, r, rc = 2;

	optind = 0;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o' && (!strchr(optarg, '.') || !strchr(optarg, '=')))
			return cmd_usage_error("bad option '%s': expected "
					       "ENGINE.KEY=VALUE", optarg);
		if (c == 'o')
			strv_push(&options, optarg);
		else if (c == 's')
			save = optarg;
		else if (c == 'S')
			since = optarg;
		else if (c == 'd')
			delta = optarg;
		else
			return cmd_usage_error("bad option");
	}
	if (argc - optind != 1 || (delta && !since)) {
		strv_release(&options);
		return cmd_usage_error("expected 'sigset ENGINE [-o "
				       "E.KEY=VALUE]... [--save FILE] "
				       "[--since FILE [--delta DIR]]'");
	}
	strv_push(&names, argv[optind]);
	rc = options_named(&names, &options);
	if (rc)
		goto done;
	rc = 2;
	r = load_with(argv[optind], &options, &e, &cause);
	if (r == 0)
		r = engine_signature_paths(e, &paths, &cause);
	if (r == 0 && !paths.n) {
		cause = xasprintf("engine '%s' names no signatures",
				  argv[optind]);
		r = -ENOENT;
	}
	if (r == 0 && since && (r = read_file(since, SIZE_MAX, &b)) < 0)
		cause = xasprintf("cannot read '%s': %s", since,
				  strerror(-r));
	if (r == 0 && since && sigset_decode(b.p, b.len, &old, &cause) < 0)
		r = -EINVAL;
	if (r == 0 && delta && (r = mkdir_private(delta)) < 0)
		cause = xasprintf("cannot create '%s': %s", delta,
				  strerror(-r));
	if (r == 0)
		tmp = private_dir("sigset", &cause);
	if (r == 0 && !tmp)
		r = -EIO;
	if (r == 0 && delta)
		r = sigset_read_delta(&paths, old, tmp, delta, &set,
				      &detections, &cause);
	else if (r == 0)
		r = sigset_read(&paths, tmp, &set, &cause);
	if (r == 0 && save) {
		b.len = 0;
		sigset_encode(set, &b);
		r = write_file_atomic(save, b.p, b.len);
		if (r < 0)
			cause = xasprintf("cannot write '%s': %s", save,
					  strerror(-r));
	}
	if (r < 0) {
		fprintf(stderr, "avbatch: %s\n", cause);
		goto done;
	}
	digest = sigset_digest(set);
	printf("engine: %s\ndigest: %s\n", engine_name(e), digest);
	free(digest);
	for (size_t i = 0; i < sigset_ntypes(set); i++) {
		enum sigset_kind kind;
		size_t n;
		const char *ext = sigset_type(set, i, &kind, &n);

		printf("%s: %zu (%s)\n", ext, n, kind_names[kind]);
	}
	if (old) {
		sigset_diff(old, set, &d);
		printf("change: %s\nadded: %zu\nremoved: %zu\n"
		       "allowed: %zu\n", sigset_change_names[d.change],
		       d.added, d.removed, d.allowed);
		if (d.why)
			printf("why: %s\n", d.why);
	}
	if (delta)
		printf("delta detections: %zu\n", detections);
	rc = 0;
done:
	if (tmp)
		rmtree(tmp);
	free(tmp);
	free(cause);
	sigset_diff_release(&d);
	sigset_free(set);
	sigset_free(old);
	buf_release(&b);
	engine_free(e);
	strv_release(&paths);
	strv_release(&names);
	strv_release(&options);
	return rc;
}

int cmd_engines(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list"))
		return engines_list();
	if (argc == 3 && !strcmp(argv[1], "show"))
		return engines_show(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "check"))
		return engines_check(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "selftest"))
		return engines_selftest(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "sigset"))
		return engines_sigset(argc - 1, argv + 1);
	return cmd_usage_error("expected 'list', 'show ENGINE', "
			       "'check [ENGINE]...', 'selftest ENGINE' or "
			       "'sigset ENGINE'");
}

/* Print the last n lines of text, indented (an update's failing output). */
static void print_tail(const struct buf *b, int n)
{
	const char *p = b->p + b->len;

	while (p > b->p && p[-1] == '\n')
		p--;
	while (p > b->p && n > 0)
		if (*--p == '\n')
			n--;
	if (*p == '\n')
		p++;
	for (const char *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		fprintf(stderr, "  | %.*s\n", (int)(nl - p), p);
		if (!*nl)
			break;
	}
}

/*
 * Run one engine's update action, with its version before and after; its
 * output is kept in the state directory (NAME.update.log), and the last
 * lines are shown when it fails.  Returns 0 or exit status 2.
 */
static int update_one(struct scanner *s, const char *dir, double timeout)
{
	const char *name = engine_name(s->e);
	char *log = xasprintf("%s/%s.update.log", G.state_dir, name);
	char *before = s->version ? xstrdup(s->version) : NULL;
	struct strv argv = { 0 };
	char *cause = NULL;
	int r, st = 0;

	if (!engine_has_action(s->e, ENGINE_UPDATE)) {
		printf("%s: nothing to update (no update action)\n", name);
		r = 0;
		goto done;
	}
	r = engine_argv(s->e, ENGINE_UPDATE, NULL, &argv, &cause);
	if (r < 0)
		goto fail;
	if (unlink(log) < 0 && errno != ENOENT) {
		r = -errno;
		cause = xasprintf("cannot replace '%s': %s", log,
				  strerror(errno));
		goto fail;
	}
	printf("%s: before: %s\n", name, before ? before : "unknown");
	msg_info("%s: running %s (output in %s)", name, argv.v[0], log);
	fflush(stdout);
	r = proc_run(argv.v, &(struct proc_io){ .out_path = log,
		     .err_path = log, .cwd = dir }, timeout, &st);
	if (r < 0) {
		cause = r == -ETIMEDOUT ?
			xasprintf("%s did not finish in %.0f s", argv.v[0],
				  timeout) :
			xasprintf("cannot run %s: %s", argv.v[0],
				  strerror(-r));
		goto fail;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		cause = xasprintf("%s failed (%s %d)", argv.v[0],
			WIFEXITED(st) ? "exit status" : "signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		r = -EIO;
		goto fail;
	}
	/* Ask again: the version line carries the signature version. */
	scanner_read_version(s);
	printf("%s: after:  %s\n", name, s->version ? s->version : "unknown");
	r = 0;
	goto done;
fail:
	fprintf(stderr, "avbatch: update of '%s': %s\n", name,
		cause ? cause : strerror(-r));
	if (argv.n) {
		struct buf b = { 0 };

		if (read_file(log, 1 << 20, &b) == 0 && b.len) {
			fprintf(stderr, "  its last lines (all in %s):\n",
				log);
			print_tail(&b, 5);
		}
		buf_release(&b);
		printf("%s: after:  %s (unchanged: the update failed)\n",
		       name, before ? before : "unknown");
	}
	r = 2;
done:
	strv_release(&argv);
	free(before);
	free(cause);
	free(log);
	return r;
}

int cmd_update(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "engine", required_argument, NULL, 'e' },
		{ "option", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char *list = G.default_engine;
	struct strv options = { 0 };
	struct engine **engines = NULL;
	size_t n = 0, failed = 0;
	char *cause = NULL, *dir = NULL;
	double timeout = -1;
	int c, r, secs;

	optind = 0;
	while ((c = getopt_long(argc, argv, "e:o:", opts, NULL)) != -1) {
		if (c == 'e') {
			list = optarg;
		} else if (c == 'o') {
			strv_push(&options, optarg);
		} else if (c == 't') {
			if (parse_int(optarg, &secs) < 0 || secs <= 0) {
				r = cmd_usage_error("--timeout: expected a "
						    "number of seconds, not "
						    "'%s'", optarg);
				goto done;
			}
			timeout = secs;
		} else {
			r = cmd_usage_error("bad option");
			goto done;
		}
	}
	if (optind < argc) {
		r = cmd_usage_error("unexpected argument '%s'", argv[optind]);
		goto done;
	}
	r = cmd_load_engines(list, &options, &engines, &n);
	if (r)
		goto done;
	dir = private_dir("update", &cause);
	if (!dir) {
		fprintf(stderr, "avbatch: %s\n", cause);
		r = 2;
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		struct scanner *s = NULL;

		if (scanner_open(engines[i], dir, &s, &cause) < 0) {
			fprintf(stderr, "avbatch: %s\n", cause);
			free(cause);
			cause = NULL;
			r = 2;
			failed++;
			continue;
		}
		engines[i] = NULL;
		if (update_one(s, dir, timeout)) {
			r = 2;
			failed++;
		}
		scanner_close(s);
	}
	rmtree(dir);
	printf("update: %zu engine(s), %zu failed\n", n, failed);
done:
	cmd_free_engines(engines, n);
	strv_release(&options);
	free(dir);
	free(cause);
	return r;
}
