/*
 * tools/list and tools/call: one list holding the mesh's own tools and
 * every bridged tool, and calls routed by exposed name through the index
 * (toolmap.c) to a peer, or to the mesh's own tools (meshtools.c).
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "mesh.h"

#define TOOLS_LIST_TAIL	"}"
#define PAGE_NEXT_CURSOR	",\"nextCursor\":\""

/* --- tools/list, prompts/list -------------------------------------------- */

/*
 * The whole list, the cached array between a head and a tail: one copy
 * per answer.  head is "{\"tools\":" or the like.
 */
static void
mcp_list_whole(struct call *c, struct namemap *m, const char *head)
{
	struct iovec	iov[3];
	size_t		len;

	iov[0].iov_base = (void *)head;
	iov[0].iov_len = strlen(head);
	iov[1].iov_base = (void *)namemap_json(m, &len);
	iov[1].iov_len = len;
	iov[2].iov_base = (void *)TOOLS_LIST_TAIL;
	iov[2].iov_len = sizeof(TOOLS_LIST_TAIL) - 1;
	call_result_iov(c, iov, 3);
}

/* The page at off (of conf.page_size entries), with its nextCursor. */
static void
mcp_list_slice(struct call *c, struct namemap *m, const char *head,
    char kind, unsigned off)
{
	struct buf	 b;
	char		 next[CURSOR_LEN];
	unsigned	 n;

	memset(&b, 0, sizeof(b));
	buf_append(&b, head, strlen(head));
	n = namemap_slice(m, off, conf.page_size, &b);
	if (off + n < namemap_count(m)) {
		cursor_make(c->origin, kind, namemap_gen(m), off + n, next,
		    sizeof(next));
		buf_append(&b, PAGE_NEXT_CURSOR, sizeof(PAGE_NEXT_CURSOR) - 1);
		buf_append(&b, next, strlen(next));
		buf_append(&b, "\"", 1);
	}
	buf_append(&b, TOOLS_LIST_TAIL, sizeof(TOOLS_LIST_TAIL) - 1);
	call_result_text(c, buf_data(&b), buf_used(&b));
	buf_free(&b);
}

/*
 * tools/list or prompts/list: in pages of --page-size, with the mesh's
 * own cursors (cursor.c); one page when the list fits in one or the
 * operator said 0.  what names the method in errors.
 */
void
mcp_list_page(struct call *c, struct json_object *req, struct namemap *m,
    const char *head, char kind, const char *what)
{
	struct json_object	*params = jsonrpc_params(req), *v;
	const char		*cursor = NULL;
	unsigned		 off = 0;

	if (params != NULL && json_object_is_type(params, json_type_object) &&
	    json_object_object_get_ex(params, "cursor", &v) &&
	    ((cursor = jsonrpc_get_str(params, "cursor")) == NULL ||
	    cursor_parse(c->origin, kind, namemap_gen(m), cursor, &off) == -1 ||
	    off >= namemap_count(m))) {
		call_error(c, JSONRPC_INVALID_PARAMS, "%s: invalid cursor: not "
		    "one this mesh gave this session, or the list changed "
		    "since; list again from the start", what);
		return;
	}
	if (off == 0 && (conf.page_size == 0 ||
	    namemap_count(m) <= conf.page_size))
		mcp_list_whole(c, m, head);
	else
		mcp_list_slice(c, m, head, kind, off);
}

static void
mcp_tools_list_answer(struct call *c)
{
	mcp_list_page(c, c->req, namemap_tools, "{\"tools\":", 'T',
	    "tools/list");
}

void
mcp_tools_list(struct call *c, struct json_object *req)
{
	if (!peer_settled()) {
		router_park(c, req, mcp_tools_list_answer);
		return;
	}
	mcp_list_page(c, req, namemap_tools, "{\"tools\":", 'T',
	    "tools/list");
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
