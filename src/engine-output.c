/* engine-output.c - reading an engine's output: detections, errors, counts */
#include "config.h"

#include <locale.h>
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "engine-int.h"
#include "engine-output.h"
#include "util.h"

/* Match in the C locale, as regcomp_bytes() (engine.c) compiled. */
static int regexec_bytes(const regex_t *re, const char *s, size_t n,
			 regmatch_t *m)
{
	locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	locale_t old = c ? uselocale(c) : (locale_t)0;
	int r = regexec(re, s, n, m, 0);

	if (c) {
		uselocale(old);
		freelocale(c);
	}
	return r;
}

enum engine_verdict engine_classify_exit(const struct engine *e, int status)
{
	int idx;

	if (WIFEXITED(status))
		idx = WEXITSTATUS(status);
	else if (WIFSIGNALED(status) && WTERMSIG(status) <= SIG_MAX)
		idx = 256 + WTERMSIG(status);
	else
		return ENGINE_ERROR;
	return e->verdict[idx] < 0 ? ENGINE_ERROR :
				     (enum engine_verdict)e->verdict[idx];
}

bool engine_match_detection(const struct engine *e, const char *line,
			    char **path, char **threat)
{
	regmatch_t m[GROUP_MAX + 1];
	const regmatch_t *p = &m[e->group[0]], *t = &m[e->group[1]];

	if (!e->has_re[RE_DETECTION] ||
	    regexec_bytes(&e->re[RE_DETECTION], line, GROUP_MAX + 1, m) != 0)
		return false;
	/* The first path group that took part in the match. */
	for (int k = 0; p->rm_so < 0 && k < GROUP_MAX && e->path_alt[k]; k++)
		p = &m[e->path_alt[k]];
	/*
	 * A group that took no part in the match: no detection, except a
	 * threat group where threat_context can name the threat instead.
	 */
	if (p->rm_so < 0 || (t->rm_so < 0 && !e->has_re[RE_CONTEXT]))
		return false;
	*path = xstrndup(line + p->rm_so, (size_t)(p->rm_eo - p->rm_so));
	/* No threat group: the caller takes the threat from context. */
	*threat = e->group[1] == 0 || t->rm_so < 0 ? NULL :
		xstrndup(line + t->rm_so, (size_t)(t->rm_eo - t->rm_so));
	return true;
}

bool engine_threat_is_incomplete(const struct engine *e, const char *threat)
{
	for (size_t i = 0; i < e->incomplete.n; i++)
		if (str_has_prefix(threat, e->incomplete.v[i]))
			return true;
	return false;
}

bool engine_match_error(const struct engine *e, const char *line)
{
	return e->has_re[RE_ERROR] &&
	       regexec_bytes(&e->re[RE_ERROR], line, 0, NULL) == 0;
}

bool engine_match_summary(const struct engine *e, const char *line,
			  unsigned long *count)
{
	regmatch_t m[2];
	uint64_t v;
	char *num;
	int r;

	if (!e->has_re[RE_SUMMARY] ||
	    regexec_bytes(&e->re[RE_SUMMARY], line, 2, m) != 0 ||
	    m[1].rm_so < 0)
		return false;
	num = xstrndup(line + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
	r = parse_u64(num, &v);
	free(num);
	if (r < 0)
		return false;
	*count = (unsigned long)v;
	return true;
}

bool engine_needs_summary(const struct engine *e)
{
	if (!e->has_re[RE_SUMMARY])
		return false;
	for (size_t i = 0; i < NCODES; i++)
		if (e->verdict[i] == ENGINE_INFECTED)
			return false;
	return true;
}

bool engine_match_context(const struct engine *e, const char *line,
			  char **threat)
{
	regmatch_t m[2];

	if (!e->has_re[RE_CONTEXT] ||
	    regexec_bytes(&e->re[RE_CONTEXT], line, 2, m) != 0 ||
	    m[1].rm_so < 0)
		return false;
	*threat = xstrndup(line + m[1].rm_so,
			   (size_t)(m[1].rm_eo - m[1].rm_so));
	return true;
}
