/* cmd-engines.c - avbatch engines: list and show descriptors */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "engine.h"
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

static int engines_list(void)
{
	struct strv names = { 0 };
	size_t ndirs;
	const char *const *dirs = cmd_engine_dirs(&ndirs);

	engine_names(&names);
	for (size_t i = 0; i < names.n; i++) {
		struct engine *e = NULL;
		struct strv argv = { 0 };
		char *cause = NULL;

		if (engine_find(dirs, ndirs, names.v[i], &e, &cause) < 0) {
			printf("%-12s invalid: %s\n", names.v[i], cause);
		} else if (engine_argv(e, ENGINE_VERSION, NULL, &argv,
				       &cause) < 0) {
			printf("%-12s %-22s not usable: %s\n", names.v[i],
			       engine_vendor(e) ? engine_vendor(e) : "-",
			       cause);
		} else {
			printf("%-12s %-22s usable: %s\n", names.v[i],
			       engine_vendor(e) ? engine_vendor(e) : "-",
			       argv.v[0]);
		}
		free(cause);
		strv_release(&argv);
		engine_free(e);
	}
	strv_release(&names);
	return 0;
}

static int engines_show(const char *name)
{
	static const char *const actions[ENGINE_NACTIONS] = {
		"scan", "scan_list", "version", "update", "pause", "resume",
		"stop", "status",
	};
	static const char *const vars[] = {
		"target", "{target}", "list", "{list}", NULL
	};
	struct engine *e = NULL;
	char *cause = NULL;
	size_t ndirs;
	const char *const *dirs = cmd_engine_dirs(&ndirs);

	if (engine_find(dirs, ndirs, name, &e, &cause) < 0) {
		fprintf(stderr, "avbatch: %s\n", cause);
		free(cause);
		return 2;
	}
	printf("name: %s\nvendor: %s\ndescriptor: %s\n", engine_name(e),
	       engine_vendor(e) ? engine_vendor(e) : "-", engine_path(e));
	for (int a = 0; a < ENGINE_NACTIONS; a++) {
		struct strv argv = { 0 };

		if (!engine_has_action(e, (enum engine_action)a))
			continue;
		printf("%s:", actions[a]);
		if (engine_argv(e, (enum engine_action)a, vars, &argv,
				&cause) < 0) {
			printf(" (%s)\n", cause);
			free(cause);
			cause = NULL;
			continue;
		}
		for (size_t i = 0; i < argv.n; i++)
			printf(" %s", argv.v[i]);
		putchar('\n');
		strv_release(&argv);
	}
	engine_free(e);
	return 0;
}

int cmd_engines(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list"))
		return engines_list();
	if (argc == 3 && !strcmp(argv[1], "show"))
		return engines_show(argv[2]);
	return cmd_usage_error("expected 'list' or 'show ENGINE'");
}
