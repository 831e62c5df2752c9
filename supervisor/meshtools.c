/*
 * The mesh's own tools.  Each has a definition (listed first in tools/list,
 * never shadowed by a peer's tool) with its input and output schemas, and
 * a handler of the same shape as every method: it answers its call now,
 * or routes it to a peer (router.c) and the peer's answer is the answer.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mesh.h"

struct meshtool {
	const char	 *name;
	const char	 *description;
	const char	 *input_schema;		/* JSON text */
	const char	 *output_schema;	/* JSON text, or NULL */
	void		(*fn)(struct call *, struct json_object *args);
};

static void	 meshtool_node_info(struct call *, struct json_object *);

#define SCHEMA_NO_ARGS \
	"{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}"

#define SCHEMA_PEER \
	"{\"type\":\"object\",\"properties\":{" \
	"\"name\":{\"type\":\"string\"}," \
	"\"url\":{\"type\":\"string\"}," \
	"\"kind\":{\"type\":\"string\",\"enum\":[\"bridge\",\"peer\"]}," \
	"\"state\":{\"type\":\"string\",\"enum\":[\"stopped\",\"starting\"," \
	"\"ready\",\"backoff\",\"failed\",\"stopping\"]}," \
	"\"tools\":{\"type\":\"integer\"}," \
	"\"inflight\":{\"type\":\"integer\"}," \
	"\"calls\":{\"type\":\"integer\"}," \
	"\"callsFailed\":{\"type\":\"integer\"}," \
	"\"restarts\":{\"type\":\"integer\"}," \
	"\"protocolVersion\":{\"type\":\"string\"}," \
	"\"pid\":{\"type\":\"integer\"}," \
	"\"serverInfo\":{\"type\":\"object\"}," \
	"\"lastError\":{\"type\":\"string\"}}," \
	"\"required\":[\"name\",\"url\",\"kind\",\"state\",\"tools\"]}"

static const struct meshtool meshtools[] = {
	{ "mesh_node_info",
	  "Get this mesh node's info: name, node id, version, uptime, and each "
	  "peer with its kind, state, URL, tool count, calls, restarts and "
	  "last error.",
	  SCHEMA_NO_ARGS,
	  "{\"type\":\"object\",\"properties\":{"
	  "\"name\":{\"type\":\"string\"},"
	  "\"nodeId\":{\"type\":\"string\"},"
	  "\"version\":{\"type\":\"string\"},"
	  "\"uptimeSeconds\":{\"type\":\"integer\"},"
	  "\"tools\":{\"type\":\"integer\"},"
	  "\"sessions\":{\"type\":\"integer\"},"
	  "\"callsInFlight\":{\"type\":\"integer\"},"
	  "\"peers\":{\"type\":\"array\",\"items\":" SCHEMA_PEER "}},"
	  "\"required\":[\"name\",\"nodeId\",\"version\",\"peers\"]}",
	  meshtool_node_info },
};

#define NMESHTOOLS	(sizeof(meshtools) / sizeof(meshtools[0]))

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
	struct json_object	*def;

	def = json_object_new_object();
	json_object_object_add(def, "name", json_object_new_string(t->name));
	json_object_object_add(def, "description",
	    json_object_new_string(t->description));
	json_object_object_add(def, "inputSchema",
	    meshtool_schema(t->name, t->input_schema));
	if (t->output_schema != NULL)
		json_object_object_add(def, "outputSchema",
		    meshtool_schema(t->name, t->output_schema));
	return (def);
}

void
meshtools_register(void)
{
	struct json_object	*def;
	size_t			 i;

	for (i = 0; i < NMESHTOOLS; i++) {
		def = meshtool_def(&meshtools[i]);
		toolmap_add_local(def);
		json_object_put(def);
	}
}

/* Structured content, and the same JSON as text (the spec asks both). */
static void
meshtool_answer(struct call *c, struct json_object *structured)
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

static void
meshtool_node_info(struct call *c, struct json_object *args)
{
	struct json_object	*o, *arr;
	struct peer		*p;

	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(conf.name));
	json_object_object_add(o, "nodeId", json_object_new_string(conf.node_id));
	json_object_object_add(o, "version", json_object_new_string(MESH_VERSION));
	json_object_object_add(o, "uptimeSeconds",
	    json_object_new_int64((now_ms() - conf.started_ms) / 1000));
	json_object_object_add(o, "tools", json_object_new_int(toolmap_count()));
	json_object_object_add(o, "sessions", json_object_new_int(session_count()));
	json_object_object_add(o, "callsInFlight",
	    json_object_new_int(call_count()));
	arr = json_object_new_array();
	TAILQ_FOREACH(p, &peers, entry)
		json_object_array_add(arr, peer_json(p));
	json_object_object_add(o, "peers", arr);
	meshtool_answer(c, o);
}

int
meshtools_call(struct call *c, const char *name, struct json_object *args)
{
	size_t	i;

	for (i = 0; i < NMESHTOOLS; i++) {
		if (strcmp(meshtools[i].name, name) == 0) {
			meshtools[i].fn(c, args);
			return (0);
		}
	}
	return (-1);
}
