/*
 * The stdio front-end: newline-delimited JSON-RPC on stdin and stdout, one
 * session.  stdout carries nothing but MCP messages; logs go to stderr.
 * A line longer than STDIO_LINE_MAX is answered with an error and skipped;
 * a client that stops reading our stdout beyond STDIO_OUT_QUEUE_MAX bytes
 * is gone for good: the mesh exits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "mesh.h"
#include "xmalloc.h"

struct stdio_buf {
	char	*data;
	size_t	 off;
	size_t	 len;
	size_t	 cap;
};

static struct session	*stdio_session;
static struct event	*ev_in, *ev_out;
static struct stdio_buf	 inbuf, outbuf;
static int		 in_skipping;	/* discarding an over-long line */
static int		 in_polled, out_polled;	/* fd works with epoll */

static void	stdio_read(evutil_socket_t, short, void *);
static void	stdio_flush(evutil_socket_t, short, void *);

static void
buf_reserve(struct stdio_buf *b, size_t more)
{
	if (b->off > 0 && b->len + more > b->cap) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + more > b->cap) {
		b->cap = b->len + more > b->cap * 2 ? b->len + more : b->cap * 2;
		b->data = xreallocarray(b->data, 1, b->cap);
	}
}

static void
stdio_write_line(const char *json, size_t len)
{
	if (outbuf.len - outbuf.off + len + 1 > STDIO_OUT_QUEUE_MAX) {
		log_warnx("stdio: client is not reading stdout (%d bytes "
		    "queued): exiting", STDIO_OUT_QUEUE_MAX);
		mesh_shutdown(1);
		return;
	}
	buf_reserve(&outbuf, len + 1);
	memcpy(outbuf.data + outbuf.len, json, len);
	outbuf.data[outbuf.len + len] = '\n';
	outbuf.len += len + 1;
	stdio_flush(-1, 0, NULL);
}

static void
stdio_send(struct json_object *msg)
{
	const char	*json;
	size_t		 len;

	json = jsonrpc_string(msg, &len);
	stdio_write_line(json, len);
}

static void
stdio_flush(evutil_socket_t fd, short events, void *arg)
{
	ssize_t	n;

	while (outbuf.off < outbuf.len) {
		n = write(STDOUT_FILENO, outbuf.data + outbuf.off,
		    outbuf.len - outbuf.off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN && out_polled) {
			event_add(ev_out, NULL);
			return;
		}
		if (n <= 0) {
			log_warn("stdio: write to stdout");
			outbuf.off = outbuf.len = 0;
			mesh_shutdown(1);
			return;
		}
		outbuf.off += n;
	}
	outbuf.off = outbuf.len = 0;
}

static void
stdio_reply(void *arg, struct json_object *resp)
{
	if (resp == NULL)
		return;		/* cancelled: no answer is owed */
	stdio_send(resp);
	json_object_put(resp);
}

static void
stdio_error(struct json_object *id, int code, const char *why)
{
	struct json_object	*err;

	err = jsonrpc_error(id, code, why, NULL);
	stdio_send(err);
	json_object_put(err);
}

static void
stdio_push(struct session *s, const char *json, size_t len)
{
	stdio_write_line(json, len);
}

/* One message from the client. */
static void
stdio_message(const char *line, size_t len)
{
	struct json_object	*msg;
	const char		*why;

	if ((msg = jsonrpc_parse(line, len, JSON_DEPTH_MAX, &why)) == NULL) {
		stdio_error(NULL, JSONRPC_PARSE_ERROR, why);
		return;
	}
	if (json_object_is_type(msg, json_type_array)) {
		stdio_error(NULL, JSONRPC_INVALID_REQUEST,
		    "batches are not supported on stdio");
		json_object_put(msg);
		return;
	}
	switch (jsonrpc_check(msg, &why)) {
	case JSONRPC_REQUEST:
		mcp_request(stdio_session, msg, stdio_reply, NULL);
		break;
	case JSONRPC_NOTIFICATION:
		mcp_notification(stdio_session, msg);
		break;
	case JSONRPC_RESPONSE:
		mcp_client_response(stdio_session, msg);
		break;
	default:
		stdio_error(NULL, JSONRPC_INVALID_REQUEST, why);
		break;
	}
	json_object_put(msg);
}

static int
line_blank(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return (0);
	return (1);
}

/* Split what was read into lines; keep a partial line for later. */
static void
stdio_lines(void)
{
	char	*nl, *start;
	size_t	 len;

	while (inbuf.off < inbuf.len) {
		start = inbuf.data + inbuf.off;
		nl = memchr(start, '\n', inbuf.len - inbuf.off);
		if (nl == NULL)
			break;
		len = nl - start;
		inbuf.off += len + 1;
		if (in_skipping) {
			in_skipping = 0;
			continue;
		}
		if (!line_blank(start, len))
			stdio_message(start, len);
		if (stdio_session == NULL)
			return;
	}
	if (inbuf.len - inbuf.off > STDIO_LINE_MAX) {
		char	msg[128];

		snprintf(msg, sizeof(msg), "message longer than %d bytes",
		    STDIO_LINE_MAX);
		if (!in_skipping)
			stdio_error(NULL, JSONRPC_PARSE_ERROR, msg);
		in_skipping = 1;
		inbuf.off = inbuf.len;
	}
	if (inbuf.off == inbuf.len)
		inbuf.off = inbuf.len = 0;
}

static void
stdio_read(evutil_socket_t fd, short events, void *arg)
{
	ssize_t	n;

	buf_reserve(&inbuf, MSG_READ_CHUNK);
	n = read(STDIN_FILENO, inbuf.data + inbuf.len, MSG_READ_CHUNK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1)
			log_warn("stdio: read from stdin");
		log_info("stdio: end of input, exiting");
		event_del(ev_in);
		mesh_shutdown(0);
		return;
	}
	inbuf.len += n;
	stdio_lines();
	if (!in_polled && stdio_session != NULL)
		event_active(ev_in, EV_READ, 0);
}

int
stdio_start(void)
{
	fd_nonblock(STDIN_FILENO);
	fd_nonblock(STDOUT_FILENO);
	stdio_session = session_new(1);
	stdio_session->push = stdio_push;
	ev_in = event_new(ev_base, STDIN_FILENO, EV_READ | EV_PERSIST,
	    stdio_read, NULL);
	ev_out = event_new(ev_base, STDOUT_FILENO, EV_WRITE, stdio_flush, NULL);
	/* Regular files cannot be polled: read them as fast as they come. */
	in_polled = event_add(ev_in, NULL) == 0;
	if (!in_polled)
		event_active(ev_in, EV_READ, 0);
	out_polled = event_add(ev_out, NULL) == 0;
	if (out_polled)
		event_del(ev_out);
	else
		fd_blocking(STDOUT_FILENO);
	return (0);
}

void
stdio_stop(void)
{
	if (stdio_session == NULL)
		return;
	session_free(stdio_session);
	stdio_session = NULL;
	/* Say what is still owed before going. */
	if (outbuf.off < outbuf.len) {
		fd_blocking(STDOUT_FILENO);
		stdio_flush(-1, 0, NULL);
	}
	event_free(ev_in);
	event_free(ev_out);
	ev_in = ev_out = NULL;
	free(inbuf.data);
	free(outbuf.data);
	memset(&inbuf, 0, sizeof(inbuf));
	memset(&outbuf, 0, sizeof(outbuf));
}
