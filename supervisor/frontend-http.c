/*
 * The Streamable HTTP front-end (MCP 2025-03-26 .. 2025-11-25, server side)
 * on one endpoint, /mcp.  libmicrohttpd runs in external epoll mode: its
 * epoll descriptor is one read event on the supervisor's libevent base, and
 * a timer follows MHD_get_timeout().  No threads.
 *
 * A POST whose request is answered later suspends its connection; the
 * answer resumes it and MHD calls the handler again, which queues the
 * response.  A GET opens the session's stream of server-initiated messages:
 * its content reader suspends the connection while the queue is empty.
 *
 * Per connection state (struct hconn) lives from MHD's connection start to
 * its close and is reused by every request on a keep-alive connection, so a
 * small POST costs no allocation here beyond the JSON and the response.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <microhttpd.h>

#include "jsonrpc.h"
#include "log.h"
#include "mesh.h"
#include "util.h"
#include "xmalloc.h"


#define HTTP_PATH		"/mcp"
#define HTTP_ALLOW		"GET, POST, DELETE"
#define HTTP_SESSION_HEADER	"Mcp-Session-Id"
#define HTTP_VERSION_HEADER	"MCP-Protocol-Version"
#define HTTP_VERSION_ECHO_MAX	32	/* bytes of a bad version quoted back */

struct hconn;

/* A growable byte queue: POST bodies and GET stream output. */
struct hbuf {
	char		*p;
	size_t		 off;		/* consumed */
	size_t		 len;		/* filled */
	size_t		 cap;
};

/* One request of a POST, waiting for its answer. */
struct hslot {
	struct hconn		*hc;
	struct pending		*handle;	/* answer outstanding */
	struct json_object	*response;	/* the answer, owned */
};

enum hstate {
	HS_IDLE = 0,	/* between requests */
	HS_BODY,	/* POST: headers fine, collecting the body */
	HS_WAIT,	/* POST: dispatched, answers outstanding */
	HS_STREAM,	/* GET: server-initiated messages */
	HS_DONE,	/* response queued */
};

/* Our side of one HTTP session: who is waiting on it. */
struct hsess {
	struct session		*s;
	TAILQ_HEAD(, hconn)	 conns;		/* in HS_WAIT */
	struct hconn		*stream;	/* the GET stream, or NULL */
};

struct hconn {
	TAILQ_ENTRY(hconn)	 entry;		/* in hs->conns */
	struct MHD_Connection	*conn;
	int			 fd;
	struct event		*deadline;	/* request must be in by then */
	struct event		*watch;		/* hang-up, edge-triggered */

	/* The current request. */
	enum hstate		 state;
	struct hsess		*hs;		/* session bound, or NULL */
	int			 suspended;
	int			 gone;		/* client left: close, answer nothing */
	int			 hup;		/* the watch saw the hang-up */
	int			 ended;		/* session deleted meanwhile */
	int			 init;		/* initialize: the session is new */
	int			 batch;
	int			 too_large;	/* body over HTTP_BODY_MAX */
	struct hbuf		 body;
	struct hslot		 one;		/* a single request */
	struct hslot		*slots;		/* &one, or a batch's */
	unsigned		 nslots;
	unsigned		 nwait;		/* slots unanswered */

	/* A GET stream. */
	struct hbuf		 out;
	struct event		*keepalive;
};

static void	 http_run(void);
static void	 http_wake(void);
static void	 http_suspend(struct hconn *);
static void	 http_resume(struct hconn *);
static void	 http_session_end(struct hsess *);
static void	 http_stream_close(struct hconn *);
static enum MHD_Result http_answer(struct hconn *);

static struct MHD_Daemon	*httpd;
static struct event		*http_ev;	/* MHD's epoll fd readable */
static struct event		*http_timer;	/* MHD's timeout, or a wake-up */
static struct event		*http_sweep;	/* idle sessions */
static struct MHD_Response	*http_empty;	/* 200/202 without body */
static const struct timeval	*http_deadline_tv;
static int			 http_bound_port;
static int			 http_loopback;	/* Host checked */
static int			 http_kick;	/* resumed: run MHD again */
static unsigned			 http_nsessions;

/* --- buffers ------------------------------------------------------------- */

static void
hbuf_append(struct hbuf *b, const char *data, size_t len)
{
	size_t	 need;

	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	need = b->len + len;
	if (need > b->cap && b->off > 0) {
		/* Reuse the consumed head before growing. */
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		need = b->len + len;
	}
	if (need > b->cap) {
		b->cap = b->cap == 0 ? 4096 : b->cap;
		while (b->cap < need)
			b->cap *= 2;
		b->p = xreallocarray(b->p, 1, b->cap);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void
hbuf_free(struct hbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static size_t
hbuf_used(struct hbuf *b)
{
	return (b->len - b->off);
}

/*
 * One SSE event carrying a JSON-RPC message.  Compact JSON has no raw
 * newline, but a line break must never end the data field early, so any
 * becomes a continuation "data:" line.
 */
static void
http_sse_event(struct hbuf *b, const char *json, size_t len)
{
	const char	*nl;
	size_t		 n;

	hbuf_append(b, "event: message\ndata: ", 21);
	while ((nl = memchr(json, '\n', len)) != NULL) {
		n = nl - json;
		hbuf_append(b, json, n);
		hbuf_append(b, "\ndata: ", 7);
		json += n + 1;
		len -= n + 1;
	}
	hbuf_append(b, json, len);
	hbuf_append(b, "\n\n", 2);
}

/* --- responses ----------------------------------------------------------- */

static void
http_json_free(void *arg)
{
	json_object_put(arg);
}

/*
 * Queue msg (owned) as an application/json response.  The text is sent
 * from json-c's own buffer and freed with the object once MHD is done.
 */
static enum MHD_Result
http_send(struct hconn *hc, unsigned status, struct json_object *msg,
    const char *hname, const char *hvalue)
{
	struct MHD_Response	*r;
	const char		*text;
	size_t			 len;
	enum MHD_Result		 ret;

	hc->state = HS_DONE;
	text = jsonrpc_string(msg, &len);
	r = MHD_create_response_from_buffer_with_free_callback_cls(len,
	    (void *)text, http_json_free, msg);
	if (r == NULL) {
		json_object_put(msg);
		return (MHD_NO);
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
	if (hname != NULL)
		MHD_add_response_header(r, hname, hvalue);
	ret = MHD_queue_response(hc->conn, status, r);
	MHD_destroy_response(r);
	return (ret);
}

/* Transport errors: a JSON-RPC error without id, as the SDK sends. */
static enum MHD_Result
http_error(struct hconn *hc, unsigned status, int code, const char *fmt, ...)
{
	char	 msg[256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return (http_send(hc, status, jsonrpc_error(NULL, code, msg, NULL),
	    NULL, NULL));
}

static enum MHD_Result
http_empty_reply(struct hconn *hc, unsigned status)
{
	hc->state = HS_DONE;
	return (MHD_queue_response(hc->conn, status, http_empty));
}

/* --- the event loop glue ------------------------------------------------- */

static void
http_rearm(void)
{
	MHD_UNSIGNED_LONG_LONG	 ms;
	struct timeval		 tv;

	if (MHD_get_timeout(httpd, &ms) == MHD_YES) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(http_timer, &tv);
	} else
		evtimer_del(http_timer);
}

static void
http_run(void)
{
	http_kick = 0;
	MHD_run(httpd);
	/*
	 * A connection resumed from inside MHD's callbacks is not seen by
	 * this run, and MHD_get_timeout() does not say so: run again.
	 */
	if (http_kick)
		http_wake();
	else
		http_rearm();
}

static void
http_run_cb(evutil_socket_t fd, short what, void *arg)
{
	http_run();
}

/*
 * MHD must run soon: a connection was resumed from outside its callbacks.
 * The ITC would wake the epoll fd too; this does not depend on it.  The
 * run is made active rather than put on a zero timer: it happens in this
 * same turn of the loop, without another epoll_wait.
 */
static void
http_wake(void)
{
	http_kick = 1;
	event_active(http_timer, EV_TIMEOUT, 1);
}

/*
 * MHD does not see a hang-up while a connection is suspended, so each
 * connection has its own watch.  It stays registered for the connection's
 * life, edge-triggered (two epoll_ctl a call saved): a hang-up seen while
 * MHD still had the connection is remembered and acted on at suspend.
 */
static void
http_suspend(struct hconn *hc)
{
	MHD_suspend_connection(hc->conn);
	hc->suspended = 1;
	if (hc->hup)
		event_active(hc->watch, EV_CLOSED, 1);
}

static void
http_resume(struct hconn *hc)
{
	if (!hc->suspended)
		return;
	hc->suspended = 0;
	MHD_resume_connection(hc->conn);
	http_wake();
}

static void
http_mhd_log(void *arg, const char *fmt, va_list ap)
{
	char	 line[512];
	size_t	 n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_debug("http: mhd: %s", line);
}

/* --- requests answered --------------------------------------------------- */

static void
http_abandon_all(struct hconn *hc)
{
	struct pending	*h;
	unsigned	 i;

	for (i = 0; i < hc->nslots; i++) {
		if ((h = hc->slots[i].handle) == NULL)
			continue;
		/* Cleared first: no answer may reach this slot any more. */
		hc->slots[i].handle = NULL;
		hc->nwait--;
		mcp_abandon(h);
	}
}

static void
http_unbind(struct hconn *hc)
{
	if (hc->hs != NULL && hc->state != HS_STREAM)
		TAILQ_REMOVE(&hc->hs->conns, hc, entry);
	hc->hs = NULL;
}

/* Answers still owed to hc are not wanted any more. */
static void
http_forget(struct hconn *hc)
{
	struct hsess	*hs = hc->hs;

	http_abandon_all(hc);
	http_unbind(hc);
	if (hc->init && hs != NULL) {
		/* The client never learnt the id: nobody can use it. */
		hc->init = 0;
		http_session_end(hs);
	}
}

static void
http_reply_cb(void *arg, struct json_object *response)
{
	struct hslot	*slot = arg;
	struct hconn	*hc = slot->hc;

	slot->handle = NULL;
	slot->response = response;
	hc->nwait--;
	if (hc->nwait == 0 && hc->suspended)
		http_resume(hc);
}

/* Hand one checked request to mcp.c; the answer may come at once. */
static void
http_call(struct hconn *hc, struct hslot *slot, struct session *s,
    struct json_object *req)
{
	struct pending	*h;

	slot->hc = hc;
	slot->handle = NULL;
	slot->response = NULL;
	hc->nwait++;
	h = mcp_request(s, req, http_reply_cb, slot);
	if (slot->response != NULL)
		return;
	if (h == NULL) {
		/* Broken promise from mcp.c: answer rather than hang. */
		log_warnx("http: request neither answered nor pending");
		slot->response = jsonrpc_error(jsonrpc_id(req),
		    JSONRPC_INTERNAL_ERROR, "request was not answered", NULL);
		hc->nwait--;
		return;
	}
	slot->handle = h;
}

/* Answers all in (or none owed): suspend until they are, or send them. */
static enum MHD_Result
http_settle(struct hconn *hc)
{
	if (hc->nwait == 0)
		return (http_answer(hc));
	hc->state = HS_WAIT;
	http_suspend(hc);
	return (MHD_YES);
}

static enum MHD_Result
http_answer_batch(struct hconn *hc)
{
	struct json_object	*arr;
	unsigned		 i;

	arr = json_object_new_array();
	for (i = 0; i < hc->nslots; i++) {
		if (hc->slots[i].response == NULL)
			continue;
		json_object_array_add(arr, hc->slots[i].response);
		hc->slots[i].response = NULL;
	}
	if (json_object_array_length(arr) == 0) {
		/* Only notifications and responses: nothing to say. */
		json_object_put(arr);
		return (http_empty_reply(hc, MHD_HTTP_ACCEPTED));
	}
	return (http_send(hc, MHD_HTTP_OK, arr, NULL, NULL));
}

static enum MHD_Result
http_answer(struct hconn *hc)
{
	struct json_object	*resp;
	struct hsess		*hs = hc->hs;
	const char		*sid = NULL;

	http_unbind(hc);
	if (hc->ended)
		return (http_error(hc, MHD_HTTP_NOT_FOUND, MCP_SESSION_NOT_FOUND,
		    "Session not found"));
	if (hc->batch)
		return (http_answer_batch(hc));
	resp = hc->one.response;
	hc->one.response = NULL;
	if (hc->init) {
		hc->init = 0;
		/* mcp.c set initialized only if it accepted the client. */
		if (hs->s->initialized) {
			sid = hs->s->id;
			log_debug("http: session %.8s: initialized (%s)",
			    sid, hs->s->version);
		} else
			http_session_end(hs);
	}
	return (http_send(hc, MHD_HTTP_OK, resp,
	    sid != NULL ? HTTP_SESSION_HEADER : NULL, sid));
}

/* --- sessions ------------------------------------------------------------ */

static struct hsess *
http_session_new(void)
{
	struct hsess	*hs;

	hs = xcalloc(1, sizeof(*hs));
	hs->s = session_new(0);
	hs->s->frontend = hs;
	TAILQ_INIT(&hs->conns);
	http_nsessions++;
	return (hs);
}

/*
 * The session goes (DELETE, idle, failed initialize, shutdown).  Requests
 * still waiting on it are abandoned here so that session_free finds none
 * of ours, and their connections are answered 404.
 */
static void
http_session_end(struct hsess *hs)
{
	struct hconn	*hc;

	while ((hc = TAILQ_FIRST(&hs->conns)) != NULL) {
		http_abandon_all(hc);
		TAILQ_REMOVE(&hs->conns, hc, entry);
		hc->hs = NULL;
		hc->ended = 1;
		http_resume(hc);
	}
	if (hs->stream != NULL)
		http_stream_close(hs->stream);
	hs->s->frontend = NULL;
	hs->s->push = NULL;
	session_free(hs->s);
	free(hs);
	http_nsessions--;
}

static void
http_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s, *next;
	struct hsess	*hs;
	uint64_t	 now = now_ms();

	for (s = session_first(); s != NULL; s = next) {
		next = session_next(s);
		if (s->is_stdio || (hs = s->frontend) == NULL)
			continue;
		if (hs->stream != NULL || !TAILQ_EMPTY(&hs->conns) ||
		    s->npending > 0)
			continue;
		if (now - s->last_active_ms < HTTP_SESSION_IDLE_TIMEOUT_MS)
			continue;
		log_info("http: session %.8s: idle, closed", s->id);
		http_session_end(hs);
	}
}

/* The session named by the request's header, or an error already queued. */
static struct session *
http_session(struct hconn *hc, enum MHD_Result *ret)
{
	struct session	*s;
	const char	*sid, *v;
	char		 esc[HTTP_VERSION_ECHO_MAX * 4 + 1];

	sid = MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    HTTP_SESSION_HEADER);
	if (sid == NULL) {
		*ret = http_error(hc, MHD_HTTP_BAD_REQUEST, MCP_BAD_REQUEST,
		    "Bad Request: Mcp-Session-Id header is required");
		return (NULL);
	}
	s = session_find(sid);
	if (s == NULL || s->is_stdio || s->frontend == NULL) {
		*ret = http_error(hc, MHD_HTTP_NOT_FOUND, MCP_SESSION_NOT_FOUND,
		    "Session not found");
		return (NULL);
	}
	if (!s->initialized) {
		*ret = http_error(hc, MHD_HTTP_BAD_REQUEST, MCP_BAD_REQUEST,
		    "Bad Request: Server not initialized");
		return (NULL);
	}
	v = MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    HTTP_VERSION_HEADER);
	if (v != NULL && mcp_version_find(v, strlen(v)) == NULL) {
		/* The client's bytes, escaped: the answer must stay UTF-8. */
		log_escape(esc, sizeof(esc), v, strnlen(v, HTTP_VERSION_ECHO_MAX));
		*ret = http_error(hc, MHD_HTTP_BAD_REQUEST, MCP_BAD_REQUEST,
		    "Bad Request: Unsupported protocol version: %s", esc);
		return (NULL);
	}
	if (v != NULL && strcmp(v, s->version) != 0) {
		*ret = http_error(hc, MHD_HTTP_BAD_REQUEST, MCP_BAD_REQUEST,
		    "Bad Request: protocol version %.32s differs from the "
		    "session's %s", v, s->version);
		return (NULL);
	}
	session_touch(s);
	return (s);
}

/* --- header checks ------------------------------------------------------- */

/* localhost, 127.0.0.1 or [::1], with an optional port: nothing else. */
static int
http_local_hostport(const char *p)
{
	static const char	*hosts[] = { "localhost", "127.0.0.1", "[::1]" };
	size_t			 i, n;

	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		n = strlen(hosts[i]);
		if (strncasecmp(p, hosts[i], n) != 0)
			continue;
		p += n;
		if (*p == '\0')
			return (1);
		if (*p++ != ':' || *p == '\0')
			return (0);
		for (n = 0; p[n] != '\0'; n++) {
			if (p[n] < '0' || p[n] > '9' || n == 5)
				return (0);
		}
		return (1);
	}
	return (0);
}

static int
http_origin_ok(const char *o)
{
	if (strncasecmp(o, "http://", 7) == 0)
		return (http_local_hostport(o + 7));
	if (strncasecmp(o, "https://", 8) == 0)
		return (http_local_hostport(o + 8));
	return (0);
}

static int
http_accepts(struct hconn *hc, int json)
{
	const char	*a;

	a = MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ACCEPT);
	if (a == NULL || strcasestr(a, "text/event-stream") == NULL)
		return (0);
	return (!json || strcasestr(a, "application/json") != NULL);
}

/* application/json, parameters allowed. */
static int
http_is_json(struct hconn *hc)
{
	const char	*ct;
	size_t		 n = sizeof("application/json") - 1;

	ct = MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (ct == NULL)
		return (0);
	ct += strspn(ct, " \t");
	if (strncasecmp(ct, "application/json", n) != 0)
		return (0);
	ct += n;
	return (*ct == '\0' || *ct == ';' || *ct == ' ' || *ct == '\t');
}

/* Origin always, Host when bound to loopback: DNS rebinding. */
static int
http_forbidden(struct hconn *hc)
{
	const char	*v;

	v = MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ORIGIN);
	if (v != NULL && !http_origin_ok(v))
		return (1);
	if (!http_loopback)
		return (0);
	v = MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	return (v != NULL && !http_local_hostport(v));
}

/* --- POST ---------------------------------------------------------------- */

static enum MHD_Result
http_post_begin(struct hconn *hc)
{
	const char	*cl;

	if (!http_accepts(hc, 1))
		return (http_error(hc, MHD_HTTP_NOT_ACCEPTABLE, MCP_BAD_REQUEST,
		    "Not Acceptable: Client must accept both application/json "
		    "and text/event-stream"));
	if (!http_is_json(hc))
		return (http_error(hc, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    MCP_BAD_REQUEST,
		    "Unsupported Media Type: Content-Type must be "
		    "application/json"));
	cl = MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && strtoull(cl, NULL, 10) > HTTP_BODY_MAX)
		return (http_error(hc, MHD_HTTP_CONTENT_TOO_LARGE,
		    JSONRPC_INVALID_REQUEST, "Payload Too Large: body exceeds "
		    "%d bytes", HTTP_BODY_MAX));
	hc->state = HS_BODY;
	return (MHD_YES);
}

static enum MHD_Result
http_post_data(struct hconn *hc, const char *data, size_t *size)
{
	size_t	 n = *size;

	*size = 0;
	if (hc->too_large)
		return (MHD_YES);
	if (hbuf_used(&hc->body) + n > HTTP_BODY_MAX) {
		/*
		 * A chunked body has no Content-Length to refuse early, and
		 * MHD takes no response in mid-body: the rest is dropped
		 * (within the request deadline), then 413 is answered.
		 */
		hc->too_large = 1;
		hc->body.off = hc->body.len = 0;
		return (MHD_YES);
	}
	hbuf_append(&hc->body, data, n);
	return (MHD_YES);
}

static enum MHD_Result
http_post_initialize(struct hconn *hc, struct json_object *msg)
{
	enum MHD_Result	 ret;

	if (MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    HTTP_SESSION_HEADER) != NULL) {
		if (http_session(hc, &ret) == NULL)
			return (ret);
		return (http_error(hc, MHD_HTTP_BAD_REQUEST,
		    JSONRPC_INVALID_REQUEST,
		    "Invalid Request: Server already initialized"));
	}
	if (http_nsessions >= HTTP_SESSIONS_MAX) {
		log_warnx("http: %u sessions, initialize refused",
		    http_nsessions);
		return (http_send(hc, MHD_HTTP_SERVICE_UNAVAILABLE,
		    jsonrpc_error(jsonrpc_id(msg), MCP_BAD_REQUEST,
		    "Service Unavailable: too many sessions", NULL),
		    NULL, NULL));
	}
	/* mcp.c answers initialize on a session that must exist already. */
	hc->hs = http_session_new();
	TAILQ_INSERT_TAIL(&hc->hs->conns, hc, entry);
	hc->init = 1;
	hc->slots = &hc->one;
	hc->nslots = 1;
	http_call(hc, &hc->one, hc->hs->s, msg);
	return (http_settle(hc));
}

/* One element of a batch; a slot is used when an answer is owed. */
static void
http_batch_one(struct hconn *hc, struct session *s, struct json_object *m)
{
	struct hslot	*slot = &hc->slots[hc->nslots];
	const char	*why;

	switch (jsonrpc_check(m, &why)) {
	case JSONRPC_REQUEST:
		hc->nslots++;
		if (strcmp(jsonrpc_method(m), "initialize") == 0) {
			slot->response = jsonrpc_error(jsonrpc_id(m),
			    JSONRPC_INVALID_REQUEST,
			    "Invalid Request: initialize cannot be batched",
			    NULL);
			break;
		}
		http_call(hc, slot, s, m);
		break;
	case JSONRPC_NOTIFICATION:
		mcp_notification(s, m);
		break;
	case JSONRPC_RESPONSE:
		mcp_client_response(s, m);
		break;
	default:
		hc->nslots++;
		slot->response = jsonrpc_error(NULL, JSONRPC_INVALID_REQUEST,
		    why, NULL);
		break;
	}
}

static enum MHD_Result
http_post_batch(struct hconn *hc, struct json_object *arr)
{
	struct session	*s;
	enum MHD_Result	 ret;
	size_t		 i, n;

	if ((s = http_session(hc, &ret)) == NULL)
		return (ret);
	if (!(mcp_version_find(s->version, strlen(s->version))->flags &
	    MCP_VF_BATCH))
		return (http_error(hc, MHD_HTTP_BAD_REQUEST,
		    JSONRPC_INVALID_REQUEST, "batches are not supported in "
		    "protocol version %s", s->version));
	n = json_object_array_length(arr);
	if (n == 0 || n > HTTP_BATCH_MAX)
		return (http_error(hc, MHD_HTTP_BAD_REQUEST,
		    JSONRPC_INVALID_REQUEST, "Invalid Request: a batch holds "
		    "1 to %d messages", HTTP_BATCH_MAX));
	hc->batch = 1;
	hc->slots = xcalloc(n, sizeof(*hc->slots));
	hc->hs = s->frontend;
	TAILQ_INSERT_TAIL(&hc->hs->conns, hc, entry);
	for (i = 0; i < n; i++) {
		http_batch_one(hc, s, json_object_array_get_idx(arr, i));
		/* A session may end from inside mcp.c: stop feeding it. */
		if (hc->ended)
			break;
	}
	return (http_settle(hc));
}

static enum MHD_Result
http_post_one(struct hconn *hc, struct json_object *msg)
{
	struct session		*s;
	const char		*why;
	enum jsonrpc_kind	 kind;
	enum MHD_Result		 ret;

	kind = jsonrpc_check(msg, &why);
	if (kind == JSONRPC_INVALID)
		return (http_error(hc, MHD_HTTP_BAD_REQUEST,
		    JSONRPC_INVALID_REQUEST, "Invalid Request: %s", why));
	if (kind == JSONRPC_REQUEST &&
	    strcmp(jsonrpc_method(msg), "initialize") == 0)
		return (http_post_initialize(hc, msg));
	if ((s = http_session(hc, &ret)) == NULL)
		return (ret);
	switch (kind) {
	case JSONRPC_NOTIFICATION:
		mcp_notification(s, msg);
		return (http_empty_reply(hc, MHD_HTTP_ACCEPTED));
	case JSONRPC_RESPONSE:
		mcp_client_response(s, msg);
		return (http_empty_reply(hc, MHD_HTTP_ACCEPTED));
	default:
		break;
	}
	hc->hs = s->frontend;
	TAILQ_INSERT_TAIL(&hc->hs->conns, hc, entry);
	hc->slots = &hc->one;
	hc->nslots = 1;
	http_call(hc, &hc->one, s, msg);
	return (http_settle(hc));
}

/* The body is complete. */
static enum MHD_Result
http_post(struct hconn *hc)
{
	struct json_object	*msg;
	const char		*why;
	enum MHD_Result		 ret;

	evtimer_del(hc->deadline);
	if (hc->too_large)
		return (http_error(hc, MHD_HTTP_CONTENT_TOO_LARGE,
		    JSONRPC_INVALID_REQUEST, "Payload Too Large: body exceeds "
		    "%d bytes", HTTP_BODY_MAX));
	msg = jsonrpc_parse(hc->body.p != NULL ? hc->body.p + hc->body.off : "",
	    hbuf_used(&hc->body),
	    JSON_DEPTH_MAX, &why);
	if (msg == NULL)
		return (http_error(hc, MHD_HTTP_BAD_REQUEST, JSONRPC_PARSE_ERROR,
		    "Parse error: %s", why));
	if (json_object_is_type(msg, json_type_array))
		ret = http_post_batch(hc, msg);
	else
		ret = http_post_one(hc, msg);
	json_object_put(msg);
	return (ret);
}

/* Called again after a resume. */
static enum MHD_Result
http_post_resumed(struct hconn *hc)
{
	if (hc->gone)
		return (MHD_NO);	/* MHD closes the connection */
	if (hc->nwait > 0 && !hc->ended) {
		http_suspend(hc);
		return (MHD_YES);
	}
	return (http_answer(hc));
}

/* --- GET: the session's stream ------------------------------------------ */

static ssize_t
http_stream_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	struct hconn	*hc = arg;
	size_t		 n;

	if (hc->gone)
		return (MHD_CONTENT_READER_END_OF_STREAM);
	if ((n = hbuf_used(&hc->out)) == 0) {
		/* MHD would call again on every run: sleep until data. */
		http_suspend(hc);
		return (0);
	}
	if (n > max)
		n = max;
	memcpy(buf, hc->out.p + hc->out.off, n);
	hc->out.off += n;
	if (hc->out.off == hc->out.len)
		hc->out.off = hc->out.len = 0;
	return (n);
}

static void
http_stream_queued(struct hconn *hc)
{
	if (hc->suspended)
		http_resume(hc);
}

static void
http_push(struct session *s, const char *json, size_t len)
{
	struct hsess	*hs = s->frontend;
	struct hconn	*hc;

	if (hs == NULL || (hc = hs->stream) == NULL)
		return;
	if (hbuf_used(&hc->out) + len > HTTP_SSE_QUEUE_MAX) {
		/* A client that does not read loses its stream, not our memory. */
		log_warnx("http: session %.8s: stream not read, %zu bytes "
		    "queued: closed", s->id, hbuf_used(&hc->out));
		http_stream_close(hc);
		return;
	}
	http_sse_event(&hc->out, json, len);
	http_stream_queued(hc);
}

static void
http_keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn	*hc = arg;

	/* Proxies drop silent streams; dead clients show up on write. */
	if (hbuf_used(&hc->out) == 0) {
		hbuf_append(&hc->out, ": keepalive\n\n", 13);
		http_stream_queued(hc);
	}
}

/* The stream ends: the reader reports its end when MHD next asks. */
static void
http_stream_close(struct hconn *hc)
{
	struct hsess	*hs = hc->hs;

	if (hs != NULL) {
		hs->stream = NULL;
		hs->s->push = NULL;
		hc->hs = NULL;
	}
	if (hc->keepalive != NULL) {
		event_free(hc->keepalive);
		hc->keepalive = NULL;
	}
	hc->gone = 1;
	http_resume(hc);
}

static enum MHD_Result
http_get(struct hconn *hc)
{
	struct MHD_Response	*r;
	struct session		*s;
	struct hsess		*hs;
	struct timeval		 tv;
	enum MHD_Result		 ret;

	if (!http_accepts(hc, 0))
		return (http_error(hc, MHD_HTTP_NOT_ACCEPTABLE, MCP_BAD_REQUEST,
		    "Not Acceptable: Client must accept text/event-stream"));
	if ((s = http_session(hc, &ret)) == NULL)
		return (ret);
	hs = s->frontend;
	if (hs->stream != NULL)
		return (http_error(hc, MHD_HTTP_CONFLICT, MCP_BAD_REQUEST,
		    "Conflict: Only one SSE stream is allowed per session"));
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_SSE_BLOCK,
	    http_stream_read, hc, NULL);
	if (r == NULL)
		return (MHD_NO);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	MHD_add_response_header(r, HTTP_SESSION_HEADER, s->id);
	ret = MHD_queue_response(hc->conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	if (ret != MHD_YES)
		return (ret);

	hc->state = HS_STREAM;
	hc->hs = hs;
	hs->stream = hc;
	s->push = http_push;
	hc->keepalive = event_new(ev_base, -1, EV_PERSIST, http_keepalive_cb,
	    hc);
	tv.tv_sec = HTTP_SSE_KEEPALIVE_MS / 1000;
	tv.tv_usec = (HTTP_SSE_KEEPALIVE_MS % 1000) * 1000;
	evtimer_add(hc->keepalive, &tv);
	log_debug("http: session %.8s: stream open", s->id);
	return (MHD_YES);
}

/* --- DELETE -------------------------------------------------------------- */

static enum MHD_Result
http_delete(struct hconn *hc)
{
	struct session	*s;
	enum MHD_Result	 ret;

	if ((s = http_session(hc, &ret)) == NULL)
		return (ret);
	log_debug("http: session %.8s: deleted by the client", s->id);
	http_session_end(s->frontend);
	return (http_empty_reply(hc, MHD_HTTP_OK));
}

/* --- MHD callbacks ------------------------------------------------------- */

/* Headers are in: route, check, and answer at once unless a body follows. */
static enum MHD_Result
http_begin(struct hconn *hc, const char *url, const char *method)
{
	hc->state = HS_IDLE;
	if (strcmp(url, HTTP_PATH) != 0)
		return (http_error(hc, MHD_HTTP_NOT_FOUND, MCP_BAD_REQUEST,
		    "Not Found"));
	if (http_forbidden(hc))
		return (http_error(hc, MHD_HTTP_FORBIDDEN, MCP_BAD_REQUEST,
		    "Forbidden: invalid Origin or Host header"));
	if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
		return (http_post_begin(hc));
	evtimer_del(hc->deadline);
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
		return (http_get(hc));
	if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0)
		return (http_delete(hc));
	return (http_send(hc, MHD_HTTP_METHOD_NOT_ALLOWED,
	    jsonrpc_error(NULL, MCP_BAD_REQUEST, "Method not allowed", NULL),
	    MHD_HTTP_HEADER_ALLOW, HTTP_ALLOW));
}

static enum MHD_Result
http_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **req_cls)
{
	const union MHD_ConnectionInfo	*ci;
	struct hconn			*hc = *req_cls;

	if (hc == NULL) {
		ci = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		if (ci == NULL || (hc = ci->socket_context) == NULL)
			return (MHD_NO);
		*req_cls = hc;
		return (http_begin(hc, url, method));
	}
	switch (hc->state) {
	case HS_BODY:
		if (*size != 0)
			return (http_post_data(hc, data, size));
		return (http_post(hc));
	case HS_WAIT:
		return (http_post_resumed(hc));
	default:
		*size = 0;	/* answered early: drop the rest */
		return (MHD_YES);
	}
}

/* One request is over, answered or not; the connection may stay. */
static void
http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct hconn	*hc = *req_cls;
	unsigned	 i;

	if (hc == NULL)
		return;
	*req_cls = NULL;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && hc->nwait > 0)
		log_debug("http: client left before its answer");
	if (hc->state == HS_STREAM)
		http_stream_close(hc);
	http_forget(hc);
	for (i = 0; i < hc->nslots; i++) {
		if (hc->slots[i].response != NULL)
			json_object_put(hc->slots[i].response);
	}
	if (hc->slots != &hc->one)
		free(hc->slots);
	hc->slots = NULL;
	hc->nslots = hc->nwait = 0;
	hc->one.response = NULL;
	hc->suspended = hc->gone = hc->ended = hc->init = hc->batch = 0;
	hc->too_large = 0;
	hc->body.off = hc->body.len = 0;
	if (hc->body.cap > HTTP_BODY_KEEP)
		hbuf_free(&hc->body);
	hbuf_free(&hc->out);
	hc->state = HS_IDLE;
	evtimer_add(hc->deadline, http_deadline_tv);
}

/*
 * A request's headers and body must arrive within the idle timeout.  MHD's
 * own timeout restarts on every byte, so one byte a second would hold a
 * connection forever; shutting the socket down makes MHD close it.
 */
static void
http_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn	*hc = arg;

	log_debug("http: request not complete after %d s: dropped",
	    HTTP_CONN_IDLE_TIMEOUT_S);
	shutdown(hc->fd, SHUT_RDWR);
}

/* The peer hung up on a suspended connection. */
static void
http_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn	*hc = arg;

	hc->hup = 1;
	if (!hc->suspended)
		return;
	if (hc->state == HS_STREAM) {
		http_stream_close(hc);
		return;
	}
	log_debug("http: client left before its answer");
	http_forget(hc);
	hc->gone = 1;
	http_resume(hc);
}

static void
http_connection(void *cls, struct MHD_Connection *conn, void **sock_ctx,
    enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo	*ci;
	struct hconn			*hc;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		hc = xcalloc(1, sizeof(*hc));
		hc->conn = conn;
		ci = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		hc->fd = ci != NULL ? ci->connect_fd : -1;
		hc->deadline = evtimer_new(ev_base, http_deadline_cb, hc);
		evtimer_add(hc->deadline, http_deadline_tv);
		if (hc->fd != -1 && (event_base_get_features(ev_base) &
		    (EV_FEATURE_EARLY_CLOSE | EV_FEATURE_ET)) ==
		    (EV_FEATURE_EARLY_CLOSE | EV_FEATURE_ET)) {
			hc->watch = event_new(ev_base, hc->fd, EV_CLOSED |
			    EV_ET | EV_PERSIST, http_watch_cb, hc);
			if (hc->watch != NULL)
				event_add(hc->watch, NULL);
		}
		*sock_ctx = hc;
		return;
	}
	if ((hc = *sock_ctx) == NULL)
		return;
	*sock_ctx = NULL;
	event_free(hc->deadline);
	if (hc->watch != NULL)
		event_free(hc->watch);
	if (hc->keepalive != NULL)
		event_free(hc->keepalive);
	hbuf_free(&hc->body);
	hbuf_free(&hc->out);
	free(hc);
}

/* --- start and stop ------------------------------------------------------ */

static int
http_is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		return ((ntohl(sin->sin_addr.s_addr) >> 24) == 127);
	}
	sin6 = (const struct sockaddr_in6 *)sa;
	return (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
}

static struct MHD_Daemon *
http_daemon(const struct sockaddr *sa)
{
	unsigned int	 flags;

	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (sa->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The logger first, or MHD prints its early messages itself. */
	return (MHD_start_daemon(flags, 0, NULL, NULL, http_handler, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, sa,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_CONNECTIONS_MAX,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)HTTP_PER_IP_CONNECTIONS_MAX,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONN_IDLE_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY_MAX,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, http_connection, NULL,
	    MHD_OPTION_END));
}

static int
http_events(void)
{
	const union MHD_DaemonInfo	*di;
	struct timeval			 tv;

	if ((di = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_EPOLL_FD)) == NULL)
		return (-1);
	http_ev = event_new(ev_base, di->epoll_fd, EV_READ | EV_PERSIST,
	    http_run_cb, NULL);
	http_timer = evtimer_new(ev_base, http_run_cb, NULL);
	http_sweep = event_new(ev_base, -1, EV_PERSIST, http_sweep_cb, NULL);
	if (http_ev == NULL || http_timer == NULL || http_sweep == NULL)
		return (-1);
	event_add(http_ev, NULL);
	tv.tv_sec = HTTP_SESSION_SWEEP_MS / 1000;
	tv.tv_usec = 0;
	evtimer_add(http_sweep, &tv);
	tv.tv_sec = HTTP_CONN_IDLE_TIMEOUT_S;
	http_deadline_tv = event_base_init_common_timeout(ev_base, &tv);
	return (0);
}

int
http_start(const char *addr, int port)
{
	const union MHD_DaemonInfo	*di;
	struct addrinfo			 hints, *ai;
	char				 serv[16];
	int				 error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%d", port);
	if ((error = getaddrinfo(addr, serv, &hints, &ai)) != 0) {
		log_warnx("http: %s: %s", addr, gai_strerror(error));
		return (-1);
	}
	http_loopback = http_is_loopback(ai->ai_addr);
	httpd = http_daemon(ai->ai_addr);
	freeaddrinfo(ai);
	if (httpd == NULL) {
		log_warnx("http: cannot listen on %s port %d", addr, port);
		return (-1);
	}
	if (http_events() == -1) {
		log_warnx("http: cannot hook libmicrohttpd to the event loop");
		http_stop();
		return (-1);
	}
	http_empty = MHD_create_response_from_buffer(0, (void *)"",
	    MHD_RESPMEM_PERSISTENT);
	di = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT);
	http_bound_port = di != NULL ? di->port : port;
	if (strchr(addr, ':') != NULL)
		log_info("http: listening on http://[%s]:%d/mcp", addr,
		    http_bound_port);
	else
		log_info("http: listening on http://%s:%d/mcp", addr,
		    http_bound_port);
	http_rearm();
	return (0);
}

void
http_stop(void)
{
	struct session	*s, *next;

	if (httpd == NULL)
		return;
	/*
	 * MHD must not stop with suspended connections: ending the sessions
	 * resumes every one waiting on them.
	 */
	for (s = session_first(); s != NULL; s = next) {
		next = session_next(s);
		if (!s->is_stdio && s->frontend != NULL)
			http_session_end(s->frontend);
	}
	MHD_stop_daemon(httpd);
	httpd = NULL;
	if (http_ev != NULL)
		event_free(http_ev);
	if (http_timer != NULL)
		event_free(http_timer);
	if (http_sweep != NULL)
		event_free(http_sweep);
	http_ev = http_timer = http_sweep = NULL;
	if (http_empty != NULL)
		MHD_destroy_response(http_empty);
	http_empty = NULL;
	http_bound_port = 0;
}

int
http_port(void)
{
	return (http_bound_port);
}
