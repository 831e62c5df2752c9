/*
 * Peers' tool lists, and the exposed-tool index: exposed name -> (peer,
 * tool on that peer).  Every peer's tools are kept on its own list, in its
 * order; those of a bridged peer are also in the index, which is what
 * tools/list shows and tools/call looks names up in.
 *
 * A peer's tool is exposed as "<peer>_<tool>" when that is a valid MCP
 * tool name, else as a shortened, hashed form.  Names must not depend on
 * the order in which peers become ready, so a collision is settled by a
 * fixed priority: the mesh's own tools, then the peer given first (lower
 * index), then the tool listed first.  The loser moves on to its next
 * hashed form, even when it was in the table first.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "log.h"
#include "xmalloc.h"
#include "mesh.h"

/*
 * TOOLMAP_ATTEMPTS_MAX (mesh-limits.h) bounds the hashed forms tried for one
 * tool: collisions are rare by chance, but peers choose their tool names
 * and FNV is not keyed, so this bounds the work one hostile peer causes.
 */
#define TOOLMAP_PLAIN		-1	/* "attempt" of the unhashed name */
#define TOOLMAP_LOGNAME_MAX	128	/* escaped tool name in a warning */
#define TOOLMAP_JSON_FLAGS	(JSON_C_TO_STRING_PLAIN | \
				    JSON_C_TO_STRING_NOSLASHESCAPE)
#define TOOLMAP_NAME_HEAD	"{\"name\":\""
#define TOOLMAP_NAME_TAIL	"\""

RB_HEAD(toolmap_tree, toolent);
TAILQ_HEAD(toolmap_list, toolent);

static int	 toolent_cmp(struct toolent *, struct toolent *);
static int	 toolmap_namechar(unsigned char);
static uint64_t	 toolmap_fnv(uint64_t, const void *, size_t);
static int	 toolent_before(const struct toolent *, const struct toolent *);
static int	 toolent_attempt(const struct toolent *);
static void	 toolent_naming(struct toolent *, int);
static struct toolent *toolent_new(struct peer *, const char *,
		    struct json_object *, struct json_object *, int);
static void	 toolent_free(struct toolent *);
static size_t	 toolent_textlen(const struct toolent *);
static size_t	 toolent_text(const struct toolent *, char *);
static void	 nm_drop(struct namemap *, struct toolent *, const char *);
static void	 nm_place(struct namemap *, struct toolent *);
static struct toolent *nm_anchor(struct namemap *, const struct peer *);
static struct toolent *nm_newent(struct namemap *, struct peer *, struct json_object *,
		    int);
static unsigned	 nm_collect(struct namemap *, struct peer *, struct json_object *,
		    struct toolent **);
static int	 toolmap_sortcmp(const void *, const void *);
static unsigned	 nm_dedup(struct namemap *, struct peer *, struct toolent **, unsigned);
static void	 nm_rebuild(struct namemap *);

RB_GENERATE_STATIC(toolmap_tree, toolent, node, toolent_cmp)

/*
 * One index of exposed names: the tools', or the prompts' (the same
 * rules, the same collisions, a list of their own per peer).
 */
struct namemap {
	const char		*what;		/* "tool", for messages */
	size_t			 max;		/* taken from one peer */
	int			 prompts;	/* peers' lists: p->prompts */
	struct toolmap_tree	 tree;
	struct toolmap_list	 list;		/* in tools/list's order */
	unsigned		 n;
	int			 localord;
	/* The cached JSON array: rebuilt only after a change. */
	char			*cache;
	size_t			 cachelen;
	size_t			 cachecap;
	int			 dirty;
	unsigned		 gen;		/* bumped by every change: cursors */
};

static struct namemap	tools_nm = { "tool", UPSTREAM_TOOLS_MAX, 0,
			    RB_INITIALIZER(&tools_nm.tree),
			    TAILQ_HEAD_INITIALIZER(tools_nm.list), 0, 0, NULL,
			    0, 0, 1, 0 };
static struct namemap	prompts_nm = { "prompt", UPSTREAM_PROMPTS_MAX, 1,
			    RB_INITIALIZER(&prompts_nm.tree),
			    TAILQ_HEAD_INITIALIZER(prompts_nm.list), 0, 0, NULL,
			    0, 0, 1, 0 };
struct namemap *const	namemap_tools = &tools_nm;
struct namemap *const	namemap_prompts = &prompts_nm;
static char		toolmap_node[UUID_LEN + 1];	/* our id */

/* A peer's own list of the map's kind. */
static struct toolent_list *
nm_plist(struct namemap *m, const struct peer *p)
{
	struct peer	*q = (struct peer *)p;	/* read only, by callers */

	return (m->prompts ? &q->prompts : &q->tools);
}

static int
toolent_cmp(struct toolent *a, struct toolent *b)
{
	return (strcmp(a->exposed, b->exposed));
}

/* Does a keep a contested name against b? */
static int
toolent_before(const struct toolent *a, const struct toolent *b)
{
	if (a->peer == NULL || b->peer == NULL) {
		if (a->peer != b->peer)
			return (a->peer == NULL);
		return (a->ord < b->ord);
	}
	if (a->peer->index != b->peer->index)
		return (a->peer->index < b->peer->index);
	if (a->peer != b->peer)
		return (strcmp(a->peer->name, b->peer->name) < 0);
	return (a->ord < b->ord);
}

static int
toolmap_namechar(unsigned char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-');
}

int
toolmap_valid_name(const char *s)
{
	size_t	n;

	for (n = 0; s[n] != '\0'; n++) {
		if (n == TOOL_NAME_MAX || !toolmap_namechar(s[n]))
			return (0);
	}
	return (n != 0);
}

static uint64_t
toolmap_fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char	*c = p;
	size_t			 i;

	for (i = 0; i < len; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return (h);
}

/*
 * "prefix_tool", or the tool's own name under an empty prefix (a peer
 * fronted transparently, --prefix NAME=); hashed: cut so that "_" and
 * the hex suffix fit.  The hash takes the peer's name too, so two
 * transparent peers' names part ways.
 */
void
toolmap_name(const char *prefix, const char *peer, const char *tool,
    int hashed, unsigned attempt, char *out, size_t outlen)
{
	char		 buf[TOOL_NAME_MAX + 1], num[16];
	const char	*sep = *prefix != '\0' ? "_" : "";
	uint64_t	 h;
	size_t		 i, keep;

	if (outlen == 0)
		return;
	if (!hashed) {
		snprintf(out, outlen, "%s%s%s", prefix, sep, tool);
		return;
	}
	keep = TOOL_NAME_MAX - 1 - TOOL_HASH_LEN;
	snprintf(buf, keep + 1, "%s%s%s", prefix, sep, tool);
	for (i = 0; buf[i] != '\0'; i++) {
		if (!toolmap_namechar(buf[i]))
			buf[i] = '_';
	}
	snprintf(num, sizeof(num), "%u", attempt);
	h = 0xcbf29ce484222325ULL;
	h = toolmap_fnv(h, peer, strlen(peer) + 1);
	h = toolmap_fnv(h, tool, strlen(tool) + 1);
	h = toolmap_fnv(h, num, strlen(num));
	snprintf(out, outlen, "%s_%0*" PRIx64, buf, TOOL_HASH_LEN,
	    h >> (64 - 4 * TOOL_HASH_LEN));
}

/* Set ent->exposed for an attempt; the plain form only when valid. */
static void
toolent_naming(struct toolent *ent, int attempt)
{
	const struct peer	*p = ent->peer;
	size_t			 plen;

	if (p == NULL)
		return;		/* the mesh's own names are never changed */
	if (attempt == TOOLMAP_PLAIN) {
		toolmap_name(p->prefix, p->name, ent->tool, 0, 0, ent->exposed,
		    sizeof(ent->exposed));
		plen = p->prefix[0] != '\0' ? strlen(p->prefix) + 1 : 0;
		if (plen + strlen(ent->tool) <= TOOL_NAME_MAX &&
		    toolmap_valid_name(ent->exposed))
			return;
		attempt = 0;
	}
	toolmap_name(p->prefix, p->name, ent->tool, 1, (unsigned)attempt,
	    ent->exposed, sizeof(ent->exposed));
}

/* Which attempt gave ent its current name (to move it to the next). */
static int
toolent_attempt(const struct toolent *ent)
{
	char	name[TOOL_NAME_MAX + 1];
	int	a;

	for (a = 0; a < TOOLMAP_ATTEMPTS_MAX; a++) {
		toolmap_name(ent->peer->prefix, ent->peer->name, ent->tool, 1,
		    (unsigned)a, name, sizeof(name));
		if (strcmp(name, ent->exposed) == 0)
			return (a);
	}
	return (TOOLMAP_PLAIN);
}

/*
 * An entry for the tool called name whose definition is def.  Only the
 * text of def is kept: a json-c tree costs some 5 KB a tool, which is
 * 100 MB at 20,000 tools.  The members other than "name" are printed as
 * json-c prints them, in their order; def itself is not changed.
 */
static struct toolent *
toolent_new(struct peer *p, const char *name, struct json_object *def,
    struct json_object *meta, int ord)
{
	struct toolent		*ent;
	struct json_object	*rest;
	const char		*s;
	size_t			 len, toollen;

	/* Shares def's keys and values: nothing is deep-copied. */
	if ((rest = json_object_new_object()) == NULL)
		fatalx("%s: json_object_new_object", __func__);
	json_object_object_foreach(def, key, val) {
		if (strcmp(key, "name") == 0)
			continue;
		if (meta != NULL && strcmp(key, "_meta") == 0)
			val = meta;	/* the path with this node in it */
		if (json_object_object_add_ex(rest, key, json_object_get(val),
		    JSON_C_OBJECT_ADD_KEY_IS_NEW |
		    JSON_C_OBJECT_ADD_CONSTANT_KEY) != 0)
			fatalx("%s: json_object_object_add_ex", __func__);
	}
	if (meta != NULL && !json_object_object_get_ex(def, "_meta", NULL))
		json_object_object_add(rest, "_meta", json_object_get(meta));
	s = json_object_to_json_string_length(rest, TOOLMAP_JSON_FLAGS, &len);
	if (s == NULL || len < 2 || s[0] != '{' || s[len - 1] != '}')
		fatalx("%s: json_object_to_json_string_length", __func__);
	s++;
	len -= 2;		/* the members, without the braces */

	toollen = strlen(name);
	ent = xcalloc(1, offsetof(struct toolent, tool) + toollen + 1 + len +
	    1);
	ent->peer = p;
	ent->ord = ord;
	memcpy(ent->tool, name, toollen + 1);
	ent->body = ent->tool + toollen + 1;
	memcpy(ent->body, s, len);
	ent->body[len] = '\0';
	ent->bodylen = len;
	json_object_put(rest);
	return (ent);
}

static void
toolent_free(struct toolent *ent)
{
	free(ent);
}

/* The length of ent's definition as JSON text. */
static size_t
toolent_textlen(const struct toolent *ent)
{
	return (sizeof(TOOLMAP_NAME_HEAD) - 1 + strlen(ent->exposed) +
	    sizeof(TOOLMAP_NAME_TAIL) - 1 +
	    (ent->bodylen != 0 ? 1 + ent->bodylen : 0) + 1);
}

/*
 * Write ent's definition, toolent_textlen() bytes and no NUL, to out.
 * The exposed name goes in unescaped: it is checked to need none.
 */
static size_t
toolent_text(const struct toolent *ent, char *out)
{
	char	*o = out;
	size_t	 n;

	if (!toolmap_valid_name(ent->exposed))
		fatalx("%s: exposed name needs escaping", __func__);
	memcpy(o, TOOLMAP_NAME_HEAD, sizeof(TOOLMAP_NAME_HEAD) - 1);
	o += sizeof(TOOLMAP_NAME_HEAD) - 1;
	n = strlen(ent->exposed);
	memcpy(o, ent->exposed, n);
	o += n;
	memcpy(o, TOOLMAP_NAME_TAIL, sizeof(TOOLMAP_NAME_TAIL) - 1);
	o += sizeof(TOOLMAP_NAME_TAIL) - 1;
	if (ent->bodylen != 0) {
		*o++ = ',';
		memcpy(o, ent->body, ent->bodylen);
		o += ent->bodylen;
	}
	*o++ = '}';
	return (o - out);
}

/*
 * Take an entry that is in the index's list but not in its tree out of
 * the index.  A peer's tool stays on its peer's list (mesh_call_peer
 * still reaches it); one of the mesh's own is freed.
 */
static void
nm_drop(struct namemap *m, struct toolent *ent, const char *why)
{
	char	esc[TOOLMAP_LOGNAME_MAX];

	log_escape(esc, sizeof(esc), ent->tool, strlen(ent->tool));
	log_warnx("%s%s: tool \"%s\" dropped: %s",
	    ent->peer != NULL ? "peer " : "",
	    ent->peer != NULL ? ent->peer->name : "mesh", esc, why);
	TAILQ_REMOVE(&m->list, ent, entry);
	ent->indexed = 0;
	m->n--;
	if (ent->peer == NULL)
		toolent_free(ent);
}

/*
 * Put ent in the tree.  The winner of a collision keeps the name; the
 * loser tries its next hashed form, and may in turn displace another.
 * Each step moves a lower-priority entry to a higher attempt: it ends.
 */
static void
nm_place(struct namemap *m, struct toolent *ent)
{
	struct toolent	*cur = ent, *other;
	int		 attempt = TOOLMAP_PLAIN;

	for (;;) {
		if (attempt >= TOOLMAP_ATTEMPTS_MAX) {
			nm_drop(m, cur, "no free exposed name");
			return;
		}
		toolent_naming(cur, attempt);
		if ((other = RB_INSERT(toolmap_tree, &m->tree, cur)) ==
		    NULL)
			return;
		if (!toolent_before(cur, other)) {
			if (cur->peer == NULL) {
				nm_drop(m, cur, "duplicate name");
				return;
			}
			attempt++;
			continue;
		}
		RB_REMOVE(toolmap_tree, &m->tree, other);
		RB_INSERT(toolmap_tree, &m->tree, cur);
		attempt = toolent_attempt(other) + 1;
		cur = other;
	}
}

void
namemap_init(struct namemap *m)
{
	RB_INIT(&m->tree);
	TAILQ_INIT(&m->list);
	m->n = 0;
	m->localord = 0;
	m->dirty = 1;
	m->gen++;
}

/* The mesh's own tools go; peers' are freed with their peers. */
void
namemap_clear(struct namemap *m)
{
	struct toolent	*ent;

	while ((ent = TAILQ_FIRST(&m->list)) != NULL) {
		TAILQ_REMOVE(&m->list, ent, entry);
		ent->indexed = 0;
		if (ent->peer == NULL)
			toolent_free(ent);
	}
	free(m->cache);
	m->cache = NULL;
	m->cachelen = m->cachecap = 0;
	namemap_init(m);
}

void
namemap_add_local(struct namemap *m, struct json_object *def)
{
	struct toolent	*ent, *pos;
	struct json_object *v;
	const char	*name;

	if (!json_object_object_get_ex(def, "name", &v) ||
	    (name = json_object_get_string(v)) == NULL ||
	    !toolmap_valid_name(name))
		fatalx("%s: bad local tool definition", __func__);

	ent = toolent_new(NULL, name, def, NULL, m->localord++);
	strlcpy(ent->exposed, name, sizeof(ent->exposed));
	ent->indexed = 1;

	/* The mesh's own tools come first, in the order added. */
	TAILQ_FOREACH(pos, &m->list, entry) {
		if (pos->peer != NULL)
			break;
	}
	if (pos != NULL)
		TAILQ_INSERT_BEFORE(pos, ent, entry);
	else
		TAILQ_INSERT_TAIL(&m->list, ent, entry);
	m->n++;
	m->dirty = 1;
	m->gen++;
	nm_place(m, ent);
}

/*
 * The entry after which a peer's entries go: peers become ready mostly
 * in order, so the search starts from the end.
 */
static struct toolent *
nm_anchor(struct namemap *m, const struct peer *p)
{
	struct toolent	*pos;

	TAILQ_FOREACH_REVERSE(pos, &m->list, toolmap_list, entry) {
		if (pos->peer == NULL || pos->peer->index < p->index ||
		    (pos->peer->index == p->index &&
		    strcmp(pos->peer->name, p->name) <= 0))
			break;
	}
	return (pos);
}

void
toolmap_set_node(const char *id)
{
	strlcpy(toolmap_node, id, sizeof(toolmap_node));
}

/*
 * Meshes bridge meshes, so a tool may come back round a loop.  Every tool
 * a mesh exports carries the ids of the nodes it came through in _meta
 * (MESH_META_PATH); a tool whose path holds this node's id is not taken
 * again, nor one whose path is MESH_PATH_MAX long; the others are
 * exported with this node's id added.  Returns the new _meta (owned), or
 * NULL when the tool is not to be taken.
 */
struct json_object *
toolmap_path_meta(struct json_object *def, const char *node, const char **why)
{
	struct json_object	*meta = NULL, *path = NULL, *nmeta, *npath, *v;
	size_t			 i, n = 0;

	if (json_object_object_get_ex(def, "_meta", &meta) &&
	    json_object_is_type(meta, json_type_object))
		json_object_object_get_ex(meta, MESH_META_PATH, &path);
	if (path != NULL && json_object_is_type(path, json_type_array))
		n = json_object_array_length(path);
	if (n >= MESH_PATH_MAX) {
		*why = "its path through meshes is too long";
		return (NULL);
	}
	npath = json_object_new_array();
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(path, i);
		if (json_object_is_type(v, json_type_string) &&
		    strcmp(json_object_get_string(v), node) == 0) {
			json_object_put(npath);
			*why = "it came round a loop of meshes";
			return (NULL);
		}
		json_object_array_add(npath, json_object_get(v));
	}
	json_object_array_add(npath, json_object_new_string(node));
	nmeta = json_object_new_object();
	if (meta != NULL && json_object_is_type(meta, json_type_object)) {
		json_object_object_foreach(meta, key, val) {
			if (strcmp(key, MESH_META_PATH) != 0)
				json_object_object_add(nmeta, key,
				    json_object_get(val));
		}
	}
	json_object_object_add(nmeta, MESH_META_PATH, npath);
	return (nmeta);
}

static struct toolent *
nm_newent(struct namemap *m, struct peer *p, struct json_object *tool, int ord)
{
	struct toolent		*ent;
	struct json_object	*v = NULL, *meta = NULL;
	const char		*name = NULL, *why;
	char			 esc[TOOLMAP_LOGNAME_MAX];

	if (json_object_is_type(tool, json_type_object) &&
	    json_object_object_get_ex(tool, "name", &v) &&
	    json_object_is_type(v, json_type_string))
		name = json_object_get_string(v);
	if (name == NULL || *name == '\0') {
		log_warnx("peer %s: %s %d without a name skipped", p->name,
		    m->what, ord);
		return (NULL);
	}
	if (strlen(name) != (size_t)json_object_get_string_len(v)) {
		log_escape(esc, sizeof(esc), name,
		    (size_t)json_object_get_string_len(v));
		log_warnx("peer %s: %s \"%s\" with a NUL in its name skipped",
		    p->name, m->what, esc);
		return (NULL);
	}
	if (p->bridged && toolmap_node[0] != '\0' &&
	    (meta = toolmap_path_meta(tool, toolmap_node, &why)) == NULL) {
		log_escape(esc, sizeof(esc), name, strlen(name));
		log_debug("peer %s: %s \"%s\" not taken: %s", p->name,
		    m->what, esc, why);
		return (NULL);
	}
	ent = toolent_new(p, name, tool, meta, ord);
	json_object_put(meta);
	return (ent);
}

/* The peer's usable items, in its order, at most m->max. */
static unsigned
nm_collect(struct namemap *m, struct peer *p, struct json_object *tools,
    struct toolent **ents)
{
	struct toolent	*ent;
	size_t		 i, n;
	unsigned	 k = 0;

	n = json_object_array_length(tools);
	for (i = 0; i < n; i++) {
		if (k == m->max) {
			log_warnx("peer %s: %zu %ss, only the first %zu kept",
			    p->name, n, m->what, m->max);
			break;
		}
		ent = nm_newent(m, p, json_object_array_get_idx(tools, i),
		    (int)i);
		if (ent != NULL)
			ents[k++] = ent;
	}
	return (k);
}

static int
toolmap_sortcmp(const void *a, const void *b)
{
	const struct toolent	*x = *(struct toolent * const *)a;
	const struct toolent	*y = *(struct toolent * const *)b;
	int			 r;

	if ((r = strcmp(x->tool, y->tool)) != 0)
		return (r);
	return (x->ord < y->ord ? -1 : x->ord > y->ord);
}

/* Drop later tools with the name of an earlier one; keep the order. */
static unsigned
nm_dedup(struct namemap *m, struct peer *p, struct toolent **ents, unsigned n)
{
	struct toolent	**sorted;
	char		  esc[TOOLMAP_LOGNAME_MAX];
	unsigned	  i, k;

	if (n < 2)
		return (n);
	sorted = xreallocarray(NULL, n, sizeof(*sorted));
	memcpy(sorted, ents, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), toolmap_sortcmp);
	for (i = 1; i < n; i++) {
		if (strcmp(sorted[i]->tool, sorted[i - 1]->tool) != 0)
			continue;
		log_escape(esc, sizeof(esc), sorted[i]->tool,
		    strlen(sorted[i]->tool));
		log_warnx("peer %s: duplicate %s \"%s\" dropped", p->name, m->what,
		    esc);
		sorted[i]->ord = -1;	/* mark: ents[] still owns it */
	}
	free(sorted);
	for (i = k = 0; i < n; i++) {
		if (ents[i]->ord == -1)
			toolent_free(ents[i]);
		else
			ents[k++] = ents[i];
	}
	return (k);
}

/* A bridged peer's entries go into the index, in the peer order. */
static void
nm_index_peer(struct namemap *m, struct peer *p, struct toolent **ents, unsigned n)
{
	struct toolent	*anchor;
	unsigned	 i;

	anchor = nm_anchor(m, p);
	for (i = 0; i < n; i++) {
		if (anchor == NULL)
			TAILQ_INSERT_HEAD(&m->list, ents[i], entry);
		else
			TAILQ_INSERT_AFTER(&m->list, anchor, ents[i],
			    entry);
		anchor = ents[i];
		ents[i]->indexed = 1;
		m->n++;
	}
	/* Placing may take entries (of p or others) out again. */
	for (i = 0; i < n; i++)
		nm_place(m, ents[i]);
	m->dirty = 1;
	m->gen++;
}

/* Out of the index (if in it) and off p's list onto old. */
static void
nm_detach_peer(struct namemap *m, struct peer *p, struct toolent_list *old)
{
	struct toolent	*ent;

	while ((ent = TAILQ_FIRST(nm_plist(m, p))) != NULL) {
		TAILQ_REMOVE(nm_plist(m, p), ent, pentry);
		/* Its indexed flag stays: nm_differs() compares it. */
		if (ent->indexed) {
			TAILQ_REMOVE(&m->list, ent, entry);
			RB_REMOVE(toolmap_tree, &m->tree, ent);
			m->n--;
			m->dirty = 1;
			m->gen++;
		}
		TAILQ_INSERT_TAIL(old, ent, pentry);
	}
}

static void
toolmap_free_list(struct toolent_list *l)
{
	struct toolent	*ent;

	while ((ent = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, ent, pentry);
		toolent_free(ent);
	}
}

/*
 * Did the list change?  Compared entry by entry (names, exposed names,
 * definitions): meshes that bridge each other re-list on every
 * list_changed, and a re-list that finds the same tools must not say
 * list_changed again, or two meshes would ping-pong for ever.
 */
static int
nm_differs(struct namemap *m, struct toolent_list *old, struct peer *p)
{
	struct toolent	*a, *b;

	for (a = TAILQ_FIRST(old), b = TAILQ_FIRST(nm_plist(m, p));
	    a != NULL && b != NULL;
	    a = TAILQ_NEXT(a, pentry), b = TAILQ_NEXT(b, pentry)) {
		if (a->indexed != b->indexed || a->bodylen != b->bodylen ||
		    strcmp(a->tool, b->tool) != 0 ||
		    strcmp(a->exposed, b->exposed) != 0 ||
		    memcmp(a->body, b->body, a->bodylen) != 0)
			return (1);
	}
	return (a != NULL || b != NULL);
}

int
namemap_set_peer(struct namemap *m, struct peer *p, struct json_object *tools,
    int *changed)
{
	struct toolent_list	  old = TAILQ_HEAD_INITIALIZER(old);
	struct toolent		**ents, *ent;
	unsigned		  i, n = 0;
	int			  kept = 0;

	nm_detach_peer(m, p, &old);
	if (tools != NULL && json_object_is_type(tools, json_type_array) &&
	    json_object_array_length(tools) > 0) {
		ents = xreallocarray(NULL, json_object_array_length(tools),
		    sizeof(*ents));
		n = nm_collect(m, p, tools, ents);
		n = nm_dedup(m, p, ents, n);
		for (i = 0; i < n; i++)
			TAILQ_INSERT_TAIL(nm_plist(m, p), ents[i], pentry);
		if (p->bridged)
			nm_index_peer(m, p, ents, n);
		free(ents);
	}
	if (changed != NULL)
		*changed = nm_differs(m, &old, p);
	toolmap_free_list(&old);
	TAILQ_FOREACH(ent, nm_plist(m, p), pentry) {
		if (ent->indexed || !p->bridged)
			kept++;
	}
	return (kept);
}

void
namemap_remove_peer(struct namemap *m, struct peer *p)
{
	struct toolent_list	old = TAILQ_HEAD_INITIALIZER(old);

	nm_detach_peer(m, p, &old);
	toolmap_free_list(&old);
}

/* A name with a NUL inside, or too long, names no tool. */
struct toolent *
namemap_lookup(struct namemap *m, const char *exposed, size_t len)
{
	struct toolent	key;

	if (len > TOOL_NAME_MAX || memchr(exposed, '\0', len) != NULL)
		return (NULL);
	memcpy(key.exposed, exposed, len);
	key.exposed[len] = '\0';
	return (RB_FIND(toolmap_tree, &m->tree, &key));
}

struct toolent *
namemap_first(struct namemap *m)
{
	return (TAILQ_FIRST(&m->list));
}

struct toolent *
toolmap_next(struct toolent *ent)
{
	return (TAILQ_NEXT(ent, entry));
}

unsigned
namemap_count(struct namemap *m)
{
	return (m->n);
}

/*
 * Parsed as peers' messages are: json_tokener_parse() stops at depth 32,
 * and a definition may be nested up to JSON_DEPTH_MAX.  NULL only when
 * out of memory.
 */
struct json_object *
toolmap_def(struct toolent *ent)
{
	struct json_object	*o;
	const char		*why;
	char			*text;
	size_t			 len;

	text = xmalloc(toolent_textlen(ent) + 1);
	len = toolent_text(ent, text);
	text[len] = '\0';
	if ((o = jsonrpc_parse(text, len, JSON_DEPTH_MAX, &why)) == NULL)
		log_warnx("%s: tool \"%s\": %s", __func__, ent->exposed, why);
	free(text);
	return (o);
}

/*
 * Joined by hand from the kept text, sized first so that it is written
 * once; reallocated only when it grows or would be less than half used.
 */
static void
nm_rebuild(struct namemap *m)
{
	struct toolent	*ent;
	size_t		 need = sizeof("[]");	/* and the NUL */

	TAILQ_FOREACH(ent, &m->list, entry)
		need += toolent_textlen(ent) + 1;	/* and a comma */
	if (need > m->cachecap || need < m->cachecap / 2) {
		m->cache = xreallocarray(m->cache, 1, need);
		m->cachecap = need;
	}
	m->cachelen = 0;
	m->cache[m->cachelen++] = '[';
	TAILQ_FOREACH(ent, &m->list, entry) {
		if (ent != TAILQ_FIRST(&m->list))
			m->cache[m->cachelen++] = ',';
		m->cachelen += toolent_text(ent,
		    m->cache + m->cachelen);
	}
	m->cache[m->cachelen++] = ']';
	m->cache[m->cachelen] = '\0';
	m->dirty = 0;
}

unsigned
namemap_gen(struct namemap *m)
{
	return (m->gen);
}

/* Entries [off, off + n) as a JSON array appended to b; how many. */
unsigned
namemap_slice(struct namemap *m, unsigned off, unsigned n, struct buf *b)
{
	struct toolent	*ent;
	unsigned	 i = 0, k = 0;
	char		*text;
	size_t		 len;

	buf_append(b, "[", 1);
	TAILQ_FOREACH(ent, &m->list, entry) {
		if (i++ < off)
			continue;
		if (k == n)
			break;
		if (k++ > 0)
			buf_append(b, ",", 1);
		text = buf_reserve(b, toolent_textlen(ent));
		len = toolent_text(ent, text);
		buf_added(b, len);
	}
	buf_append(b, "]", 1);
	return (k);
}

const char *
namemap_json(struct namemap *m, size_t *len)
{
	if (m->dirty)
		nm_rebuild(m);
	if (len != NULL)
		*len = m->cachelen;
	return (m->cache);
}

/*
 * A peer's own tools with their own names (mesh_list_peer_tools): built
 * on demand, rare.  Those names come from the peer and are escaped.
 */
char *
namemap_peer_json(struct namemap *m, const struct peer *p, size_t *lenp)
{
	struct toolent		*ent;
	struct json_object	*name;
	const char		*s;
	char			*out;
	size_t			 need = sizeof("[]"), len = 0, n;

	TAILQ_FOREACH(ent, nm_plist(m, p), pentry)
		need += sizeof("{\"name\":,}") + 6 * strlen(ent->tool) + 2 +
		    ent->bodylen;
	out = xmalloc(need);
	out[len++] = '[';
	TAILQ_FOREACH(ent, nm_plist(m, p), pentry) {
		if (ent != TAILQ_FIRST(nm_plist(m, p)))
			out[len++] = ',';
		name = json_object_new_string(ent->tool);
		s = json_object_to_json_string_length(name, TOOLMAP_JSON_FLAGS,
		    &n);
		len += snprintf(out + len, need - len, "{\"name\":%.*s%s",
		    (int)n, s, ent->bodylen != 0 ? "," : "");
		json_object_put(name);
		memcpy(out + len, ent->body, ent->bodylen);
		len += ent->bodylen;
		out[len++] = '}';
	}
	out[len++] = ']';
	out[len] = '\0';
	*lenp = len;
	return (out);
}

/* --- the tools' map, as most callers want it ----------------------------- */

void
toolmap_init(void)
{
	namemap_init(namemap_tools);
}

void
toolmap_clear(void)
{
	namemap_clear(namemap_tools);
}

void
toolmap_add_local(struct json_object *def)
{
	namemap_add_local(namemap_tools, def);
}

int
toolmap_set_peer(struct peer *p, struct json_object *tools, int *changed)
{
	return (namemap_set_peer(namemap_tools, p, tools, changed));
}

void
toolmap_remove_peer(struct peer *p)
{
	namemap_remove_peer(namemap_tools, p);
}

struct toolent *
toolmap_lookup(const char *exposed, size_t len)
{
	return (namemap_lookup(namemap_tools, exposed, len));
}

struct toolent *
toolmap_first(void)
{
	return (namemap_first(namemap_tools));
}

unsigned
toolmap_count(void)
{
	return (namemap_count(namemap_tools));
}

const char *
toolmap_json(size_t *len)
{
	return (namemap_json(namemap_tools, len));
}

char *
toolmap_peer_json(const struct peer *p, size_t *len)
{
	return (namemap_peer_json(namemap_tools, p, len));
}
