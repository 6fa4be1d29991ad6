/* avbatch.c - main: global options, the command table, dispatch */
#include "config.h"

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "engine.h"
#include "proc.h"
#include "trust.h"
#include "util.h"

#ifndef PKGDATADIR
#define PKGDATADIR "/usr/local/share/avbatch"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR "/usr/local/etc"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/usr/local/var"
#endif

struct globals G = { .keep_jobs = 20, .keep_job_days = 14 };

static const struct cmd *current;

static const struct cmd commands[] = {
	{ "run", cmd_run, CMD_NEEDS_ROOT | CMD_NEEDS_ENGINES,
	  "run [--engine E[,E2...]] [-o E.KEY=VALUE]... [--report FILE] "
	  "[--format text|json] [--jobs N] [--timeout SECONDS] "
	  "[--max-engines N] [--libvirt[=URI] [--all-shutoff]] [--resume JOB] "
	  "[--cache FILE | --no-cache] [--delta | --no-delta] [--host NAME] [--force] "
	  "[--report-html FILE] [--metrics FILE] [--exclude GLOB]... "
	  "[--snapshots] [--detach] TARGET...",
	  "scan every guest file system of every target; report" },
	{ "inspect", cmd_inspect, CMD_NEEDS_ROOT | CMD_NO_MOUNTS,
	  "inspect [--json] IMAGE...",
	  "show format, backing chain, partitions, file systems, and what "
	  "run would do" },
	{ "status", cmd_ctl, 0, "status [--json] [JOB]",
	  "state and progress of running jobs (all if none named)" },
	{ "pause", cmd_ctl, 0, "pause [JOB]",
	  "pause a running job: engines frozen, nothing new started" },
	{ "resume", cmd_ctl, 0, "resume [JOB]", "resume a paused job" },
	{ "stop", cmd_ctl, 0, "stop [JOB]",
	  "stop a job: engines ended, all released, partial report" },
	{ "jobs", cmd_jobs, 0, "jobs [--json]",
	  "every job in the state directory: running, or how it ended" },
	{ "cleanup", cmd_cleanup, CMD_NEEDS_ROOT, "cleanup [JOB]",
	  "release what a crashed job left behind (mounts, exports, "
	  "daemons)" },
	{ "clean", cmd_clean, CMD_NEEDS_ROOT | CMD_NEEDS_ENGINES,
	  "clean [--target NAME]... [--threat GLOB]... [--dry-run] "
	  "[--action quarantine] [--quarantine DIR] [--undo-dir DIR] "
	  "[-o E.KEY=VALUE]... [--report FILE] REPORT",
	  "quarantine what a reviewed report found, with an undo point, "
	  "verified by a rescan" },
	{ "undo", cmd_undo, CMD_NEEDS_ROOT,
	  "undo [--undo-dir DIR] [--drop] JOB",
	  "bring every disk a job wrote back to what its guest saw before; "
	  "--drop forgets the undo points" },
	{ "engines", cmd_engines, CMD_NEEDS_ENGINES,
	  "engines list | show ENGINE | check [ENGINE]... [-o E.KEY=VALUE]... "
	  "| selftest ENGINE [-o E.KEY=VALUE]... "
	  "| sigset ENGINE [-o E.KEY=VALUE]... [--save FILE] "
	  "[--since FILE [--delta DIR]]",
	  "list the engine descriptors, show one, check they work here, "
	  "prove one on a test disk, show its signature set" },
	{ "report", cmd_report, 0,
	  "report html REPORT | text REPORT | merge [-o FILE] REPORT...",
	  "a saved report as an HTML page or text; many hosts' as one" },
	{ "quarantine", cmd_quarantine, 0,
	  "quarantine list [--json] | show [--json] ID | export [--force] "
	  "[--stream NAME] ID FILE | remove ID | restore ID  "
	  "[--quarantine DIR]",
	  "the files cleaning took out of guests: list, show, export, "
	  "remove" },
	{ "update", cmd_update, CMD_NEEDS_ROOT | CMD_NEEDS_ENGINES,
	  "update [--engine E[,E2...]] [-o E.KEY=VALUE]... "
	  "[--timeout SECONDS]",
	  "update the signatures of the configured (or named) engines" },
};

/* avbatch --help: every command, then each one's usage. */
static void usage(FILE *out)
{
	fprintf(out, "usage: avbatch [--config FILE] [--engines-dir DIR]... "
		"[--state-dir DIR] [-q] [-v] COMMAND [ARGS]\n"
		"       avbatch --version | --help\n"
		"       avbatch COMMAND --help\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\nusage of each command:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  avbatch %s\n", commands[i].usage);
}

/* A usage error before any command: one line, and where help is. */
static int __attribute__((format(printf, 1, 2))) usage_short(
	const char *fmt, ...)
{
	va_list ap;

	fputs("avbatch: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (avbatch --help lists the commands)\n", stderr);
	return 2;
}

int cmd_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("avbatch: ", stderr);
	if (current)
		fprintf(stderr, "%s: ", current->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (current)
		fprintf(stderr, " (avbatch %s --help shows its usage)",
			current->name);
	fputc('\n', stderr);
	return 2;
}

/* Does a command's argument list ask for help ("--help" before "--")? */
static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "--help"))
			return true;
	}
	return false;
}

/*
 * The descriptors of the source tree when this binary is the one built in
 * it and not an installed copy (as git's and tmux's build trees run in
 * place); NULL otherwise.
 */
static const char *build_tree_engines(void)
{
#if defined(BUILD_EXE) && defined(SRC_ENGINES)
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	return strcmp(exe, BUILD_EXE) ? NULL : SRC_ENGINES;
#else
	return NULL;
#endif
}

const char *const *cmd_engine_dirs(size_t *n)
{
	*n = G.engine_dirs.n;
	return (const char *const *)G.engine_dirs.v;
}

/* Apply "-o ENGINE.KEY=VALUE" to the engine it names. */
static int apply_option(struct engine **engines, size_t n,
			const char *spec)
{
	const char *dot = strchr(spec, '.'), *eq = strchr(spec, '=');
	char *name, *key, *cause = NULL;
	int r = -ENOENT;

	if (!dot || !eq || eq < dot)
		return cmd_usage_error("bad option '%s': expected "
				       "ENGINE.KEY=VALUE", spec);
	name = xstrndup(spec, (size_t)(dot - spec));
	key = xstrndup(dot + 1, (size_t)(eq - dot - 1));
	for (size_t i = 0; i < n; i++)
		if (!strcmp(engine_name(engines[i]), name))
			r = engine_set_option(engines[i], key, eq + 1,
					      &cause);
	if (r == -ENOENT && !cause)
		cause = xasprintf("engine '%s' is not part of this run", name);
	free(name);
	free(key);
	if (r < 0) {
		r = cmd_usage_error("%s", cause);
		free(cause);
		return r;
	}
	return 0;
}

int cmd_load_engines(const char *list, const struct strv *options,
		     struct engine ***out, size_t *nout)
{
	struct strv names = { 0 };
	struct engine **engines;
	char *copy = xstrdup(list), *tok, *save = NULL, *cause = NULL;
	size_t ndirs;
	const char *const *dirs = cmd_engine_dirs(&ndirs);
	int r = 0;

	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		strv_push(&names, tok);
	free(copy);
	engines = xcalloc(names.n + 1, sizeof(*engines));
	if (!names.n)
		r = cmd_usage_error("no engine given");
	for (size_t i = 0; !r && i < names.n; i++) {
		for (size_t k = 0; k < i; k++)
			if (!strcmp(names.v[k], names.v[i]))
				r = cmd_usage_error("engine '%s' given twice",
						    names.v[i]);
		if (!r && engine_find(dirs, ndirs, names.v[i], &engines[i],
				      &cause) < 0) {
			fprintf(stderr, "avbatch: %s\n", cause);
			free(cause);
			r = 2;
		}
	}
	for (size_t i = 0; !r && i < options->n; i++)
		r = apply_option(engines, names.n, options->v[i]);
	*out = engines;
	*nout = names.n;
	strv_release(&names);
	return r;
}

void cmd_free_engines(struct engine **engines, size_t n)
{
	for (size_t i = 0; engines && i < n; i++)
		engine_free(engines[i]);
	free(engines);
}

/* Keys of the [avbatch] section of avbatch.conf. */
static int config_handler(void *user, const char *section, const char *key,
			  const char *value)
{
	const char *path = user;

	if (strcmp(section, "avbatch") != 0)
		errx(2, "%s: unknown section '%s'", path, section);
	if (!strcmp(key, "engine"))
		G.default_engine = xstrdup(value);
	else if (!strcmp(key, "state_dir"))
		G.state_dir = xstrdup(value);
	else if (!strcmp(key, "engines_dir"))
		strv_push(&G.engine_dirs, value);
	else if (!strcmp(key, "keep_jobs") || !strcmp(key, "keep_job_days")) {
		int n;

		if (parse_int(value, &n) < 0 || n < 0)
			errx(2, "%s: '%s' wants a number, not '%s'", path, key,
			     value);
		*(strcmp(key, "keep_jobs") ? &G.keep_job_days : &G.keep_jobs) =
			(unsigned)n;
	} else if (!strcmp(key, "cache"))
		G.cache = strcmp(value, "none") ? xstrdup(value) : "";
	else if (!strcmp(key, "quarantine"))
		G.quarantine = xstrdup(value);
	else
		errx(2, "%s: unknown key '%s'", path, key);
	return 1;
}

/* Read the configuration; a missing default file is fine, others are not. */
static void load_config(const char *path, int must_exist)
{
	struct stat st;
	char *cause = NULL;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return;
		err(2, "cannot open '%s'", path);
	}
	if (fstat(fileno(f), &st) == 0 && geteuid() == 0 &&
	    (st.st_uid != 0 || (st.st_mode & 022)))
		errx(2, "%s: refusing a configuration writable by others",
		     path);
	/* Its directories and any symlink on the way, too. */
	if (trust_check(path, &cause) < 0)
		errx(2, "%s", cause);
	r = ini_parse_file(f, config_handler, (void *)path);
	fclose(f);
	if (r > 0)
		errx(2, "%s:%d: syntax error", path, r);
	if (r < 0)
		errx(2, "cannot read '%s'", path);
}

int main(int argc, char **argv)
{
	enum { OPT_CONFIG = 256, OPT_ENGINES_DIR, OPT_STATE_DIR, OPT_VERSION };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "engines-dir", required_argument, NULL, OPT_ENGINES_DIR },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config = NULL;
	const char *state_dir = NULL;
	int c, r, cmdind;

	while ((c = getopt_long(argc, argv, "+qvhV", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			config = G.config = optarg;
			break;
		case OPT_ENGINES_DIR:	/* taken below, after the defaults */
			break;
		case OPT_STATE_DIR:
			state_dir = optarg;
			break;
		case 'q':
			verbosity = -1;
			break;
		case 'v':
			verbosity++;
			break;
		case 'V':
		case OPT_VERSION:
			printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return usage_short("bad global option");
		}
	}
	if (optind >= argc)
		return usage_short("no command given");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, argv[optind]))
			current = &commands[i];
	if (!current)
		return usage_short("unknown command '%s'", argv[optind]);
	if (wants_help(argc - optind, argv + optind)) {
		printf("usage: avbatch %s\n%s\n", current->usage,
		       current->help);
		return 0;
	}

	strv_push(&G.engine_dirs, PKGDATADIR "/engines");
	if (build_tree_engines())
		strv_push(&G.engine_dirs, build_tree_engines());
	strv_push(&G.engine_dirs, SYSCONFDIR "/avbatch/engines.d");
	load_config(config ? config : SYSCONFDIR "/avbatch/avbatch.conf",
		    config != NULL);
	/*
	 * --engines-dir last, so they override by name: read from argv again
	 * now (nothing allocated for them before the early returns above).
	 */
	cmdind = optind;
	optind = 0;
	while ((c = getopt_long(cmdind, argv, "+qvhV", opts, NULL)) != -1)
		if (c == OPT_ENGINES_DIR)
			strv_push(&G.engine_dirs, optarg);
	optind = cmdind;
	if (state_dir)
		G.state_dir = state_dir;
	if (!G.state_dir)
		G.state_dir = "/run/avbatch";
	if (!G.default_engine)
		G.default_engine = "clamav";
	if (!G.quarantine)
		G.quarantine = LOCALSTATEDIR "/lib/avbatch/quarantine";

	if ((current->flags & CMD_NEEDS_ROOT) && geteuid() != 0)
		errx(2, "%s: must be run as root (%s)", current->name,
		     current->flags & CMD_NO_MOUNTS ?
		     "it attaches disk images: loop devices, qemu exports" :
		     "it mounts file systems");
	r = proc_signals_init();
	if (r < 0)
		errx(2, "cannot set up signal handling: %s", strerror(-r));
	r = current->fn(argc - optind, argv + optind);
	strv_release(&G.engine_dirs);
	return r;
}
