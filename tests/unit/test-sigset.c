/* test-sigset.c - unit tests of sigset.c: reading, encoding and comparing signature sets */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "sigset.h"
#include "util.h"
#include "tap.h"


/* The number of hashes of type ext, or -1 when the set has no such type. */
static long count(const struct sigset *s, const char *ext)
{
	size_t c;

	for (size_t i = 0; i < sigset_ntypes(s); i++)
		if (!strcmp(sigset_type(s, i, NULL, &c), ext))
			return (long)c;
	return -1;
}

static struct sigset *set_of(const char *name, const char *text, size_t len)
{
	struct sigset *s = sigset_new();
	char *cause = NULL;

	if (sigset_add_file(s, name, text, len, &cause) < 0) {
		printf("# %s\n", cause);
		free(cause);
	}
	return s;
}

static enum sigset_change change(const struct sigset *a,
				 const struct sigset *b, struct sigset_diff *d)
{
	sigset_diff_release(d);
	sigset_diff(a, b, d);
	return d->change;
}

static void write_text(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		printf("# cannot write %s\n", path);
	if (fd >= 0)
		close(fd);
}

static void test_parse(void)
{
	static const char ndb[] = "A:0:*:41424344\r\n\nB:0:*:45464748\n"
		"A:0:*:41424344\nC:0:*:4a4b";
	static const char nul[] = "x\0a\nx\0b\n";
	struct sigset *s = set_of("main.ndb", ndb, sizeof(ndb) - 1);
	struct sigset *t = set_of("x.ndb", nul, sizeof(nul) - 1);
	char *cause = NULL, *big;
	int r;

	ok(count(s, "ndb") == 3, "CRLF, empty lines, duplicates and a last "
	   "line without newline: three signatures");
	ok(count(t, "ndb") == 2, "lines differing after a NUL byte differ");
	sigset_free(t);

	t = set_of("empty.hdb", "", 0);
	ok(count(t, "hdb") == 0, "an empty file: a type with no lines");
	ok(sigset_add_file(t, "main.info", "garbage\n", 8, &cause) == 0 &&
	   count(t, "info") == -1, ".info is no signature file");
	sigset_free(t);

	big = xmalloc((1 << 20) + 2);
	memset(big, 'a', (1 << 20) + 1);
	big[(1 << 20) + 1] = '\n';
	t = sigset_new();
	r = sigset_add_file(t, "long.ndb", big, (1 << 20) + 2, &cause);
	ok(r == -E2BIG && cause && strstr(cause, "'long.ndb'"),
	   "an overlong line is an error naming the file");
	free(cause);
	cause = NULL;
	r = sigset_add_file(t, "long.cbc", big, (1 << 20) + 2, &cause);
	ok(r == 0 && count(t, "cbc") == 1, "a whole-file type has no line "
	   "limit and one hash");
	free(big);
	sigset_free(t);

	ok(sigset_kind_of("x.ndb") == SIGSET_DETECT &&
	   sigset_kind_of("x.ign2") == SIGSET_ALLOW &&
	   sigset_kind_of("bytecode.cbc") == SIGSET_CONTEXT &&
	   sigset_kind_of("x.NDB") == SIGSET_DETECT &&
	   sigset_kind_of("README") == SIGSET_UNKNOWN &&
	   sigset_kind_of("x.ndb2") == SIGSET_UNKNOWN &&
	   sigset_kind_of("daily.cvd") == -1 &&
	   sigset_kind_of("COPYING") == -1, "types by extension, "
	   "in any case as ClamAV loads them");
	t = set_of("UPPER.NDB", "A:0:*:41\n", 9);
	ok(count(t, "ndb") == 1, "x.NDB counts as an .ndb");
	sigset_free(t);
	sigset_free(s);
}

static void test_encoding(void)
{
	static const char ndb[] = "A:0:*:41424344\nB:0:*:45464748\n";
	struct sigset *s = set_of("a.ndb", ndb, sizeof(ndb) - 1), *d = NULL;
	struct buf enc = { 0 }, enc2 = { 0 };
	char *cause = NULL, *h1, *h2;
	int r, bad = 0;

	sigset_add_file(s, "a.fp", "x:1:y\n", 6, &cause);
	sigset_add_file(s, "a.cbc", "bytecode", 8, &cause);
	sigset_set_context(s, "clamav\n1.4.6\n", 13);
	sigset_encode(s, &enc);
	r = sigset_decode(enc.p, enc.len, &d, &cause);
	ok(r == 0 && d, "an encoded set decodes");
	if (d)
		sigset_encode(d, &enc2);
	ok(enc2.len == enc.len && !memcmp(enc.p, enc2.p, enc.len),
	   "and encodes to the same bytes");
	h1 = sigset_digest(s);
	h2 = d ? sigset_digest(d) : NULL;
	ok(h2 && strlen(h1) == 64 && !strcmp(h1, h2), "equal digests");
	free(h1);
	free(h2);
	sigset_free(d);

	for (size_t len = 0; len < enc.len; len++) {
		d = NULL;
		if (sigset_decode(enc.p, len, &d, &cause) != -EINVAL || d)
			bad++;
		free(cause);
		cause = NULL;
	}
	ok(!bad, "every truncation is a clear error");
	bad = 0;
	for (size_t i = 0; i < enc.len; i++) {
		char save = enc.p[i];

		enc.p[i] ^= 0x5a;
		d = NULL;
		r = sigset_decode(enc.p, enc.len, &d, &cause);
		sigset_free(d);
		free(cause);
		cause = NULL;
		enc.p[i] = save;
		/* A flipped hash byte may still be a valid set; no crash. */
		if (i < 9 && r == 0)
			bad++;
	}
	ok(!bad, "a damaged header is refused, damage elsewhere never "
	   "crashes");
	buf_add(&enc, "", 1);
	d = NULL;
	ok(sigset_decode(enc.p, enc.len, &d, &cause) == -EINVAL && !d &&
	   cause && strstr(cause, "damaged"), "trailing bytes are refused");
	free(cause);
	buf_release(&enc);
	buf_release(&enc2);
	sigset_free(s);
}

static void test_diff(void)
{
	static const char a[] = "A:0:*:41\nB:0:*:42\n";
	struct sigset *old = set_of("d.ndb", a, sizeof(a) - 1), *new;
	struct sigset_diff d = { 0 };
	char *cause = NULL;

	sigset_add_file(old, "d.fp", "f1:1:F1\nf2:2:F2\n", 16, &cause);
	sigset_add_file(old, "d.cbc", "code1", 5, &cause);

	new = set_of("other-name.ndb", a, sizeof(a) - 1);
	sigset_add_file(new, "d.fp", "f2:2:F2\r\nf1:1:F1\n", 17, &cause);
	sigset_add_file(new, "d.cbc", "code1", 5, &cause);
	ok(change(old, new, &d) == SIGSET_SAME && !d.added && !d.removed,
	   "the same lines in other files and order: same");
	sigset_set_context(new, "clamav 1.5.0", 12);
	ok(change(old, new, &d) == SIGSET_FULL && d.why &&
	   strstr(d.why, "version"), "the same lines under another engine "
	   "version: full");
	sigset_set_context(old, "clamav 1.5.0", 12);
	ok(change(old, new, &d) == SIGSET_SAME, "and the same version: same");
	sigset_set_context(old, "", 0);
	sigset_free(new);

	new = set_of("d.ndb", "A:0:*:41\nB:0:*:42\nC:0:*:43\n", 27);
	sigset_add_file(new, "d.hsb", "h:1:H\n", 6, &cause);
	sigset_add_file(new, "d.fp", "f1:1:F1\nf2:2:F2\n", 16, &cause);
	sigset_add_file(new, "d.cbc", "code1", 5, &cause);
	ok(change(old, new, &d) == SIGSET_DELTA && d.added == 2 &&
	   !d.removed, "a body and a hash signature added: delta, 2 added");
	sigset_free(new);

	new = set_of("d.ndb", "A:0:*:41\n", 9);
	sigset_add_file(new, "d.fp", "f1:1:F1\nf2:2:F2\nf3:3:F3\n", 24,
			&cause);
	sigset_add_file(new, "d.cbc", "code1", 5, &cause);
	ok(change(old, new, &d) == SIGSET_CLEAN_HOLDS && d.removed == 1 &&
	   d.allowed == 1, "a detection removed and an allow-list entry "
	   "added: clean holds");
	sigset_free(new);

	new = set_of("d.ndb", a, sizeof(a) - 1);
	sigset_add_file(new, "d.fp", "f1:1:F1\n", 8, &cause);
	sigset_add_file(new, "d.cbc", "code1", 5, &cause);
	ok(change(old, new, &d) == SIGSET_FULL && d.why &&
	   strstr(d.why, ".fp"), "an allow-list entry removed: full");
	sigset_free(new);

	new = set_of("d.ndb", "A:0:*:41\nB:0:*:42\nC:0:*:43\n", 27);
	sigset_add_file(new, "d.fp", "f1:1:F1\nf2:2:F2\n", 16, &cause);
	sigset_add_file(new, "d.cbc", "code2", 5, &cause);
	ok(change(old, new, &d) == SIGSET_FULL && d.why &&
	   strstr(d.why, ".cbc"), "bytecode changed: full");
	sigset_free(new);

	new = set_of("d.ndb", a, sizeof(a) - 1);
	sigset_add_file(new, "d.fp", "f1:1:F1\nf2:2:F2\n", 16, &cause);
	sigset_add_file(new, "d.cbc", "code1", 5, &cause);
	sigset_add_file(new, "d.xyz", "what", 4, &cause);
	ok(change(old, new, &d) == SIGSET_FULL && d.why &&
	   strstr(d.why, "unknown"), "a file of unknown type added: full");
	ok(change(new, old, &d) == SIGSET_FULL, "and removed: full");
	sigset_free(new);
	sigset_free(old);

	/* The same database elsewhere (a copy, a container unpacked anew). */
	old = sigset_new();
	sigset_add_file(old, "/db/x.ndb", a, sizeof(a) - 1, &cause);
	sigset_add_file(old, "/db/.done", "mark", 4, &cause);
	new = sigset_new();
	sigset_add_file(new, "/tmp/u.1/x.ndb", a, sizeof(a) - 1, &cause);
	sigset_add_file(new, "/tmp/u.1/.done", "mark", 4, &cause);
	ok(change(old, new, &d) == SIGSET_SAME,
	   "a file of unknown type in another directory: the same");
	sigset_free(new);
	sigset_diff_release(&d);
	sigset_free(old);
}

/*
 * A type large enough to be searched through its prefix index (as a
 * production database is): the delta holds exactly the added lines.
 */
static void test_large(void)
{
	char tmp[] = "/tmp/test-sigset.XXXXXX", *p, *cause = NULL;
	struct strv paths = { 0 };
	struct sigset *old = NULL, *new = NULL;
	struct buf b = { 0 }, got = { 0 };
	size_t det = 0;
	int r;

	if (!mkdtemp(tmp)) {
		ok(0, "temporary directory");
		return;
	}
	p = xasprintf("%s/db", tmp);
	mkdir_private(p);
	strv_push(&paths, p);
	free(p);
	p = xasprintf("%s/db/big.hdb", tmp);
	for (unsigned i = 0; i < 100000; i++)
		buf_addf(&b, "%032x:%u:Big.%u\n", i * 2654435761u, i, i);
	write_text(p, b.p, b.len);
	r = sigset_read(&paths, tmp, &old, &cause);
	buf_addstr(&b, "ffffffffffffffffffffffffffffffff:1:New.1\n"
		   "00000000000000000000000000000001:2:New.2\n");
	for (unsigned i = 0; i < 100000; i += 20000)
		buf_addf(&b, "%032x:%u:Big.%u\n", i * 2654435761u, i, i);
	write_text(p, b.p, b.len);
	free(p);
	p = xasprintf("%s/delta", tmp);
	mkdir_private(p);
	if (r == 0)
		r = sigset_read_delta(&paths, old, tmp, p, &new, &det, &cause);
	free(p);
	p = xasprintf("%s/delta/delta.hdb", tmp);
	read_file(p, 4096, &got);
	ok(r == 0 && det == 2 && count(new, "hdb") == 100002 && got.p &&
	   !strcmp(got.p, "ffffffffffffffffffffffffffffffff:1:New.1\n"
		   "00000000000000000000000000000001:2:New.2\n"),
	   "100 000 hashes: the delta holds the two added lines only");
	free(p);
	free(cause);
	buf_release(&b);
	buf_release(&got);
	strv_release(&paths);
	sigset_free(old);
	sigset_free(new);
	rmtree(tmp);
}

static void test_files(void)
{
	char tmp[] = "/tmp/test-sigset.XXXXXX", *p, *cause = NULL;
	struct strv paths = { 0 };
	struct sigset *old = NULL, *new = NULL;
	struct cache *cache = NULL;
	struct buf b = { 0 };
	size_t det = 0;
	int r;

	if (!mkdtemp(tmp)) {
		ok(0, "temporary directory");
		return;
	}
	p = xasprintf("%s/db", tmp);
	mkdir_private(p);
	strv_push(&paths, p);
	free(p);

	p = xasprintf("%s/db/bad.cvd", tmp);
	write_text(p, "ClamAV-VDB:short", 16);
	r = sigset_read(&paths, tmp, &old, &cause);
	ok(r == -EINVAL && !old && cause && strstr(cause, "bad header") &&
	   strstr(cause, "bad.cvd"), "a short .cvd: bad header, named");
	free(cause);
	cause = NULL;
	b.len = 0;
	buf_addstr(&b, "NotClamAV:");
	while (b.len < 600)
		buf_addstr(&b, "xxxxxxxxxx");
	write_text(p, b.p, b.len);
	r = sigset_read(&paths, tmp, &old, &cause);
	ok(r == -EINVAL && cause && strstr(cause, "bad header"),
	   "a .cvd with a wrong header: bad header");
	free(cause);
	cause = NULL;
	unlink(p);
	free(p);

	p = xasprintf("%s/db/a.ndb", tmp);
	write_text(p, "A:0:*:41\n", 9);
	free(p);
	p = xasprintf("%s/db/a.fp", tmp);
	write_text(p, "f:1:F\n", 6);
	free(p);
	r = sigset_read(&paths, tmp, &old, &cause);
	ok(r == 0 && count(old, "ndb") == 1 && count(old, "fp") == 1,
	   "a database directory read");
	p = xasprintf("%s/db/a.ndb", tmp);
	write_text(p, "A:0:*:41\r\nB:0:*:42\n", 19);
	free(p);
	p = xasprintf("%s/delta", tmp);
	mkdir_private(p);
	r = sigset_read_delta(&paths, old, tmp, p, &new, &det, &cause);
	ok(r == 0 && det == 1 && count(new, "ndb") == 2, "the delta holds "
	   "one detection");
	free(p);
	b.len = 0;
	p = xasprintf("%s/delta/delta.ndb", tmp);
	read_file(p, 4096, &b);
	ok(b.p && !strcmp(b.p, "B:0:*:42\n"), "delta.ndb: the added line");
	free(p);
	b.len = 0;
	p = xasprintf("%s/delta/delta.fp", tmp);
	read_file(p, 4096, &b);
	ok(b.p && !strcmp(b.p, "f:1:F\n"), "delta.fp: every allow-list "
	   "line");
	free(p);
	free(cause);
	cause = NULL;

	p = xasprintf("%s/cache/cache.sqlite", tmp);
	r = cache_open(p, &cache, &cause);
	free(p);
	ok(r == 0, "a cache opened");
	if (r == 0) {
		struct sigset *back = NULL;
		char *h1 = sigset_digest(new), *h2 = NULL;

		ok(sigset_recall(cache, "fp1", &back) == -ENOENT && !back,
		   "no set remembered for an unknown fingerprint");
		sigset_remember(cache, "fp1", new);
		r = sigset_recall(cache, "fp1", &back);
		if (back)
			h2 = sigset_digest(back);
		ok(r == 0 && h2 && !strcmp(h1, h2), "a set remembered by "
		   "fingerprint comes back equal");
		free(h1);
		free(h2);
		sigset_free(back);
		cache_close(cache);
	}
	free(cause);
	buf_release(&b);
	sigset_free(old);
	sigset_free(new);
	strv_release(&paths);
	rmtree(tmp);
}

int main(void)
{
	test_parse();
	test_encoding();
	test_diff();
	test_files();
	test_large();
	return tap_done();
}
