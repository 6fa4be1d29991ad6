/* cmd-engines.c - avbatch engines (list, show, check) and avbatch update */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "engine.h"
#include "proc.h"
#include "scan.h"
#include "util.h"

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
 * Is an engine usable here: program found, and its version action (which
 * names the signature version too) answers?  Prints one line.
 */
static bool check_one(const char *name, const char *dir)
{
	struct scanner *s = NULL;
	struct engine *e = NULL;
	char *cause = NULL;
	bool usable = false;

	if (load(name, &e, &cause) < 0) {
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
	} else {
		printf("%-13s usable: %s, %s\n", name, s->binary,
		       s->version ? s->version : "no version action");
		usable = true;
	}
	free(cause);
	scanner_close(s);
	return usable;
}

static int engines_check(const char *name)
{
	struct strv names = { 0 };
	char *cause = NULL, *dir;
	int r = 0;

	dir = private_dir("check", &cause);
	if (!dir) {
		fprintf(stderr, "avbatch: %s\n", cause);
		free(cause);
		return 2;
	}
	if (name)
		strv_push(&names, name);
	else
		engine_names(&names);
	for (size_t i = 0; i < names.n; i++)
		if (!check_one(names.v[i], dir))
			r = 2;
	rmtree(dir);
	free(dir);
	strv_release(&names);
	return r;
}

int cmd_engines(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list"))
		return engines_list();
	if (argc == 3 && !strcmp(argv[1], "show"))
		return engines_show(argv[2]);
	if ((argc == 2 || argc == 3) && !strcmp(argv[1], "check"))
		return engines_check(argc == 3 ? argv[2] : NULL);
	return cmd_usage_error("expected 'list', 'show ENGINE' or "
			       "'check [ENGINE]'");
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
