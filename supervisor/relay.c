/*
 * Requests a peer makes of a client during a call — sampling/createMessage,
 * elicitation/create, roots/list — relayed to the client that made the
 * call, on that call's own stream, and the client's answer relayed back.
 *
 * Ids are remapped both ways: the client sees an id of the mesh's (one
 * counter for the whole mesh, so two peers' ids never meet in a client),
 * the peer gets its answer under its own id.  One that came outside any
 * call goes to the one client it can be for (relay_pick).  A request is
 * refused to the peer, with the reason, when nobody or several clients
 * could be meant, when the call's
 * client did not declare the capability, or when nobody answers within
 * the peer's deadline; when the client goes, the peer is told; when the
 * peer cancels, the client is told.
 *
 * What workers declare upstream: a gateway asks only what its client
 * declared, so the mesh declares, as the client capabilities of every
 * worker, those that at least one initialized session declared (counted
 * here).  When that set grows, workers are told (CAPS) and start a new
 * upstream session that declares it; when it shrinks they keep the old
 * one, and a request no client of the call can serve is refused here.
 */
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "mesh-proto.h"
#include "mesh.h"
#include "xmalloc.h"

struct srequest {
	RB_ENTRY(srequest)	 node;		/* by the id the client sees */
	uint64_t		 mid;		/* that id */
	struct peer		*peer;
	struct json_object	*upid;		/* the peer's id, owned */
	struct origin		*origin;	/* whose client was asked */
	struct event		*timer;
	char			 method[32];
};

RB_HEAD(srequest_tree, srequest);

static int	 srequest_cmp(struct srequest *, struct srequest *);
RB_GENERATE_STATIC(srequest_tree, srequest, node, srequest_cmp)

static struct srequest_tree	 srequests = RB_INITIALIZER(&srequests);
static uint64_t			 relay_next_id;
static unsigned			 nsrequests;

/* The client capabilities the mesh relays, and how many sessions have each. */
static const char	*relay_caps[] = { "sampling", "elicitation", "roots" };
#define NRELAY_CAPS	(sizeof(relay_caps) / sizeof(relay_caps[0]))
static unsigned		 relay_cap_count[NRELAY_CAPS];

static int
srequest_cmp(struct srequest *a, struct srequest *b)
{
	return (a->mid < b->mid ? -1 : a->mid > b->mid);
}

/* The method's capability: "sampling" for sampling/createMessage... */
static int
relay_cap_of(const char *method)
{
	if (strcmp(method, "sampling/createMessage") == 0)
		return (0);
	if (strcmp(method, "elicitation/create") == 0)
		return (1);
	if (strcmp(method, "roots/list") == 0)
		return (2);
	return (-1);
}

/* An error answer to the peer's request id (worker's, untrusted text). */
static void
relay_refuse(struct peer *p, struct json_object *id, int code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
relay_refuse(struct peer *p, struct json_object *id, int code,
    const char *fmt, ...)
{
	struct json_object	*e;
	va_list			 ap;
	const char		*s;
	char			 msg[512];
	size_t			 len;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("peer %s: its request refused: %s", p->name, msg);
	e = jsonrpc_error(id, code, msg, NULL);
	s = jsonrpc_string(e, &len);
	worker_send(p->worker, MSG_SRESPONSE, 0, s, len);
	json_object_put(e);
}

static void
srequest_free(struct srequest *r)
{
	RB_REMOVE(srequest_tree, &srequests, r);
	nsrequests--;
	if (r->timer != NULL)
		event_free(r->timer);
	json_object_put(r->upid);
	free(r);
}

/* Tell the client its request is off (the peer gave up, or the time). */
static void
relay_cancel_client(struct srequest *r, const char *why)
{
	char	buf[256];
	int	n;

	if (r->origin->session == NULL || r->origin->session->push == NULL)
		return;
	n = snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/cancelled\",\"params\":{\"requestId\":%llu,"
	    "\"reason\":\"%s\"}}", (unsigned long long)r->mid, why);
	r->origin->session->push(r->origin->session, buf, (size_t)n);
}

static void
relay_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct srequest	*r = arg;

	relay_refuse(r->peer, r->upid, JSONRPC_INTERNAL_ERROR, "the client "
	    "did not answer %s within %llu ms", r->method,
	    (unsigned long long)r->peer->timeout_ms);
	relay_cancel_client(r, "no answer in time");
	srequest_free(r);
}

/*
 * The client of call c gets the request, under an id of ours; the answer
 * is awaited for the peer's deadline.
 */
static void
relay_forward(struct peer *p, struct origin *o, struct call *c,
    struct json_object *m, const char *method)
{
	struct srequest	*r;
	struct timeval	 tv = ms_tv(p->timeout_ms);
	const char	*s;
	size_t		 len;

	r = xcalloc(1, sizeof(*r));
	r->mid = ++relay_next_id;
	r->peer = p;
	r->upid = json_object_get(jsonrpc_id(m));
	r->origin = o;
	strlcpy(r->method, method, sizeof(r->method));
	RB_INSERT(srequest_tree, &srequests, r);
	nsrequests++;
	r->timer = evtimer_new(ev_base, relay_timeout, r);
	evtimer_add(r->timer, &tv);
	json_object_object_add(m, "id", json_object_new_int64((int64_t)r->mid));
	s = jsonrpc_string(m, &len);
	if (c == NULL) {
		o->session->push(o->session, s, len);
		return;
	}
	call_message(c, s, len);
	/* A human may take a while: the call waits, its deadline moves. */
	router_extend(c);
}

static int
relay_session_can(const struct session *s, int cap)
{
	return (s != NULL && s->initialized && s->client_caps != NULL &&
	    json_object_object_get_ex(s->client_caps, relay_caps[cap], NULL));
}

/*
 * A request that came outside any call (the gateway's GET stream: a tool
 * that did not tie its request to the call, roots/list after the
 * handshake).  Whom to ask is clear when every call in flight to the peer
 * whose client can answer comes from one client (its oldest call's
 * stream), or, with no call in flight, when one session alone can (its
 * own stream).  Otherwise it is refused: asking the wrong person is
 * worse than asking nobody.  *c is the call, or NULL; NULL returned
 * and *why set when there is nobody, or more than one.
 */
static struct origin *
relay_pick(struct peer *p, int cap, struct call **cp, const char **why)
{
	struct origin	*o = NULL;
	struct session	*s;
	struct call	*c;

	*cp = NULL;
	RB_FOREACH(c, call_tree, &p->inflight) {
		if (!relay_session_can(c->origin->session, cap))
			continue;
		if (o != NULL && c->origin != o) {
			*why = "calls of several clients are in flight to it";
			return (NULL);
		}
		if (o == NULL) {
			o = c->origin;
			*cp = c;
		}
	}
	if (o != NULL)
		return (o);
	for (s = session_lru(); s != NULL; s = session_next(s)) {
		if (!relay_session_can(s, cap) || s->push == NULL)
			continue;
		if (o != NULL) {
			*why = "several clients could answer it";
			return (NULL);
		}
		o = &s->origin;
	}
	if (o == NULL)
		*why = "no client that declared the capability can be reached";
	return (o);
}

/* SREQUEST from p's worker, during its call id (0: none). */
void
relay_request(struct peer *p, uint64_t id, const char *json, size_t len)
{
	struct json_object	*m, *caps;
	struct origin		*o;
	struct call		*c;
	const char		*why, *method;
	int			 cap;

	if ((m = jsonrpc_parse(json, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    jsonrpc_check(m, &why) != JSONRPC_REQUEST) {
		json_object_put(m);
		worker_violation(p->worker, "worker relayed something that is "
		    "not a request");
		return;
	}
	method = jsonrpc_method(m);
	if ((cap = relay_cap_of(method)) == -1)
		relay_refuse(p, jsonrpc_id(m), JSONRPC_METHOD_NOT_FOUND,
		    "mcp-mesh relays sampling, elicitation and roots requests "
		    "to clients, not %.64s", method);
	else if (nsrequests >= RELAY_REQUESTS_MAX)
		relay_refuse(p, jsonrpc_id(m), JSONRPC_INTERNAL_ERROR,
		    "%u requests wait for clients already", nsrequests);
	else if (id == 0) {
		if ((o = relay_pick(p, cap, &c, &why)) == NULL)
			relay_refuse(p, jsonrpc_id(m), JSONRPC_INTERNAL_ERROR,
			    "%s came outside any call of a client, and %s",
			    method, why);
		else
			relay_forward(p, o, c, m, method);
	} else if ((c = router_call_of(p, id)) == NULL)
		relay_refuse(p, jsonrpc_id(m), JSONRPC_INTERNAL_ERROR, "%s "
		    "came for a call no longer in flight", method);
	else if (c->origin->session == NULL ||
	    (caps = c->origin->session->client_caps) == NULL ||
	    !json_object_object_get_ex(caps, relay_caps[cap], NULL))
		relay_refuse(p, jsonrpc_id(m), JSONRPC_METHOD_NOT_FOUND, "the "
		    "client of this call did not declare the %s capability",
		    relay_caps[cap]);
	else
		relay_forward(p, c->origin, c, m, method);
	json_object_put(m);
}

/*
 * A response from a client of origin o: to one of ours?  Then to its
 * peer, under the peer's id.  1 when it was ours.
 */
int
relay_response(struct origin *o, struct json_object *msg)
{
	struct srequest	 key, *r;
	struct json_object *id = jsonrpc_id(msg);
	const char	*s;
	size_t		 len;

	if (!json_object_is_type(id, json_type_int))
		return (0);
	key.mid = (uint64_t)json_object_get_int64(id);
	if ((r = RB_FIND(srequest_tree, &srequests, &key)) == NULL ||
	    r->origin != o)
		return (0);
	json_object_object_add(msg, "id", json_object_get(r->upid));
	s = jsonrpc_string(msg, &len);
	worker_send(r->peer->worker, MSG_SRESPONSE, 0, s, len);
	srequest_free(r);
	return (1);
}

/* notifications/cancelled from p: one of its requests to a client? */
void
relay_peer_cancelled(struct peer *p, struct json_object *params)
{
	struct srequest		*r, *next;
	struct json_object	*rid;

	if (params == NULL ||
	    !json_object_object_get_ex(params, "requestId", &rid))
		return;
	for (r = RB_MIN(srequest_tree, &srequests); r != NULL; r = next) {
		next = RB_NEXT(srequest_tree, &srequests, r);
		if (r->peer == p && json_object_equal(r->upid, rid)) {
			relay_cancel_client(r, "the peer cancelled it");
			srequest_free(r);
			return;
		}
	}
}

/* The client went: the peers still waiting on it are told. */
void
relay_origin_gone(struct origin *o)
{
	struct srequest	*r, *next;

	for (r = RB_MIN(srequest_tree, &srequests); r != NULL; r = next) {
		next = RB_NEXT(srequest_tree, &srequests, r);
		if (r->origin != o)
			continue;
		relay_refuse(r->peer, r->upid, JSONRPC_INTERNAL_ERROR, "the "
		    "client left before it answered %s", r->method);
		srequest_free(r);
	}
}

/* The peer's worker is gone: nobody to answer any more. */
void
relay_peer_gone(struct peer *p)
{
	struct srequest	*r, *next;

	for (r = RB_MIN(srequest_tree, &srequests); r != NULL; r = next) {
		next = RB_NEXT(srequest_tree, &srequests, r);
		if (r->peer == p) {
			relay_cancel_client(r, "the peer is gone");
			srequest_free(r);
		}
	}
}

/* --- what the clients can do ---------------------------------------------- */

/* {"sampling":{},...}: what some initialized session declared. */
struct json_object *
relay_client_caps(void)
{
	struct json_object	*o;
	size_t			 i;

	o = json_object_new_object();
	for (i = 0; i < NRELAY_CAPS; i++)
		if (relay_cap_count[i] > 0)
			json_object_object_add(o, relay_caps[i],
			    json_object_new_object());
	return (o);
}

/* The set changed: every worker hears of it. */
static void
relay_caps_changed(void)
{
	struct json_object	*o;
	struct peer		*p;
	const char		*s;
	size_t			 len;

	o = json_object_new_object();
	json_object_object_add(o, "capabilities", relay_client_caps());
	s = jsonrpc_string(o, &len);
	TAILQ_FOREACH(p, &peers, entry)
		if (worker_is_ready(p->worker))
			worker_send(p->worker, MSG_CAPS, 0, s, len);
	json_object_put(o);
}

/* A session initialized (delta 1) or went (-1) with caps. */
void
relay_session_caps(struct json_object *caps, int delta)
{
	size_t	i;
	int	changed = 0;

	if (caps == NULL)
		return;
	for (i = 0; i < NRELAY_CAPS; i++) {
		if (!json_object_object_get_ex(caps, relay_caps[i], NULL))
			continue;
		if (delta > 0 && relay_cap_count[i]++ == 0)
			changed = 1;
		else if (delta < 0 && relay_cap_count[i] > 0 &&
		    --relay_cap_count[i] == 0)
			changed = 1;
	}
	if (changed)
		relay_caps_changed();
}

/*
 * The client's roots changed: every peer that may have asked for them is
 * told (roots/list goes to whichever client a peer's call came from, so
 * any of them may have new roots for it).
 */
void
relay_roots_changed(void)
{
	static const char n[] = "{\"jsonrpc\":\"2.0\","
	    "\"method\":\"notifications/roots/list_changed\"}";
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry)
		if (peer_ready(p))
			worker_send(p->worker, MSG_NOTIFY_DOWN, 0, n,
			    sizeof(n) - 1);
}
