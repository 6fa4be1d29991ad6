/* util.c - allocation, strings, files and small helpers shared by all modules */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int verbosity;

static void oom(void)
{
	static const char m[] = "avbatch: out of memory\n";

	if (write(STDERR_FILENO, m, sizeof(m) - 1) < 0)
		abort();
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t nmemb, size_t n)
{
	void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xreallocarray(void *p, size_t nmemb, size_t n)
{
	p = reallocarray(p, nmemb ? nmemb : 1, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		oom();
	return p;
}

static char *vxasprintf(const char *fmt, va_list ap, size_t *len)
{
	char *p;
	int r = vasprintf(&p, fmt, ap);

	if (r < 0)
		oom();
	if (len)
		*len = (size_t)r;
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = vxasprintf(fmt, ap, NULL);
	va_end(ap);
	return p;
}

void strv_push_take(struct strv *sv, char *s)
{
	if (sv->n + 2 > sv->alloc) {
		sv->alloc = sv->alloc ? sv->alloc * 2 : 8;
		sv->v = xreallocarray(sv->v, sv->alloc, sizeof(*sv->v));
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void strv_insert0(struct strv *sv, const char *s)
{
	char *p;

	strv_push(sv, s);
	p = sv->v[sv->n - 1];
	memmove(sv->v + 1, sv->v, (sv->n - 1) * sizeof(*sv->v));
	sv->v[0] = p;
}

void strv_push(struct strv *sv, const char *s)
{
	strv_push_take(sv, xstrdup(s));
}

bool strv_has(const struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (!strcmp(sv->v[i], s))
			return true;
	return false;
}

void strv_remove(struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (!strcmp(sv->v[i], s)) {
			free(sv->v[i]);
			memmove(sv->v + i, sv->v + i + 1,
				(sv->n - i) * sizeof(*sv->v));
			sv->n--;
			return;
		}
}

void strv_release(struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->alloc = 0;
}

static int strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strv_sort(struct strv *sv)
{
	if (sv->n)
		qsort(sv->v, sv->n, sizeof(*sv->v), strv_cmp);
}

void str_set_first(char **slot, char *msg)
{
	if (*slot)
		free(msg);
	else
		*slot = msg;
}

void buf_add(struct buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->alloc) {
		size_t want = b->alloc ? b->alloc : 64;

		while (want < b->len + n + 1)
			want *= 2;
		b->p = xrealloc(b->p, want);
		b->alloc = want;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_addstr(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t n;
	char *p;

	va_start(ap, fmt);
	p = vxasprintf(fmt, ap, &n);
	va_end(ap);
	buf_add(b, p, n);
	free(p);
}

void buf_release(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->alloc = 0;
}

static void vmsg(int level, const char *fmt, va_list ap)
{
	if (verbosity < level)
		return;
	/* Over a progress line, if one is shown. */
	if (isatty(STDERR_FILENO))
		fputs("\r\033[K", stderr);
	fputs("avbatch: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void msg_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(0, fmt, ap);
	va_end(ap);
}

void msg_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(1, fmt, ap);
	va_end(ap);
}

int parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_int(const char *s, int *out)
{
	long v;
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < INT_MIN || v > INT_MAX)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Create a directory only its owner can enter, and check it really is one.
 * A directory that exists already is never chmodded (it may be /tmp): it
 * must be a directory, not a link, owned by us or root, and writable by
 * no one else unless sticky.
 */
int mkdir_private(const char *path)
{
	bool made = mkdir(path, 0700) == 0;
	struct stat st;

	if (!made && errno != EEXIST)
		return -errno;
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != geteuid() && (made || st.st_uid != 0))
		return -EPERM;
	if (!made)
		return (st.st_mode & 022) && !(st.st_mode & S_ISVTX) ?
		       -EPERM : 0;
	if ((st.st_mode & 07777) != 0700 && chmod(path, 0700) < 0)
		return -errno;
	return 0;
}

/*
 * Write a temporary beside path (O_EXCL, a random name: nobody can plant
 * it), fsync, rename: readers never see half a file, and a symlink at path
 * is replaced, never written through.
 */
int write_file_atomic(const char *path, const void *data, size_t len)
{
	return write_file_atomic_mode(path, data, len, 0600);
}

int write_file_atomic_mode(const char *path, const void *data, size_t len,
			   mode_t mode)
{
	char *tmp = xasprintf("%s.XXXXXX", path);
	const char *p = data;
	int fd, r = 0;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto done;
	}
	if (mode != 0600 && fchmod(fd, mode) < 0)
		r = -errno;
	while (!r && len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
done:
	free(tmp);
	return r;
}

int read_file(const char *path, size_t max, struct buf *out)
{
	char chunk[8192];
	int fd, r = 0;

	struct stat st;

	/* A FIFO or device named here must not block or act: files only. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	if (r < 0) {
		close(fd);
		return r;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		if (out->len + (size_t)n > max) {
			r = -EFBIG;
			break;
		}
		buf_add(out, chunk, (size_t)n);
	}
	close(fd);
	if (!out->p)
		buf_add(out, "", 0);
	return r;
}

static int rmtree_at(int dfd, const char *name)
{
	int fd, r = 0;
	DIR *d;
	struct dirent *de;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (rmtree_at(dirfd(d), de->d_name) < 0)
			r = -errno;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && !r)
		r = -errno;
	return r;
}

/*
 * Remove a directory tree we created.  Does not cross into mounted file
 * systems: rmdir of a busy mount point fails with EBUSY and is reported.
 */
int rmtree(const char *path)
{
	return rmtree_at(AT_FDCWD, path);
}

/* Changes closer to now than this are too recent to vouch for content. */
#define IDENTITY_RACY_NS	2000000000LL

int file_identity(const struct stat *st, struct buf *b)
{
	struct timespec now;
	long long c = (long long)st->st_ctim.tv_sec * 1000000000LL +
		      st->st_ctim.tv_nsec;
	long long m = (long long)st->st_mtim.tv_sec * 1000000000LL +
		      st->st_mtim.tv_nsec;
	long long t;

	clock_gettime(CLOCK_REALTIME, &now);
	t = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
	buf_addf(b, "%llu:%llu:%lld:%lld:%lld\n",
		 (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
		 (long long)st->st_size, m, c);
	return t - c < IDENTITY_RACY_NS || t - m < IDENTITY_RACY_NS ?
	       -EAGAIN : 0;
}

int path_identity(const char *path, struct buf *b)
{
	struct stat st;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return -EAGAIN;
	return file_identity(&st, b);
}

double time_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *m, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += ms % 1000 * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(c, m, &ts);
}

char *time_iso8601(time_t t)
{
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(s);
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 ||
	    cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	while (n > 0) {
		size_t l = utf8_seq(p, n);

		if (!l)
			return false;
		p += l;
		n -= l;
	}
	return true;
}

/* Copy with every invalid byte replaced by U+FFFD. */
char *utf8_lossy(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	struct buf b = { 0 };

	while (n > 0) {
		size_t l = utf8_seq(p, n);

		if (l) {
			buf_add(&b, p, l);
		} else {
			buf_add(&b, "\xef\xbf\xbd", 3);
			l = 1;
		}
		p += l;
		n -= l;
	}
	if (!b.p)
		buf_add(&b, "", 0);
	return b.p;
}

/* Hand-written: json-c has no encoder and libcrypto is not linked yet. */
char *base64_encode(const void *data, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		"0123456789+/";
	const unsigned char *p = data;
	char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;

	while (n >= 3) {
		*o++ = tab[p[0] >> 2];
		*o++ = tab[((p[0] & 3) << 4) | (p[1] >> 4)];
		*o++ = tab[((p[1] & 15) << 2) | (p[2] >> 6)];
		*o++ = tab[p[2] & 63];
		p += 3;
		n -= 3;
	}
	if (n > 0) {
		*o++ = tab[p[0] >> 2];
		if (n == 1) {
			*o++ = tab[(p[0] & 3) << 4];
			*o++ = '=';
		} else {
			*o++ = tab[((p[0] & 3) << 4) | (p[1] >> 4)];
			*o++ = tab[(p[1] & 15) << 2];
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int base64_decode(const char *s, struct buf *out)
{
	size_t n = strlen(s);

	if (n % 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		const char *q = s + i;
		bool last = i + 4 == n;
		int pad = last && q[3] == '=' ? (q[2] == '=' ? 2 : 1) : 0;
		int x[4];
		unsigned char bytes[3];

		for (int k = 0; k < 4; k++) {
			x[k] = k >= 4 - pad ? 0 : b64_value(q[k]);
			if (x[k] < 0)
				return -EINVAL;
		}
		bytes[0] = (unsigned char)(x[0] << 2 | x[1] >> 4);
		bytes[1] = (unsigned char)((x[1] & 15) << 4 | x[2] >> 2);
		bytes[2] = (unsigned char)((x[2] & 3) << 6 | x[3]);
		buf_add(out, bytes, (size_t)(3 - pad));
	}
	return 0;
}

char *size_human(uint64_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	double v = (double)n;
	size_t u = 0;

	if (n < 1024)
		return xasprintf("%llu B", (unsigned long long)n);
	for (v /= 1024; v >= 1024 && u + 1 < ARRAY_SIZE(units); u++)
		v /= 1024;
	return xasprintf("%.1f %s", v, units[u]);
}
