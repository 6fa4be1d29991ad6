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
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "json.h"
#include "util.h"

#define CTL_MAX_REQUEST	4096
#define CTL_MAX_REPLY	(64 << 20)
#define CTL_MAX_CLIENTS	16
#define CTL_SERVE_MS	2000	/* the job: a whole request; then its answer */
#define CTL_TIMEOUT_MS	5000	/* a client: connect, ask, be answered */

/* One connection: its request as it comes in, then the answer going out. */
struct client {
	int fd;
	double deadline;	/* time_mono(): dropped then */
	bool answering;
	struct buf in, out;
	size_t sent;
};

struct ctl {
	char *path;
	int fd;
	int wake[2];		/* written to end the thread */
	pthread_t thread;
	bool running;
	ctl_handler fn;
	void *arg;
	struct client clients[CTL_MAX_CLIENTS];
	size_t nclients;
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

/* Add v and ok to a reply (or make an error reply of cause, taken). */
static struct json_object *finish_reply(struct json_object *reply,
					char *cause)
{
	if (!reply) {
		reply = json_object_new_object();
		json_put_str(reply, "error", cause ? cause : "failed");
	}
	json_put_int(reply, "v", CTL_PROTOCOL);
	json_object_object_add(reply, "ok", json_object_new_boolean(!cause));
	free(cause);
	return reply;
}

/* The answer to one request line. */
static struct json_object *answer(struct ctl *c, const char *line,
				  size_t len)
{
	struct json_object *req, *reply = NULL;
	char *cause = NULL;
	const char *cmd;

	req = json_parse(line, len, &cause);
	if (!req)
		goto done;
	if (json_get_int(req, "v", -1) != CTL_PROTOCOL) {
		cause = xasprintf("unsupported protocol version (this job "
				  "speaks %d)", CTL_PROTOCOL);
		goto done;
	}
	cmd = json_get_str(req, "cmd");
	if (cmd)
		reply = c->fn(c->arg, cmd, &cause);
	else
		cause = xstrdup("no command");
done:
	json_object_put(req);
	return finish_reply(reply, cause);
}

static void client_drop(struct ctl *c, size_t i)
{
	struct client *cl = &c->clients[i];

	close(cl->fd);
	buf_release(&cl->in);
	buf_release(&cl->out);
	*cl = c->clients[--c->nclients];
}

/* Send what is left of the answer: true while some is. */
static bool client_write(struct client *cl)
{
	while (cl->sent < cl->out.len) {
		ssize_t n = send(cl->fd, cl->out.p + cl->sent,
				 cl->out.len - cl->sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		cl->sent += (size_t)n;
	}
	return false;
}

static bool client_answer(struct client *cl, struct json_object *reply)
{
	buf_addstr(&cl->out, json_object_to_json_string_ext(reply,
			JSON_C_TO_STRING_PLAIN |
			JSON_C_TO_STRING_NOSLASHESCAPE));
	buf_add(&cl->out, "\n", 1);
	json_object_put(reply);
	cl->answering = true;
	cl->deadline = time_mono() + CTL_SERVE_MS / 1000.0;
	return client_write(cl);
}

/* Has the peer closed its end (given up waiting for the answer)? */
static bool client_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/*
 * Read what the client sent; once its line is whole, carry it out and
 * answer -- unless the client has hung up meanwhile: a caller that gave
 * up was told the job did not answer, so its command must not happen
 * later.  True while the client is still being served.
 */
static bool client_read(struct ctl *c, struct client *cl)
{
	char chunk[1024];
	char *nl = NULL;

	while (!nl) {
		ssize_t n = recv(cl->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0) {
			if (!cl->in.len)
				return false;
			break;	/* shut down for writing: that is the end */
		}
		nl = memchr(chunk, '\n', (size_t)n);
		buf_add(&cl->in, chunk, nl ? (size_t)(nl - chunk) : (size_t)n);
		if (cl->in.len > CTL_MAX_REQUEST)
			return client_answer(cl, finish_reply(NULL,
					xstrdup("request too long")));
	}
	if (client_gone(cl->fd))
		return false;
	return client_answer(cl, answer(c, cl->in.p, cl->in.len));
}

/*
 * Take every waiting connection.  At most CTL_MAX_CLIENTS are served at
 * once; a new one pushes out the one nearest its deadline, so idle
 * connections can never lock out the operator's.
 */
static void accept_clients(struct ctl *c)
{
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct client *cl;
		size_t oldest = 0;
		bool keep;
		int fd;

		fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			return;
		if (c->nclients == CTL_MAX_CLIENTS) {
			for (size_t i = 1; i < c->nclients; i++)
				if (c->clients[i].deadline <
				    c->clients[oldest].deadline)
					oldest = i;
			client_drop(c, oldest);
		}
		cl = &c->clients[c->nclients++];
		memset(cl, 0, sizeof(*cl));
		cl->fd = fd;
		cl->deadline = time_mono() + CTL_SERVE_MS / 1000.0;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    (cred.uid != 0 && cred.uid != geteuid()))
			keep = client_answer(cl, finish_reply(NULL,
					xstrdup("permission denied")));
		else	/* usually the request is there already */
			keep = client_read(c, cl);
		if (!keep)
			client_drop(c, c->nclients - 1);
	}
}

/* The control thread: every client at once, each within its deadline. */
static void *serve(void *arg)
{
	struct ctl *c = arg;
	struct pollfd p[2 + CTL_MAX_CLIENTS];

	for (;;) {
		double now = time_mono(), first = now + 3600;
		size_t n = c->nclients;

		p[0] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = c->wake[0], .events = POLLIN };
		for (size_t i = 0; i < n; i++) {
			p[2 + i] = (struct pollfd){
				.fd = c->clients[i].fd,
				.events = c->clients[i].answering ? POLLOUT :
					  POLLIN,
			};
			if (c->clients[i].deadline < first)
				first = c->clients[i].deadline;
		}
		if (poll(p, 2 + n, first > now ?
			 (int)((first - now) * 1000) + 1 : 0) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		/* From the last: a drop moves only one already seen. */
		for (size_t i = n; i-- > 0;) {
			struct client *cl = &c->clients[i];
			bool keep = true;

			if (p[2 + i].revents)
				keep = cl->answering ? client_write(cl) :
				       client_read(c, cl);
			if (!keep || time_mono() >= cl->deadline)
				client_drop(c, i);
		}
		if (p[0].revents)
			accept_clients(c);
	}
	while (c->nclients)
		client_drop(c, c->nclients - 1);
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
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       0);
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
	    chmod(path, 0600) < 0 || listen(c->fd, 64) < 0) {
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

/* Read one line (without its newline) before end, a time_mono(). */
static int read_reply(int fd, struct buf *b, double end)
{
	char chunk[4096];
	char *nl = NULL;

	while (!nl) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = end - time_mono();
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return b->len ? 0 : -ECONNRESET;
		nl = memchr(chunk, '\n', (size_t)n);
		buf_add(b, chunk, nl ? (size_t)(nl - chunk) : (size_t)n);
		if (b->len > CTL_MAX_REPLY)
			return -EMSGSIZE;
	}
	return 0;
}

int ctl_request(const char *path, const char *cmd, struct json_object **reply,
		char **cause)
{
	struct json_object *req = json_object_new_object();
	/* connect waits while the job's backlog is full: not for ever. */
	struct timeval tv = { .tv_sec = CTL_TIMEOUT_MS / 1000 };
	double end = time_mono() + CTL_TIMEOUT_MS / 1000.0;
	struct sockaddr_un sa;
	struct buf line = { 0 };
	const char *text;
	int fd = -1, r;

	r = sockaddr_for(path, &sa, cause);
	if (r < 0)
		goto done;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				 sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = errno == EAGAIN ? -ETIMEDOUT : -errno;
		*cause = r == -ETIMEDOUT ?
			 xasprintf("no answer within %d s at '%s'",
				   CTL_TIMEOUT_MS / 1000, path) :
			 xasprintf("cannot reach the job at '%s': %s", path,
				   strerror(-r));
		goto done;
	}
	json_put_int(req, "v", CTL_PROTOCOL);
	json_put_str(req, "cmd", cmd);
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	/* One short line: it fits the socket's buffer at once. */
	if (send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		r = -errno;
		*cause = xasprintf("cannot send to the job at '%s': %s", path,
				   strerror(-r));
		goto done;
	}
	r = read_reply(fd, &line, end);
	if (r < 0) {
		*cause = r == -ETIMEDOUT ?
			 xasprintf("no answer within %d s at '%s'",
				   CTL_TIMEOUT_MS / 1000, path) :
			 xasprintf("no answer from the job: %s",
				   strerror(-r));
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
