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

	engine_names(&names);
	for (size_t i = 0; i < names.n; i++) {
		struct engine *e = NULL;
		char *cause = NULL, *bin = NULL;

		if (load(names.v[i], &e, &cause) < 0)
			printf("%-13s %-24s invalid: %s\n", names.v[i], "-",
			       cause);
		else if (engine_resolve_binary(e, &bin, &cause) == -ENOENT)
			printf("%-13s %-24.24s not usable: '%s' not found in "
			       "PATH\n", names.v[i], engine_vendor(e),
			       engine_binary(e));
		else if (!bin)
			printf("%-13s %-24.24s not usable: %s\n", names.v[i],
			       engine_vendor(e), cause);
		else
			printf("%-13s %-24.24s usable: %s\n", names.v[i],
			       engine_vendor(e), bin);
		free(bin);
		free(cause);
		engine_free(e);
	}
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
			printf(" signal %s to the engine's process group\n",
			       strsignal(sig));
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

/* Run one engine's update action, with its version before and after. */
static int update_one(struct scanner *s, const char *dir)
{
	const char *name = engine_name(s->e);
	char *log = xasprintf("%s/%s.update", dir, name);
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
	printf("%s: before: %s\n", name, before ? before : "unknown");
	fflush(stdout);
	r = proc_run(argv.v, &(struct proc_io){ .out_path = log,
		     .err_path = log, .cwd = dir }, -1, &st);
	if (r < 0) {
		cause = xasprintf("cannot run %s: %s", argv.v[0],
				  strerror(-r));
		goto fail;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		struct buf b = { 0 };

		read_file(log, 1 << 20, &b);
		cause = xasprintf("%s failed (%s %d)%s%s", argv.v[0],
			WIFEXITED(st) ? "exit status" : "signal",
			WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
			b.len ? ":\n" : "", b.len ? b.p : "");
		buf_release(&b);
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
		{ NULL, 0, NULL, 0 }
	};
	const char *list = G.default_engine;
	struct strv options = { 0 };
	struct engine **engines = NULL;
	size_t n = 0;
	char *cause = NULL, *dir = NULL;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "e:o:", opts, NULL)) != -1) {
		if (c == 'e') {
			list = optarg;
		} else if (c == 'o') {
			strv_push(&options, optarg);
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
			continue;
		}
		engines[i] = NULL;
		if (update_one(s, dir))
			r = 2;
		scanner_close(s);
	}
	rmtree(dir);
done:
	cmd_free_engines(engines, n);
	strv_release(&options);
	free(dir);
	free(cause);
	return r;
}
