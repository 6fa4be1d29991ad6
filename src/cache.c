/* cache.c - verdicts by content: (engine, signature fingerprint, sha256) */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "cache-pg.h"
#include "util.h"

struct cache {
	sqlite3 *db;
	sqlite3_stmt *get, *put, *any, *memo_get, *memo_put, *memo_has;
	pthread_mutex_t lock;
	struct pgcache *pg;	/* verdicts shared by hosts, or NULL */
	bool pg_lost;		/* it stopped answering: verdicts unknown */
};

int cache_open(const char *path, struct cache **out, char **cause)
{
	static const char *const schema =
		"PRAGMA journal_mode=WAL;"
		"PRAGMA synchronous=NORMAL;"
		"CREATE TABLE IF NOT EXISTS verdicts ("
		" engine TEXT NOT NULL, fingerprint TEXT NOT NULL,"
		" sha256 BLOB NOT NULL, verdict INTEGER NOT NULL,"
		" threat TEXT, seen INTEGER NOT NULL,"
		" PRIMARY KEY (engine, fingerprint, sha256)) WITHOUT ROWID;"
		"CREATE TABLE IF NOT EXISTS memos ("
		" kind TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,"
		" seen INTEGER NOT NULL,"
		" PRIMARY KEY (kind, key)) WITHOUT ROWID;";
	struct cache *c = xcalloc(1, sizeof(*c));
	char *copy = xstrdup(path), *err = NULL;
	const char *dir = dirname(copy);
	struct stat st;
	bool shared;
	int fd = -1, r = 0;

	pthread_mutex_init(&c->lock, NULL);
	/*
	 * SQLite names its journals beside the cache: another user who may
	 * create files in that directory (even a sticky one) could plant
	 * them.  An existing directory is checked, never chmodded.
	 */
	r = mkdir_private(dir);
	shared = !r && lstat(dir, &st) == 0 && (st.st_mode & 022);
	free(copy);
	if (shared) {
		*cause = xasprintf("refusing the cache '%s': its directory is "
				   "writable by others", path);
		r = -EPERM;
		goto fail;
	}
	/* Create it 0600 before SQLite does, and never through a symlink. */
	if (!r)
		fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			  0600);
	if (!r && fd < 0)
		r = -errno;
	if (!r && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		   st.st_uid != geteuid() || (st.st_mode & 022)))
		r = -EPERM;
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		*cause = xasprintf("cannot open the cache '%s': %s", path,
				   strerror(-r));
		goto fail;
	}
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(c->db, 10000) != SQLITE_OK ||
	    sqlite3_exec(c->db, schema, NULL, NULL, &err) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "SELECT verdict, threat FROM verdicts"
			       " WHERE engine = ? AND fingerprint = ? AND"
			       " sha256 = ?", -1, &c->get, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO verdicts"
			       " VALUES (?, ?, ?, ?, ?, strftime('%s'))", -1,
			       &c->put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "SELECT 1 FROM verdicts WHERE engine = ?"
			       " AND fingerprint = ? LIMIT 1", -1, &c->any,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "SELECT value FROM memos WHERE kind = ?"
			       " AND key = ?", -1, &c->memo_get, NULL) !=
	    SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO memos"
			       " VALUES (?, ?, ?, strftime('%s'))", -1,
			       &c->memo_put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "SELECT 1 FROM memos WHERE kind = ?"
			       " AND key = ?", -1, &c->memo_has, NULL) !=
	    SQLITE_OK) {
		*cause = xasprintf("cannot use the cache '%s': %s", path,
				   err ? err : sqlite3_errmsg(c->db));
		sqlite3_free(err);
		r = -EIO;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	cache_close(c);
	return r;
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	sqlite3_finalize(c->get);
	sqlite3_finalize(c->put);
	sqlite3_finalize(c->any);
	sqlite3_finalize(c->memo_get);
	sqlite3_finalize(c->memo_put);
	sqlite3_finalize(c->memo_has);
	sqlite3_close(c->db);
	pgcache_close(c->pg);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int cache_share(struct cache *c, const char *url, char **cause)
{
	return pgcache_open(url, &c->pg, cause);
}

/*
 * The shared cache failed (the lock held): from now on every verdict is
 * unknown, so content is scanned; never a verdict from a half answer.
 */
static void pg_lost_locked(struct cache *c, char *cause)
{
	if (!c->pg_lost)
		msg_info("warning: the shared verdict cache stopped answering "
			 "(%s): scanning instead", cause);
	c->pg_lost = true;
	free(cause);
}

/* One lookup; the caller holds the lock. */
static enum cache_verdict get_locked(struct cache *c, const char *engine,
				     const char *fp, const unsigned char *sha,
				     char **threat)
{
	enum cache_verdict v = CACHE_UNKNOWN;

	sqlite3_bind_text(c->get, 1, engine, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->get, 2, fp, -1, SQLITE_STATIC);
	sqlite3_bind_blob(c->get, 3, sha, 32, SQLITE_STATIC);
	if (sqlite3_step(c->get) == SQLITE_ROW) {
		int x = sqlite3_column_int(c->get, 0);
		const unsigned char *t = sqlite3_column_text(c->get, 1);

		if (x == CACHE_CLEAN) {
			v = CACHE_CLEAN;
		} else if (x == CACHE_INFECTED && t) {
			v = CACHE_INFECTED;
			*threat = xstrdup((const char *)t);
		}
	}
	sqlite3_reset(c->get);
	sqlite3_clear_bindings(c->get);
	return v;
}

void cache_get_many(struct cache *c, const char *engine, const char *fp,
		    const unsigned char *const *sha, size_t n,
		    enum cache_verdict *v, char **threat)
{
	char *cause = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->pg) {
		for (size_t i = 0; i < n; i++) {
			threat[i] = NULL;
			v[i] = CACHE_UNKNOWN;
		}
		if (!c->pg_lost && pgcache_get_many(c->pg, engine, fp, sha, n,
						    v, threat, &cause) < 0) {
			for (size_t i = 0; i < n; i++) {
				free(threat[i]);
				threat[i] = NULL;
				v[i] = CACHE_UNKNOWN;
			}
			pg_lost_locked(c, cause);
		}
		pthread_mutex_unlock(&c->lock);
		return;
	}
	/* One read transaction: not one lock of the database per file. */
	sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
	for (size_t i = 0; i < n; i++) {
		threat[i] = NULL;
		v[i] = get_locked(c, engine, fp, sha[i], &threat[i]);
	}
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	pthread_mutex_unlock(&c->lock);
}

bool cache_has_verdicts(struct cache *c, const char *engine, const char *fp)
{
	char *cause = NULL;
	bool any = false;

	pthread_mutex_lock(&c->lock);
	if (c->pg) {
		if (!c->pg_lost &&
		    pgcache_has(c->pg, engine, fp, &any, &cause) < 0)
			pg_lost_locked(c, cause);
		pthread_mutex_unlock(&c->lock);
		return any;
	}
	sqlite3_bind_text(c->any, 1, engine, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->any, 2, fp, -1, SQLITE_STATIC);
	any = sqlite3_step(c->any) == SQLITE_ROW;
	sqlite3_reset(c->any);
	sqlite3_clear_bindings(c->any);
	pthread_mutex_unlock(&c->lock);
	return any;
}

/* One row; the caller holds the lock. */
static void put_locked(struct cache *c, const char *engine, const char *fp,
		       const struct cache_entry *e)
{
	if (e->verdict != CACHE_CLEAN && e->verdict != CACHE_INFECTED)
		return;
	sqlite3_bind_text(c->put, 1, engine, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->put, 2, fp, -1, SQLITE_STATIC);
	sqlite3_bind_blob(c->put, 3, e->sha256, 32, SQLITE_STATIC);
	sqlite3_bind_int(c->put, 4, (int)e->verdict);
	if (e->threat)
		sqlite3_bind_text(c->put, 5, e->threat, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(c->put, 5);
	sqlite3_step(c->put);
	sqlite3_reset(c->put);
	sqlite3_clear_bindings(c->put);
}

void cache_store(struct cache *c, const char *engine, const char *fp,
		 const struct cache_entry *e, size_t n)
{
	char *cause = NULL;

	if (!n)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->pg) {
		if (!c->pg_lost &&
		    pgcache_store(c->pg, engine, fp, e, n, &cause) < 0)
			pg_lost_locked(c, cause);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	/* One transaction per batch of verdicts: one sync, not one a file. */
	sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		put_locked(c, engine, fp, &e[i]);
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	pthread_mutex_unlock(&c->lock);
}

int cache_memo_get(struct cache *c, const char *kind, const char *key,
		   struct buf *value)
{
	int r = -ENOENT;

	pthread_mutex_lock(&c->lock);
	sqlite3_bind_text(c->memo_get, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->memo_get, 2, key, -1, SQLITE_STATIC);
	if (sqlite3_step(c->memo_get) == SQLITE_ROW) {
		const void *v = sqlite3_column_blob(c->memo_get, 0);
		int n = sqlite3_column_bytes(c->memo_get, 0);

		if (v && n > 0) {
			buf_add(value, v, (size_t)n);
			r = 0;
		}
	}
	sqlite3_reset(c->memo_get);
	sqlite3_clear_bindings(c->memo_get);
	pthread_mutex_unlock(&c->lock);
	return r;
}

bool cache_memo_has(struct cache *c, const char *kind, const char *key)
{
	bool has;

	pthread_mutex_lock(&c->lock);
	sqlite3_bind_text(c->memo_has, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(c->memo_has, 2, key, -1, SQLITE_STATIC);
	has = sqlite3_step(c->memo_has) == SQLITE_ROW;
	sqlite3_reset(c->memo_has);
	sqlite3_clear_bindings(c->memo_has);
	pthread_mutex_unlock(&c->lock);
	return has;
}

void cache_memo_put_many(struct cache *c, const char *kind,
			const struct cache_memo *m, size_t n)
{
	if (!n)
		return;
	pthread_mutex_lock(&c->lock);
	sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_text(c->memo_put, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(c->memo_put, 2, m[i].key, -1, SQLITE_STATIC);
		sqlite3_bind_blob64(c->memo_put, 3, m[i].value, m[i].len,
				    SQLITE_STATIC);
		sqlite3_step(c->memo_put);
		sqlite3_reset(c->memo_put);
		sqlite3_clear_bindings(c->memo_put);
	}
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	pthread_mutex_unlock(&c->lock);
}

void cache_memo_put(struct cache *c, const char *kind, const char *key,
		    const void *value, size_t len)
{
	cache_memo_put_many(c, kind, &(struct cache_memo){ .key = key,
			    .value = value, .len = len }, 1);
}
