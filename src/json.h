/* json.h - the one place avbatch reads and writes JSON (through json-c) */
#ifndef AVBATCH_JSON_H
#define AVBATCH_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

/* Parse a document; NULL with *cause on malformed input. */
struct json_object *json_parse(const char *text, size_t len, char **cause);

/* Members of an object; NULL/defaults when missing or of another type. */
struct json_object *json_get(struct json_object *o, const char *key);
const char *json_get_str(struct json_object *o, const char *key);
int64_t json_get_int(struct json_object *o, const char *key, int64_t dflt);

/* The length of an array, 0 for anything else (NULL, another type). */
size_t json_array_len(struct json_object *a);

/* Setters: a NULL string is written as null. */
void json_put_str(struct json_object *o, const char *key, const char *s);
void json_put_int(struct json_object *o, const char *key, int64_t v);
void json_put_double(struct json_object *o, const char *key, double v);
void json_put_obj(struct json_object *o, const char *key,
		  struct json_object *v);

/*
 * A byte string that may not be UTF-8 (a guest path): written lossily
 * under key, and exactly (base64) under key_b64 when it is not valid UTF-8.
 */
void json_put_bytes(struct json_object *o, const char *key,
		    const char *key_b64, const char *s, size_t n);

/*
 * Append the exact bytes json_put_bytes wrote under key (and key_b64) to
 * out: 0, -ENOENT when missing, -EINVAL when malformed.
 */
struct buf;
int json_get_bytes(struct json_object *o, const char *key,
		   const char *key_b64, struct buf *out);

/* Write to path atomically ("-" writes to stdout). */
int json_write(struct json_object *o, const char *path);

#endif
