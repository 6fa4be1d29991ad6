/* recall.c - never do work twice: results, places, templates, verdicts */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "image.h"
#include "json.h"
#include "proc.h"
#include "recall.h"
#include "util.h"

struct recall {
	struct cache *cache;	/* NULL: nothing is recalled */
	/* Templates (bottom chain files) being walked first, and walked. */
	pthread_mutex_t lock;
	pthread_cond_t led_cond;
	struct strv leading, led;
};

struct recall_verdicts {
	struct cache *cache;
	char *engine;
	char *fp;
	/* Content being scanned right now, one set per run. */
	pthread_mutex_t claims_lock;
	pthread_cond_t claims_released;
	struct recall_claim *claims;
	bool kept;		/* made the engine's last fingerprint */
};

struct recall *recall_open(struct cache *c)
{
	struct recall *r = xcalloc(1, sizeof(*r));

	r->cache = c;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->led_cond, NULL);
	return r;
}

void recall_close(struct recall *r)
{
	if (!r)
		return;
	cache_close(r->cache);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->led_cond);
	strv_release(&r->leading);
	strv_release(&r->led);
	free(r);
}

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

/*
 * A target whose image files are exactly as they were when every one of
 * its file systems was fully scanned, by these engines with these
 * signatures and this avbatch, needs no attaching, mounting or walking:
 * its result is recalled from the cache.  The key says what was asked
 * (avbatch, image, declared format, engines and their fingerprints); the
 * memo holds the image files' identities then, and the result.
 */
char *recall_target_key(const struct recall *r, const char *image,
			const char *format,
			struct recall_verdicts *const *engines, size_t n,
			const struct strv *exclude, bool snapshots)
{
	struct buf b = { 0 };
	struct stat st;
	char *real;

	if (!r->cache)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!engines[i])
			return NULL;
	real = realpath(image, NULL);
	if (!real)
		return NULL;
	buf_addf(&b, "%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
	/* A rebuilt avbatch may mount or walk differently. */
	if (stat("/proc/self/exe", &st) == 0)
		file_identity(&st, &b);
	buf_addf(&b, "%s\n%s\n", real, format ? format : "");
	for (size_t i = 0; i < n; i++)
		buf_addf(&b, "%s %s\n", engines[i]->engine, engines[i]->fp);
	for (size_t i = 0; i < exclude->n; i++)
		buf_addf(&b, "exclude %s\n", exclude->v[i]);
	if (snapshots)
		buf_addf(&b, "snapshots\n");
	free(real);
	return b.p;
}

int recall_chain_identity(const char *top, const struct strv *backing,
			  struct buf *b)
{
	int r = 0;

	for (size_t i = 0; i <= backing->n; i++) {
		const char *p = i ? backing->v[i - 1] : top;

		buf_addf(b, "%s\n", p);
		if (path_identity(p, b) < 0)
			r = -EAGAIN;
	}
	return r;
}

int recall_target_lookup(struct recall *r, const char *key,
			 struct json_object **result)
{
	struct buf memo = { 0 }, now = { 0 };
	struct json_object *o = NULL, *res, *backing;
	struct strv chain = { 0 };
	const char *top, *ids;
	int ret = -ENOENT;

	if (cache_memo_get(r->cache, "target", key, &memo) < 0)
		goto done;
	o = json_parse(memo.p, memo.len, NULL);
	res = json_get(o, "result");
	backing = json_get(res, "backing");
	top = json_get_str(res, "image");
	ids = json_get_str(o, "identity");
	if (!top || !ids || !backing ||
	    !json_object_is_type(backing, json_type_array))
		goto done;
	for (size_t i = 0; i < json_object_array_length(backing); i++) {
		struct json_object *p = json_object_array_get_idx(backing, i);

		if (!json_object_is_type(p, json_type_string))
			goto done;
		strv_push(&chain, json_object_get_string(p));
	}
	recall_chain_identity(top, &chain, &now);
	if (!now.p || strcmp(now.p, ids))
		goto done;
	*result = json_object_get(res);
	ret = 0;
done:
	json_object_put(o);
	strv_release(&chain);
	buf_release(&memo);
	buf_release(&now);
	return ret;
}

void recall_target_store(struct recall *r, const char *key, const char *ids,
			 const char *top, const struct strv *backing,
			 struct json_object *result)
{
	struct json_object *o;
	struct buf now = { 0 };
	const char *text;

	if (recall_chain_identity(top, backing, &now) < 0 ||
	    strcmp(now.p, ids)) {
		json_object_put(result);
		buf_release(&now);
		return;
	}
	o = json_object_new_object();
	json_put_str(o, "identity", ids);
	json_put_obj(o, "result", result);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	cache_memo_put(r->cache, "target", key, text, strlen(text));
	json_object_put(o);
	buf_release(&now);
}

/*
 * File contents known by where they lie in the image chain: a clone's file
 * whose extents lie in its template's unchanged backing file has the
 * content the template's file there had, and is not read again.
 */
static char *place_where(void *arg, const struct walk_extent *x, size_t n,
			 uint64_t size)
{
	const struct recall_place *pl = arg;
	struct buf b = { 0 };

	buf_addf(&b, "%llu", (unsigned long long)size);
	for (size_t i = 0; i < n; i++) {
		buf_addf(&b, " %llu:", (unsigned long long)x[i].logical);
		if (image_map_where(pl->map, pl->base + x[i].physical,
				    x[i].length, &b) < 0) {
			buf_release(&b);
			return NULL;
		}
	}
	return b.p;
}

static bool place_recall(void *arg, const char *where, unsigned char sha[32])
{
	const struct recall_place *pl = arg;
	struct buf v = { 0 };
	bool ok = cache_memo_get(pl->r->cache, "content", where, &v) == 0 &&
		  v.len == 32;

	if (ok)
		memcpy(sha, v.p, 32);
	buf_release(&v);
	return ok;
}

void recall_place_init(struct recall *r, const struct image_map *map,
		       uint64_t base, struct recall_place *pl)
{
	*pl = (struct recall_place){ .r = r, .map = map, .base = base };
	pl->loc = (struct walk_locator){ .where = place_where,
					 .recall = place_recall, .arg = pl };
}

void recall_place_remember(struct recall *r, const struct walk *w)
{
	struct cache_memo *m = xcalloc(w->nfiles + 1, sizeof(*m));
	size_t n = 0;

	for (size_t i = 0; i < w->nfiles; i++) {
		const struct walk_file *f = &w->files[i];

		if (f->where && f->hashed && !f->recalled)
			m[n++] = (struct cache_memo){ .key = f->where,
				  .value = f->sha256, .len = 32 };
	}
	cache_memo_put_many(r->cache, "content", m, n);
	free(m);
}

/*
 * Does FIEMAP on this file system give offsets on the device it is
 * mounted from, the image's raw view at its offset?
 */
bool recall_place_known(const struct fs *fs)
{
	static const char *const types[] = { "ext2", "ext3", "ext4", "xfs" };

	if (fs->plan.access != FS_KERNEL || !fs->type)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (!strcmp(fs->type, types[i]))
			return true;
	return false;
}

/*
 * Clones of one template: the first target to walk it leads; the others
 * wait (parked) until its walk is done, and then know most of their files
 * by where they lie instead of reading and hashing the template again.
 */
const char *recall_lead_begin(struct recall *r, const struct image_map *map,
			      const struct recall_park *park)
{
	const char *key = map && map->ids.n ? map->ids.v[map->ids.n - 1] : "";
	bool waited = false, parked = false;

	if (!*key)
		return NULL;
	pthread_mutex_lock(&r->lock);
	while (strv_has(&r->leading, key) && !proc_stop_requested()) {
		if (!waited) {
			waited = true;
			pthread_mutex_unlock(&r->lock);
			parked = park_leave(park);
			pthread_mutex_lock(&r->lock);
			continue;
		}
		cond_wait_ms(&r->led_cond, &r->lock, 200);
	}
	if (waited || strv_has(&r->led, key))
		key = NULL;
	else
		strv_push(&r->leading, key);
	pthread_mutex_unlock(&r->lock);
	park_enter(park, parked);
	return key;
}

void recall_lead_end(struct recall *r, const char *key)
{
	if (!key)
		return;
	pthread_mutex_lock(&r->lock);
	strv_push(&r->led, key);
	strv_remove(&r->leading, key);
	pthread_cond_broadcast(&r->led_cond);
	pthread_mutex_unlock(&r->lock);
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

char *recall_last_fingerprint(struct cache *c, const char *engine)
{
	struct buf memo = { 0 };

	if (cache_memo_get(c, "last-fingerprint", engine, &memo) < 0)
		return NULL;
	return memo.p;
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
	if (!n)
		return;
	pthread_mutex_lock(&v->claims_lock);
	if (!v->kept)
		cache_memo_put(v->cache, "last-fingerprint", v->engine, v->fp,
			       strlen(v->fp));
	v->kept = true;
	pthread_mutex_unlock(&v->claims_lock);
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
