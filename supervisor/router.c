/*
 * Calls in flight to peers.  A call routed to a peer gets a mesh id unique
 * on that peer (so two clients using the same id never collide), an idle
 * deadline that progress pushes out up to a ceiling, and its answer: the
 * peer's response with the client's id put back, or an error that names
 * the peer and the cause when the peer is busy or fails, the worker dies,
 * a deadline passes or the origin goes.
 *
 * The client's progress token is replaced by the mesh id on the way to
 * the peer, and put back in the peer's notifications/progress, which go
 * to the call's own client only, as messages of that call.
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

static int	call_cmp(struct call *, struct call *);
RB_GENERATE(call_tree, call, node, call_cmp);

/* Calls waiting for peers on their first start. */
static TAILQ_HEAD(, call)	parked = TAILQ_HEAD_INITIALIZER(parked);

static int
call_cmp(struct call *a, struct call *b)
{
	return (a->id < b->id ? -1 : a->id > b->id);
}

void
router_unlink(struct call *c, int cancel)
{
	struct peer	*p = c->peer;

	if (p != NULL) {
		/*
		 * Out of the tree first: a worker found dead as it is told
		 * (EPIPE) has every call in the tree answered, and this one
		 * is done already.
		 */
		RB_REMOVE(call_tree, &p->inflight, c);
		p->ninflight--;
		c->peer = NULL;
		/* Told only if sent: a late answer is dropped either way. */
		if (cancel && worker_is_ready(p->worker))
			worker_send(p->worker, MSG_CANCEL, c->id, NULL, 0);
	} else if (c->parked)
		TAILQ_REMOVE(&parked, c, wait);
	c->parked = 0;
	if (c->timer != NULL)
		event_free(c->timer);
	c->timer = NULL;
}

static void
router_deadline(evutil_socket_t fd, short events, void *arg)
{
	struct call	*c = arg;
	struct peer	*p = c->peer;
	unsigned long long ms = p->timeout_ms;
	uint64_t	 id = c->id;

	/*
	 * Answered first, then the peer told: a worker found dead as it is
	 * told has every call in flight answered, and c freed.
	 */
	p->nfailed++;
	if (c->at_ceiling) {
		ms = p->timeout_ms * REQUEST_CEILING_FACTOR;
		log_warnx("peer %s: %s not done within %llu ms, its ceiling",
		    p->name, c->what, ms);
		call_error_result(c, "peer %s did not finish %s within %llu "
		    "ms (the ceiling of a call, whatever its progress): the "
		    "call was cancelled", p->name, c->what, ms);
	} else {
		log_warnx("peer %s: no answer to %s within %llu ms", p->name,
		    c->what, ms);
		call_error_result(c, "peer %s did not answer %s within %llu "
		    "ms: the call was cancelled", p->name, c->what, ms);
	}
	worker_send(p->worker, MSG_CANCEL, id, NULL, 0);
}

/*
 * The idle deadline from now, never past the ceiling.  Which of the two
 * it is, is remembered: libevent's clock is coarse and cached, so the
 * timer may fire a few milliseconds before now_ms() reaches it.
 */
static void
router_arm_deadline(struct call *c)
{
	uint64_t	now = now_ms(), ms = c->peer->timeout_ms;
	struct timeval	tv;

	c->at_ceiling = now + ms >= c->ceiling_ms;
	if (c->at_ceiling)
		ms = c->ceiling_ms > now ? c->ceiling_ms - now : 0;
	tv = ms_tv(ms);
	if (c->timer == NULL)
		c->timer = evtimer_new(ev_base, router_deadline, c);
	evtimer_add(c->timer, &tv);
}

/* Refused at once rather than queued: the caller learns why now. */
static int
router_refuse(struct call *c, struct peer *p)
{
	if (!peer_ready(p)) {
		call_error_result(c, "peer %s is not reachable (%s): %s",
		    p->name, peer_state_name(p), peer_cause(p));
		return (-1);
	}
	if (p->ninflight >= PEER_INFLIGHT_MAX) {
		call_error_result(c, "peer %s is busy: %u requests in flight "
		    "(limit %d); try again", p->name, p->ninflight,
		    PEER_INFLIGHT_MAX);
		return (-1);
	}
	if (call_count() > CLIENT_INFLIGHT_MAX) {
		call_error_result(c, "the mesh is busy: %u calls in flight "
		    "(limit %d); try again", call_count(), CLIENT_INFLIGHT_MAX);
		return (-1);
	}
	return (0);
}

/*
 * Flow control toward the worker: above WORKER_DOWNQUEUE_HIGH queued
 * bytes a call is refused as busy rather than queued (a worker is never
 * killed for volume), but a small one may still use a reserve above the
 * mark, so that a few huge calls cannot starve everyone else's.
 */
static int
router_refuse_busy(struct call *c, struct peer *p, size_t len)
{
	size_t	queued = worker_queued(p->worker), limit;

	limit = WORKER_DOWNQUEUE_HIGH;
	if (len <= WORKER_DOWNQUEUE_SMALL)
		limit += WORKER_DOWNQUEUE_RESERVE;
	if (queued + len <= limit)
		return (0);
	call_error_result(c, "peer %s is busy: %zu bytes wait for its worker "
	    "(limit %zu for a call of %zu bytes); try again", p->name, queued,
	    limit, len);
	return (-1);
}

/*
 * params._meta.progressToken (a string or an integer) becomes the mesh
 * id: tokens of two clients would collide on one peer.
 */
static void
router_take_progress_token(struct call *c, struct json_object *params)
{
	struct json_object	*meta, *tok;

	if (!json_object_object_get_ex(params, "_meta", &meta) ||
	    !json_object_is_type(meta, json_type_object) ||
	    !json_object_object_get_ex(meta, "progressToken", &tok))
		return;
	if (!json_object_is_type(tok, json_type_string) &&
	    !json_object_is_type(tok, json_type_int))
		return;
	c->progress_token = json_object_get(tok);
	json_object_object_add(meta, "progressToken",
	    json_object_new_int64((int64_t)c->id));
}

/*
 * Meshes bridge meshes: a call carries the number of meshes it crossed
 * in params._meta (MESH_META_HOPS), and one that crossed MESH_HOPS_MAX
 * is refused, so no loop of meshes can pass a call round for ever.
 */
static int
router_count_hop(struct call *c, struct peer *p, struct json_object *params)
{
	struct json_object	*meta, *v;
	int64_t			 hops = 0;

	if (!json_object_object_get_ex(params, "_meta", &meta) ||
	    !json_object_is_type(meta, json_type_object)) {
		meta = json_object_new_object();
		json_object_object_add(params, "_meta", meta);
	}
	if (json_object_object_get_ex(meta, MESH_META_HOPS, &v) &&
	    json_object_is_type(v, json_type_int))
		hops = json_object_get_int64(v);
	if (hops >= MESH_HOPS_MAX || hops < 0) {
		call_error_result(c, "peer %s: the call to %s has crossed %lld "
		    "meshes already (at most %d): a loop of meshes?", p->name,
		    c->what, (long long)hops, MESH_HOPS_MAX);
		return (-1);
	}
	json_object_object_add(meta, MESH_META_HOPS,
	    json_object_new_int64(hops + 1));
	return (0);
}

int
router_route(struct call *c, struct peer *p, const char *exposed,
    const char *tool, struct json_object *req)
{
	struct json_object	*params;
	const char		*json, *method;
	size_t			 len;

	strlcpy(c->what, exposed, sizeof(c->what));
	/* Only a tool's failure is a result the model reads (isError). */
	method = jsonrpc_get_str(req, "method");
	c->plain_errors = method == NULL || strcmp(method, "tools/call") != 0;
	if (router_refuse(c, p) == -1)
		return (-1);
	if ((params = jsonrpc_params(req)) == NULL ||
	    !json_object_is_type(params, json_type_object)) {
		params = json_object_new_object();
		json_object_object_add(req, "params", params);
	}
	if (router_count_hop(c, p, params) == -1)
		return (-1);
	c->id = ++p->next_id;
	if (tool != NULL)
		json_object_object_add(params, "name",
		    json_object_new_string(tool));
	router_take_progress_token(c, params);
	json_object_object_add(req, "id", json_object_new_int64(c->id));
	json = jsonrpc_string(req, &len);
	if (router_refuse_busy(c, p, len) == -1)
		return (-1);
	if (len > MSG_PAYLOAD_MAX) {
		call_error_result(c, "peer %s: the call is %zu bytes, over the "
		    "%d a frame to its worker may hold", p->name, len,
		    MSG_PAYLOAD_MAX);
		return (-1);
	}
	if (worker_send(p->worker, MSG_REQUEST, c->id, json, len) == -1) {
		call_error_result(c, "peer %s: could not hand the call to its "
		    "worker: %s", p->name, peer_cause(p));
		return (-1);
	}
	c->peer = p;
	RB_INSERT(call_tree, &p->inflight, c);
	p->ninflight++;
	p->ncalls++;
	c->ceiling_ms = now_ms() + p->timeout_ms * REQUEST_CEILING_FACTOR;
	router_arm_deadline(c);
	return (0);
}

static struct call *
router_find(struct peer *p, uint64_t id)
{
	struct call	key;

	key.id = id;
	return (RB_FIND(call_tree, &p->inflight, &key));
}

struct call *
router_call_of(struct peer *p, uint64_t id)
{
	return (router_find(p, id));
}

void
router_extend(struct call *c)
{
	if (c->peer != NULL)
		router_arm_deadline(c);
}

/* No call with this id: late (fine) or never sent (a lie). */
static void
router_stray(struct peer *p, uint64_t id, const char *what)
{
	if (id == 0 || id > p->next_id) {
		worker_violation(p->worker, "worker sent %s for request %llu, "
		    "which it was never sent", what, (unsigned long long)id);
		return;
	}
	log_debug("peer %s: late %s for %llu dropped", p->name, what,
	    (unsigned long long)id);
}

/*
 * The peer answered call id; json is the worker's, so it is checked
 * again.  A result in the canonical shape is checked by the strict
 * scanner (RFC 8259 grammar, depth, UTF-8: what the client gets is valid
 * JSON) and answered with the client's id spliced in front of the
 * worker's bytes; anything else is parsed, checked and printed anew.
 */
void
router_response(struct peer *p, uint64_t id, const char *json, size_t len)
{
	struct call		*c;
	struct json_object	*resp, *rid;
	const char		*why;
	size_t			 voff;

	if ((c = router_find(p, id)) == NULL) {
		router_stray(p, id, "an answer");
		return;
	}
	if (jsonrpc_canon_result(json, len, id, &voff) == 0) {
		call_result_text(c, json + voff, len - voff - 1);
		return;
	}
	if ((resp = jsonrpc_parse(json, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    jsonrpc_check(resp, &why) != JSONRPC_RESPONSE) {
		json_object_put(resp);
		worker_violation(p->worker, "worker relayed an invalid "
		    "response: %s", why);
		return;
	}
	rid = jsonrpc_id(resp);
	if (!json_object_is_type(rid, json_type_int) ||
	    (uint64_t)json_object_get_int64(rid) != id) {
		json_object_put(resp);
		worker_violation(p->worker, "worker answered request %llu with "
		    "another id", (unsigned long long)id);
		return;
	}
	json_object_object_add(resp, "id", json_object_get(c->client_id));
	call_answer_json(c, resp);
}

void
router_callfail(struct peer *p, uint64_t id, const char *reason)
{
	struct call	*c;

	if ((c = router_find(p, id)) == NULL) {
		router_stray(p, id, "a failure");
		return;
	}
	p->nfailed++;
	call_error_result(c, "peer %s: %s", p->name, reason);
}

/*
 * notifications/progress for call c: the peer is working, so its
 * deadline moves; the client hears of it if it asked, under its token.
 */
static void
router_progress(struct call *c, struct json_object *n)
{
	struct json_object	*params = jsonrpc_params(n), *tok;
	const char		*json;
	size_t			 len;

	router_arm_deadline(c);
	if (c->progress_token == NULL || params == NULL ||
	    !json_object_object_get_ex(params, "progressToken", &tok) ||
	    !json_object_is_type(tok, json_type_int) ||
	    (uint64_t)json_object_get_int64(tok) != c->id)
		return;
	json_object_object_add(params, "progressToken",
	    json_object_get(c->progress_token));
	json = jsonrpc_string(n, &len);
	call_message(c, json, len);
}

/* A notification from the peer, about call id (0: about none). */
/*
 * A peer's notification n, on the stream of call c or (NULL) outside
 * any: what the mesh passes on, and to whom.
 */
static void
router_notice(struct peer *p, struct call *c, const char *method,
    struct json_object *n)
{
	const char	*json;
	size_t		 len;

	if (strcmp(method, "notifications/progress") == 0 && c != NULL)
		router_progress(c, n);
	else if (strcmp(method, "notifications/message") == 0)
		mcp_logging_relay(p, c, n);
	else if (strcmp(method, "notifications/resources/updated") == 0) {
		json = jsonrpc_string(n, &len);
		mcp_resources_updated(p, n, json, len);
	} else if (strcmp(method, "notifications/cancelled") == 0)
		relay_peer_cancelled(p, jsonrpc_params(n));
	else
		log_debug("peer %s: notification %s", p->name, method);
}

void
router_notify(struct peer *p, uint64_t id, const char *json, size_t len)
{
	struct json_object	*n;
	struct call		*c;
	const char		*why, *method;

	if ((n = jsonrpc_parse(json, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    jsonrpc_check(n, &why) != JSONRPC_NOTIFICATION) {
		json_object_put(n);
		worker_violation(p->worker, "worker relayed something that is "
		    "not a notification");
		return;
	}
	method = jsonrpc_method(n);
	c = id != 0 ? router_find(p, id) : NULL;
	if (id != 0 && c == NULL)
		log_debug("peer %s: %s for a call no longer in flight dropped",
		    p->name, method);
	else
		router_notice(p, c, method, n);
	json_object_put(n);
}

/* The worker is gone, or the peer: every call on it is answered now. */
void
router_fail_all(struct peer *p, const char *cause)
{
	struct call	*c;

	while ((c = RB_MIN(call_tree, &p->inflight)) != NULL) {
		p->nfailed++;
		call_error_result(c, "peer %s failed during %s: %s", p->name,
		    c->what, cause);
	}
}

/* --- calls waiting for peers to come up ---------------------------------- */

static void
router_park_timeout(evutil_socket_t fd, short events, void *arg)
{
	router_wake_parked(1);
}

/*
 * Parked until every peer has finished its first start (or LIST_WAIT_MS
 * passed): a client that lists or calls tools right after starting the
 * mesh sees the bridged tools.
 */
void
router_park(struct call *c, struct json_object *req, call_resume_fn resume)
{
	struct timeval	tv = ms_tv(LIST_WAIT_MS);

	c->req = json_object_get(req);
	c->resume = resume;
	c->parked = 1;
	TAILQ_INSERT_TAIL(&parked, c, wait);
	c->timer = evtimer_new(ev_base, router_park_timeout, NULL);
	evtimer_add(c->timer, &tv);
}

void
router_wake_parked(int force)
{
	struct call	*c;
	uint64_t	 now = now_us();

	if (TAILQ_EMPTY(&parked) || (!force && !peer_settled()))
		return;
	while ((c = TAILQ_FIRST(&parked)) != NULL) {
		if (!force && !peer_settled())
			break;
		if (force && !peer_settled() &&
		    now - c->started_us < (uint64_t)LIST_WAIT_MS * 1000)
			break;
		TAILQ_REMOVE(&parked, c, wait);
		c->parked = 0;
		event_free(c->timer);
		c->timer = NULL;
		c->resume(c);
	}
}
