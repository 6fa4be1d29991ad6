/* quarantine.c - the host's store of files taken out of guests */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "quarantine.h"
#include "util.h"

/*
 * An item is two files in the store: ID.data, the content and then each
 * NTFS named stream, behind a magic line and enciphered with AES-256-CTR
 * (one keystream) under a key and IV of its own, and ID.json, its record,
 * which holds that key, the sizes and the sha256 of each.  The cipher is
 * not there to keep a secret (the key lies beside it): like the vendors'
 * quarantines (Defender's RC4, the XOR of others) it keeps the bytes
 * from being run, opened or recognised by a host scanner.  A per-item
 * random key rather than a fixed XOR means a guest that chooses the
 * content cannot choose what the store holds (no crafted file that
 * becomes a signature, a script or an ELF once stored), and CTR's
 * keystream has no period that would let a pattern of the original show
 * through.  OpenSSL is linked already for SHA-256.
 */
#define DATA_MAGIC	"AVBQUARANTINE01\n"
#define DATA_MAGIC_LEN	16
#define KEY_LEN		32
#define IV_LEN		16
#define RECORD_MAX	(16u << 20)	/* xattrs in base64: 64 KiB each at most */
#define CHUNK		65536
#define RECORD_SCHEMA	1
#define ID_TIME_LEN	15		/* 20261203T135425 */
#define ID_RAND_LEN	16		/* 64 random bits in hex */
#define ID_LEN		(ID_TIME_LEN + 1 + ID_RAND_LEN)
#define B64_PREFIX	"b64:"		/* no xattr name starts so */

struct quarantine {
	char *dir;
	int dfd;
};

static void hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lowercase hex of exactly n bytes: 0, or -EINVAL. */
static int hex_decode(const char *s, unsigned char *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int random_bytes(void *p, size_t n)
{
	ssize_t got = getrandom(p, n, 0);

	return got == (ssize_t)n ? 0 : got < 0 ? -errno : -EIO;
}

bool quarantine_id_valid(const char *s)
{
	if (!s || strlen(s) != ID_LEN || s[8] != 'T' || s[ID_TIME_LEN] != '-')
		return false;
	for (size_t i = 0; i < ID_TIME_LEN; i++)
		if (i != 8 && (s[i] < '0' || s[i] > '9'))
			return false;
	for (size_t i = ID_TIME_LEN + 1; i < ID_LEN; i++)
		if (hex_value(s[i]) < 0)
			return false;
	return true;
}

/* Why the store at dir (st, from lstat) may not be used, or NULL. */
static char *store_refusal(const struct stat *st)
{
	if (S_ISLNK(st->st_mode))
		return xstrdup("it is a symbolic link");
	if (!S_ISDIR(st->st_mode))
		return xstrdup("it is not a directory");
	if (st->st_uid != geteuid())
		return xasprintf("it is owned by uid %u", (unsigned)st->st_uid);
	if (st->st_mode & 077)
		return xasprintf("its mode is %04o: group or others may enter "
				 "it (it must be 0700)",
				 (unsigned)(st->st_mode & 07777));
	return NULL;
}

/* Make dir 0700, and its parent first when that is missing. */
static int make_store(const char *dir)
{
	char *copy;
	int r = mkdir_private(dir);

	if (r != -ENOENT)
		return r;
	copy = xstrdup(dir);
	r = mkdir_private(dirname(copy));
	free(copy);
	return r < 0 ? r : mkdir_private(dir);
}

int quarantine_open(const char *dir, bool create, struct quarantine **out,
		    char **cause)
{
	struct quarantine *q = xcalloc(1, sizeof(*q));
	struct stat st;
	char *why = NULL;
	int r = 0;

	q->dir = xstrdup(dir);
	q->dfd = -1;
	if (lstat(dir, &st) == 0) {
		why = store_refusal(&st);
		if (why) {
			r = -EPERM;
			goto fail;
		}
	} else if (errno != ENOENT || !create) {
		r = -errno;
		why = xstrdup(r == -ENOENT ? "it does not exist" :
			      strerror(-r));
		goto fail;
	} else if ((r = make_store(dir)) < 0) {
		why = xasprintf("cannot create it: %s", strerror(-r));
		goto fail;
	}
	/* What is checked is what is used: the fd, never the name again. */
	q->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (q->dfd < 0 || fstat(q->dfd, &st) < 0) {
		r = -errno;
		why = xstrdup(r == -ELOOP ? "it is a symbolic link" :
			      strerror(-r));
		goto fail;
	}
	why = store_refusal(&st);
	if (why) {
		r = -EPERM;
		goto fail;
	}
	*out = q;
	return 0;
fail:
	*cause = xasprintf("refusing the quarantine store '%s': %s", dir, why);
	free(why);
	quarantine_close(q);
	return r;
}

void quarantine_close(struct quarantine *q)
{
	if (!q)
		return;
	if (q->dfd >= 0)
		close(q->dfd);
	free(q->dir);
	free(q);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A new temporary in the store: O_EXCL, a random name, 0600. */
static int temp_open(struct quarantine *q, char **name)
{
	unsigned char rnd[8];
	char hex[2 * sizeof(rnd) + 1];
	int fd, r = random_bytes(rnd, sizeof(rnd));

	if (r < 0)
		return r;
	hex_encode(rnd, sizeof(rnd), hex);
	*name = xasprintf(".tmp-%s", hex);
	fd = openat(q->dfd, *name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		free(*name);
		*name = NULL;
		return r;
	}
	return fd;
}

/* Give the temporary its final name; an existing one is never replaced. */
static int temp_commit(struct quarantine *q, const char *tmp,
		       const char *name)
{
	if (renameat2(q->dfd, tmp, q->dfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* A file system without RENAME_NOREPLACE: link, then unlink. */
	if (linkat(q->dfd, tmp, q->dfd, name, 0) < 0)
		return -errno;
	unlinkat(q->dfd, tmp, 0);
	return 0;
}

/* Write data as the store's file name: temporary, fsync, rename. */
static int store_file(struct quarantine *q, const char *name,
		      const void *data, size_t len)
{
	char *tmp = NULL;
	int fd = temp_open(q, &tmp), r;

	if (fd < 0)
		return fd;
	r = write_all(fd, data, len);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r)
		r = temp_commit(q, tmp, name);
	if (r < 0)
		unlinkat(q->dfd, tmp, 0);
	free(tmp);
	return r;
}

/* Encipher n bytes of p onto fd (the keystream goes on from cx). */
static int encipher(EVP_CIPHER_CTX *cx, int fd, const void *p, size_t n,
		    unsigned char *enc)
{
	const unsigned char *in = p;
	int len, r = 0;

	while (!r && n > 0) {
		size_t k = n < CHUNK ? n : CHUNK;

		if (!EVP_EncryptUpdate(cx, enc, &len, in, (int)k))
			return -EIO;
		r = write_all(fd, enc, (size_t)len);
		in += k;
		n -= k;
	}
	return r;
}

static int sha256_of(const void *p, size_t n, unsigned char *sha)
{
	return EVP_Digest(p, n, sha, NULL, EVP_sha256(), NULL) ? 0 : -EIO;
}

/*
 * Encipher what in reads, then each named stream of m, into the store's
 * file name (one keystream, in that order); the sha256 and size of what
 * in gave, and each stream's sha256, come back.
 */
static int store_content(struct quarantine *q, const char *name, int in,
			 const struct quarantine_item *m,
			 const unsigned char *key, const unsigned char *iv,
			 unsigned char *sha, uint64_t *size,
			 unsigned char (*stream_sha)[32])
{
	EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *plain = xmalloc(CHUNK), *enc = xmalloc(CHUNK + 32);
	char *tmp = NULL;
	int fd = -1, len, r = 0;
	ssize_t n;

	*size = 0;
	if (!cx || !md || !EVP_EncryptInit_ex(cx, EVP_aes_256_ctr(), NULL,
					      key, iv) ||
	    !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		r = -ENOMEM;
		goto done;
	}
	fd = temp_open(q, &tmp);
	if (fd < 0) {
		r = fd;
		goto done;
	}
	r = write_all(fd, DATA_MAGIC, DATA_MAGIC_LEN);
	while (!r) {
		n = read(in, plain, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		*size += (uint64_t)n;
		if (!EVP_DigestUpdate(md, plain, (size_t)n)) {
			r = -EIO;
			break;
		}
		r = encipher(cx, fd, plain, (size_t)n, enc);
	}
	if (!r && !EVP_DigestFinal_ex(md, sha, NULL))
		r = -EIO;
	for (size_t i = 0; !r && i < m->nstreams; i++) {
		r = sha256_of(m->streams[i].value, m->streams[i].len,
			      stream_sha[i]);
		if (!r)
			r = encipher(cx, fd, m->streams[i].value,
				     m->streams[i].len, enc);
	}
	if (!r && !EVP_EncryptFinal_ex(cx, enc, &len))
		r = -EIO;
	if (!r && len > 0)
		r = write_all(fd, enc, (size_t)len);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r)
		r = temp_commit(q, tmp, name);
	if (!r && fsync(q->dfd) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(q->dfd, tmp, 0);
done:
	EVP_CIPHER_CTX_free(cx);
	EVP_MD_CTX_free(md);
	free(plain);
	free(enc);
	free(tmp);
	return r;
}

static struct json_object *time_json(const struct timespec *ts)
{
	struct json_object *o = json_object_new_object();

	json_put_int(o, "sec", ts->tv_sec);
	json_put_int(o, "nsec", ts->tv_nsec);
	return o;
}

/* name -> base64 value; a name that is not UTF-8 as "b64:" + base64. */
static struct json_object *attrs_json(const struct quarantine_attr *a,
				      size_t n)
{
	struct json_object *o = json_object_new_object();

	for (size_t i = 0; i < n; i++) {
		char *value = base64_encode(a[i].value, a[i].len), *key;

		if (utf8_valid(a[i].name, a[i].name_len) &&
		    !memchr(a[i].name, '\0', a[i].name_len) &&
		    !str_has_prefix(a[i].name, B64_PREFIX)) {
			key = xstrndup(a[i].name, a[i].name_len);
		} else {
			char *b = base64_encode(a[i].name, a[i].name_len);

			key = xasprintf(B64_PREFIX "%s", b);
			free(b);
		}
		json_put_str(o, key, value);
		free(key);
		free(value);
	}
	return o;
}

/* Each named stream: its name, size and sha256 (its bytes are data). */
static struct json_object *streams_json(const struct quarantine_item *m,
					unsigned char (*sha)[32])
{
	struct json_object *a = json_object_new_array();
	char hex[65];

	for (size_t i = 0; i < m->nstreams; i++) {
		struct json_object *o = json_object_new_object();

		json_put_bytes(o, "name", "name_b64", m->streams[i].name,
			       m->streams[i].name_len);
		json_put_int(o, "size", (int64_t)m->streams[i].len);
		hex_encode(sha[i], 32, hex);
		json_put_str(o, "sha256", hex);
		json_object_array_add(a, o);
	}
	return a;
}

/* The record put writes: everything restore and an analyst need. */
static struct json_object *record_json(const char *id,
				       const struct quarantine_item *m,
				       const unsigned char *sha, uint64_t size,
				       unsigned char (*stream_sha)[32],
				       const unsigned char *key,
				       const unsigned char *iv)
{
	struct json_object *o = json_object_new_object(), *c;
	char hex[2 * KEY_LEN + 1], *now = time_iso8601(time(NULL));

	json_put_str(o, "kind", "avbatch-quarantine");
	json_put_int(o, "schema", RECORD_SCHEMA);
	json_put_str(o, "id", id);
	json_put_str(o, "time", now);
	json_put_str(o, "job", m->job);
	json_put_str(o, "image", m->image);
	json_put_str(o, "fs", m->fs);
	json_put_bytes(o, "path", "path_b64", m->path, m->path_len);
	json_put_str(o, "stream", m->stream);
	hex_encode(sha, 32, hex);
	json_put_str(o, "sha256", hex);
	json_put_int(o, "size", (int64_t)size);
	json_put_int(o, "mode", m->mode);
	json_put_int(o, "uid", m->uid);
	json_put_int(o, "gid", m->gid);
	json_put_obj(o, "atime", time_json(&m->atime));
	json_put_obj(o, "mtime", time_json(&m->mtime));
	json_put_obj(o, "ctime", time_json(&m->ctime));
	json_put_obj(o, "xattrs", attrs_json(m->xattrs, m->nxattrs));
	json_put_obj(o, "streams", streams_json(m, stream_sha));
	json_put_str(o, "threat", m->threat);
	json_put_str(o, "engine", m->engine);
	c = json_object_new_object();
	json_put_str(c, "name", "aes-256-ctr");
	hex_encode(key, KEY_LEN, hex);
	json_put_str(c, "key", hex);
	hex_encode(iv, IV_LEN, hex);
	json_put_str(c, "iv", hex);
	json_put_obj(o, "cipher", c);
	free(now);
	return o;
}

/* A new id: the time, then 64 random bits. */
static int new_id(char **id)
{
	unsigned char rnd[ID_RAND_LEN / 2];
	char hex[ID_RAND_LEN + 1], when[ID_TIME_LEN + 1];
	time_t now = time(NULL);
	struct tm tm;
	int r = random_bytes(rnd, sizeof(rnd));

	if (r < 0)
		return r;
	hex_encode(rnd, sizeof(rnd), hex);
	if (!gmtime_r(&now, &tm) ||
	    strftime(when, sizeof(when), "%Y%m%dT%H%M%S", &tm) != ID_TIME_LEN)
		return -EOVERFLOW;
	*id = xasprintf("%s-%s", when, hex);
	return 0;
}

int quarantine_put(struct quarantine *q, const struct quarantine_item *meta,
		   int content_fd, char **id, char **cause)
{
	unsigned char key[KEY_LEN], iv[IV_LEN], sha[32], (*ssha)[32];
	struct json_object *rec = NULL;
	char *nid = NULL, *data = NULL, *name = NULL;
	const char *text;
	uint64_t size;
	int r;

	if (!meta->path) {
		*cause = xstrdup("cannot quarantine a file without its path");
		return -EINVAL;
	}
	ssha = xcalloc(meta->nstreams + 1, sizeof(*ssha));
	r = new_id(&nid);
	if (!r)
		r = random_bytes(key, sizeof(key));
	if (!r)
		r = random_bytes(iv, sizeof(iv));
	if (r < 0) {
		*cause = xasprintf("cannot make a quarantine id: %s",
				   strerror(-r));
		goto done;
	}
	data = xasprintf("%s.data", nid);
	r = store_content(q, data, content_fd, meta, key, iv, sha, &size,
			  ssha);
	if (!r && meta->sha256 && memcmp(meta->sha256, sha, sizeof(sha))) {
		r = -ESTALE;
		/* No guest path here: the caller prints it escaped. */
		*cause = xstrdup("the file is not what was scanned: its "
				 "sha256 differs");
		unlinkat(q->dfd, data, 0);
		goto done;
	}
	if (r < 0) {
		*cause = xasprintf("cannot store '%s' in '%s': %s", data,
				   q->dir, strerror(-r));
		goto done;
	}
	rec = record_json(nid, meta, sha, size, ssha, key, iv);
	text = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PRETTY |
		JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	name = xasprintf("%s.json", nid);
	r = strlen(text) > RECORD_MAX ? -EFBIG :
	    store_file(q, name, text, strlen(text));
	if (r < 0) {
		*cause = xasprintf("cannot store '%s' in '%s': %s", name,
				   q->dir, strerror(-r));
		unlinkat(q->dfd, data, 0);
		goto done;
	}
	/* Both names on disk before the caller removes the original. */
	if (fsync(q->dfd) < 0) {
		r = -errno;
		*cause = xasprintf("cannot sync '%s': %s", q->dir,
				   strerror(-r));
		goto done;
	}
	*id = nid;
	nid = NULL;
done:
	explicit_bzero(key, sizeof(key));
	json_object_put(rec);
	free(ssha);
	free(nid);
	free(data);
	free(name);
	return r;
}

/* Read the regular file at fd, at most max bytes. */
static int read_fd(int fd, size_t max, struct buf *out)
{
	char chunk[8192];
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		if (out->len + (size_t)n > max)
			return -EFBIG;
		buf_add(out, chunk, (size_t)n);
	}
	if (!out->p)
		buf_add(out, "", 0);
	return 0;
}

/* Is member key of o absent, null or a string? */
static bool str_or_null(struct json_object *o, const char *key)
{
	struct json_object *v = json_get(o, key);

	return !v || json_object_is_type(v, json_type_string);
}

static bool int_in(struct json_object *o, const char *key, int64_t lo,
		   int64_t hi)
{
	struct json_object *v = json_get(o, key);
	int64_t x;

	if (!v || !json_object_is_type(v, json_type_int))
		return false;
	x = json_object_get_int64(v);
	return x >= lo && x <= hi;
}

static bool time_valid(struct json_object *o, const char *key)
{
	struct json_object *t = json_get(o, key);

	return t && json_object_is_type(t, json_type_object) &&
	       int_in(t, "sec", INT64_MIN, INT64_MAX) &&
	       int_in(t, "nsec", 0, 999999999);
}

/* An object of name -> base64 value, as attrs_json writes it. */
static bool attrs_valid(struct json_object *o, const char *key)
{
	struct json_object *a = json_get(o, key);
	struct buf b = { 0 };
	bool good = a && json_object_is_type(a, json_type_object);

	if (!good)
		return false;
	json_object_object_foreach(a, name, v) {
		if (!v || !json_object_is_type(v, json_type_string) ||
		    base64_decode(json_object_get_string(v), &b) < 0 ||
		    (str_has_prefix(name, B64_PREFIX) &&
		     base64_decode(name + strlen(B64_PREFIX), &b) < 0))
			good = false;
		b.len = 0;
	}
	buf_release(&b);
	return good;
}

/*
 * The streams array as streams_json writes it; *total: the size of the
 * content and every stream, so no sum overflows.
 */
static bool streams_valid(struct json_object *o, uint64_t *total)
{
	struct json_object *a = json_get(o, "streams");
	unsigned char scratch[32];
	struct buf b = { 0 };
	bool good = json_object_is_type(a, json_type_array);

	*total = (uint64_t)json_get_int(o, "size", 0);
	for (size_t i = 0; good && i < json_array_len(a); i++) {
		struct json_object *x = json_object_array_get_idx(a, i);

		b.len = 0;
		good = json_object_is_type(json_get(x, "name"),
					   json_type_string) &&
		       str_or_null(x, "name_b64") &&
		       json_get_bytes(x, "name", "name_b64", &b) == 0 &&
		       int_in(x, "size", 0, INT64_MAX - DATA_MAGIC_LEN -
			      (int64_t)*total) &&
		       hex_decode(json_get_str(x, "sha256"), scratch, 32) == 0;
		if (good)
			*total += (uint64_t)json_get_int(x, "size", 0);
	}
	buf_release(&b);
	return good;
}

/* What is wrong with a record (for item id), or NULL. */
static const char *record_problem(struct json_object *o, const char *id)
{
	struct json_object *c = json_get(o, "cipher");
	unsigned char scratch[KEY_LEN];
	struct buf path = { 0 };
	const char *kind = json_get_str(o, "kind");
	const char *rid = json_get_str(o, "id");
	const char *cname = json_get_str(c, "name");
	const char *bad = NULL;
	uint64_t total;

	if (!json_object_is_type(o, json_type_object) || !kind ||
	    strcmp(kind, "avbatch-quarantine"))
		return "not an avbatch quarantine record";
	if (json_get_int(o, "schema", 0) != RECORD_SCHEMA)
		return "an unknown schema";
	if (!rid || strcmp(rid, id))
		return "the id in it is another";
	if (hex_decode(json_get_str(o, "sha256"), scratch, 32) < 0)
		return "no sha256";
	if (!int_in(o, "size", 0, INT64_MAX - DATA_MAGIC_LEN))
		return "no size";
	if (!cname || strcmp(cname, "aes-256-ctr") ||
	    hex_decode(json_get_str(c, "key"), scratch, KEY_LEN) < 0 ||
	    hex_decode(json_get_str(c, "iv"), scratch, IV_LEN) < 0)
		return "no usable cipher";
	if (!json_object_is_type(json_get(o, "path"), json_type_string) ||
	    !str_or_null(o, "path_b64") ||
	    json_get_bytes(o, "path", "path_b64", &path) < 0)
		bad = "no guest path";
	buf_release(&path);
	if (bad)
		return bad;
	if (!int_in(o, "mode", 0, 0xffffffff) ||
	    !int_in(o, "uid", 0, 0xffffffff) ||
	    !int_in(o, "gid", 0, 0xffffffff))
		return "no mode or owner";
	if (!time_valid(o, "atime") || !time_valid(o, "mtime") ||
	    !time_valid(o, "ctime"))
		return "no times";
	if (!attrs_valid(o, "xattrs") || !streams_valid(o, &total))
		return "malformed xattrs or streams";
	if (!str_or_null(o, "time") || !str_or_null(o, "job") ||
	    !str_or_null(o, "image") || !str_or_null(o, "fs") ||
	    !str_or_null(o, "stream") || !str_or_null(o, "threat") ||
	    !str_or_null(o, "engine"))
		return "a member of the wrong type";
	return NULL;
}

/* Read and check id's record, cipher and all. */
static int load_record(struct quarantine *q, const char *id,
		       struct json_object **out, char **cause)
{
	struct json_object *o = NULL;
	struct buf b = { 0 };
	char *name, *why = NULL;
	const char *problem;
	int fd, r;

	if (!quarantine_id_valid(id)) {
		*cause = xasprintf("'%s' is not a quarantine id", id);
		return -EINVAL;
	}
	name = xasprintf("%s.json", id);
	fd = openat(q->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
	r = fd < 0 ? -errno : read_fd(fd, RECORD_MAX, &b);
	if (fd >= 0)
		close(fd);
	if (r == -ENOENT) {
		*cause = xasprintf("no item '%s' in the quarantine store '%s'",
				   id, q->dir);
		goto done;
	}
	if (r < 0) {
		*cause = xasprintf("cannot read the record of '%s' in '%s': "
				   "%s", id, q->dir, r == -EINVAL ?
				   "not a regular file" : strerror(-r));
		goto done;
	}
	o = json_parse(b.p, b.len, &why);
	problem = o ? record_problem(o, id) : why;
	if (problem) {
		*cause = xasprintf("the record of '%s' in '%s' is damaged: %s",
				   id, q->dir, problem);
		json_object_put(o);
		o = NULL;
		r = -EBADMSG;
		goto done;
	}
	*out = o;
done:
	free(why);
	free(name);
	buf_release(&b);
	return r;
}

int quarantine_record(struct quarantine *q, const char *id,
		      struct json_object **rec, char **cause)
{
	int r = load_record(q, id, rec, cause);

	if (!r)
		json_object_object_del(*rec, "cipher");
	return r;
}

/*
 * Where the bytes asked for lie in the keystream: 0 for the content, else
 * past the content and the streams before the one named.  -ENOENT when
 * the item has no such stream.
 */
static int locate(struct json_object *rec, const char *stream,
		  uint64_t *offset, uint64_t *size, unsigned char *sha)
{
	struct json_object *a = json_get(rec, "streams");
	struct buf b = { 0 };
	int r = -ENOENT;

	*offset = 0;
	*size = (uint64_t)json_get_int(rec, "size", 0);
	hex_decode(json_get_str(rec, "sha256"), sha, 32);
	if (!stream)
		return 0;
	for (size_t i = 0; r && i < json_array_len(a); i++) {
		struct json_object *x = json_object_array_get_idx(a, i);

		*offset += *size;
		*size = (uint64_t)json_get_int(x, "size", 0);
		b.len = 0;
		json_get_bytes(x, "name", "name_b64", &b);
		if (b.len == strlen(stream) && !memcmp(b.p, stream, b.len)) {
			hex_decode(json_get_str(x, "sha256"), sha, 32);
			r = 0;
		}
	}
	buf_release(&b);
	return r;
}

/* The whole size of the data a record describes: content and streams. */
static uint64_t data_size(struct json_object *rec)
{
	struct json_object *a = json_get(rec, "streams");
	uint64_t n = (uint64_t)json_get_int(rec, "size", 0);

	for (size_t i = 0; i < json_array_len(a); i++)
		n += (uint64_t)json_get_int(json_object_array_get_idx(a, i),
					    "size", 0);
	return n;
}

/* The counter block for keystream offset (AES-CTR: one block, 16 bytes). */
static void counter_at(const unsigned char *iv, uint64_t offset,
		       unsigned char *ctr)
{
	uint64_t add = offset / 16;
	unsigned carry = 0;

	for (int i = IV_LEN - 1; i >= 0; i--) {
		unsigned sum = iv[i] + (unsigned)(add & 0xff) + carry;

		ctr[i] = (unsigned char)sum;
		carry = sum >> 8;
		add >>= 8;
	}
}

/*
 * Decipher size bytes at keystream offset of the data file fd onto
 * out_fd; their sha256 must be want.
 */
static int decipher(int fd, const unsigned char *key, const unsigned char *iv,
		    uint64_t offset, uint64_t size, const unsigned char *want,
		    int out_fd)
{
	unsigned char *enc = xmalloc(CHUNK), *plain = xmalloc(CHUNK + 32);
	unsigned char ctr[IV_LEN], got[32];
	EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint64_t skip = offset % 16, left = size + skip;
	off_t at = (off_t)(DATA_MAGIC_LEN + offset - skip);
	int len, r = 0;

	counter_at(iv, offset, ctr);
	if (!cx || !md || !EVP_DecryptInit_ex(cx, EVP_aes_256_ctr(), NULL,
					      key, ctr) ||
	    !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		r = -ENOMEM;
		goto done;
	}
	while (!r && left > 0) {
		ssize_t n = pread(fd, enc, left < CHUNK ? (size_t)left : CHUNK,
				  at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EBADMSG;
			break;
		}
		at += n;
		left -= (uint64_t)n;
		if (!EVP_DecryptUpdate(cx, plain, &len, enc, (int)n)) {
			r = -EIO;
			break;
		}
		/* The block's bytes before offset are not ours. */
		if ((uint64_t)len <= skip) {
			skip -= (uint64_t)len;
			continue;
		}
		if (!EVP_DigestUpdate(md, plain + skip, (size_t)len - skip))
			r = -EIO;
		else
			r = write_all(out_fd, plain + skip, (size_t)len - skip);
		skip = 0;
	}
	if (!r && (!EVP_DecryptFinal_ex(cx, plain, &len) ||
		   !EVP_DigestFinal_ex(md, got, NULL)))
		r = -EIO;
	if (!r && memcmp(got, want, sizeof(got)))
		r = -EBADMSG;
done:
	EVP_CIPHER_CTX_free(cx);
	EVP_MD_CTX_free(md);
	free(enc);
	free(plain);
	return r;
}

int quarantine_get(struct quarantine *q, const char *id, const char *stream,
		   int out_fd, char **cause)
{
	unsigned char key[KEY_LEN], iv[IV_LEN], want[32];
	struct json_object *rec = NULL, *c;
	char magic[DATA_MAGIC_LEN], *name = NULL;
	uint64_t offset, size;
	struct stat st;
	int fd = -1, r;

	r = load_record(q, id, &rec, cause);
	if (r < 0)
		goto done;
	if (locate(rec, stream, &offset, &size, want) < 0) {
		r = -ENOENT;
		*cause = xasprintf("item '%s' has no stream '%s'", id, stream);
		goto done;
	}
	c = json_get(rec, "cipher");
	hex_decode(json_get_str(c, "key"), key, KEY_LEN);
	hex_decode(json_get_str(c, "iv"), iv, IV_LEN);
	name = xasprintf("%s.data", id);
	fd = openat(q->dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		*cause = xasprintf("cannot open the content of '%s' in '%s': "
				   "%s", id, q->dir, strerror(-r));
		goto done;
	}
	if (!S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != DATA_MAGIC_LEN + data_size(rec) ||
	    pread(fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
	    memcmp(magic, DATA_MAGIC, DATA_MAGIC_LEN)) {
		r = -EBADMSG;
		*cause = xasprintf("the content of '%s' in '%s' is damaged: "
				   "not the %llu bytes its record says", id,
				   q->dir,
				   (unsigned long long)data_size(rec));
		goto done;
	}
	r = decipher(fd, key, iv, offset, size, want, out_fd);
	if (r == -EBADMSG)
		*cause = xasprintf("the content of '%s' in '%s' is damaged: "
				   "its sha256 is not the record's", id,
				   q->dir);
	else if (r < 0)
		*cause = xasprintf("cannot copy the content of '%s' in '%s': "
				   "%s", id, q->dir, strerror(-r));
done:
	explicit_bzero(key, sizeof(key));
	json_object_put(rec);
	if (fd >= 0)
		close(fd);
	free(name);
	return r;
}

int quarantine_export(struct quarantine *q, const char *id, const char *stream,
		      const char *path, char **cause)
{
	char *tmp = xasprintf("%s.XXXXXX", path);
	int fd, r;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("cannot create a file beside '%s': %s",
				   path, strerror(-r));
		goto done;
	}
	r = quarantine_get(q, id, stream, fd, cause);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0 && !*cause)
		*cause = xasprintf("cannot write '%s': %s", path,
				   strerror(-r));
	if (r < 0)
		unlink(tmp);
done:
	free(tmp);
	return r;
}

int quarantine_list(struct quarantine *q, struct strv *ids, char **cause)
{
	int fd = openat(q->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *e;
	DIR *d = fd < 0 ? NULL : fdopendir(fd);

	if (!d) {
		int r = -errno;

		if (fd >= 0)
			close(fd);
		*cause = xasprintf("cannot list '%s': %s", q->dir,
				   strerror(-r));
		return r;
	}
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if (n == ID_LEN + 5 && !strcmp(e->d_name + ID_LEN, ".json")) {
			char *id = xstrndup(e->d_name, ID_LEN);

			if (quarantine_id_valid(id))
				strv_push_take(ids, id);
			else
				free(id);
		}
	}
	closedir(d);
	strv_sort(ids);
	return 0;
}

int quarantine_remove(struct quarantine *q, const char *id, char **cause)
{
	char *name;
	int r = 0;

	if (!quarantine_id_valid(id)) {
		*cause = xasprintf("'%s' is not a quarantine id", id);
		return -EINVAL;
	}
	/* The record first: an item is listed only while it has one. */
	name = xasprintf("%s.json", id);
	if (unlinkat(q->dfd, name, 0) < 0) {
		r = -errno;
		*cause = r == -ENOENT ?
			xasprintf("no item '%s' in the quarantine store '%s'",
				  id, q->dir) :
			xasprintf("cannot remove '%s' from '%s': %s", name,
				  q->dir, strerror(-r));
	}
	free(name);
	if (r < 0)
		return r;
	name = xasprintf("%s.data", id);
	if (unlinkat(q->dfd, name, 0) < 0 && errno != ENOENT) {
		r = -errno;
		*cause = xasprintf("cannot remove '%s' from '%s': %s", name,
				   q->dir, strerror(-r));
	}
	free(name);
	if (!r)
		fsync(q->dfd);
	return r;
}
