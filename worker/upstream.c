/*
 * The MCP client side of the worker: Streamable HTTP (legacy, 2024-11-05
 * to 2025-11-25) over one libcurl multi handle.  Every POST is its own
 * easy transfer, so many requests are in flight at once over keep-alive
 * connections; easy handles and their buffers come from a free list so a
 * call in the steady state costs no curl set-up and few allocations.
 *
 * A transfer (struct xfer) is in exactly one queue at a time: the pool
 * (idle), pending (to be added to the multi handle: adding from inside a
 * libcurl callback is refused), waiting (held while the session is being
 * re-initialized) or running.  Requests from the supervisor are also in
 * a tree by id, for MSG_CANCEL and duplicate detection.
 *
 * Nothing here trusts the gateway: bodies and events are bounded by the
 * peer's response cap (UPSTREAM_RESPONSE_MAX unless configured), every
 * JSON text goes through jsonrpc_parse() and jsonrpc_check(), and every
 * request gets exactly one answer (RESPONSE or CALLFAIL) unless the
 * supervisor cancelled it.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "jsonrpc.h"
#include "jsonscan.h"
#include "mcp-version.h"
#include "mesh-proto.h"
#include "sse.h"
#include "util.h"
#include "worker.h"
#include "xmalloc.h"

enum xfer_kind {
	XFER_CALL,		/* a request from the supervisor */
	XFER_POST,		/* notification or answer: no result wanted */
	XFER_INIT,		/* initialize */
	XFER_INITIALIZED,	/* notifications/initialized */
	XFER_LIST,		/* one tools/list page */
	XFER_GET,		/* the standalone GET stream */
};

enum xfer_body {
	BODY_NONE,		/* no body byte yet */
	BODY_JSON,
	BODY_SSE,
	BODY_ERROR,		/* HTTP status not 2xx: keep a snippet */
};

struct xbuf {
	char		*p;
	size_t		 len;
	size_t		 cap;
};

TAILQ_HEAD(xferq, xfer);

struct xfer {
	RB_ENTRY(xfer)		 node;
	TAILQ_ENTRY(xfer)	 entry;
	struct xferq		*queue;
	CURL			*easy;
	enum xfer_kind		 kind;
	enum xfer_body		 body_kind;
	uint64_t		 id;		/* XFER_CALL: the supervisor's */
	char			 rid[32];	/* our own requests' id */
	long			 status;
	int			 answered;
	int			 reinits;
	int			 had_session;
	unsigned		 gen;
	struct up_hdrs		*hdrs;
	struct curl_slist	*own_hdrs;	/* XFER_GET */
	struct json_object	*result;	/* handshake answer via SSE */
	struct xbuf		 body;		/* what we POST */
	struct xbuf		 resp;		/* JSON body or error snippet */
	struct sse		 sse;
	char			 reason[WORKER_REASON_MAX];
	char			 errbuf[CURL_ERROR_SIZE];
};

RB_HEAD(xfer_tree, xfer);

/* The headers of one session, shared by the transfers that use them. */
struct up_hdrs {
	int			 refs;
	struct curl_slist	*list;
};

static struct {
	CURLM			*multi;
	char			 url[PEER_URL_MAX + 1];	/* without user:pass */
	uint16_t		 port;		/* the gateway's, for Landlock */
	struct curl_slist	*resolve;	/* pinned address, if a name */
	int			 connect_fails;	/* calls in a row */
	int			 ready;		/* READY sent */
	int			 reinit;	/* re-initializing after 404 */
	int			 listing;
	int			 relist;	/* list_changed while listing */
	uint64_t		 deadline;	/* of the running handshake */
	char			 session[UPSTREAM_SESSION_ID_MAX + 1];
	char			 newsession[UPSTREAM_SESSION_ID_MAX + 1];
	char			 version[16];
	unsigned		 gen;		/* session generation */
	unsigned		 nextid;
	struct up_hdrs		*hdrs;
	struct json_object	*init;		/* initialize result */
	struct json_object	*tools;		/* being listed */
	char			**cursors;
	size_t			 ncursors;
	struct xfer		*get;
	int			 get_off;	/* 405: no GET stream */
	uint64_t		 get_retry_at;
	struct xferq		 pool, pending, waiting, running;
	size_t			 npool;
	struct xfer_tree	 calls;
	size_t			 ncalls;
} up;

static int	 xfer_cmp(struct xfer *, struct xfer *);
RB_PROTOTYPE_STATIC(xfer_tree, xfer, node, xfer_cmp);

static void	 xbuf_set(struct xbuf *, const char *, size_t);
static struct up_hdrs *up_hdrs_new(void);
static void	 up_hdrs_unref(struct up_hdrs *);
static void	 xq_move(struct xfer *, struct xferq *);
static struct xfer *xfer_get(enum xfer_kind);
static void	 xfer_put(struct xfer *);
static void	 xfer_post(struct xfer *, long);
static void	 xfer_detach(struct xfer *);
static void	 xfer_begin(struct xfer *);
static size_t	 xfer_write(char *, size_t, size_t, void *);
static size_t	 xfer_header(char *, size_t, size_t, void *);
static int	 xfer_event(void *, const char *, const char *, size_t,
		    const char *);
static int	 xfer_curl_reason(struct xfer *, CURLcode, char *, size_t);
static int	 xfer_outcome(struct xfer *, CURLcode, char *, size_t);
static struct json_object *xfer_answer(struct xfer *, CURLcode, int *,
		    char *, size_t);
static void	 xfer_done(struct xfer *, CURLcode);
static void	 up_post_text(const char *, size_t);
static void	 up_server_request(struct json_object *);
static void	 up_call_answer(struct xfer *, const char *, size_t);
static void	 up_call_message(struct xfer *, const char *, size_t);
static void	 up_call_done(struct xfer *, CURLcode);
static void	 up_count_connect(CURLcode);
static void	 up_own_request(const char *, struct json_object *,
		    enum xfer_kind);
static void	 up_handshake_fail(struct xfer *, int, const char *);
static size_t	 xfer_discard(char *, size_t, size_t, void *);
static void	 up_init_start(void);
static void	 up_init_done(struct xfer *, CURLcode);
static void	 up_initialized_done(struct xfer *, CURLcode);
static void	 up_list_start(void);
static void	 up_list_page(const char *);
static void	 up_list_done(struct xfer *, CURLcode);
static void	 up_list_finish(void);
static void	 up_reinit_done(void);
static void	 up_get_start(void);
static void	 up_get_done(struct xfer *, CURLcode);

RB_GENERATE_STATIC(xfer_tree, xfer, node, xfer_cmp);

static int
xfer_cmp(struct xfer *a, struct xfer *b)
{
	return (a->id < b->id ? -1 : a->id > b->id);
}

static void
xbuf_set(struct xbuf *b, const char *p, size_t len)
{
	if (len + 1 > b->cap) {
		b->p = xreallocarray(b->p, 1, len + 1);
		b->cap = len + 1;
	}
	memcpy(b->p, p, len);
	b->p[len] = '\0';
	b->len = len;
}

static struct up_hdrs *
up_hdrs_new(void)
{
	struct up_hdrs		*h;
	struct curl_slist	*l = NULL;
	char			 line[64 + UPSTREAM_SESSION_ID_MAX];

	h = xcalloc(1, sizeof(*h));
	h->refs = 1;
	l = curl_slist_append(l, "Accept: application/json, text/event-stream");
	l = curl_slist_append(l, "Content-Type: application/json");
	/* A round trip per POST for "100 Continue" is pure latency here. */
	l = curl_slist_append(l, "Expect:");
	if (up.session[0] != '\0') {
		snprintf(line, sizeof(line), "Mcp-Session-Id: %s", up.session);
		l = curl_slist_append(l, line);
	}
	if (up.version[0] != '\0') {
		snprintf(line, sizeof(line), "MCP-Protocol-Version: %s",
		    up.version);
		l = curl_slist_append(l, line);
	}
	if (l == NULL)
		fatalx("curl_slist_append failed");
	h->list = l;
	return (h);
}

static void
up_hdrs_unref(struct up_hdrs *h)
{
	if (h == NULL || --h->refs > 0)
		return;
	curl_slist_free_all(h->list);
	free(h);
}

static void
xq_move(struct xfer *x, struct xferq *q)
{
	if (x->queue != NULL)
		TAILQ_REMOVE(x->queue, x, entry);
	x->queue = q;
	if (q != NULL)
		TAILQ_INSERT_TAIL(q, x, entry);
}

/* A transfer from the pool, or a new one with the fixed options set. */
static struct xfer *
xfer_get(enum xfer_kind kind)
{
	struct xfer	*x;
	CURL		*e;

	if ((x = TAILQ_FIRST(&up.pool)) != NULL) {
		xq_move(x, NULL);
		up.npool--;
	} else {
		x = xcalloc(1, sizeof(*x));
		if ((e = curl_easy_init()) == NULL)
			fatalx("curl_easy_init failed");
		x->easy = e;
		sse_init(&x->sse, worker_conf.response_max, xfer_event, x);
		curl_easy_setopt(e, CURLOPT_URL, up.url);
		curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
		    worker_conf.connect_timeout_ms);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_write);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, xfer_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
		curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
		curl_easy_setopt(e, CURLOPT_PRIVATE, x);
		curl_easy_setopt(e, CURLOPT_RESOLVE, up.resolve);
	}
	x->kind = kind;
	x->body_kind = BODY_NONE;
	x->id = 0;
	x->rid[0] = x->reason[0] = x->errbuf[0] = '\0';
	x->status = 0;
	x->answered = x->reinits = x->had_session = 0;
	x->resp.len = 0;
	sse_reset(&x->sse);
	return (x);
}

static void
xfer_put(struct xfer *x)
{
	xq_move(x, NULL);
	up_hdrs_unref(x->hdrs);
	x->hdrs = NULL;
	curl_slist_free_all(x->own_hdrs);
	x->own_hdrs = NULL;
	if (x->result != NULL) {
		json_object_put(x->result);
		x->result = NULL;
	}
	/* The GET transfer changed its method: not worth undoing. */
	if (x->kind != XFER_GET && up.npool < UPSTREAM_XFER_POOL_MAX &&
	    up.multi != NULL) {
		if (x->resp.cap > UPSTREAM_XFER_KEEP_MAX) {
			free(x->resp.p);
			x->resp.p = NULL;
			x->resp.cap = 0;
		}
		if (x->body.cap > UPSTREAM_XFER_KEEP_MAX) {
			free(x->body.p);
			x->body.p = NULL;
			x->body.cap = 0;
		}
		xq_move(x, &up.pool);
		up.npool++;
		return;
	}
	curl_easy_cleanup(x->easy);
	sse_free(&x->sse);
	free(x->resp.p);
	free(x->body.p);
	free(x);
}

/*
 * A call has no libcurl timeout: the supervisor's deadline, which
 * progress notifications extend, answers the client and cancels it here
 * (MSG_CANCEL).  Other POSTs (notifications, answers to the gateway's
 * requests, a re-initialize) have the deadline plus a grace.
 */
static long
up_xfer_timeout(struct xfer *x)
{
	if (x->kind == XFER_CALL)
		return (0);
	return (worker_conf.request_timeout_ms + UPSTREAM_DEADLINE_GRACE_MS);
}

/* POST x->body with the current session's headers. */
static void
xfer_post(struct xfer *x, long timeout_ms)
{
	if (x->hdrs != up.hdrs) {
		up_hdrs_unref(x->hdrs);
		x->hdrs = up.hdrs;
		x->hdrs->refs++;
	}
	x->gen = up.gen;
	x->had_session = up.session[0] != '\0';
	x->body_kind = BODY_NONE;
	x->status = 0;
	x->resp.len = 0;
	x->reason[0] = x->errbuf[0] = '\0';
	sse_reset(&x->sse);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs->list);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body.p);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)x->body.len);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	xq_move(x, &up.pending);
}

/* Out of the multi handle and every queue (not the tree). */
static void
xfer_detach(struct xfer *x)
{
	if (x->queue == &up.running)
		curl_multi_remove_handle(up.multi, x->easy);
	xq_move(x, NULL);
}

/* First body byte: the status and Content-Type decide how to read it. */
static void
xfer_begin(struct xfer *x)
{
	char	*ct = NULL;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct);
	if (x->status < 200 || x->status > 299)
		x->body_kind = BODY_ERROR;
	else if (ct != NULL && strncasecmp(ct, "text/event-stream", 17) == 0)
		x->body_kind = BODY_SSE;
	else
		x->body_kind = BODY_JSON;
}

static size_t
xfer_write(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer	*x = arg;
	size_t		 len = size * n, room;

	if (x->body_kind == BODY_NONE)
		xfer_begin(x);
	switch (x->body_kind) {
	case BODY_ERROR:
		/* Only the start is quoted in the reason. */
		room = UPSTREAM_ERROR_SNIPPET - x->resp.len;
		if (len < room)
			room = len;
		break;
	case BODY_SSE:
		if (sse_feed(&x->sse, buf, len) == -1) {
			if (x->reason[0] == '\0')
				snprintf(x->reason, sizeof(x->reason),
				    "response larger than %ld bytes",
				    worker_conf.response_max);
			return (0);
		}
		return (len);
	default:
		room = len;
		if (x->resp.len + len > (size_t)worker_conf.response_max) {
			snprintf(x->reason, sizeof(x->reason),
			    "response larger than %ld bytes",
			    worker_conf.response_max);
			return (0);
		}
		break;
	}
	if (x->resp.len + room + 1 > x->resp.cap) {
		x->resp.cap = x->resp.len + room + 1;
		if (x->resp.cap < 2 * x->resp.len)
			x->resp.cap = 2 * x->resp.len;
		x->resp.p = xreallocarray(x->resp.p, 1, x->resp.cap);
	}
	memcpy(x->resp.p + x->resp.len, buf, room);
	x->resp.len += room;
	return (len);
}

static size_t
xfer_discard(char *buf, size_t size, size_t n, void *arg)
{
	return (size * n);
}

/* Only initialize's answer hands out the session id. */
static size_t
xfer_header(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer	*x = arg;
	size_t		 len = size * n, i;
	const char	*v;

	if (x->kind != XFER_INIT || len < 15 ||
	    strncasecmp(buf, "mcp-session-id:", 15) != 0)
		return (len);
	v = buf + 15;
	len -= 15;
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
	    v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	for (i = 0; i < len; i++)
		if (v[i] < 0x21 || v[i] > 0x7e)
			break;
	if (len == 0 || len > UPSTREAM_SESSION_ID_MAX || i != len) {
		snprintf(x->reason, sizeof(x->reason), "invalid "
		    "Mcp-Session-Id from %s", up.url);
		return (0);
	}
	memcpy(up.newsession, v, len);
	up.newsession[len] = '\0';
	return (size * n);
}

/*
 * One SSE event.  For a call it is a message to route; for our own
 * requests the matching response is kept for xfer_done().
 */
static int
xfer_event(void *arg, const char *type, const char *data, size_t len,
    const char *id)
{
	struct xfer		*x = arg;
	struct json_object	*m, *mid;
	const char		*why;
	enum jsonrpc_kind	 kind;

	if (strcmp(type, "message") != 0) {
		log_debug("ignored SSE event type %.32s",
		    type);
		return (0);
	}
	if (x->kind == XFER_CALL) {
		up_call_message(x, data, len);
		return (0);
	}
	if ((m = jsonrpc_parse(data, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    (kind = jsonrpc_check(m, &why)) == JSONRPC_INVALID) {
		log_warnx("bad message on SSE stream: %s",
		    why);
		json_object_put(m);
		return (0);
	}
	if (kind == JSONRPC_REQUEST)
		up_server_request(m);
	else if (kind == JSONRPC_NOTIFICATION && x->kind == XFER_GET) {
		if (strcmp(jsonrpc_method(m),
		    "notifications/tools/list_changed") == 0)
			up_list_start();
		else
			sup_send(MSG_NOTIFY_UP, 0, data, len);
	} else if (kind == JSONRPC_RESPONSE && x->result == NULL &&
	    (mid = jsonrpc_id(m)) != NULL &&
	    json_object_is_type(mid, json_type_string) &&
	    strcmp(json_object_get_string(mid), x->rid) == 0) {
		x->result = m;
		return (0);
	}
	json_object_put(m);
	return (0);
}

/* Why libcurl gave up, as the sysexit the worker would die with. */
static int
xfer_curl_reason(struct xfer *x, CURLcode rc, char *buf, size_t len)
{
	const char	*err = x->errbuf[0] != '\0' ? x->errbuf :
			    curl_easy_strerror(rc);
	long		 oserr = 0;

	if (x->reason[0] != '\0') {
		/* We aborted it ourselves and said why. */
		strlcpy(buf, x->reason, len);
		return (EX_PROTOCOL);
	}
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr);
		snprintf(buf, len, "connect to %s: %s", up.url,
		    oserr != 0 ? strerror((int)oserr) : err);
		return (EX_UNAVAILABLE);
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(buf, len, "resolve %s: %s", up.url, err);
		return (EX_UNAVAILABLE);
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(buf, len, "%s: timed out (%s)", up.url, err);
		return (EX_UNAVAILABLE);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		snprintf(buf, len, "bad URL %s: %s", up.url, err);
		return (EX_CONFIG);
	case CURLE_WEIRD_SERVER_REPLY:
		snprintf(buf, len, "%s: not HTTP: %s", up.url, err);
		return (EX_PROTOCOL);
	default:
		snprintf(buf, len, "%s: %s", up.url, err);
		return (EX_UNAVAILABLE);
	}
}

/* 0 for a finished 2xx transfer, else a sysexit and the reason. */
static int
xfer_outcome(struct xfer *x, CURLcode rc, char *buf, size_t len)
{
	char	esc[UPSTREAM_ERROR_SNIPPET * 4 + 1];

	if (rc != CURLE_OK)
		return (xfer_curl_reason(x, rc, buf, len));
	if (x->status >= 200 && x->status <= 299)
		return (0);
	log_escape(esc, sizeof(esc), x->resp.p != NULL ? x->resp.p : "",
	    x->body_kind == BODY_ERROR ? x->resp.len : 0);
	snprintf(buf, len, "HTTP %ld from %s: %s",
	    x->status, up.url, esc);
	if (x->status == 401 || x->status == 403)
		return (EX_NOPERM);
	return (EX_PROTOCOL);
}

/*
 * The JSON-RPC response to one of our own requests (handshake), from a
 * JSON body or kept from the SSE stream.  NULL with *ex and the reason on
 * failure; a JSON-RPC error response is a failure too.
 */
static struct json_object *
xfer_answer(struct xfer *x, CURLcode rc, int *ex, char *buf, size_t len)
{
	struct json_object	*m = NULL, *mid, *e;
	const char		*why = NULL;
	char			 esc[UPSTREAM_ERROR_SNIPPET * 4 + 1];

	if ((*ex = xfer_outcome(x, rc, buf, len)) != 0)
		return (NULL);
	*ex = EX_PROTOCOL;
	if (x->body_kind == BODY_SSE) {
		if ((m = x->result) == NULL) {
			snprintf(buf, len, "SSE stream from %s ended "
			    "without a response", up.url);
			return (NULL);
		}
		x->result = NULL;
	} else if ((m = jsonrpc_parse(x->resp.p, x->resp.len, JSON_DEPTH_MAX,
	    &why)) == NULL || jsonrpc_check(m, &why) != JSONRPC_RESPONSE ||
	    (mid = jsonrpc_id(m)) == NULL ||
	    !json_object_is_type(mid, json_type_string) ||
	    strcmp(json_object_get_string(mid), x->rid) != 0) {
		log_escape(esc, sizeof(esc), x->resp.p != NULL ? x->resp.p : "",
		    x->resp.len < UPSTREAM_ERROR_SNIPPET ? x->resp.len :
		    UPSTREAM_ERROR_SNIPPET);
		snprintf(buf, len, "%s is not an MCP server (%s): %s", up.url,
		    why != NULL ? why : "not the response wanted", esc);
		json_object_put(m);
		return (NULL);
	}
	if (json_object_object_get_ex(m, "error", &e)) {
		snprintf(buf, len, "%s answered %s with an error: %.200s",
		    up.url, x->rid, json_object_to_json_string_ext(e,
		    JSON_C_TO_STRING_PLAIN));
		json_object_put(m);
		return (NULL);
	}
	*ex = 0;
	return (m);
}

static void
xfer_done(struct xfer *x, CURLcode rc)
{
	char	reason[WORKER_REASON_MAX];

	switch (x->kind) {
	case XFER_CALL:
		up_call_done(x, rc);
		return;
	case XFER_INIT:
		up_init_done(x, rc);
		break;
	case XFER_INITIALIZED:
		up_initialized_done(x, rc);
		break;
	case XFER_LIST:
		up_list_done(x, rc);
		break;
	case XFER_GET:
		up_get_done(x, rc);
		return;
	case XFER_POST:
		if (xfer_outcome(x, rc, reason, sizeof(reason)) != 0)
			log_warnx("POST of a notification or answer: %s",
			    reason);
		break;
	}
	xfer_put(x);
}

/* A notification or answer to the gateway; nobody waits for its result. */
static void
up_post_text(const char *buf, size_t len)
{
	struct xfer	*x;

	x = xfer_get(XFER_POST);
	xbuf_set(&x->body, buf, len);
	if (up.reinit) {
		xq_move(x, &up.waiting);
		return;
	}
	xfer_post(x, up_xfer_timeout(x));
}

/*
 * The gateway asks us something on an SSE stream.  ping is answered
 * here; sampling, elicitation and roots are not relayed (yet): saying so
 * beats leaving the tool call hanging.
 */
static void
up_server_request(struct json_object *m)
{
	struct json_object	*a;
	const char		*method = jsonrpc_method(m), *s;
	char			 msg[128], esc[64];
	size_t			 len;

	if (strcmp(method, "ping") == 0)
		a = jsonrpc_result(jsonrpc_id(m), json_object_new_object());
	else {
		log_escape(esc, sizeof(esc), method, strlen(method));
		snprintf(msg, sizeof(msg), "mcp-mesh does not relay %s yet",
		    esc);
		log_info("refused %s from the gateway",
		    esc);
		a = jsonrpc_error(jsonrpc_id(m), JSONRPC_METHOD_NOT_FOUND, msg,
		    NULL);
	}
	s = jsonrpc_string(a, &len);
	up_post_text(s, len);
	json_object_put(a);
}

/* The answer to call x: checked, then forwarded as received. */
static void
up_call_answer(struct xfer *x, const char *buf, size_t len)
{
	struct json_object	*m, *mid;
	const char		*why;
	char			 reason[WORKER_REASON_MAX], *canon;
	enum jsonrpc_kind	 kind;
	size_t			 clen;

	x->answered = 1;
	/* A plain result goes in the shape the supervisor forwards fast. */
	if ((clen = jsonrpc_canon_make(buf, len, x->id, &canon)) != 0) {
		sup_send(MSG_RESPONSE, x->id, canon, clen);
		free(canon);
		return;
	}
	if ((m = jsonrpc_parse(buf, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    (kind = jsonrpc_check(m, &why)) == JSONRPC_INVALID) {
		snprintf(reason, sizeof(reason), "the gateway answered with "
		    "invalid JSON-RPC: %s", why);
		sup_send_reason(MSG_CALLFAIL, x->id, reason);
	} else if (kind != JSONRPC_RESPONSE) {
		snprintf(reason, sizeof(reason), "the gateway answered with a "
		    "%s, not a response", kind == JSONRPC_REQUEST ?
		    "request" : "notification");
		sup_send_reason(MSG_CALLFAIL, x->id, reason);
	} else if ((mid = jsonrpc_id(m)) == NULL ||
	    !json_object_is_type(mid, json_type_int) ||
	    (uint64_t)json_object_get_int64(mid) != x->id) {
		snprintf(reason, sizeof(reason),
		    "the gateway answered with a wrong id");
		sup_send_reason(MSG_CALLFAIL, x->id, reason);
	} else
		sup_send(MSG_RESPONSE, x->id, buf, len);
	json_object_put(m);
}

/* One message on a call's SSE stream. */
static void
up_call_message(struct xfer *x, const char *data, size_t len)
{
	struct json_object	*m;
	const char		*why;
	enum jsonrpc_kind	 kind;

	if ((m = jsonrpc_parse(data, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    (kind = jsonrpc_check(m, &why)) == JSONRPC_INVALID) {
		json_object_put(m);
		if (!x->answered)
			up_call_answer(x, data, len);	/* says why */
		return;
	}
	if (kind == JSONRPC_REQUEST)
		up_server_request(m);
	else if (kind == JSONRPC_NOTIFICATION) {
		if (!x->answered)
			sup_send(MSG_NOTIFY_UP, x->id, data, len);
	} else if (!x->answered)
		up_call_answer(x, data, len);
	else
		log_warnx("second response to request %llu ignored",
		    (unsigned long long)x->id);
	json_object_put(m);
}

static void
up_call_done(struct xfer *x, CURLcode rc)
{
	char	reason[WORKER_REASON_MAX];

	if (!x->answered && rc == CURLE_OK && x->status == 404 &&
	    x->had_session && x->reinits < UPSTREAM_REINIT_MAX) {
		/* The gateway forgot our session: a new one, then again. */
		x->reinits++;
		xq_move(x, &up.waiting);
		if (x->gen == up.gen && !up.reinit) {
			log_info("session expired, initializing again");
			up.reinit = 1;
			up_init_start();
		} else if (!up.reinit)
			xfer_post(x, up_xfer_timeout(x));
		return;
	}
	if (!x->answered) {
		if (xfer_outcome(x, rc, reason, sizeof(reason)) != 0)
			;
		else if (x->body_kind == BODY_JSON)
			reason[0] = '\0';
		else if (x->body_kind == BODY_SSE)
			snprintf(reason, sizeof(reason), "stream ended "
			    "without a response");
		else
			snprintf(reason, sizeof(reason), "HTTP %ld without "
			    "a response", x->status);
		if (reason[0] == '\0')
			up_call_answer(x, x->resp.p, x->resp.len);
		else
			sup_send_reason(MSG_CALLFAIL, x->id, reason);
	}
	RB_REMOVE(xfer_tree, &up.calls, x);
	up.ncalls--;
	xfer_put(x);
	up_count_connect(rc);
}

/*
 * The gateway's host name was resolved once, before the sandbox.  When
 * calls keep failing to connect, the name may point elsewhere now: exit
 * (temporary failure) and let a new worker resolve it again.  A URL with
 * an address has nothing to re-resolve and keeps trying call by call.
 */
static void
up_count_connect(CURLcode rc)
{
	if (rc != CURLE_COULDNT_CONNECT) {
		up.connect_fails = 0;
		return;
	}
	if (up.resolve != NULL &&
	    ++up.connect_fails >= UPSTREAM_CONNECT_FAILS_MAX)
		sup_fail(EX_UNAVAILABLE, "%d calls in a row could not "
		    "connect to %s; resolving its name again", up.connect_fails,
		    up.url);
}

/* POST one of our own requests, within the handshake's deadline. */
static void
up_own_request(const char *method, struct json_object *params,
    enum xfer_kind kind)
{
	struct json_object	*id, *m;
	struct xfer		*x;
	const char		*s;
	size_t			 len;
	uint64_t		 now = now_ms();

	x = xfer_get(kind);
	/* A string id can never collide with the supervisor's integers. */
	snprintf(x->rid, sizeof(x->rid), "mesh-%u", ++up.nextid);
	id = json_object_new_string(x->rid);
	if (kind == XFER_INITIALIZED)
		m = jsonrpc_notification(method, params);
	else
		m = jsonrpc_request(id, method, params);
	s = jsonrpc_string(m, &len);
	xbuf_set(&x->body, s, len);
	json_object_put(m);
	json_object_put(id);
	xfer_post(x, up.deadline > now ? (long)(up.deadline - now) : 1);
}

static void
up_handshake_fail(struct xfer *failed, int ex, const char *reason)
{
	struct xfer	*x;

	if (!up.ready)
		sup_fail(ex, "%s", reason);
	if (failed->kind != XFER_LIST) {
		/* The held requests will not be sent: answer them now. */
		while ((x = TAILQ_FIRST(&up.waiting)) != NULL) {
			if (x->kind == XFER_CALL) {
				sup_send_reason(MSG_CALLFAIL, x->id, reason);
				RB_REMOVE(xfer_tree, &up.calls, x);
				up.ncalls--;
			}
			xfer_put(x);
		}
		log_warnx("re-initialize failed: %s", reason);
		worker_exit(ex);
	}
	log_warnx("tools/list after list_changed failed: %s", reason);
	up.listing = 0;
}

static void
up_init_start(void)
{
	struct json_object	*p, *ci;

	up.deadline = now_ms() + UPSTREAM_INIT_TIMEOUT_MS;
	up.session[0] = up.version[0] = up.newsession[0] = '\0';
	up_hdrs_unref(up.hdrs);
	up.hdrs = up_hdrs_new();
	p = json_object_new_object();
	json_object_object_add(p, "protocolVersion",
	    json_object_new_string(mcp_version_newest(MCP_ERA_LEGACY)->name));
	json_object_object_add(p, "capabilities", json_object_new_object());
	ci = json_object_new_object();
	json_object_object_add(ci, "name", json_object_new_string("mcp-mesh"));
	json_object_object_add(ci, "version",
	    json_object_new_string(worker_conf.mesh_version));
	json_object_object_add(p, "clientInfo", ci);
	up_own_request("initialize", p, XFER_INIT);
}

static void
up_init_done(struct xfer *x, CURLcode rc)
{
	struct json_object	*m, *r, *v;
	const struct mcp_version *ver;
	char			 reason[WORKER_REASON_MAX], esc[64];
	const char		*s;
	int			 ex;

	if ((m = xfer_answer(x, rc, &ex, reason, sizeof(reason))) == NULL) {
		up_handshake_fail(x, ex, reason);
		return;
	}
	if (!json_object_object_get_ex(m, "result", &r) ||
	    !json_object_is_type(r, json_type_object) ||
	    !json_object_object_get_ex(r, "protocolVersion", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		json_object_put(m);
		snprintf(reason, sizeof(reason), "%s: initialize result "
		    "without protocolVersion", up.url);
		up_handshake_fail(x, EX_PROTOCOL, reason);
		return;
	}
	s = json_object_get_string(v);
	if ((ver = mcp_version_find(s, json_object_get_string_len(v))) ==
	    NULL || !(ver->era & MCP_ERA_LEGACY)) {
		log_escape(esc, sizeof(esc), s, strlen(s));
		snprintf(reason, sizeof(reason), "%s speaks unsupported "
		    "protocol version %s", up.url, esc);
		json_object_put(m);
		up_handshake_fail(x, EX_PROTOCOL, reason);
		return;
	}
	strlcpy(up.version, ver->name, sizeof(up.version));
	strlcpy(up.session, up.newsession, sizeof(up.session));
	up.gen++;
	up_hdrs_unref(up.hdrs);
	up.hdrs = up_hdrs_new();
	json_object_put(up.init);
	up.init = json_object_get(r);
	json_object_put(m);
	log_debug("initialized, protocol %s, session %s",
	    up.version, up.session[0] != '\0' ? "issued" : "none");
	up_own_request("notifications/initialized", NULL, XFER_INITIALIZED);
}

static void
up_initialized_done(struct xfer *x, CURLcode rc)
{
	char	reason[WORKER_REASON_MAX];
	int	ex;

	if ((ex = xfer_outcome(x, rc, reason, sizeof(reason))) != 0) {
		up_handshake_fail(x, ex, reason);
		return;
	}
	if (up.reinit)
		up_reinit_done();
	else
		up_list_start();
}

static void
up_list_start(void)
{
	size_t	i;

	if (up.listing) {
		up.relist = 1;
		return;
	}
	up.listing = 1;
	up.relist = 0;
	if (up.ready)	/* after list_changed: a deadline of its own */
		up.deadline = now_ms() + UPSTREAM_INIT_TIMEOUT_MS;
	json_object_put(up.tools);
	up.tools = json_object_new_array();
	for (i = 0; i < up.ncursors; i++)
		free(up.cursors[i]);
	up.ncursors = 0;
	up_list_page(NULL);
}

static void
up_list_page(const char *cursor)
{
	struct json_object	*p = NULL;

	if (cursor != NULL) {
		p = json_object_new_object();
		json_object_object_add(p, "cursor",
		    json_object_new_string(cursor));
	}
	up_own_request("tools/list", p, XFER_LIST);
}

static void
up_list_done(struct xfer *x, CURLcode rc)
{
	struct json_object	*m, *r, *t, *c;
	char			 reason[WORKER_REASON_MAX];
	const char		*cur;
	size_t			 i, n;
	int			 ex;

	if ((m = xfer_answer(x, rc, &ex, reason, sizeof(reason))) == NULL) {
		up_handshake_fail(x, ex, reason);
		return;
	}
	if (!json_object_object_get_ex(m, "result", &r) ||
	    !json_object_object_get_ex(r, "tools", &t) ||
	    !json_object_is_type(t, json_type_array)) {
		json_object_put(m);
		snprintf(reason, sizeof(reason), "%s: tools/list result "
		    "without a tools array", up.url);
		up_handshake_fail(x, EX_PROTOCOL, reason);
		return;
	}
	n = json_object_array_length(t);
	for (i = 0; i < n; i++) {
		if (json_object_array_length(up.tools) >= UPSTREAM_TOOLS_MAX) {
			log_warnx("more than %d tools: the rest ignored",
			    UPSTREAM_TOOLS_MAX);
			goto finish;
		}
		json_object_array_add(up.tools,
		    json_object_get(json_object_array_get_idx(t, i)));
	}
	if (!json_object_object_get_ex(r, "nextCursor", &c) ||
	    !json_object_is_type(c, json_type_string))
		goto finish;
	cur = json_object_get_string(c);
	for (i = 0; i < up.ncursors; i++) {
		if (strcmp(up.cursors[i], cur) == 0) {
			log_warnx("tools/list cursor repeats: stopped");
			goto finish;
		}
	}
	if (up.ncursors + 1 >= UPSTREAM_PAGES_MAX) {
		log_warnx("more than %d tools/list pages: stopped",
		    UPSTREAM_PAGES_MAX);
		goto finish;
	}
	up.cursors = xreallocarray(up.cursors, up.ncursors + 1,
	    sizeof(*up.cursors));
	up.cursors[up.ncursors++] = xstrdup(cur);
	up_list_page(cur);
	json_object_put(m);
	return;
finish:
	json_object_put(m);
	up_list_finish();
}

static void
up_list_finish(void)
{
	struct json_object	*o, *v;
	const char		*s;
	size_t			 len;

	o = json_object_new_object();
	if (!up.ready) {
		json_object_object_add(o, "protocolVersion",
		    json_object_new_string(up.version));
		if (!json_object_object_get_ex(up.init, "serverInfo", &v))
			v = NULL;
		json_object_object_add(o, "serverInfo", v != NULL ?
		    json_object_get(v) : json_object_new_object());
		if (!json_object_object_get_ex(up.init, "capabilities", &v))
			v = NULL;
		json_object_object_add(o, "capabilities", v != NULL ?
		    json_object_get(v) : json_object_new_object());
		if (json_object_object_get_ex(up.init, "instructions", &v) &&
		    json_object_is_type(v, json_type_string))
			json_object_object_add(o, "instructions",
			    json_object_get(v));
	}
	json_object_object_add(o, "tools", up.tools);
	up.tools = NULL;
	s = jsonrpc_string(o, &len);
	if (len > MSG_PAYLOAD_MAX) {
		json_object_put(o);
		if (!up.ready)
			sup_fail(EX_PROTOCOL, "tool list of %zu bytes is "
			    "over the frame maximum", len);
		log_warnx("tool list too large, not updated");
	} else {
		sup_send(up.ready ? MSG_TOOLS : MSG_READY, 0, s, len);
		json_object_put(o);
		if (!up.ready)
			log_info("ready, protocol %s",
			    up.version);
	}
	up.listing = 0;
	/* The tool list's json-c trees are gone: give their pages back. */
	malloc_trim(0);
	if (!up.ready) {
		up.ready = 1;
		up_get_start();
	} else if (up.relist)
		up_list_start();
}

/* The new session is there: send what waited for it. */
static void
up_reinit_done(void)
{
	struct xfer	*x;

	up.reinit = 0;
	log_info("new session established");
	while ((x = TAILQ_FIRST(&up.waiting)) != NULL)
		xfer_post(x, up_xfer_timeout(x));
}

/* The standalone GET stream: how the gateway says list_changed. */
static void
up_get_start(void)
{
	struct curl_slist	*l = NULL;
	struct xfer		*x;
	char			 line[64 + UPSTREAM_SESSION_ID_MAX];

	if (up.get_off || up.get != NULL || up.reinit)
		return;
	up.get_retry_at = 0;
	x = xfer_get(XFER_GET);
	l = curl_slist_append(l, "Accept: text/event-stream");
	if (up.session[0] != '\0') {
		snprintf(line, sizeof(line), "Mcp-Session-Id: %s", up.session);
		l = curl_slist_append(l, line);
	}
	snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", up.version);
	if ((l = curl_slist_append(l, line)) == NULL)
		fatalx("curl_slist_append failed");
	x->own_hdrs = l;
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, 0L);
	up.get = x;
	xq_move(x, &up.pending);
}

static void
up_get_done(struct xfer *x, CURLcode rc)
{
	char	reason[WORKER_REASON_MAX];

	up.get = NULL;
	if (rc == CURLE_OK && (x->status == 405 || x->status == 404 ||
	    x->status == 400)) {
		log_debug("no GET stream offered (HTTP %ld)", x->status);
		up.get_off = 1;
	} else {
		if (xfer_outcome(x, rc, reason, sizeof(reason)) != 0)
			log_debug("GET stream: %s", reason);
		up.get_retry_at = now_ms() + UPSTREAM_GET_RETRY_MS;
	}
	xfer_put(x);
}

/* "host:port:addr,addr" for CURLOPT_RESOLVE, from getaddrinfo(). */
static void
up_resolve_line(const char *host, const char *port, struct addrinfo *res,
    char *line, size_t len)
{
	struct addrinfo	*ai;
	char		 a[INET6_ADDRSTRLEN];
	const void	*p;
	int		 n = 0;

	snprintf(line, len, "%s:%s:", host, port);
	for (ai = res; ai != NULL && n < UPSTREAM_ADDRS_MAX; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			p = &((struct sockaddr_in *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			p = &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(ai->ai_family, p, a, sizeof(a)) == NULL)
			continue;
		if (n++ > 0)
			strlcat(line, ",", len);
		if (ai->ai_family == AF_INET6)
			strlcat(line, "[", len);
		strlcat(line, a, len);
		if (ai->ai_family == AF_INET6)
			strlcat(line, "]", len);
	}
}

/*
 * The gateway's port (Landlock allows connects to it alone) and, when the
 * URL names a host rather than an address, that host resolved now: after
 * the sandbox there is no resolver (no thread, no /etc/resolv.conf, no
 * port 53).  libcurl gets the answer as a CURLOPT_RESOLVE entry.  A worker
 * that can no longer connect exits and its successor resolves again, so
 * a gateway that moved is found.
 */
static void
up_resolve(CURLU *u)
{
	struct addrinfo	 hints, *res;
	struct in6_addr	 a6;
	char		*host = NULL, *port = NULL;
	char		 line[PEER_URL_MAX + UPSTREAM_ADDRS_MAX *
			    (INET6_ADDRSTRLEN + 3)];
	const char	*errstr;
	int		 e;

	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK)
		sup_fail(EX_CONFIG, "the URL has no host or port");
	up.port = strtonum(port, 1, 65535, &errstr);
	if (errstr != NULL) {
		curl_free(host);
		curl_free(port);
		sup_fail(EX_CONFIG, "bad port in the URL");
	}
	if (host[0] != '[' && inet_pton(AF_INET6, host, &a6) != 1 &&
	    inet_pton(AF_INET, host, &a6) != 1) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
			snprintf(line, sizeof(line), "cannot resolve %s: %s",
			    host, gai_strerror(e));
			curl_free(host);
			curl_free(port);
			sup_fail(EX_TEMPFAIL, "%s", line);
		}
		up_resolve_line(host, port, res, line, sizeof(line));
		freeaddrinfo(res);
		up.resolve = curl_slist_append(NULL, line);
		log_debug("resolved: %s", line);
	}
	curl_free(host);
	curl_free(port);
}

void
upstream_init(void)
{
	CURLU	*u;
	char	*s = NULL;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		sup_fail(EX_SOFTWARE, "curl_global_init failed");
	TAILQ_INIT(&up.pool);
	TAILQ_INIT(&up.pending);
	TAILQ_INIT(&up.waiting);
	TAILQ_INIT(&up.running);
	RB_INIT(&up.calls);
	if ((up.multi = curl_multi_init()) == NULL)
		sup_fail(EX_SOFTWARE, "curl_multi_init failed");
	curl_multi_setopt(up.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    (long)UPSTREAM_HOST_CONNECTIONS_MAX);
	up.hdrs = up_hdrs_new();
	/* The URL as shown in reasons and logs: never with a password. */
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, worker_conf.url, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		sup_fail(EX_CONFIG, "bad URL");
	}
	up_resolve(u);
	if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		sup_fail(EX_CONFIG, "bad URL");
	}
	strlcpy(up.url, s, sizeof(up.url));
	curl_free(s);
	curl_url_cleanup(u);
}

uint16_t
upstream_port(void)
{
	return (up.port);
}

void
upstream_start(void)
{
	up_init_start();
}

CURLM *
upstream_multi(void)
{
	return (up.multi);
}

int
upstream_ready(void)
{
	return (up.ready);
}

/* How long the loop may sleep (libcurl's own timers come on top). */
int
upstream_timeout(void)
{
	uint64_t	now;

	/* Transfers queued outside upstream_run() must not wait a poll out. */
	if (!TAILQ_EMPTY(&up.pending))
		return (0);
	if (up.get_retry_at == 0)
		return (1000);
	now = now_ms();
	if (now >= up.get_retry_at)
		return (0);
	return (up.get_retry_at - now < 1000 ? (int)(up.get_retry_at - now) :
	    1000);
}

static void
upstream_add_pending(void)
{
	struct xfer	*x;
	CURLMcode	 mc;

	while ((x = TAILQ_FIRST(&up.pending)) != NULL) {
		xq_move(x, &up.running);
		if ((mc = curl_multi_add_handle(up.multi, x->easy)) != CURLM_OK)
			fatalx("curl_multi_add_handle: %s",
			    curl_multi_strerror(mc));
	}
}

/* Move every transfer along; called once per loop turn. */
void
upstream_run(void)
{
	struct CURLMsg	*cm;
	struct xfer	*x;
	int		 running, left;

	if (up.get_retry_at != 0 && now_ms() >= up.get_retry_at)
		up_get_start();
	upstream_add_pending();
	curl_multi_perform(up.multi, &running);
	while ((cm = curl_multi_info_read(up.multi, &left)) != NULL) {
		if (cm->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, &x);
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
		curl_multi_remove_handle(up.multi, x->easy);
		xq_move(x, NULL);
		xfer_done(x, cm->data.result);
	}
	upstream_add_pending();
}

/* MSG_REQUEST: buf is a JSON-RPC request whose id is the integer id. */
void
upstream_request(uint64_t id, const char *buf, size_t len)
{
	struct xfer	*x, key;
	char		 reason[WORKER_REASON_MAX];

	key.id = id;
	if (RB_FIND(xfer_tree, &up.calls, &key) != NULL) {
		log_warnx("supervisor sent request %llu twice",
		    (unsigned long long)id);
		worker_exit(EX_SOFTWARE);
	}
	if (up.ncalls >= UPSTREAM_INFLIGHT_MAX) {
		snprintf(reason, sizeof(reason), "more than %d requests "
		    "in flight", UPSTREAM_INFLIGHT_MAX);
		sup_send_reason(MSG_CALLFAIL, id, reason);
		return;
	}
	x = xfer_get(XFER_CALL);
	x->id = id;
	xbuf_set(&x->body, buf, len);
	RB_INSERT(xfer_tree, &up.calls, x);
	up.ncalls++;
	if (up.reinit)
		xq_move(x, &up.waiting);
	else
		xfer_post(x, up_xfer_timeout(x));
}

/* MSG_NOTIFY_DOWN: a notification for the gateway, posted as it is. */
void
upstream_notify(const char *buf, size_t len)
{
	up_post_text(buf, len);
}

/* MSG_CANCEL: drop the transfer, tell the gateway, answer nothing. */
void
upstream_cancel(uint64_t id)
{
	struct xfer	*x, key;
	char		 buf[160];
	int		 n, sent;

	key.id = id;
	if ((x = RB_FIND(xfer_tree, &up.calls, &key)) == NULL) {
		log_debug("cancel of request %llu: not in flight",
		    (unsigned long long)id);
		return;
	}
	/* A request held for the new session never reached the gateway. */
	sent = x->queue != &up.waiting && x->queue != &up.pending;
	xfer_detach(x);
	RB_REMOVE(xfer_tree, &up.calls, x);
	up.ncalls--;
	if (sent && !x->answered) {
		n = snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"method\":"
		    "\"notifications/cancelled\",\"params\":{\"requestId\":%llu,"
		    "\"reason\":\"cancelled by client\"}}",
		    (unsigned long long)id);
		up_post_text(buf, (size_t)n);
	}
	xfer_put(x);
}

/*
 * Run one transfer to its end on the worker's own multi handle (the
 * others go on meanwhile; their outcomes are dropped, we are leaving).
 * Not curl_easy_perform(): that makes a multi handle of its own, whose
 * wake-up socketpair the sandbox does not allow, and a new connection.
 */
static CURLcode
up_perform_last(CURL *e, long timeout_ms)
{
	CURLMsg		*m;
	CURLcode	 rc = CURLE_OPERATION_TIMEDOUT;
	uint64_t	 deadline = now_ms() + timeout_ms;
	int		 n;

	if (curl_multi_add_handle(up.multi, e) != CURLM_OK)
		return (CURLE_FAILED_INIT);
	while (now_ms() < deadline) {
		curl_multi_perform(up.multi, &n);
		while ((m = curl_multi_info_read(up.multi, &n)) != NULL) {
			if (m->msg == CURLMSG_DONE && m->easy_handle == e) {
				rc = m->data.result;
				goto done;
			}
		}
		curl_multi_poll(up.multi, NULL, 0, 50, NULL);
	}
done:
	curl_multi_remove_handle(up.multi, e);
	return (rc);
}

/* MSG_SHUTDOWN: end the session politely, within a second. */
void
upstream_shutdown(void)
{
	struct curl_slist	*l = NULL;
	CURL			*e;
	char			 line[64 + UPSTREAM_SESSION_ID_MAX];
	long			 code = 0;

	if (up.session[0] == '\0' || up.multi == NULL)
		return;
	if ((e = curl_easy_init()) == NULL)
		return;
	snprintf(line, sizeof(line), "Mcp-Session-Id: %s", up.session);
	l = curl_slist_append(l, line);
	snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", up.version);
	l = curl_slist_append(l, line);
	curl_easy_setopt(e, CURLOPT_URL, up.url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
	curl_easy_setopt(e, CURLOPT_RESOLVE, up.resolve);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)UPSTREAM_DELETE_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_discard);
	/* 405: the gateway does not let clients end sessions; fine. */
	if (up_perform_last(e, UPSTREAM_DELETE_TIMEOUT_MS) == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		log_debug("DELETE of the session: HTTP %ld", code);
	}
	curl_easy_cleanup(e);
	curl_slist_free_all(l);
}

static void
upstream_free_queue(struct xferq *q)
{
	struct xfer	*x;

	while ((x = TAILQ_FIRST(q)) != NULL) {
		xfer_detach(x);
		x->kind = XFER_GET;	/* not back into the pool */
		xfer_put(x);
	}
}

/* Everything, for a clean exit (and a leak checker's peace). */
void
upstream_free(void)
{
	size_t	i;

	if (up.multi == NULL)
		return;
	upstream_free_queue(&up.running);
	upstream_free_queue(&up.pending);
	upstream_free_queue(&up.waiting);
	upstream_free_queue(&up.pool);
	RB_INIT(&up.calls);
	up.get = NULL;
	up.ncalls = up.npool = 0;
	curl_multi_cleanup(up.multi);
	up.multi = NULL;
	up_hdrs_unref(up.hdrs);
	up.hdrs = NULL;
	json_object_put(up.init);
	json_object_put(up.tools);
	up.init = up.tools = NULL;
	curl_slist_free_all(up.resolve);
	up.resolve = NULL;
	for (i = 0; i < up.ncursors; i++)
		free(up.cursors[i]);
	free(up.cursors);
	up.cursors = NULL;
	up.ncursors = 0;
	curl_global_cleanup();
}
