/*
 * The mesh's own tools (mesh_*).  Each has a definition (listed first in
 * tools/list, never shadowed by a peer's tool) with its input and output
 * schemas, a kind (--mesh-tools read offers only the listing and lookup
 * ones, none offers none), and a handler of the same shape as every
 * method: it answers its call now, or routes it to a peer (router.c), and
 * the peer's answer is the answer.  The handlers that change or call
 * peers are in meshtools-peers.c.
 *
 * Results are structuredContent plus the same JSON as text, as the spec
 * asks of a tool with an outputSchema.  mesh_call_peer and
 * mesh_call_bridged have no outputSchema: their result is the peer's own,
 * untouched, and a declared schema would make clients reject every result
 * that carries no structuredContent.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mesh.h"
#include "meshtools.h"

static void	 mt_node_info(struct call *, struct json_object *,
		    struct json_object *);
static void	 mt_list_peers(struct call *, struct json_object *,
		    struct json_object *);
static void	 mt_list_peer_tools(struct call *, struct json_object *,
		    struct json_object *);
static void	 mt_list_bridged_tools(struct call *, struct json_object *,
		    struct json_object *);
static void	 mt_directory_list(struct call *, struct json_object *,
		    struct json_object *);
static void	 mt_directory_lookup(struct call *, struct json_object *,
		    struct json_object *);

#define S_STR		"{\"type\":\"string\"}"
#define S_INT		"{\"type\":\"integer\"}"
#define S_BOOL		"{\"type\":\"boolean\"}"
#define S_NO_ARGS \
	"{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}"
#define S_ENTRY \
	"{\"type\":\"object\",\"properties\":{\"id\":" S_STR ",\"url\":" S_STR \
	",\"name\":" S_STR "},\"required\":[\"id\",\"url\"]}"
#define S_PEER \
	"{\"type\":\"object\",\"properties\":{" \
	"\"name\":" S_STR ",\"url\":" S_STR "," \
	"\"kind\":{\"type\":\"string\",\"enum\":[\"bridge\",\"peer\"]}," \
	"\"state\":{\"type\":\"string\",\"enum\":[\"stopped\",\"starting\"," \
	"\"ready\",\"backoff\",\"failed\",\"stopping\"]}," \
	"\"id\":" S_STR ",\"tools\":" S_INT ",\"inflight\":" S_INT "," \
	"\"calls\":" S_INT ",\"callsFailed\":" S_INT ",\"restarts\":" S_INT "," \
	"\"protocolVersion\":" S_STR ",\"pid\":" S_INT "," \
	"\"serverInfo\":{\"type\":\"object\"},\"lastError\":" S_STR "}," \
	"\"required\":[\"name\",\"url\",\"kind\",\"state\",\"tools\"]}"
#define S_OBJ(props, req) \
	"{\"type\":\"object\",\"properties\":{" props "},\"required\":[" req "]}"
#define S_ARGS(props, req) \
	"{\"type\":\"object\",\"properties\":{" props "},\"required\":[" req \
	"],\"additionalProperties\":false}"

static const struct meshtool meshtools[] = {
	{ "mesh_list_peers", MT_READ,
	  "List this node's peers: bridged ones (their tools re-exported as "
	  "<peer>_<tool>) and plain ones, with state, URL, tool count, calls "
	  "and last error.",
	  S_NO_ARGS,
	  S_OBJ("\"peers\":{\"type\":\"array\",\"items\":" S_PEER "}",
	  "\"peers\""),
	  mt_list_peers },
	{ "mesh_add_peer", MT_CHANGE,
	  "Connect to a peer: spec is a URL, or the UUID or name of a peers "
	  "directory entry (URLs outside the directory only where the operator "
	  "allowed them). bridge re-exports its tools; persist adds it to the "
	  "peers file. Answers once its first start is over.",
	  S_ARGS("\"spec\":" S_STR ",\"name\":" S_STR ",\"bridge\":" S_BOOL
	  ",\"persist\":" S_BOOL, "\"spec\""),
	  S_OBJ("\"peer\":" S_PEER ",\"persisted\":" S_BOOL, "\"peer\""),
	  mt_add_peer },
	{ "mesh_remove_peer", MT_CHANGE,
	  "Disconnect from a peer (bridged or not): its calls in flight are "
	  "answered, its tools leave the list. persist also removes its entry "
	  "from the peers file.",
	  S_ARGS("\"peer\":" S_STR ",\"persist\":" S_BOOL, "\"peer\""),
	  S_OBJ("\"removed\":" S_STR ",\"persisted\":" S_BOOL, "\"removed\""),
	  mt_remove_peer },
	{ "mesh_call_peer", MT_CALL,
	  "Call a tool on a peer by its own name (not prefixed), bridged or "
	  "not. The result is the peer's, as it gave it.",
	  S_ARGS("\"peer\":" S_STR ",\"tool\":" S_STR
	  ",\"arguments\":{\"type\":\"object\"}", "\"peer\",\"tool\""),
	  NULL,
	  mt_call_peer },
	{ "mesh_list_peer_tools", MT_READ,
	  "List the tools of one peer under their own names, with their "
	  "definitions, as the peer gave them.",
	  S_ARGS("\"peer\":" S_STR, "\"peer\""),
	  S_OBJ("\"peer\":" S_STR ",\"tools\":{\"type\":\"array\",\"items\":"
	  "{\"type\":\"object\"}}", "\"peer\",\"tools\""),
	  mt_list_peer_tools },
	{ "mesh_list_bridged_tools", MT_READ,
	  "List every bridged tool: the name exposed here, the peer and the "
	  "tool's name on that peer.",
	  S_NO_ARGS,
	  S_OBJ("\"tools\":{\"type\":\"array\",\"items\":" S_OBJ("\"name\":"
	  S_STR ",\"peer\":" S_STR ",\"tool\":" S_STR,
	  "\"name\",\"peer\",\"tool\"") "}", "\"tools\""),
	  mt_list_bridged_tools },
	{ "mesh_call_bridged", MT_CALL,
	  "Call a bridged tool by the name exposed here (<peer>_<tool>). The "
	  "result is the peer's, as it gave it.",
	  S_ARGS("\"tool\":" S_STR ",\"arguments\":{\"type\":\"object\"}",
	  "\"tool\""),
	  NULL,
	  mt_call_bridged },
	{ "mesh_directory_list", MT_READ,
	  "List every node in this node's peers directory (UUID, URL, name).",
	  S_NO_ARGS,
	  S_OBJ("\"path\":" S_STR ",\"entries\":{\"type\":\"array\","
	  "\"items\":" S_ENTRY "}", "\"path\",\"entries\""),
	  mt_directory_list },
	{ "mesh_directory_lookup", MT_READ,
	  "Look a node up in the peers directory by URL, UUID or name.",
	  S_ARGS("\"spec\":" S_STR, "\"spec\""),
	  S_OBJ("\"found\":" S_BOOL ",\"entry\":" S_ENTRY ",\"reason\":" S_STR,
	  "\"found\""),
	  mt_directory_lookup },
	{ "mesh_node_info", MT_READ,
	  "Get this mesh node's info: name, node id, version, uptime, data "
	  "directory, peers directory, and each peer with its kind, state, "
	  "URL, tool count, calls, restarts and last error.",
	  S_NO_ARGS,
	  S_OBJ("\"name\":" S_STR ",\"nodeId\":" S_STR ",\"version\":" S_STR
	  ",\"uptimeSeconds\":" S_INT ",\"dataDir\":" S_STR
	  ",\"directory\":" S_OBJ("\"path\":" S_STR ",\"entries\":" S_INT,
	  "\"path\",\"entries\"") ",\"tools\":" S_INT ",\"sessions\":" S_INT
	  ",\"callsInFlight\":" S_INT
	  ",\"peers\":{\"type\":\"array\",\"items\":" S_PEER "}",
	  "\"name\",\"nodeId\",\"version\",\"peers\""),
	  mt_node_info },
};

#define NMESHTOOLS	(sizeof(meshtools) / sizeof(meshtools[0]))

/* Offered under --mesh-tools? */
static int
meshtool_offered(const struct meshtool *t)
{
	switch (conf.mesh_tools) {
	case MESH_TOOLS_NONE:
		return (0);
	case MESH_TOOLS_READ:
		return (t->kind == MT_READ);
	default:
		return (1);
	}
}

/* Our own schema text: a parse failure is a bug, found at start. */
static struct json_object *
meshtool_schema(const char *tool, const char *text)
{
	struct json_object	*o;
	const char		*why;

	if ((o = jsonrpc_parse(text, strlen(text), JSON_DEPTH_MAX, &why)) ==
	    NULL)
		fatalx("%s: bad schema: %s", tool, why);
	return (o);
}

static struct json_object *
meshtool_def(const struct meshtool *t)
{
	struct json_object	*def, *meta, *path;

	def = json_object_new_object();
	json_object_object_add(def, "name", json_object_new_string(t->name));
	json_object_object_add(def, "description",
	    json_object_new_string(t->description));
	json_object_object_add(def, "inputSchema",
	    meshtool_schema(t->name, t->input_schema));
	if (t->output_schema != NULL)
		json_object_object_add(def, "outputSchema",
		    meshtool_schema(t->name, t->output_schema));
	/* Where it comes from, for meshes that bridge this one. */
	path = json_object_new_array();
	json_object_array_add(path, json_object_new_string(conf.node_id));
	meta = json_object_new_object();
	json_object_object_add(meta, MESH_META_PATH, path);
	json_object_object_add(def, "_meta", meta);
	return (def);
}

void
meshtools_register(void)
{
	struct json_object	*def;
	size_t			 i;

	for (i = 0; i < NMESHTOOLS; i++) {
		if (!meshtool_offered(&meshtools[i]))
			continue;
		def = meshtool_def(&meshtools[i]);
		toolmap_add_local(def);
		json_object_put(def);
	}
}

int
meshtools_call(struct call *c, const char *name, struct json_object *args,
    struct json_object *req)
{
	size_t	i;

	for (i = 0; i < NMESHTOOLS; i++) {
		if (strcmp(meshtools[i].name, name) != 0 ||
		    !meshtool_offered(&meshtools[i]))
			continue;
		strlcpy(c->what, name, sizeof(c->what));
		meshtools[i].fn(c, args, req);
		return (0);
	}
	return (-1);
}

/* --- helpers for the handlers -------------------------------------------- */

/*
 * A string argument: 0 with *out (NULL when absent and optional), or -1
 * and the call answered -32602 naming it.
 */
int
mt_arg_str(struct call *c, struct json_object *args, const char *key,
    int required, const char **out)
{
	struct json_object	*v = NULL;

	*out = NULL;
	if (args != NULL && json_object_is_type(args, json_type_object) &&
	    json_object_object_get_ex(args, key, &v) && v != NULL) {
		if (json_object_is_type(v, json_type_string) &&
		    (*out = jsonrpc_get_str(args, key)) != NULL)
			return (0);
		call_error(c, JSONRPC_INVALID_PARAMS, "%s: arguments.%s must "
		    "be a string without NUL", c->what, key);
		return (-1);
	}
	if (!required)
		return (0);
	call_error(c, JSONRPC_INVALID_PARAMS, "%s: arguments.%s (a string) is "
	    "required", c->what, key);
	return (-1);
}

int
mt_arg_bool(struct call *c, struct json_object *args, const char *key,
    int *out)
{
	struct json_object	*v;

	*out = 0;
	if (args == NULL || !json_object_is_type(args, json_type_object) ||
	    !json_object_object_get_ex(args, key, &v) || v == NULL)
		return (0);
	if (!json_object_is_type(v, json_type_boolean)) {
		call_error(c, JSONRPC_INVALID_PARAMS, "%s: arguments.%s must be "
		    "true or false", c->what, key);
		return (-1);
	}
	*out = json_object_get_boolean(v);
	return (0);
}

/* Structured content, and the same JSON as text (the spec asks both). */
void
mt_answer(struct call *c, struct json_object *structured)
{
	struct json_object	*res, *content, *text;

	text = json_object_new_object();
	json_object_object_add(text, "type", json_object_new_string("text"));
	json_object_object_add(text, "text", json_object_new_string(
	    json_object_to_json_string_ext(structured,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)));
	content = json_object_new_array();
	json_object_array_add(content, text);
	res = json_object_new_object();
	json_object_object_add(res, "content", content);
	json_object_object_add(res, "structuredContent", structured);
	call_result(c, res);
}

/* A peer named by arguments.peer, or NULL and the call answered. */
struct peer *
mt_arg_peer(struct call *c, struct json_object *args)
{
	struct peer	*p;
	const char	*name;

	if (mt_arg_str(c, args, "peer", 1, &name) == -1)
		return (NULL);
	if ((p = peer_find(name)) == NULL)
		call_error_result(c, "%s: no peer is named \"%.64s\" (see "
		    "mesh_list_peers)", c->what, name);
	return (p);
}

struct json_object *
mt_entry_json(const struct dir_entry *e)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(e->id));
	json_object_object_add(o, "url", json_object_new_string(e->url));
	if (e->name[0] != '\0')
		json_object_object_add(o, "name",
		    json_object_new_string(e->name));
	return (o);
}

/* --- the reading ones ---------------------------------------------------- */

static struct json_object *
mt_peers_json(void)
{
	struct json_object	*arr;
	struct peer		*p;

	arr = json_object_new_array();
	TAILQ_FOREACH(p, &peers, entry)
		json_object_array_add(arr, peer_json(p));
	return (arr);
}

static void
mt_node_info(struct call *c, struct json_object *args, struct json_object *req)
{
	struct json_object	*o, *d;

	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(conf.name));
	json_object_object_add(o, "nodeId", json_object_new_string(conf.node_id));
	json_object_object_add(o, "version", json_object_new_string(MESH_VERSION));
	json_object_object_add(o, "uptimeSeconds",
	    json_object_new_int64((now_ms() - conf.started_ms) / 1000));
	json_object_object_add(o, "dataDir",
	    json_object_new_string(conf.data_dir));
	d = json_object_new_object();
	json_object_object_add(d, "path",
	    json_object_new_string(directory.path));
	json_object_object_add(d, "entries", json_object_new_int(directory.n));
	json_object_object_add(o, "directory", d);
	json_object_object_add(o, "tools", json_object_new_int(toolmap_count()));
	json_object_object_add(o, "sessions", json_object_new_int(session_count()));
	json_object_object_add(o, "callsInFlight",
	    json_object_new_int(call_count()));
	json_object_object_add(o, "peers", mt_peers_json());
	mt_answer(c, o);
}

static void
mt_list_peers(struct call *c, struct json_object *args, struct json_object *req)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "peers", mt_peers_json());
	mt_answer(c, o);
}

static void
mt_list_peer_tools(struct call *c, struct json_object *args,
    struct json_object *req)
{
	struct json_object	*o, *tools;
	struct peer		*p;
	const char		*why;
	char			*text;
	size_t			 len;

	if ((p = mt_arg_peer(c, args)) == NULL)
		return;
	text = toolmap_peer_json(p, &len);
	tools = jsonrpc_parse(text, len, JSON_DEPTH_MAX, &why);
	free(text);
	if (tools == NULL) {
		call_error_result(c, "%s: the tools of peer %s: %s", c->what,
		    p->name, why);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "peer", json_object_new_string(p->name));
	json_object_object_add(o, "tools", tools);
	mt_answer(c, o);
}

static void
mt_list_bridged_tools(struct call *c, struct json_object *args,
    struct json_object *req)
{
	struct json_object	*o, *arr, *t;
	struct toolent		*ent;

	arr = json_object_new_array();
	for (ent = toolmap_first(); ent != NULL; ent = toolmap_next(ent)) {
		if (ent->peer == NULL)
			continue;
		t = json_object_new_object();
		json_object_object_add(t, "name",
		    json_object_new_string(ent->exposed));
		json_object_object_add(t, "peer",
		    json_object_new_string(ent->peer->name));
		json_object_object_add(t, "tool",
		    json_object_new_string(ent->tool));
		json_object_array_add(arr, t);
	}
	o = json_object_new_object();
	json_object_object_add(o, "tools", arr);
	mt_answer(c, o);
}

static void
mt_directory_list(struct call *c, struct json_object *args,
    struct json_object *req)
{
	struct json_object	*o, *arr;
	const struct dir_entry	*e;

	arr = json_object_new_array();
	TAILQ_FOREACH(e, &directory.entries, entry)
		json_object_array_add(arr, mt_entry_json(e));
	o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string(directory.path));
	json_object_object_add(o, "entries", arr);
	mt_answer(c, o);
}

static void
mt_directory_lookup(struct call *c, struct json_object *args,
    struct json_object *req)
{
	struct json_object	*o;
	const struct dir_entry	*e;
	struct bridge_spec	 b;
	const char		*spec;
	char			 err[PATH_MAX + 256];

	if (mt_arg_str(c, args, "spec", 1, &spec) == -1)
		return;
	o = json_object_new_object();
	if (directory_resolve(&directory, spec, &b, err, sizeof(err)) == -1)
		e = NULL;
	else if ((e = directory_by_id(&directory, b.id)) == NULL)
		snprintf(err, sizeof(err), "no entry of %s (%u entries) has "
		    "that URL", directory.path, directory.n);
	json_object_object_add(o, "found", json_object_new_boolean(e != NULL));
	if (e != NULL)
		json_object_object_add(o, "entry", mt_entry_json(e));
	else
		json_object_object_add(o, "reason", json_object_new_string(err));
	mt_answer(c, o);
}
