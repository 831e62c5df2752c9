/*
 * HTTP sessions: a legacy session (session.c) per initialize, named by
 * the Mcp-Session-Id header of every later request, with our own state
 * (struct hsess: the POSTs waiting on it, its GET stream).
 *
 * A new client can always initialize: at HTTP_SESSIONS_MAX the least
 * recently used session with nothing in flight and no stream makes room
 * (one that never made a request first, so that a flood of initializes
 * does not push out the clients at work), and a session that never made
 * a request after initialize goes after HTTP_SESSION_FRESH_TIMEOUT_MS (a
 * flood of initializes cannot hold the table for the whole idle timeout).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mesh.h"
#include "http.h"
#include "xmalloc.h"

static unsigned	http_nsessions;

unsigned
http_session_count(void)
{
	return (http_nsessions);
}

struct hsess *
http_session_new(void)
{
	struct hsess	*hs;

	hs = xcalloc(1, sizeof(*hs));
	hs->s = session_new(0);
	hs->s->frontend = hs;
	/* Kept while no GET stream is open, for the one that comes. */
	hs->s->push = http_push;
	TAILQ_INIT(&hs->conns);
	TAILQ_INIT(&hs->replay);
	http_nsessions++;
	return (hs);
}

/*
 * The session goes (DELETE, idle, failed initialize, evicted, shutdown).
 * Calls still waiting on it are abandoned here so that session_free
 * finds none of ours, and their connections are answered 404.
 */
void
http_session_end(struct hsess *hs)
{
	struct hconn	*hc;

	while ((hc = TAILQ_FIRST(&hs->conns)) != NULL) {
		http_abandon_all(hc);
		TAILQ_REMOVE(&hs->conns, hc, entry);
		hc->r.bound = 0;
		hc->r.hs = NULL;
		hc->r.ended = 1;
		if (hc->r.state == HS_EVENTS) {
			/* Its events were flowing: the stream just ends. */
			hc->gone = 1;
			http_events_wake(hc);
		} else
			http_resume(hc);
	}
	if (hs->stream != NULL)
		http_stream_close(hs->stream);
	hs->s->frontend = NULL;
	hs->s->push = NULL;
	session_free(hs->s);
	http_replay_free(hs);
	free(hs);
	http_nsessions--;
}

void
http_session_end_all(void)
{
	struct session	*s, *next;

	for (s = session_lru(); s != NULL; s = next) {
		next = session_next(s);
		if (!s->is_stdio && s->frontend != NULL)
			http_session_end(s->frontend);
	}
}

/* Nothing in flight, nobody waiting, no stream: it may go. */
static int
http_session_idle(struct session *s)
{
	struct hsess	*hs = s->frontend;

	return (hs != NULL && hs->stream == NULL && TAILQ_EMPTY(&hs->conns) &&
	    s->origin.ncalls == 0);
}

void
http_session_sweep(void)
{
	struct session	*s, *next;
	uint64_t	 now = now_ms(), idle;

	for (s = session_lru(); s != NULL; s = next) {
		next = session_next(s);
		if (s->is_stdio || !http_session_idle(s))
			continue;
		idle = s->used ? HTTP_SESSION_IDLE_TIMEOUT_MS :
		    HTTP_SESSION_FRESH_TIMEOUT_MS;
		if (now - s->last_active_ms < idle)
			continue;
		log_info("http: %s: idle, closed", s->origin.name);
		http_session_end(s->frontend);
	}
}

/*
 * Room for one more session, evicting the least recently used idle one
 * that never made a request (a flood of initializes evicts its own
 * sessions, not the clients that work), else the least recently used
 * idle one.
 */
int
http_session_room(void)
{
	struct session	*s, *victim = NULL;

	if (http_nsessions < HTTP_SESSIONS_MAX)
		return (1);
	for (s = session_lru(); s != NULL; s = session_next(s)) {
		if (s->is_stdio || !http_session_idle(s))
			continue;
		if (!s->used) {
			victim = s;
			break;
		}
		if (victim == NULL)
			victim = s;
	}
	if (victim != NULL) {
		log_info("http: %u sessions: %s, least recently used%s, "
		    "evicted", http_nsessions, victim->origin.name,
		    victim->used ? "" : " of those never used");
		http_session_end(victim->frontend);
		return (1);
	}
	log_warnx("http: %u sessions, all busy: initialize refused",
	    http_nsessions);
	return (0);
}

/* The session named by the request's header, or an error already queued. */
struct session *
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
	/*
	 * Any version we speak is accepted (the spec asks 400 only for an
	 * invalid or unsupported one, and the SDK sends what it knows).
	 */
	v = MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    HTTP_VERSION_HEADER);
	if (v != NULL && mcp_version_find(v, strlen(v)) == NULL) {
		/* The client's bytes, escaped: the answer must stay UTF-8. */
		log_escape(esc, sizeof(esc), v, strnlen(v, HTTP_VERSION_ECHO_MAX));
		*ret = http_error(hc, MHD_HTTP_BAD_REQUEST, MCP_BAD_REQUEST,
		    "Bad Request: Unsupported protocol version: %s", esc);
		return (NULL);
	}
	return (s);
}
