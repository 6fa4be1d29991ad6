/* sigset.h - a ClamAV database as sets of signature lines, to scan only what an update added */
#ifndef AVBATCH_SIGSET_H
#define AVBATCH_SIGSET_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct cache;
struct strv;

/*
 * Per file type (extension: "ndb", "hdb", ...) the sorted set of the
 * 128-bit truncated SHA-256 of each signature line (trailing CR removed,
 * empty lines skipped).  Types whose lines cannot be judged one by one
 * (bytecode, file-type magic, YARA, ...) and files of unknown type hold one
 * hash of the whole file.
 */
struct sigset;

/* What a file type can do to a verdict. */
enum sigset_kind {
	SIGSET_DETECT,	/* a line detects: .hdb .hsb .mdb .msb .ndb .ldb .cdb ... */
	SIGSET_ALLOW,	/* a line allows: .fp .sfp .ign .ign2 */
	SIGSET_CONTEXT,	/* the whole file shapes the scan: .cbc .ftm .cfg .idb ... */
	SIGSET_UNKNOWN,	/* not a type avbatch knows */
};

/* What an update means for content cached under the old set (worst first). */
enum sigset_change {
	SIGSET_SAME,		/* no signature changed */
	SIGSET_CLEAN_HOLDS,	/* detections removed, allow-list entries
				   added: clean stays clean, infected needs
				   the full database */
	SIGSET_DELTA,		/* detections added: clean content needs the
				   delta database, infected the full one */
	SIGSET_FULL,		/* anything else: everything needs the full
				   database */
};
extern const char *const sigset_change_names[];	/* "same", ... */

struct sigset_diff {
	enum sigset_change change;
	size_t added;		/* detection lines in new, not in old */
	size_t removed;		/* lines (every type) in old, not in new */
	size_t allowed;		/* allow-list lines in new, not in old */
	char *why;		/* SIGSET_FULL: the type that decided it */
};

struct sigset *sigset_new(void);
void sigset_free(struct sigset *s);

/*
 * What else decides what a signature line means: the engine's name,
 * version and options (a line with a minimum functionality level starts
 * to count under a newer engine).  Sets of different contexts differ
 * fully.
 */
void sigset_set_context(struct sigset *s, const void *context, size_t len);

/*
 * Read the signature files below paths (files, or directories read one
 * level deep as ClamAV does; .cvd/.cld/.cud containers are unpacked with
 * sigtool into a private directory below tmpdir, NULL: /tmp).  Returns 0,
 * or -errno with *cause naming the file.
 */
int sigset_read(const struct strv *paths, const char *tmpdir,
		struct sigset **out, char **cause);

/*
 * sigset_read, and write to the existing directory dir a database for
 * `clamscan -d dir` of what old lacks: delta.EXT with each detection line
 * not in old, delta.EXT with every allow-list line, a verbatim copy of
 * every whole-file type (keepN.EXT), and of every container that holds
 * whole-file types only (bytecode.cvd, still signed).  *detections: how
 * many detection lines it holds (0: the delta cannot find anything).
 */
int sigset_read_delta(const struct strv *paths, const struct sigset *old,
		      const char *tmpdir, const char *dir,
		      struct sigset **out, size_t *detections, char **cause);

/*
 * Add the file name's content (data, len) as read from a database; the
 * name's extension decides its type.  -E2BIG with *cause for a line longer
 * than ClamAV could read.
 */
int sigset_add_file(struct sigset *s, const char *name, const void *data,
		    size_t len, char **cause);

/* The kind of a file name's type; -1 for a container or an ignored file. */
int sigset_kind_of(const char *name);

/* Compact, versioned bytes for the cache, and back (-EINVAL, *cause). */
void sigset_encode(const struct sigset *s, struct buf *out);
int sigset_decode(const void *data, size_t len, struct sigset **out,
		  char **cause);

/* What changed from old to new. */
void sigset_diff(const struct sigset *old, const struct sigset *new,
		 struct sigset_diff *d);
void sigset_diff_release(struct sigset_diff *d);

/* The types held, in order: extension, kind and number of hashes. */
size_t sigset_ntypes(const struct sigset *s);
const char *sigset_type(const struct sigset *s, size_t i,
			enum sigset_kind *kind, size_t *count);
/* SHA-256 (hex, malloc'd) of the encoded set: equal sets, equal digests. */
char *sigset_digest(const struct sigset *s);

/*
 * The set remembered for an engine's signature fingerprint in the cache's
 * memos (kind "sigset"): 0, -ENOENT, or -EINVAL for a damaged one.
 */
int sigset_recall(struct cache *c, const char *fingerprint,
		  struct sigset **out);
void sigset_remember(struct cache *c, const char *fingerprint,
		     const struct sigset *s);
/* Is a set remembered for that fingerprint (without reading it)? */
bool sigset_remembered(struct cache *c, const char *fingerprint);

#endif
