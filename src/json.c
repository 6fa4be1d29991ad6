/* json.c - the one place avbatch reads and writes JSON (through json-c) */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

struct json_object *json_parse(const char *text, size_t len, char **cause)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	enum json_tokener_error e;

	o = json_tokener_parse_ex(tok, text, (int)len);
	e = json_tokener_get_error(tok);
	if (!o || e != json_tokener_success) {
		if (cause)
			*cause = xasprintf("malformed JSON: %s",
				e == json_tokener_continue ? "truncated" :
				json_tokener_error_desc(e));
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

struct json_object *json_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

const char *json_get_str(struct json_object *o, const char *key)
{
	struct json_object *v = json_get(o, key);

	return v && json_object_is_type(v, json_type_string) ?
		json_object_get_string(v) : NULL;
}

int64_t json_get_int(struct json_object *o, const char *key, int64_t dflt)
{
	struct json_object *v = json_get(o, key);

	return v && json_object_is_type(v, json_type_int) ?
		json_object_get_int64(v) : dflt;
}

size_t json_array_len(struct json_object *a)
{
	return a && json_object_is_type(a, json_type_array) ?
	       json_object_array_length(a) : 0;
}

void json_put_str(struct json_object *o, const char *key, const char *s)
{
	char *lossy;

	/* Engine messages may quote guest bytes: JSON must stay UTF-8. */
	if (s && !utf8_valid(s, strlen(s))) {
		lossy = utf8_lossy(s, strlen(s));
		json_object_object_add(o, key, json_object_new_string(lossy));
		free(lossy);
		return;
	}
	json_object_object_add(o, key, s ? json_object_new_string(s) : NULL);
}

void json_put_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

void json_put_double(struct json_object *o, const char *key, double v)
{
	char s[32];

	/* Fixed precision: durations are read by people, not compared. */
	snprintf(s, sizeof(s), "%.1f", v);
	json_object_object_add(o, key, json_object_new_double_s(v, s));
}

void json_put_obj(struct json_object *o, const char *key,
		  struct json_object *v)
{
	json_object_object_add(o, key, v);
}

void json_put_bytes(struct json_object *o, const char *key,
		    const char *key_b64, const char *s, size_t n)
{
	char *lossy, *b64;

	if (utf8_valid(s, n)) {
		json_object_object_add(o, key,
				       json_object_new_string_len(s, (int)n));
		return;
	}
	lossy = utf8_lossy(s, n);
	b64 = base64_encode(s, n);
	json_put_str(o, key, lossy);
	json_put_str(o, key_b64, b64);
	free(lossy);
	free(b64);
}

int json_get_bytes(struct json_object *o, const char *key,
		   const char *key_b64, struct buf *out)
{
	const char *b64 = json_get_str(o, key_b64);
	struct json_object *v = json_get(o, key);

	if (b64)
		return base64_decode(b64, out);
	if (!v || !json_object_is_type(v, json_type_string))
		return -ENOENT;
	buf_add(out, json_object_get_string(v),
		(size_t)json_object_get_string_len(v));
	return 0;
}

/* Pretty text of a document; the caller frees it. */
static char *json_text(struct json_object *o)
{
	return xstrdup(json_object_to_json_string_ext(o,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		JSON_C_TO_STRING_NOSLASHESCAPE));
}

int json_write(struct json_object *o, const char *path)
{
	char *text = json_text(o);
	struct buf b = { 0 };
	int r = 0;

	buf_addstr(&b, text);
	buf_addstr(&b, "\n");
	free(text);
	if (!strcmp(path, "-")) {
		if (fwrite(b.p, 1, b.len, stdout) != b.len || fflush(stdout))
			r = -EIO;
	} else {
		r = write_file_atomic(path, b.p, b.len);
	}
	buf_release(&b);
	return r;
}
