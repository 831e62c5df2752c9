/*
 * SSE responses: the GET stream of a session (server-initiated messages
 * outside any call, such as list_changed) and the events of a POST whose
 * call sent a message before its answer.  Either way the events wait in
 * hc->out until MHD's content reader takes them; the reader suspends the
 * connection while there is nothing to send, and a new event resumes it.
 * A POST's stream ends once every answer has been sent; the GET stream
 * when its session, its client or the mesh goes.
 *
 * The GET stream is resumable: each of its events has an id (a counter
 * of the session's), the last HTTP_SSE_REPLAY_MAX are kept (also while
 * no stream is open), and a GET with Last-Event-ID gets those after it
 * before anything new.  With 2025-11-25 and later it opens with a
 * priming event (an id, a retry, no data) so that a client can resume
 * even before the first message.  A POST's stream has no ids: the mesh
 * does not resume it (a client that leaves its POST leaves its call,
 * and the peer is told to stop).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "mesh.h"
#include "http.h"
#include "xmalloc.h"

#define SSE_EVENT_HEAD	"event: message\ndata: "
#define SSE_ID_LEN	32	/* "id: <uint64>\n" and a retry: line */
#define SSE_DATA_NEXT	"\ndata: "
#define SSE_EVENT_END	"\n\n"
#define SSE_KEEPALIVE	": keepalive\n\n"

static void
http_out(struct hconn *hc, const char *p, size_t n)
{
	buf_append(&hc->out, p, n);
	http_hold(hc, n);
}

/*
 * One SSE event carrying a JSON-RPC message.  Compact JSON has no raw
 * newline, but a line break must never end the data field early, so any
 * becomes a continuation "data:" line.
 */
static void
http_sse_event_id(struct hconn *hc, uint64_t id, const char *json, size_t len)
{
	const char	*nl;
	char		 line[SSE_ID_LEN];
	size_t		 n;
	int		 k;

	if (id != 0) {
		k = snprintf(line, sizeof(line), "id: %" PRIu64 "\n", id);
		http_out(hc, line, (size_t)k);
	}
	http_out(hc, SSE_EVENT_HEAD, sizeof(SSE_EVENT_HEAD) - 1);
	while ((nl = memchr(json, '\n', len)) != NULL) {
		n = nl - json;
		http_out(hc, json, n);
		http_out(hc, SSE_DATA_NEXT, sizeof(SSE_DATA_NEXT) - 1);
		json += n + 1;
		len -= n + 1;
	}
	http_out(hc, json, len);
	http_out(hc, SSE_EVENT_END, sizeof(SSE_EVENT_END) - 1);
}

void
http_sse_event(struct hconn *hc, const char *json, size_t len)
{
	http_sse_event_id(hc, 0, json, len);
}

static int
http_is_stream(const struct hconn *hc)
{
	return (hc->r.hs != NULL && hc->r.hs->stream == hc);
}

static ssize_t
http_events_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	struct hconn	*hc = arg;
	size_t		 n;

	if (hc->gone)
		return (MHD_CONTENT_READER_END_OF_STREAM);
	if ((n = buf_used(&hc->out)) == 0) {
		if (!http_is_stream(hc) && hc->r.nwait == 0)
			return (MHD_CONTENT_READER_END_OF_STREAM);
		/* MHD would call again on every run: sleep until data. */
		http_suspend(hc);
		return (0);
	}
	if (n > max)
		n = max;
	memcpy(buf, buf_data(&hc->out), n);
	buf_consume(&hc->out, n);
	http_unhold(hc, n);
	return (n);
}

/* Queue an SSE response fed from hc->out (sid: header to add, or NULL). */
enum MHD_Result
http_events_open(struct hconn *hc, const char *sid)
{
	struct MHD_Response	*r;
	enum MHD_Result		 ret;

	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_SSE_BLOCK,
	    http_events_read, hc, NULL);
	if (r == NULL)
		return (MHD_NO);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	if (sid != NULL)
		MHD_add_response_header(r, HTTP_SESSION_HEADER, sid);
	ret = MHD_queue_response(hc->conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	if (ret == MHD_YES) {
		hc->r.state = HS_EVENTS;
		hc->r.queued = 1;
	}
	return (ret);
}

/* New events, or the end: the reader must run. */
void
http_events_wake(struct hconn *hc)
{
	if (hc->r.state == HS_EVENTS && hc->suspended)
		http_resume(hc);
}

/* --- GET: the session's stream ------------------------------------------ */

/* Keep ev for a resume; the oldest go past the count or the bytes. */
static void
http_replay_keep(struct hsess *hs, struct hevent *ev)
{
	struct hevent	*old;

	TAILQ_INSERT_TAIL(&hs->replay, ev, entry);
	hs->nreplay++;
	hs->replay_bytes += ev->len;
	while (hs->nreplay > HTTP_SSE_REPLAY_MAX ||
	    hs->replay_bytes > HTTP_SSE_REPLAY_BYTES) {
		old = TAILQ_FIRST(&hs->replay);
		TAILQ_REMOVE(&hs->replay, old, entry);
		hs->nreplay--;
		hs->replay_bytes -= old->len;
		free(old);
	}
}

void
http_replay_free(struct hsess *hs)
{
	struct hevent	*ev;

	while ((ev = TAILQ_FIRST(&hs->replay)) != NULL) {
		TAILQ_REMOVE(&hs->replay, ev, entry);
		free(ev);
	}
	hs->nreplay = 0;
	hs->replay_bytes = 0;
}

/* A message for the session outside any call: kept, and sent if open. */
void
http_push(struct session *s, const char *json, size_t len)
{
	struct hsess	*hs = s->frontend;
	struct hevent	*ev;
	struct hconn	*hc;

	if (hs == NULL)
		return;
	ev = xmalloc(sizeof(*ev) + len);
	ev->id = ++hs->last_event;
	ev->len = len;
	memcpy(ev->json, json, len);
	http_replay_keep(hs, ev);
	if ((hc = hs->stream) == NULL)
		return;
	if (buf_used(&hc->out) + len > HTTP_SSE_QUEUE_MAX) {
		/* A client that does not read loses its stream, not our memory. */
		log_warnx("http: %s: stream not read, %zu bytes queued: closed",
		    s->origin.name, buf_used(&hc->out));
		http_stream_close(hc);
		return;
	}
	http_sse_event_id(hc, ev->id, json, len);
	http_events_wake(hc);
}

/*
 * A new stream: the priming event where the version has it, then the
 * kept events after Last-Event-ID (when the client gave one we know).
 */
static void
http_stream_begin(struct hconn *hc, struct hsess *hs)
{
	const struct mcp_version	*v;
	const char			*last;
	struct hevent			*ev;
	char				 line[2 * SSE_ID_LEN];
	uint64_t			 after;
	int				 k;

	v = mcp_origin_version(&hs->s->origin);
	if (v != NULL && (v->flags & MCP_VF_SSE_PRIMING)) {
		k = snprintf(line, sizeof(line), "id: %" PRIu64 "\nretry: %d\n"
		    "data: \n\n", hs->last_event, HTTP_SSE_RETRY_MS);
		http_out(hc, line, (size_t)k);
	}
	last = MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    "Last-Event-ID");
	if (last == NULL)
		return;
	ev = TAILQ_FIRST(&hs->replay);
	if (last[0] == '\0' || strspn(last, "0123456789") != strlen(last) ||
	    strlen(last) > 20) {
		log_info("http: %s: Last-Event-ID %.32s is none of ours",
		    hs->s->origin.name, last);
		return;
	}
	after = strtoull(last, NULL, 10);
	if (after > hs->last_event || (ev != NULL && after + 1 < ev->id) ||
	    (ev == NULL && after < hs->last_event)) {
		log_info("http: %s: Last-Event-ID %.32s: the events after it "
		    "are no longer kept (%" PRIu64 " is the newest)",
		    hs->s->origin.name, last, hs->last_event);
		return;
	}
	TAILQ_FOREACH(ev, &hs->replay, entry)
		if (ev->id > after)
			http_sse_event_id(hc, ev->id, ev->json, ev->len);
}

static void
http_keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn	*hc = arg;

	/* Proxies drop silent streams; dead clients show up on write. */
	if (buf_used(&hc->out) == 0) {
		http_out(hc, SSE_KEEPALIVE, sizeof(SSE_KEEPALIVE) - 1);
		http_events_wake(hc);
	}
}

/* The stream ends: the reader reports its end when MHD next asks. */
void
http_stream_close(struct hconn *hc)
{
	struct hsess	*hs = hc->r.hs;

	if (hs != NULL && hs->stream == hc)
		hs->stream = NULL;
	hc->r.hs = NULL;
	if (hc->keepalive != NULL) {
		event_free(hc->keepalive);
		hc->keepalive = NULL;
	}
	hc->gone = 1;
	http_resume(hc);
}

enum MHD_Result
http_get(struct hconn *hc)
{
	struct session		*s;
	struct hsess		*hs;
	struct timeval		 tv = ms_tv(HTTP_SSE_KEEPALIVE_MS);
	enum MHD_Result		 ret;

	if (!http_accepts(hc->conn, 0))
		return (http_error(hc, MHD_HTTP_NOT_ACCEPTABLE, MCP_BAD_REQUEST,
		    "Not Acceptable: Client must accept text/event-stream"));
	if ((s = http_session(hc, &ret)) == NULL)
		return (ret);
	hs = s->frontend;
	if (hs->stream != NULL)
		return (http_error(hc, MHD_HTTP_CONFLICT, MCP_BAD_REQUEST,
		    "Conflict: Only one SSE stream is allowed per session"));
	if ((ret = http_events_open(hc, s->id)) != MHD_YES)
		return (ret);
	hc->r.hs = hs;
	hs->stream = hc;
	http_stream_begin(hc, hs);
	hc->keepalive = event_new(ev_base, -1, EV_PERSIST, http_keepalive_cb,
	    hc);
	evtimer_add(hc->keepalive, &tv);
	log_debug("http: %s: stream open", s->origin.name);
	return (MHD_YES);
}

/* --- DELETE -------------------------------------------------------------- */

enum MHD_Result
http_delete(struct hconn *hc)
{
	struct session	*s;
	enum MHD_Result	 ret;

	if ((s = http_session(hc, &ret)) == NULL)
		return (ret);
	log_debug("http: %s: deleted by the client", s->origin.name);
	http_session_end(s->frontend);
	return (http_empty_reply(hc, MHD_HTTP_OK));
}
