/*
 * The mesh tools that change or call peers: mesh_add_peer,
 * mesh_remove_peer, mesh_call_peer, mesh_call_bridged.
 *
 * Who may add peers: a model that can call mesh_add_peer with any URL
 * could make this node reach cloud metadata addresses or internal
 * services on its behalf (request forgery).  So by default only specs
 * found in the peers directory are taken; a URL outside it must match
 * one of the operator's --allow-peer patterns.  Refusals say why.
 *
 * The calls take the path of a bridged call (router.c): the same
 * deadline, progress and cancellation, and the peer's result untouched.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mesh.h"
#include "meshtools.h"

/* May mesh_add_peer reach b?  If not, why not, in why. */
static int
mt_allowed(const struct bridge_spec *b, char *why, size_t len)
{
	const struct allow_pattern	*ap;

	if (b->id[0] != '\0')
		return (1);	/* the operator listed it */
	TAILQ_FOREACH(ap, &conf.allow_peers, entry)
		if (fnmatch(ap->pattern, b->url, 0) == 0)
			return (1);
	snprintf(why, len, "%.2048s is not in the peers directory (%.1024s) and "
	    "matches no --allow-peer pattern: the operator decides which URLs this "
	    "node may reach", b->url, directory.path);
	return (0);
}

/* The spec and options of mesh_add_peer, resolved into b. */
static int
mt_add_spec(struct call *c, struct json_object *args, struct bridge_spec *b)
{
	const char	*spec, *name;
	char		 err[PATH_MAX + 512], full[PEER_URL_MAX + PEER_NAME_MAX + 2];
	int		 bridge;

	if (mt_arg_str(c, args, "spec", 1, &spec) == -1 ||
	    mt_arg_str(c, args, "name", 0, &name) == -1 ||
	    mt_arg_bool(c, args, "bridge", &bridge) == -1)
		return (-1);
	if (name != NULL && !peer_name_valid(name)) {
		call_error_result(c, "mesh_add_peer: name \"%.40s\" must be 1-%d "
		    "of a-z, 0-9 and -", name, PEER_NAME_MAX);
		return (-1);
	}
	/* A name with a URL is the name=URL form of --bridge. */
	if (name != NULL && strstr(spec, "://") != NULL &&
	    strchr(spec, '=') == NULL) {
		snprintf(full, sizeof(full), "%s=%s", name, spec);
		spec = full;
	}
	if (directory_resolve(&directory, spec, b, err, sizeof(err)) == -1) {
		call_error_result(c, "mesh_add_peer: %s", err);
		return (-1);
	}
	if (name != NULL)
		strlcpy(b->name, name, sizeof(b->name));
	strlcpy(b->spec, spec, sizeof(b->spec));
	b->bridged = bridge;
	b->timeout_ms = conf.request_timeout_ms;
	b->response_max = conf.response_max;
	if (!mt_allowed(b, err, sizeof(err))) {
		log_warnx("mesh_add_peer %s refused: %s", b->url, err);
		call_error_result(c, "mesh_add_peer: refused: %s", err);
		return (-1);
	}
	return (0);
}

/* The first start of the new peer is over (or LIST_WAIT_MS passed). */
static void
mt_add_peer_done(struct call *c)
{
	struct json_object	*o, *v;
	struct peer		*p;
	const char		*name = jsonrpc_get_str(c->req, "peer");

	if (name == NULL || (p = peer_find(name)) == NULL) {
		call_error_result(c, "mesh_add_peer: peer %s was removed before "
		    "its first start was over", name != NULL ? name : "?");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "peer", peer_json(p));
	if (json_object_object_get_ex(c->req, "persisted", &v))
		json_object_object_add(o, "persisted", json_object_get(v));
	mt_answer(c, o);
}

void
mt_add_peer(struct call *c, struct json_object *args, struct json_object *req)
{
	struct bridge_spec	 b;
	struct json_object	*wait;
	struct peer		*p;
	char			 err[PATH_MAX + 256];
	int			 persist;

	memset(&b, 0, sizeof(b));
	if (mt_arg_bool(c, args, "persist", &persist) == -1 ||
	    mt_add_spec(c, args, &b) == -1)
		return;
	if (peer_find(b.name) != NULL) {
		call_error_result(c, "mesh_add_peer: a peer named %s exists "
		    "already (mesh_remove_peer it first, or give another name)",
		    b.name);
		return;
	}
	if (npeers >= PEERS_MAX) {
		call_error_result(c, "mesh_add_peer: %u peers, the most this "
		    "node takes", npeers);
		return;
	}
	if (persist && b.id[0] == '\0') {
		uuid_make(b.id);
		if (directory_add(&directory, b.id, b.url, b.name, err,
		    sizeof(err)) == -1) {
			call_error_result(c, "mesh_add_peer: not added to the "
			    "peers file: %s", err);
			return;
		}
	}
	p = peer_add(&b);
	log_info("peer %s: %s %s (mesh_add_peer)", p->name, p->bridged ?
	    "bridging" : "connecting to", p->url);
	worker_start(p->worker);
	/* Answered once its first start is over: ready, or why not. */
	wait = json_object_new_object();
	json_object_object_add(wait, "peer", json_object_new_string(p->name));
	json_object_object_add(wait, "persisted",
	    json_object_new_boolean(persist && b.id[0] != '\0'));
	router_park(c, wait, mt_add_peer_done);
	json_object_put(wait);
}

void
mt_remove_peer(struct call *c, struct json_object *args,
    struct json_object *req)
{
	struct json_object	*o;
	struct peer		*p;
	char			 name[PEER_NAME_MAX + 1], err[PATH_MAX + 256];
	int			 persist, persisted = 0;

	if (mt_arg_bool(c, args, "persist", &persist) == -1 ||
	    (p = mt_arg_peer(c, args)) == NULL)
		return;
	if (persist && p->id[0] != '\0' &&
	    directory_by_id(&directory, p->id) != NULL) {
		if (directory_del(&directory, p->id, err, sizeof(err)) == -1) {
			call_error_result(c, "mesh_remove_peer: the peers file "
			    "was not changed, and the peer stays: %s", err);
			return;
		}
		persisted = 1;
	}
	strlcpy(name, p->name, sizeof(name));
	peer_remove(p, "removed by mesh_remove_peer");
	o = json_object_new_object();
	json_object_object_add(o, "removed", json_object_new_string(name));
	json_object_object_add(o, "persisted",
	    json_object_new_boolean(persisted));
	mt_answer(c, o);
}

/*
 * A tools/call of tool on p with args, carrying the client's _meta
 * (progress token, hop count) as a bridged call would.
 */
static void
mt_route(struct call *c, struct peer *p, const char *what, const char *tool,
    struct json_object *args, struct json_object *req)
{
	struct json_object	*params, *r, *meta;

	params = json_object_new_object();
	json_object_object_add(params, "name", json_object_new_string(tool));
	json_object_object_add(params, "arguments", args != NULL &&
	    json_object_is_type(args, json_type_object) ?
	    json_object_get(args) : json_object_new_object());
	if (json_object_object_get_ex(jsonrpc_params(req), "_meta", &meta) &&
	    json_object_is_type(meta, json_type_object))
		json_object_object_add(params, "_meta",
		    json_object_get(meta));
	r = jsonrpc_request(c->client_id, "tools/call", params);
	router_route(c, p, what, tool, r);
	json_object_put(r);
}

/* arguments.arguments: an object, absent, or the call is answered. */
static int
mt_arg_arguments(struct call *c, struct json_object *args,
    struct json_object **out)
{
	*out = NULL;
	if (args == NULL || !json_object_object_get_ex(args, "arguments", out) ||
	    *out == NULL || json_object_is_type(*out, json_type_object))
		return (0);
	call_error(c, JSONRPC_INVALID_PARAMS, "%s: arguments.arguments must "
	    "be an object", c->what);
	return (-1);
}

void
mt_call_peer(struct call *c, struct json_object *args, struct json_object *req)
{
	struct json_object	*targs;
	struct peer		*p;
	const char		*tool;

	if ((p = mt_arg_peer(c, args)) == NULL ||
	    mt_arg_str(c, args, "tool", 1, &tool) == -1 ||
	    mt_arg_arguments(c, args, &targs) == -1)
		return;
	mt_route(c, p, tool, tool, targs, req);
}

void
mt_call_bridged(struct call *c, struct json_object *args,
    struct json_object *req)
{
	struct json_object	*targs;
	struct toolent		*te;
	const char		*tool;

	if (mt_arg_str(c, args, "tool", 1, &tool) == -1 ||
	    mt_arg_arguments(c, args, &targs) == -1)
		return;
	if ((te = toolmap_lookup(tool, strlen(tool))) == NULL ||
	    te->peer == NULL) {
		call_error_result(c, "mesh_call_bridged: \"%.64s\" is not a "
		    "bridged tool (see mesh_list_bridged_tools)", tool);
		return;
	}
	mt_route(c, te->peer, te->exposed, te->tool, targs, req);
}
