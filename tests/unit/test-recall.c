/* test-recall.c - unit tests of recall.c: verdicts, claims, templates, memos */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "image.h"
#include "json.h"
#include "recall.h"
#include "util.h"
#include "tap.h"


/* Parking, counted: what the job's idle_leave/idle_enter would do. */
struct parks {
	int leave, enter;
};

static void count_leave(void *arg)
{
	__atomic_add_fetch(&((struct parks *)arg)->leave, 1, __ATOMIC_SEQ_CST);
}

static void count_enter(void *arg)
{
	__atomic_add_fetch(&((struct parks *)arg)->enter, 1, __ATOMIC_SEQ_CST);
}

/* Four files: content A, B, A again, and one not hashed. */
static void make_walk(struct walk *w, struct walk_file *f)
{
	memset(w, 0, sizeof(*w));
	memset(f, 0, 4 * sizeof(*f));
	for (int i = 0; i < 4; i++) {
		f[i].path = xasprintf("/mnt/f%d", i);
		f[i].hashed = i != 3;
		memset(f[i].sha256, i == 1 ? 'B' : 'A', 32);
	}
	w->files = f;
	w->nfiles = 4;
	w->root_len = 4;
}

struct waiter {
	struct recall_verdicts *v;
	const struct walk *w;
	const bool *wait;
	struct parks parks;
	int r;
};

static void *wait_thread(void *arg)
{
	struct waiter *x = arg;
	struct recall_park park = { count_leave, count_enter, &x->parks };

	x->r = recall_verdicts_wait(x->v, x->w, x->wait, 0, &park);
	return NULL;
}

struct follower {
	struct recall *r;
	const struct image_map *map;
	struct parks parks;
	const char *key;
};

static void *follow_thread(void *arg)
{
	struct follower *x = arg;
	struct recall_park park = { count_leave, count_enter, &x->parks };

	x->key = recall_lead_begin(x->r, x->map, &park);
	return NULL;
}

static void test_verdicts(struct cache *c)
{
	struct walk w;
	struct walk_file f[4];
	bool known[4] = { 0 }, todo[4], wait[4], todo2[4], wait2[4];
	bool keep[4] = { 0 };
	const char *kthreat[4] = { NULL };
	char *threat[4] = { NULL };
	struct recall_verdicts *v = recall_verdicts_open(c, "clamav", "fp1");
	struct recall_verdicts *other = recall_verdicts_open(c, "clamav",
							     "fp2");
	struct recall_claim *mine, *theirs;
	struct waiter x = { 0 };
	pthread_t th;
	size_t got;

	make_walk(&w, f);
	ok(!recall_verdicts_any(v), "an empty cache holds no verdict");
	ok(recall_verdicts_lookup(v, &w, known, threat) == 0 &&
	   !known[0] && !known[3], "no verdict: nothing known");

	mine = recall_verdicts_claim(v, &w, known, todo, wait);
	ok(todo[0] && todo[1] && !todo[2] && todo[3],
	   "a claim scans each content once, and what is not hashed");
	ok(!wait[0] && !wait[1] && wait[2] && !wait[3],
	   "a copy of content in the same walk waits for its verdict");
	theirs = recall_verdicts_claim(v, &w, known, todo2, wait2);
	ok(!todo2[0] && !todo2[1] && !todo2[2] && todo2[3],
	   "another run does not scan claimed content");
	ok(wait2[0] && wait2[1] && wait2[2] && !wait2[3],
	   "another run waits for claimed content");
	recall_verdicts_unclaim(v, theirs);
	ok(recall_verdicts_wait(v, &w, wait2, time_mono() - 1, NULL) ==
	   -ETIMEDOUT, "a wait past the deadline ends timed out");

	/* Another thread waits (parked) until the verdicts are kept. */
	x.v = v;
	x.w = &w;
	x.wait = wait2;
	x.r = 1;
	pthread_create(&th, NULL, wait_thread, &x);
	usleep(300000);
	ok(__atomic_load_n(&x.parks.leave, __ATOMIC_SEQ_CST) == 1 &&
	   __atomic_load_n(&x.r, __ATOMIC_SEQ_CST) == 1,
	   "a waiter for claimed content is parked");
	keep[0] = keep[1] = true;
	kthreat[1] = "Eicar-Signature";
	recall_verdicts_keep(v, &w, keep, kthreat);
	recall_verdicts_unclaim(v, mine);
	pthread_join(th, NULL);
	ok(x.r == 0 && x.parks.leave == 1 && x.parks.enter == 1,
	   "it goes on, back from parking, once the claim is released");

	ok(recall_verdicts_any(v), "kept verdicts are there");
	ok(!recall_verdicts_any(other), "other signatures: other verdicts");
	memset(known, 0, sizeof(known));
	got = recall_verdicts_lookup(v, &w, known, threat);
	ok(got == 3 && known[0] && known[1] && known[2] && !known[3],
	   "verdicts are found by content, copies too");
	ok(!threat[0] && threat[1] && !strcmp(threat[1], "Eicar-Signature") &&
	   !threat[2], "an infected content's threat comes back");
	free(threat[1]);
	threat[1] = NULL;
	memset(known, 0, sizeof(known));
	ok(recall_verdicts_lookup(other, &w, known, threat) == 0,
	   "no verdict under another fingerprint");

	memset(known, 0, sizeof(known));
	known[1] = true;
	ok(recall_verdicts_claim(NULL, &w, known, todo, wait) == NULL &&
	   todo[0] && !todo[1] && todo[2] && todo[3] && !wait[2],
	   "without a cache, every file not known is scanned");
	recall_verdicts_unclaim(NULL, NULL);

	for (int i = 0; i < 4; i++)
		free(f[i].path);
	recall_verdicts_close(v);
	recall_verdicts_close(other);
}

static void test_lead(struct recall *r)
{
	struct image_map map = { 0 }, flat = { 0 };
	struct follower x = { 0 };
	const char *key;
	pthread_t th;

	strv_push(&map.ids, "top");
	strv_push(&map.ids, "template");
	strv_push(&flat.ids, "");
	ok(recall_lead_begin(r, NULL, NULL) == NULL &&
	   recall_lead_begin(r, &flat, NULL) == NULL,
	   "no template, no leader");
	key = recall_lead_begin(r, &map, NULL);
	ok(key && !strcmp(key, "template"), "the first target leads");
	x.r = r;
	x.map = &map;
	x.key = "unset";
	pthread_create(&th, NULL, follow_thread, &x);
	usleep(300000);
	ok(__atomic_load_n(&x.parks.leave, __ATOMIC_SEQ_CST) == 1,
	   "a clone of the template waits, parked");
	recall_lead_end(r, key);
	pthread_join(th, NULL);
	ok(x.key == NULL && x.parks.enter == 1,
	   "it goes on once the leader is done, and does not lead");
	ok(recall_lead_begin(r, &map, NULL) == NULL,
	   "a template walked already has no leader");
	image_map_release(&map);
	image_map_release(&flat);
}

static void test_target(struct recall *r, const char *dir)
{
	struct recall_verdicts *v[2] = { NULL, NULL };
	struct json_object *res, *got = NULL;
	struct strv none = { 0 }, exclude = { 0 };
	char *top = xasprintf("%s/disk.img", dir), *key, *key2;
	struct buf ids = { 0 };
	int fd;

	fd = open(top, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ok(fd >= 0 && write(fd, "disk", 4) == 4, "an image file");
	if (fd >= 0)
		close(fd);
	v[0] = recall_verdicts_open(NULL, "clamav", "fp1");
	ok(recall_target_key(r, top, NULL, v, 2, &exclude, false) == NULL,
	   "an engine that does not cache: no key");
	key = recall_target_key(r, top, "qcow2", v, 1, &exclude, false);
	strv_push(&exclude, "/tmp/*");
	key2 = recall_target_key(r, top, "qcow2", v, 1, &exclude, false);
	ok(key && key2 && strstr(key, "clamav fp1\n") && strcmp(key, key2),
	   "the key names the engines, and exclusions change it");

	ok(recall_chain_identity(top, &none, &ids) == -EAGAIN,
	   "a file changed just now cannot vouch for its content");
	res = json_object_new_object();
	json_put_str(res, "image", top);
	json_put_obj(res, "backing", json_object_new_array());
	json_put_str(res, "status", "clean");
	recall_target_store(r, key, ids.p, top, &none, json_object_get(res));
	ok(recall_target_lookup(r, key, &got) == -ENOENT,
	   "so its result is not kept");

	sleep(2);
	buf_release(&ids);
	ok(recall_chain_identity(top, &none, &ids) == 0,
	   "an older file has an identity");
	recall_target_store(r, key, ids.p, top, &none, json_object_get(res));
	ok(recall_target_lookup(r, key, &got) == 0 && got &&
	   !strcmp(json_get_str(got, "status"), "clean"),
	   "an unchanged image's result is recalled");
	json_object_put(got);
	got = NULL;
	ok(recall_target_lookup(r, key2, &got) == -ENOENT,
	   "not under another question");
	fd = open(top, O_WRONLY | O_APPEND | O_CLOEXEC);
	ok(fd >= 0 && write(fd, "x", 1) == 1, "the image changes");
	if (fd >= 0)
		close(fd);
	ok(recall_target_lookup(r, key, &got) == -ENOENT,
	   "a changed image's result is not recalled");
	buf_release(&ids);
	recall_chain_identity(top, &none, &ids);
	recall_target_store(r, key, "stale", top, &none, json_object_get(res));
	ok(recall_target_lookup(r, key, &got) == -ENOENT,
	   "a result is not kept if the image changed during the scan");

	json_object_put(res);
	recall_verdicts_close(v[0]);
	buf_release(&ids);
	strv_release(&exclude);
	unlink(top);
	free(top);
	free(key);
	free(key2);
}

static void test_places(struct recall *r)
{
	struct image_extent ext[2] = {
		{ .start = 0, .length = 4096, .offset = 8192, .depth = 1,
		  .data = true },
		{ .start = 4096, .length = 4096, .depth = 0, .data = false },
	};
	struct image_map map = { .v = ext, .n = 2 };
	struct walk_extent x = { .logical = 0, .physical = 1024,
				 .length = 512 };
	struct walk_file f = { .hashed = true };
	struct walk w = { .files = &f, .nfiles = 1 };
	struct recall_place pl;
	unsigned char sha[32];
	char *where;

	strv_push(&map.ids, "top");
	strv_push(&map.ids, "template");
	recall_place_init(r, &map, 0, &pl);
	where = pl.loc.where(pl.loc.arg, &x, 1, 512);
	ok(where && !strcmp(where, "512 0:template@9216+512;"),
	   "a place names the chain file and offset");
	ok(!pl.loc.recall(pl.loc.arg, where, sha), "an unknown place");
	memset(f.sha256, 'C', 32);
	f.where = where;
	recall_place_remember(r, &w);
	ok(pl.loc.recall(pl.loc.arg, where, sha) && sha[0] == 'C' &&
	   sha[31] == 'C', "a remembered place gives its content's hash");
	free(where);
	x.physical = 5000;
	where = pl.loc.where(pl.loc.arg, &x, 1, 512);
	ok(where && !strcmp(where, "512 0:z512;"), "a place that reads zeros");
	free(where);
	x.physical = 8000;
	ok(pl.loc.where(pl.loc.arg, &x, 1, 512) == NULL,
	   "no place past the end of the map");
	strv_release(&map.ids);
}

int main(void)
{
	char dir[] = "/tmp/avbatch-test-recall.XXXXXX";
	struct recall *r;
	struct cache *c = NULL;
	char *path, *cause = NULL, *fp;

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	path = xasprintf("%s/cache.sqlite", dir);
	r = recall_open(NULL);
	ok(recall_target_key(r, "/", NULL, NULL, 0, &(struct strv){ 0 },
			     false) == NULL, "without a cache, no key");
	recall_close(r);

	ok(cache_open(path, &c, &cause) == 0, "a cache");
	free(cause);
	r = recall_open(c);
	ok(recall_fingerprint(c, "ids") == NULL, "no fingerprint yet");
	recall_fingerprint_keep(c, "ids", "abc");
	fp = recall_fingerprint(c, "ids");
	ok(fp && !strcmp(fp, "abc"), "a fingerprint is remembered");
	free(fp);
	test_verdicts(c);
	test_lead(r);
	test_places(r);
	test_target(r, dir);
	recall_close(r);

	unlink(path);
	free(path);
	path = xasprintf("%s/cache.sqlite-wal", dir);
	unlink(path);
	free(path);
	path = xasprintf("%s/cache.sqlite-shm", dir);
	unlink(path);
	free(path);
	rmdir(dir);
	return tap_done();
}
