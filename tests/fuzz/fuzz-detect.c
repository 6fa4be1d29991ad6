/* fuzz-detect.c - libFuzzer target: reading engine output lines */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "engine-output.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The [result] section of engines/clamav.ini. */
static const char descriptor[] =
	"[engine]\n"
	"name = detect\n"
	"binary = clamscan\n"
	"[actions]\n"
	"scan = {binary} -- {target}\n"
	"[result]\n"
	"clean = 0\n"
	"infected = 1\n"
	"error = 2\n"
	"detection = ^(.*): ([^ ]+) FOUND$\n"
	"detection_path = 1\n"
	"detection_threat = 2\n"
	"error_line = ^(ERROR|WARNING|LibClamAV Error): |"
	": (Access denied|Can't open directory\\.|.* ERROR)$\n"
	"incomplete_prefix = Heuristics.Limits.Exceeded.\n";

static struct engine *engine;

static void cleanup(void)
{
	engine_free(engine);
}

static void setup(void)
{
	char tmpl[] = "/tmp/fuzz-detect.XXXXXX";
	char *path, *cause = NULL;
	int fd;

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		abort();
	}
	path = xasprintf("%s/detect.ini", tmpl);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, descriptor, sizeof(descriptor) - 1) !=
	    (ssize_t)sizeof(descriptor) - 1 || close(fd) < 0) {
		perror(path);
		abort();
	}
	if (engine_load(path, &engine, &cause) < 0) {
		fprintf(stderr, "%s\n", cause);
		abort();
	}
	unlink(path);
	rmdir(tmpl);
	free(path);
	atexit(cleanup);
}

/* One output line (no NUL, no newline): match it and check the result. */
static void one_line(const char *line)
{
	char *path = NULL, *threat = NULL;

	if (engine_match_detection(engine, line, &path, &threat)) {
		/* the line must be exactly "PATH: THREAT FOUND" */
		size_t lp = strlen(path), lt = strlen(threat);

		if (lp + 2 + lt + 6 != strlen(line) ||
		    memcmp(line, path, lp) || memcmp(line + lp, ": ", 2) ||
		    memcmp(line + lp + 2, threat, lt) ||
		    strcmp(line + lp + 2 + lt, " FOUND") ||
		    !lt || strchr(threat, ' '))
			abort();
		(void)engine_threat_is_incomplete(engine, threat);
		free(path);
		free(threat);
	}
	(void)engine_match_error(engine, line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *line, *end;

	if (!engine)
		setup();
	buf = xmalloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	end = buf + size;
	/* lines end at '\n'; a NUL (never in a real line) ends one too */
	for (line = buf; line <= end;) {
		size_t n = strcspn(line, "\n");

		line[n] = '\0';
		one_line(line);
		line += n + 1;
	}
	free(buf);
	return 0;
}
