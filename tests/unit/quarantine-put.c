/*
 * quarantine-put.c - for the shell tests: put a host file into a store as
 * the clean pipeline will put a guest's (avbatch has no command that
 * puts).  quarantine-put STORE FILE GUEST-PATH THREAT [NAME=FILE]...: the
 * file's content, mode, owner, times and xattrs, and as NTFS named
 * streams the content of each NAME=FILE; prints the new id.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "quarantine.h"
#include "util.h"

int main(int argc, char **argv)
{
	struct quarantine_attr xattrs[16], streams[8];
	struct buf values[8] = { { 0 } };
	struct quarantine_item m = { 0 };
	struct quarantine *q = NULL;
	char names[4096], *id = NULL, *cause = NULL;
	struct stat st;
	ssize_t len;
	int fd, r = 1;

	if (argc < 5 || argc > 5 + (int)ARRAY_SIZE(streams)) {
		fprintf(stderr, "usage: quarantine-put STORE FILE GUEST-PATH "
			"THREAT [NAME=FILE]...\n");
		return 2;
	}
	fd = open(argv[2], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[2]);
		return 1;
	}
	m.image = "/srv/vm/test.qcow2";
	m.fs = "p1";
	m.path = argv[3];
	m.path_len = strlen(argv[3]);
	m.mode = st.st_mode;
	m.uid = st.st_uid;
	m.gid = st.st_gid;
	m.atime = st.st_atim;
	m.mtime = st.st_mtim;
	m.ctime = st.st_ctim;
	m.threat = argv[4];
	m.engine = "clamav";
	m.job = "20261203T010000-test";
	m.xattrs = xattrs;
	len = flistxattr(fd, names, sizeof(names));
	for (char *n = names; len > 0 && n < names + len &&
	     m.nxattrs < ARRAY_SIZE(xattrs); n += strlen(n) + 1) {
		ssize_t vlen = fgetxattr(fd, n, NULL, 0);
		char *v = vlen >= 0 ? xmalloc((size_t)vlen + 1) : NULL;

		if (!v || fgetxattr(fd, n, v, (size_t)vlen) != vlen) {
			free(v);
			continue;
		}
		xattrs[m.nxattrs++] = (struct quarantine_attr){
			n, strlen(n), v, (size_t)vlen };
	}
	m.streams = streams;
	for (int i = 5; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq || read_file(eq + 1, 1 << 26, &values[m.nstreams]) < 0) {
			fprintf(stderr, "quarantine-put: bad stream '%s'\n",
				argv[i]);
			goto done;
		}
		streams[m.nstreams] = (struct quarantine_attr){ argv[i],
			(size_t)(eq - argv[i]), values[m.nstreams].p,
			values[m.nstreams].len };
		m.nstreams++;
	}
	if (quarantine_open(argv[1], true, &q, &cause) < 0 ||
	    quarantine_put(q, &m, fd, &id, &cause) < 0) {
		fprintf(stderr, "quarantine-put: %s\n", cause);
		goto done;
	}
	printf("%s\n", id);
	r = 0;
done:
	for (size_t i = 0; i < m.nxattrs; i++)
		free((void *)xattrs[i].value);
	for (size_t i = 0; i < ARRAY_SIZE(values); i++)
		buf_release(&values[i]);
	quarantine_close(q);
	close(fd);
	free(id);
	free(cause);
	return r;
}
