/*
 * tools/list and tools/call: one list holding the mesh's own tools and
 * every bridged tool, and calls routed by exposed name through the index
 * (toolmap.c) to a peer, or to the mesh's own tools (meshtools.c).
 */
#include <string.h>

#include "log.h"
#include "mesh.h"

#define TOOLS_LIST_HEAD	"{\"tools\":"
#define TOOLS_LIST_TAIL	"}"

/* --- tools/list ---------------------------------------------------------- */

/* The cached array between a head and a tail: one copy per answer. */
static void
mcp_tools_list_answer(struct call *c)
{
	struct iovec	iov[3];
	size_t		len;

	iov[0].iov_base = (void *)TOOLS_LIST_HEAD;
	iov[0].iov_len = sizeof(TOOLS_LIST_HEAD) - 1;
	iov[1].iov_base = (void *)toolmap_json(&len);
	iov[1].iov_len = len;
	iov[2].iov_base = (void *)TOOLS_LIST_TAIL;
	iov[2].iov_len = sizeof(TOOLS_LIST_TAIL) - 1;
	call_result_iov(c, iov, 3);
}

void
mcp_tools_list(struct call *c, struct json_object *req)
{
	struct json_object	*params = jsonrpc_params(req), *v;

	/* We never hand out a cursor, so any cursor is not one of ours. */
	if (params != NULL && json_object_is_type(params, json_type_object) &&
	    json_object_object_get_ex(params, "cursor", &v)) {
		call_error(c, JSONRPC_INVALID_PARAMS, "tools/list: invalid "
		    "cursor (this server returns every tool in one page)");
		return;
	}
	if (!peer_settled()) {
		router_park(c, req, mcp_tools_list_answer);
		return;
	}
	mcp_tools_list_answer(c);
}

/* --- tools/call ---------------------------------------------------------- */

/*
 * The bridged peer whose prefix a tool name carries: prefixes are
 * [a-z0-9-], so at most one followed by '_' starts it.  (A transparent
 * peer's names carry none.)
 */
static struct peer *
mcp_tool_peer(const char *name, size_t len)
{
	struct peer	*p;
	size_t		 n;

	TAILQ_FOREACH(p, &peers, entry) {
		n = strlen(p->prefix);
		if (p->bridged && n > 0 && n < len &&
		    memcmp(name, p->prefix, n) == 0 && name[n] == '_')
			return (p);
	}
	return (NULL);
}

/* A peer on its first start may be about to offer this name. */
static int
mcp_tool_may_come(const char *name, size_t len)
{
	struct peer	*p = mcp_tool_peer(name, len);

	return (p != NULL && !worker_ever_ready(p->worker) &&
	    worker_state(p->worker) == WS_STARTING);
}

/* No such tool; but if it names a peer that is down, say so instead. */
static void
mcp_unknown_tool(struct call *c, const char *name, size_t len)
{
	struct peer	*p = mcp_tool_peer(name, len);
	char		 esc[TOOL_NAME_MAX * 4 + 1];

	if (p != NULL && !peer_ready(p)) {
		call_error_result(c, "peer %s is not reachable (%s): %s",
		    p->name, peer_state_name(p), peer_cause(p));
		return;
	}
	log_escape(esc, sizeof(esc), name, len < TOOL_NAME_MAX + 1 ? len :
	    TOOL_NAME_MAX + 1);
	call_error(c, JSONRPC_INVALID_PARAMS, "Unknown tool: %s", esc);
}

/* params.name, checked by mcp_tools_call() before any parking. */
static const char *
mcp_tool_name(struct json_object *req, size_t *len)
{
	struct json_object	*v;

	json_object_object_get_ex(jsonrpc_params(req), "name", &v);
	*len = (size_t)json_object_get_string_len(v);
	return (json_object_get_string(v));
}

/* The peers settled: route the parked call, or say why not. */
static void
mcp_tools_call_resume(struct call *c)
{
	struct toolent	*te;
	const char	*name;
	size_t		 len;

	name = mcp_tool_name(c->req, &len);
	if ((te = toolmap_lookup(name, len)) != NULL && te->peer != NULL)
		router_route(c, te->peer, te->exposed, te->tool, c->req);
	else
		mcp_unknown_tool(c, name, len);
}

void
mcp_tools_call(struct call *c, struct json_object *req)
{
	struct json_object	*params = jsonrpc_params(req), *v, *args = NULL;
	struct toolent		*te;
	const char		*name;
	size_t			 len;

	if (params == NULL || !json_object_is_type(params, json_type_object) ||
	    !json_object_object_get_ex(params, "name", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		call_error(c, JSONRPC_INVALID_PARAMS, "tools/call: params.name "
		    "(a string) is required");
		return;
	}
	if (json_object_object_get_ex(params, "arguments", &args) &&
	    !json_object_is_type(args, json_type_object) &&
	    !json_object_is_type(args, json_type_null)) {
		call_error(c, JSONRPC_INVALID_PARAMS, "tools/call: "
		    "params.arguments must be an object");
		return;
	}
	name = mcp_tool_name(req, &len);
	if ((te = toolmap_lookup(name, len)) == NULL) {
		if (mcp_tool_may_come(name, len))
			router_park(c, req, mcp_tools_call_resume);
		else
			mcp_unknown_tool(c, name, len);
		return;
	}
	if (te->peer != NULL)
		router_route(c, te->peer, te->exposed, te->tool, req);
	else if (meshtools_call(c, te->exposed, args, req) == -1)
		mcp_unknown_tool(c, name, len);
}
