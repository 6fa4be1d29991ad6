/* fuzz-engine.c - libFuzzer target: engine_load() on any descriptor text */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "engine-output.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dir, *path;

static void cleanup(void)
{
	if (path)
		unlink(path);
	if (dir)
		rmdir(dir);
}

/* The descriptor file: named clamav.ini, so engines/clamav.ini is a seed. */
static void setup(void)
{
	char tmpl[] = "/tmp/fuzz-engine.XXXXXX";

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		abort();
	}
	dir = xstrdup(tmpl);
	path = xasprintf("%s/clamav.ini", dir);
	atexit(cleanup);
}

/* What the rest of avbatch does with a loaded engine. */
static void exercise(struct engine *e)
{
	static const char *const vars[] = {
		"target", "/mnt/-x y", "list", "/run/list", "logdir", "/log",
		NULL
	};
	char *cause = NULL, *p, *t;

	for (int a = 0; a < ENGINE_NACTIONS; a++) {
		struct strv argv = { 0 };

		if (engine_argv(e, (enum engine_action)a, vars, &argv,
				&cause) < 0) {
			free(cause);
			cause = NULL;
		}
		strv_release(&argv);
	}
	if (engine_set_option(e, "database", "/x", &cause) < 0)
		free(cause);
	for (int s = 0; s < 0x10000; s += 0x7f)
		(void)engine_classify_exit(e, s);
	if (engine_match_detection(e, "/mnt/a: b: X FOUND", &p, &t)) {
		(void)engine_threat_is_incomplete(e, t);
		free(p);
		free(t);
	}
	(void)engine_match_error(e, "WARNING: /mnt/a: Can't access file");
	(void)engine_name(e);
	(void)engine_vendor(e);
	(void)engine_description(e);
	(void)engine_path(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct engine *e = NULL;
	char *cause = NULL;
	int fd;

	if (!path)
		setup();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) ||
	    close(fd) < 0) {
		perror(path);
		abort();
	}
	if (engine_load(path, &e, &cause) == 0)
		exercise(e);
	else if (!cause)
		abort();	/* every failure must say why */
	engine_free(e);
	free(cause);
	return 0;
}
