/* fuzz-sigset.c - libFuzzer target: signature files and stored signature sets */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "sigset.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The cache is not the fuzzer's business: sigset's parsers are. */
int cache_memo_get(struct cache *c, const char *kind, const char *key,
		   struct buf *value)
{
	(void)c;
	(void)kind;
	(void)key;
	(void)value;
	return -2;
}

void cache_memo_put(struct cache *c, const char *kind, const char *key,
		    const void *value, size_t len)
{
	(void)c;
	(void)kind;
	(void)key;
	(void)value;
	(void)len;
}

bool cache_memo_has(struct cache *c, const char *kind, const char *key)
{
	(void)c;
	(void)kind;
	(void)key;
	return false;
}

#define CHECK(c)	do { if (!(c)) { \
	fprintf(stderr, "fuzz-sigset: check failed: %s (line %d)\n", #c, \
		__LINE__); abort(); } } while (0)

/*
 * The input is a stored set (what the cache hands back) and, after its
 * first byte picks a type, a signature file's content.  A set that decodes
 * encodes to the same bytes; a set built from a file survives the trip.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
		"x.ndb", "x.hdb", "x.ldb", "x.fp", "x.ign2", "x.cbc", "x.zzz",
		"x.info",
	};
	struct sigset *s = NULL, *t = NULL;
	struct sigset_diff d;
	struct buf enc = { 0 }, enc2 = { 0 };
	char *cause = NULL;

	if (sigset_decode(data, size, &s, &cause) == 0) {
		sigset_encode(s, &enc);
		CHECK(enc.len == size && !memcmp(enc.p, data, size));
		sigset_free(s);
		buf_release(&enc);
	} else {
		CHECK(cause && !s);
	}
	free(cause);
	cause = NULL;
	if (!size)
		return 0;
	s = sigset_new();
	if (sigset_add_file(s, names[data[0] % ARRAY_SIZE(names)], data + 1,
			    size - 1, &cause) < 0)
		CHECK(cause);
	free(cause);
	cause = NULL;
	sigset_encode(s, &enc);
	CHECK(sigset_decode(enc.p, enc.len, &t, &cause) == 0);
	sigset_encode(t, &enc2);
	CHECK(enc.len == enc2.len && !memcmp(enc.p, enc2.p, enc.len));
	sigset_diff(s, t, &d);
	CHECK(d.change == SIGSET_SAME && !d.added && !d.removed);
	sigset_diff_release(&d);
	sigset_free(s);
	sigset_free(t);
	buf_release(&enc);
	buf_release(&enc2);
	return 0;
}
