/* fuzz-result.c - libFuzzer target: a target's JSON read back (the cache) */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "lvm.h"
#include "result.h"
#include "util.h"

/* image.c (image_free) links LVM's reader: never called here. */
int lvm_read(const char *view, struct lvm_pv *pvs, size_t npv,
	     struct lvm_lv **out, size_t *nout, char **cause)
{
	(void)view;
	(void)pvs;
	(void)npv;
	*out = NULL;
	*nout = 0;
	*cause = xstrdup("not read while fuzzing");
	return -ENOTSUP;
}

void lvm_lvs_free(struct lvm_lv *lvs, size_t n)
{
	(void)lvs;
	(void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)	do { if (!(c)) { \
	fprintf(stderr, "fuzz-result: check failed: %s (line %d)\n", #c, \
		__LINE__); abort(); } } while (0)

static const struct result_engine engines[] = {
	{ .name = "clamav" }, { .name = "tree" },
};

static char *text_of(struct json_object *o)
{
	return xstrdup(json_object_to_json_string_ext(o,
		JSON_C_TO_STRING_PLAIN));
}

/*
 * Arbitrary bytes as a remembered target: refused (t untouched), or
 * loaded; what is loaded is written back as a target the loader takes
 * again, and that second round changes nothing.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *in, *once, *twice;
	struct target t, u;
	char *a, *b;

	if (size > 1 << 16)
		return 0;
	in = json_parse((const char *)data, size, NULL);
	if (!in)
		return 0;
	memset(&t, 0, sizeof(t));
	if (result_target_load(&t, in, engines, 2) < 0) {
		CHECK(!t.img && !t.fsr && !t.det && !t.recalled);
		json_object_put(in);
		return 0;
	}
	CHECK(t.img && t.recalled);
	CHECK(t.status == TARGET_CLEAN || t.status == TARGET_INFECTED);
	for (size_t k = 0; k < t.ndet; k++)
		CHECK(t.det[k].engine == engines[0].name ||
		      t.det[k].engine == engines[1].name);
	once = result_target_json(&t, "host");
	memset(&u, 0, sizeof(u));
	CHECK(result_target_load(&u, once, engines, 2) == 0);
	twice = result_target_json(&u, "host");
	a = text_of(once);
	b = text_of(twice);
	CHECK(!strcmp(a, b));
	free(a);
	free(b);
	json_object_put(twice);
	json_object_put(once);
	json_object_put(in);
	target_release(&u);
	target_release(&t);
	return 0;
}
