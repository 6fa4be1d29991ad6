/* test-lvm.c - unit tests of lvm.c: where LVM's reports put each LV */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lvm.h"
#include "util.h"
#include "tap.h"


static const struct lvm_lv *find(const struct lvm_lv *lvs, size_t nlv,
				 const char *name)
{
	for (size_t i = 0; i < nlv; i++)
		if (!strcmp(lvs[i].lv, name))
			return &lvs[i];
	return NULL;
}

#define PVS "{\"report\":[{\"pv\":[" \
	"{\"pv_name\":\"/dev/loop7\",\"pe_start\":\"1048576\"," \
	"\"vg_name\":\"vg0\"}]}]}"

/* One lvs --segments row. */
#define SEG(lv, uuid, size, type, start, count, dev, stripes) \
	"{\"vg_name\":\"vg0\",\"vg_uuid\":\"VGU\",\"lv_name\":\"" lv \
	"\",\"lv_uuid\":\"" uuid "\",\"lv_size\":\"" size "\"," \
	"\"segtype\":\"" type "\",\"seg_start_pe\":\"" start "\"," \
	"\"seg_size_pe\":\"" count "\",\"devices\":\"" dev "\"," \
	"\"stripes\":\"" stripes "\",\"vg_extent_size\":\"4194304\"}"

int main(void)
{
	static const char lvs_json[] = "{\"report\":[{\"seg\":["
		SEG("root", "U1", "33554432", "linear", "0", "8",
		    "/dev/loop7(0)", "1") ","
		SEG("data", "U2", "8388608", "linear", "0", "1",
		    "/dev/loop7(8)", "1") ","
		SEG("data", "U2", "8388608", "linear", "1", "1",
		    "/dev/loop7(11)", "1") ","
		SEG("two", "U3", "8388608", "linear", "0", "1",
		    "/dev/loop7(12)", "1") ","
		SEG("two", "U3", "8388608", "linear", "1", "1",
		    "/dev/loop7(13)", "1") ","
		SEG("thin", "U4", "4194304", "thin", "0", "1", "", "0") ","
		SEG("gone", "U5", "4194304", "linear", "0", "1",
		    "[unknown](0)", "1") ","
		SEG("huge", "U6", "4194304", "linear", "0", "1",
		    "/dev/loop7(4611686018427387904)", "1") ","
		SEG("../x", "U7", "4194304", "linear", "0", "1",
		    "/dev/loop7(20)", "1") ","
		SEG("past", "U8", "4194304", "linear", "0", "1",
		    "/dev/loop7(90)", "1")
		"]}]}";
	char dev[] = "/dev/loop7";
	char *devs[] = { dev };
	struct lvm_pv pv = { .offset = 9437184, .size = 100 << 20 };
	struct lvm_lv *lvs = NULL;
	const struct lvm_lv *l;
	char *cause = NULL;
	size_t nlv = 0;
	int r;

	r = lvm_parse(PVS, strlen(PVS), lvs_json, strlen(lvs_json), devs, &pv,
		      1, &lvs, &nlv, &cause);
	ok(r == 0, "the reports parse");
	ok(pv.vg && !strcmp(pv.vg, "vg0"), "the PV's volume group");
	l = find(lvs, nlv, "root");
	ok(l && !l->skip && l->offset == 9437184 + 1048576 &&
	   l->size == 33554432, "a linear LV: PV start + pe_start + extents");
	l = find(lvs, nlv, "data");
	ok(l && l->skip && strstr(l->skip, "non-contiguous"),
	   "a linear LV in two pieces is skipped");
	l = find(lvs, nlv, "two");
	ok(l && !l->skip && l->offset == 9437184 + 1048576 + 12ull * 4194304,
	   "adjacent segments make one run");
	l = find(lvs, nlv, "thin");
	ok(l && l->skip && strstr(l->skip, "thin logical volume"),
	   "a thin LV needs device-mapper");
	l = find(lvs, nlv, "gone");
	ok(l && l->skip && strstr(l->skip, "not in this image"),
	   "an LV on a missing PV is skipped");
	l = find(lvs, nlv, "huge");
	ok(l && l->skip, "an extent number that overflows is refused");
	ok(!find(lvs, nlv, "../x"), "a name LVM would not allow is dropped");
	l = find(lvs, nlv, "past");
	ok(l && l->skip && strstr(l->skip, "past"),
	   "an LV past the end of its PV is refused");
	lvm_lvs_free(lvs, nlv);
	free(pv.vg);
	pv.vg = NULL;

	r = lvm_parse(PVS, strlen(PVS), "{\"report\":{}}", 13, devs, &pv, 1,
		      &lvs, &nlv, &cause);
	ok(r < 0 && cause && nlv == 0, "a report of the wrong shape fails");
	free(cause);
	cause = NULL;
	free(pv.vg);
	pv.vg = NULL;
	r = lvm_parse("[", 1, "", 0, devs, &pv, 1, &lvs, &nlv, &cause);
	ok(r < 0 && cause, "malformed JSON fails");
	free(cause);

	return tap_done();
}
