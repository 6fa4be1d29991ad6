/* engine.c - INI engine descriptors: loading, commands, options */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <regex.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "engine.h"
#include "engine-int.h"
#include "proc.h"
#include "trust.h"
#include "util.h"

#define DESCRIPTOR_MAX	(256 * 1024)	/* bytes in one descriptor file */
#define NAME_MAX_LEN	64		/* engine names */
#define OPTION_MAX_LEN	32		/* option names */
#define REGEX_COST_MAX	10000		/* see regex_cost() */

enum section {
	SECT_NONE,
	SECT_ENGINE,
	SECT_OPTIONS,
	SECT_ACTIONS,
	SECT_RESULT,
	SECT_DAEMON,
};

static const char *const section_names[] = {
	[SECT_ENGINE] = "engine",
	[SECT_OPTIONS] = "options",
	[SECT_ACTIONS] = "actions",
	[SECT_RESULT] = "result",
	[SECT_DAEMON] = "daemon",
};

enum key_kind {
	K_NAME,
	K_TEXT,
	K_BINARY,
	K_FLAGS,
	K_ACTION,
	K_CODES,
	K_REGEX,
	K_GROUP,
	K_PREFIX,
	K_OPTNAME,
	K_LINE,
	K_STATUS,
	K_PATHS,
	K_SIGSETS,
};

/* Every key a descriptor may hold outside [options]. */
static const struct key {
	enum section sect;
	const char *name;
	enum key_kind kind;
	int arg;		/* action, verdict, regex slot or group index */
	bool repeat;		/* may be given several times */
	bool cont;		/* may be continued with a trailing backslash */
} keys[] = {
	{ SECT_ENGINE, "name", K_NAME, 0, false, false },
	{ SECT_ENGINE, "description", K_TEXT, 0, false, true },
	{ SECT_ENGINE, "vendor", K_TEXT, 1, false, false },
	{ SECT_ENGINE, "binary", K_BINARY, 0, false, false },
	{ SECT_ENGINE, "flags", K_FLAGS, 0, false, true },
	{ SECT_ACTIONS, "scan", K_ACTION, ENGINE_SCAN, false, true },
	{ SECT_ACTIONS, "scan_list", K_ACTION, ENGINE_SCAN_LIST, false, true },
	{ SECT_ACTIONS, "version", K_ACTION, ENGINE_VERSION, false, true },
	{ SECT_ACTIONS, "update", K_ACTION, ENGINE_UPDATE, false, true },
	{ SECT_ACTIONS, "pause", K_ACTION, ENGINE_PAUSE, false, true },
	{ SECT_ACTIONS, "resume", K_ACTION, ENGINE_RESUME, false, true },
	{ SECT_ACTIONS, "stop", K_ACTION, ENGINE_STOP, false, true },
	{ SECT_ACTIONS, "status", K_ACTION, ENGINE_STATUS, false, true },
	{ SECT_RESULT, "clean", K_CODES, ENGINE_CLEAN, false, true },
	{ SECT_RESULT, "infected", K_CODES, ENGINE_INFECTED, false, true },
	{ SECT_RESULT, "error", K_CODES, ENGINE_ERROR, false, true },
	{ SECT_RESULT, "detection", K_REGEX, RE_DETECTION, false, false },
	{ SECT_RESULT, "detection_path", K_GROUP, 0, false, false },
	{ SECT_RESULT, "detection_threat", K_GROUP, 1, false, false },
	{ SECT_RESULT, "error_line", K_REGEX, RE_ERROR, false, false },
	{ SECT_RESULT, "summary_infected", K_REGEX, RE_SUMMARY, false, false },
	{ SECT_RESULT, "incomplete_prefix", K_PREFIX, 0, true, true },
	{ SECT_RESULT, "threat_context", K_REGEX, RE_CONTEXT, false, false },
	{ SECT_RESULT, "progress", K_REGEX, RE_PROGRESS, false, false },
	{ SECT_RESULT, "version_status", K_STATUS, 0, false, false },
	{ SECT_ENGINE, "size_limit_option", K_OPTNAME, 0, false, false },
	{ SECT_ENGINE, "signatures", K_PATHS, 0, false, true },
	{ SECT_ENGINE, "signature_sets", K_SIGSETS, 0, false, false },
	{ SECT_DAEMON, "start", K_ACTION, ENGINE_DAEMON, false, true },
	{ SECT_DAEMON, "ready", K_ACTION, ENGINE_DAEMON_READY, false, true },
	{ SECT_DAEMON, "config", K_LINE, 0, true, false },
	{ SECT_DAEMON, "external_option", K_OPTNAME, 1, false, false },
};

const char *const engine_sigsets_names[] = {
	[ENGINE_SIGSETS_NONE] = "",
	[ENGINE_SIGSETS_CLAMAV] = "clamav",
};

/* Actions: their key, the variable they take, whether signal:X is allowed. */
static const struct action_info {
	const char *name;
	const char *var;
	bool signal_ok;
} action_info[ENGINE_NACTIONS] = {
	[ENGINE_SCAN] = { "scan", "target", false },
	[ENGINE_SCAN_LIST] = { "scan_list", "list", false },
	[ENGINE_VERSION] = { "version", NULL, false },
	[ENGINE_UPDATE] = { "update", NULL, true },
	[ENGINE_PAUSE] = { "pause", NULL, true },
	[ENGINE_RESUME] = { "resume", NULL, true },
	[ENGINE_STOP] = { "stop", NULL, true },
	[ENGINE_STATUS] = { "status", NULL, true },
	[ENGINE_DAEMON] = { "start", NULL, false },
	[ENGINE_DAEMON_READY] = { "ready", NULL, false },
};

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{ "STOP", SIGSTOP }, { "CONT", SIGCONT }, { "TERM", SIGTERM },
	{ "KILL", SIGKILL }, { "HUP", SIGHUP }, { "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 },
};

static const struct {
	const char *name;
	unsigned bit;
} flag_names[] = {
	{ "parallel-safe", ENGINE_PARALLEL_SAFE },
	{ "host-mounts", ENGINE_HOST_MOUNTS },
	{ "managed-daemon", ENGINE_MANAGED_DAEMON },
	{ "chosen-paths", ENGINE_CHOSEN_PATHS },
};

/* Placeholders every action may use besides options and its own variable. */
static const char *const common_vars[] = {
	"binary", "logdir", "daemon_dir", "daemon_config", "daemon_socket",
	"engine_log",	/* a report file the engine writes; read like stdout */
};

/* One "key = value" as read, kept until the whole file has been read. */
struct entry {
	const struct key *key;	/* NULL in [options] */
	char *name;
	struct buf value;
	unsigned line;
};

struct parse {
	const char *path;
	const char *p, *end;	/* unread rest of the file */
	unsigned lineno;	/* physical line last handed to inih */
	bool in_cont;		/* that line continues the previous value */
	bool want_cont;		/* that line ended in a backslash */
	struct entry *ents;
	size_t nents;
	bool failed;
	unsigned fail_line;
	char *cause;
};

/* Record the first error as "FILE:LINE: msg" (or "FILE: msg"); takes msg. */
static int parse_error(struct parse *ps, unsigned line, char *msg)
{
	if (!ps->failed) {
		if (line)
			ps->cause = xasprintf("%s:%u: %s", ps->path, line, msg);
		else
			ps->cause = xasprintf("%s: %s", ps->path, msg);
		ps->failed = true;
		ps->fail_line = line;
	}
	free(msg);
	return -EINVAL;
}

static void parse_release(struct parse *ps)
{
	for (size_t i = 0; i < ps->nents; i++) {
		free(ps->ents[i].name);
		buf_release(&ps->ents[i].value);
	}
	free(ps->ents);
	free(ps->cause);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* [a-z0-9_]+ (option and placeholder names) */
static bool is_ident(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* [a-z0-9][a-z0-9_-]* (engine names, which become file names) */
static bool is_engine_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN || s[0] == '_' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_ident(s + i, 1) && s[i] != '-')
			return false;
	return true;
}

static enum section section_id(const char *s, size_t n)
{
	for (size_t i = 1; i < ARRAY_SIZE(section_names); i++)
		if (strlen(section_names[i]) == n &&
		    !memcmp(section_names[i], s, n))
			return (enum section)i;
	return SECT_NONE;
}

/* Check a "[section]" line (s..end, first char '['). */
static int check_section(struct parse *ps, const char *s, const char *end)
{
	const char *rb = memchr(s, ']', (size_t)(end - s));
	const char *t;

	if (!rb)
		return parse_error(ps, ps->lineno,
				   xstrdup("malformed section header"));
	for (t = rb + 1; t < end && is_blank(*t); t++)
		;
	if (t < end && *t != ';')
		return parse_error(ps, ps->lineno, xstrdup(
			"unexpected text after section header"));
	if (section_id(s + 1, (size_t)(rb - s - 1)) == SECT_NONE)
		return parse_error(ps, ps->lineno,
				   xasprintf("unknown section [%.*s]",
					     (int)(rb - s - 1), s + 1));
	return 0;
}

/*
 * inih's line reader.  It hands inih one physical line at a time, so inih's
 * line numbers stay ours; it refuses lines longer than inih's buffer, which
 * inih would otherwise split into two silently; and it turns a line ending
 * in a backslash into inih's own continuation (the next line, indented).
 * inih cannot read longer lines: its line buffer is fixed when the library
 * is built (200 bytes in Debian's libinih).
 */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *ps = stream;
	const char *line, *nl, *end, *s;
	bool blank, comment;
	size_t n = 0;

	if (ps->failed)
		return NULL;
	if (ps->p == ps->end) {
		if (ps->want_cont)
			parse_error(ps, ps->lineno, xstrdup(
				"backslash continuation at end of file"));
		return NULL;
	}
	line = ps->p;
	nl = memchr(line, '\n', (size_t)(ps->end - line));
	end = nl ? nl : ps->end;
	ps->p = nl ? nl + 1 : ps->end;
	ps->lineno++;
	if (end > line && end[-1] == '\r')
		end--;
	if (ps->lineno == 1 && end - line >= 3 &&
	    !memcmp(line, "\xef\xbb\xbf", 3))
		line += 3;	/* a UTF-8 byte order mark */

	if (memchr(line, '\0', (size_t)(end - line))) {
		parse_error(ps, ps->lineno, xstrdup("NUL byte in line"));
		return NULL;
	}
	if (num < 8 || end - line > num - 3) {
		parse_error(ps, ps->lineno, xasprintf(
			"line longer than %d bytes (continue it on the next "
			"line after a backslash)", num < 8 ? 0 : num - 3));
		return NULL;
	}

	for (s = line; s < end && is_blank(*s); s++)
		;
	blank = s == end;
	comment = !blank && (*s == ';' || *s == '#');
	ps->in_cont = ps->want_cont;
	ps->want_cont = false;
	if (ps->in_cont) {
		if (blank || comment) {
			parse_error(ps, ps->lineno, xstrdup("a continued "
				"line may not be empty or a comment"));
			return NULL;
		}
		str[n++] = ' ';		/* what inih takes for continuation */
		line = s;
	} else if (!blank && !comment) {
		if (s != line) {
			parse_error(ps, ps->lineno, xstrdup(
				"unexpected indentation (continue a value "
				"with a trailing backslash instead)"));
			return NULL;
		}
		if (*s == '[') {
			if (check_section(ps, s, end) < 0)
				return NULL;
		} else if (!memchr(s, '=', (size_t)(end - s)) &&
			   !memchr(s, ':', (size_t)(end - s))) {
			parse_error(ps, ps->lineno,
				    xstrdup("expected 'key = value'"));
			return NULL;
		}
	}
	memcpy(str + n, line, (size_t)(end - line));
	n += (size_t)(end - line);
	if (!blank && !comment && (ps->in_cont || *s != '[') &&
	    str[n - 1] == '\\') {
		n--;
		ps->want_cont = true;
	}
	str[n++] = '\n';
	str[n] = '\0';
	return str;
}

static const struct key *find_key(enum section sect, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (keys[i].sect == sect && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static bool is_reserved_var(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(common_vars); i++)
		if (!strcmp(common_vars[i], name))
			return true;
	for (size_t i = 0; i < ENGINE_NACTIONS; i++)
		if (action_info[i].var && !strcmp(action_info[i].var, name))
			return true;
	return false;
}

/* inih's handler: collect each key (checked for name and place) in order. */
static int handle_key(void *user, const char *section, const char *name,
		      const char *value)
{
	struct parse *ps = user;
	const struct key *k = NULL;
	enum section sect;
	struct entry *e;

	if (ps->failed)
		return 1;
	if (ps->in_cont) {
		e = ps->nents ? &ps->ents[ps->nents - 1] : NULL;
		if (!e || strcmp(e->name, name)) {
			parse_error(ps, ps->lineno, xstrdup("syntax error"));
			return 1;
		}
		if (!e->key || !e->key->cont) {
			parse_error(ps, e->line, xasprintf(
				"'%s' cannot be continued on another line",
				name));
			return 1;
		}
		if (e->value.len && *value)
			buf_addstr(&e->value, " ");
		buf_addstr(&e->value, value);
		return 1;
	}

	sect = section_id(section, strlen(section));
	if (sect == SECT_NONE) {
		parse_error(ps, ps->lineno,
			    xasprintf("key '%s' outside a section", name));
		return 1;
	}
	if (sect == SECT_OPTIONS) {
		if (!is_ident(name, strlen(name)) ||
		    strlen(name) > OPTION_MAX_LEN) {
			parse_error(ps, ps->lineno, xasprintf(
				"bad option name '%s' (use up to %d of "
				"a-z, 0-9 and _)", name, OPTION_MAX_LEN));
			return 1;
		}
		if (is_reserved_var(name)) {
			parse_error(ps, ps->lineno, xasprintf(
				"option name '%s' is reserved", name));
			return 1;
		}
	} else {
		k = find_key(sect, name);
		if (!k) {
			parse_error(ps, ps->lineno, xasprintf(
				"unknown key '%s' in [%s]", name,
				section_names[sect]));
			return 1;
		}
	}
	for (size_t i = 0; i < ps->nents; i++) {
		e = &ps->ents[i];
		if ((k ? e->key == k : (!e->key && !strcmp(e->name, name))) &&
		    !(k && k->repeat)) {
			parse_error(ps, ps->lineno, xasprintf(
				"duplicate key '%s' (first on line %u)",
				name, e->line));
			return 1;
		}
	}
	ps->ents = xreallocarray(ps->ents, ps->nents + 1, sizeof(*ps->ents));
	e = &ps->ents[ps->nents++];
	memset(e, 0, sizeof(*e));
	e->key = k;
	e->name = xstrdup(name);
	e->line = ps->lineno;
	buf_addstr(&e->value, value);
	return 1;
}

/* Trim blanks at both ends of s..s+n, in place; returns the new length. */
static size_t trim(const char **s, size_t n)
{
	while (n && is_blank(**s)) {
		(*s)++;
		n--;
	}
	while (n && is_blank((*s)[n - 1]))
		n--;
	return n;
}

/*
 * Call fn for each comma-separated, trimmed item of list.  Empty items are
 * an error.
 */
static int for_each_item(struct parse *ps, const struct entry *ent,
			 int (*fn)(struct parse *ps, const struct entry *ent,
				   const char *item, void *arg), void *arg)
{
	const char *p = ent->value.p;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *s = p;
		char *item;
		int r;

		n = trim(&s, n);
		if (n == 0)
			return parse_error(ps, ent->line, xasprintf(
				"empty item in '%s'", ent->name));
		item = xstrndup(s, n);
		r = fn(ps, ent, item, arg);
		free(item);
		if (r < 0 || !comma)
			return r;
		p = comma + 1;
	}
}

static int add_flag(struct parse *ps, const struct entry *ent,
		    const char *item, void *arg)
{
	struct engine *e = arg;

	for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++) {
		if (!strcmp(flag_names[i].name, item)) {
			e->flags |= flag_names[i].bit;
			return 0;
		}
	}
	return parse_error(ps, ent->line, xasprintf(
		"unknown flag '%s' (known: parallel-safe, host-mounts, "
		"managed-daemon)", item));
}

static int add_code(struct parse *ps, const struct entry *ent,
		    const char *item, void *arg)
{
	struct engine *e = arg;
	const char *d = item + (item[0] == '-');
	int code, idx;

	if (!*d || strspn(d, "0123456789") != strlen(d) ||
	    parse_int(item, &code) < 0 || code > 255 || code < -SIG_MAX ||
	    !strcmp(item, "-0"))
		return parse_error(ps, ent->line, xasprintf(
			"bad exit code '%s' (0 to 255, or -1 to -%d for a "
			"signal)", item, SIG_MAX));
	idx = code >= 0 ? code : 256 - code;
	if (e->verdict[idx] >= 0)
		return parse_error(ps, ent->line, xasprintf(
			"exit code %d listed twice", code));
	e->verdict[idx] = (signed char)ent->key->arg;
	return 0;
}

static int add_prefix(struct parse *ps, const struct entry *ent,
		      const char *item, void *arg)
{
	struct engine *e = arg;

	(void)ps;
	(void)ent;
	strv_push(&e->incomplete, item);
	return 0;
}

/*
 * Compile an ERE in the C locale: output lines hold guest file names, which
 * need not be valid in the user's locale, and glibc's regexec() does not
 * match invalid multibyte sequences.  In the C locale every byte is a
 * character.
 */
static int regcomp_bytes(regex_t *re, const char *pattern)
{
	locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	locale_t old = c ? uselocale(c) : (locale_t)0;
	int r = regcomp(re, pattern, REG_EXTENDED);

	if (c) {
		uselocale(old);
		freelocale(c);
	}
	return r;
}

static size_t cost_cap(size_t x)
{
	return x > REGEX_COST_MAX ? REGEX_COST_MAX + 1 : x;
}

/* Skip a bracket expression "[...]" at p, with its [:class:] parts. */
static const char *skip_bracket(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p && *p != ']') {
		if (p[0] == '[' && strchr(":.=", p[1]) && p[1]) {
			char close = p[1];

			for (p += 2; *p && !(p[0] == close && p[1] == ']'); p++)
				;
			if (*p)
				p += 2;
		} else {
			p++;
		}
	}
	return *p ? p + 1 : p;
}

/*
 * Rough size of an ERE once glibc's regcomp() has expanded its intervals:
 * it copies a subexpression once per allowed repetition, so nested
 * intervals multiply ("((a{1,255}){1,255}){1,255}" takes gigabytes) and
 * "a{1,20000}" alone takes seconds.  Saturates above REGEX_COST_MAX.
 * Hand-written: no library reports this before compiling.
 */
static size_t regex_cost(const char **pp, int depth)
{
	const char *p = *pp;
	size_t total = 0, last = 0;

	while (*p && !(depth && *p == ')')) {
		size_t atom = 1;

		if (*p == '|' || *p == '*' || *p == '+' || *p == '?') {
			if (*p++ == '|')
				last = 0;
			continue;
		}
		if (*p == '{') {
			unsigned long m = 0, n;

			for (p++; *p >= '0' && *p <= '9'; p++)
				m = m > REGEX_COST_MAX ? m :
				    m * 10 + (unsigned long)(*p - '0');
			n = m;
			if (*p == ',') {
				for (n = 0, p++; *p >= '0' && *p <= '9'; p++)
					n = n > REGEX_COST_MAX ? n :
					    n * 10 + (unsigned long)(*p - '0');
				if (n < m)
					n = m;
			}
			if (*p == '}')
				p++;
			total = cost_cap(total - last +
					 last * cost_cap((size_t)n + 1));
			last = cost_cap(last * cost_cap((size_t)n + 1));
			continue;
		}
		if (*p == '(') {
			p++;
			atom = cost_cap(regex_cost(&p, depth + 1) + 1);
			if (*p == ')')
				p++;
		} else if (*p == '[') {
			p = skip_bracket(p);
		} else if (*p == '\\' && p[1]) {
			p += 2;
		} else {
			p++;
		}
		last = atom;
		total = cost_cap(total + atom);
	}
	*pp = p;
	return total;
}

static int set_regex(struct parse *ps, struct engine *e,
		     const struct entry *ent)
{
	const char *p = ent->value.p;
	int slot = ent->key->arg;
	int r;

	if (!*ent->value.p)
		return parse_error(ps, ent->line, xasprintf(
			"empty regular expression in '%s'", ent->name));
	if (regex_cost(&p, 0) > REGEX_COST_MAX)
		return parse_error(ps, ent->line, xasprintf(
			"regular expression in '%s' is too large once its "
			"{m,n} intervals are expanded", ent->name));
	r = regcomp_bytes(&e->re[slot], ent->value.p);
	if (r) {
		char msg[256];

		regerror(r, &e->re[slot], msg, sizeof(msg));
		return parse_error(ps, ent->line, xasprintf(
			"bad regular expression in '%s': %s", ent->name, msg));
	}
	e->has_re[slot] = true;
	return 0;
}

/*
 * Emit one template character into a word: braces written literally are
 * stored doubled, so that "{name}" in a stored word is always a placeholder.
 */
static void emit_literal(struct buf *w, char c)
{
	buf_add(w, &c, 1);
	if (c == '{' || c == '}')
		buf_add(w, &c, 1);
}

/*
 * Read a brace at *p (not escaped): "{{", "}}" or a "{name}" placeholder.
 */
static const char *emit_brace(const char *p, struct buf *w, const char **err)
{
	size_t n;

	if (p[0] == p[1]) {
		buf_add(w, p, 2);
		return p + 2;
	}
	if (p[0] == '}') {
		*err = "unmatched '}' (write }} for a literal brace)";
		return NULL;
	}
	n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz0123456789_");
	if (n == 0 || p[1 + n] != '}') {
		*err = "bad placeholder (use {name}; write {{ for a "
		       "literal brace)";
		return NULL;
	}
	buf_add(w, p, n + 2);
	return p + n + 2;
}

/*
 * Split a command template into words, like a shell but with nothing but
 * quoting: blanks separate words, '...' and "..." group, a backslash
 * (outside single quotes) takes the next character literally.
 * Hand-written: wordexp(3) would also expand variables and run commands.
 */
/* One character of a word: a brace pair or a literal; NULL on error. */
static const char *emit_char(const char *p, struct buf *w, const char **err)
{
	if (*p == '{' || *p == '}')
		return emit_brace(p, w, err);
	emit_literal(w, *p);
	return p + 1;
}

static int split_template(const char *s, struct strv *words, const char **err)
{
	struct buf w = { 0 };
	bool inword = false;
	const char *p = s;

	while (*p) {
		char q;

		if (is_blank(*p)) {
			if (inword)
				strv_push_take(words, w.p ? w.p : xstrdup(""));
			memset(&w, 0, sizeof(w));
			inword = false;
			p++;
			continue;
		}
		inword = true;
		if (*p == '\'' || *p == '"') {
			q = *p++;
			while (*p && *p != q) {
				if (q == '"' && *p == '\\' && p[1]) {
					emit_literal(&w, p[1]);
					p += 2;
				} else if (!(p = emit_char(p, &w, err))) {
					goto fail;
				}
			}
			if (!*p) {
				*err = q == '"' ? "unterminated double quote" :
						  "unterminated single quote";
				goto fail;
			}
			p++;
		} else if (*p == '\\') {
			if (!p[1]) {
				*err = "backslash at end of command";
				goto fail;
			}
			emit_literal(&w, p[1]);
			p += 2;
		} else if (!(p = emit_char(p, &w, err))) {
			goto fail;
		}
	}
	if (inword)
		strv_push_take(words, w.p ? w.p : xstrdup(""));
	if (words->n == 0) {
		*err = "empty command";
		return -EINVAL;
	}
	return 0;
fail:
	buf_release(&w);
	return -EINVAL;
}

static const char *engine_option(const struct engine *e, const char *key,
				 size_t n)
{
	for (size_t i = 0; i < e->nopts; i++)
		if (strlen(e->opts[i].key) == n &&
		    !memcmp(e->opts[i].key, key, n))
			return e->opts[i].value;
	return NULL;
}

/* A variable the caller supplies to every action ({logdir}, ...). */
static bool is_common_var(const char *name, size_t n)
{
	for (size_t i = 1; i < ARRAY_SIZE(common_vars); i++)
		if (strlen(common_vars[i]) == n &&
		    !memcmp(common_vars[i], name, n))
			return true;
	return false;
}

/* Whether {name} may appear in action a (word 0 is the program). */
static bool placeholder_ok(const struct engine *e, enum engine_action a,
			   const char *name, size_t n, bool program)
{
	const char *var = action_info[a].var;

	if (n == 6 && !memcmp(name, "binary", 6))
		return true;
	if (engine_option(e, name, n))
		return true;
	if (program)
		return false;
	if (is_common_var(name, n))
		return true;
	return var && strlen(var) == n && !memcmp(var, name, n);
}

/* Call fn for each placeholder of a stored word; stops at fn's non-zero. */
static int for_each_placeholder(const char *w,
				int (*fn)(const char *name, size_t n,
					  void *arg), void *arg)
{
	while (*w) {
		if ((w[0] == '{' && w[1] == '{') ||
		    (w[0] == '}' && w[1] == '}')) {
			w += 2;
		} else if (w[0] == '{') {
			size_t n = strcspn(w + 1, "}");
			int r = fn(w + 1, n, arg);

			if (r)
				return r;
			w += n + 2;
		} else {
			w++;
		}
	}
	return 0;
}

struct check_ctx {
	const struct engine *e;
	enum engine_action a;
	bool program;
	const char *bad;
	size_t badlen;
	bool uses_var;
};

static int check_placeholder(const char *name, size_t n, void *arg)
{
	struct check_ctx *c = arg;
	const char *var = action_info[c->a].var;

	if (!placeholder_ok(c->e, c->a, name, n, c->program)) {
		c->bad = name;
		c->badlen = n;
		return 1;
	}
	if (var && strlen(var) == n && !memcmp(var, name, n))
		c->uses_var = true;
	return 0;
}

static int set_action(struct parse *ps, struct engine *e,
		      const struct entry *ent)
{
	enum engine_action a = (enum engine_action)ent->key->arg;
	struct action *act = &e->actions[a];
	const char *v = ent->value.p;
	const char *err = NULL;

	act->set = true;
	act->line = ent->line;
	if (str_has_prefix(v, "signal:")) {
		const char *name = v + strlen("signal:");

		if (!action_info[a].signal_ok)
			return parse_error(ps, ent->line, xasprintf(
				"'%s' must be a command, not a signal",
				ent->name));
		for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
			if (!strcmp(signals[i].name, name))
				act->sig = signals[i].sig;
		if (!act->sig)
			return parse_error(ps, ent->line, xasprintf(
				"unknown signal '%s' in '%s' (use STOP, CONT, "
				"TERM, KILL, HUP, USR1 or USR2)", name,
				ent->name));
		return 0;
	}
	if (split_template(v, &act->words, &err) < 0)
		return parse_error(ps, ent->line, xasprintf("%s in '%s'", err,
							    ent->name));
	if (!*act->words.v[0])
		return parse_error(ps, ent->line, xasprintf(
			"empty program name in '%s'", ent->name));
	if (!strchr(act->words.v[0], '{') && strchr(act->words.v[0], '/') &&
	    act->words.v[0][0] != '/')
		return parse_error(ps, ent->line, xasprintf(
			"program '%s' in '%s' must be a name or an absolute "
			"path", act->words.v[0], ent->name));
	return 0;
}

/* Placeholders can name options given later in the file: check at the end. */
static int check_action(struct parse *ps, struct engine *e,
			enum engine_action a)
{
	const struct action *act = &e->actions[a];
	struct check_ctx c = { e, a, false, NULL, 0, false };
	const char *var = action_info[a].var;

	if (!act->set || act->sig)
		return 0;
	for (size_t i = 0; i < act->words.n; i++) {
		c.program = i == 0;
		if (!for_each_placeholder(act->words.v[i],
					  check_placeholder, &c))
			continue;
		if (c.program && placeholder_ok(e, a, c.bad, c.badlen, false))
			return parse_error(ps, act->line, xasprintf(
				"the program in '%s' may not come from "
				"{%.*s}", action_info[a].name,
				(int)c.badlen, c.bad));
		return parse_error(ps, act->line, xasprintf(
			"unknown placeholder {%.*s} in '%s'", (int)c.badlen,
			c.bad, action_info[a].name));
	}
	if (var && !c.uses_var)
		return parse_error(ps, act->line, xasprintf(
			"'%s' does not use {%s}", action_info[a].name, var));
	return 0;
}

/*
 * detection_path may name several groups ("2, 3"): the first that took part
 * in the match is the path (one form for a file, another for an archive
 * member whose archive is the path).
 */
static int set_group(struct parse *ps, struct engine *e,
		     const struct entry *ent)
{
	const char *v = ent->value.p;
	size_t n = 0;
	int g;

	do {
		while (*v == ' ' || *v == ',')
			v++;
		/* detection_threat = 0: the threat comes from threat_context. */
		if (v[0] < '0' + !ent->key->arg || v[0] > '0' + GROUP_MAX ||
		    (v[1] && v[1] != ',' && v[1] != ' ') ||
		    (ent->key->arg && n) || n >= GROUP_MAX)
			return parse_error(ps, ent->line, xasprintf(
				"'%s' must be a group number from %d to %d%s",
				ent->name, !ent->key->arg, GROUP_MAX,
				ent->key->arg ? "" : " (or several, "
				"separated by commas)"));
		g = v[0] - '0';
		if (n == 0)
			e->group[ent->key->arg] = g;
		else
			e->path_alt[n - 1] = g;
		n++;
		v++;
		while (*v == ' ')
			v++;
	} while (*v == ',');
	if (*v)
		return parse_error(ps, ent->line, xasprintf(
			"'%s' must be a group number from %d to %d",
			ent->name, !ent->key->arg, GROUP_MAX));
	return 0;
}

static int set_binary(struct parse *ps, struct engine *e,
		      const struct entry *ent)
{
	const char *v = ent->value.p;

	if (!*v || (strchr(v, '/') && v[0] != '/'))
		return parse_error(ps, ent->line, xstrdup(
			"'binary' must be a program name or an absolute path"));
	e->binary = xstrdup(v);
	return 0;
}

static int set_option(struct engine *e, const struct entry *ent)
{
	e->opts = xreallocarray(e->opts, e->nopts + 1, sizeof(*e->opts));
	e->opts[e->nopts].key = xstrdup(ent->name);
	e->opts[e->nopts].value = xstrdup(ent->value.p);
	e->nopts++;
	return 0;
}

/* Turn one collected key into engine state. */
static int apply_entry(struct parse *ps, struct engine *e,
		       const struct entry *ent)
{
	const char *v = ent->value.p;

	if (!ent->key)
		return set_option(e, ent);
	switch (ent->key->kind) {
	case K_NAME:
		if (!is_engine_name(v))
			return parse_error(ps, ent->line, xasprintf(
				"bad engine name '%s' (use a-z, 0-9, _ and -, "
				"starting with a letter or digit)", v));
		e->name = xstrdup(v);
		return 0;
	case K_TEXT:
		if (ent->key->arg)
			e->vendor = xstrdup(v);
		else
			e->description = xstrdup(v);
		return 0;
	case K_BINARY:
		return set_binary(ps, e, ent);
	case K_FLAGS:
		return for_each_item(ps, ent, add_flag, e);
	case K_ACTION:
		return set_action(ps, e, ent);
	case K_CODES:
		return for_each_item(ps, ent, add_code, e);
	case K_REGEX:
		return set_regex(ps, e, ent);
	case K_GROUP:
		return set_group(ps, e, ent);
	case K_PREFIX:
		return for_each_item(ps, ent, add_prefix, e);
	case K_OPTNAME:
		if (ent->key->arg)
			e->external_option = xstrdup(v);
		else
			e->size_option = xstrdup(v);
		return 0;
	case K_LINE:
		strv_push(&e->daemon_config, v);
		return 0;
	case K_PATHS: {
		const char *err = NULL;

		if (split_template(v, &e->signatures, &err) < 0)
			return parse_error(ps, ent->line, xasprintf(
				"%s in '%s'", err, ent->name));
		return 0;
	}
	case K_SIGSETS:
		for (size_t i = 1; i < ARRAY_SIZE(engine_sigsets_names); i++)
			if (!strcmp(v, engine_sigsets_names[i]))
				e->sigsets = (enum engine_sigsets)i;
		if (e->sigsets == ENGINE_SIGSETS_NONE)
			return parse_error(ps, ent->line, xasprintf(
				"unknown signature_sets '%s' (known: clamav)",
				v));
		return 0;
	case K_STATUS:
		if (parse_int(v, &e->version_status) < 0 ||
		    e->version_status < 0 || e->version_status > 255)
			return parse_error(ps, ent->line, xasprintf(
				"'%s' must be an exit status from 0 to 255",
				ent->name));
		return 0;
	}
	return 0;
}

static const struct entry *find_entry(const struct parse *ps,
				      const char *name);

/* A key naming an option must name a declared one. */
static int check_optname(struct parse *ps, const struct engine *e,
			 const char *key, const char *opt)
{
	const struct entry *ent = find_entry(ps, key);

	if (opt && !engine_option(e, opt, strlen(opt)))
		return parse_error(ps, ent ? ent->line : 0, xasprintf(
			"'%s' names '%s', which is not in [options]", key,
			opt));
	return 0;
}

static int check_config_line(const char *name, size_t n, void *arg)
{
	struct check_ctx *c = arg;

	if (placeholder_ok(c->e, ENGINE_DAEMON, name, n, false))
		return 0;
	c->bad = name;
	c->badlen = n;
	return 1;
}

/* The [daemon] section: complete, and only in a managed-daemon engine. */
static int check_daemon(struct parse *ps, struct engine *e)
{
	struct check_ctx c = { e, ENGINE_DAEMON, false, NULL, 0, false };
	bool any = e->actions[ENGINE_DAEMON].set ||
		   e->actions[ENGINE_DAEMON_READY].set ||
		   e->daemon_config.n || e->external_option;
	int r;

	if (!any && !(e->flags & ENGINE_MANAGED_DAEMON))
		return 0;
	if (!(e->flags & ENGINE_MANAGED_DAEMON))
		return parse_error(ps, 0, xstrdup(
			"[daemon] needs 'flags = managed-daemon'"));
	if (!e->actions[ENGINE_DAEMON].set ||
	    !e->actions[ENGINE_DAEMON_READY].set)
		return parse_error(ps, 0, xstrdup(
			"managed-daemon needs 'start' and 'ready' in [daemon]"));
	for (size_t i = 0; i < e->daemon_config.n; i++)
		if (for_each_placeholder(e->daemon_config.v[i],
					 check_config_line, &c))
			return parse_error(ps, 0, xasprintf(
				"unknown placeholder {%.*s} in a 'config' "
				"line", (int)c.badlen, c.bad));
	r = check_optname(ps, e, "external_option", e->external_option);
	return r;
}

static const struct entry *find_entry(const struct parse *ps,
				      const char *name)
{
	for (size_t i = 0; i < ps->nents; i++)
		if (ps->ents[i].key && !strcmp(ps->ents[i].key->name, name))
			return &ps->ents[i];
	return NULL;
}

/* Checks that need the whole file: required keys, cross references. */
static int check_engine(struct parse *ps, struct engine *e)
{
	static const char *const required[] = { "name", "binary", "clean" };
	const struct entry *ent;
	const char *base;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(required); i++)
		if (!find_entry(ps, required[i]))
			return parse_error(ps, 0, xasprintf(
				"missing key '%s'", required[i]));
	if (!e->actions[ENGINE_SCAN].set && !e->actions[ENGINE_SCAN_LIST].set)
		return parse_error(ps, 0, xstrdup(
			"missing key 'scan' or 'scan_list'"));
	for (int a = 0; a < ENGINE_NACTIONS; a++) {
		r = check_action(ps, e, (enum engine_action)a);
		if (r < 0)
			return r;
	}

	if (!e->has_re[RE_DETECTION])
		return parse_error(ps, 0, xstrdup("missing key 'detection'"));
	for (int g = 0; g < 2; g++) {
		const char *key = g ? "detection_threat" : "detection_path";

		ent = find_entry(ps, key);
		if (!ent)
			return parse_error(ps, 0, xasprintf(
				"missing key '%s'", key));
		for (int k = -1; k < (g ? 0 : GROUP_MAX); k++) {
			int n = k < 0 ? e->group[g] : e->path_alt[k];

			if ((size_t)n > e->re[RE_DETECTION].re_nsub)
				return parse_error(ps, ent->line, xasprintf(
					"%s = %d, but 'detection' has %zu "
					"group%s", key, n,
					e->re[RE_DETECTION].re_nsub,
					e->re[RE_DETECTION].re_nsub == 1 ?
					"" : "s"));
		}
	}
	ent = find_entry(ps, "summary_infected");
	if (ent && e->re[RE_SUMMARY].re_nsub < 1)
		return parse_error(ps, ent->line, xstrdup(
			"'summary_infected' needs a group for the count"));
	ent = find_entry(ps, "progress");
	if (ent && e->re[RE_PROGRESS].re_nsub < 1)
		return parse_error(ps, ent->line, xstrdup(
			"'progress' needs a group for the file's path"));
	ent = find_entry(ps, "threat_context");
	if (ent && e->re[RE_CONTEXT].re_nsub < 1)
		return parse_error(ps, ent->line, xstrdup(
			"'threat_context' needs a group for the threat"));
	if (e->group[1] == 0 && !ent)
		return parse_error(ps, find_entry(ps, "detection_threat")->line,
				   xstrdup("detection_threat = 0 needs "
					   "'threat_context'"));
	if (e->group[0] == 0)
		return parse_error(ps, find_entry(ps, "detection_path")->line,
				   xstrdup("detection_path must be 1 or more"));
	r = check_optname(ps, e, "size_limit_option", e->size_option);
	if (r < 0)
		return r;
	for (size_t i = 0; i < e->signatures.n; i++) {
		struct check_ctx c = { e, ENGINE_DAEMON, false, NULL, 0,
				       false };

		if (for_each_placeholder(e->signatures.v[i],
					 check_config_line, &c))
			return parse_error(ps, find_entry(ps,
				"signatures")->line, xasprintf(
				"unknown placeholder {%.*s} in 'signatures'",
				(int)c.badlen, c.bad));
	}
	if (e->sigsets && !engine_signature_option(e))
		return parse_error(ps, find_entry(ps, "signature_sets")->line,
				   xstrdup("signature_sets needs 'signatures' "
					   "to be one option, as in "
					   "'signatures = {database}'"));
	r = check_daemon(ps, e);
	if (r < 0)
		return r;

	ent = find_entry(ps, "name");
	base = strrchr(ps->path, '/');
	base = base ? base + 1 : ps->path;
	if (strlen(base) != strlen(e->name) + 4 ||
	    strncmp(base, e->name, strlen(e->name)) ||
	    strcmp(base + strlen(e->name), ".ini"))
		return parse_error(ps, ent->line, xasprintf(
			"name '%s' does not match the file name '%s'",
			e->name, base));
	return 0;
}

/* Read a descriptor from an open file, refusing what root must not trust. */
static int read_descriptor(const char *path, int fd, struct buf *out,
			   char **cause)
{
	struct stat st;
	char chunk[8192];

	if (fstat(fd, &st) < 0) {
		int err = errno;

		*cause = xasprintf("%s: %s", path, strerror(err));
		return -err;
	}
	if (!S_ISREG(st.st_mode)) {
		*cause = xasprintf("%s: not a regular file", path);
		return -EINVAL;
	}
	if (geteuid() == 0 && st.st_uid != 0) {
		*cause = xasprintf("%s: refusing descriptor not owned by root",
				   path);
		return -EPERM;
	}
	if (geteuid() == 0 && (st.st_mode & (S_IWGRP | S_IWOTH))) {
		*cause = xasprintf("%s: refusing descriptor writable by group "
				   "or other", path);
		return -EPERM;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;

			*cause = xasprintf("%s: %s", path, strerror(err));
			return -err;
		}
		if (n == 0)
			break;
		if (out->len + (size_t)n > DESCRIPTOR_MAX) {
			*cause = xasprintf("%s: descriptor larger than %d "
					   "bytes", path, DESCRIPTOR_MAX);
			return -EFBIG;
		}
		buf_add(out, chunk, (size_t)n);
	}
	if (!out->p)
		buf_add(out, "", 0);
	return 0;
}

int engine_load(const char *path, struct engine **out, char **cause)
{
	struct parse ps = { 0 };
	struct buf text = { 0 };
	struct engine *e = NULL;
	char *why = NULL;
	int fd, r;

	*out = NULL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
		  O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (errno == ELOOP)
			why = xasprintf("%s: refusing a symbolic link", path);
		else
			why = xasprintf("%s: %s", path, strerror(errno));
		goto done;
	}
	r = read_descriptor(path, fd, &text, &why);
	close(fd);
	/* What root reads as a descriptor: its directories too. */
	if (r == 0)
		r = trust_check(path, &why);
	if (r < 0)
		goto done;

	ps.path = path;
	ps.p = text.p;
	ps.end = text.p + text.len;
	r = ini_parse_stream(read_line, &ps, handle_key, &ps);
	if (r > 0 && (!ps.failed || (unsigned)r < ps.fail_line)) {
		ps.failed = false;
		free(ps.cause);
		ps.cause = NULL;
		parse_error(&ps, (unsigned)r, xstrdup(
			"syntax error (expected [section] or key = value)"));
	} else if (r < 0 && !ps.failed) {
		parse_error(&ps, 0, xstrdup("out of memory in inih"));
	}
	if (ps.failed) {
		r = -EINVAL;
		goto done;
	}

	e = xcalloc(1, sizeof(*e));
	e->path = xstrdup(path);
	memset(e->verdict, -1, sizeof(e->verdict));
	for (size_t i = 0; i < ps.nents; i++) {
		r = apply_entry(&ps, e, &ps.ents[i]);
		if (r < 0)
			goto done;
	}
	r = check_engine(&ps, e);
	if (r < 0)
		goto done;
	*out = e;
	e = NULL;
done:
	if (ps.failed) {
		why = ps.cause;
		ps.cause = NULL;
	}
	if (r < 0 && cause) {
		*cause = why;
		why = NULL;
	}
	free(why);
	engine_free(e);
	parse_release(&ps);
	buf_release(&text);
	return r < 0 ? r : 0;
}

int engine_find(const char *const *dirs, size_t ndirs, const char *name,
		struct engine **out, char **cause)
{
	struct buf list = { 0 };
	struct stat st;

	*out = NULL;
	if (!is_engine_name(name)) {
		if (cause)
			*cause = xasprintf("bad engine name '%s'", name);
		return -EINVAL;
	}
	for (size_t i = ndirs; i-- > 0;) {
		char *path = xasprintf("%s/%s.ini", dirs[i], name);
		int r;

		if (lstat(path, &st) < 0 && (errno == ENOENT ||
					     errno == ENOTDIR)) {
			free(path);
			continue;
		}
		r = engine_load(path, out, cause);
		free(path);
		return r;
	}
	for (size_t i = 0; i < ndirs; i++) {
		if (i)
			buf_addstr(&list, ":");
		buf_addstr(&list, dirs[i]);
	}
	if (cause)
		*cause = xasprintf("no engine '%s' in %s", name,
				   list.p ? list.p : "(no directories)");
	buf_release(&list);
	return -ENOENT;
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	free(e->path);
	free(e->name);
	free(e->description);
	free(e->vendor);
	free(e->binary);
	for (size_t i = 0; i < e->nopts; i++) {
		free(e->opts[i].key);
		free(e->opts[i].value);
	}
	free(e->opts);
	for (size_t i = 0; i < ENGINE_NACTIONS; i++)
		strv_release(&e->actions[i].words);
	for (size_t i = 0; i < RE_NSLOTS; i++)
		if (e->has_re[i])
			regfree(&e->re[i]);
	strv_release(&e->incomplete);
	strv_release(&e->daemon_config);
	strv_release(&e->signatures);
	free(e->size_option);
	free(e->external_option);
	free(e);
}

const char *engine_name(const struct engine *e)
{
	return e->name;
}

const char *engine_vendor(const struct engine *e)
{
	return e->vendor ? e->vendor : "";
}

const char *engine_description(const struct engine *e)
{
	return e->description ? e->description : "";
}

const char *engine_path(const struct engine *e)
{
	return e->path;
}

bool engine_has_action(const struct engine *e, enum engine_action a)
{
	return (unsigned)a < ENGINE_NACTIONS && e->actions[a].set;
}

int engine_set_option(struct engine *e, const char *key, const char *value,
		      char **cause)
{
	for (size_t i = 0; i < e->nopts; i++) {
		if (!strcmp(e->opts[i].key, key)) {
			free(e->opts[i].value);
			e->opts[i].value = xstrdup(value);
			return 0;
		}
	}
	if (cause)
		*cause = xasprintf("engine '%s' has no option '%s'", e->name,
				   key);
	return -ENOENT;
}

/*
 * Resolve a program name through PATH; an absolute path is kept.  As root
 * the program must be one only root can change (proc_find).
 */
static int resolve_program(const char *prog, char **path, char **cause)
{
	if (strchr(prog, '/') && prog[0] != '/') {
		*cause = xasprintf("program '%s' must be a name or an absolute "
				   "path", prog);
		return -EINVAL;
	}
	return proc_find(prog, path, cause);
}

int engine_resolve_binary(const struct engine *e, char **path, char **cause)
{
	return resolve_program(e->binary, path, cause);
}

struct expand_ctx {
	const struct engine *e;
	enum engine_action a;
	const char *const *vars;
	char *binpath;		/* the engine's binary, resolved on first use */
	char *cause;
};

static const char *lookup_var(const char *const *vars, const char *name,
			      size_t n)
{
	for (size_t i = 0; vars && vars[i] && vars[i + 1]; i += 2)
		if (strlen(vars[i]) == n && !memcmp(vars[i], name, n))
			return vars[i + 1];
	return NULL;
}

/* The value of {name} in action x->a. */
static int placeholder_value(struct expand_ctx *x, const char *name,
			     size_t n, const char **value)
{
	const char *var = action_info[x->a].var;
	int r;

	if (n == 6 && !memcmp(name, "binary", 6)) {
		if (!x->binpath) {
			r = resolve_program(x->e->binary, &x->binpath,
					    &x->cause);
			if (r < 0)
				return r;
		}
		*value = x->binpath;
		return 0;
	}
	if (is_common_var(name, n) ||
	    (var && strlen(var) == n && !memcmp(var, name, n))) {
		*value = lookup_var(x->vars, name, n);
		if (!*value) {
			x->cause = xasprintf("action '%s' of engine '%s' needs "
					     "a value for {%.*s}",
					     action_info[x->a].name,
					     x->e->name, (int)n, name);
			return -EINVAL;
		}
		return 0;
	}
	*value = engine_option(x->e, name, n);
	if (!*value) {	/* checked at load time; kept for safety */
		x->cause = xasprintf("engine '%s' has no option '%.*s'",
				     x->e->name, (int)n, name);
		return -EINVAL;
	}
	return 0;
}

/* Substitute one stored template word; the result is one argv word. */
static int expand_word(struct expand_ctx *x, const char *w, char **out)
{
	struct buf b = { 0 };
	const char *v;
	int r;

	while (*w) {
		if ((w[0] == '{' && w[1] == '{') ||
		    (w[0] == '}' && w[1] == '}')) {
			buf_add(&b, w, 1);
			w += 2;
		} else if (w[0] == '{') {
			size_t n = strcspn(w + 1, "}");

			r = placeholder_value(x, w + 1, n, &v);
			if (r < 0) {
				buf_release(&b);
				return r;
			}
			buf_addstr(&b, v);
			w += n + 2;
		} else {
			size_t n = strcspn(w, "{}");

			buf_add(&b, w, n ? n : 1);
			w += n ? n : 1;
		}
	}
	*out = b.p ? b.p : xstrdup("");
	return 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int engine_argv(const struct engine *e, enum engine_action a,
		const char *const *vars, struct strv *argv, char **cause)
{
	struct expand_ctx x = { e, a, vars, NULL, NULL };
	struct strv out = { 0 };
	const struct action *act;
	char *word = NULL, *prog;
	int r;

	if ((unsigned)a >= ENGINE_NACTIONS) {
		x.cause = xasprintf("no such action %d", (int)a);
		r = -EINVAL;
		goto done;
	}
	act = &e->actions[a];
	if (!act->set) {
		x.cause = xasprintf("engine '%s' has no action '%s'", e->name,
				    action_info[a].name);
		r = -ENOENT;
		goto done;
	}
	if (act->sig) {
		x.cause = xasprintf("action '%s' of engine '%s' is a signal, "
				    "not a command", action_info[a].name,
				    e->name);
		r = -EOPNOTSUPP;
		goto done;
	}
	for (size_t i = 0; i < act->words.n; i++) {
		r = expand_word(&x, act->words.v[i], &word);
		if (r < 0)
			goto done;
		if (i == 0) {
			const char *w0 = act->words.v[0];

			if (!strcmp(w0, "{binary}") ||
			    !strcmp(word, e->binary) ||
			    !strcmp(word, base_name(e->binary))) {
				r = placeholder_value(&x, "binary", 6, &w0);
				if (r < 0)
					goto done;
				prog = xstrdup(w0);
			} else {
				r = resolve_program(word, &prog, &x.cause);
				if (r < 0)
					goto done;
			}
			free(word);
			word = prog;
		}
		strv_push_take(&out, word);
		word = NULL;
	}
	for (size_t i = 0; i < out.n; i++) {
		strv_push_take(argv, out.v[i]);
		out.v[i] = NULL;
	}
	r = 0;
done:
	free(word);
	strv_release(&out);
	free(x.binpath);
	if (r < 0 && cause)
		*cause = x.cause;
	else
		free(x.cause);
	return r;
}

bool engine_has_flag(const struct engine *e, enum engine_flag f)
{
	return (e->flags & (unsigned)f) != 0;
}

int engine_action_signal(const struct engine *e, enum engine_action a)
{
	return (unsigned)a < ENGINE_NACTIONS && e->actions[a].set ?
		e->actions[a].sig : 0;
}

const char *engine_binary(const struct engine *e)
{
	return e->binary;
}

int engine_size_limit(const struct engine *e, uint64_t *bytes, char **cause)
{
	const char *v = e->size_option ?
		engine_option(e, e->size_option, strlen(e->size_option)) : NULL;
	uint64_t n, mult = 1;
	char *digits;
	size_t len;
	int r;

	*bytes = 0;
	if (!v || !*v)
		return 0;
	len = strlen(v);
	switch (v[len - 1]) {
	case 'k': case 'K': mult = 1ULL << 10; len--; break;
	case 'm': case 'M': mult = 1ULL << 20; len--; break;
	case 'g': case 'G': mult = 1ULL << 30; len--; break;
	}
	digits = xstrndup(v, len);
	r = parse_u64(digits, &n);
	free(digits);
	if (r < 0 || n > UINT64_MAX / mult) {
		*cause = xasprintf("option '%s' of engine '%s' is not a size: "
				   "'%s'", e->size_option, e->name, v);
		return -EINVAL;
	}
	*bytes = n * mult;
	return 0;
}

const char *engine_external_daemon(const struct engine *e)
{
	const char *v = e->external_option ? engine_option(e,
		e->external_option, strlen(e->external_option)) : NULL;

	return v && *v ? v : NULL;
}

bool engine_manages_daemon(const struct engine *e)
{
	return (e->flags & ENGINE_MANAGED_DAEMON) &&
	       !engine_external_daemon(e);
}

bool engine_daemon_listens(const struct engine *e)
{
	const struct strv *start = &e->actions[ENGINE_DAEMON].words;

	for (size_t i = 0; i < e->daemon_config.n; i++)
		if (strstr(e->daemon_config.v[i], "{daemon_socket}"))
			return true;
	for (size_t i = 0; i < start->n; i++)
		if (strstr(start->v[i], "{daemon_socket}"))
			return true;
	return false;
}

int engine_daemon_config(const struct engine *e, const char *const *vars,
			 struct buf *out, char **cause)
{
	struct expand_ctx x = { e, ENGINE_DAEMON, vars, NULL, NULL };
	int r = 0;

	for (size_t i = 0; i < e->daemon_config.n && r == 0; i++) {
		char *line = NULL;

		r = expand_word(&x, e->daemon_config.v[i], &line);
		if (r == 0) {
			buf_addstr(out, line);
			buf_addstr(out, "\n");
		}
		free(line);
	}
	free(x.binpath);
	if (r < 0)
		*cause = x.cause;
	else
		free(x.cause);
	return r;
}

int engine_version_status(const struct engine *e)
{
	return e->version_status;
}

int engine_signature_paths(const struct engine *e, struct strv *paths,
			   char **cause)
{
	struct expand_ctx x = { e, ENGINE_DAEMON, NULL, NULL, NULL };
	int r = 0;

	for (size_t i = 0; i < e->signatures.n && r == 0; i++) {
		char *w = NULL;

		r = expand_word(&x, e->signatures.v[i], &w);
		if (r == 0)
			strv_push_take(paths, w);
	}
	free(x.binpath);
	if (r < 0)
		*cause = x.cause;
	else
		free(x.cause);
	return r;
}

enum engine_sigsets engine_signature_sets(const struct engine *e)
{
	return e->sigsets;
}

const char *engine_signature_option(const struct engine *e)
{
	const char *w;
	size_t n;

	if (e->signatures.n != 1)
		return NULL;
	w = e->signatures.v[0];
	n = strlen(w);
	/* "{name}": one placeholder (literal braces are doubled). */
	if (n < 3 || w[0] != '{' || w[n - 1] != '}' ||
	    strcspn(w + 1, "{}") != n - 2 || !engine_option(e, w + 1, n - 2))
		return NULL;
	for (size_t i = 0; i < e->nopts; i++)
		if (strlen(e->opts[i].key) == n - 2 &&
		    !memcmp(e->opts[i].key, w + 1, n - 2))
			return e->opts[i].key;
	return NULL;
}

int engine_clone(const struct engine *e, struct engine **out, char **cause)
{
	int r = engine_load(e->path, out, cause);

	for (size_t i = 0; r == 0 && i < e->nopts; i++)
		r = engine_set_option(*out, e->opts[i].key, e->opts[i].value,
				      cause);
	if (r < 0) {
		engine_free(*out);
		*out = NULL;
	}
	return r;
}

void engine_describe_options(const struct engine *e, struct buf *out)
{
	for (size_t i = 0; i < e->nopts; i++)
		buf_addf(out, "%s=%s\n", e->opts[i].key, e->opts[i].value);
}
