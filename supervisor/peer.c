/*
 * Peers: the remote MCP servers the mesh talks to, each with its
 * configuration, what it said at initialize, its own tool list, its calls
 * in flight, and one worker process (worker.c) that does the talking.
 *
 * A peer may be added and removed while the mesh runs.  Removing takes it
 * out of the table at once (its name is free again, its tools leave the
 * list, its calls are answered); the record itself lives on, on the
 * removed list, until its worker is gone, since the worker's exit must
 * still be reaped and its socket read to the end.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mesh.h"
#include "xmalloc.h"

struct peers	 peers = TAILQ_HEAD_INITIALIZER(peers);
unsigned	 npeers;

/* Removed, waiting for their workers to be reaped. */
static struct peers	 removed = TAILQ_HEAD_INITIALIZER(removed);
static int		 peer_next_index;

struct peer *
peer_add(const struct bridge_spec *b)
{
	struct peer	*p;

	p = xcalloc(1, sizeof(*p));
	/* Only grows: a peer added later loses collisions to older ones. */
	p->index = peer_next_index++;
	strlcpy(p->name, b->name, sizeof(p->name));
	strlcpy(p->prefix, b->has_prefix ? b->prefix : b->name,
	    sizeof(p->prefix));
	strlcpy(p->url, b->url, sizeof(p->url));
	strlcpy(p->id, b->id, sizeof(p->id));
	strlcpy(p->spec, b->spec, sizeof(p->spec));
	p->timeout_ms = b->timeout_ms;
	p->response_max = b->response_max;
	p->bridged = b->bridged;
	RB_INIT(&p->inflight);
	TAILQ_INIT(&p->tools);
	TAILQ_INIT(&p->prompts);
	TAILQ_INIT(&p->resources);
	TAILQ_INIT(&p->templates);
	p->worker = worker_new(p);
	cgroup_peer_note(p->name, p->url);
	TAILQ_INSERT_TAIL(&peers, p, entry);
	npeers++;
	return (p);
}

static void
peer_free(struct peer *p)
{
	worker_free(p->worker);
	toolmap_remove_peer(p);
	namemap_remove_peer(namemap_prompts, p);
	resources_remove_peer(p);
	json_object_put(p->server_info);
	json_object_put(p->capabilities);
	free(p);
}

void
peer_remove(struct peer *p, const char *why)
{
	if (p->removed)
		return;
	p->removed = 1;
	TAILQ_REMOVE(&peers, p, entry);
	npeers--;
	TAILQ_INSERT_TAIL(&removed, p, entry);
	log_info("peer %s: removed (%s)", p->name, why);
	peer_clear_tools(p);
	mcp_resources_peer_gone(p);
	router_fail_all(p, "the peer was removed");
	worker_stop(p->worker, why);
	if (!worker_alive(p->worker))
		peer_worker_gone(p);
}

void
peer_worker_gone(struct peer *p)
{
	if (!p->removed)
		return;
	TAILQ_REMOVE(&removed, p, entry);
	log_debug("peer %s: freed", p->name);
	peer_free(p);
}

struct peer *
peer_find(const char *name)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry)
		if (strcmp(p->name, name) == 0)
			return (p);
	return (NULL);
}

int
peer_ready(const struct peer *p)
{
	return (!p->removed && worker_is_ready(p->worker));
}

const char *
peer_state_name(const struct peer *p)
{
	return (worker_state_name(worker_state(p->worker)));
}

const char *
peer_cause(const struct peer *p)
{
	const char	*c = worker_cause(p->worker);

	return (c[0] != '\0' ? c : "its worker is starting");
}

/* Every peer has been ready once or has given up its first start. */
int
peer_settled(void)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry)
		if (!worker_ever_ready(p->worker) &&
		    worker_state(p->worker) == WS_STARTING)
			return (0);
	return (1);
}

void
peer_start_all(void)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry)
		if (worker_state(p->worker) == WS_STOPPED)
			worker_start(p->worker);
}

void
peer_stop_all(void)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry)
		worker_stop(p->worker, "mesh shutting down");
}

/* Are all workers gone, removed peers' too (for a clean exit)? */
int
peer_all_stopped(void)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry)
		if (worker_alive(p->worker))
			return (0);
	TAILQ_FOREACH(p, &removed, entry)
		if (worker_alive(p->worker))
			return (0);
	return (1);
}

void
peer_free_all(void)
{
	struct peer	*p;

	while ((p = TAILQ_FIRST(&peers)) != NULL) {
		TAILQ_REMOVE(&peers, p, entry);
		peer_free(p);
	}
	while ((p = TAILQ_FIRST(&removed)) != NULL) {
		TAILQ_REMOVE(&removed, p, entry);
		peer_free(p);
	}
	npeers = 0;
}

/*
 * The peers file was read again.  A peer named through it (by UUID or
 * name) whose entry now gives another URL gets a new worker for that
 * URL; the others keep theirs.  One whose entry is gone keeps its URL.
 */
static void
peer_reresolve(struct peer *p)
{
	struct bridge_spec	b;
	char			err[PATH_MAX + 256];

	if (p->spec[0] == '\0' || strstr(p->spec, "://") != NULL)
		return;
	if (directory_resolve(&directory, p->spec, &b, err, sizeof(err)) ==
	    -1) {
		log_warnx("peer %s: %s; it keeps %s", p->name, err, p->url);
		return;
	}
	strlcpy(p->id, b.id, sizeof(p->id));
	if (strcmp(b.url, p->url) == 0)
		return;
	log_info("peer %s: its entry moved from %s to %s", p->name, p->url,
	    b.url);
	strlcpy(p->url, b.url, sizeof(p->url));
	worker_restart(p->worker, "its URL changed in the peers file");
}

void
peer_reresolve_all(void)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry)
		peer_reresolve(p);
}

/* --- what the peer said -------------------------------------------------- */

void
peer_set_info(struct peer *p, struct json_object *ready)
{
	struct json_object	*v;
	const char		*version;

	if ((version = jsonrpc_get_str(ready, "protocolVersion")) != NULL)
		strlcpy(p->protocol_version, version,
		    sizeof(p->protocol_version));
	json_object_put(p->server_info);
	json_object_put(p->capabilities);
	p->server_info = p->capabilities = NULL;
	if (json_object_object_get_ex(ready, "serverInfo", &v) &&
	    json_object_is_type(v, json_type_object))
		p->server_info = json_object_get(v);
	if (json_object_object_get_ex(ready, "capabilities", &v) &&
	    json_object_is_type(v, json_type_object))
		p->capabilities = json_object_get(v);
}

/*
 * The lists a worker sent (READY, LISTS): any of "tools", "prompts",
 * "resources" and "resourceTemplates"; one absent stays as it was.  The
 * clients hear of each list that changed, once per burst.
 */
void
peer_set_lists(struct peer *p, struct json_object *o)
{
	struct json_object	*v, *t = NULL;
	int			 changed;

	if (json_object_object_get_ex(o, "tools", &v)) {
		p->ntools = toolmap_set_peer(p, v, &changed);
		if (p->bridged && changed)
			mcp_list_changed(MCP_LIST_TOOLS);
	}
	if (json_object_object_get_ex(o, "prompts", &v)) {
		p->nprompts = namemap_set_peer(namemap_prompts, p, v, &changed);
		if (p->bridged && changed)
			mcp_list_changed(MCP_LIST_PROMPTS);
	}
	if (!json_object_object_get_ex(o, "resources", &v))
		v = NULL;
	if (!json_object_object_get_ex(o, "resourceTemplates", &t))
		t = NULL;
	if (v != NULL || t != NULL) {
		resources_set_peer(p, v, t, &changed);
		if (p->bridged && changed)
			mcp_list_changed(MCP_LIST_RESOURCES);
	}
}

int
peer_set_tools(struct peer *p, struct json_object *tools)
{
	int	changed;

	p->ntools = toolmap_set_peer(p, tools, &changed);
	if (p->bridged && changed)
		mcp_list_changed(MCP_LIST_TOOLS);
	return (p->ntools);
}

/* Its lists go (failed, removed). */
void
peer_clear_tools(struct peer *p)
{
	int	had = p->ntools > 0, hadp = p->nprompts > 0;

	toolmap_remove_peer(p);
	namemap_remove_peer(namemap_prompts, p);
	p->ntools = p->nprompts = 0;
	if (p->bridged && had)
		mcp_list_changed(MCP_LIST_TOOLS);
	if (p->bridged && hadp)
		mcp_list_changed(MCP_LIST_PROMPTS);
	if (resources_remove_peer(p) && p->bridged)
		mcp_list_changed(MCP_LIST_RESOURCES);
}

/* --- the record shown ---------------------------------------------------- */

struct json_object *
peer_json(const struct peer *p)
{
	struct json_object	*o, *cg;
	const struct worker	*w = p->worker;

	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "url", json_object_new_string(p->url));
	if (p->id[0] != '\0')
		json_object_object_add(o, "id", json_object_new_string(p->id));
	json_object_object_add(o, "kind",
	    json_object_new_string(p->bridged ? "bridge" : "peer"));
	json_object_object_add(o, "state", json_object_new_string(peer_state_name(p)));
	json_object_object_add(o, "tools", json_object_new_int(p->ntools));
	if (p->nprompts > 0)
		json_object_object_add(o, "prompts",
		    json_object_new_int(p->nprompts));
	json_object_object_add(o, "inflight", json_object_new_int(p->ninflight));
	json_object_object_add(o, "calls", json_object_new_int64(p->ncalls));
	json_object_object_add(o, "callsFailed", json_object_new_int64(p->nfailed));
	json_object_object_add(o, "restarts", json_object_new_int(worker_restarts(w)));
	if (worker_is_ready(w)) {
		json_object_object_add(o, "protocolVersion",
		    json_object_new_string(p->protocol_version));
		json_object_object_add(o, "pid", json_object_new_int(worker_pid(w)));
	}
	if (p->server_info != NULL)
		json_object_object_add(o, "serverInfo", json_object_get(p->server_info));
	if (worker_cause(w)[0] != '\0')
		json_object_object_add(o, "lastError",
		    json_object_new_string(worker_cause(w)));
	if (worker_alive(w) && (cg = cgroup_worker_json(worker_pid(w))) != NULL)
		json_object_object_add(o, "cgroup", cg);
	return (o);
}
