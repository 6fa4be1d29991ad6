/* util.h - allocation, strings, files and small helpers shared by all modules */
#ifndef AVBATCH_UTIL_H
#define AVBATCH_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation wrappers: they abort on out-of-memory, callers never check. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t n);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t nmemb, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable NULL-terminated array of strings (argv, lists of paths). */
struct strv {
	char **v;
	size_t n, alloc;
};
void strv_push(struct strv *sv, const char *s);
void strv_push_take(struct strv *sv, char *s);
void strv_insert0(struct strv *sv, const char *s);	/* at the front */
void strv_release(struct strv *sv);
void strv_sort(struct strv *sv);
bool strv_has(const struct strv *sv, const char *s);
void strv_remove(struct strv *sv, const char *s);	/* the first equal */

/* A growable byte buffer, always NUL-terminated. */
/* Keep the first message: *slot = msg, unless it is set (msg is freed). */
void str_set_first(char **slot, char *msg);

struct buf {
	char *p;
	size_t len, alloc;
};
void buf_add(struct buf *b, const void *data, size_t n);
void buf_addstr(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_release(struct buf *b);

/* Messages for the command layer; verbosity is set once by main. */
extern int verbosity;
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int parse_u64(const char *s, uint64_t *out);
int parse_int(const char *s, int *out);
bool str_has_prefix(const char *s, const char *prefix);

/* Files: directories created 0700 and checked, atomic writes. */
int mkdir_private(const char *path);
int write_file_atomic(const char *path, const void *data, size_t len);
/* The same, the file readable as mode says (metrics a collector reads). */
int write_file_atomic_mode(const char *path, const void *data, size_t len,
			   mode_t mode);
int read_file(const char *path, size_t max, struct buf *out);
int rmtree(const char *path);

struct stat;
/*
 * Append what identifies a file's present content to b: device, inode,
 * size, mtime and ctime in ns.  Every write changes ctime, and no call short
 * of setting the system clock sets it back.  Returns 0, or -EAGAIN when the
 * file changed so recently that a further change within the same clock tick
 * could leave the same identity: then it must not be remembered.
 */
int file_identity(const struct stat *st, struct buf *b);
/* The same for the regular file at path (not followed): -EAGAIN if not. */
int path_identity(const char *path, struct buf *b);

/* Time. */
double time_mono(void);
char *time_iso8601(time_t t);
/* Bytes for people: "512 B", "1.5 KiB", "16.0 MiB" (binary units). */
char *size_human(uint64_t n);
/* Wait on c (with m held) for at most ms milliseconds. */
void cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *m, long ms);

/* Bytes that may not be UTF-8 (guest file names). */
bool utf8_valid(const char *s, size_t n);
char *utf8_lossy(const char *s, size_t n);
char *base64_encode(const void *data, size_t n);
/* Append the bytes of base64 text s to out: 0, or -EINVAL. */
int base64_decode(const char *s, struct buf *out);

#endif
