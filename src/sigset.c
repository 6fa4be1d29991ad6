/* sigset.c - a ClamAV database as sets of signature lines, to scan only what an update added */
#include "config.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cache.h"
#include "proc.h"
#include "sigset.h"
#include "util.h"

#define HLEN		16		/* bytes of SHA-256 kept per line */
#define EXTMAX		16		/* extension bytes, NUL included */
#define LINE_MAX_SIG	(1 << 20)	/* far above what ClamAV reads */
#define UNPACK_TIMEOUT	600.0
#define MAGIC		"AVSIGSET"
#define SET_VERSION	1

const char *const sigset_change_names[] = {
	[SIGSET_SAME] = "same",
	[SIGSET_CLEAN_HOLDS] = "clean-holds",
	[SIGSET_DELTA] = "delta",
	[SIGSET_FULL] = "full",
};

struct sigtype {
	char ext[EXTMAX];
	enum sigset_kind kind;
	unsigned char (*h)[HLEN];
	size_t n, alloc;
};

struct sigset {
	struct sigtype *t;
	size_t n, alloc;
	struct buf context;	/* what else decides a line's meaning */
};

/* How a file found in a database is read. */
enum class {
	CLASS_DETECT = SIGSET_DETECT,
	CLASS_ALLOW = SIGSET_ALLOW,
	CLASS_CONTEXT = SIGSET_CONTEXT,
	CLASS_UNKNOWN = SIGSET_UNKNOWN,
	CLASS_CONTAINER,	/* .cvd .cld .cud: unpacked */
	CLASS_IGNORED,		/* .info, COPYING, .sign: no signatures */
};

/*
 * The extensions ClamAV loads from a database directory (libclamav's
 * CLI_DBEXT) and what their lines do.  Types with lines that refer to each
 * other or span lines are read whole: any change to them is a full rescan.
 */
static const struct {
	const char *ext;
	enum class class;
} types[] = {
	{ "db", CLASS_DETECT }, { "hdb", CLASS_DETECT },
	{ "hdu", CLASS_DETECT }, { "hsb", CLASS_DETECT },
	{ "hsu", CLASS_DETECT }, { "mdb", CLASS_DETECT },
	{ "mdu", CLASS_DETECT }, { "msb", CLASS_DETECT },
	{ "msu", CLASS_DETECT }, { "imp", CLASS_DETECT },
	{ "ndb", CLASS_DETECT }, { "ndu", CLASS_DETECT },
	{ "ldb", CLASS_DETECT }, { "ldu", CLASS_DETECT },
	{ "cdb", CLASS_DETECT },
	{ "fp", CLASS_ALLOW }, { "sfp", CLASS_ALLOW },
	{ "ign", CLASS_ALLOW }, { "ign2", CLASS_ALLOW },
	{ "cbc", CLASS_CONTEXT }, { "ftm", CLASS_CONTEXT },
	{ "cfg", CLASS_CONTEXT }, { "idb", CLASS_CONTEXT },
	{ "crb", CLASS_CONTEXT }, { "pwdb", CLASS_CONTEXT },
	{ "pdb", CLASS_CONTEXT }, { "gdb", CLASS_CONTEXT },
	{ "wdb", CLASS_CONTEXT }, { "yar", CLASS_CONTEXT },
	{ "yara", CLASS_CONTEXT }, { "cat", CLASS_CONTEXT },
	{ "sdb", CLASS_CONTEXT }, { "zmd", CLASS_CONTEXT },
	{ "rmd", CLASS_CONTEXT }, { "ioc", CLASS_CONTEXT },
	{ "cvd", CLASS_CONTAINER }, { "cld", CLASS_CONTAINER },
	{ "cud", CLASS_CONTAINER },
	{ "info", CLASS_IGNORED }, { "sign", CLASS_IGNORED },
};

/* The type name of a file (its extension, "?" when none fits) and class. */
static enum class classify(const char *name, char ext[EXTMAX])
{
	const char *base = strrchr(name, '/');
	const char *dot;

	base = base ? base + 1 : name;
	if (!strcmp(base, "COPYING"))
		return CLASS_IGNORED;
	dot = strrchr(base, '.');
	if (!dot || !dot[1] || strlen(dot + 1) >= EXTMAX) {
		memcpy(ext, "?", 2);
		return CLASS_UNKNOWN;
	}
	memcpy(ext, dot + 1, strlen(dot + 1) + 1);
	/* ClamAV loads "x.NDB" as an .ndb (cli_strbcasestr). */
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (!strcasecmp(ext, types[i].ext)) {
			memcpy(ext, types[i].ext, strlen(types[i].ext) + 1);
			return types[i].class;
		}
	return CLASS_UNKNOWN;
}

int sigset_kind_of(const char *name)
{
	char ext[EXTMAX];
	enum class c = classify(name, ext);

	return c == CLASS_CONTAINER || c == CLASS_IGNORED ? -1 : (int)c;
}

struct sigset *sigset_new(void)
{
	return xcalloc(1, sizeof(struct sigset));
}

void sigset_free(struct sigset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->t[i].h);
	free(s->t);
	buf_release(&s->context);
	free(s);
}

void sigset_set_context(struct sigset *s, const void *context, size_t len)
{
	s->context.len = 0;
	buf_add(&s->context, context, len);
}

static size_t type_index(struct sigset *s, const char *ext,
			 enum sigset_kind kind)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->t[i].ext, ext))
			return i;
	if (s->n == s->alloc) {
		s->alloc = s->alloc ? 2 * s->alloc : 16;
		s->t = xreallocarray(s->t, s->alloc, sizeof(*s->t));
	}
	memset(&s->t[s->n], 0, sizeof(s->t[s->n]));
	memcpy(s->t[s->n].ext, ext, strlen(ext) + 1);
	s->t[s->n].kind = kind;
	return s->n++;
}

static const struct sigtype *type_find(const struct sigset *s,
				       const char *ext)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (!strcmp(s->t[i].ext, ext))
			return &s->t[i];
	return NULL;
}

static void type_push(struct sigtype *t, const unsigned char *h)
{
	if (t->n == t->alloc) {
		t->alloc = t->alloc ? 2 * t->alloc : 64;
		t->h = xreallocarray(t->h, t->alloc, HLEN);
	}
	memcpy(t->h[t->n++], h, HLEN);
}

/* A hash's first or second 8 bytes as a number, in byte order. */
static uint64_t hash_half(const unsigned char *h)
{
	uint64_t v;

	memcpy(&v, h, sizeof(v));
	return be64toh(v);
}

/*
 * memcmp() of two hashes, without a call per comparison: a production set
 * is sorted and searched some 10^8 times per update.
 */
static int hash_cmp(const void *a, const void *b)
{
	uint64_t x = hash_half(a), y = hash_half(b);

	if (x == y) {
		x = hash_half((const unsigned char *)a + 8);
		y = hash_half((const unsigned char *)b + 8);
	}
	return (x > y) - (x < y);
}

static int type_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sigtype *)a)->ext,
		      ((const struct sigtype *)b)->ext);
}

static bool type_has(const struct sigtype *t, const unsigned char *h)
{
	return t && t->n && bsearch(h, t->h, t->n, HLEN, hash_cmp);
}

/* Sort and deduplicate every type's hashes, and the types by name. */
static void finish(struct sigset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct sigtype *t = &s->t[i];
		size_t k = 0;

		if (t->n)
			qsort(t->h, t->n, HLEN, hash_cmp);
		for (size_t j = 0; j < t->n; j++)
			if (!k || hash_cmp(t->h[k - 1], t->h[j]))
				memmove(t->h[k++], t->h[j], HLEN);
		t->n = k;
		/* A production set is 100 MB and more: give back the slack. */
		t->alloc = k ? k : 1;
		t->h = xreallocarray(t->h, t->alloc, HLEN);
	}
	if (s->n)
		qsort(s->t, s->n, sizeof(*s->t), type_cmp);
}

/* An output file of the delta database. */
struct outfile {
	char ext[EXTMAX];
	int fd;
};

/*
 * Where each 16-bit prefix begins among a large type's sorted hashes: a
 * line of an update is looked up among millions of old ones per line.
 */
#define PREFIXES	65536
#define INDEX_MIN	PREFIXES	/* smaller types: a plain search */

struct prefix_index {
	const struct sigtype *t;
	size_t *start;			/* PREFIXES + 1 positions */
};

static unsigned prefix_of(const unsigned char *h)
{
	return (unsigned)h[0] << 8 | h[1];
}

static void prefix_index_build(struct prefix_index *x, const struct sigtype *t)
{
	unsigned next = 0;

	x->t = t;
	x->start = xcalloc(PREFIXES + 1, sizeof(*x->start));
	for (size_t j = 0; j < t->n; j++)
		while (next <= prefix_of(t->h[j]))
			x->start[next++] = j;
	while (next <= PREFIXES)
		x->start[next++] = t->n;
}

/* Is h among t's hashes?  Through its index x, if it has one. */
static bool old_has(const struct prefix_index *x, const struct sigtype *t,
		    const unsigned char *h)
{
	size_t lo, hi;

	if (!x)
		return type_has(t, h);
	lo = x->start[prefix_of(h)];
	hi = x->start[prefix_of(h) + 1];
	return hi > lo && bsearch(h, t->h[lo], hi - lo, HLEN, hash_cmp);
}

/* One pass over a database: the set it builds, and the delta it writes. */
struct walk {
	struct sigset *set;
	const struct sigset *old;	/* delta only */
	struct prefix_index *idx;	/* of old's large types */
	size_t nidx;
	int dirfd;			/* the delta's directory, or -1 */
	struct outfile *out;
	size_t nout;
	unsigned keep;			/* whole files copied */
	size_t detections;
	const char *tmpdir;
	EVP_MD_CTX *md;
	EVP_MD *sha256;			/* fetched once, not per line */
};

/* Reading one file: lines, or the whole file for whole-file types. */
struct reader {
	struct walk *w;
	const char *name;
	size_t ti;
	enum sigset_kind kind;
	struct buf line;
	size_t lineno;
	int keepfd;			/* the delta's copy, or -1 */
	const struct sigtype *old;	/* the same type in the old set */
	const struct prefix_index *old_idx;	/* its index, or NULL */
};

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t k = write(fd, p, len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

static int delta_create(struct walk *w, const char *name, int *fd)
{
	*fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL |
		     O_NOFOLLOW | O_CLOEXEC, 0600);
	return *fd < 0 ? -errno : 0;
}

/* The delta's file for lines of type ext, created on first use. */
static int delta_out(struct walk *w, const char *ext, int *fd)
{
	char *name;
	int r;

	for (size_t i = 0; i < w->nout; i++)
		if (!strcmp(w->out[i].ext, ext)) {
			*fd = w->out[i].fd;
			return 0;
		}
	name = xasprintf("delta.%s", ext);
	r = delta_create(w, name, fd);
	free(name);
	if (r < 0)
		return r;
	w->out = xreallocarray(w->out, w->nout + 1, sizeof(*w->out));
	memcpy(w->out[w->nout].ext, ext, strlen(ext) + 1);
	w->out[w->nout++].fd = *fd;
	return 0;
}

static int digest_final(EVP_MD_CTX *md, unsigned char h[HLEN])
{
	unsigned char full[EVP_MAX_MD_SIZE];

	if (!EVP_DigestFinal_ex(md, full, NULL))
		return -EIO;
	memcpy(h, full, HLEN);
	return 0;
}

/* One line (no newline, trailing CR removed): hash it, maybe write it. */
static int reader_line(struct reader *rd, const char *p, size_t len,
		       char **cause)
{
	struct walk *w = rd->w;
	unsigned char h[HLEN];
	int fd, r;

	if (len && p[len - 1] == '\r')
		len--;
	if (!len)
		return 0;
	if (!EVP_DigestInit_ex(w->md, w->sha256, NULL) ||
	    !EVP_DigestUpdate(w->md, p, len) || digest_final(w->md, h) < 0) {
		*cause = xstrdup("cannot compute SHA-256 (OpenSSL)");
		return -EIO;
	}
	if (w->dirfd >= 0 && (rd->kind == SIGSET_ALLOW ||
	    !old_has(rd->old_idx, rd->old, h))) {
		r = delta_out(w, w->set->t[rd->ti].ext, &fd);
		if (r == 0)
			r = write_all(fd, p, len);
		if (r == 0)
			r = write_all(fd, "\n", 1);
		if (r < 0) {
			*cause = xasprintf("cannot write the delta of '%s': "
					   "%s", rd->name, strerror(-r));
			return r;
		}
		if (rd->kind == SIGSET_DETECT)
			w->detections++;
	}
	type_push(&w->set->t[rd->ti], h);
	return 0;
}

/* The next piece of the file. */
static int reader_feed(struct reader *rd, const char *p, size_t len,
		       char **cause)
{
	int r;

	if (rd->kind == SIGSET_CONTEXT || rd->kind == SIGSET_UNKNOWN) {
		EVP_DigestUpdate(rd->w->md, p, len);
		if (rd->keepfd >= 0 && (r = write_all(rd->keepfd, p, len))) {
			*cause = xasprintf("cannot write the delta of '%s': "
					   "%s", rd->name, strerror(-r));
			return r;
		}
		return 0;
	}
	while (len) {
		const char *nl = memchr(p, '\n', len);
		size_t n = nl ? (size_t)(nl - p) : len;

		if (rd->line.len + n > LINE_MAX_SIG) {
			*cause = xasprintf("line %zu of '%s' is longer than "
					   "%d bytes", rd->lineno + 1,
					   rd->name, LINE_MAX_SIG);
			return -E2BIG;
		}
		if (!nl) {
			buf_add(&rd->line, p, n);
			return 0;
		}
		rd->lineno++;
		if (rd->line.len) {
			buf_add(&rd->line, p, n);
			r = reader_line(rd, rd->line.p, rd->line.len, cause);
			rd->line.len = 0;
		} else {
			r = reader_line(rd, p, n, cause);
		}
		if (r < 0)
			return r;
		p += n + 1;
		len -= n + 1;
	}
	return 0;
}

static int reader_start(struct reader *rd, struct walk *w, const char *name,
			const char *ext, enum sigset_kind kind, char **cause)
{
	char *copy;
	int r;

	memset(rd, 0, sizeof(*rd));
	rd->w = w;
	rd->name = name;
	rd->kind = kind;
	rd->keepfd = -1;
	rd->ti = type_index(w->set, ext, kind);
	rd->old = type_find(w->old, ext);
	for (size_t i = 0; rd->old && i < w->nidx; i++)
		if (w->idx[i].t == rd->old)
			rd->old_idx = &w->idx[i];
	if (kind != SIGSET_CONTEXT && kind != SIGSET_UNKNOWN)
		return 0;
	if (!EVP_DigestInit_ex(w->md, w->sha256, NULL)) {
		*cause = xstrdup("cannot compute SHA-256 (OpenSSL)");
		return -EIO;
	}
	/*
	 * A file of unknown type counts by name too: a new one is a change.
	 * Its base name: a database copied elsewhere, or a container unpacked
	 * into a new temporary directory, is the same database.
	 */
	if (kind == SIGSET_UNKNOWN) {
		const char *base = strrchr(name, '/');

		base = base ? base + 1 : name;
		EVP_DigestUpdate(w->md, base, strlen(base) + 1);
	}
	if (w->dirfd < 0 || kind == SIGSET_UNKNOWN)
		return 0;
	copy = xasprintf("keep%u.%s", w->keep++, ext);
	r = delta_create(w, copy, &rd->keepfd);
	free(copy);
	if (r < 0)
		*cause = xasprintf("cannot write the delta of '%s': %s",
				   name, strerror(-r));
	return r;
}

static int reader_end(struct reader *rd, char **cause)
{
	unsigned char h[HLEN];
	int r = 0;

	if (rd->kind == SIGSET_CONTEXT || rd->kind == SIGSET_UNKNOWN) {
		if (digest_final(rd->w->md, h) < 0) {
			*cause = xstrdup("cannot compute SHA-256 (OpenSSL)");
			r = -EIO;
		} else {
			type_push(&rd->w->set->t[rd->ti], h);
		}
	} else if (rd->line.len) {	/* the last line lacks its newline */
		rd->lineno++;
		r = reader_line(rd, rd->line.p, rd->line.len, cause);
	}
	if (rd->keepfd >= 0 && close(rd->keepfd) < 0 && r == 0) {
		r = -errno;
		*cause = xasprintf("cannot write the delta of '%s': %s",
				   rd->name, strerror(-r));
	}
	buf_release(&rd->line);
	return r;
}

static int walk_init(struct walk *w, const char *tmpdir, char **cause)
{
	memset(w, 0, sizeof(*w));
	w->dirfd = -1;
	w->tmpdir = tmpdir ? tmpdir : "/tmp";
	w->set = sigset_new();
	w->md = EVP_MD_CTX_new();
	w->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!w->md || !w->sha256) {
		*cause = xstrdup("cannot compute SHA-256 (OpenSSL)");
		return -ENOMEM;
	}
	return 0;
}

static int walk_release(struct walk *w, int r, char **cause)
{
	for (size_t i = 0; i < w->nout; i++)
		if (close(w->out[i].fd) < 0 && r == 0) {
			r = -errno;
			*cause = xasprintf("cannot write the delta file "
					   "'delta.%s': %s", w->out[i].ext,
					   strerror(-r));
		}
	free(w->out);
	for (size_t i = 0; i < w->nidx; i++)
		free(w->idx[i].start);
	free(w->idx);
	if (w->dirfd >= 0)
		close(w->dirfd);
	EVP_MD_CTX_free(w->md);
	EVP_MD_free(w->sha256);
	if (r < 0) {
		sigset_free(w->set);
		w->set = NULL;
	}
	return r;
}

int sigset_add_file(struct sigset *s, const char *name, const void *data,
		    size_t len, char **cause)
{
	struct walk w;
	struct reader rd;
	char ext[EXTMAX];
	enum class c = classify(name, ext);
	int r;

	if (c == CLASS_IGNORED)
		return 0;
	if (c == CLASS_CONTAINER)	/* not unpacked from memory */
		c = CLASS_UNKNOWN;
	r = walk_init(&w, NULL, cause);
	sigset_free(w.set);
	w.set = s;
	if (r == 0)
		r = reader_start(&rd, &w, name, ext, (enum sigset_kind)c,
				 cause);
	if (r == 0) {
		r = reader_feed(&rd, data, len, cause);
		if (r < 0)
			buf_release(&rd.line);
		else
			r = reader_end(&rd, cause);
	}
	w.set = NULL;
	walk_release(&w, r, cause);
	finish(s);
	return r;
}

static int read_fd(struct walk *w, int fd, const char *name, const char *ext,
		   enum sigset_kind kind, char **cause)
{
	char chunk[1 << 16];
	struct reader rd;
	ssize_t k;
	int r;

	r = reader_start(&rd, w, name, ext, kind, cause);
	if (r < 0)
		return r;
	while (r == 0 && (k = read(fd, chunk, sizeof(chunk))) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			*cause = xasprintf("cannot read '%s': %s", name,
					   strerror(errno));
			break;
		}
		r = reader_feed(&rd, chunk, (size_t)k, cause);
	}
	if (r < 0) {
		if (rd.keepfd >= 0)
			close(rd.keepfd);
		buf_release(&rd.line);
		return r;
	}
	return reader_end(&rd, cause);
}

static int read_path(struct walk *w, const char *path, bool top,
		     bool nested, char **cause);

/*
 * Does an unpacked container hold whole-file types only (bytecode.cvd)?
 * Then the delta keeps the container itself: ClamAV loads bytecode only
 * from a signed container (or with --bytecode-unsigned).
 */
static bool only_whole_files(const char *dir)
{
	struct dirent **names;
	char ext[EXTMAX];
	bool only = true;
	int n = scandir(dir, &names, NULL, alphasort);

	if (n < 0)
		return false;
	for (int i = 0; i < n; i++) {
		enum class c = classify(names[i]->d_name, ext);

		if (names[i]->d_name[0] != '.' && c != CLASS_CONTEXT &&
		    c != CLASS_IGNORED)
			only = false;
		free(names[i]);
	}
	free(names);
	return only;
}

/* A verbatim copy of a container in the delta, under its own name. */
static int keep_container(struct walk *w, const char *path, char **cause)
{
	const char *base = strrchr(path, '/');
	char chunk[1 << 16];
	ssize_t k;
	int in, out, r = 0;

	base = base ? base + 1 : path;
	in = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0) {
		r = -errno;
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		return r;
	}
	r = delta_create(w, base, &out);
	while (r == 0 && (k = read(in, chunk, sizeof(chunk))) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		r = k < 0 ? -errno : write_all(out, chunk, (size_t)k);
	}
	if (r == 0 && close(out) < 0)
		r = -errno;
	else if (out >= 0 && r < 0)
		close(out);
	close(in);
	if (r < 0)
		*cause = xasprintf("cannot copy '%s' into the delta: %s",
				   path, strerror(-r));
	return r;
}

/*
 * A container: a 512-byte header "ClamAV-VDB:..." and a tar.  sigtool (the
 * database's own tool, which checks it) unpacks it into a private
 * directory, read like a database directory.
 */
static int read_container(struct walk *w, const char *path, char **cause)
{
	char head[512], *tmp, *dir = NULL, *log = NULL, *abs = NULL;
	char *sigtool = NULL, *arg = NULL;
	struct buf err = { 0 };
	ssize_t k;
	int fd, status, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		return -errno;
	}
	do
		k = pread(fd, head, sizeof(head), 0);
	while (k < 0 && errno == EINTR);
	close(fd);
	if (k != (ssize_t)sizeof(head) || memcmp(head, "ClamAV-VDB:", 11) ||
	    memchr(head, '\0', sizeof(head))) {
		*cause = xasprintf("'%s' is not a ClamAV database container "
				   "(bad header)", path);
		return -EINVAL;
	}
	tmp = xasprintf("%s/avbatch-sigset.XXXXXX", w->tmpdir);
	if (!mkdtemp(tmp)) {	/* mode 0700 */
		r = -errno;
		*cause = xasprintf("cannot create a directory in '%s': %s",
				   w->tmpdir, strerror(errno));
		free(tmp);
		return r;
	}
	dir = xasprintf("%s/db", tmp);
	log = xasprintf("%s/sigtool.log", tmp);
	abs = realpath(path, NULL);
	if (!abs || mkdir_private(dir) < 0) {
		r = -errno;
		*cause = xasprintf("cannot unpack '%s': %s", path,
				   strerror(errno));
		goto done;
	}
	r = proc_find("sigtool", &sigtool, cause);
	if (r < 0)
		goto done;
	arg = xasprintf("--unpack=%s", abs);
	r = proc_run((char *[]){ sigtool, arg, NULL },
		     &(struct proc_io){ .out_path = log, .err_path = log,
					.cwd = dir }, UNPACK_TIMEOUT, &status);
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		char *nl;

		read_file(log, 4096, &err);
		nl = err.p ? strchr(err.p, '\n') : NULL;
		if (nl)
			*nl = '\0';
		*cause = xasprintf("sigtool cannot unpack '%s': %s", path,
				   err.p && *err.p ? err.p : "failed");
		r = -EINVAL;
		goto done;
	}
	if (r < 0) {
		*cause = xasprintf("cannot run sigtool on '%s': %s", path,
				   strerror(-r));
		goto done;
	}
	if (w->dirfd >= 0 && only_whole_files(dir)) {
		int dirfd = w->dirfd;

		w->dirfd = -1;
		r = read_path(w, dir, true, true, cause);
		w->dirfd = dirfd;
		if (r == 0)
			r = keep_container(w, path, cause);
	} else {
		r = read_path(w, dir, true, true, cause);
	}
done:
	rmtree(tmp);
	buf_release(&err);
	free(tmp);
	free(dir);
	free(log);
	free(abs);
	free(sigtool);
	free(arg);
	return r;
}

/* A file by its type; containers unpacked (not inside another one). */
static int read_file_by_type(struct walk *w, const char *path, bool nested,
			     char **cause)
{
	char ext[EXTMAX];
	enum class c = classify(path, ext);
	int fd, r;

	if (c == CLASS_IGNORED)
		return 0;
	if (c == CLASS_CONTAINER && !nested)
		return read_container(w, path, cause);
	if (c == CLASS_CONTAINER)
		c = CLASS_UNKNOWN;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		return -errno;
	}
	r = read_fd(w, fd, path, ext, (enum sigset_kind)c, cause);
	close(fd);
	return r;
}

/*
 * A path named as signatures (top: followed) or an entry of a directory
 * (regular files only, as the verdict cache's fingerprint counts them).
 * Directories are read one level deep, as ClamAV loads them.
 */
static int read_path(struct walk *w, const char *path, bool top,
		     bool nested, char **cause)
{
	struct dirent **names;
	struct stat st;
	int n, r = 0;

	if ((top ? stat(path, &st) : lstat(path, &st)) < 0) {
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		return -errno;
	}
	if (S_ISREG(st.st_mode))
		return read_file_by_type(w, path, nested, cause);
	if (!top || !S_ISDIR(st.st_mode))
		return 0;
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		char *p;

		if (r == 0 && strcmp(names[i]->d_name, ".") &&
		    strcmp(names[i]->d_name, "..")) {
			p = xasprintf("%s/%s", path, names[i]->d_name);
			r = read_path(w, p, false, nested, cause);
			free(p);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

static int walk_paths(struct walk *w, const struct strv *paths, char **cause)
{
	int r = 0;

	for (size_t i = 0; i < paths->n && r == 0; i++)
		r = read_path(w, paths->v[i], true, false, cause);
	if (r == 0)
		finish(w->set);
	return r;
}

int sigset_read(const struct strv *paths, const char *tmpdir,
		struct sigset **out, char **cause)
{
	struct walk w;
	int r;

	r = walk_init(&w, tmpdir, cause);
	if (r == 0)
		r = walk_paths(&w, paths, cause);
	r = walk_release(&w, r, cause);
	*out = w.set;
	return r;
}

int sigset_read_delta(const struct strv *paths, const struct sigset *old,
		      const char *tmpdir, const char *dir,
		      struct sigset **out, size_t *detections, char **cause)
{
	struct walk w;
	int r;

	*detections = 0;
	r = walk_init(&w, tmpdir, cause);
	if (r < 0)
		goto done;
	w.old = old;
	w.idx = xcalloc(old->n + 1, sizeof(*w.idx));
	for (size_t i = 0; i < old->n; i++)
		if (old->t[i].n >= INDEX_MIN)
			prefix_index_build(&w.idx[w.nidx++], &old->t[i]);
	w.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (w.dirfd < 0) {
		r = -errno;
		*cause = xasprintf("cannot open the directory '%s': %s", dir,
				   strerror(errno));
		goto done;
	}
	r = walk_paths(&w, paths, cause);
	*detections = w.detections;
done:
	r = walk_release(&w, r, cause);
	*out = w.set;
	return r;
}

/* ------------------------------------------------------------ encoding */

static void put_u64(struct buf *b, uint64_t v)
{
	unsigned char le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	buf_add(b, le, sizeof(le));
}

/*
 * MAGIC, a version byte, the context's length (u64 LE) and bytes, the
 * number of types (u64 LE), then per type (by name): kind byte, name
 * length byte, name, count (u64 LE), count sorted distinct hashes.
 */
void sigset_encode(const struct sigset *s, struct buf *out)
{
	buf_add(out, MAGIC, strlen(MAGIC));
	buf_add(out, (unsigned char[]){ SET_VERSION }, 1);
	put_u64(out, s->context.len);
	if (s->context.len)
		buf_add(out, s->context.p, s->context.len);
	put_u64(out, s->n);
	for (size_t i = 0; i < s->n; i++) {
		const struct sigtype *t = &s->t[i];
		size_t len = strlen(t->ext);

		buf_add(out, (unsigned char[]){ (unsigned char)t->kind,
						(unsigned char)len }, 2);
		buf_add(out, t->ext, len);
		put_u64(out, t->n);
		if (t->n)
			buf_add(out, t->h, t->n * HLEN);
	}
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static bool ext_valid(const char *ext)
{
	if (!strcmp(ext, "?"))
		return true;
	for (const char *p = ext; *p; p++)
		if (*p == '/' || *p == '.' || (unsigned char)*p <= ' ' ||
		    (unsigned char)*p >= 0x7f)
			return false;
	return *ext != '\0';
}

int sigset_decode(const void *data, size_t len, struct sigset **out,
		  char **cause)
{
	const unsigned char *p = data, *end = p + len;
	struct sigset *s = sigset_new();
	const char *what = "truncated";
	uint64_t ntypes;

	*out = NULL;
	if (len < strlen(MAGIC) + 1 || memcmp(p, MAGIC, strlen(MAGIC))) {
		what = "not a signature set";
		goto fail;
	}
	p += strlen(MAGIC);
	if (*p++ != SET_VERSION) {
		what = "unknown version";
		goto fail;
	}
	if (end - p < 8 || get_u64(p) > (uint64_t)(end - p - 8))
		goto fail;
	buf_add(&s->context, p + 8, (size_t)get_u64(p));
	p += 8 + s->context.len;
	if (end - p < 8)
		goto fail;
	ntypes = get_u64(p);
	p += 8;
	for (; ntypes; ntypes--) {
		char ext[EXTMAX];
		size_t n, k, ti;
		uint64_t count;
		struct sigtype *t;
		enum class c;

		if (end - p < 2)
			goto fail;
		k = p[1];
		if (p[0] > SIGSET_UNKNOWN || !k || k >= EXTMAX ||
		    (size_t)(end - p - 2) < k + 8) {
			what = "bad type";
			goto fail;
		}
		memcpy(ext, p + 2, k);
		ext[k] = '\0';
		if (memchr(ext, '\0', k) || !ext_valid(ext)) {
			what = "bad type name";
			goto fail;
		}
		/* The kind is what the name says, never what the bytes say. */
		c = CLASS_UNKNOWN;
		for (size_t i = 0; i < ARRAY_SIZE(types); i++)
			if (!strcmp(ext, types[i].ext))
				c = types[i].class;
		if ((c != CLASS_DETECT && c != CLASS_ALLOW &&
		     c != CLASS_CONTEXT && c != CLASS_UNKNOWN) ||
		    p[0] != (unsigned char)c) {
			what = "type of the wrong kind";
			goto fail;
		}
		if (s->n && strcmp(s->t[s->n - 1].ext, ext) >= 0) {
			what = "types out of order";
			goto fail;
		}
		p += 2 + k;
		count = get_u64(p);
		p += 8;
		if (count > (uint64_t)(end - p) / HLEN)
			goto fail;
		n = (size_t)count;
		ti = type_index(s, ext, (enum sigset_kind)c);
		t = &s->t[ti];
		t->h = xreallocarray(NULL, n ? n : 1, HLEN);
		t->alloc = n ? n : 1;
		for (size_t i = 0; i < n; i++, p += HLEN) {
			if (i && hash_cmp(t->h[i - 1], p) >= 0) {
				what = "hashes out of order";
				goto fail;
			}
			memcpy(t->h[i], p, HLEN);
			t->n++;
		}
	}
	if (p != end) {
		what = "trailing bytes";
		goto fail;
	}
	*out = s;
	return 0;
fail:
	sigset_free(s);
	*cause = xasprintf("damaged signature set: %s", what);
	return -EINVAL;
}

/* ---------------------------------------------------------- comparing */

static void count_changes(const struct sigtype *a, const struct sigtype *b,
			  size_t *added, size_t *removed)
{
	size_t i = 0, j = 0, na = a ? a->n : 0, nb = b ? b->n : 0;

	*added = *removed = 0;
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 :
			hash_cmp(a->h[i], b->h[j]);

		if (c < 0)
			++*removed, i++;
		else if (c > 0)
			++*added, j++;
		else
			i++, j++;
	}
}

static void judge(struct sigset_diff *d, const struct sigtype *t,
		  size_t added, size_t removed)
{
	enum sigset_change c = SIGSET_SAME;
	const char *why = NULL;

	d->removed += removed;
	switch (t->kind) {
	case SIGSET_DETECT:
		d->added += added;
		c = added ? SIGSET_DELTA : removed ? SIGSET_CLEAN_HOLDS :
		    SIGSET_SAME;
		break;
	case SIGSET_ALLOW:
		d->allowed += added;
		/* A removed allow-list entry can turn clean into infected. */
		c = removed ? SIGSET_FULL : added ? SIGSET_CLEAN_HOLDS :
		    SIGSET_SAME;
		why = "an allow-list entry was removed from";
		break;
	case SIGSET_CONTEXT:
	case SIGSET_UNKNOWN:
		c = added || removed ? SIGSET_FULL : SIGSET_SAME;
		why = t->kind == SIGSET_UNKNOWN ? "a file of unknown type "
		      "changed:" : "a whole-file type changed:";
		break;
	}
	if (c > d->change)
		d->change = c;
	if (c == SIGSET_FULL && !d->why)
		d->why = xasprintf("%s .%s", why, t->ext);
}

void sigset_diff(const struct sigset *old, const struct sigset *new,
		 struct sigset_diff *d)
{
	size_t added, removed;

	memset(d, 0, sizeof(*d));
	if (old->context.len != new->context.len || (old->context.len &&
	    memcmp(old->context.p, new->context.p, old->context.len))) {
		d->change = SIGSET_FULL;
		d->why = xstrdup("the engine, its version or its options "
				 "changed");
	}
	for (size_t i = 0; i < new->n; i++) {
		count_changes(type_find(old, new->t[i].ext), &new->t[i],
			      &added, &removed);
		judge(d, &new->t[i], added, removed);
	}
	for (size_t i = 0; i < old->n; i++)
		if (!type_find(new, old->t[i].ext)) {
			count_changes(&old->t[i], NULL, &added, &removed);
			judge(d, &old->t[i], added, removed);
		}
}

void sigset_diff_release(struct sigset_diff *d)
{
	free(d->why);
	d->why = NULL;
}

size_t sigset_ntypes(const struct sigset *s)
{
	return s->n;
}

const char *sigset_type(const struct sigset *s, size_t i,
			enum sigset_kind *kind, size_t *count)
{
	if (kind)
		*kind = s->t[i].kind;
	if (count)
		*count = s->t[i].n;
	return s->t[i].ext;
}

char *sigset_digest(const struct sigset *s)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	struct buf enc = { 0 }, hex = { 0 };

	sigset_encode(s, &enc);
	if (!EVP_Digest(enc.p, enc.len, md, &n, EVP_sha256(), NULL))
		n = 0;
	for (unsigned int i = 0; i < n; i++)
		buf_addf(&hex, "%02x", md[i]);
	buf_release(&enc);
	return hex.p ? hex.p : xstrdup("");
}

int sigset_recall(struct cache *c, const char *fingerprint,
		  struct sigset **out)
{
	struct buf b = { 0 };
	char *cause = NULL;
	int r;

	*out = NULL;
	r = cache_memo_get(c, "sigset", fingerprint, &b);
	if (r == 0)
		r = sigset_decode(b.p, b.len, out, &cause);
	free(cause);
	buf_release(&b);
	return r;
}

void sigset_remember(struct cache *c, const char *fingerprint,
		     const struct sigset *s)
{
	struct buf b = { 0 };

	sigset_encode(s, &b);
	cache_memo_put(c, "sigset", fingerprint, b.p, b.len);
	buf_release(&b);
}

bool sigset_remembered(struct cache *c, const char *fingerprint)
{
	return cache_memo_has(c, "sigset", fingerprint);
}
