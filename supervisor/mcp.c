/*
 * The MCP server the clients see: the method table every request goes
 * through, the lifecycle (initialize, ping, notifications), and
 * notifications/tools/list_changed.  Front-ends hand in checked JSON-RPC
 * messages with an origin and reply operations; every request becomes a
 * call (call.c) that its handler answers now or routes (router.c).
 */
#include <malloc.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "mesh.h"
#include "xmalloc.h"

#define MCP_M_INIT	0x01	/* only in an initialized session */

struct mcp_method {
	const char	*name;
	unsigned	 flags;		/* MCP_M_* */
	unsigned	 eras;		/* MCP_ERA_* it exists in */
	void		(*fn)(struct call *, struct json_object *req);
	/* Served only while a bridged peer offers this capability (and,
	 * when sub is set, its sub: true): otherwise -32601. */
	const char	*cap;
	const char	*sub;
};

struct mcp_notice {
	const char	*name;
	void		(*fn)(struct origin *, struct json_object *msg);
};

static void	 mcp_initialize(struct call *, struct json_object *);
static void	 mcp_initialize_answer(struct call *);
static void	 mcp_dispatch_resume(struct call *);
static void	 mcp_ping(struct call *, struct json_object *);
static void	 mcp_initialized(struct origin *, struct json_object *);
static void	 mcp_cancelled(struct origin *, struct json_object *);
static void	 mcp_roots_changed(struct origin *, struct json_object *);

static const struct mcp_method mcp_methods[] = {
	{ "initialize",	0,		MCP_ERA_LEGACY,	mcp_initialize,
	    NULL, NULL },
	{ "ping",	0,		MCP_ERA_ALL,	mcp_ping, NULL, NULL },
	{ "tools/list",	MCP_M_INIT,	MCP_ERA_ALL,	mcp_tools_list,
	    NULL, NULL },
	{ "tools/call",	MCP_M_INIT,	MCP_ERA_ALL,	mcp_tools_call,
	    NULL, NULL },
	{ "resources/list", MCP_M_INIT,	MCP_ERA_ALL,	mcp_resources_list,
	    "resources", NULL },
	{ "resources/templates/list", MCP_M_INIT, MCP_ERA_ALL,
	    mcp_resources_templates_list, "resources", NULL },
	{ "resources/read", MCP_M_INIT,	MCP_ERA_ALL,	mcp_resources_read,
	    "resources", NULL },
	{ "resources/subscribe", MCP_M_INIT, MCP_ERA_LEGACY,
	    mcp_resources_subscribe, "resources", "subscribe" },
	{ "resources/unsubscribe", MCP_M_INIT, MCP_ERA_LEGACY,
	    mcp_resources_unsubscribe, "resources", "subscribe" },
	{ "prompts/list", MCP_M_INIT,	MCP_ERA_ALL,	mcp_prompts_list,
	    "prompts", NULL },
	{ "prompts/get", MCP_M_INIT,	MCP_ERA_ALL,	mcp_prompts_get,
	    "prompts", NULL },
	{ "completion/complete", MCP_M_INIT, MCP_ERA_ALL,
	    mcp_completion_complete, "completions", NULL },
	/* The mesh's own: it relays its peers' logs, whoever they are. */
	{ "logging/setLevel", MCP_M_INIT, MCP_ERA_LEGACY,
	    mcp_logging_set_level, NULL, NULL },
};

static const struct mcp_notice mcp_notices[] = {
	{ "notifications/initialized",	mcp_initialized },
	{ "notifications/cancelled",	mcp_cancelled },
	{ "notifications/roots/list_changed",	mcp_roots_changed },
};


#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * The method of a checked message, with its length: a name with a NUL
 * inside ("tools/list\u0000junk") must not be taken for a shorter one.
 */
static const char *
mcp_method_of(struct json_object *msg, size_t *len)
{
	struct json_object	*v;

	json_object_object_get_ex(msg, "method", &v);
	*len = (size_t)json_object_get_string_len(v);
	return (json_object_get_string(v));
}

static int
mcp_name_is(const char *want, const char *name, size_t len)
{
	return (strlen(want) == len && memcmp(want, name, len) == 0);
}

const struct mcp_version *
mcp_origin_version(const struct origin *o)
{
	const struct mcp_version	*v = NULL;

	if (o->session != NULL && o->session->version[0] != '\0')
		v = mcp_version_find(o->session->version,
		    strlen(o->session->version));
	return (v != NULL ? v : mcp_version_newest(MCP_ERA_LEGACY));
}

/* The eras whose methods an origin may call. */
static unsigned
mcp_origin_eras(const struct origin *o)
{
	switch (o->kind) {
	case ORIGIN_SESSION:
		return (MCP_ERA_LEGACY);
	case ORIGIN_EXCHANGE:
		return (MCP_ERA_STATELESS);
	default:
		return (MCP_ERA_ALL);
	}
}

/* --- lifecycle ----------------------------------------------------------- */

/*
 * What the mesh offers: tools (its own, and its peers') and logging (it
 * relays its peers' logs) always; prompts, resources (subscribe too) and
 * completions when a bridged peer offers them, as the peers are once they
 * have started (initialize waits for that, as tools/list does).  The
 * lists say listChanged: the mesh says when peers come and go.
 */
static struct json_object *
mcp_capabilities(void)
{
	struct json_object	*caps, *v;

	caps = json_object_new_object();
	v = json_object_new_object();
	json_object_object_add(v, "listChanged", json_object_new_boolean(1));
	json_object_object_add(caps, "tools", v);
	if (resources_offered("prompts", NULL)) {
		v = json_object_new_object();
		json_object_object_add(v, "listChanged",
		    json_object_new_boolean(1));
		json_object_object_add(caps, "prompts", v);
	}
	if (resources_offered("resources", NULL)) {
		v = json_object_new_object();
		json_object_object_add(v, "listChanged",
		    json_object_new_boolean(1));
		if (resources_offered("resources", "subscribe"))
			json_object_object_add(v, "subscribe",
			    json_object_new_boolean(1));
		json_object_object_add(caps, "resources", v);
	}
	json_object_object_add(caps, "logging", json_object_new_object());
	if (resources_offered("completions", NULL))
		json_object_object_add(caps, "completions",
		    json_object_new_object());
	return (caps);
}

static struct json_object *
mcp_server_info(void)
{
	struct json_object	*v;

	v = json_object_new_object();
	json_object_object_add(v, "name", json_object_new_string(MESH_SERVER_NAME));
	json_object_object_add(v, "title", json_object_new_string(conf.name));
	json_object_object_add(v, "version", json_object_new_string(MESH_VERSION));
	return (v);
}

static void
mcp_initialize(struct call *c, struct json_object *req)
{
	struct session			*s = c->origin->session;
	struct json_object		*params = jsonrpc_params(req), *v;
	const struct mcp_version	*ver;

	if (s == NULL) {
		call_error(c, JSONRPC_INVALID_REQUEST, "initialize needs a "
		    "session");
		return;
	}
	if (s->initialized) {
		call_error(c, JSONRPC_INVALID_REQUEST, "session is already "
		    "initialized");
		return;
	}
	if (params == NULL || !json_object_is_type(params, json_type_object) ||
	    !json_object_object_get_ex(params, "protocolVersion", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		call_error(c, JSONRPC_INVALID_PARAMS, "initialize: "
		    "params.protocolVersion (a string) is required");
		return;
	}
	/* Echo a version we speak; otherwise offer our newest. */
	if ((ver = mcp_version_find(json_object_get_string(v),
	    json_object_get_string_len(v))) == NULL ||
	    !(ver->era & MCP_ERA_LEGACY))
		ver = mcp_version_newest(MCP_ERA_LEGACY);
	strlcpy(s->version, ver->name, sizeof(s->version));
	if (json_object_object_get_ex(params, "clientInfo", &v))
		s->client_info = json_object_get(v);
	if (json_object_object_get_ex(params, "capabilities", &v) &&
	    json_object_is_type(v, json_type_object))
		s->client_caps = json_object_get(v);
	s->initialized = 1;
	relay_session_caps(s->client_caps, 1);
	log_info("%s: initialized, protocol %s", c->origin->name, s->version);
	/* What it can do depends on the peers: those starting are awaited. */
	if (!peer_settled())
		router_park(c, req, mcp_initialize_answer);
	else
		mcp_initialize_answer(c);
}

static void
mcp_initialize_answer(struct call *c)
{
	struct session		*s = c->origin->session;
	struct json_object	*res;

	res = json_object_new_object();
	json_object_object_add(res, "protocolVersion",
	    json_object_new_string(s->version));
	json_object_object_add(res, "capabilities", mcp_capabilities());
	json_object_object_add(res, "serverInfo", mcp_server_info());
	json_object_object_add(res, "instructions", json_object_new_string(
	    "mcp-mesh bridges several MCP servers. A tool named <peer>_<tool> "
	    "runs <tool> on that peer; mesh_node_info describes this node and "
	    "its peers."));
	call_result(c, res);
}

static void
mcp_ping(struct call *c, struct json_object *req)
{
	call_result(c, json_object_new_object());
}

static void
mcp_initialized(struct origin *o, struct json_object *msg)
{
	log_debug("%s: client says it is initialized", o->name);
}

/* notifications/cancelled names the client's id: find and drop it. */
static void
mcp_cancelled(struct origin *o, struct json_object *msg)
{
	struct json_object	*params = jsonrpc_params(msg), *rid;
	struct call		*c;

	if (params == NULL || !json_object_is_type(params, json_type_object) ||
	    !json_object_object_get_ex(params, "requestId", &rid))
		return;
	if ((c = origin_find_call(o, rid)) == NULL)
		return;		/* answered already, or never ours */
	log_debug("%s: request cancelled by the client", o->name);
	call_cancel(c);
}

/* The client's roots changed: relay.c tells the peers. */
static void
mcp_roots_changed(struct origin *o, struct json_object *msg)
{
	relay_roots_changed();
}

/* --- dispatch ------------------------------------------------------------ */

static const struct mcp_method *
mcp_method_find(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < NITEMS(mcp_methods); i++)
		if (mcp_name_is(mcp_methods[i].name, name, len))
			return (&mcp_methods[i]);
	return (NULL);
}

static void
mcp_dispatch(struct call *c, struct json_object *req)
{
	const struct mcp_method	*m;
	struct session		*s = c->origin->session;
	const char		*name;
	size_t			 len;

	name = mcp_method_of(req, &len);
	m = mcp_method_find(name, len);
	if (m == NULL || !(m->eras & mcp_origin_eras(c->origin))) {
		call_error(c, JSONRPC_METHOD_NOT_FOUND, "Method not found");
		return;
	}
	if ((m->flags & MCP_M_INIT) && s != NULL && !s->initialized) {
		call_error(c, JSONRPC_INVALID_REQUEST, "send initialize "
		    "first: the session is not initialized");
		return;
	}
	if (s != NULL && s->initialized)
		s->used = 1;
	if (m->cap != NULL) {
		/* Whether a peer offers it is known once they have started. */
		if (!peer_settled() && !c->waited) {
			router_park(c, req, mcp_dispatch_resume);
			return;
		}
		if (!resources_offered(m->cap, m->sub)) {
			call_error(c, JSONRPC_METHOD_NOT_FOUND, "Method not "
			    "found: no peer of this mesh offers %s%s%s", m->cap,
			    m->sub != NULL ? " with " : "",
			    m->sub != NULL ? m->sub : "");
			return;
		}
	}
	m->fn(c, req);
}

/* Once: after LIST_WAIT_MS the peers still starting are not awaited. */
static void
mcp_dispatch_resume(struct call *c)
{
	c->waited = 1;
	mcp_dispatch(c, c->req);
}

static struct call *
mcp_request(struct origin *o, struct json_object *req,
    const struct reply_ops *ops, void *arg)
{
	struct call	*c;

	if (o->session != NULL)
		session_touch(o->session);
	c = call_new(o, jsonrpc_id(req), ops, arg);
	/* Held while the handler runs: it may answer before returning. */
	call_hold(c);
	mcp_dispatch(c, req);
	if (call_done(c)) {
		call_release(c);
		return (NULL);
	}
	call_release(c);
	return (c);
}

static void
mcp_notification(struct origin *o, struct json_object *msg)
{
	const char	*name;
	size_t		 i, len;

	if (o->session != NULL)
		session_touch(o->session);
	name = mcp_method_of(msg, &len);
	for (i = 0; i < NITEMS(mcp_notices); i++) {
		if (mcp_name_is(mcp_notices[i].name, name, len)) {
			mcp_notices[i].fn(o, msg);
			return;
		}
	}
	log_debug("%s: notification %.64s ignored", o->name, name);
}

struct call *
mcp_handle(struct origin *o, struct json_object *msg, enum jsonrpc_kind kind,
    const struct reply_ops *ops, void *arg)
{
	switch (kind) {
	case JSONRPC_REQUEST:
		return (mcp_request(o, msg, ops, arg));
	case JSONRPC_NOTIFICATION:
		mcp_notification(o, msg);
		break;
	case JSONRPC_RESPONSE:
		/* An answer to a peer's request, relayed (relay.c)? */
		if (!relay_response(o, msg))
			log_debug("%s: unexpected response from the client "
			    "dropped", o->name);
		break;
	default:
		break;
	}
	return (NULL);
}

/* --- list_changed -------------------------------------------------------- */

static const char *mcp_list_notices[MCP_LIST_N] = {
	"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}",
	"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/prompts/list_changed\"}",
	"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/list_changed\"}",
};
static struct event	*ev_list_changed[MCP_LIST_N];

static void
mcp_list_changed_fire(evutil_socket_t fd, short events, void *arg)
{
	const char	*n = mcp_list_notices[(intptr_t)arg];

	session_broadcast(n, strlen(n));
	/*
	 * A burst of READY or LISTS messages is over: their json-c trees
	 * (some 5 KB a tool) were freed in the middle of the heap, where
	 * only a trim gives the pages back.  Once per burst, not per call.
	 */
	malloc_trim(0);
}

/* Coalesced: a burst of peers coming up gives one notification. */
void
mcp_list_changed(enum mcp_list l)
{
	struct timeval	tv = ms_tv(TOOLS_CHANGED_COALESCE_MS);

	router_wake_parked(0);
	if (ev_list_changed[l] == NULL)
		ev_list_changed[l] = evtimer_new(ev_base,
		    mcp_list_changed_fire, (void *)(intptr_t)l);
	if (!evtimer_pending(ev_list_changed[l], NULL))
		evtimer_add(ev_list_changed[l], &tv);
}

void
mcp_tools_changed(void)
{
	mcp_list_changed(MCP_LIST_TOOLS);
}

void
mcp_shutdown(void)
{
	int	i;

	for (i = 0; i < MCP_LIST_N; i++) {
		if (ev_list_changed[i] != NULL)
			event_free(ev_list_changed[i]);
		ev_list_changed[i] = NULL;
	}
}
