/*
 * What the worker lists of its gateway, and when.  Four lists in three
 * groups: tools; resources and resource templates; prompts.  Each is put
 * together by a lister (lister.c) from its pages; the groups a gateway
 * does not offer (its initialize capabilities) are not asked for.
 *
 * The first lists go to the supervisor together as READY, with what
 * initialize said.  After a list_changed (notifications/tools/...,
 * resources/..., prompts/...) its group is listed again and goes as
 * LISTS.  A gateway may send list_changed without pause: re-lists of a
 * group start at least UPSTREAM_RELIST_MIN_MS apart (pace.c), the
 * list_changed meanwhile folded into the next one, so the last change is
 * always listed.  Only the tool list is needed to start: a gateway whose
 * resources or prompts cannot be listed starts with none of them.
 */
#include <sys/types.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <json-c/json.h>

#include "jsonrpc.h"
#include "mesh-proto.h"
#include "upstream.h"
#include "util.h"

enum listing_kind {
	LK_TOOLS,
	LK_RESOURCES,
	LK_TEMPLATES,
	LK_PROMPTS,
	LK_N
};

enum listing_group {
	LG_TOOLS,
	LG_RESOURCES,		/* resources and their templates */
	LG_PROMPTS,
	LG_N
};

static void	 listing_listed(struct up_session *, enum listing_kind,
		    struct json_object *);
static void	 listing_group_begin(struct up_session *, enum listing_group);
static void	 listing_kind_begin(struct up_session *, enum listing_kind);
static void	 listing_page(struct up_session *, struct lister *,
		    const char *);
static void	 listing_done(struct xfer *, CURLcode);
static void	 listing_relist(struct up_session *, uint64_t);

static const struct list_kind listing_kinds[LK_N] = {
	{ "tools/list", "tools", UPSTREAM_TOOLS_MAX, UPSTREAM_PAGES_MAX },
	{ "resources/list", "resources", UPSTREAM_RESOURCES_MAX,
	  UPSTREAM_PAGES_MAX },
	{ "resources/templates/list", "resourceTemplates",
	  UPSTREAM_RESOURCES_MAX, UPSTREAM_PAGES_MAX },
	{ "prompts/list", "prompts", UPSTREAM_PROMPTS_MAX, UPSTREAM_PAGES_MAX },
};

/* Each group's kinds, first to last; the capability that offers it. */
static const struct {
	enum listing_kind	 first, last;
	const char		*capability;
	const char		*changed;	/* its list_changed */
} listing_groups[LG_N] = {
	{ LK_TOOLS, LK_TOOLS, "tools", "notifications/tools/list_changed" },
	{ LK_RESOURCES, LK_TEMPLATES, "resources",
	  "notifications/resources/list_changed" },
	{ LK_PROMPTS, LK_PROMPTS, "prompts",
	  "notifications/prompts/list_changed" },
};

static struct {
	struct lister		 l[LK_N];
	struct json_object	*items[LK_N];	/* listed, not yet sent */
	struct pace		 relist[LG_N];	/* after list_changed */
	int			 running[LG_N];
	enum listing_kind	 current[LG_N];	/* kind being listed */
	int			 offered[LG_N];	/* by the gateway */
	int			 startup;	/* groups of READY to go */
} ls;

static enum listing_group
listing_group_of(enum listing_kind k)
{
	return (k == LK_TOOLS ? LG_TOOLS : k == LK_PROMPTS ? LG_PROMPTS :
	    LG_RESOURCES);
}

/* Which groups the gateway's initialize capabilities offer. */
static void
listing_offered(struct up_session *s)
{
	struct json_object	*caps, *v;
	int			 g;

	if (!json_object_object_get_ex(s->init, "capabilities", &caps))
		caps = NULL;
	for (g = 0; g < LG_N; g++)
		ls.offered[g] = g == LG_TOOLS ||
		    (json_object_object_get_ex(caps,
		    listing_groups[g].capability, &v) &&
		    json_object_is_type(v, json_type_object));
}

/* The next group READY waits for after g, or LG_N when none. */
static int
listing_next_group(int g)
{
	for (g++; g < LG_N; g++)
		if (ls.offered[g])
			return (g);
	return (LG_N);
}

/* The handshake's own listing; the re-lists' interval counts from it. */
void
listing_start(struct up_session *s)
{
	uint64_t	now = now_ms();
	int		g;

	listing_offered(s);
	for (g = 0; g < LG_N; g++) {
		ls.relist[g].interval = UPSTREAM_RELIST_MIN_MS;
		pace_started(&ls.relist[g], now);
	}
	ls.startup = 1;
	listing_group_begin(s, LG_TOOLS);
}

/* A list_changed came on the GET stream: 1 if it was one of ours. */
int
listing_changed(struct up_session *s, const char *method)
{
	int	g;

	for (g = 0; g < LG_N; g++) {
		if (strcmp(method, listing_groups[g].changed) != 0)
			continue;
		if (ls.offered[g]) {
			pace_ask(&ls.relist[g]);
			listing_relist(s, now_ms());
		}
		return (1);
	}
	return (0);
}

static void
listing_group_begin(struct up_session *s, enum listing_group g)
{
	if (upstream_ready())	/* after list_changed: a deadline of its own */
		s->deadline = now_ms() + UPSTREAM_INIT_TIMEOUT_MS;
	ls.running[g] = 1;
	listing_kind_begin(s, listing_groups[g].first);
}

static void
listing_kind_begin(struct up_session *s, enum listing_kind k)
{
	ls.current[listing_group_of(k)] = k;
	ls.l[k].kind = &listing_kinds[k];
	lister_begin(&ls.l[k]);
	listing_page(s, &ls.l[k], NULL);
}

static void
listing_page(struct up_session *s, struct lister *l, const char *cursor)
{
	struct json_object	*p = NULL;
	struct xfer		*x;

	if (cursor != NULL) {
		p = json_object_new_object();
		json_object_object_add(p, "cursor",
		    json_object_new_string(cursor));
	}
	x = client_request(s, l->kind->method, p, XFER_LIST, listing_done);
	x->arg = l;
}

static enum listing_kind
listing_kind_of(const struct lister *l)
{
	return ((enum listing_kind)(l - ls.l));
}

/*
 * A list could not be had.  The tools before READY: the worker cannot
 * start.  Resources or prompts before READY: none of them.  Any list
 * after READY: the old one stays.
 */
static void
listing_lost(struct xfer *x, int ex, const char *reason)
{
	struct up_session	*s = x->session;
	struct lister		*l = x->arg;
	enum listing_kind	 k = listing_kind_of(l);

	if (!upstream_ready() && k == LK_TOOLS) {
		client_fail(x, ex, reason);
		return;
	}
	log_warnx("%s failed: %s%s", l->kind->method, reason,
	    upstream_ready() ? "; the old list stays" : "; none taken");
	lister_free(l);
	xfer_put(x);
	if (!upstream_ready())
		listing_listed(s, k, json_object_new_array());
	else {
		ls.running[listing_group_of(k)] = 0;
		listing_relist(s, now_ms());	/* if it changed again */
	}
}

static void
listing_done(struct xfer *x, CURLcode rc)
{
	struct up_session	*s = x->session;
	struct lister		*l = x->arg;
	struct json_object	*m, *r;
	char			 reason[WORKER_REASON_MAX], why[128];
	const char		*cur;
	int			 ex;

	if ((m = client_answer(x, rc, &ex, reason, sizeof(reason))) == NULL) {
		listing_lost(x, ex, reason);
		return;
	}
	if (!json_object_object_get_ex(m, "result", &r))
		r = NULL;
	switch (lister_page(l, r, &cur, why, sizeof(why))) {
	case LISTER_BAD:
		json_object_put(m);
		snprintf(reason, sizeof(reason), "%s: %s", xs.url, why);
		listing_lost(x, EX_PROTOCOL, reason);
		break;
	case LISTER_NEXT:
		json_object_put(m);	/* cur is the lister's copy */
		xfer_put(x);
		listing_page(s, l, cur);
		break;
	case LISTER_DONE:
		/*
		 * The page's tree goes before the list is sent, which gives
		 * the pages of every tree back (malloc_trim): later, they
		 * would stay dirty in every worker, ~170 KiB with 200 tools.
		 */
		json_object_put(m);
		xfer_put(x);
		listing_listed(s, listing_kind_of(l), lister_take(l));
		break;
	}
}

/* The first lists go with what initialize said, as READY. */
static struct json_object *
listing_ready_msg(struct up_session *s)
{
	struct json_object	*o, *v;

	o = json_object_new_object();
	json_object_object_add(o, "protocolVersion",
	    json_object_new_string(s->version));
	if (!json_object_object_get_ex(s->init, "serverInfo", &v))
		v = NULL;
	json_object_object_add(o, "serverInfo", v != NULL ?
	    json_object_get(v) : json_object_new_object());
	if (!json_object_object_get_ex(s->init, "capabilities", &v))
		v = NULL;
	json_object_object_add(o, "capabilities", v != NULL ?
	    json_object_get(v) : json_object_new_object());
	if (json_object_object_get_ex(s->init, "instructions", &v) &&
	    json_object_is_type(v, json_type_string))
		json_object_object_add(o, "instructions", json_object_get(v));
	return (o);
}

/* READY (the handshake is over) or LISTS (after list_changed). */
static void
listing_send(struct up_session *s, struct json_object *o, int ready)
{
	const char	*str;
	size_t		 len;

	str = jsonrpc_string(o, &len);
	if (len > MSG_PAYLOAD_MAX) {
		if (!ready)
			sup_fail(EX_PROTOCOL, "lists of %zu bytes are over the "
			    "frame maximum", len);
		log_warnx("lists too large (%zu bytes), not updated", len);
	} else {
		sup_send(ready ? MSG_LISTS : MSG_READY, 0, str, len);
		if (!ready)
			log_debug("ready, protocol %s", s->version);
	}
	json_object_put(o);
	/* The lists' json-c trees are gone: give their pages back. */
	malloc_trim(0);
	if (!ready)
		client_ready(s);
}

/* The group's lists, as members of o. */
static void
listing_add_group(struct json_object *o, enum listing_group g)
{
	enum listing_kind	k;

	for (k = listing_groups[g].first; k <= listing_groups[g].last; k++) {
		json_object_object_add(o, listing_kinds[k].key,
		    ls.items[k] != NULL ? ls.items[k] : json_object_new_array());
		ls.items[k] = NULL;
	}
}

/* A group is listed: READY once every offered group is, or LISTS. */
static void
listing_group_done(struct up_session *s, enum listing_group g)
{
	struct json_object	*o;
	int			 n, i;

	ls.running[g] = 0;
	if (ls.startup) {
		if ((n = listing_next_group(g)) < LG_N) {
			listing_group_begin(s, n);
			return;
		}
		ls.startup = 0;
		o = listing_ready_msg(s);
		for (i = 0; i < LG_N; i++)
			if (ls.offered[i])
				listing_add_group(o, i);
		listing_send(s, o, 0);
	} else {
		o = json_object_new_object();
		listing_add_group(o, g);
		listing_send(s, o, 1);
	}
	listing_relist(s, now_ms());
}

/* A list is complete: the next of its group, or the group is done. */
static void
listing_listed(struct up_session *s, enum listing_kind k,
    struct json_object *items)
{
	enum listing_group	g = listing_group_of(k);

	json_object_put(ls.items[k]);
	ls.items[k] = items;
	if (k < listing_groups[g].last)
		listing_kind_begin(s, k + 1);
	else
		listing_group_done(s, g);
}

/* A re-list failed (after READY): the old list stays. */
void
listing_failed(struct xfer *x, const char *reason)
{
	listing_lost(x, EX_PROTOCOL, reason);
}

/*
 * A re-list of each group asked for, unless one of it runs (it is asked
 * for again when that one ends) or its last one started less than
 * UPSTREAM_RELIST_MIN_MS ago (listing_run() starts it when that passes).
 */
static void
listing_relist(struct up_session *s, uint64_t now)
{
	int	g;

	if (!upstream_ready())
		return;
	for (g = 0; g < LG_N; g++) {
		if (!ls.offered[g] || ls.running[g] ||
		    !pace_take(&ls.relist[g], now))
			continue;
		log_debug("%s again (%u list_changed)",
		    listing_kinds[listing_groups[g].first].method,
		    ls.relist[g].asks);
		listing_group_begin(s, g);
	}
}

/* ms until a re-list is due, -1 if none is waiting. */
int
listing_timeout(uint64_t now)
{
	int	g, t = -1, w;

	if (!upstream_ready())
		return (-1);
	for (g = 0; g < LG_N; g++) {
		if (!ls.offered[g] || ls.running[g])
			continue;
		if ((w = pace_wait(&ls.relist[g], now)) != -1 &&
		    (t == -1 || w < t))
			t = w;
	}
	return (t);
}

void
listing_run(struct up_session *s, uint64_t now)
{
	listing_relist(s, now);
}

void
listing_free(void)
{
	int	k;

	for (k = 0; k < LK_N; k++) {
		lister_free(&ls.l[k]);
		json_object_put(ls.items[k]);
		ls.items[k] = NULL;
	}
}
