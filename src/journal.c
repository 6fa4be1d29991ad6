/* journal.c - detections and runs as structured log records (a SIEM's feed) */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "journal.h"
#include "json.h"
#include "util.h"

#define JOURNAL_SOCKET	"/run/systemd/journal/socket"
#define MAX_FIELDS	16

/* One record: FIELD=value pairs, values as bytes. */
struct record {
	struct buf f[MAX_FIELDS];
	size_t n;
};

static void put(struct record *r, const char *key, const char *v, size_t n)
{
	if (r->n >= MAX_FIELDS)
		return;
	buf_addf(&r->f[r->n], "%s=", key);
	buf_add(&r->f[r->n], v, n);
	r->n++;
}

static void put_str(struct record *r, const char *key, const char *v)
{
	if (v)
		put(r, key, v, strlen(v));
}

static void put_int(struct record *r, const char *key, int64_t v)
{
	char s[32];
	int n = snprintf(s, sizeof(s), "%lld", (long long)v);

	put(r, key, s, (size_t)n);
}

/*
 * Guest bytes for a line of text: not UTF-8 made lossy, quotes,
 * backslashes and control bytes escaped, so a name can neither end the
 * record nor forge a field.
 */
static void add_escaped(struct buf *b, const char *s, size_t n)
{
	char *t = utf8_lossy(s, n);

	for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_addf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			buf_addf(b, "\\x%02x", *p);
		else
			buf_add(b, p, 1);
	}
	free(t);
}

/*
 * Send a record to the journal (a listening journal socket) or to syslog
 * as MESSAGE then key="value" for every AVBATCH_ field.
 */
static int send_record(struct record *r, int priority)
{
	int ret = 0;

#ifdef HAVE_LIBSYSTEMD
	if (access(JOURNAL_SOCKET, W_OK) == 0) {
		struct iovec iov[MAX_FIELDS + 2];
		char prio[16];
		size_t n = 0;

		snprintf(prio, sizeof(prio), "PRIORITY=%d", priority);
		iov[n++] = (struct iovec){ prio, strlen(prio) };
		iov[n++] = (struct iovec){ "SYSLOG_IDENTIFIER=avbatch", 25 };
		for (size_t i = 0; i < r->n; i++)
			iov[n++] = (struct iovec){ r->f[i].p, r->f[i].len };
		ret = sd_journal_sendv(iov, (int)n);
		goto done;
	}
#endif
	{
		struct buf line = { 0 };

		for (size_t i = 0; i < r->n; i++) {
			const char *f = r->f[i].p, *eq = strchr(f, '=');
			size_t vlen = r->f[i].len - (size_t)(eq + 1 - f);

			if (str_has_prefix(f, "MESSAGE=")) {
				add_escaped(&line, eq + 1, vlen);
			} else if (str_has_prefix(f, "AVBATCH_")) {
				char *key = xstrndup(f + 8,
						     (size_t)(eq - f - 8));

				for (char *k = key; *k; k++)
					if (*k >= 'A' && *k <= 'Z')
						*k = (char)(*k - 'A' + 'a');
				buf_addf(&line, " %s=\"", key);
				add_escaped(&line, eq + 1, vlen);
				buf_addstr(&line, "\"");
				free(key);
			}
		}
		openlog("avbatch", LOG_PID, LOG_DAEMON);
		syslog(priority, "%s", line.p ? line.p : "");
		closelog();
		buf_release(&line);
	}
#ifdef HAVE_LIBSYSTEMD
done:
#endif
	for (size_t i = 0; i < r->n; i++)
		buf_release(&r->f[i]);
	r->n = 0;
	return ret;
}

/* The record of one detection of a target. */
static int send_detection(struct json_object *report, struct json_object *t,
			  struct json_object *d)
{
	struct record r = { 0 };
	struct buf path = { 0 }, msg = { 0 };
	const char *threat = json_get_str(d, "threat");
	const char *engine = json_get_str(d, "engine");
	const char *fs = json_get_str(d, "fs");
	const char *target = json_get_str(t, "name");

	if (json_get_bytes(d, "path", "path_b64", &path) < 0)
		buf_addstr(&path, "");
	buf_addf(&msg, "%s %s:", target ? target : "?", fs ? fs : "?");
	buf_add(&msg, path.p, path.len);
	buf_addf(&msg, ": %s [%s]", threat ? threat : "?",
		 engine ? engine : "?");
	put(&r, "MESSAGE", msg.p, msg.len);
	put_str(&r, "MESSAGE_ID", JOURNAL_ID_DETECTION);
	put_str(&r, "AVBATCH_JOB", json_get_str(report, "job"));
	put_str(&r, "AVBATCH_TARGET", target);
	put_str(&r, "AVBATCH_IMAGE", json_get_str(t, "image"));
	put_str(&r, "AVBATCH_FS", fs);
	put(&r, "AVBATCH_PATH", path.p, path.len);
	put_str(&r, "AVBATCH_THREAT", threat);
	put_str(&r, "AVBATCH_ENGINE", engine);
	put_str(&r, "AVBATCH_SHA256", json_get_str(d, "sha256"));
	buf_release(&path);
	buf_release(&msg);
	return send_record(&r, LOG_WARNING);
}

int journal_report(struct json_object *report)
{
	struct json_object *targets = json_get(report, "targets");
	size_t nt = json_array_len(targets);
	struct record r = { 0 };
	struct buf msg = { 0 };
	int64_t code = json_get_int(report, "exit_code", 2), ndet = 0;
	int ret = 0, e;

	for (size_t i = 0; i < nt; i++) {
		struct json_object *t = json_object_array_get_idx(targets, i);
		struct json_object *ds = json_get(t, "detections");
		size_t nd = json_array_len(ds);

		for (size_t k = 0; k < nd; k++, ndet++) {
			e = send_detection(report, t,
					   json_object_array_get_idx(ds, k));
			if (e < 0 && !ret)
				ret = e;
		}
	}
	buf_addf(&msg, "job %s: %zu target(s), %lld detection(s), %s, "
		 "exit %lld", json_get_str(report, "job") ?: "?", nt,
		 (long long)ndet, json_get_str(report, "status") ?: "?",
		 (long long)code);
	put(&r, "MESSAGE", msg.p, msg.len);
	put_str(&r, "MESSAGE_ID", JOURNAL_ID_RUN);
	put_str(&r, "AVBATCH_JOB", json_get_str(report, "job"));
	put_str(&r, "AVBATCH_STATUS", json_get_str(report, "status"));
	put_int(&r, "AVBATCH_EXIT_CODE", code);
	put_int(&r, "AVBATCH_TARGETS", (int64_t)nt);
	put_int(&r, "AVBATCH_DETECTIONS", ndet);
	buf_release(&msg);
	e = send_record(&r, code == 0 ? LOG_INFO :
			code == 1 ? LOG_WARNING : LOG_ERR);
	return ret ? ret : e;
}
