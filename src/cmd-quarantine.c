/* cmd-quarantine.c - avbatch quarantine: what cleaning took out of guests */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "json.h"
#include "output.h"
#include "quarantine.h"
#include "report.h"
#include "util.h"

/* A string of a record for a terminal: escaped, "-" when missing. */
static void put_safe(const char *s)
{
	if (!s)
		s = "-";
	report_print_safe(stdout, s, strlen(s));
}

/* The guest path (exact bytes), and its stream, escaped. */
static void put_path(struct json_object *rec)
{
	struct buf b = { 0 };

	json_get_bytes(rec, "path", "path_b64", &b);
	report_print_safe(stdout, b.p ? b.p : "", b.len);
	if (json_get_str(rec, "stream")) {
		putchar(':');
		put_safe(json_get_str(rec, "stream"));
	}
	buf_release(&b);
}

/* A time of the record: UTC to the nanosecond. */
static void put_time(struct json_object *rec, const char *key)
{
	struct json_object *t = json_get(rec, key);
	time_t sec = (time_t)json_get_int(t, "sec", 0);
	struct tm tm;
	char s[64];

	if (gmtime_r(&sec, &tm) &&
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm))
		printf("%s.%09lldZ", s, (long long)json_get_int(t, "nsec", 0));
	else
		printf("%lld s", (long long)sec);
}

/* The names of the xattrs and the sizes of their values. */
static void put_xattrs(struct json_object *rec)
{
	struct json_object *a = json_get(rec, "xattrs");
	struct buf b = { 0 };
	bool any = false;

	json_object_object_foreach(a, name, v) {
		b.len = 0;
		base64_decode(json_object_get_string(v), &b);
		fputs(any ? ", " : "", stdout);
		put_safe(name);
		printf(" (%zu bytes)", b.len);
		any = true;
	}
	if (!any)
		putchar('-');
	buf_release(&b);
}

/* The names of the NTFS streams kept with the file, and their sizes. */
static void put_streams(struct json_object *rec)
{
	struct json_object *a = json_get(rec, "streams");
	struct buf b = { 0 };

	for (size_t i = 0; i < json_array_len(a); i++) {
		struct json_object *x = json_object_array_get_idx(a, i);

		b.len = 0;
		json_get_bytes(x, "name", "name_b64", &b);
		fputs(i ? ", " : "", stdout);
		report_print_safe(stdout, b.p ? b.p : "", b.len);
		printf(" (%lld bytes)", (long long)json_get_int(x, "size", 0));
	}
	if (!json_array_len(a))
		putchar('-');
	buf_release(&b);
}

/* avbatch quarantine show ID: one item's record, for people. */
static void show_text(struct json_object *rec)
{
	printf("id:      ");
	put_safe(json_get_str(rec, "id"));
	printf("\ntime:    ");
	put_safe(json_get_str(rec, "time"));
	printf("\njob:     ");
	put_safe(json_get_str(rec, "job"));
	printf("\nimage:   ");
	put_safe(json_get_str(rec, "image"));
	printf("\nfs:      ");
	put_safe(json_get_str(rec, "fs"));
	printf("\npath:    ");
	put_path(rec);
	printf("\nthreat:  ");
	put_safe(json_get_str(rec, "threat"));
	printf("\nengine:  ");
	put_safe(json_get_str(rec, "engine"));
	printf("\nsha256:  ");
	put_safe(json_get_str(rec, "sha256"));
	printf("\nsize:    %lld\nmode:    %04llo\nowner:   %lld:%lld",
	       (long long)json_get_int(rec, "size", 0),
	       (unsigned long long)json_get_int(rec, "mode", 0) & 07777,
	       (long long)json_get_int(rec, "uid", 0),
	       (long long)json_get_int(rec, "gid", 0));
	printf("\natime:   ");
	put_time(rec, "atime");
	printf("\nmtime:   ");
	put_time(rec, "mtime");
	printf("\nctime:   ");
	put_time(rec, "ctime");
	printf("\nxattrs:  ");
	put_xattrs(rec);
	printf("\nstreams: ");
	put_streams(rec);
	putchar('\n');
}

/* avbatch quarantine list: one line an item, or a JSON array of records. */
static int list(struct quarantine *q, bool as_json)
{
	struct json_object *all = json_object_new_array(), *rec;
	struct strv ids = { 0 };
	char *cause = NULL;
	int r = 0;

	if (q && quarantine_list(q, &ids, &cause) < 0) {
		fprintf(stderr, "avbatch: %s\n", cause);
		r = 2;
		goto done;
	}
	for (size_t i = 0; i < ids.n; i++) {
		if (quarantine_record(q, ids.v[i], &rec, &cause) < 0) {
			/* Listed, with what is wrong; the others still. */
			fprintf(stderr, "avbatch: %s\n", cause);
			free(cause);
			cause = NULL;
			r = 2;
			continue;
		}
		if (as_json) {
			json_object_array_add(all, rec);
			continue;
		}
		put_safe(ids.v[i]);
		putchar(' ');
		put_safe(json_get_str(rec, "threat"));
		putchar(' ');
		put_safe(json_get_str(rec, "image"));
		putchar(' ');
		put_safe(json_get_str(rec, "fs"));
		putchar(':');
		put_path(rec);
		putchar('\n');
		json_object_put(rec);
	}
	if (as_json && json_write(all, "-") < 0) {
		fprintf(stderr, "avbatch: cannot write the list: %s\n",
			strerror(EIO));
		r = 2;
	}
done:
	json_object_put(all);
	strv_release(&ids);
	free(cause);
	return r;
}

int cmd_quarantine(int argc, char **argv)
{
	enum { OPT_QUARANTINE = 256, OPT_JSON, OPT_FORCE, OPT_STREAM };
	static const struct option opts[] = {
		{ "quarantine", required_argument, NULL, OPT_QUARANTINE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "stream", required_argument, NULL, OPT_STREAM },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = G.quarantine, *sub, *stream = NULL;
	struct quarantine *q = NULL;
	struct json_object *rec = NULL;
	bool as_json = false, force = false;
	char *cause = NULL;
	int c, r, nargs;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_QUARANTINE:
			dir = optarg;
			break;
		case OPT_JSON:
			as_json = true;
			break;
		case OPT_FORCE:
			force = true;
			break;
		case OPT_STREAM:
			stream = optarg;
			break;
		default:
			return cmd_usage_error("bad option");
		}
	}
	if (optind >= argc)
		return cmd_usage_error("expected list, show, export, remove "
				       "or restore");
	sub = argv[optind++];
	nargs = argc - optind;
	if (!strcmp(sub, "list") && nargs == 0) {
		r = quarantine_open(dir, false, &q, &cause);
		if (r < 0 && r != -ENOENT) {
			fprintf(stderr, "avbatch: %s\n", cause);
			free(cause);
			return 2;
		}
		free(cause);
		cause = NULL;
		r = list(q, as_json);	/* no store yet: nothing in it */
		goto done;
	}
	if (!strcmp(sub, "restore") && nargs == 1) {
		fprintf(stderr, "avbatch: quarantine restore is not "
			"implemented yet: the item stays in the store "
			"('export' gives its bytes)\n");
		return 2;
	}
	if (!((!strcmp(sub, "show") || !strcmp(sub, "remove")) && nargs == 1) &&
	    !(!strcmp(sub, "export") && nargs == 2))
		return cmd_usage_error("expected 'list', 'show ID', 'export ID "
				       "FILE', 'remove ID' or 'restore ID'");
	if (!strcmp(sub, "export") &&
	    output_check(NULL, argv[optind + 1], OUTPUT_SAMPLE, force,
			 &cause) < 0) {
		fprintf(stderr, "avbatch: %s\n", cause);
		free(cause);
		return 2;
	}
	r = quarantine_open(dir, false, &q, &cause);
	if (r == 0 && !strcmp(sub, "show")) {
		r = quarantine_record(q, argv[optind], &rec, &cause);
		if (r == 0 && as_json)
			r = json_write(rec, "-");
		else if (r == 0)
			show_text(rec);
	} else if (r == 0 && !strcmp(sub, "export")) {
		r = quarantine_export(q, argv[optind], stream,
				      argv[optind + 1], &cause);
	} else if (r == 0) {
		r = quarantine_remove(q, argv[optind], &cause);
	}
	if (r < 0 && cause)
		fprintf(stderr, "avbatch: %s\n", cause);
	else if (r < 0)
		fprintf(stderr, "avbatch: cannot write: %s\n", strerror(-r));
	r = r < 0 ? 2 : 0;
done:
	json_object_put(rec);
	quarantine_close(q);
	free(cause);
	return r;
}
