/* fuzz-json.c - libFuzzer target: the JSON writer, read back by json-c */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <json-c/json.h>

#include "json.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)	do { if (!(c)) { \
	fprintf(stderr, "fuzz-json: check failed: %s (line %d)\n", #c, \
		__LINE__); abort(); } } while (0)

/* json_write(o, "-") writes to stdout: a memfd read back after each run. */
static void setup(void)
{
	int fd = memfd_create("fuzz-json", MFD_CLOEXEC);

	if (fd < 0 || fflush(stdout) || dup3(fd, STDOUT_FILENO, 0) < 0) {
		perror("fuzz-json: stdout to a memfd");
		abort();
	}
	close(fd);
}

static char *take_stdout(size_t *len)
{
	long end;
	char *text;

	CHECK(fflush(stdout) == 0);
	end = ftell(stdout);
	CHECK(end >= 0);
	text = xmalloc((size_t)end + 1);
	CHECK(pread(STDOUT_FILENO, text, (size_t)end, 0) == (ssize_t)end);
	text[end] = '\0';
	rewind(stdout);
	CHECK(ftruncate(STDOUT_FILENO, 0) == 0);
	*len = (size_t)end;
	return text;
}

static int b64_val(char c)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(tab, c) : NULL;

	return p ? (int)(p - tab) : -1;
}

/* Strict base64 decoding (padding required), independent of util.c. */
static unsigned char *b64_decode(const char *s, size_t *n)
{
	size_t len = strlen(s), o = 0;
	unsigned char *out;

	CHECK(len % 4 == 0);
	out = xmalloc(len / 4 * 3 + 1);
	for (size_t i = 0; i < len; i += 4) {
		int a = b64_val(s[i]), b = b64_val(s[i + 1]);
		int c = s[i + 2] == '=' ? -2 : b64_val(s[i + 2]);
		int d = s[i + 3] == '=' ? -2 : b64_val(s[i + 3]);

		CHECK(a >= 0 && b >= 0 && c != -1 && d != -1);
		CHECK(!(c == -2 && d != -2));
		CHECK(i + 4 == len || (c >= 0 && d >= 0));
		out[o++] = (unsigned char)(a << 2 | b >> 4);
		if (c >= 0)
			out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
		if (d >= 0)
			out[o++] = (unsigned char)((c & 3) << 6 | d);
	}
	*n = o;
	return out;
}

/* A string member, exactly (embedded NULs included). */
static const char *get_str(struct json_object *o, const char *key,
			   size_t *len)
{
	struct json_object *v = NULL;

	CHECK(json_object_object_get_ex(o, key, &v));
	CHECK(json_object_is_type(v, json_type_string));
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* key/key_b64 as json_put_bytes(s, n) wrote them: exact or lossy + base64. */
static void check_bytes(struct json_object *o, const char *key,
			const char *key_b64, const char *s, size_t n)
{
	const char *got;
	size_t len;

	got = get_str(o, key, &len);
	if (utf8_valid(s, n)) {
		CHECK(len == n && !memcmp(got, s, n));
		CHECK(!json_object_object_get_ex(o, key_b64, NULL));
	} else {
		char *lossy = utf8_lossy(s, n);
		const char *b64 = get_str(o, key_b64, &len);
		unsigned char *raw;
		size_t rn;

		/* lossy text stops at a NUL: it is for people, b64 is exact */
		CHECK(utf8_valid(got, strlen(got)));
		CHECK(!strcmp(got, lossy));
		CHECK(strlen(b64) == len);
		raw = b64_decode(b64, &rn);
		CHECK(rn == n && !memcmp(raw, s, n));
		free(raw);
		free(lossy);
	}
}

/* key as json_put_str(s) wrote it: s itself, or its lossy copy. */
static void check_str(struct json_object *o, const char *key, const char *s)
{
	size_t len;
	const char *got = get_str(o, key, &len);

	CHECK(strlen(got) == len);
	if (utf8_valid(s, strlen(s))) {
		CHECK(!strcmp(got, s));
	} else {
		char *lossy = utf8_lossy(s, strlen(s));

		CHECK(!strcmp(got, lossy));
		free(lossy);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct json_object *o, *arr, *back, *v;
	struct json_tokener *tok;
	char *text, *cause = NULL;
	size_t len, npieces = 0;
	static bool ready;

	if (!size || size > 1 << 16)
		return 0;
	if (!ready) {
		setup();
		ready = true;
	}

	/* The reader too: arbitrary bytes as a document (qemu-img, state). */
	back = json_parse(in, size, &cause);
	if (back) {
		(void)json_get_str(back, "format");
		(void)json_get_int(back, "virtual-size", 0);
		(void)json_get(json_get(back, "format-specific"), "data");
		json_object_put(back);
	} else {
		CHECK(cause);
		free(cause);
	}

	/* Each NUL-free piece as a path, a label and a plain string. */
	o = json_object_new_object();
	arr = json_object_new_array();
	for (size_t i = 0; i <= size; npieces++) {
		size_t n = strnlen(in + i, size - i);
		char *s = xstrndup(in + i, n);
		struct json_object *d = json_object_new_object();

		json_put_bytes(d, "path", "path_b64", s, n);
		json_put_str(d, "threat", s);
		json_put_int(d, "n", (int64_t)n);
		json_object_array_add(arr, d);
		free(s);
		i += n + 1;
	}
	json_put_obj(o, "detections", arr);
	/* The whole input, NULs included. */
	json_put_bytes(o, "raw", "raw_b64", in, size);
	json_put_str(o, "null", NULL);
	json_put_double(o, "duration_s", (double)size / 7);
	CHECK(json_write(o, "-") == 0);
	json_object_put(o);

	/* Back through json-c: valid UTF-8 JSON holding exactly the input. */
	text = take_stdout(&len);
	CHECK(len > 0 && text[len - 1] == '\n');
	CHECK(utf8_valid(text, len));
	tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	back = json_tokener_parse_ex(tok, text, (int)len);
	CHECK(back && json_tokener_get_error(tok) == json_tokener_success);
	json_tokener_free(tok);
	check_bytes(back, "raw", "raw_b64", in, size);
	CHECK(json_object_object_get_ex(back, "null", &v) && v == NULL);
	CHECK(json_object_object_get_ex(back, "detections", &arr));
	CHECK((size_t)json_object_array_length(arr) == npieces);
	for (size_t i = 0, k = 0; i <= size; k++) {
		size_t n = strnlen(in + i, size - i);
		char *s = xstrndup(in + i, n);
		struct json_object *d = json_object_array_get_idx(arr, k);

		check_bytes(d, "path", "path_b64", s, n);
		check_str(d, "threat", s);
		CHECK(json_get_int(d, "n", -1) == (int64_t)n);
		free(s);
		i += n + 1;
	}
	json_object_put(back);
	free(text);
	return 0;
}
