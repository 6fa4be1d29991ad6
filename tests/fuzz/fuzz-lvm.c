/* fuzz-lvm.c - libFuzzer target: LVM's reports about a guest's volumes */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "lvm.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* lvm_read's loop devices are not the fuzzer's business: lvm_parse is. */
int loop_attach(const char *view, uint64_t offset, uint64_t size, bool rw,
		char **dev, char **cause)
{
	(void)view;
	(void)offset;
	(void)size;
	(void)rw;
	(void)dev;
	*cause = xstrdup("no loop devices while fuzzing");
	return -ENOTSUP;
}

#define CHECK(c)	do { if (!(c)) { \
	fprintf(stderr, "fuzz-lvm: check failed: %s (line %d)\n", #c, \
		__LINE__); abort(); } } while (0)

/*
 * The input is pvs's JSON report, a NUL, and lvs --segments' JSON report,
 * both as if about one PV on /dev/loop7 (what a guest's LVM metadata can
 * make LVM's tools say).
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nul = memchr(p, '\0', size);
	size_t plen = nul ? (size_t)(nul - p) : size;
	const char *l = nul ? nul + 1 : "";
	size_t llen = nul ? size - plen - 1 : 0;
	char dev[] = "/dev/loop7";
	char *devs[] = { dev };
	struct lvm_pv pv = { .offset = 1 << 20, .size = 64 << 20 };
	struct lvm_lv *lvs = NULL;
	size_t nlv = 0;
	char *cause = NULL;
	int r;

	r = lvm_parse(p, plen, l, llen, devs, &pv, 1, &lvs, &nlv, &cause);
	if (r < 0) {
		CHECK(cause);
	} else {
		for (size_t i = 0; i < nlv; i++) {
			const struct lvm_lv *v = &lvs[i];

			CHECK(v->vg && v->lv);
			/* A mountable LV lies inside its PV. */
			CHECK(v->skip || (v->offset >= pv.offset &&
					  v->size <= pv.size &&
					  v->offset - pv.offset <=
					  pv.size - v->size));
		}
	}
	lvm_lvs_free(lvs, nlv);
	free(pv.vg);
	free(cause);
	return 0;
}
