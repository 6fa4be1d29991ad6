/* test-result.c - unit tests of result.c: statuses, totals, a target's JSON */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "result.h"
#include "util.h"
#include "tap.h"


static void is_int(long long got, long long want, const char *desc)
{
	ok(got == want, desc);
	if (got != want)
		printf("# got %lld, want %lld\n", got, want);
}

static const struct result_engine engines[] = {
	{ .name = "clamav" }, { .name = "other" },
};

/* A target of an image with one ext4 file system (label not UTF-8). */
static void make_target(struct target *t, enum target_status status)
{
	struct image *img = xcalloc(1, sizeof(*img));

	memset(t, 0, sizeof(*t));
	t->arg = xstrdup("/img/vm.qcow2");
	t->name = xstrdup("vm.qcow2");
	img->path = xstrdup("/img/vm.qcow2");
	img->format = xstrdup("qcow2");
	strv_push(&img->backing, "/img/base.qcow2");
	img->table = xstrdup("gpt");
	img->nfs = 1;
	img->fs = xcalloc(2, sizeof(*img->fs));
	img->fs[0].id = xstrdup("p1");
	img->fs[0].type = xstrdup("ext4");
	img->fs[0].label = xstrdup("caf\xe9");
	img->fs[0].size = 1 << 20;
	img->fs[0].plan.driver = xstrdup("ext4");
	img->fs[0].plan.options = xstrdup("ro,noexec");
	t->img = img;
	t->fsr = xcalloc(1, sizeof(*t->fsr));
	t->fsr[0].status = FS_SCANNED;
	t->fsr[0].seen = 10;
	t->fsr[0].scanned = 9;
	t->fsr[0].bytes = 4096;
	t->fsr[0].skipped[SKIP_TOO_LARGE] = 1;
	t->status = status;
}

int main(void)
{
	struct target ts[3], back;
	struct results_tally tally;
	struct results res = { .targets = ts, .ntargets = 3 };
	struct json_object *o, *f;
	struct detection *d, *d2;
	struct buf b = { 0 };

	/* Names both ways; pending has none, and nothing else maps to it. */
	for (int s = 1; s < TARGET_NSTATUSES; s++)
		ok(target_status_from_name(target_status_names[s]) ==
		   (enum target_status)s, target_status_names[s]);
	for (int s = 1; s < FS_NSTATUSES; s++)
		ok(fs_status_from_name(fs_status_names[s]) ==
		   (enum fs_status)s, fs_status_names[s]);
	ok(target_status_from_name(NULL) == TARGET_NSTATUSES,
	   "no target status: none");
	ok(target_status_from_name("pending") == TARGET_NSTATUSES,
	   "pending is no report name");
	ok(target_status_from_name("Clean") == TARGET_NSTATUSES,
	   "names are exact");
	ok(fs_status_from_name("ready") == FS_NSTATUSES,
	   "an unknown file system status: none");
	for (int s = 0; s < PHASE_NPHASES; s++)
		ok(target_phase_from_name(target_phase_names[s]) ==
		   (enum target_phase)s, target_phase_names[s]);
	ok(target_phase_from_name("finished") == PHASE_NPHASES,
	   "a job's state is no target's phase");

	/* Totals and the exit status. */
	make_target(&ts[0], TARGET_CLEAN);
	make_target(&ts[1], TARGET_CLEAN);
	make_target(&ts[2], TARGET_INCOMPLETE);
	ts[2].fsr[0].uncovered = true;
	results_tally(ts, 3, &tally);
	is_int((long long)tally.status[TARGET_CLEAN], 2, "two clean");
	is_int((long long)tally.uncovered, 1, "one not complete");
	is_int((long long)tally.files, 27, "files scanned add up");
	is_int((long long)tally.bytes, 3 * 4096, "bytes add up");
	is_int(results_exit_code(&res), 2, "something not covered: exit 2");
	res.ntargets = 2;
	is_int(results_exit_code(&res), 0, "all clean: exit 0");
	res.stopped = true;
	is_int(results_exit_code(&res), 2, "stopped: exit 2");
	res.stopped = false;
	res.report_error = -EACCES;
	is_int(results_exit_code(&res), 2, "report not written: exit 2");
	res.report_error = 0;

	/* Detections: one per place and engine. */
	d = result_add_detection(&ts[1], "p1", "/a\xff", 3, "Eicar",
				 engines[0].name, NULL);
	d->hashed = true;
	memset(d->sha256, 0xab, sizeof(d->sha256));
	d2 = result_add_detection(&ts[1], "p1", "/a\xff", 3, "Eicar",
				  engines[0].name, NULL);
	ok(d == d2 && ts[1].ndet == 1, "the same detection once");
	result_add_detection(&ts[1], "p1", "/a\xff", 3, "Eicar",
			     engines[1].name, NULL);
	is_int((long long)results_detections(ts, 2), 2, "two detections");
	target_settle(&ts[1]);
	ok(ts[1].status == TARGET_INFECTED, "settled: infected");
	ok(target_complete(&ts[1]), "infected, fully covered: complete");
	is_int(results_exit_code(&res), 1, "found: exit 1");

	/* A file system without results: no status, the label's bytes. */
	f = result_fs_json(&ts[0].img->fs[0], NULL);
	ok(!json_get(f, "status") && !json_get(f, "files"),
	   "no result, no result fields");
	ok(json_get_bytes(f, "label", "label_b64", &b) == 0 &&
	   b.len == 4 && !memcmp(b.p, "caf\xe9", 4), "label bytes kept");
	buf_release(&b);
	json_object_put(f);

	/* What the cache keeps comes back as it was. */
	o = result_target_json(&ts[1], "host1");
	memset(&back, 0, sizeof(back));
	ok(result_target_load(&back, o, engines, 2) == 0, "loaded");
	ok(back.status == TARGET_INFECTED && back.recalled,
	   "infected, recalled");
	ok(back.ndet == 2 && back.det[0].pathlen == 3 &&
	   !memcmp(back.det[0].path, "/a\xff", 3), "path bytes kept");
	ok(back.det[0].engine == engines[0].name &&
	   back.det[1].engine == engines[1].name, "tied to the engines");
	ok(back.det[0].hashed && back.det[0].sha256[31] == 0xab,
	   "hash kept");
	ok(back.img && back.img->nfs == 1 &&
	   !strcmp(back.img->fs[0].label, "caf\xe9") &&
	   back.fsr[0].status == FS_SCANNED && back.fsr[0].cached == 9,
	   "file system back, its files cached");
	target_release(&back);
	ok(result_target_load(&back, o, engines, 1) == -EINVAL &&
	   !back.img, "an engine not in the job: refused, untouched");
	json_object_put(o);
	o = result_target_json(&ts[2], NULL);
	ok(result_target_load(&back, o, engines, 2) == -EINVAL,
	   "an incomplete target is not recalled");
	json_object_put(o);

	for (int i = 0; i < 3; i++)
		target_release(&ts[i]);
	return tap_done();
}
