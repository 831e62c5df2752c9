/*
 * Requests in flight.  Each downstream request routed to a peer gets a
 * mesh id unique on that peer's worker (so two clients using the same id
 * never collide), a deadline, and exactly one answer: the peer's response,
 * or an error that names the peer and the cause when the peer fails, the
 * worker dies, the deadline passes or the session goes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "jsonscan.h"
#include "log.h"
#include "mesh-proto.h"
#include "mesh.h"
#include "xmalloc.h"

static int	pending_cmp(struct pending *, struct pending *);
RB_GENERATE(pending_tree, pending, node, pending_cmp);

/* tools/list requests waiting for peers on their first start. */
static struct pending_list	 parked = TAILQ_HEAD_INITIALIZER(parked);
static unsigned			 ninflight;

static int
pending_cmp(struct pending *a, struct pending *b)
{
	return (a->id < b->id ? -1 : a->id > b->id);
}

unsigned
router_inflight(void)
{
	return (ninflight);
}

static struct pending *
pending_new(struct session *s, struct json_object *client_id,
    mcp_reply_cb cb, void *arg)
{
	struct pending	*pd;

	pd = xcalloc(1, sizeof(*pd));
	pd->session = s;
	pd->client_id = json_object_get(client_id);
	pd->cb = cb;
	pd->arg = arg;
	pd->started_us = now_us();
	TAILQ_INSERT_TAIL(&s->pendings, pd, sentry);
	s->npending++;
	ninflight++;
	return (pd);
}

/* Take a request out of every table; the caller answers or drops it. */
static void
pending_unlink(struct pending *pd)
{
	if (pd->peer != NULL) {
		RB_REMOVE(pending_tree, &pd->peer->inflight, pd);
		pd->peer->ninflight--;
	} else if (pd->parked)
		TAILQ_REMOVE(&parked, pd, wait);
	pd->parked = 0;
	TAILQ_REMOVE(&pd->session->pendings, pd, sentry);
	pd->session->npending--;
	ninflight--;
	if (pd->timer != NULL)
		event_free(pd->timer);
	pd->timer = NULL;
}

static void
pending_free(struct pending *pd)
{
	json_object_put(pd->client_id);
	if (pd->req != NULL)
		json_object_put(pd->req);
	free(pd);
}

/* Answer and forget.  response is consumed. */
void
router_reply(struct pending *pd, struct json_object *response)
{
	pending_unlink(pd);
	pd->cb(pd->arg, response);
	pending_free(pd);
}

static void
router_reply_error_result(struct pending *pd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A tools/call answered with an isError result the model can read. */
static void
router_reply_error_result(struct pending *pd, const char *fmt, ...)
{
	va_list	 ap;
	char	 text[1024];

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	router_reply(pd, jsonrpc_result(pd->client_id,
	    mcp_error_result("%s", text)));
}

static void
router_cancel_upstream(struct pending *pd)
{
	if (pd->peer != NULL && pd->peer->state == WS_READY)
		worker_send(pd->peer, MSG_CANCEL, pd->id, NULL, 0);
}

static void
router_deadline(evutil_socket_t fd, short events, void *arg)
{
	struct pending	*pd = arg;

	log_warnx("peer %s: no answer to %s within %llu ms", pd->peer->name,
	    pd->tool, (unsigned long long)pd->peer->timeout_ms);
	router_cancel_upstream(pd);
	router_reply_error_result(pd, "peer %s did not answer %s within "
	    "%llu ms: the call was cancelled", pd->peer->name, pd->tool,
	    (unsigned long long)pd->peer->timeout_ms);
}

static void
router_arm_deadline(struct pending *pd)
{
	uint64_t	ms = pd->peer->timeout_ms;
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	if (pd->timer == NULL)
		pd->timer = evtimer_new(ev_base, router_deadline, pd);
	evtimer_add(pd->timer, &tv);
}

/*
 * Send request pd to peer p as tool (the name on the peer).  req is the
 * client's request: its id and params.name are rewritten in place.
 * Returns 0 when the request is on its way, -1 when it was answered now.
 */
int
router_route(struct pending *pd, struct peer *p, const char *exposed,
    const char *tool, struct json_object *req)
{
	struct json_object	*params;
	const char		*json;
	size_t			 len;

	strlcpy(pd->tool, exposed, sizeof(pd->tool));
	/* Refused at once rather than queued: the caller learns why now. */
	if (p->state != WS_READY || p->fd == -1) {
		router_reply_error_result(pd, "peer %s is not reachable (%s): %s",
		    p->name, worker_state_name(p->state), p->cause[0] ? p->cause :
		    "its worker is starting");
		return (-1);
	}
	if (p->ninflight >= PEER_INFLIGHT_MAX || ninflight > CLIENT_INFLIGHT_MAX) {
		router_reply_error_result(pd, "peer %s is busy: %u requests in "
		    "flight (limit %d); try again", p->name, p->ninflight,
		    PEER_INFLIGHT_MAX);
		return (-1);
	}
	pd->id = ++p->next_id;
	params = jsonrpc_params(req);
	json_object_object_add(params, "name", json_object_new_string(tool));
	json_object_object_add(req, "id", json_object_new_int64(pd->id));
	json = jsonrpc_string(req, &len);
	if (worker_send(p, MSG_REQUEST, pd->id, json, len) == -1) {
		router_reply_error_result(pd, "peer %s: could not hand the call "
		    "to its worker: %s", p->name, p->cause);
		return (-1);
	}
	pd->peer = p;
	RB_INSERT(pending_tree, &p->inflight, pd);
	p->ninflight++;
	router_arm_deadline(pd);
	return (0);
}

struct pending *
router_call(struct session *s, struct peer *p, const char *exposed,
    const char *tool, struct json_object *req, mcp_reply_cb cb, void *arg)
{
	struct pending	*pd;

	pd = pending_new(s, jsonrpc_id(req), cb, arg);
	return (router_route(pd, p, exposed, tool, req) == 0 ? pd : NULL);
}

static struct pending *
router_find(struct peer *p, uint64_t id)
{
	struct pending	key;

	key.id = id;
	return (RB_FIND(pending_tree, &p->inflight, &key));
}

/*
 * A result in the canonical shape: checked byte for byte and by the
 * bounded parser, then answered with the client's id spliced in front of
 * the worker's bytes instead of parsing, patching and printing it all.
 * -1: not that shape, or something the slow path must judge.
 */
static int
router_response_fast(struct pending *pd, const char *json, size_t len)
{
	struct json_object	*v;
	const char		*why;
	size_t			 voff, vlen;

	if (jsonrpc_canon_result(json, len, pd->id, &voff) == -1)
		return (-1);
	vlen = len - voff - 1;
	if ((v = jsonrpc_parse(json + voff, vlen, JSON_DEPTH_MAX - 1,
	    &why)) == NULL)
		return (-1);
	json_object_put(v);
	router_reply(pd, jsonrpc_result_raw(pd->client_id, json + voff, vlen));
	return (0);
}

/* The peer answered request id; json is the worker's, so check it again. */
void
router_response(struct peer *p, uint64_t id, const char *json, size_t len)
{
	struct pending		*pd;
	struct json_object	*resp, *rid;
	const char		*why;

	if ((pd = router_find(p, id)) == NULL) {
		/* Late: after a deadline or a cancel.  Nothing waits for it. */
		log_debug("peer %s: late answer to %llu dropped", p->name,
		    (unsigned long long)id);
		return;
	}
	if (router_response_fast(pd, json, len) == 0)
		return;
	if ((resp = jsonrpc_parse(json, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    jsonrpc_check(resp, &why) != JSONRPC_RESPONSE) {
		if (resp != NULL)
			json_object_put(resp);
		worker_kill(p, "worker relayed an invalid response: %s", why);
		return;
	}
	rid = jsonrpc_id(resp);
	if (!json_object_is_type(rid, json_type_int) ||
	    (uint64_t)json_object_get_int64(rid) != id) {
		json_object_put(resp);
		worker_kill(p, "worker answered request %llu with "
		    "another id", (unsigned long long)id);
		return;
	}
	json_object_object_add(resp, "id", json_object_get(pd->client_id));
	router_reply(pd, resp);
}

void
router_callfail(struct peer *p, uint64_t id, const char *reason)
{
	struct pending	*pd;

	if ((pd = router_find(p, id)) == NULL)
		return;
	router_reply_error_result(pd, "peer %s: %s", p->name, reason);
}

/* notifications/progress for a call: the peer is working, extend. */
void
router_progress(struct peer *p, uint64_t id)
{
	struct pending	*pd;

	if ((pd = router_find(p, id)) != NULL)
		router_arm_deadline(pd);
}

/* The worker is gone: every request on it is answered now. */
void
router_fail_all(struct peer *p, const char *cause)
{
	struct pending	*pd;

	while ((pd = RB_MIN(pending_tree, &p->inflight)) != NULL)
		router_reply_error_result(pd, "peer %s failed during %s: %s",
		    p->name, pd->tool, cause);
}

void
router_abandon(struct pending *pd)
{
	router_cancel_upstream(pd);
	pending_unlink(pd);
	pending_free(pd);
}

/* The client cancelled: no answer is owed (the spec), the peer is told. */
void
router_cancel(struct pending *pd)
{
	router_cancel_upstream(pd);
	pending_unlink(pd);
	pd->cb(pd->arg, NULL);
	pending_free(pd);
}

void
router_session_gone(struct session *s)
{
	struct pending	*pd;

	while ((pd = TAILQ_FIRST(&s->pendings)) != NULL) {
		router_cancel_upstream(pd);
		router_reply(pd, jsonrpc_error(pd->client_id,
		    JSONRPC_INTERNAL_ERROR, "the session ended before the answer",
		    NULL));
	}
}

/* --- tools/list waiting for peers to come up ----------------------------- */

static void
router_park_timeout(evutil_socket_t fd, short events, void *arg)
{
	router_wake_parked(1);
}

/*
 * Park a request until every peer has finished its first start (or
 * LIST_WAIT_MS passed), then hand it to resume(): a client that lists or
 * calls tools right after starting the mesh sees the bridged tools.
 */
struct pending *
router_park(struct session *s, struct json_object *req, router_resume_fn resume,
    mcp_reply_cb cb, void *arg)
{
	struct pending	*pd;
	struct timeval	 tv = { LIST_WAIT_MS / 1000, (LIST_WAIT_MS % 1000) * 1000 };

	pd = pending_new(s, jsonrpc_id(req), cb, arg);
	pd->req = json_object_get(req);
	pd->resume = resume;
	pd->parked = 1;
	TAILQ_INSERT_TAIL(&parked, pd, wait);
	pd->timer = evtimer_new(ev_base, router_park_timeout, NULL);
	evtimer_add(pd->timer, &tv);
	return (pd);
}

void
router_wake_parked(int force)
{
	struct pending	*pd;
	uint64_t	 now = now_us();

	if (TAILQ_EMPTY(&parked) || (!force && !peer_settled()))
		return;
	while ((pd = TAILQ_FIRST(&parked)) != NULL) {
		if (!force && !peer_settled())
			break;
		if (force && !peer_settled() &&
		    now - pd->started_us < (uint64_t)LIST_WAIT_MS * 1000)
			break;
		TAILQ_REMOVE(&parked, pd, wait);
		pd->parked = 0;
		event_free(pd->timer);
		pd->timer = NULL;
		pd->resume(pd);
	}
}
