/* recall.c - never do work twice: results, places, templates, verdicts */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "proc.h"
#include "recall.h"
#include "util.h"

struct recall_verdicts {
	struct cache *cache;
	char *engine;
	char *fp;
	/* Content being scanned right now, one set per run. */
	pthread_mutex_t claims_lock;
	pthread_cond_t claims_released;
	struct recall_claim *claims;
};

/* About to wait: let the job go on with other work meanwhile. */
static bool park_leave(const struct recall_park *park)
{
	if (!park || !park->leave)
		return false;
	park->leave(park->arg);
	return true;
}

/* Done waiting: back to work (if park_leave() said so). */
static void park_enter(const struct recall_park *park, bool left)
{
	if (left)
		park->enter(park->arg);
}

char *recall_fingerprint(struct cache *c, const char *ids)
{
	struct buf memo = { 0 };

	if (cache_memo_get(c, "fingerprint", ids, &memo) < 0)
		return NULL;
	return memo.p;
}

void recall_fingerprint_keep(struct cache *c, const char *ids,
			     const char *fp)
{
	cache_memo_put(c, "fingerprint", ids, fp, strlen(fp));
}

struct recall_verdicts *recall_verdicts_open(struct cache *c,
					     const char *engine,
					     const char *fp)
{
	struct recall_verdicts *v = xcalloc(1, sizeof(*v));

	v->cache = c;
	v->engine = xstrdup(engine);
	v->fp = xstrdup(fp);
	pthread_mutex_init(&v->claims_lock, NULL);
	pthread_cond_init(&v->claims_released, NULL);
	return v;
}

void recall_verdicts_close(struct recall_verdicts *v)
{
	if (!v)
		return;
	free(v->engine);
	free(v->fp);
	pthread_mutex_destroy(&v->claims_lock);
	pthread_cond_destroy(&v->claims_released);
	free(v);
}

bool recall_verdicts_any(struct recall_verdicts *v)
{
	return cache_has_verdicts(v->cache, v->engine, v->fp);
}

size_t recall_verdicts_lookup(struct recall_verdicts *v, const struct walk *w,
			      bool *known, char **threat)
{
	const unsigned char **sha = xcalloc(w->nfiles + 1, sizeof(*sha));
	size_t n = 0, *idx = xcalloc(w->nfiles + 1, sizeof(*idx)), got = 0;
	enum cache_verdict *cv = xcalloc(w->nfiles + 1, sizeof(*cv));
	char **t = xcalloc(w->nfiles + 1, sizeof(*t));

	for (size_t i = 0; i < w->nfiles; i++)
		if (w->files[i].hashed && !known[i]) {
			sha[n] = w->files[i].sha256;
			idx[n++] = i;
		}
	cache_get_many(v->cache, v->engine, v->fp, sha, n, cv, t);
	for (size_t k = 0; k < n; k++) {
		switch (cv[k]) {
		case CACHE_INFECTED:
			threat[idx[k]] = t[k];
			t[k] = NULL;
			/* fall through */
		case CACHE_CLEAN:
			known[idx[k]] = true;
			got++;
			break;
		case CACHE_UNKNOWN:
			break;
		}
		free(t[k]);
	}
	free(sha);
	free(idx);
	free(cv);
	free(t);
	return got;
}

void recall_verdicts_keep(struct recall_verdicts *v, const struct walk *w,
			  const bool *keep, const char *const *threat)
{
	struct cache_entry *e = xcalloc(w->nfiles + 1, sizeof(*e));
	size_t n = 0;

	for (size_t i = 0; i < w->nfiles; i++) {
		if (!keep[i])
			continue;
		memcpy(e[n].sha256, w->files[i].sha256, 32);
		e[n].verdict = threat[i] ? CACHE_INFECTED : CACHE_CLEAN;
		e[n].threat = threat[i];
		n++;
	}
	cache_store(v->cache, v->engine, v->fp, e, n);
	free(e);
}

/* A set of contents (sorted SHA-256) one run is scanning right now. */
struct recall_claim {
	unsigned char (*sha)[32];
	size_t n;
	struct recall_claim *next;
};

static int sha_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/* Is another run scanning this content now?  Under claims_lock. */
static bool claimed(const struct recall_verdicts *v, const unsigned char *sha)
{
	for (const struct recall_claim *c = v->claims; c; c = c->next)
		if (bsearch(sha, c->sha, c->n, sizeof(*c->sha), sha_cmp))
			return true;
	return false;
}

struct by_sha {
	const unsigned char *sha;
	size_t i;
};

static int by_sha_cmp(const void *a, const void *b)
{
	const struct by_sha *x = a, *y = b;
	int c = memcmp(x->sha, y->sha, 32);

	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/*
 * Content that an earlier file of the same walk holds too (btrfs
 * snapshots hold the same files many times over) is scanned once: the
 * other copies wait for its verdict like content another run claimed.
 */
static void wait_for_copies(const struct walk *w, bool *todo, bool *wait)
{
	struct by_sha *v = xcalloc(w->nfiles + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < w->nfiles; i++)
		if (todo[i] && w->files[i].hashed)
			v[n++] = (struct by_sha){ w->files[i].sha256, i };
	qsort(v, n, sizeof(*v), by_sha_cmp);
	for (size_t k = 1; k < n; k++)
		if (!memcmp(v[k].sha, v[k - 1].sha, 32)) {
			todo[v[k].i] = false;
			wait[v[k].i] = true;
		}
	free(v);
}

struct recall_claim *recall_verdicts_claim(struct recall_verdicts *v,
					   const struct walk *w,
					   const bool *known, bool *todo,
					   bool *wait)
{
	struct recall_claim *mine;

	for (size_t i = 0; i < w->nfiles; i++) {
		todo[i] = !known[i];
		wait[i] = false;
	}
	if (!v)
		return NULL;
	mine = xcalloc(1, sizeof(*mine));
	mine->sha = xcalloc(w->nfiles + 1, sizeof(*mine->sha));
	pthread_mutex_lock(&v->claims_lock);
	for (size_t i = 0; i < w->nfiles; i++) {
		const struct walk_file *f = &w->files[i];

		if (known[i] || !f->hashed)
			continue;
		if (claimed(v, f->sha256)) {
			todo[i] = false;
			wait[i] = true;
			continue;
		}
		memcpy(mine->sha[mine->n++], f->sha256, 32);
	}
	wait_for_copies(w, todo, wait);
	qsort(mine->sha, mine->n, sizeof(*mine->sha), sha_cmp);
	mine->next = v->claims;
	v->claims = mine;
	pthread_mutex_unlock(&v->claims_lock);
	return mine;
}

void recall_verdicts_unclaim(struct recall_verdicts *v,
			     struct recall_claim *mine)
{
	if (!mine)
		return;
	pthread_mutex_lock(&v->claims_lock);
	for (struct recall_claim **p = &v->claims; *p; p = &(*p)->next)
		if (*p == mine) {
			*p = mine->next;
			break;
		}
	pthread_cond_broadcast(&v->claims_released);
	pthread_mutex_unlock(&v->claims_lock);
	free(mine->sha);
	free(mine);
}

int recall_verdicts_wait(struct recall_verdicts *v, const struct walk *w,
			 const bool *wait, double deadline,
			 const struct recall_park *park)
{
	bool asked = false, left = false;
	int r = 0;

	if (!v)
		return 0;
	pthread_mutex_lock(&v->claims_lock);
	for (size_t i = 0; i < w->nfiles; i++) {
		if (!wait[i] || !claimed(v, w->files[i].sha256))
			continue;
		if (proc_stop_requested()) {
			r = -ECANCELED;
			break;
		}
		if (deadline && time_mono() >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		if (!asked) {
			/* Something to wait for: others may go on meanwhile. */
			asked = true;
			pthread_mutex_unlock(&v->claims_lock);
			left = park_leave(park);
			pthread_mutex_lock(&v->claims_lock);
			i--;	/* look at this one again */
			continue;
		}
		cond_wait_ms(&v->claims_released, &v->claims_lock, 200);
		i--;	/* look at this one again */
	}
	pthread_mutex_unlock(&v->claims_lock);
	park_enter(park, left);
	return r;
}
