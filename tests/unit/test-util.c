/* test-util.c - unit tests of util.c: UTF-8, base64, strings, files */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "tap.h"


static void is_str(const char *got, const char *want, const char *desc)
{
	ok(got && !strcmp(got, want), desc);
	if (!got || strcmp(got, want))
		printf("# got '%s', want '%s'\n", got ? got : "(null)", want);
}

int main(void)
{
	char dir[] = "/tmp/avbatch-test-util.XXXXXX";
	struct strv sv = { 0 };
	struct buf b = { 0 };
	uint64_t u;
	struct stat st;
	char *s, *p;
	int i;

	ok(utf8_valid("plain ascii", 11), "ascii is UTF-8");
	ok(utf8_valid("caf\xc3\xa9", 5), "a two-byte sequence is UTF-8");
	ok(!utf8_valid("caf\xe9", 4), "a latin-1 byte is not UTF-8");
	ok(!utf8_valid("\xc0\xaf", 2), "an overlong encoding is not UTF-8");
	ok(!utf8_valid("\xed\xa0\x80", 3), "a surrogate is not UTF-8");
	ok(!utf8_valid("\xe2\x82", 2), "a truncated sequence is not UTF-8");

	s = utf8_lossy("a\xff" "b", 3);
	is_str(s, "a\xef\xbf\xbd" "b", "lossy copy replaces bad bytes with U+FFFD");
	free(s);

	s = base64_encode("", 0);
	is_str(s, "", "base64 of nothing");
	free(s);
	s = base64_encode("f", 1);
	is_str(s, "Zg==", "base64 pads one byte");
	free(s);
	s = base64_encode("fo", 2);
	is_str(s, "Zm8=", "base64 pads two bytes");
	free(s);
	s = base64_encode("foobar", 6);
	is_str(s, "Zm9vYmFy", "base64 of whole groups");
	free(s);
	s = base64_encode("\xff\xfe\n", 3);
	is_str(s, "//4K", "base64 of high bytes");
	free(s);
	for (size_t len = 0; len <= 7; len++) {
		static const char raw[] = "\0\xff\x80" "a\nb\x01";
		char desc[64];

		buf_release(&b);
		s = base64_encode(raw, len);
		snprintf(desc, sizeof(desc), "base64 round trip of %zu bytes",
			 len);
		ok(base64_decode(s, &b) == 0 && b.len == len &&
		   !memcmp(b.p ? b.p : "", raw, len), desc);
		free(s);
	}
	buf_release(&b);
	ok(base64_decode("Zg=", &b) == -EINVAL, "base64 refuses a short group");
	ok(base64_decode("Z===", &b) == -EINVAL, "base64 refuses three pads");
	ok(base64_decode("Zg==Zg==", &b) == -EINVAL,
	   "base64 refuses padding before the end");
	ok(base64_decode("Zm9v!mFy", &b) == -EINVAL,
	   "base64 refuses a foreign character");
	buf_release(&b);

	ok(parse_u64("42", &u) == 0 && u == 42, "parse_u64 reads a number");
	ok(parse_u64("-1", &u) < 0, "parse_u64 refuses a sign");
	ok(parse_u64("12x", &u) < 0, "parse_u64 refuses trailing junk");
	ok(parse_int("-7", &i) == 0 && i == -7, "parse_int reads a negative");
	ok(parse_int("99999999999", &i) < 0, "parse_int refuses overflow");

	strv_push(&sv, "b");
	strv_push(&sv, "a");
	strv_push(&sv, "c");
	strv_sort(&sv);
	ok(sv.n == 3 && !strcmp(sv.v[0], "a") && !strcmp(sv.v[2], "c") &&
	   sv.v[3] == NULL, "strv sorts and stays NULL-terminated");
	strv_insert0(&sv, "z");
	ok(sv.n == 4 && !strcmp(sv.v[0], "z") && !strcmp(sv.v[1], "a") &&
	   !strcmp(sv.v[3], "c") && sv.v[4] == NULL,
	   "strv_insert0 puts a string first");
	strv_release(&sv);

	buf_addf(&b, "%s=%d", "x", 5);
	buf_add(&b, "\0y", 2);
	ok(b.len == 5 && !memcmp(b.p, "x=5\0y", 5), "buf holds binary data");
	buf_release(&b);

	ok(mkdtemp(dir) != NULL, "temporary directory");
	p = xasprintf("%s/priv", dir);
	ok(mkdir_private(p) == 0, "mkdir_private creates a directory");
	ok(mkdir_private(p) == 0, "mkdir_private accepts an existing one");
	chmod(p, 01777);
	ok(mkdir_private(p) == 0 && stat(p, &st) == 0 &&
	   (st.st_mode & 07777) == 01777,
	   "an existing sticky directory is accepted and not chmodded");
	chmod(p, 0777);
	ok(mkdir_private(p) == -EPERM && stat(p, &st) == 0 &&
	   (st.st_mode & 07777) == 0777,
	   "one anyone may write is refused and not chmodded");
	rmdir(p);
	free(p);
	p = xasprintf("%s/file.tmp", dir);
	ok(mkfifo(p, 0600) == 0, "a FIFO at the old temporary name");
	free(p);
	p = xasprintf("%s/file", dir);
	ok(write_file_atomic(p, "hello", 5) == 0, "atomic write");
	ok(read_file(p, 100, &b) == 0 && b.len == 5 &&
	   !strcmp(b.p, "hello"), "read back what was written");
	buf_release(&b);
	ok(read_file(p, 3, &b) == -EFBIG, "read_file honours its limit");
	buf_release(&b);
	s = xasprintf("%s.tmp", p);
	ok(lstat(s, &st) == 0 && S_ISFIFO(st.st_mode),
	   "the FIFO is left alone");
	unlink(s);
	free(s);
	ok(rmdir(dir) < 0 && unlink(p) == 0 && rmdir(dir) == 0 &&
	   mkdir(dir, 0700) == 0, "no temporary file left behind");
	free(p);
	ok(rmtree(dir) == 0 && access(dir, F_OK) != 0, "rmtree removes it all");

	return tap_done();
}
