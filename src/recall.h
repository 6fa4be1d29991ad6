/* recall.h - never do work twice: results, places, templates, verdicts */
#ifndef AVBATCH_RECALL_H
#define AVBATCH_RECALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "walk.h"

struct cache;
struct fs;
struct image_map;
struct json_object;

/*
 * Around a wait for work another target is doing (a template's walk,
 * verdicts it computes): the waiter is parked meanwhile, its slot going
 * to other work.  leave and enter may be NULL: it just waits.
 */
struct recall_park {
	void (*leave)(void *arg);
	void (*enter)(void *arg);
	void *arg;
};

/* What one batch recalls: over a cache (or none), shared by its threads. */
struct recall;

/* Takes c (NULL: nothing is recalled); recall_close() closes it. */
struct recall *recall_open(struct cache *c);
void recall_close(struct recall *r);

/* The verdicts of one engine with one signature fingerprint. */
struct recall_verdicts;

/*
 * A target whose image files are exactly as they were when every one of
 * its file systems was fully scanned needs no attaching, mounting or
 * walking: its result is recalled.  The key says what was asked: avbatch,
 * image (as named), declared format (or NULL), the engines (NULL where
 * one does not cache: then no key), exclusions, snapshots.  NULL: the
 * target is not to be recalled.
 */
char *recall_target_key(const struct recall *r, const char *image,
			const char *format,
			struct recall_verdicts *const *engines, size_t n,
			const struct strv *exclude, bool snapshots);

/*
 * The result kept under key (result_target_json()'s object; the caller puts
 * it) if the image files it names are unchanged: 0, or -ENOENT.
 */
int recall_target_lookup(struct recall *r, const char *key,
			 struct json_object **result);

/*
 * Keep result (taken) under key if the image files (top, then backing)
 * still have the identities ids they had before the scan.
 */
void recall_target_store(struct recall *r, const char *key, const char *ids,
			 const char *top, const struct strv *backing,
			 struct json_object *result);

/*
 * The identities of the image files (top to bottom): 0, or -EAGAIN when one
 * is not a regular file or changed too recently to vouch for its content.
 */
int recall_chain_identity(const char *top, const struct strv *backing,
			  struct buf *b);

/*
 * File contents known by where they lie in the image chain (map): set
 * up before a walk of the file system at base in map's raw view; loc is
 * what walk_fs() takes (pl stays where it is while loc is used).
 */
struct recall_place {
	struct walk_locator loc;
	struct recall *r;
	const struct image_map *map;
	uint64_t base;		/* the file system's offset in the raw view */
};

void recall_place_init(struct recall *r, const struct image_map *map,
		       uint64_t base, struct recall_place *pl);

/* May a walk of fs (as planned) name its contents by place? */
bool recall_place_known(const struct fs *fs);

/* After a walk: remember where the contents it read lie. */
void recall_place_remember(struct recall *r, const struct walk *w);

/*
 * Clones of one template (map's bottom chain file): the first target to
 * walk it leads; the others wait (parked) until its walk is done.
 * Returns the template's key if this target leads: recall_lead_end()
 * follows; NULL if it does not.
 */
const char *recall_lead_begin(struct recall *r, const struct image_map *map,
			      const struct recall_park *park);

/* The leader's walk is done (however it went): the others go on. */
void recall_lead_end(struct recall *r, const char *key);

/*
 * Verdicts of engine with signature fingerprint fp, over c (which must
 * outlive them).  One per engine and batch: it holds the contents being
 * scanned right now too.
 */
struct recall_verdicts *recall_verdicts_open(struct cache *c,
					     const char *engine,
					     const char *fp);
void recall_verdicts_close(struct recall_verdicts *v);

/*
 * A signature fingerprint remembered in c by the signature files'
 * identities ids (hashing a production database takes seconds): malloc'd,
 * or NULL.
 */
char *recall_fingerprint(struct cache *c, const char *ids);
void recall_fingerprint_keep(struct cache *c, const char *ids,
			     const char *fp);

/*
 * The last signature fingerprint of engine under which verdicts were kept
 * (recall_verdicts_keep() remembers it): malloc'd, or NULL.  An update of
 * the signatures finds there what was known before it.
 */
char *recall_last_fingerprint(struct cache *c, const char *engine);

/* Does the cache hold any verdict of this engine with these signatures? */
bool recall_verdicts_any(struct recall_verdicts *v);

/*
 * Mark known the hashed files of w whose content already has a verdict;
 * threat[i] (malloc'd) for an infected one.  Returns how many it marked.
 */
size_t recall_verdicts_lookup(struct recall_verdicts *v, const struct walk *w,
			      bool *known, char **threat);

/*
 * Keep the verdicts of the files marked keep: threat[i], or NULL: clean.
 * The first kept makes v's fingerprint the engine's last one.
 */
void recall_verdicts_keep(struct recall_verdicts *v, const struct walk *w,
			  const bool *keep, const char *const *threat);

/* The contents one engine run scans (claims) while others wait for them. */
struct recall_claim;

/*
 * What this round scans (todo): every file not known, except content
 * another run is scanning right now, whose verdict it waits for instead
 * (wait).  With verdicts (v not NULL), claims what it will scan, until
 * recall_verdicts_unclaim(); keep its verdicts first.
 */
struct recall_claim *recall_verdicts_claim(struct recall_verdicts *v,
					   const struct walk *w,
					   const bool *known, bool *todo,
					   bool *wait);

/* Its verdicts are in the cache (or not coming): others may go on. */
void recall_verdicts_unclaim(struct recall_verdicts *v,
			     struct recall_claim *mine);

/*
 * Wait until no run is scanning what this one waits for: 0, -ECANCELED
 * (a stop was requested) or -ETIMEDOUT (deadline, time_mono(); 0: none).
 */
int recall_verdicts_wait(struct recall_verdicts *v, const struct walk *w,
			 const bool *wait, double deadline,
			 const struct recall_park *park);

#endif
