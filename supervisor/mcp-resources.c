/*
 * resources/list, resources/templates/list, resources/read,
 * resources/subscribe and resources/unsubscribe, over every bridged peer
 * (resources.c keeps their lists and where a URI goes).
 *
 * Subscriptions are counted per URI: the first session to subscribe to a
 * URI has its request relayed to the peer, the others are answered here,
 * and the last to go (by unsubscribe, or because its session ended) has
 * the mesh unsubscribe at the peer.  notifications/resources/updated from
 * the peer goes to every session subscribed to that URI, and only to
 * them.  A peer's worker that restarts has lost its subscriptions: the
 * mesh subscribes again for the sessions that still want them.
 */
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mesh.h"
#include "xmalloc.h"

struct sub {
	TAILQ_ENTRY(sub)	 entry;
	struct session		*s;
};

/* One URI some sessions subscribed to, at one peer. */
struct subject {
	RB_ENTRY(subject)	 node;
	struct peer		*peer;
	TAILQ_HEAD(, sub)	 subs;
	unsigned		 n;
	char			 uri[];
};

RB_HEAD(subject_tree, subject);

static int	 subject_cmp(struct subject *, struct subject *);
RB_GENERATE_STATIC(subject_tree, subject, node, subject_cmp)

static struct subject_tree	subjects = RB_INITIALIZER(&subjects);
static unsigned			nsubs;

static int
subject_cmp(struct subject *a, struct subject *b)
{
	return (strcmp(a->uri, b->uri));
}

static struct subject *
subject_find(const char *uri)
{
	union {
		struct subject	j;
		char		b[sizeof(struct subject) + RESOURCE_URI_MAX + 1];
	}		k;
	size_t		n = strlen(uri);

	if (n > RESOURCE_URI_MAX)
		return (NULL);
	memcpy(k.b + offsetof(struct subject, uri), uri, n + 1);
	return (RB_FIND(subject_tree, &subjects, &k.j));
}

static struct sub *
subject_sub(struct subject *j, struct session *s)
{
	struct sub	*u;

	TAILQ_FOREACH(u, &j->subs, entry)
		if (u->s == s)
			return (u);
	return (NULL);
}

/* params.uri of a request, or NULL and the call answered -32602. */
static const char *
mcp_res_uri(struct call *c, struct json_object *req, const char *method)
{
	const char	*uri;

	if ((uri = jsonrpc_get_str(jsonrpc_params(req), "uri")) == NULL ||
	    strlen(uri) > RESOURCE_URI_MAX) {
		call_error(c, JSONRPC_INVALID_PARAMS, "%s: params.uri (a string "
		    "of at most %d bytes) is required", method,
		    RESOURCE_URI_MAX);
		return (NULL);
	}
	return (uri);
}

static void
mcp_res_not_found(struct call *c, const char *uri)
{
	struct json_object	*data;
	char			 esc[256];

	log_escape(esc, sizeof(esc), uri, strlen(uri));
	data = json_object_new_object();
	json_object_object_add(data, "uri", json_object_new_string(uri));
	call_answer_json(c, jsonrpc_error(c->client_id,
	    MCP_RESOURCE_NOT_FOUND, "Resource not found: no peer lists or "
	    "has a template for it", data));
}

/* --- the lists ------------------------------------------------------------ */

static void
mcp_res_list(struct call *c, struct json_object *req, int templates)
{
	struct json_object	*params = jsonrpc_params(req), *v;
	const char		*cursor = NULL;

	if (params != NULL && json_object_is_type(params, json_type_object) &&
	    json_object_object_get_ex(params, "cursor", &v) &&
	    (cursor = jsonrpc_get_str(params, "cursor")) == NULL) {
		call_error(c, JSONRPC_INVALID_PARAMS, "params.cursor must be "
		    "a string");
		return;
	}
	resources_page(c, templates, cursor);
}

/* (mcp.c has awaited the peers still starting, as for every method here.) */
void
mcp_resources_list(struct call *c, struct json_object *req)
{
	mcp_res_list(c, req, 0);
}

void
mcp_resources_templates_list(struct call *c, struct json_object *req)
{
	mcp_res_list(c, req, 1);
}

/* --- read ----------------------------------------------------------------- */

void
mcp_resources_read(struct call *c, struct json_object *req)
{
	struct peer	*p;
	const char	*uri;

	if ((uri = mcp_res_uri(c, req, "resources/read")) == NULL)
		return;
	if ((p = resources_route(uri)) == NULL) {
		mcp_res_not_found(c, uri);
		return;
	}
	router_route(c, p, "resources/read", NULL, req);
}


/* --- subscriptions -------------------------------------------------------- */

/* A call of the mesh's own: the peer's answer only logged. */
static void
mcp_res_internal(struct peer *p, const char *method, const char *uri)
{
	struct json_object	*params, *req;

	params = json_object_new_object();
	json_object_object_add(params, "uri", json_object_new_string(uri));
	req = jsonrpc_request(NULL, method, params);
	call_internal(p, method, req);
	json_object_put(req);
}

void
mcp_resources_subscribe(struct call *c, struct json_object *req)
{
	struct session	*s = c->origin->session;
	struct subject	*j;
	struct sub	*u;
	struct peer	*p;
	const char	*uri;
	size_t		 n;

	if ((uri = mcp_res_uri(c, req, "resources/subscribe")) == NULL)
		return;
	if (s == NULL) {
		call_error(c, JSONRPC_INVALID_REQUEST, "resources/subscribe "
		    "needs a session to deliver the updates to");
		return;
	}
	if ((p = resources_route(uri)) == NULL) {
		mcp_res_not_found(c, uri);
		return;
	}
	if ((j = subject_find(uri)) != NULL && subject_sub(j, s) != NULL) {
		call_result(c, json_object_new_object());
		return;
	}
	if (nsubs >= SUBSCRIPTIONS_MAX) {
		call_error(c, JSONRPC_INTERNAL_ERROR, "resources/subscribe: "
		    "%u subscriptions already (at most %d)", nsubs,
		    SUBSCRIPTIONS_MAX);
		return;
	}
	if (j == NULL) {
		n = strlen(uri);
		j = xcalloc(1, sizeof(*j) + n + 1);
		memcpy(j->uri, uri, n + 1);
		j->peer = p;
		TAILQ_INIT(&j->subs);
		RB_INSERT(subject_tree, &subjects, j);
	}
	u = xcalloc(1, sizeof(*u));
	u->s = s;
	TAILQ_INSERT_TAIL(&j->subs, u, entry);
	nsubs++;
	if (j->n++ == 0)
		router_route(c, j->peer, "resources/subscribe", NULL, req);
	else
		call_result(c, json_object_new_object());
}

/* s no longer wants j: the last one out unsubscribes at the peer. */
static void
subject_leave(struct subject *j, struct sub *u, struct call *c,
    struct json_object *req)
{
	TAILQ_REMOVE(&j->subs, u, entry);
	free(u);
	nsubs--;
	if (--j->n > 0) {
		if (c != NULL)
			call_result(c, json_object_new_object());
		return;
	}
	RB_REMOVE(subject_tree, &subjects, j);
	if (c != NULL)
		router_route(c, j->peer, "resources/unsubscribe", NULL, req);
	else if (peer_ready(j->peer))
		mcp_res_internal(j->peer, "resources/unsubscribe", j->uri);
	free(j);
}

void
mcp_resources_unsubscribe(struct call *c, struct json_object *req)
{
	struct session	*s = c->origin->session;
	struct subject	*j;
	struct sub	*u;
	const char	*uri;

	if ((uri = mcp_res_uri(c, req, "resources/unsubscribe")) == NULL)
		return;
	if (s == NULL || (j = subject_find(uri)) == NULL ||
	    (u = subject_sub(j, s)) == NULL) {
		/* Nothing to undo: not an error (it is idempotent). */
		call_result(c, json_object_new_object());
		return;
	}
	subject_leave(j, u, c, req);
}

/* The session goes: its subscriptions go with it. */
void
mcp_resources_session_gone(struct session *s)
{
	struct subject	*j, *next;
	struct sub	*u;

	for (j = RB_MIN(subject_tree, &subjects); j != NULL; j = next) {
		next = RB_NEXT(subject_tree, &subjects, j);
		if ((u = subject_sub(j, s)) != NULL)
			subject_leave(j, u, NULL, NULL);
	}
}

/* A peer's worker is (again) ready: what sessions still want, again. */
void
mcp_resources_peer_ready(struct peer *p)
{
	struct subject	*j;

	RB_FOREACH(j, subject_tree, &subjects)
		if (j->peer == p)
			mcp_res_internal(p, "resources/subscribe", j->uri);
}

/* The peer is removed: its subjects are no more. */
void
mcp_resources_peer_gone(struct peer *p)
{
	struct subject	*j, *next;
	struct sub	*u;

	for (j = RB_MIN(subject_tree, &subjects); j != NULL; j = next) {
		next = RB_NEXT(subject_tree, &subjects, j);
		if (j->peer != p)
			continue;
		while ((u = TAILQ_FIRST(&j->subs)) != NULL) {
			TAILQ_REMOVE(&j->subs, u, entry);
			free(u);
			nsubs--;
		}
		RB_REMOVE(subject_tree, &subjects, j);
		free(j);
	}
}

/* notifications/resources/updated from p: to the sessions subscribed. */
void
mcp_resources_updated(struct peer *p, struct json_object *n, const char *json,
    size_t len)
{
	struct subject	*j;
	struct sub	*u, *next;
	const char	*uri;

	if ((uri = jsonrpc_get_str(jsonrpc_params(n), "uri")) == NULL ||
	    (j = subject_find(uri)) == NULL || j->peer != p)
		return;
	for (u = TAILQ_FIRST(&j->subs); u != NULL; u = next) {
		next = TAILQ_NEXT(u, entry);
		if (u->s->push != NULL)
			u->s->push(u->s, json, len);
	}
}
