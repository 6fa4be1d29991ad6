/* ctl.h - a job's control socket: versioned requests from other shells */
#ifndef AVBATCH_CTL_H
#define AVBATCH_CTL_H

#include <json-c/json.h>

/*
 * Protocol: the client connects to the job's socket, sends one JSON
 * object on one line, {"v": 1, "cmd": "status"}, and reads one JSON object
 * on one line: {"v": 1, "ok": true, ...} or {"v": 1, "ok": false,
 * "error": "..."}.  Commands: status, pause, resume, stop.  A request with
 * another "v" is refused; only root and the job's owner may connect.  The
 * job serves several clients at once, each within a short deadline, and
 * carries out a request only while its client still waits for the answer
 * (one that hung up was told the job did not answer).
 */
#define CTL_PROTOCOL	1
#define CTL_SOCKET	"ctl.sock"

struct ctl;

/* Answers one command: a reply object (ok/v are added) or NULL and *cause. */
typedef struct json_object *(*ctl_handler)(void *arg, const char *cmd,
					   char **cause);

/* Listen on path and answer requests from a thread of our own. */
int ctl_start(const char *path, ctl_handler fn, void *arg, struct ctl **out,
	      char **cause);

/* Stop answering, join the thread, remove the socket. */
void ctl_stop(struct ctl *c);

/*
 * Send cmd to the job listening on path; *reply is the whole answer.
 * -ETIMEDOUT when it does not answer within a few seconds.
 */
int ctl_request(const char *path, const char *cmd, struct json_object **reply,
		char **cause);

#endif
