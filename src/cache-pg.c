/* cache-pg.c - the verdict cache in PostgreSQL, shared by many hosts */
#include "config.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache-pg.h"
#include "util.h"

/* The schema this avbatch writes; a newer one in the database is refused. */
#define PG_SCHEMA	1
/* Contents per statement: a bounded array literal per round trip. */
#define PG_CHUNK	2000

struct pgcache {
	PGconn *conn;
};

bool pgcache_is_url(const char *name)
{
	return str_has_prefix(name, "postgresql://") ||
	       str_has_prefix(name, "postgres://");
}

/* The server's complaint, one line. */
static char *pg_error(PGconn *conn, const PGresult *res)
{
	const char *m = res ? PQresultErrorMessage(res) : NULL;
	char *s, *nl;

	if (!m || !*m)
		m = PQerrorMessage(conn);
	s = xstrdup(m && *m ? m : "no answer");
	if ((nl = strchr(s, '\n')))
		*nl = '\0';
	return s;
}

/* Run a statement; 0, or -EIO with *cause. *out (if asked) is the result. */
static int exec(struct pgcache *p, const char *sql, int nparams,
		const char *const *params, PGresult **out, char **cause)
{
	PGresult *res = PQexecParams(p->conn, sql, nparams, NULL, params,
				     NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		*cause = pg_error(p->conn, res);
		PQclear(res);
		return -EIO;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

/*
 * Create the tables once (an advisory lock keeps hosts that start together
 * from racing), then check the version.
 */
static int setup(struct pgcache *p, char **cause)
{
	static const char *const create =
		"CREATE TABLE IF NOT EXISTS avbatch_schema ("
		" version integer NOT NULL);"
		"CREATE TABLE IF NOT EXISTS avbatch_verdicts ("
		" engine text NOT NULL, fingerprint text NOT NULL,"
		" sha256 bytea NOT NULL, verdict smallint NOT NULL,"
		" threat text, seen timestamptz NOT NULL DEFAULT now(),"
		" PRIMARY KEY (engine, fingerprint, sha256));"
		"INSERT INTO avbatch_schema (version) SELECT 1"
		" WHERE NOT EXISTS (SELECT 1 FROM avbatch_schema);";
	PGresult *res = NULL;
	int r, v;

	r = exec(p, "SELECT pg_advisory_lock(4242424201)", 0, NULL, NULL,
		 cause);
	if (r < 0)
		return r;
	{
		PGresult *c = PQexec(p->conn, create);

		if (PQresultStatus(c) != PGRES_COMMAND_OK) {
			*cause = pg_error(p->conn, c);
			r = -EIO;
		}
		PQclear(c);
	}
	if (!r)
		r = exec(p, "SELECT max(version) FROM avbatch_schema", 0, NULL,
			 &res, cause);
	if (!r && (PQntuples(res) != 1 ||
		   parse_int(PQgetvalue(res, 0, 0), &v) < 0 ||
		   v != PG_SCHEMA)) {
		*cause = xasprintf("the database holds avbatch's schema "
				   "version %s; this avbatch writes %d",
				   PQntuples(res) ? PQgetvalue(res, 0, 0) : "?",
				   PG_SCHEMA);
		r = -EPROTO;
	}
	PQclear(res);
	PQclear(PQexec(p->conn, "SELECT pg_advisory_unlock(4242424201)"));
	return r;
}

/* Notices ("relation ... already exists"): a module never prints. */
static void drop_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int pgcache_open(const char *url, struct pgcache **out, char **cause)
{
	static const char *const keys[] = {
		"dbname", "connect_timeout", "application_name", NULL
	};
	const char *vals[] = { url, "10", "avbatch", NULL };
	struct pgcache *p = xcalloc(1, sizeof(*p));
	int r;

	p->conn = PQconnectdbParams(keys, vals, 1);
	if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
		char *e = pg_error(p->conn, NULL);

		*cause = xasprintf("cannot connect to the shared cache: %s", e);
		free(e);
		pgcache_close(p);
		return -ECONNREFUSED;
	}
	PQsetNoticeProcessor(p->conn, drop_notice, NULL);
	r = setup(p, cause);
	if (r < 0) {
		pgcache_close(p);
		return r;
	}
	*out = p;
	return 0;
}

void pgcache_close(struct pgcache *p)
{
	if (!p)
		return;
	PQfinish(p->conn);
	free(p);
}

/* A content's SHA-256 as 64 hex digits (how the statements carry it). */
static void sha_hex(const unsigned char *sha, char hex[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[sha[i] >> 4];
		hex[2 * i + 1] = digits[sha[i] & 15];
	}
	hex[64] = '\0';
}

static int hex_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* One element of a text[] literal: quoted, quotes and backslashes escaped. */
static void add_elem(struct buf *b, const char *s)
{
	if (b->len && b->p[b->len - 1] != '{')
		buf_addstr(b, ",");
	if (!s) {
		buf_addstr(b, "NULL");
		return;
	}
	buf_addstr(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_addstr(b, "\\");
		buf_add(b, s, 1);
	}
	buf_addstr(b, "\"");
}

/* A content asked about: its hex (the sort key) and its place in the ask. */
struct asked {
	char hex[65];
	size_t i;
};

int pgcache_get_many(struct pgcache *p, const char *engine, const char *fp,
		     const unsigned char *const *sha, size_t n,
		     enum cache_verdict *v, char **threat, char **cause)
{
	struct asked *a = xreallocarray(NULL, n ? n : 1, sizeof(*a));
	int r = 0;

	for (size_t at = 0; r == 0 && at < n; at += PG_CHUNK) {
		size_t m = n - at < PG_CHUNK ? n - at : PG_CHUNK;
		const char *params[3] = { engine, fp, NULL };
		struct buf arr = { 0 };
		PGresult *res = NULL;

		for (size_t k = 0; k < m; k++) {
			sha_hex(sha[at + k], a[at + k].hex);
			a[at + k].i = at + k;
		}
		/* Sorted, each content asked once (a walk may hold copies). */
		qsort(a + at, m, sizeof(*a), hex_cmp);
		/* A bytea[] of hex literals: the key's index, nothing decoded. */
		buf_addstr(&arr, "{");
		for (size_t k = 0; k < m; k++) {
			char lit[67];

			if (k && !strcmp(a[at + k].hex, a[at + k - 1].hex))
				continue;
			snprintf(lit, sizeof(lit), "\\x%s", a[at + k].hex);
			add_elem(&arr, lit);
		}
		buf_addstr(&arr, "}");
		params[2] = arr.p;
		r = exec(p, "SELECT encode(sha256, 'hex'), verdict, threat"
			 " FROM avbatch_verdicts WHERE engine = $1 AND"
			 " fingerprint = $2 AND sha256 = ANY ($3::bytea[])",
			 3, params, &res, cause);
		buf_release(&arr);
		if (r < 0)
			break;
		/*
		 * Answers (hits) matched to the asked contents by bsearch:
		 * each answer goes to every copy of its content, not only to
		 * the one bsearch lands on.
		 */
		for (int row = 0; row < PQntuples(res); row++) {
			const char *hex = PQgetvalue(res, row, 0);
			const struct asked *hit = bsearch(hex, a + at, m,
							  sizeof(*a), hex_cmp);
			const struct asked *end = a + at + m;
			bool null_threat = PQgetisnull(res, row, 2);
			int x = 0;

			if (!hit || parse_int(PQgetvalue(res, row, 1), &x) < 0)
				continue;
			if (x != CACHE_CLEAN &&
			    (x != CACHE_INFECTED || null_threat))
				continue;
			while (hit > a + at && !strcmp(hit[-1].hex, hex))
				hit--;
			for (; hit < end && !strcmp(hit->hex, hex); hit++) {
				v[hit->i] = (enum cache_verdict)x;
				if (x == CACHE_INFECTED)
					threat[hit->i] = xstrdup(PQgetvalue(
							res, row, 2));
			}
		}
		PQclear(res);
	}
	free(a);
	return r;
}

int pgcache_has(struct pgcache *p, const char *engine, const char *fp,
		bool *any, char **cause)
{
	const char *params[2] = { engine, fp };
	PGresult *res = NULL;
	int r = exec(p, "SELECT 1 FROM avbatch_verdicts WHERE engine = $1"
		     " AND fingerprint = $2 LIMIT 1", 2, params, &res, cause);

	if (r == 0)
		*any = PQntuples(res) > 0;
	PQclear(res);
	return r;
}

int pgcache_store(struct pgcache *p, const char *engine, const char *fp,
		  const struct cache_entry *e, size_t n, char **cause)
{
	for (size_t at = 0; at < n; at += PG_CHUNK) {
		size_t m = n - at < PG_CHUNK ? n - at : PG_CHUNK;
		struct buf shas = { 0 }, vs = { 0 }, ts = { 0 };
		const char *params[5] = { engine, fp };
		size_t kept = 0;
		int r = 0;

		buf_addstr(&shas, "{");
		buf_addstr(&vs, "{");
		buf_addstr(&ts, "{");
		for (size_t i = at; i < at + m; i++) {
			char h[65], verdict[8];

			if (e[i].verdict != CACHE_CLEAN &&
			    e[i].verdict != CACHE_INFECTED)
				continue;
			sha_hex(e[i].sha256, h);
			add_elem(&shas, h);
			snprintf(verdict, sizeof(verdict), "%d",
				 (int)e[i].verdict);
			add_elem(&vs, verdict);
			add_elem(&ts, e[i].verdict == CACHE_INFECTED ?
				 e[i].threat : NULL);
			kept++;
		}
		buf_addstr(&shas, "}");
		buf_addstr(&vs, "}");
		buf_addstr(&ts, "}");
		params[2] = shas.p;
		params[3] = vs.p;
		params[4] = ts.p;
		if (kept)
			r = exec(p, "INSERT INTO avbatch_verdicts (engine,"
				 " fingerprint, sha256, verdict, threat)"
				 " SELECT $1, $2, decode(x, 'hex'), v, t FROM"
				 " unnest($3::text[], $4::smallint[],"
				 " $5::text[]) AS u(x, v, t)"
				 " ON CONFLICT (engine, fingerprint, sha256)"
				 " DO UPDATE SET verdict = EXCLUDED.verdict,"
				 " threat = EXCLUDED.threat, seen = now()",
				 5, params, NULL, cause);
		buf_release(&shas);
		buf_release(&vs);
		buf_release(&ts);
		if (r < 0)
			return r;
	}
	return 0;
}
