/* cache.h - verdicts by content: (engine, signature fingerprint, sha256) */
#ifndef AVBATCH_CACHE_H
#define AVBATCH_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "verdict.h"

struct cache;		/* an SQLite database, shared by every thread */


/* Open (creating it 0600, and its directory 0700) the cache at path. */
int cache_open(const char *path, struct cache **out, char **cause);
void cache_close(struct cache *c);

/*
 * Keep verdicts in a PostgreSQL database that many hosts share (a
 * postgresql:// URI) instead of the file; memos (about this host's files)
 * stay in the file.  A database that stops answering turns every verdict
 * unknown (content is scanned), with one warning.
 */
int cache_share(struct cache *c, const char *url, char **cause);

/*
 * The verdicts an engine with signature fingerprint fp gave n contents
 * (one read transaction): v[i], and threat[i] (malloc'd) for an infected
 * one, else NULL.
 */
void cache_get_many(struct cache *c, const char *engine, const char *fp,
		    const unsigned char *const *sha, size_t n,
		    enum cache_verdict *v, char **threat);

/* Does the cache hold any verdict of this engine with these signatures? */
bool cache_has_verdicts(struct cache *c, const char *engine, const char *fp);

/* Record verdicts (one transaction); only clean and infected are kept. */
void cache_store(struct cache *c, const char *engine, const char *fp,
		 const struct cache_entry *e, size_t n);

struct buf;

/*
 * Small memos kept next to the verdicts, (kind, key) -> value: what can be
 * recalled instead of recomputed (a signature fingerprint by the files'
 * identities, a whole target's result by its image files' identities).
 * get appends the value to *value: 0, or -ENOENT.
 */
int cache_memo_get(struct cache *c, const char *kind, const char *key,
		   struct buf *value);
void cache_memo_put(struct cache *c, const char *kind, const char *key,
		    const void *value, size_t len);
/* Is there a memo (kind, key), without reading its value? */
bool cache_memo_has(struct cache *c, const char *kind, const char *key);

struct cache_memo {
	const char *key;
	const void *value;
	size_t len;
};
/* Many memos of one kind, in one transaction. */
void cache_memo_put_many(struct cache *c, const char *kind,
			 const struct cache_memo *m, size_t n);

#endif
