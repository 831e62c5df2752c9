/*
 * The MCP server the clients see: lifecycle (initialize, ping), one
 * tools/list holding the mesh's own tools and every bridged tool, and
 * tools/call routed through the exposed-name table.  Front-ends hand in
 * checked JSON-RPC messages; answers go back through their callbacks.
 */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "mesh.h"
#include "xmalloc.h"

/*
 * The serialised tools array, shared by every tools/list answer until the
 * table changes: 20,000 tools are not re-serialised per request.
 */
struct tools_blob {
	int	 refs;
	size_t	 len;
	char	*text;
};

static struct tools_blob	*tools_blob;
static struct event		*ev_tools_changed;


static struct json_object *
mcp_invalid_params(struct json_object *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct json_object *
mcp_invalid_params(struct json_object *req, const char *fmt, ...)
{
	va_list	ap;
	char	msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return (jsonrpc_error(jsonrpc_id(req), JSONRPC_INVALID_PARAMS, msg, NULL));
}

static struct json_object *
mcp_initialize(struct session *s, struct json_object *req)
{
	struct json_object	*params = jsonrpc_params(req), *v, *res, *caps;
	const struct mcp_version *ver;

	if (s->initialized)
		return (jsonrpc_error(jsonrpc_id(req), JSONRPC_INVALID_REQUEST,
		    "session is already initialized", NULL));
	if (params == NULL || !json_object_is_type(params, json_type_object) ||
	    !json_object_object_get_ex(params, "protocolVersion", &v) ||
	    !json_object_is_type(v, json_type_string))
		return (mcp_invalid_params(req, "initialize: params.protocolVersion "
		    "(a string) is required"));
	/* Echo a version we speak; otherwise offer our newest. */
	if ((ver = mcp_version_find(json_object_get_string(v),
	    json_object_get_string_len(v))) == NULL ||
	    !(ver->era & MCP_ERA_LEGACY))
		ver = mcp_version_newest(MCP_ERA_LEGACY);
	strlcpy(s->version, ver->name, sizeof(s->version));
	if (json_object_object_get_ex(params, "clientInfo", &v))
		s->client_info = json_object_get(v);
	s->initialized = 1;

	res = json_object_new_object();
	json_object_object_add(res, "protocolVersion",
	    json_object_new_string(s->version));
	caps = json_object_new_object();
	v = json_object_new_object();
	json_object_object_add(v, "listChanged", json_object_new_boolean(1));
	json_object_object_add(caps, "tools", v);
	json_object_object_add(res, "capabilities", caps);
	v = json_object_new_object();
	json_object_object_add(v, "name", json_object_new_string(MESH_SERVER_NAME));
	json_object_object_add(v, "title", json_object_new_string(conf.name));
	json_object_object_add(v, "version", json_object_new_string(MESH_VERSION));
	json_object_object_add(res, "serverInfo", v);
	json_object_object_add(res, "instructions", json_object_new_string(
	    "mcp-mesh bridges several MCP servers. A tool named <peer>_<tool> "
	    "runs <tool> on that peer; mesh_node_info describes this node and "
	    "its peers."));
	log_info("session %.8s: initialized, protocol %s", s->id, s->version);
	return (jsonrpc_result(jsonrpc_id(req), res));
}

/* --- tools/list ---------------------------------------------------------- */

static void
tools_blob_unref(struct tools_blob *b)
{
	if (b != NULL && --b->refs == 0) {
		free(b->text);
		free(b);
	}
}

static int
tools_blob_serialize(struct json_object *o, struct printbuf *pb, int level,
    int flags)
{
	struct tools_blob	*b = json_object_get_userdata(o);

	return (printbuf_memappend(pb, b->text, b->len));
}

static void
tools_blob_delete(struct json_object *o, void *userdata)
{
	tools_blob_unref(userdata);
}

/* A json object that prints as the cached tools array. */
static struct json_object *
mcp_tools_array(void)
{
	struct json_object	*arr;
	char			*text;
	size_t			 len;

	if (tools_blob == NULL) {
		text = toolmap_json_take(&len);
		tools_blob = xcalloc(1, sizeof(*tools_blob));
		tools_blob->refs = 1;
		tools_blob->text = text;
		tools_blob->len = len;
	}
	tools_blob->refs++;
	arr = json_object_new_array();
	json_object_set_serializer(arr, tools_blob_serialize, tools_blob,
	    tools_blob_delete);
	return (arr);
}

static struct json_object *
mcp_tools_list(struct session *s, struct json_object *req)
{
	struct json_object	*params = jsonrpc_params(req), *v, *res;

	/* We never hand out a cursor, so any cursor is not one of ours. */
	if (params != NULL && json_object_is_type(params, json_type_object) &&
	    json_object_object_get_ex(params, "cursor", &v))
		return (mcp_invalid_params(req, "tools/list: invalid cursor "
		    "(this server returns every tool in one page)"));
	res = json_object_new_object();
	json_object_object_add(res, "tools", mcp_tools_array());
	return (jsonrpc_result(jsonrpc_id(req), res));
}

static void
mcp_tools_list_resume(struct pending *pd)
{
	router_reply(pd, mcp_tools_list(pd->session, pd->req));
}

/* --- tools/call ---------------------------------------------------------- */

/*
 * The peer whose prefix a tool name carries: peer names are [a-z0-9-], so
 * at most one peer's name followed by '_' starts it.
 */
static struct peer *
mcp_tool_peer(const char *name)
{
	struct peer	*p;
	size_t		 n;

	TAILQ_FOREACH(p, &peers, entry) {
		n = strlen(p->name);
		if (strncmp(name, p->name, n) == 0 && name[n] == '_')
			return (p);
	}
	return (NULL);
}

/* A peer on its first start may be about to offer this name. */
static int
mcp_tool_may_come(const char *name)
{
	struct peer	*p = mcp_tool_peer(name);

	return (p != NULL && !p->ever_ready && p->state == WS_STARTING);
}

/* No such tool; but if it names a peer that is down, say so instead. */
static struct json_object *
mcp_unknown_tool(struct json_object *req, const char *name)
{
	struct peer	*p = mcp_tool_peer(name);
	char		 esc[TOOL_NAME_MAX * 4 + 1];

	if (p != NULL && p->state != WS_READY)
		return (jsonrpc_result(jsonrpc_id(req), mcp_error_result(
		    "peer %s is not reachable (%s): %s", p->name,
		    worker_state_name(p->state),
		    p->cause[0] ? p->cause : "its worker is starting")));
	log_escape(esc, sizeof(esc), name, strnlen(name, TOOL_NAME_MAX + 1));
	return (mcp_invalid_params(req, "Unknown tool: %s", esc));
}

static const char *
mcp_tool_name(struct json_object *req)
{
	struct json_object	*v;

	json_object_object_get_ex(jsonrpc_params(req), "name", &v);
	return (json_object_get_string(v));
}

/* The peers settled: route the parked call, or say why not. */
static void
mcp_tools_call_resume(struct pending *pd)
{
	struct toolent	*te;
	const char	*name = mcp_tool_name(pd->req);

	if ((te = toolmap_lookup(name)) != NULL && te->peer != NULL)
		router_route(pd, te->peer, te->exposed, te->tool, pd->req);
	else
		router_reply(pd, mcp_unknown_tool(pd->req, name));
}

static struct pending *
mcp_tools_call(struct session *s, struct json_object *req, mcp_reply_cb cb,
    void *arg)
{
	struct json_object	*params = jsonrpc_params(req), *v, *args = NULL;
	struct json_object	*result;
	struct toolent		*te;
	const char		*name;

	if (params == NULL || !json_object_is_type(params, json_type_object) ||
	    !json_object_object_get_ex(params, "name", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		cb(arg, mcp_invalid_params(req, "tools/call: params.name (a "
		    "string) is required"));
		return (NULL);
	}
	name = json_object_get_string(v);
	if (json_object_object_get_ex(params, "arguments", &args) &&
	    !json_object_is_type(args, json_type_object) &&
	    !json_object_is_type(args, json_type_null)) {
		cb(arg, mcp_invalid_params(req, "tools/call: params.arguments "
		    "must be an object"));
		return (NULL);
	}
	if ((te = toolmap_lookup(name)) == NULL) {
		if (mcp_tool_may_come(name))
			return (router_park(s, req, mcp_tools_call_resume, cb,
			    arg));
		cb(arg, mcp_unknown_tool(req, name));
		return (NULL);
	}
	if (te->peer != NULL)
		return (router_call(s, te->peer, te->exposed, te->tool, req, cb,
		    arg));
	if (meshtools_call(s, name, args, &result) == -1) {
		cb(arg, mcp_unknown_tool(req, name));
		return (NULL);
	}
	cb(arg, jsonrpc_result(jsonrpc_id(req), result));
	return (NULL);
}

/* --- dispatch ------------------------------------------------------------ */

struct pending *
mcp_request(struct session *s, struct json_object *req, mcp_reply_cb cb,
    void *arg)
{
	const char	*method = jsonrpc_method(req);

	session_touch(s);
	if (strcmp(method, "initialize") == 0) {
		cb(arg, mcp_initialize(s, req));
		return (NULL);
	}
	if (strcmp(method, "ping") == 0) {
		cb(arg, jsonrpc_result(jsonrpc_id(req), json_object_new_object()));
		return (NULL);
	}
	if (!s->initialized) {
		cb(arg, jsonrpc_error(jsonrpc_id(req), JSONRPC_INVALID_REQUEST,
		    "send initialize first: the session is not initialized",
		    NULL));
		return (NULL);
	}
	if (strcmp(method, "tools/call") == 0)
		return (mcp_tools_call(s, req, cb, arg));
	if (strcmp(method, "tools/list") == 0) {
		if (!peer_settled())
			return (router_park(s, req, mcp_tools_list_resume, cb,
			    arg));
		cb(arg, mcp_tools_list(s, req));
		return (NULL);
	}
	cb(arg, jsonrpc_error(jsonrpc_id(req), JSONRPC_METHOD_NOT_FOUND,
	    "Method not found", NULL));
	return (NULL);
}

void
mcp_abandon(struct pending *pd)
{
	router_abandon(pd);
}

/* notifications/cancelled names the client's id: find and drop it. */
static void
mcp_cancelled(struct session *s, struct json_object *msg)
{
	struct json_object	*params = jsonrpc_params(msg), *rid;
	struct pending		*pd;

	if (params == NULL || !json_object_object_get_ex(params, "requestId",
	    &rid))
		return;
	TAILQ_FOREACH(pd, &s->pendings, sentry) {
		if (json_object_equal(pd->client_id, rid)) {
			log_debug("session %.8s: request cancelled by client",
			    s->id);
			router_cancel(pd);
			return;
		}
	}
}

void
mcp_notification(struct session *s, struct json_object *msg)
{
	const char	*method = jsonrpc_method(msg);

	session_touch(s);
	if (strcmp(method, "notifications/cancelled") == 0)
		mcp_cancelled(s, msg);
	else
		log_debug("session %.8s: notification %s", s->id, method);
}

void
mcp_client_response(struct session *s, struct json_object *msg)
{
	/* The mesh sends no requests to clients yet: nothing waits. */
	log_debug("session %.8s: unexpected response from client dropped",
	    s->id);
}

/* --- list_changed -------------------------------------------------------- */

static void
mcp_tools_changed_fire(evutil_socket_t fd, short events, void *arg)
{
	struct json_object	*n;

	n = jsonrpc_notification("notifications/tools/list_changed", NULL);
	session_broadcast(n);
	json_object_put(n);
	/*
	 * A burst of READY or TOOLS messages is over: their json-c trees
	 * (some 5 KB a tool) were freed in the middle of the heap, where
	 * only a trim gives the pages back.  Once per burst, not per call.
	 */
	malloc_trim(0);
}

/* Coalesced: a burst of peers coming up gives one notification. */
void
mcp_tools_changed(void)
{
	struct timeval	tv = { 0, TOOLS_CHANGED_COALESCE_MS * 1000 };

	tools_blob_unref(tools_blob);
	tools_blob = NULL;
	router_wake_parked(0);
	if (ev_tools_changed == NULL)
		ev_tools_changed = evtimer_new(ev_base, mcp_tools_changed_fire,
		    NULL);
	if (!evtimer_pending(ev_tools_changed, NULL))
		evtimer_add(ev_tools_changed, &tv);
}

void
mcp_shutdown(void)
{
	tools_blob_unref(tools_blob);
	tools_blob = NULL;
	if (ev_tools_changed != NULL)
		event_free(ev_tools_changed);
	ev_tools_changed = NULL;
}
