/*
 * The mesh's own tools.  Each has a definition (listed first in tools/list,
 * never shadowed by a peer's tool) and a handler answering synchronously.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mesh.h"

struct meshtool {
	const char	 *name;
	const char	 *description;
	struct json_object *(*fn)(struct session *, struct json_object *);
};

static struct json_object *meshtool_node_info(struct session *,
		    struct json_object *);

static const struct meshtool meshtools[] = {
	{ "mesh_node_info",
	  "Get this mesh node's info: name, node id, version, uptime, and each "
	  "peer with its state, URL, tool count and last error.",
	  meshtool_node_info },
};

#define NMESHTOOLS	(sizeof(meshtools) / sizeof(meshtools[0]))

static struct json_object *
meshtool_def(const struct meshtool *t)
{
	struct json_object	*def, *schema;

	def = json_object_new_object();
	json_object_object_add(def, "name", json_object_new_string(t->name));
	json_object_object_add(def, "description",
	    json_object_new_string(t->description));
	schema = json_object_new_object();
	json_object_object_add(schema, "type", json_object_new_string("object"));
	json_object_object_add(schema, "properties", json_object_new_object());
	json_object_object_add(schema, "additionalProperties",
	    json_object_new_boolean(0));
	json_object_object_add(def, "inputSchema", schema);
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
static struct json_object *
meshtool_result(struct json_object *structured)
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
	return (res);
}

static struct json_object *
meshtool_peer(struct peer *p)
{
	struct json_object	*o;

	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "url", json_object_new_string(p->url));
	json_object_object_add(o, "state",
	    json_object_new_string(worker_state_name(p->state)));
	json_object_object_add(o, "tools", json_object_new_int(p->ntools));
	json_object_object_add(o, "inflight", json_object_new_int(p->ninflight));
	json_object_object_add(o, "restarts", json_object_new_int(p->restarts));
	if (p->state == WS_READY) {
		json_object_object_add(o, "protocolVersion",
		    json_object_new_string(p->protocol_version));
		json_object_object_add(o, "pid", json_object_new_int(p->pid));
	}
	if (p->server_info != NULL)
		json_object_object_add(o, "serverInfo",
		    json_object_get(p->server_info));
	if (p->cause[0] != '\0')
		json_object_object_add(o, "lastError",
		    json_object_new_string(p->cause));
	return (o);
}

static struct json_object *
meshtool_node_info(struct session *s, struct json_object *args)
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
	arr = json_object_new_array();
	TAILQ_FOREACH(p, &peers, entry)
		json_object_array_add(arr, meshtool_peer(p));
	json_object_object_add(o, "peers", arr);
	return (meshtool_result(o));
}

int
meshtools_call(struct session *s, const char *name, struct json_object *args,
    struct json_object **result)
{
	size_t	i;

	for (i = 0; i < NMESHTOOLS; i++) {
		if (strcmp(meshtools[i].name, name) == 0) {
			*result = meshtools[i].fn(s, args);
			return (0);
		}
	}
	return (-1);
}
