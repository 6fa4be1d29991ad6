/* verdict.h - a content's verdict as both caches (cache.c, cache-pg.c) keep it */
#ifndef AVBATCH_VERDICT_H
#define AVBATCH_VERDICT_H

enum cache_verdict {
	CACHE_UNKNOWN,
	CACHE_CLEAN,
	CACHE_INFECTED,
};

struct cache_entry {
	unsigned char sha256[32];
	enum cache_verdict verdict;
	const char *threat;	/* infected only */
};

#endif
