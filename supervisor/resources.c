/*
 * Peers' resources and resource templates, and where a URI goes.
 *
 * URIs are the peers' own and are never rewritten: a resource is read
 * with the URI its peer gave, the same URI a tool's result may link to.
 * So routing is a table, never a parse of the URI: an exact URI goes to
 * the peer that listed it; a URI no peer listed goes to the first peer
 * whose template matches it (RFC 6570 simple expansions, below).  Two
 * bridged peers that list the same URI, or the same template, are
 * settled as tool names are: the peer given first keeps it, the other's
 * is hidden from the lists (and a warning says so).
 *
 * The merged lists are paged by the mesh (RESOURCES_PAGE_MAX a page) with
 * cursors of its own (cursor.c): from another session, or from before
 * the table changed, a cursor is a clear error instead of a wrong page.
 */
#include <sys/queue.h>
#include <sys/tree.h>

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "mesh.h"
#include "xmalloc.h"

#define RES_NEXT	"],\"nextCursor\":\""

struct resent {
	RB_ENTRY(resent)	 node;		/* in its index, when routed */
	TAILQ_ENTRY(resent)	 pentry;	/* in its peer's list */
	struct peer		*peer;
	int			 indexed;	/* the one its URI goes to */
	char			*text;		/* the item, as JSON text */
	size_t			 len;
	char			 uri[];		/* uri, or uriTemplate */
};

RB_HEAD(resent_tree, resent);

static int	 resent_cmp(struct resent *, struct resent *);
RB_GENERATE_STATIC(resent_tree, resent, node, resent_cmp)

static struct resent_tree	 res_index = RB_INITIALIZER(&res_index);
static struct resent_tree	 tpl_index = RB_INITIALIZER(&tpl_index);
static unsigned			 res_gen;	/* bumped by every change */

static int
resent_cmp(struct resent *a, struct resent *b)
{
	return (strcmp(a->uri, b->uri));
}

static void
resent_free_list(struct resent_list *l)
{
	struct resent	*e;

	while ((e = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, e, pentry);
		free(e->text);
		free(e);
	}
}

/* An item with its URI (key "uri" or "uriTemplate"), or NULL (skipped). */
static struct resent *
resent_new(struct peer *p, struct json_object *item, const char *key)
{
	struct resent	*e;
	const char	*uri, *s;
	size_t		 n;

	if (!json_object_is_type(item, json_type_object) ||
	    (uri = jsonrpc_get_str(item, key)) == NULL || *uri == '\0' ||
	    strlen(uri) > RESOURCE_URI_MAX) {
		log_warnx("peer %s: an item without a usable %s skipped",
		    p->name, key);
		return (NULL);
	}
	n = strlen(uri);
	e = xcalloc(1, sizeof(*e) + n + 1);
	memcpy(e->uri, uri, n + 1);
	e->peer = p;
	s = jsonrpc_string(item, &e->len);
	e->text = xstrndup(s, e->len);
	return (e);
}

/* p's list of one kind from items (an array), in its order. */
static void
resent_fill(struct peer *p, struct resent_list *l, struct json_object *items,
    const char *key, size_t max)
{
	struct resent	*e;
	size_t		 i, n = json_object_array_length(items);

	for (i = 0; i < n && i < max; i++)
		if ((e = resent_new(p, json_object_array_get_idx(items, i),
		    key)) != NULL)
			TAILQ_INSERT_TAIL(l, e, pentry);
	if (n > max)
		log_warnx("peer %s: %zu %s, only the first %zu kept", p->name,
		    n, key, max);
}

static int
resent_lists_differ(struct resent_list *a, struct resent_list *b)
{
	struct resent	*x, *y;

	for (x = TAILQ_FIRST(a), y = TAILQ_FIRST(b); x != NULL && y != NULL;
	    x = TAILQ_NEXT(x, pentry), y = TAILQ_NEXT(y, pentry))
		if (x->len != y->len || memcmp(x->text, y->text, x->len) != 0)
			return (1);
	return (x != NULL || y != NULL);
}

/* Every bridged peer's items into an index, the peer given first first. */
static void
resent_index_kind(struct resent_tree *t, int templates)
{
	struct peer	*p;
	struct resent	*e, *o;

	RB_INIT(t);
	TAILQ_FOREACH(p, &peers, entry) {
		TAILQ_FOREACH(e, templates ? &p->templates : &p->resources,
		    pentry) {
			e->indexed = 0;
			if (!p->bridged)
				continue;
			if ((o = RB_INSERT(resent_tree, t, e)) != NULL) {
				log_debug("peer %s: %s %s hidden: peer %s has "
				    "it", p->name, templates ? "template" :
				    "resource", e->uri, o->peer->name);
				continue;
			}
			e->indexed = 1;
		}
	}
}

static void
resources_reindex(void)
{
	resent_index_kind(&res_index, 0);
	resent_index_kind(&tpl_index, 1);
	res_gen++;
}

/*
 * A peer's resources and templates (either may be NULL: that list stays
 * as it is).  *changed says whether anything differs.
 */
void
resources_set_peer(struct peer *p, struct json_object *resources,
    struct json_object *templates, int *changed)
{
	struct resent_list	nl;

	*changed = 0;
	if (resources != NULL && json_object_is_type(resources,
	    json_type_array)) {
		TAILQ_INIT(&nl);
		resent_fill(p, &nl, resources, "uri", UPSTREAM_RESOURCES_MAX);
		*changed |= resent_lists_differ(&nl, &p->resources);
		resent_free_list(&p->resources);
		TAILQ_CONCAT(&p->resources, &nl, pentry);
	}
	if (templates != NULL && json_object_is_type(templates,
	    json_type_array)) {
		TAILQ_INIT(&nl);
		resent_fill(p, &nl, templates, "uriTemplate",
		    UPSTREAM_RESOURCES_MAX);
		*changed |= resent_lists_differ(&nl, &p->templates);
		resent_free_list(&p->templates);
		TAILQ_CONCAT(&p->templates, &nl, pentry);
	}
	if (*changed)
		resources_reindex();
}

/* p's go (removed, failed); 1 if it had any. */
int
resources_remove_peer(struct peer *p)
{
	int	had = !TAILQ_EMPTY(&p->resources) || !TAILQ_EMPTY(&p->templates);

	resent_free_list(&p->resources);
	resent_free_list(&p->templates);
	if (had || p->removed)
		resources_reindex();
	return (had);
}

/*
 * Does uri match template t?  RFC 6570 simple expansions are enough for
 * routing: {var} stands for one or more characters that are not '/',
 * '?', '#' or '&'; {+var}, {#var} and {/var...} forms stand for any run.
 * Literal text must match exactly.
 */
int
resources_template_match(const char *t, const char *uri)
{
	const char	*end, *u;
	int		 any;

	while (*t != '\0') {
		if (*t != '{') {
			if (*t++ != *uri++)
				return (0);
			continue;
		}
		if ((end = strchr(t, '}')) == NULL)
			return (0);
		any = t[1] == '+' || t[1] == '#' || t[1] == '/' || t[1] == '.';
		t = end + 1;
		if (*uri == '\0')
			return (0);
		/* The shortest run that lets the rest match: try each. */
		for (u = uri + 1; ; u++) {
			if (resources_template_match(t, u))
				return (1);
			if (*u == '\0' || (!any && strchr("/?#&", *u) != NULL))
				return (0);
		}
	}
	return (*uri == '\0');
}

/* The item of an index whose URI (or template) is uri, or NULL. */
static struct resent *
res_find(struct resent_tree *t, const char *uri)
{
	union {
		struct resent	e;
		char		b[sizeof(struct resent) + RESOURCE_URI_MAX + 1];
	}		k;
	size_t		n = strlen(uri);

	if (n > RESOURCE_URI_MAX)
		return (NULL);
	memcpy(k.b + offsetof(struct resent, uri), uri, n + 1);
	return (RB_FIND(resent_tree, t, &k.e));
}

/* The bridged peer a URI goes to, or NULL (no peer listed or matches it). */
struct peer *
resources_route(const char *uri)
{
	struct resent	*e;
	struct peer	*p;

	if ((e = res_find(&res_index, uri)) != NULL)
		return (e->peer);
	/* Templates, in the peers' order (the index's is by text). */
	TAILQ_FOREACH(p, &peers, entry)
		TAILQ_FOREACH(e, &p->templates, pentry)
			if (e->indexed && resources_template_match(e->uri, uri))
				return (p);
	return (NULL);
}

/* The peer of a template given by its own text (completion's ref). */
struct peer *
resources_template_peer(const char *tpl)
{
	struct resent	*e;

	if ((e = res_find(&tpl_index, tpl)) == NULL &&
	    (e = res_find(&res_index, tpl)) == NULL)
		return (NULL);
	return (e->peer);
}

/* Does any bridged peer offer capability cap (and sub, when given)? */
int
resources_offered(const char *cap, const char *sub)
{
	struct json_object	*c, *v;
	struct peer		*p;

	TAILQ_FOREACH(p, &peers, entry) {
		if (!p->bridged || p->capabilities == NULL ||
		    !json_object_object_get_ex(p->capabilities, cap, &c))
			continue;
		if (sub == NULL || (json_object_object_get_ex(c, sub, &v) &&
		    json_object_get_boolean(v)))
			return (1);
	}
	return (0);
}

/* --- pages ---------------------------------------------------------------- */

/*
 * One page of the merged list (templates or resources) as the result of
 * call c: {"resources":[...],"nextCursor":...}.  cursor is the client's,
 * or NULL for the first page.
 */
void
resources_page(struct call *c, int templates, const char *cursor)
{
	struct buf	 b;
	struct peer	*p;
	struct resent	*e;
	unsigned	 off = 0, i = 0, n = 0;
	char		 next[64], kind = templates ? 'r' : 'R';

	if (cursor != NULL &&
	    cursor_parse(c->origin, kind, res_gen, cursor, &off) == -1) {
		call_error(c, JSONRPC_INVALID_PARAMS, "invalid cursor: not one "
		    "this mesh gave this session, or the list changed since; "
		    "list again from the start");
		return;
	}
	memset(&b, 0, sizeof(b));
	buf_append(&b, templates ? "{\"resourceTemplates\":[" :
	    "{\"resources\":[", templates ? 22 : 14);
	TAILQ_FOREACH(p, &peers, entry) {
		TAILQ_FOREACH(e, templates ? &p->templates : &p->resources,
		    pentry) {
			if (!e->indexed || i++ < off)
				continue;
			if (n == RESOURCES_PAGE_MAX)
				goto full;
			if (n++ > 0)
				buf_append(&b, ",", 1);
			buf_append(&b, e->text, e->len);
		}
	}
	buf_append(&b, "]}", 2);
	call_result_text(c, buf_data(&b), buf_used(&b));
	buf_free(&b);
	return;
full:
	/* More than a page: the client comes back with this. */
	buf_append(&b, RES_NEXT, sizeof(RES_NEXT) - 1);
	cursor_make(c->origin, kind, res_gen, off + n, next, sizeof(next));
	buf_append(&b, next, strlen(next));
	buf_append(&b, "\"}", 2);
	call_result_text(c, buf_data(&b), buf_used(&b));
	buf_free(&b);
}
