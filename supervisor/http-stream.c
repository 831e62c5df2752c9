/*
 * SSE responses: the GET stream of a session (server-initiated messages
 * outside any call, such as list_changed) and the events of a POST whose
 * call sent a message before its answer.  Either way the events wait in
 * hc->out until MHD's content reader takes them; the reader suspends the
 * connection while there is nothing to send, and a new event resumes it.
 * A POST's stream ends once every answer has been sent; the GET stream
 * when its session, its client or the mesh goes.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "mesh.h"
#include "http.h"

#define SSE_EVENT_HEAD	"event: message\ndata: "
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
void
http_sse_event(struct hconn *hc, const char *json, size_t len)
{
	const char	*nl;
	size_t		 n;

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

static void
http_push(struct session *s, const char *json, size_t len)
{
	struct hsess	*hs = s->frontend;
	struct hconn	*hc;

	if (hs == NULL || (hc = hs->stream) == NULL)
		return;
	if (buf_used(&hc->out) + len > HTTP_SSE_QUEUE_MAX) {
		/* A client that does not read loses its stream, not our memory. */
		log_warnx("http: %s: stream not read, %zu bytes queued: closed",
		    s->origin.name, buf_used(&hc->out));
		http_stream_close(hc);
		return;
	}
	http_sse_event(hc, json, len);
	http_events_wake(hc);
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

	if (hs != NULL && hs->stream == hc) {
		hs->stream = NULL;
		hs->s->push = NULL;
	}
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
	s->push = http_push;
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
