/* journal.h - detections and runs as structured log records (a SIEM's feed) */
#ifndef AVBATCH_JOURNAL_H
#define AVBATCH_JOURNAL_H

#include <json-c/json.h>

/* MESSAGE_ID of each kind of record (journalctl MESSAGE_ID=...). */
#define JOURNAL_ID_DETECTION	"5e0c1e6e0c9b4a1fa3b1d7c0a7b1d001"
#define JOURNAL_ID_RUN		"5e0c1e6e0c9b4a1fa3b1d7c0a7b1d002"

/*
 * Send one record per detection and one for the run from a report (the
 * JSON of report_build()): to the systemd journal where one listens
 * (fields AVBATCH_JOB, AVBATCH_TARGET, AVBATCH_FS, AVBATCH_PATH,
 * AVBATCH_THREAT, AVBATCH_ENGINE, ...), else to syslog(3) as one line of
 * key="value" pairs.  Returns 0 or -errno (the journal refused a record).
 */
int journal_report(struct json_object *report);

#endif
