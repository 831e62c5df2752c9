/*
 * What the worker lists of its gateway, and when: the tool list (the
 * only kind today; resources and prompts are rows to come), put together
 * by a lister (lister.c) from its pages.  The first goes to the
 * supervisor as READY, with what initialize said; after
 * notifications/tools/list_changed the list again goes as TOOLS.  A
 * gateway may send list_changed without pause: re-lists start at least
 * UPSTREAM_RELIST_MIN_MS apart (pace.c), the list_changed meanwhile
 * folded into the next one, so the last change is always listed.
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

static void	 listing_tools(struct up_session *, struct json_object *);
static void	 listing_begin(struct up_session *, struct lister *);
static void	 listing_page(struct up_session *, struct lister *,
		    const char *);
static void	 listing_done(struct xfer *, CURLcode);
static void	 listing_relist(struct up_session *, uint64_t);

static const struct list_kind listing_tools_kind = {
	"tools/list", "tools", UPSTREAM_TOOLS_MAX, UPSTREAM_PAGES_MAX,
	listing_tools
};

static struct {
	struct lister	 tools;
	struct pace	 relist;	/* after list_changed */
} ls = {
	.tools = { .kind = &listing_tools_kind },
	.relist = { .interval = UPSTREAM_RELIST_MIN_MS },
};

/* The handshake's own listing; the re-lists' interval counts from it. */
void
listing_start(struct up_session *s)
{
	pace_started(&ls.relist, now_ms());
	listing_begin(s, &ls.tools);
}

/* notifications/tools/list_changed came on the GET stream. */
void
listing_changed(struct up_session *s)
{
	pace_ask(&ls.relist);
	listing_relist(s, now_ms());
}

static void
listing_begin(struct up_session *s, struct lister *l)
{
	if (upstream_ready())	/* after list_changed: a deadline of its own */
		s->deadline = now_ms() + UPSTREAM_INIT_TIMEOUT_MS;
	lister_begin(l);
	listing_page(s, l, NULL);
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
		client_fail(x, ex, reason);
		return;
	}
	if (!json_object_object_get_ex(m, "result", &r))
		r = NULL;
	switch (lister_page(l, r, &cur, why, sizeof(why))) {
	case LISTER_BAD:
		json_object_put(m);
		snprintf(reason, sizeof(reason), "%s: %s", xs.url, why);
		client_fail(x, EX_PROTOCOL, reason);
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
		l->kind->listed(s, lister_take(l));
		listing_relist(s, now_ms());
		break;
	}
}

/* A re-list failed (after READY): the old list stays. */
void
listing_failed(struct xfer *x, const char *reason)
{
	struct up_session	*s = x->session;
	struct lister		*l = x->arg;

	log_warnx("%s after list_changed failed: %s", l->kind->method, reason);
	lister_free(l);
	xfer_put(x);
	listing_relist(s, now_ms());	/* if it changed again meanwhile */
}

/* The first tool list goes with what initialize said, as READY. */
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

/* READY (the handshake is over) or TOOLS (after list_changed). */
static void
listing_tools(struct up_session *s, struct json_object *tools)
{
	struct json_object	*o;
	const char		*str;
	size_t			 len;
	int			 ready = upstream_ready();

	o = ready ? json_object_new_object() : listing_ready_msg(s);
	json_object_object_add(o, "tools", tools);
	str = jsonrpc_string(o, &len);
	if (len > MSG_PAYLOAD_MAX) {
		json_object_put(o);
		if (!ready)
			sup_fail(EX_PROTOCOL, "tool list of %zu bytes is "
			    "over the frame maximum", len);
		log_warnx("tool list too large, not updated");
	} else {
		sup_send(ready ? MSG_TOOLS : MSG_READY, 0, str, len);
		json_object_put(o);
		if (!ready)
			log_info("ready, protocol %s", s->version);
	}
	/* The tool list's json-c trees are gone: give their pages back. */
	malloc_trim(0);
	if (!ready)
		client_ready(s);
}

/*
 * A re-list, unless none was asked for, one runs (it is asked for again
 * when that one ends) or the last one started less than
 * UPSTREAM_RELIST_MIN_MS ago (listing_run() starts it when that passes).
 */
static void
listing_relist(struct up_session *s, uint64_t now)
{
	unsigned	asks = ls.relist.asks;

	if (!upstream_ready() || ls.tools.running ||
	    !pace_take(&ls.relist, now))
		return;
	log_debug("%s again (%u list_changed)", ls.tools.kind->method, asks);
	listing_begin(s, &ls.tools);
}

/* ms until a re-list is due, -1 if none is waiting. */
int
listing_timeout(uint64_t now)
{
	if (!upstream_ready() || ls.tools.running)
		return (-1);
	return (pace_wait(&ls.relist, now));
}

void
listing_run(struct up_session *s, uint64_t now)
{
	listing_relist(s, now);
}

void
listing_free(void)
{
	lister_free(&ls.tools);
}
