/* lvm.h - a guest's LVM2 volume groups, read with LVM's own report tools */
#ifndef AVBATCH_LVM_H
#define AVBATCH_LVM_H

#include <stddef.h>
#include <stdint.h>

/* A physical volume: a range of the image's raw view. */
struct lvm_pv {
	uint64_t offset, size;	/* in the view */
	char *vg;		/* out: the VG it belongs to, or NULL */
};

/* A logical volume found on the physical volumes. */
struct lvm_lv {
	char *vg, *lv;		/* names in LVM's charset [A-Za-z0-9+_.-] */
	char *vg_uuid, *lv_uuid;
	char *segtype;		/* "linear", "striped", "thin", ... */
	uint64_t size;		/* bytes */
	uint64_t offset;	/* in the view, when skip is NULL */
	char *skip;		/* why it cannot be read through a loop */
};

/*
 * Read the volume groups on pvs (ranges of view) with pvs and lvs in
 * read-only report mode, restricted to loop devices of exactly those
 * ranges (--devices), with activation, hints, the devices file, backups
 * and archives off: the host's LVM is neither consulted nor changed, so
 * guest VG names and UUIDs may clash with the host's or other clones'.
 * Fills pvs[i].vg and *out with every visible LV.
 */
int lvm_read(const char *view, struct lvm_pv *pvs, size_t npv,
	     struct lvm_lv **out, size_t *nout, char **cause);

/*
 * The parsing half of lvm_read, for unit tests: pvs's and lvs's JSON
 * reports (as lvm_read asks for them) about devs[i], which are pvs[i].
 */
int lvm_parse(const char *pvs_json, size_t pvs_len, const char *lvs_json,
	      size_t lvs_len, char **devs, struct lvm_pv *pvs, size_t npv,
	      struct lvm_lv **out, size_t *nout, char **cause);

void lvm_lvs_free(struct lvm_lv *lvs, size_t n);

#endif
