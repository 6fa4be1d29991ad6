/* test-quarantine.c - unit tests of quarantine.c: the store, its records */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "quarantine.h"
#include "util.h"
#include "tap.h"

static char top[] = "/tmp/avbatch-test-quarantine.XXXXXX";

/* An fd reading n bytes of data from its start. */
static int content(const void *data, size_t n)
{
	int fd = memfd_create("content", MFD_CLOEXEC);

	if (fd < 0 || write(fd, data, n) != (ssize_t)n ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

/* Everything an fd holds, from its start. */
static void slurp(int fd, struct buf *b)
{
	char chunk[4096];
	ssize_t n;

	b->len = 0;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(b, chunk, (size_t)n);
	if (!b->p)
		buf_add(b, "", 0);
}

static void slurp_path(const char *path, struct buf *b)
{
	b->len = 0;
	if (read_file(path, 1 << 26, b) < 0)
		b->len = 0;
}

static void write_path(const char *path, const char *text)
{
	if (write_file_atomic(path, text, strlen(text)) < 0)
		abort();
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 ? (mode_t)-1 : st.st_mode & 07777;
}

/* Did a call fail with want, and say something with "what" in it? */
static void fails(int r, int want, char **cause, const char *what,
		  const char *desc)
{
	ok(r == want && *cause && strstr(*cause, what), desc);
	if (r != want || !*cause || !strstr(*cause, what))
		printf("# got %d (%s), want %d and '%s'\n", r,
		       *cause ? *cause : "no cause", want, what);
	free(*cause);
	*cause = NULL;
}

int main(void)
{
	/* Not EICAR itself, so this source is not flagged; bytes with NUL. */
	static const char body[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$QUARANTINE-"
				   "UNIT-TEST\0\x01\xff tail";
	static const char sel[] = "system_u:object_r:bin_t:s0";
	static const char stream[] = "MZ stream bytes";
	static const char stream2[] = "second stream, past a block edge";
	const struct quarantine_attr xattrs[] = {
		{ "security.selinux", 16, sel, sizeof(sel) },
		{ "user.\xff\xfe", 7, "v", 1 },
	};
	const struct quarantine_attr streams[] = {
		{ "Zone.Identifier", 15, stream, sizeof(stream) - 1 },
		{ "pay\xffload", 8, stream2, sizeof(stream2) - 1 },
	};
	struct quarantine_item m = {
		.image = "/srv/vm/web01.qcow2", .fs = "p2",
		.path = "/usr/bin/caf\xe9", .path_len = 13,
		.mode = 0100755, .uid = 1000, .gid = 100,
		.atime = { 1700000000, 1 }, .mtime = { 1700000001, 999999999 },
		.ctime = { 1700000002, 500 },
		.xattrs = xattrs, .nxattrs = 2,
		.streams = streams, .nstreams = 2,
		.threat = "Eicar-Test-Signature", .engine = "clamav",
		.job = "20261203T010000-aaaa",
	};
	struct quarantine *q = NULL, *q2 = NULL;
	struct json_object *rec = NULL, *x;
	struct strv ids = { 0 };
	struct buf b = { 0 }, d = { 0 };
	char *store, *id = NULL, *id2 = NULL, *cause = NULL, *p, *p2;
	int fd, out, r;

	ok(mkdtemp(top) != NULL, "temporary directory");
	store = xasprintf("%s/lib/quarantine", top);

	/* Opening: created 0700 with a missing parent; never created else. */
	r = quarantine_open(store, false, &q, &cause);
	fails(r, -ENOENT, &cause, "does not exist",
	      "a missing store is not created without create");
	r = quarantine_open(store, true, &q, &cause);
	ok(r == 0 && q, "the store and its missing parent are created");
	ok(mode_of(store) == 0700, "the store is 0700");

	/* put and get: the round trip. */
	fd = content(body, sizeof(body));
	r = quarantine_put(q, &m, fd, &id, &cause);
	close(fd);
	ok(r == 0 && quarantine_id_valid(id), "put gives a valid id");
	if (r < 0)
		printf("# %s\n", cause);
	out = memfd_create("out", MFD_CLOEXEC);
	r = quarantine_get(q, id, NULL, out, &cause);
	slurp(out, &b);
	close(out);
	ok(r == 0 && b.len == sizeof(body) && !memcmp(b.p, body, b.len),
	   "get gives the original bytes back");

	/* What is on disk: neither the bytes nor their mode. */
	p = xasprintf("%s/%s.data", store, id);
	p2 = xasprintf("%s/%s.json", store, id);
	slurp_path(p, &b);
	ok(b.len > 0 && !memmem(b.p, b.len, "QUARANTINE-UNIT", 15) &&
	   !memmem(b.p, b.len, "X5O!P", 5) &&
	   !memmem(b.p, b.len, "MZ stream", 9),
	   "the stored content holds no run of the original");
	ok(b.len > 2 && memcmp(b.p, "#!", 2) && memcmp(b.p, "\x7f" "ELF", 4) &&
	   memcmp(b.p, "MZ", 2), "it starts as no script or executable");
	ok(mode_of(p) == 0600 && mode_of(p2) == 0600,
	   "content and record are 0600");

	/* The record. */
	r = quarantine_record(q, id, &rec, &cause);
	ok(r == 0, "the record reads back");
	d.len = 0;
	ok(json_get_bytes(rec, "path", "path_b64", &d) == 0 && d.len == 13 &&
	   !memcmp(d.p, m.path, 13), "the guest path's exact bytes");
	ok(json_get_str(rec, "path_b64") != NULL, "... with path_b64");
	ok(json_get_int(rec, "size", -1) == (int64_t)sizeof(body),
	   "its size");
	ok(json_get_str(rec, "sha256") &&
	   strlen(json_get_str(rec, "sha256")) == 64, "its sha256");
	ok(json_get_int(rec, "mode", 0) == 0100755 &&
	   json_get_int(rec, "uid", 0) == 1000 &&
	   json_get_int(rec, "gid", 0) == 100, "mode and owner");
	ok(json_get_int(json_get(rec, "mtime"), "sec", 0) == 1700000001 &&
	   json_get_int(json_get(rec, "mtime"), "nsec", 0) == 999999999 &&
	   json_get_int(json_get(rec, "ctime"), "nsec", 0) == 500,
	   "times to the nanosecond");
	d.len = 0;
	x = json_get(json_get(rec, "xattrs"), "security.selinux");
	ok(x && base64_decode(json_object_get_string(x), &d) == 0 &&
	   d.len == sizeof(sel) && !memcmp(d.p, sel, d.len),
	   "the SELinux label, as bytes");
	x = json_get(json_get(rec, "xattrs"), "b64:dXNlci7//g==");
	ok(x != NULL, "an xattr name that is not UTF-8, as b64:");
	x = json_object_array_get_idx(json_get(rec, "streams"), 0);
	ok(x && !strcmp(json_get_str(x, "name"), "Zone.Identifier") &&
	   json_get_int(x, "size", 0) == sizeof(stream) - 1 &&
	   json_get_str(x, "sha256") && !json_get(x, "value"),
	   "an NTFS stream: name, size, sha256, not its bytes");
	x = json_object_array_get_idx(json_get(rec, "streams"), 1);
	ok(x && json_get_str(x, "name_b64") &&
	   !strcmp(json_get_str(x, "name_b64"), "cGF5/2xvYWQ="),
	   "a stream name that is not UTF-8: name_b64");
	out = memfd_create("out", MFD_CLOEXEC);
	r = quarantine_get(q, id, "Zone.Identifier", out, &cause);
	slurp(out, &b);
	close(out);
	ok(r == 0 && b.len == sizeof(stream) - 1 && !memcmp(b.p, stream, b.len),
	   "get of a stream gives its bytes");
	out = memfd_create("out", MFD_CLOEXEC);
	r = quarantine_get(q, id, "pay\xffload", out, &cause);
	slurp(out, &b);
	close(out);
	ok(r == 0 && b.len == sizeof(stream2) - 1 &&
	   !memcmp(b.p, stream2, b.len), "... the second one too (mid-block)");
	out = memfd_create("out", MFD_CLOEXEC);
	r = quarantine_get(q, id, "nope", out, &cause);
	close(out);
	fails(r, -ENOENT, &cause, "no stream", "an unknown stream: none");
	ok(!strcmp(json_get_str(rec, "threat"), m.threat) &&
	   !strcmp(json_get_str(rec, "engine"), "clamav") &&
	   !strcmp(json_get_str(rec, "job"), m.job) &&
	   !strcmp(json_get_str(rec, "image"), m.image) &&
	   !strcmp(json_get_str(rec, "fs"), "p2") &&
	   json_get_str(rec, "time"), "threat, engine, job, image, fs, time");
	ok(json_get(rec, "cipher") == NULL, "the key is not shown");
	json_object_put(rec);
	rec = NULL;

	/* The bytes read are not those scanned: nothing is kept. */
	{
		unsigned char other[32] = { 1 };
		char *id4 = NULL;

		m.sha256 = other;
		fd = content(body, sizeof(body));
		r = quarantine_put(q, &m, fd, &id4, &cause);
		close(fd);
		fails(r, -ESTALE, &cause, "not what was scanned",
		      "content with another sha256 than the scan's: refused");
		r = quarantine_list(q, &ids, &cause);
		ok(r == 0 && ids.n == 1 && id4 == NULL,
		   "... and nothing is stored");
		strv_release(&ids);
		EVP_Digest(body, sizeof(body), other, NULL, EVP_sha256(),
			   NULL);
		fd = content(body, sizeof(body));
		r = quarantine_put(q, &m, fd, &id4, &cause);
		close(fd);
		ok(r == 0 && id4, "... with the scan's sha256: stored");
		ok(id4 && quarantine_remove(q, id4, &cause) == 0,
		   "... (removed again)");
		free(id4);
		m.sha256 = NULL;
	}

	/* list */
	fd = content("", 0);
	r = quarantine_put(q, &m, fd, &id2, &cause);
	close(fd);
	ok(r == 0, "an empty file is stored too");
	{
		char *stray = xasprintf("%s/stray.json", store);

		write_path(stray, "{}");
		free(stray);
	}
	r = quarantine_list(q, &ids, &cause);
	ok(r == 0 && ids.n == 2 && strv_has(&ids, id) && strv_has(&ids, id2),
	   "list gives both ids and nothing else");
	strv_release(&ids);
	out = memfd_create("out", MFD_CLOEXEC);
	ok(quarantine_get(q, id2, NULL, out, &cause) == 0 &&
	   lseek(out, 0, SEEK_END) == 0, "the empty one reads back empty");
	close(out);

	/* A content of many chunks, a stream after it. */
	{
		size_t n = 300000;
		unsigned char *big = xmalloc(n);
		char *id3 = NULL;

		for (size_t i = 0; i < n; i++)
			big[i] = (unsigned char)(i * 7 + i / 251);
		m.nstreams = 1;
		fd = content(big, n);
		r = quarantine_put(q, &m, fd, &id3, &cause);
		close(fd);
		out = memfd_create("out", MFD_CLOEXEC);
		r = r ? r : quarantine_get(q, id3, NULL, out, &cause);
		slurp(out, &b);
		close(out);
		ok(r == 0 && b.len == n && !memcmp(b.p, big, n),
		   "300000 bytes round trip");
		out = memfd_create("out", MFD_CLOEXEC);
		r = quarantine_get(q, id3, "Zone.Identifier", out, &cause);
		slurp(out, &b);
		close(out);
		ok(r == 0 && b.len == sizeof(stream) - 1 &&
		   !memcmp(b.p, stream, b.len), "... and the stream after them");
		ok(quarantine_remove(q, id3, &cause) == 0, "... removed");
		m.nstreams = 2;
		free(id3);
		free(big);
	}

	/* Ids name nothing outside the store. */
	ok(!quarantine_id_valid("../x") && !quarantine_id_valid("") &&
	   !quarantine_id_valid("20261203T010000-0123456789abcdeg") &&
	   !quarantine_id_valid("20261203T010000-0123456789abcdef/") &&
	   !quarantine_id_valid("2026120/T010000-0123456789abcdef") &&
	   quarantine_id_valid("20261203T010000-0123456789abcdef"),
	   "only ids of the shape are valid");
	r = quarantine_record(q, "../x", &rec, &cause);
	fails(r, -EINVAL, &cause, "not a quarantine id", "show ../x refused");
	out = memfd_create("out", MFD_CLOEXEC);
	r = quarantine_get(q, "../../etc/passwd", NULL, out, &cause);
	fails(r, -EINVAL, &cause, "not a quarantine id", "get ../.. refused");
	close(out);
	r = quarantine_remove(q, "../lib", &cause);
	fails(r, -EINVAL, &cause, "not a quarantine id", "remove ../ refused");
	r = quarantine_record(q, "20261203T010000-0123456789abcdef", &rec,
			      &cause);
	fails(r, -ENOENT, &cause, "no item", "an unknown id: no item");

	/* Damaged content: a flipped byte, a cut file. */
	slurp_path(p, &b);
	b.p[16 + 5] ^= 0x20;	/* in the content, past the magic line */
	if (write_file_atomic(p, b.p, b.len) < 0)
		abort();
	out = memfd_create("out", MFD_CLOEXEC);
	r = quarantine_get(q, id, NULL, out, &cause);
	fails(r, -EBADMSG, &cause, "damaged", "a flipped byte is found");
	close(out);
	if (truncate(p, (off_t)b.len - 1) < 0)
		abort();
	out = memfd_create("out", MFD_CLOEXEC);
	r = quarantine_get(q, id, NULL, out, &cause);
	fails(r, -EBADMSG, &cause, "damaged", "a cut content is found");
	close(out);
	free(p);
	p = xasprintf("%s/exported", top);
	r = quarantine_export(q, id, NULL, p, &cause);
	fails(r, -EBADMSG, &cause, "damaged", "export of it fails");
	ok(access(p, F_OK) < 0, "... and leaves no file");
	r = quarantine_export(q, id2, NULL, p, &cause);
	ok(r == 0 && mode_of(p) == 0600, "a good export is 0600");
	free(p);
	p = NULL;

	/* Damaged and hostile records: errors, never a crash. */
	{
		static const char *const hostile[] = {
			"", "{", "[]", "null", "\"x\"", "{}",
			"{\"kind\": \"avbatch-quarantine\"}",
			"{\"kind\": 1, \"schema\": \"1\"}",
			"{\"kind\": \"avbatch-quarantine\", \"schema\": 1, "
			"\"id\": [1], \"sha256\": {}}",
			"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
			"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
			"{\"a\": \"\xff\xfe\"}",
		};
		bool all = true;

		for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
			write_path(p2, hostile[i]);
			r = quarantine_record(q, id, &rec, &cause);
			all = all && r == -EBADMSG && cause &&
			      strstr(cause, "damaged");
			free(cause);
			cause = NULL;
			out = memfd_create("out", MFD_CLOEXEC);
			r = quarantine_get(q, id, NULL, out, &cause);
			all = all && r == -EBADMSG;
			close(out);
			free(cause);
			cause = NULL;
		}
		ok(all, "hostile records are damaged records");
	}
	/* A record with each member in turn of the wrong type. */
	{
		static const char *const members[] = {
			"id", "sha256", "size", "cipher", "path", "path_b64",
			"mode",
			"uid", "gid", "atime", "mtime", "ctime", "xattrs",
			"streams", "threat", "engine", "job", "image", "fs",
			"time", "stream", "kind", "schema",
		};
		struct json_object *good;
		bool all = true;

		free(p2);
		p2 = xasprintf("%s/%s.json", store, id2);
		slurp_path(p2, &b);
		good = json_parse(b.p, b.len, NULL);
		for (size_t i = 0; good && i < ARRAY_SIZE(members); i++) {
			struct json_object *bad = NULL;

			json_object_deep_copy(good, &bad, NULL);
			json_object_object_add(bad, members[i],
					       json_object_new_boolean(1));
			write_path(p2, json_object_to_json_string(bad));
			r = quarantine_record(q, id2, &rec, &cause);
			if (r != -EBADMSG)
				printf("# %s: %d\n", members[i], r);
			all = all && r == -EBADMSG;
			free(cause);
			cause = NULL;
			json_object_put(bad);
		}
		json_object_object_add(good, "size", json_object_new_int64(-1));
		write_path(p2, json_object_to_json_string(good));
		r = quarantine_record(q, id2, &rec, &cause);
		all = all && r == -EBADMSG;
		free(cause);
		cause = NULL;
		ok(good && all, "a member of the wrong type: damaged");
		json_object_put(good);
	}

	/* A record that is a symlink is not followed. */
	unlink(p2);
	if (symlink("/etc/passwd", p2) < 0)
		abort();
	r = quarantine_record(q, id2, &rec, &cause);
	ok(r == -ELOOP && cause, "a symlinked record is not followed");
	free(cause);
	cause = NULL;

	/* remove */
	ok(quarantine_remove(q, id, &cause) == 0 &&
	   quarantine_remove(q, id2, &cause) == 0, "remove");
	r = quarantine_list(q, &ids, &cause);
	ok(r == 0 && ids.n == 0, "nothing listed after");
	strv_release(&ids);
	r = quarantine_remove(q, id, &cause);
	fails(r, -ENOENT, &cause, "no item", "removed twice: no item");
	quarantine_close(q);
	q = NULL;

	/* Stores that are refused. */
	if (chmod(store, 0750) < 0)
		abort();
	r = quarantine_open(store, true, &q2, &cause);
	fails(r, -EPERM, &cause, "0750", "a store others may enter: refused");
	if (chmod(store, 01777) < 0)
		abort();
	r = quarantine_open(store, true, &q2, &cause);
	fails(r, -EPERM, &cause, "1777", "a world-writable store: refused");
	if (chmod(store, 0700) < 0)
		abort();
	free(p);
	p = xasprintf("%s/link", top);
	if (symlink(store, p) < 0)
		abort();
	r = quarantine_open(p, true, &q2, &cause);
	fails(r, -EPERM, &cause, "symbolic link", "a symlinked store: refused");
	ok(q2 == NULL, "nothing opened");

	free(p);
	free(p2);
	free(store);
	free(id);
	free(id2);
	buf_release(&b);
	buf_release(&d);
	rmtree(top);
	return tap_done();
}
