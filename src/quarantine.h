/* quarantine.h - the host's store of files taken out of guests */
#ifndef AVBATCH_QUARANTINE_H
#define AVBATCH_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct buf;
struct json_object;
struct strv;

/* An extended attribute or an NTFS named stream: name and value bytes. */
struct quarantine_attr {
	const char *name;
	size_t name_len;
	const void *value;
	size_t len;
};

/* What is known of a file when it is taken out of a guest. */
struct quarantine_item {
	const char *image;		/* the image file on the host */
	const char *fs;			/* the file system's id in the report */
	const char *path;		/* guest path: bytes, maybe not UTF-8 */
	size_t path_len;
	const char *stream;		/* the NTFS stream quarantined, or NULL */
	mode_t mode;			/* permission bits and type */
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime, ctime;
	const struct quarantine_attr *xattrs;	/* security.selinux, ... */
	size_t nxattrs;
	const struct quarantine_attr *streams;	/* NTFS named streams: */
						/* enciphered, not in the record */
	size_t nstreams;
	const char *threat, *engine, *job;
	const unsigned char *sha256;	/* what the scan hashed, or NULL */
};

/* An open store: a directory only its owner (root) can enter. */
struct quarantine;

/*
 * Open the store at dir; with create, make it (and a missing parent) 0700.
 * The directory is opened without following a symlink and refused unless
 * it is owned by us and nobody else may enter it (no group or other
 * bits).  Every later file is named relative to it.  Returns 0, -ENOENT
 * when it does not exist (and !create), or another -errno; with *cause.
 */
int quarantine_open(const char *dir, bool create, struct quarantine **out,
		    char **cause);
void quarantine_close(struct quarantine *q);

/*
 * Store what content_fd reads until its end, with meta, as a new item:
 * its content and then its named streams enciphered with a key of its
 * own (so the store holds nothing a host scanner recognises or anyone can
 * run), mode 0600, then its record; each written to a temporary, fsynced
 * and renamed.  Its sha256 and size are those of the bytes read (and each
 * stream's, of its value).  *id is the new item's.  With meta->sha256,
 * bytes with another sha256 (the file changed since the scan) are not
 * kept: -ESTALE.
 */
int quarantine_put(struct quarantine *q, const struct quarantine_item *meta,
		   int content_fd, char **id, char **cause);

/* Is s shaped like an item id (so it names nothing outside the store)? */
bool quarantine_id_valid(const char *s);

/*
 * An item's record, checked (every member of the right type); its
 * cipher key is left out.  -ENOENT: no such item; -EINVAL: not an id;
 * -EBADMSG: a damaged record.
 */
int quarantine_record(struct quarantine *q, const char *id,
		      struct json_object **rec, char **cause);

/*
 * Write an item's original bytes (stream NULL), or those of its named
 * stream, to out_fd (from its position).  Their sha256 is checked against
 * the record's after the last byte: -EBADMSG then (and the caller must
 * discard what was written).  -ENOENT: no such item or stream.
 */
int quarantine_get(struct quarantine *q, const char *id, const char *stream,
		   int out_fd, char **cause);

/*
 * The same into a new file at path, mode 0600: a temporary beside it,
 * renamed over path only once the content is verified.
 */
int quarantine_export(struct quarantine *q, const char *id, const char *stream,
		      const char *path, char **cause);

/* The ids of every item with a record, oldest first. */
int quarantine_list(struct quarantine *q, struct strv *ids, char **cause);

/* Remove an item for good: its record first, then its content. */
int quarantine_remove(struct quarantine *q, const char *id, char **cause);

#endif
