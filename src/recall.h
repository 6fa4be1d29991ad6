/* recall.h - never do work twice: results, places, templates, verdicts */
#ifndef AVBATCH_RECALL_H
#define AVBATCH_RECALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "walk.h"

struct cache;

/*
 * Around a wait for work another target is doing (verdicts it computes):
 * the waiter is parked meanwhile, its slot going to other work.  leave
 * and enter may be NULL: it just waits.
 */
struct recall_park {
	void (*leave)(void *arg);
	void (*enter)(void *arg);
	void *arg;
};

/* The verdicts of one engine with one signature fingerprint. */
struct recall_verdicts;

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

/* Does the cache hold any verdict of this engine with these signatures? */
bool recall_verdicts_any(struct recall_verdicts *v);

/*
 * Mark known the hashed files of w whose content already has a verdict;
 * threat[i] (malloc'd) for an infected one.  Returns how many it marked.
 */
size_t recall_verdicts_lookup(struct recall_verdicts *v, const struct walk *w,
			      bool *known, char **threat);

/* Keep the verdicts of the files marked keep: threat[i], or NULL: clean. */
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
