/* cache-pg.h - the verdict cache in PostgreSQL, shared by many hosts */
#ifndef AVBATCH_CACHE_PG_H
#define AVBATCH_CACHE_PG_H

#include <stdbool.h>
#include <stddef.h>

#include "verdict.h"

struct pgcache;		/* one connection, used by one thread at a time */

/* Is this cache name a PostgreSQL connection URI? */
bool pgcache_is_url(const char *name);

/*
 * Connect (libpq; 10 s to connect) and create or check avbatch's tables
 * (versioned in avbatch_schema).  -errno with *cause naming the server's
 * complaint.
 */
int pgcache_open(const char *url, struct pgcache **out, char **cause);
void pgcache_close(struct pgcache *p);

/*
 * As cache_get_many(): v[i] and threat[i] for each content; -EIO with
 * *cause when the server could not answer (v untouched).
 */
int pgcache_get_many(struct pgcache *p, const char *engine, const char *fp,
		     const unsigned char *const *sha, size_t n,
		     enum cache_verdict *v, char **threat, char **cause);

/* Any verdict of this engine and fingerprint? -EIO when no answer. */
int pgcache_has(struct pgcache *p, const char *engine, const char *fp,
		bool *any, char **cause);

/*
 * Record clean and infected verdicts in one statement (INSERT ... ON
 * CONFLICT: safe with many writers); -EIO with *cause when not stored.
 */
int pgcache_store(struct pgcache *p, const char *engine, const char *fp,
		  const struct cache_entry *e, size_t n, char **cause);

#endif
