/*
 * Transfers: one libcurl easy handle each, every POST its own, so many
 * requests are in flight at once over keep-alive connections.  Easy
 * handles and their buffers come from a free list, so a call in the
 * steady state costs no curl set-up and few allocations.  What a
 * transfer means (a call, our own request, the GET stream) is for its
 * creator: it gets the SSE messages and the end through x->message and
 * x->done.  Here: how an answer is read (by its status and Content-Type)
 * and, when it failed, why, as the sysexit a worker would die with.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <curl/curl.h>

#include "log.h"
#include "upstream.h"
#include "xmalloc.h"

struct xfer_state	 xs;

/* WORKER_UPQUEUE_MAX counts on libcurl's write size. */
_Static_assert(UPSTREAM_WRITE_MAX >= CURL_MAX_WRITE_SIZE,
    "UPSTREAM_WRITE_MAX below libcurl's CURL_MAX_WRITE_SIZE");

static void	 xfer_begin(struct xfer *);
static size_t	 xfer_write(char *, size_t, size_t, void *);
static size_t	 xfer_header(char *, size_t, size_t, void *);
static int	 xfer_event(void *, const char *, const char *, size_t,
		    const char *);
static int	 xfer_curl_reason(struct xfer *, CURLcode, char *, size_t);

void
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

struct up_hdrs *
xfer_hdrs_new(const struct up_session *s)
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
	if (s->id[0] != '\0') {
		snprintf(line, sizeof(line), "Mcp-Session-Id: %s", s->id);
		l = curl_slist_append(l, line);
	}
	if (s->version[0] != '\0') {
		snprintf(line, sizeof(line), "MCP-Protocol-Version: %s",
		    s->version);
		l = curl_slist_append(l, line);
	}
	if (l == NULL)
		fatalx("curl_slist_append failed");
	h->list = l;
	return (h);
}

void
xfer_hdrs_unref(struct up_hdrs *h)
{
	if (h == NULL || --h->refs > 0)
		return;
	curl_slist_free_all(h->list);
	free(h);
}

void
xq_move(struct xfer *x, struct xferq *q)
{
	if (x->queue != NULL)
		TAILQ_REMOVE(x->queue, x, entry);
	x->queue = q;
	if (q != NULL)
		TAILQ_INSERT_TAIL(q, x, entry);
}

/* A new easy handle with the options every transfer shares. */
static struct xfer *
xfer_new(void)
{
	struct xfer	*x;
	CURL		*e;

	x = xcalloc(1, sizeof(*x));
	if ((e = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	x->easy = e;
	sse_init(&x->sse, worker_conf.response_max, xfer_event, x);
	curl_easy_setopt(e, CURLOPT_URL, xs.url);
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
	curl_easy_setopt(e, CURLOPT_RESOLVE, xs.resolve);
	/*
	 * No proxy: a worker's environment has none (proc.c), and without
	 * this libcurl looks for five proxy variables on every transfer.
	 */
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	return (x);
}

/* A transfer of session s from the pool, or a new one. */
struct xfer *
xfer_get(struct up_session *s, enum xfer_kind kind)
{
	struct xfer	*x;

	if ((x = TAILQ_FIRST(&xs.pool)) != NULL) {
		xq_move(x, NULL);
		xs.npool--;
	} else
		x = xfer_new();
	x->session = s;
	x->kind = kind;
	x->message = NULL;
	x->done = NULL;
	x->arg = NULL;
	x->body_kind = BODY_NONE;
	x->id = 0;
	x->rid[0] = x->reason[0] = x->errbuf[0] = '\0';
	x->status = 0;
	x->answered = x->reinits = x->had_session = x->paused = 0;
	x->resp.len = 0;
	sse_reset(&x->sse);
	return (x);
}

static void
xfer_trim(struct xbuf *b)
{
	if (b->cap > UPSTREAM_XFER_KEEP_MAX) {
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
}

void
xfer_put(struct xfer *x)
{
	/* A GET (a stream, a call resumed) changed its method and headers:
	 * not worth undoing. */
	int	reuse = x->kind != XFER_GET && x->own_hdrs == NULL;

	xq_move(x, NULL);
	xfer_hdrs_unref(x->hdrs);
	x->hdrs = NULL;
	curl_slist_free_all(x->own_hdrs);
	x->own_hdrs = NULL;
	if (x->result != NULL) {
		json_object_put(x->result);
		x->result = NULL;
	}
	x->session = NULL;
	x->resumes = x->resumed = 0;
	x->resume_at = 0;
	x->lastid[0] = '\0';
	if (reuse && xs.npool < UPSTREAM_XFER_POOL_MAX &&
	    xs.multi != NULL) {
		xfer_trim(&x->resp);
		xfer_trim(&x->body);
		xq_move(x, &xs.pool);
		xs.npool++;
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
long
xfer_timeout(const struct xfer *x)
{
	if (x->kind == XFER_CALL)
		return (0);
	return (worker_conf.request_timeout_ms + UPSTREAM_DEADLINE_GRACE_MS);
}

/* POST x->body with its session's headers as they are now. */
void
xfer_post(struct xfer *x, long timeout_ms)
{
	struct up_session	*s = x->session;

	if (x->hdrs != s->hdrs) {
		xfer_hdrs_unref(x->hdrs);
		x->hdrs = s->hdrs;
		x->hdrs->refs++;
	}
	x->gen = s->gen;
	x->had_session = s->id[0] != '\0';
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
	xq_move(x, &xs.pending);
}

/*
 * GET with the session's own headers (and Last-Event-ID: lastid, unless
 * NULL): the standalone stream, or a call's stream resumed.  No body, no
 * timeout (a call's is the supervisor's deadline).
 */
static void
xfer_get_stream(struct xfer *x, const char *lastid)
{
	struct up_session	*s = x->session;
	struct curl_slist	*l = NULL;
	char			 line[64 + UPSTREAM_SESSION_ID_MAX +
				    UPSTREAM_EVENT_ID_MAX];

	curl_slist_free_all(x->own_hdrs);
	x->own_hdrs = NULL;
	x->body_kind = BODY_NONE;
	x->status = 0;
	x->resp.len = 0;
	x->reason[0] = x->errbuf[0] = '\0';
	sse_reset(&x->sse);
	if (lastid != NULL) {
		snprintf(line, sizeof(line), "Last-Event-ID: %s", lastid);
		l = curl_slist_append(l, line);
	}
	l = curl_slist_append(l, "Accept: text/event-stream");
	if (s->id[0] != '\0') {
		snprintf(line, sizeof(line), "Mcp-Session-Id: %s", s->id);
		l = curl_slist_append(l, line);
	}
	snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", s->version);
	if ((l = curl_slist_append(l, line)) == NULL)
		fatalx("curl_slist_append failed");
	x->own_hdrs = l;
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, 0L);
	xq_move(x, &xs.pending);
}

void
xfer_stream(struct xfer *x)
{
	xfer_get_stream(x, NULL);
}

/* A call's stream ended before its answer: ask for the rest (SEP-1699). */
void
xfer_reconnect(struct xfer *x, const char *lastid)
{
	xfer_get_stream(x, lastid);
}

/* Out of the multi handle and every queue (not the tree). */
void
xfer_detach(struct xfer *x)
{
	if (x->queue == &xs.running)
		curl_multi_remove_handle(xs.multi, x->easy);
	xfer_unpaused(x);
	xq_move(x, NULL);
}

/* It left the multi handle: a pause it was in is over. */
void
xfer_unpaused(struct xfer *x)
{
	if (x->paused) {
		x->paused = 0;
		xs.npaused--;
	}
}

/*
 * The supervisor caught up: the paused transfers go on, each moved to
 * the end of the queue first, so that one that floods again at once
 * does not keep the others paused.  libcurl hands a transfer what it
 * held back from inside curl_easy_pause(), and the write callback may
 * pause it again; each is visited once.
 */
void
xfer_resume(void)
{
	struct xfer	*x, *next, *last = TAILQ_LAST(&xs.running, xferq);

	for (x = TAILQ_FIRST(&xs.running); x != NULL && !sup_congested();
	    x = next) {
		next = x == last ? NULL : TAILQ_NEXT(x, entry);
		if (!x->paused)
			continue;
		xfer_unpaused(x);
		xq_move(x, &xs.running);
		curl_easy_pause(x->easy, CURLPAUSE_CONT);
	}
}

/* Every transfer of q, for good (not back into the pool). */
void
xfer_free_queue(struct xferq *q)
{
	struct xfer	*x;

	while ((x = TAILQ_FIRST(q)) != NULL) {
		xfer_detach(x);
		x->kind = XFER_GET;
		xfer_put(x);
	}
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

static int
xfer_too_large(struct xfer *x)
{
	if (x->reason[0] == '\0')
		snprintf(x->reason, sizeof(x->reason),
		    "response larger than %ld bytes", worker_conf.response_max);
	return (0);
}

static size_t
xfer_write(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer	*x = arg;
	size_t		 len = size * n, room;

	/* Nothing is taken while the supervisor is behind: libcurl keeps it. */
	if (sup_congested()) {
		if (!x->paused) {
			x->paused = 1;
			xs.npaused++;
		}
		return (CURL_WRITEFUNC_PAUSE);
	}
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
		if (sse_feed(&x->sse, buf, len) == -1)
			return (xfer_too_large(x));
		return (len);
	default:
		room = len;
		if (x->resp.len + len > (size_t)worker_conf.response_max)
			return (xfer_too_large(x));
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

size_t
xfer_discard(char *buf, size_t size, size_t n, void *arg)
{
	return (size * n);
}

/*
 * One header line (CR LF included, not NUL-terminated).  When it is
 * Mcp-Session-Id, the value is copied to id (NUL-terminated) and its
 * length returned; 0 when the line is another header; -1 when the value
 * is empty, longer than UPSTREAM_SESSION_ID_MAX or not visible ASCII
 * (the transport spec's rule).
 */
int
xfer_session_id(const char *line, size_t len, char *id, size_t idlen)
{
	const char	*v;
	size_t		 i;

	if (len < 15 || strncasecmp(line, "mcp-session-id:", 15) != 0)
		return (0);
	v = line + 15;
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
	if (len == 0 || len > UPSTREAM_SESSION_ID_MAX || i != len ||
	    len >= idlen)
		return (-1);
	memcpy(id, v, len);
	id[len] = '\0';
	return ((int)len);
}

/* Only initialize's answer hands out the session id. */
static size_t
xfer_header(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer	*x = arg;
	size_t		 len = size * n;

	if (x->kind != XFER_INIT || xfer_session_id(buf, len,
	    x->session->newid, sizeof(x->session->newid)) != -1)
		return (len);
	snprintf(x->reason, sizeof(x->reason), "invalid Mcp-Session-Id from "
	    "%s", xs.url);
	return (0);
}

/* One SSE event: messages go to the transfer's owner, the rest nowhere. */
static int
xfer_event(void *arg, const char *type, const char *data, size_t len,
    const char *id)
{
	struct xfer	*x = arg;

	if (strcmp(type, "message") != 0) {
		log_debug("ignored SSE event type %.32s", type);
		return (0);
	}
	x->message(x, data, len);
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
		snprintf(buf, len, "connect to %s: %s", xs.url,
		    oserr != 0 ? strerror((int)oserr) : err);
		return (EX_UNAVAILABLE);
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(buf, len, "resolve %s: %s", xs.url, err);
		return (EX_UNAVAILABLE);
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(buf, len, "%s: timed out (%s)", xs.url, err);
		return (EX_UNAVAILABLE);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		snprintf(buf, len, "bad URL %s: %s", xs.url, err);
		return (EX_CONFIG);
	case CURLE_WEIRD_SERVER_REPLY:
		snprintf(buf, len, "%s: not HTTP: %s", xs.url, err);
		return (EX_PROTOCOL);
	default:
		snprintf(buf, len, "%s: %s", xs.url, err);
		return (EX_UNAVAILABLE);
	}
}

/* 0 for a finished 2xx transfer, else a sysexit and the reason. */
int
xfer_outcome(struct xfer *x, CURLcode rc, char *buf, size_t len)
{
	char	esc[UPSTREAM_ERROR_SNIPPET * 4 + 1];

	if (rc != CURLE_OK)
		return (xfer_curl_reason(x, rc, buf, len));
	if (x->status >= 200 && x->status <= 299)
		return (0);
	log_escape(esc, sizeof(esc), x->resp.p != NULL ? x->resp.p : "",
	    x->body_kind == BODY_ERROR ? x->resp.len : 0);
	snprintf(buf, len, "HTTP %ld from %s: %s", x->status, xs.url, esc);
	if (x->status == 401 || x->status == 403)
		return (EX_NOPERM);
	return (EX_PROTOCOL);
}
