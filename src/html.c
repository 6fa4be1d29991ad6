/* html.c - a report as one self-contained HTML page */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "json.h"
#include "result.h"

/* No asset, no request: the page may only use what it carries. */
static const char head[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
	"'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
	"<meta name=\"viewport\" content=\"width=device-width\">\n"
	"<style>\n"
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
	"h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 "
	".3em}\n"
	"table{border-collapse:collapse;margin:.4em 0 1em;min-width:50%}\n"
	"th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;"
	"vertical-align:top}\n"
	"th{background:#f2f2f2}th.sort{cursor:pointer}td.n{text-align:right}\n"
	".clean{color:#11772b}.infected{color:#b00020;font-weight:bold}\n"
	".gap{color:#a35a00;font-weight:bold}.meta{color:#555}\n"
	".cards{display:flex;gap:1em;margin:1em 0}.card{border:1px solid #ccc;"
	"border-radius:6px;padding:.6em 1.2em}.card b{display:block;"
	"font-size:1.8em}\n"
	"code{font-family:ui-monospace,monospace;word-break:break-all}\n"
	"#filter{font-size:1em;padding:.3em;width:24em}\n"
	"</style>\n";

/* Filter box and sortable columns; the page reads the same without it. */
static const char script[] =
	"<script>\n"
	"(function(){\n"
	"var f=document.createElement('input');f.id='filter';"
	"f.placeholder='filter: VM, path, threat, status';\n"
	"var s=document.getElementById('summary');"
	"s.parentNode.insertBefore(f,s.nextSibling);\n"
	"f.addEventListener('input',function(){var q=f.value.toLowerCase();\n"
	" document.querySelectorAll('section.target').forEach(function(sec){\n"
	"  var any=sec.querySelector('h2').textContent.toLowerCase()"
	".indexOf(q)>=0;\n"
	"  sec.querySelectorAll('tbody tr').forEach(function(tr){\n"
	"   var m=tr.textContent.toLowerCase().indexOf(q)>=0;"
	"tr.style.display=m||any?'':'none';any=any||m;});\n"
	"  sec.style.display=any?'':'none';});});\n"
	"document.querySelectorAll('th').forEach(function(th){th.className="
	"'sort';th.title='sort';\n"
	" th.addEventListener('click',function(){var tb=th.closest('table')"
	".tBodies[0],i=th.cellIndex,\n"
	"  d=th.dataset.d=th.dataset.d==='1'?'-1':'1',"
	"rows=Array.prototype.slice.call(tb.rows);\n"
	"  rows.sort(function(a,b){var x=a.cells[i],y=b.cells[i],"
	"u=x.dataset.v,v=y.dataset.v;\n"
	"   var r=u!==undefined&&v!==undefined?u-v:x.textContent"
	".localeCompare(y.textContent);return r*d;});\n"
	"  rows.forEach(function(r){tb.appendChild(r);});});});\n"
	"})();\n"
	"</script>\n";

/* Text as HTML: every byte that could start markup or end an attribute. */
static void esc(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': buf_addstr(b, "&amp;"); break;
		case '<': buf_addstr(b, "&lt;"); break;
		case '>': buf_addstr(b, "&gt;"); break;
		case '"': buf_addstr(b, "&quot;"); break;
		case '\'': buf_addstr(b, "&#39;"); break;
		default:
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				buf_addf(b, "\\x%02x", (unsigned char)*s);
			else
				buf_add(b, s, 1);
		}
	}
}

static void esc_or(struct buf *b, const char *s, const char *dflt)
{
	esc(b, s && *s ? s : dflt);
}

/* A number cell that sorts by value. */
static void num_cell(struct buf *b, int64_t v, bool sized)
{
	buf_addf(b, "<td class=\"n\" data-v=\"%" PRId64 "\">", v);
	if (sized) {
		char *h = size_human(v < 0 ? 0 : (uint64_t)v);

		buf_addstr(b, h);
		free(h);
	} else
		buf_addf(b, "%" PRId64, v);
	buf_addstr(b, "</td>");
}

/* Is a target fully covered and without detections? */
static const char *status_class(enum target_status st, bool complete)
{
	if (st == TARGET_INFECTED)
		return "infected";
	if (st == TARGET_CLEAN && complete)
		return "clean";
	return "gap";
}

/* Does a report's target say it is complete (older reports: by status)? */
static bool shown_complete(struct json_object *t)
{
	struct json_object *c = json_get(t, "complete");
	enum target_status st = target_status_from_name(
		json_get_str(t, "status"));

	if (c && json_object_is_type(c, json_type_boolean))
		return json_object_get_boolean(c);
	return st == TARGET_CLEAN || st == TARGET_INFECTED;
}

static void fs_table(struct buf *b, struct json_object *fss)
{
	size_t n = json_array_len(fss);

	if (!n)
		return;
	buf_addstr(b, "<table class=\"fs\"><thead><tr><th>file system</th>"
		   "<th>type</th><th>label</th><th>size</th><th>status</th>"
		   "<th>files seen</th><th>scanned</th><th>cached</th>"
		   "<th>skipped</th><th>bytes scanned</th><th>reason</th>"
		   "</tr></thead><tbody>\n");
	for (size_t i = 0; i < n; i++) {
		struct json_object *fs = json_object_array_get_idx(fss, i);
		struct json_object *files = json_get(fs, "files");
		const char *st = json_get_str(fs, "status");
		enum fs_status fst = fs_status_from_name(st);

		buf_addstr(b, "<tr><td><code>");
		esc_or(b, json_get_str(fs, "id"), "?");
		buf_addstr(b, "</code></td><td>");
		esc_or(b, json_get_str(fs, "type"), "-");
		buf_addstr(b, "</td><td>");
		esc_or(b, json_get_str(fs, "label"), "");
		buf_addstr(b, "</td>");
		num_cell(b, json_get_int(fs, "size", 0), true);
		buf_addf(b, "<td class=\"%s\">", fst == FS_SCANNED ||
			 fst == FS_SKIPPED ? "" : "gap");
		esc_or(b, st, "?");
		buf_addstr(b, "</td>");
		num_cell(b, json_get_int(files, "seen", 0), false);
		num_cell(b, json_get_int(files, "scanned", 0), false);
		num_cell(b, json_get_int(files, "cached", 0), false);
		num_cell(b, json_get_int(files, "skipped", 0), false);
		num_cell(b, json_get_int(fs, "bytes_scanned", 0), true);
		buf_addstr(b, "<td>");
		esc_or(b, json_get_str(fs, "reason"), "");
		buf_addstr(b, "</td></tr>\n");
	}
	buf_addstr(b, "</tbody></table>\n");
}

static void detection_table(struct buf *b, struct json_object *ds)
{
	size_t n = json_array_len(ds);

	if (!n) {
		buf_addstr(b, "<p class=\"meta\">No detections.</p>\n");
		return;
	}
	buf_addstr(b, "<table class=\"det\"><thead><tr><th>file system</th>"
		   "<th>guest path</th><th>threat</th><th>engine</th>"
		   "<th>sha256</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(ds, i);

		buf_addstr(b, "<tr class=\"infected\"><td><code>");
		esc_or(b, json_get_str(d, "fs"), "?");
		/* path is the lossy UTF-8 form; path_b64 has the bytes. */
		buf_addstr(b, "</code></td><td><code>");
		esc_or(b, json_get_str(d, "path"), "?");
		buf_addstr(b, "</code></td><td>");
		esc_or(b, json_get_str(d, "threat"), "?");
		buf_addstr(b, "</td><td>");
		esc_or(b, json_get_str(d, "engine"), "?");
		buf_addstr(b, "</td><td><code>");
		esc_or(b, json_get_str(d, "sha256"), "");
		buf_addstr(b, "</code></td></tr>\n");
	}
	buf_addstr(b, "</tbody></table>\n");
}

static void target_section(struct buf *b, struct json_object *t)
{
	const char *st = json_get_str(t, "status");
	enum target_status tst = target_status_from_name(st);
	bool complete = shown_complete(t);
	const char *host = json_get_str(t, "host");

	buf_addstr(b, "<section class=\"target\">\n<h2>");
	if (host) {
		esc(b, host);
		buf_addstr(b, " / ");
	}
	esc_or(b, json_get_str(t, "name"), "?");
	buf_addf(b, " &mdash; <span class=\"%s\">", status_class(tst,
							       complete));
	esc_or(b, st, "?");
	if (!complete && tst == TARGET_INFECTED)
		buf_addstr(b, ", not fully covered");
	buf_addstr(b, "</span></h2>\n<p class=\"meta\"><code>");
	esc_or(b, json_get_str(t, "image"), "?");
	buf_addstr(b, "</code> (");
	esc_or(b, json_get_str(t, "format"), "?");
	buf_addstr(b, ")");
	if (json_get_str(t, "reason")) {
		buf_addstr(b, " &mdash; <span class=\"gap\">");
		esc(b, json_get_str(t, "reason"));
		buf_addstr(b, "</span>");
	}
	buf_addstr(b, "</p>\n");
	detection_table(b, json_get(t, "detections"));
	fs_table(b, json_get(t, "filesystems"));
	buf_addstr(b, "</section>\n");
}

void html_format(struct json_object *report, struct buf *b)
{
	struct json_object *targets = json_get(report, "targets");
	size_t nt = json_array_len(targets), clean = 0, infected = 0, gaps = 0;
	int64_t ndet = 0;

	for (size_t i = 0; i < nt; i++) {
		struct json_object *t = json_object_array_get_idx(targets, i);
		enum target_status st = target_status_from_name(
			json_get_str(t, "status"));
		bool complete = shown_complete(t);

		ndet += (int64_t)json_array_len(json_get(t, "detections"));
		if (st == TARGET_INFECTED)
			infected++;
		else if (st == TARGET_CLEAN && complete)
			clean++;
		if (!complete)
			gaps++;
	}
	buf_addstr(b, head);
	buf_addstr(b, "<title>avbatch report ");
	esc_or(b, json_get_str(report, "job"), "");
	buf_addstr(b, "</title>\n</head>\n<body>\n<h1>avbatch report</h1>\n"
		   "<p class=\"meta\">job <code>");
	esc_or(b, json_get_str(report, "job"), "?");
	buf_addstr(b, "</code> on ");
	esc_or(b, json_get_str(report, "host"), "?");
	buf_addstr(b, ", ");
	esc_or(b, json_get_str(report, "started"), "?");
	buf_addstr(b, " to ");
	esc_or(b, json_get_str(report, "finished"), "?");
	buf_addf(b, ", exit status %" PRId64 "</p>\n",
		 json_get_int(report, "exit_code", 2));
	buf_addf(b, "<div class=\"cards\" id=\"summary\">"
		 "<div class=\"card\"><b>%zu</b>targets</div>"
		 "<div class=\"card clean\"><b>%zu</b>clean</div>"
		 "<div class=\"card infected\"><b>%zu</b>infected</div>"
		 "<div class=\"card gap\"><b>%zu</b>not fully covered</div>"
		 "<div class=\"card\"><b>%" PRId64 "</b>detections</div>"
		 "</div>\n", nt, clean, infected, gaps, ndet);
	for (size_t i = 0; i < json_array_len(json_get(report, "engines")); i++) {
		struct json_object *e = json_object_array_get_idx(
			json_get(report, "engines"), i);

		buf_addstr(b, "<p class=\"meta\">engine ");
		esc_or(b, json_get_str(e, "name"), "?");
		buf_addstr(b, ": ");
		esc_or(b, json_get_str(e, "version"), "version unknown");
		buf_addstr(b, "</p>\n");
	}
	for (size_t i = 0; i < nt; i++)
		target_section(b, json_object_array_get_idx(targets, i));
	buf_addstr(b, script);
	buf_addstr(b, "</body>\n</html>\n");
}
