/* report.c - the JSON report (schema 2) and the text summary of a batch */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "report.h"
#include "util.h"

/* The batch's status: that of its worst target, as the exit status says. */
static const char *report_status(const struct results *res,
				 const struct results_tally *n, int code)
{
	if (code == 1)
		return "infected";
	if (res->stopped)
		return "stopped";
	if (code == 0)
		return "clean";
	return n->status[TARGET_ERROR] || res->report_error ||
	       !res->ntargets ? "error" : "incomplete";
}

/*
 * An engine's signatures changed since the last batch: what that meant
 * ("delta": content cached clean was checked with the added signatures
 * only; "full": everything was scanned with all of them) and why.
 */
static struct json_object *update_json(const struct result_engine *e)
{
	struct json_object *o = json_object_new_object();

	json_put_str(o, "change", e->change);
	json_put_int(o, "added", (int64_t)e->added);
	json_put_int(o, "removed", (int64_t)e->removed);
	json_put_int(o, "allowed", (int64_t)e->allowed);
	if (e->full_why)
		json_put_str(o, "reason", e->full_why);
	return o;
}

struct json_object *report_build(const struct results *res)
{
	struct json_object *o = json_object_new_object();
	struct json_object *tool = json_object_new_object();
	struct json_object *engines = json_object_new_array();
	struct json_object *targets = json_object_new_array();
	struct json_object *totals = json_object_new_object();
	int code = results_exit_code(res);
	struct results_tally n;
	char *t0 = time_iso8601(res->started);
	char *t1 = time_iso8601(res->finished);

	results_tally(res->targets, res->ntargets, &n);
	json_put_int(o, "schema", REPORT_SCHEMA);
	json_put_str(tool, "name", PACKAGE_NAME);
	json_put_str(tool, "version", PACKAGE_VERSION);
	json_put_obj(o, "tool", tool);
	json_put_str(o, "job", res->id);
	json_put_str(o, "host", res->host);
	json_put_str(o, "started", t0);
	json_put_str(o, "finished", res->finished ? t1 : NULL);
	json_put_str(o, "status", report_status(res, &n, code));
	json_put_int(o, "exit_code", code);
	for (size_t i = 0; i < res->nengines; i++) {
		struct json_object *e = json_object_new_object();

		json_put_str(e, "name", res->engines[i].name);
		json_put_str(e, "binary", res->engines[i].binary);
		json_put_str(e, "version", res->engines[i].version);
		if (res->engines[i].updated)
			json_put_obj(e, "signature_update",
				     update_json(&res->engines[i]));
		json_object_array_add(engines, e);
	}
	json_put_obj(o, "engines", engines);
	for (size_t i = 0; i < res->ntargets; i++)
		json_object_array_add(targets, result_target_json(
				      &res->targets[i], res->host));
	json_put_obj(o, "targets", targets);
	json_put_int(totals, "targets", (int64_t)res->ntargets);
	for (int s = 0; s < TARGET_NSTATUSES; s++)
		if (target_status_names[s])
			json_put_int(totals, target_status_names[s],
				     (int64_t)n.status[s]);
	json_put_int(totals, "uncovered", (int64_t)n.uncovered);
	json_put_int(totals, "detections", (int64_t)n.detections);
	json_put_int(totals, "files_scanned", (int64_t)n.files);
	json_put_int(totals, "bytes_scanned", (int64_t)n.bytes);
	json_put_obj(o, "totals", totals);
	free(t0);
	free(t1);
	return o;
}

int report_write(const struct results *res, const char *path)
{
	struct json_object *o = report_build(res);
	int r = json_write(o, path);

	json_object_put(o);
	return r;
}

void report_print_safe(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t l = 2;

		if (c == '\\') {
			fputs("\\\\", out);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\x%02x", c);
		} else if (c < 0x80) {
			fputc(c, out);
		} else {
			while (l <= 4 && i + l <= n && !utf8_valid(s + i, l))
				l++;
			if (l <= 4 && i + l <= n) {
				fwrite(s + i, 1, l, out);
				i += l - 1;
			} else {
				fprintf(out, "\\x%02x", c);
			}
		}
	}
}

void report_print_text(const struct results *res, int code, FILE *out,
		       bool problems)
{
	struct results_tally n;
	const char *sep = " (";

	for (size_t i = 0; i < res->ntargets; i++) {
		const struct target *t = &res->targets[i];

		if (problems && t->status == TARGET_CLEAN)
			continue;
		fputs(t->name, out);
		fprintf(out, ": %s", target_status_names[t->status] ?
			target_status_names[t->status] : "pending");
		if (t->reason)
			fprintf(out, " (%s)", t->reason);
		fputc('\n', out);
		for (size_t k = 0; t->fsr && k < t->img->nfs; k++) {
			const struct fs *fs = &t->img->fs[k];
			const struct fs_result *r = &t->fsr[k];

			if (problems && (r->status == FS_SCANNED ||
					 r->status == FS_SKIPPED) &&
			    !fs->plan.warning)
				continue;
			fprintf(out, "  %-10s %-8s %-8s", fs->id,
				fs->type ? fs->type : "-",
				fs_status_names[r->status] ?
				fs_status_names[r->status] : "pending");
			/* What the engine read, and what the cache answered. */
			if ((r->status == FS_SCANNED ||
			     r->status == FS_PARTIAL) && r->scanned)
				fprintf(out, " %llu files%s",
					(unsigned long long)r->scanned,
					r->cached ? "," : "");
			if ((r->status == FS_SCANNED ||
			     r->status == FS_PARTIAL) &&
			    (r->cached || !r->scanned))
				fprintf(out, " %llu files cached",
					(unsigned long long)r->cached);
			if (r->delta)
				fprintf(out, ", %llu checked by delta",
					(unsigned long long)r->delta);
			if (r->reason)
				fprintf(out, " (%s)", r->reason);
			if (r->journal_replayed)
				fputs(" [journal replayed]", out);
			fputc('\n', out);
			if (fs->plan.warning)
				fprintf(out, "  %-10s warning: %s\n", "",
					fs->plan.warning);
		}
		for (size_t k = 0; k < t->ndet; k++) {
			fprintf(out, "  FOUND %s:", t->det[k].fs);
			report_print_safe(out, t->det[k].path,
					  t->det[k].pathlen);
			fputs(": ", out);
			report_print_safe(out, t->det[k].threat,
					  strlen(t->det[k].threat));
			fprintf(out, " [%s]", t->det[k].engine);
			if (t->det[k].snapshot) {
				fputs(" in snapshot ", out);
				report_print_safe(out, t->det[k].snapshot,
						  strlen(t->det[k].snapshot));
			}
			fputc('\n', out);
		}
	}
	if (problems)
		return;
	/* The totals of the report, in the same words. */
	results_tally(res->targets, res->ntargets, &n);
	fprintf(out, "%zu target(s)", res->ntargets);
	for (int s = 0; s < TARGET_NSTATUSES; s++)
		if (target_status_names[s] && n.status[s]) {
			fprintf(out, "%s%zu %s", sep, n.status[s],
				target_status_names[s]);
			sep = ", ";
		}
	fprintf(out, "%s, %zu detection(s), %zu not fully scanned, exit %d\n",
		*sep == ',' ? ")" : "", n.detections, n.uncovered, code);
}
