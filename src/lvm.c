/* lvm.c - a guest's LVM2 volume groups, read with LVM's own report tools */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "loop.h"
#include "lvm.h"
#include "proc.h"
#include "util.h"

/* How long one report command may take. */
#define LVM_TIMEOUT	60

/*
 * Nothing host-global: no activation (no device-mapper at all), no hints
 * file, no devices file, no udev device list, no metadata backup or
 * archive; --readonly takes no locks.  --devices alone chooses what is
 * read, so the host's filters (which may well reject loop devices, to keep
 * udev's event activation away from them) are overridden.
 */
#define LVM_CONFIG \
	"global { activation = 0 } " \
	"backup { backup = 0 archive = 0 } " \
	"devices { hints = \"none\" use_devicesfile = 0 " \
	"obtain_device_list_from_udev = 0 scan_lvs = 0 " \
	"filter = [ \"a|.*|\" ] global_filter = [ \"a|.*|\" ] }"

/* One segment of an LV, as lvs --segments reports it. */
struct seg {
	uint64_t start_pe, size_pe, dev_pe;
	int pv;			/* index into pvs, -1: not one of ours */
	unsigned stripes;
	const char *segtype;
};

/* Why a volume that needs a device-mapper table is not scanned. */
static char *needs_dm(const char *what)
{
	return xasprintf("%s: needs a device-mapper table, %s", what,
			 access("/dev/mapper/control", F_OK) == 0 ?
			 "which avbatch does not build yet" :
			 "and this host has no device-mapper");
}

/* LVM's own name rule: what lvs prints must still pass it here. */
static bool lvm_name_ok(const char *s)
{
	if (!s || !*s || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+_.-", *s))
			return false;
	return true;
}

/* Run pvs or lvs (argv0) with the common options; its JSON in *out. */
static int lvm_report(const char *argv0, const char *fields,
		      const char *const *extra, char **devs, size_t ndev,
		      struct buf *out, char **cause)
{
	struct strv argv = { 0 };
	int r;

	strv_push(&argv, argv0);
	strv_push(&argv, "--readonly");
	strv_push(&argv, "--reportformat");
	strv_push(&argv, "json");
	strv_push(&argv, "--units");
	strv_push(&argv, "b");
	strv_push(&argv, "--nosuffix");
	strv_push(&argv, "--config");
	strv_push(&argv, LVM_CONFIG);
	for (size_t i = 0; extra && extra[i]; i++)
		strv_push(&argv, extra[i]);
	strv_push(&argv, "-o");
	strv_push(&argv, fields);
	for (size_t i = 0; i < ndev; i++) {
		strv_push(&argv, "--devices");
		strv_push(&argv, devs[i]);
	}
	r = proc_capture((const char *const *)argv.v, LVM_TIMEOUT, out, cause);
	strv_release(&argv);
	return r;
}

/* The rows of a report ("pv", "seg"): {"report": [{kind: [...]}]}. */
static int report_rows(const char *text, size_t len, const char *kind,
		       struct json_object **root, struct json_object **rows,
		       char **cause)
{
	struct json_object *rep;

	*rows = NULL;
	*root = json_parse(text ? text : "", text ? len : 0, cause);
	if (!*root)
		return -EINVAL;
	rep = json_get(*root, "report");
	if (rep && json_object_is_type(rep, json_type_array) &&
	    json_object_array_length(rep) > 0)
		*rows = json_get(json_object_array_get_idx(rep, 0), kind);
	if (!*rows || !json_object_is_type(*rows, json_type_array)) {
		*cause = xasprintf("no '%s' rows in LVM's report", kind);
		return -EINVAL;
	}
	return 0;
}

/* A number LVM reports as a string; *ok turns false if it is not one. */
static uint64_t row_u64(struct json_object *row, const char *key, bool *ok)
{
	const char *s = json_get_str(row, key);
	uint64_t v = 0;

	if (!s || parse_u64(s, &v) < 0)
		*ok = false;
	return v;
}

/* Which of our loop devices name is, or -1. */
static int dev_index(char **devs, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (!strcmp(devs[i], name))
			return (int)i;
	return -1;
}

/*
 * "/dev/loop3(8)": the device and the PV extent a linear segment starts
 * at.  Anything else (several devices, "[unknown]") is not ours to map.
 */
static int parse_devices(const char *s, char **devs, size_t n, int *pv,
			 uint64_t *pe)
{
	const char *open = s ? strrchr(s, '(') : NULL;
	char *name, *num;
	size_t len;
	int r = -EINVAL;

	*pv = -1;
	if (!open || strchr(s, ','))
		return r;
	len = strlen(open + 1);
	if (len < 2 || open[len] != ')')
		return r;
	num = xstrndup(open + 1, len - 1);
	name = xstrndup(s, (size_t)(open - s));
	if (parse_u64(num, pe) == 0) {
		*pv = dev_index(devs, n, name);
		r = 0;
	}
	free(num);
	free(name);
	return r;
}

/*
 * Where one LV's segments (in LE order) lie: a single run of extents on
 * one PV can be read through a loop at an offset; anything else cannot.
 */
static void place_lv(struct lvm_lv *lv, const struct seg *s, size_t n,
		     const struct lvm_pv *pvs, const uint64_t *pe_start,
		     uint64_t extent)
{
	uint64_t off, end;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(s[i].segtype, "linear") &&
		    !(strcmp(s[i].segtype, "striped") == 0 &&
		      s[i].stripes == 1)) {
			char *what = xasprintf("%s logical volume",
					       s[i].segtype);

			lv->skip = needs_dm(what);
			free(what);
			return;
		}
		if (s[i].pv < 0) {
			lv->skip = xstrdup("logical volume on a physical "
					   "volume that is not in this image");
			return;
		}
		if (i && (s[i].pv != s[0].pv ||
			  s[i].start_pe != s[i - 1].start_pe +
					   s[i - 1].size_pe ||
			  s[i].dev_pe != s[i - 1].dev_pe +
					 s[i - 1].size_pe)) {
			lv->skip = needs_dm("linear logical volume in "
					    "non-contiguous extents");
			return;
		}
	}
	if (!n || s[0].start_pe != 0) {
		lv->skip = xstrdup("logical volume without segments");
		return;
	}
	/* The numbers are the guest's: no overflow may wrap them inside. */
	if (__builtin_mul_overflow(s[0].dev_pe, extent, &off) ||
	    __builtin_add_overflow(off, pe_start[s[0].pv], &off) ||
	    __builtin_add_overflow(off, lv->size, &end) ||
	    end > pvs[s[0].pv].size) {
		lv->skip = xstrdup("logical volume extends past its "
				   "physical volume");
		return;
	}
	lv->offset = pvs[s[0].pv].offset + off;
}

/* The PVs' VGs and extent starts, from pvs's report. */
static int read_pvs(const char *text, size_t len, char **devs,
		    struct lvm_pv *pvs, size_t npv, uint64_t *pe_start,
		    char **cause)
{
	struct json_object *root = NULL, *rows = NULL;
	int r;

	r = report_rows(text, len, "pv", &root, &rows, cause);
	for (size_t i = 0; r == 0 && i < json_object_array_length(rows);
	     i++) {
		struct json_object *row = json_object_array_get_idx(rows, i);
		int k = dev_index(devs, npv, json_get_str(row, "pv_name"));
		const char *vg = json_get_str(row, "vg_name");
		bool ok = true;

		if (k < 0)
			continue;
		pe_start[k] = row_u64(row, "pe_start", &ok);
		if (ok && vg && lvm_name_ok(vg) && !pvs[k].vg)
			pvs[k].vg = xstrdup(vg);
	}
	json_object_put(root);
	return r;
}

/* One row of lvs --segments into *seg; false if it is unreadable. */
static bool read_seg(struct json_object *row, char **devs, size_t ndev,
		     struct seg *seg, uint64_t *extent)
{
	bool ok = true;

	*extent = row_u64(row, "vg_extent_size", &ok);
	seg->start_pe = row_u64(row, "seg_start_pe", &ok);
	seg->size_pe = row_u64(row, "seg_size_pe", &ok);
	seg->stripes = (unsigned)row_u64(row, "stripes", &ok);
	seg->segtype = json_get_str(row, "segtype");
	seg->pv = -1;
	if (!seg->segtype)
		return false;
	if (strcmp(seg->segtype, "linear") == 0 ||
	    (strcmp(seg->segtype, "striped") == 0 && seg->stripes == 1))
		parse_devices(json_get_str(row, "devices"), devs, ndev,
			      &seg->pv, &seg->dev_pe);
	return ok && *extent > 0;
}

/* A new LV from its first segment row, or NULL if its names are bad. */
static struct lvm_lv *add_lv(struct lvm_lv **lvs, size_t *n,
			     struct json_object *row)
{
	const char *vg = json_get_str(row, "vg_name");
	const char *lv = json_get_str(row, "lv_name");
	const char *vgu = json_get_str(row, "vg_uuid");
	const char *lvu = json_get_str(row, "lv_uuid");
	const char *type = json_get_str(row, "segtype");
	struct lvm_lv *cur;
	bool ok = true;

	if (!lvm_name_ok(vg) || !lvm_name_ok(lv) || !lvu)
		return NULL;
	*lvs = xreallocarray(*lvs, *n + 1, sizeof(**lvs));
	cur = &(*lvs)[(*n)++];
	memset(cur, 0, sizeof(*cur));
	cur->vg = xstrdup(vg);
	cur->lv = xstrdup(lv);
	cur->vg_uuid = xstrdup(vgu ? vgu : "");
	cur->lv_uuid = xstrdup(lvu);
	cur->segtype = xstrdup(type ? type : "?");
	cur->size = row_u64(row, "lv_size", &ok);
	if (!ok)
		cur->skip = xstrdup("unreadable lvs report");
	return cur;
}

int lvm_parse(const char *pvs_json, size_t pvs_len, const char *lvs_json,
	      size_t lvs_len, char **devs, struct lvm_pv *pvs, size_t npv,
	      struct lvm_lv **out, size_t *nout, char **cause)
{
	struct json_object *root = NULL, *rows = NULL;
	uint64_t *pe_start = xcalloc(npv ? npv : 1, sizeof(*pe_start));
	struct lvm_lv *lvs = NULL, *cur = NULL;
	struct seg *segs = NULL;
	size_t nlv = 0, nseg = 0, nrows;
	uint64_t extent = 0;
	int r;

	r = read_pvs(pvs_json, pvs_len, devs, pvs, npv, pe_start, cause);
	if (r == 0)
		r = report_rows(lvs_json, lvs_len, "seg", &root, &rows, cause);
	if (r < 0)
		goto done;
	nrows = json_object_array_length(rows);
	segs = xcalloc(nrows + 1, sizeof(*segs));
	/* Rows come sorted by LV, then by logical extent. */
	for (size_t i = 0; i <= nrows; i++) {
		struct json_object *row = i < nrows ?
			json_object_array_get_idx(rows, i) : NULL;
		const char *lvu = json_get_str(row, "lv_uuid");
		bool same = cur && lvu && !strcmp(lvu, cur->lv_uuid);

		if (cur && !same) {
			if (!cur->skip)
				place_lv(cur, segs, nseg, pvs, pe_start,
					 extent);
			cur = NULL;
			nseg = 0;
		}
		if (!row)
			break;
		if (!same && !(cur = add_lv(&lvs, &nlv, row)))
			continue;
		if (!read_seg(row, devs, npv, &segs[nseg++], &extent) &&
		    !cur->skip)
			cur->skip = xstrdup("unreadable lvs report");
		if (strcmp(cur->segtype, segs[nseg - 1].segtype ?
			   segs[nseg - 1].segtype : "?")) {
			free(cur->segtype);
			cur->segtype = xstrdup("mixed");
		}
	}
done:
	json_object_put(root);
	free(pe_start);
	free(segs);
	if (r < 0) {
		lvm_lvs_free(lvs, nlv);
		lvs = NULL;
		nlv = 0;
	}
	*out = lvs;
	*nout = nlv;
	return r;
}

int lvm_read(const char *view, struct lvm_pv *pvs, size_t npv,
	     struct lvm_lv **out, size_t *nout, char **cause)
{
	static const char *const lvs_opts[] = {
		"--segments", "-O", "vg_name,lv_name,lv_uuid,seg_start_pe",
		NULL
	};
	char **devs = xcalloc(npv, sizeof(*devs));
	int *fds = xcalloc(npv, sizeof(*fds));
	struct buf pv = { 0 }, lv = { 0 };
	int r = 0;

	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < npv; i++)
		fds[i] = -1;
	for (size_t i = 0; i < npv; i++) {
		fds[i] = loop_attach(view, pvs[i].offset, pvs[i].size, false,
				     &devs[i], cause);
		if (fds[i] < 0) {
			r = fds[i];
			goto done;
		}
	}
	r = lvm_report("pvs", "pv_name,pe_start,vg_name", NULL, devs, npv,
		       &pv, cause);
	if (r == 0)
		r = lvm_report("lvs", "vg_name,vg_uuid,lv_name,lv_uuid,"
			       "lv_size,segtype,seg_start_pe,seg_size_pe,"
			       "devices,stripes,vg_extent_size", lvs_opts,
			       devs, npv, &lv, cause);
	if (r == 0)
		r = lvm_parse(pv.p, pv.len, lv.p, lv.len, devs, pvs, npv, out,
			      nout, cause);
done:
	for (size_t i = 0; i < npv; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		free(devs[i]);
	}
	free(devs);
	free(fds);
	buf_release(&pv);
	buf_release(&lv);
	return r;
}

void lvm_lvs_free(struct lvm_lv *lvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(lvs[i].vg);
		free(lvs[i].lv);
		free(lvs[i].vg_uuid);
		free(lvs[i].lv_uuid);
		free(lvs[i].segtype);
		free(lvs[i].skip);
	}
	free(lvs);
}
