/* ctl.c - a job's control socket: versioned requests from other shells */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "json.h"
#include "util.h"

#define CTL_MAX_REQUEST	4096
#define CTL_TIMEOUT_MS	5000

struct ctl {
	char *path;
	int fd;
	int wake[2];		/* written to end the thread */
	pthread_t thread;
	bool running;
	ctl_handler fn;
	void *arg;
};

static int sockaddr_for(const char *path, struct sockaddr_un *sa,
			char **cause)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		*cause = xasprintf("socket path too long: '%s'", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

/* Read one line (without its newline) within the time limit. */
static int read_line(int fd, struct buf *b)
{
	char c;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, CTL_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return b->len ? 0 : -ECONNRESET;
		if (c == '\n')
			return 0;
		if (b->len >= CTL_MAX_REQUEST)
			return -EMSGSIZE;
		buf_add(b, &c, 1);
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void send_json(int fd, struct json_object *reply)
{
	const char *text = json_object_to_json_string_ext(reply,
				JSON_C_TO_STRING_PLAIN |
				JSON_C_TO_STRING_NOSLASHESCAPE);

	if (write_all(fd, text, strlen(text)) == 0)
		write_all(fd, "\n", 1);
}

/* Answer one connection: one request, one reply. */
static void serve_one(struct ctl *c, int fd)
{
	struct json_object *req = NULL, *reply = NULL;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct buf line = { 0 };
	char *cause = NULL;
	const char *cmd;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		cause = xstrdup("permission denied");
		goto answer;
	}
	if (read_line(fd, &line) < 0) {
		cause = xstrdup("no request");
		goto answer;
	}
	req = json_parse(line.p, line.len, &cause);
	if (!req)
		goto answer;
	if (json_get_int(req, "v", -1) != CTL_PROTOCOL) {
		cause = xasprintf("unsupported protocol version (this job "
				  "speaks %d)", CTL_PROTOCOL);
		goto answer;
	}
	cmd = json_get_str(req, "cmd");
	reply = cmd ? c->fn(c->arg, cmd, &cause) : NULL;
	if (!cmd)
		cause = xstrdup("no command");
answer:
	if (!reply) {
		reply = json_object_new_object();
		json_put_str(reply, "error", cause ? cause : "failed");
	}
	json_put_int(reply, "v", CTL_PROTOCOL);
	json_object_object_add(reply, "ok", json_object_new_boolean(!cause));
	send_json(fd, reply);
	json_object_put(reply);
	json_object_put(req);
	buf_release(&line);
	free(cause);
}

static void *serve(void *arg)
{
	struct ctl *c = arg;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->fd, .events = POLLIN },
			{ .fd = c->wake[0], .events = POLLIN },
		};
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_one(c, fd);
		close(fd);
	}
	return NULL;
}

int ctl_start(const char *path, ctl_handler fn, void *arg, struct ctl **out,
	      char **cause)
{
	struct ctl *c = xcalloc(1, sizeof(*c));
	struct sockaddr_un sa;
	int r;

	c->path = xstrdup(path);
	c->fn = fn;
	c->arg = arg;
	c->wake[0] = c->wake[1] = -1;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || pipe2(c->wake, O_CLOEXEC) < 0) {
		r = -errno;
		*cause = xasprintf("cannot create the control socket: %s",
				   strerror(errno));
		goto fail;
	}
	r = sockaddr_for(path, &sa, cause);
	if (r < 0)
		goto fail;
	unlink(path);
	/* The job directory is 0700; the socket itself is 0600 too. */
	if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(c->fd, 8) < 0) {
		r = -errno;
		*cause = xasprintf("cannot listen on '%s': %s", path,
				   strerror(errno));
		goto fail;
	}
	r = -pthread_create(&c->thread, NULL, serve, c);
	if (r < 0) {
		*cause = xasprintf("cannot start the control thread: %s",
				   strerror(-r));
		goto fail;
	}
	c->running = true;
	*out = c;
	return 0;
fail:
	ctl_stop(c);
	return r;
}

void ctl_stop(struct ctl *c)
{
	if (!c)
		return;
	if (c->running) {
		if (write(c->wake[1], "x", 1) < 0)
			pthread_cancel(c->thread);
		pthread_join(c->thread, NULL);
	}
	if (c->fd >= 0) {
		close(c->fd);
		unlink(c->path);
	}
	if (c->wake[0] >= 0)
		close(c->wake[0]);
	if (c->wake[1] >= 0)
		close(c->wake[1]);
	free(c->path);
	free(c);
}

int ctl_request(const char *path, const char *cmd, struct json_object **reply,
		char **cause)
{
	struct json_object *req = json_object_new_object();
	struct sockaddr_un sa;
	struct buf line = { 0 };
	int fd = -1, r;

	r = sockaddr_for(path, &sa, cause);
	if (r < 0)
		goto done;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		*cause = xasprintf("cannot reach the job at '%s': %s", path,
				   strerror(errno));
		goto done;
	}
	json_put_int(req, "v", CTL_PROTOCOL);
	json_put_str(req, "cmd", cmd);
	send_json(fd, req);
	r = read_line(fd, &line);
	if (r < 0) {
		*cause = xasprintf("no answer from the job: %s", strerror(-r));
		goto done;
	}
	*reply = json_parse(line.p, line.len, cause);
	if (!*reply)
		r = -EPROTO;
done:
	if (fd >= 0)
		close(fd);
	json_object_put(req);
	buf_release(&line);
	return r;
}
