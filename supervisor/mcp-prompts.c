/*
 * prompts/list and prompts/get over every bridged peer, prompts named as
 * tools are (<prefix>_<prompt>, the same rules and collisions: toolmap.c's
 * prompts index), and completion/complete routed by its reference: a
 * prompt by its exposed name, a resource template by its own text.
 */
#include <string.h>

#include "log.h"
#include "mesh.h"

void
mcp_prompts_list(struct call *c, struct json_object *req)
{
	mcp_list_page(c, req, namemap_prompts, "{\"prompts\":", 'P',
	    "prompts/list");
}

/* The prompt an exposed name stands for, or NULL and c answered. */
static struct toolent *
mcp_prompt_find(struct call *c, const char *name, const char *method)
{
	struct toolent	*te;
	char		 esc[TOOL_NAME_MAX * 4 + 1];

	if ((te = namemap_lookup(namemap_prompts, name, strlen(name))) != NULL &&
	    te->peer != NULL)
		return (te);
	log_escape(esc, sizeof(esc), name, strnlen(name, TOOL_NAME_MAX + 1));
	call_error(c, JSONRPC_INVALID_PARAMS, "%s: unknown prompt: %s", method,
	    esc);
	return (NULL);
}

void
mcp_prompts_get(struct call *c, struct json_object *req)
{
	struct toolent	*te;
	const char	*name;

	if ((name = jsonrpc_get_str(jsonrpc_params(req), "name")) == NULL) {
		call_error(c, JSONRPC_INVALID_PARAMS, "prompts/get: params.name "
		    "(a string) is required");
		return;
	}
	if ((te = mcp_prompt_find(c, name, "prompts/get")) != NULL)
		router_route(c, te->peer, te->exposed, te->tool, req);
}


/* completion/complete: its ref says which peer, and under which name. */
void
mcp_completion_complete(struct call *c, struct json_object *req)
{
	struct json_object	*ref;
	struct toolent		*te;
	struct peer		*p;
	const char		*type, *s;

	if (!json_object_object_get_ex(jsonrpc_params(req), "ref", &ref) ||
	    (type = jsonrpc_get_str(ref, "type")) == NULL) {
		call_error(c, JSONRPC_INVALID_PARAMS, "completion/complete: "
		    "params.ref with a type is required");
		return;
	}
	if (strcmp(type, "ref/prompt") == 0 &&
	    (s = jsonrpc_get_str(ref, "name")) != NULL) {
		if ((te = mcp_prompt_find(c, s, "completion/complete")) == NULL)
			return;
		/* The prompt's own name, on its peer. */
		json_object_object_add(ref, "name",
		    json_object_new_string(te->tool));
		router_route(c, te->peer, te->exposed, NULL, req);
		return;
	}
	if (strcmp(type, "ref/resource") == 0 &&
	    (s = jsonrpc_get_str(ref, "uri")) != NULL) {
		if ((p = resources_template_peer(s)) == NULL) {
			call_error(c, JSONRPC_INVALID_PARAMS, "completion/"
			    "complete: no peer has the template or resource "
			    "%.200s", s);
			return;
		}
		router_route(c, p, "completion/complete", NULL, req);
		return;
	}
	call_error(c, JSONRPC_INVALID_PARAMS, "completion/complete: ref must "
	    "be a ref/prompt with a name or a ref/resource with a uri");
}
