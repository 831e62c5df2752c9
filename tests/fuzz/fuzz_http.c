/*
 * libFuzzer target: the Streamable HTTP front-end (supervisor/frontend-
 * http.c) with the real libmicrohttpd, session table and MCP methods
 * behind it.  The supervisor library is linked in; this file stands in for
 * mcp-mesh.c (the event base, the configuration, mesh_shutdown).  No peer
 * is configured, so every request is answered synchronously: bridged names
 * are unknown tools, mesh_node_info works.
 *
 * Each input becomes one TCP connection to the front-end: the bytes are
 * written, the write side is shut, and the event loop runs until the
 * server closes the connection (or a short deadline passes).  What comes
 * back must be HTTP/1.x, and a JSON body must be a valid JSON-RPC response
 * (or a batch of them).
 *
 * The first byte picks how the rest is sent, so the fuzzer gets past
 * HTTP quickly:
 *	0  raw bytes
 *	1  the body of a well-formed POST /mcp without a session
 *	2  the same inside an initialized session (protocol 2025-03-26,
 *	   the one with batches)
 *	3  "POST /mcp HTTP/1.1" followed by the input: headers and body
 *	4  raw bytes, the connection held open while a tools/list_changed
 *	   notification goes to every session's GET stream
 * In every mode "@SID@" is replaced by the id of a live session, so raw
 * requests can reach session-bound paths (GET streams, DELETE, batches).
 * FUZZ_HTTP_DEBUG set in the environment reports every exchange that ran
 * into the deadline (a slow target means the server kept a connection).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "mesh.h"
#include "util.h"
#include "fuzz.h"

#define EXCHANGE_MS	200		/* one connection, at most */
#define PUSH_HOLD_MS	(TOOLS_CHANGED_COALESCE_MS + 10)
#define REPLY_MAX	(256 * 1024)	/* kept of one reply */
#define SESSIONS_KEEP	64		/* more: restart the front-end */
#define SID_TOKEN	"@SID@"

/* What mcp-mesh.c defines, for the library. */
struct event_base	*ev_base;
struct mesh_config	 conf;

void
mesh_shutdown(int status)
{
}

static char	sid[SESSION_ID_LEN + 1];	/* our own session */
static unsigned	timeouts;

/*
 * Quiet: every request would log.  A warning that means the front-end
 * broke its own promise is a bug, so it aborts.
 */
static void
quiet_log(int level, const char *line)
{
	if (strstr(line, "neither answered nor pending") != NULL) {
		fprintf(stderr, "fuzz_http: %s\n", line);
		abort();
	}
}

struct buf {
	char	*p;
	size_t	 len, cap;
};

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		CHECK(b->p != NULL);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append p, with every SID_TOKEN replaced by the session's id. */
static void
buf_add_sid(struct buf *b, const uint8_t *p, size_t n)
{
	const uint8_t	*t;
	size_t		 tl = sizeof(SID_TOKEN) - 1;

	while ((t = memmem(p, n, SID_TOKEN, tl)) != NULL) {
		buf_add(b, p, t - p);
		buf_str(b, sid);
		n -= t - p + tl;
		p = t + tl;
	}
	buf_add(b, p, n);
}

/*
 * One connection: send req, run the loop until the server closes it.
 * push: hold the write side open a little and broadcast list_changed.
 */
static void
exchange(const char *req, size_t len, int push, struct buf *reply)
{
	struct sockaddr_in	 sin;
	struct pollfd		 pfd;
	char			 rb[16384];
	uint64_t		 start = now_ms(), now;
	size_t			 off = 0;
	ssize_t			 n;
	int			 fd, shut = 0, spins = 0;

	CHECK((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)http_port());
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Loopback: the kernel completes the handshake on its own. */
	CHECK(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CHECK(fd_nonblock(fd) == 0);
	if (push)
		mcp_tools_changed();
	for (;;) {
		now = now_ms();
		if (now - start > EXCHANGE_MS) {
			if (getenv("FUZZ_HTTP_DEBUG") != NULL)
				fprintf(stderr, "timeout: sent %zu/%zu shut %d "
				    "got %zu\n", off, len, shut, reply->len);
			timeouts++;
			break;
		}
		if (off < len) {
			n = send(fd, req + off, len - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n == -1 && errno != EAGAIN &&
			    errno != EWOULDBLOCK)
				break;	/* refused mid-request: reset */
		}
		/*
		 * The end of our side must reach the server after the
		 * request: with data and FIN in one read MHD clears its
		 * read readiness on the short read and would not notice the
		 * FIN until its idle timeout.
		 */
		if (off == len && !shut && spins > 2 && (!push ||
		    now - start > PUSH_HOLD_MS)) {
			shutdown(fd, SHUT_WR);
			shut = 1;
		}
		if (off == len)
			spins++;
		event_base_loop(ev_base, EVLOOP_NONBLOCK);
		n = recv(fd, rb, sizeof(rb), 0);
		if (n == 0)
			break;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		if (n > 0) {
			if (reply->len < REPLY_MAX)
				buf_add(reply, rb, (size_t)n);
			continue;
		}
		/* Nothing yet: wait a moment for either side. */
		pfd.fd = fd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 1);
	}
	close(fd);
	/* Let the server see the close and free the connection. */
	event_base_loop(ev_base, EVLOOP_NONBLOCK);
}

/* The value of header name in the first response, or NULL. */
static const char *
header(const char *r, const char *hend, const char *name, size_t *vlen)
{
	const char	*l, *e;
	size_t		 nl = strlen(name);

	for (l = strstr(r, "\r\n"); l != NULL && l < hend; l = e) {
		l += 2;
		if ((e = strstr(l, "\r\n")) == NULL || e > hend)
			return (NULL);
		if ((size_t)(e - l) > nl && strncasecmp(l, name, nl) == 0 &&
		    l[nl] == ':') {
			l += nl + 1;
			while (*l == ' ')
				l++;
			*vlen = e - l;
			return (l);
		}
	}
	return (NULL);
}

/* One message of a JSON body the front-end sent. */
static void
check_response(struct json_object *o)
{
	const char	*why;

	if (jsonrpc_check(o, &why) != JSONRPC_RESPONSE) {
		fprintf(stderr, "fuzz_http: not a JSON-RPC response (%s): %s\n",
		    why, json_object_to_json_string(o));
		abort();
	}
}

/*
 * The first response: a status line, and when its body is JSON, a valid
 * JSON-RPC response or batch of them.  Copies out the session id if one
 * was handed out.
 */
static void
check_reply(const struct buf *reply, char *newsid)
{
	struct json_object	*o;
	const char		*r = reply->p, *hend, *v, *why;
	char			 num[32];
	size_t			 vlen, clen, i;

	if (reply->len == 0)
		return;
	if (reply->len < 9 || memcmp(r, "HTTP/1.", 7) != 0) {
		fprintf(stderr, "fuzz_http: reply is not HTTP: %.*s\n",
		    (int)(reply->len < 64 ? reply->len : 64), r);
		abort();
	}
	if ((hend = strstr(r, "\r\n\r\n")) == NULL)
		return;
	if (newsid != NULL &&
	    (v = header(r, hend + 2, "Mcp-Session-Id", &vlen)) != NULL &&
	    vlen == SESSION_ID_LEN) {
		memcpy(newsid, v, vlen);
		newsid[vlen] = '\0';
	}
	if ((v = header(r, hend + 2, "Content-Type", &vlen)) == NULL ||
	    vlen < 16 || strncasecmp(v, "application/json", 16) != 0)
		return;
	if ((v = header(r, hend + 2, "Content-Length", &vlen)) == NULL ||
	    vlen >= sizeof(num))
		return;
	memcpy(num, v, vlen);
	num[vlen] = '\0';
	clen = strtoul(num, NULL, 10);
	hend += 4;
	if ((size_t)(reply->p + reply->len - hend) < clen)
		return;		/* cut short at REPLY_MAX */
	o = jsonrpc_parse(hend, clen, JSON_DEPTH_MAX, &why);
	if (o == NULL) {
		fprintf(stderr, "fuzz_http: JSON body does not parse (%s)\n",
		    why);
		abort();
	}
	if (json_object_is_type(o, json_type_array)) {
		CHECK(json_object_array_length(o) > 0);
		for (i = 0; i < json_object_array_length(o); i++)
			check_response(json_object_array_get_idx(o, i));
	} else
		check_response(o);
	json_object_put(o);
}

/* Headers of a well-formed POST; session ones when in_session. */
static void
post_head(struct buf *b, size_t bodylen, int in_session)
{
	char	cl[64];

	buf_str(b, "POST /mcp HTTP/1.1\r\n"
	    "Host: 127.0.0.1\r\n"
	    "Accept: application/json, text/event-stream\r\n"
	    "Content-Type: application/json\r\n");
	if (in_session) {
		buf_str(b, "Mcp-Session-Id: ");
		buf_str(b, sid);
		buf_str(b, "\r\nMCP-Protocol-Version: 2025-03-26\r\n");
	}
	snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n\r\n", bodylen);
	buf_str(b, cl);
}

/* Our own session, made again whenever an input ended it. */
static void
ensure_session(void)
{
	static const char	 init[] = "{\"jsonrpc\":\"2.0\",\"id\":1,"
	    "\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
	    "\"2025-03-26\",\"capabilities\":{},\"clientInfo\":{\"name\":"
	    "\"fuzz\",\"version\":\"1\"}}}";
	struct buf		 req = { NULL, 0, 0 }, reply = { NULL, 0, 0 };
	char			 newsid[SESSION_ID_LEN + 1] = "";

	if (sid[0] != '\0' && session_find(sid) != NULL)
		return;
	post_head(&req, sizeof(init) - 1, 0);
	buf_str(&req, init);
	exchange(req.p, req.len, 0, &reply);
	check_reply(&reply, newsid);
	CHECK(newsid[0] != '\0' && session_find(newsid) != NULL);
	memcpy(sid, newsid, sizeof(sid));
	free(req.p);
	free(reply.p);
}

/* Sessions the inputs made pile up to the cap: start afresh now and then. */
static void
restart_if_full(void)
{
	if (session_count() <= SESSIONS_KEEP)
		return;
	http_stop();
	CHECK(http_start("127.0.0.1", 0, HTTP_CONNECTIONS_MAX) == 0);
	sid[0] = '\0';
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	*args[] = { "fuzz", NULL };

	signal(SIGPIPE, SIG_IGN);
	log_init(0);
	log_sethook(quiet_log);
	CHECK(config_parse_args(&conf, 1, args) == 0);
	conf.started_ms = now_ms();
	CHECK((ev_base = event_base_new()) != NULL);
	toolmap_init();
	meshtools_register();
	CHECK(http_start("127.0.0.1", 0, HTTP_CONNECTIONS_MAX) == 0);
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned	 runs;
	struct buf	 req = { NULL, 0, 0 }, reply = { NULL, 0, 0 };
	struct buf	 body = { NULL, 0, 0 };
	int		 mode;

	if (size < 1)
		return (0);
	restart_if_full();
	ensure_session();
	mode = data[0] % 5;
	data++;
	size--;
	switch (mode) {
	case 1:
	case 2:
		buf_add_sid(&body, data, size);
		post_head(&req, body.len, mode == 2);
		if (body.len > 0)
			buf_add(&req, body.p, body.len);
		break;
	case 3:
		buf_str(&req, "POST /mcp HTTP/1.1\r\n");
		buf_add_sid(&req, data, size);
		break;
	default:
		buf_add_sid(&req, data, size);
		break;
	}
	if (req.len > 0)
		exchange(req.p, req.len, mode == 4, &reply);
	check_reply(&reply, NULL);
	free(req.p);
	free(body.p);
	free(reply.p);
	if (++runs % 10000 == 0 && timeouts > 0)
		fprintf(stderr, "fuzz_http: %u of %u exchanges timed out\n",
		    timeouts, runs);
	return (0);
}
