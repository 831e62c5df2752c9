/*
 * The worker's upstream, where it is pure: the Mcp-Session-Id header
 * line (xfer.c), a paged list's cursor, loop and cap rules (lister.c),
 * the re-list pace's arithmetic (pace.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "../../worker/upstream.h"

/* --- Mcp-Session-Id ------------------------------------------------------ */

static int
sid(const char *line, char *out, size_t len)
{
	return (xfer_session_id(line, strlen(line), out, len));
}

Test(session_id, parsed)
{
	char	id[UPSTREAM_SESSION_ID_MAX + 1];

	cr_assert_eq(sid("Mcp-Session-Id: abc123\r\n", id, sizeof(id)), 6);
	cr_assert_str_eq(id, "abc123");
	/* Case-insensitive name, no space, tabs, only CR or LF. */
	cr_assert_eq(sid("mcp-session-id:x\r\n", id, sizeof(id)), 1);
	cr_assert_str_eq(id, "x");
	cr_assert_eq(sid("MCP-SESSION-ID:\t \tv-1~\t \n", id, sizeof(id)), 4);
	cr_assert_str_eq(id, "v-1~");
	cr_assert_eq(sid("Mcp-Session-Id: !~\r", id, sizeof(id)), 2);
	cr_assert_str_eq(id, "!~");
}

Test(session_id, other_headers)
{
	char	id[16] = "untouched";

	cr_assert_eq(sid("Content-Type: application/json\r\n", id,
	    sizeof(id)), 0);
	cr_assert_eq(sid("HTTP/1.1 200 OK\r\n", id, sizeof(id)), 0);
	cr_assert_eq(sid("\r\n", id, sizeof(id)), 0);
	cr_assert_eq(sid("Mcp-Session-I: x\r\n", id, sizeof(id)), 0);
	cr_assert_eq(sid("X-Mcp-Session-Id: x\r\n", id, sizeof(id)), 0);
	cr_assert_str_eq(id, "untouched");
}

Test(session_id, refused)
{
	char	id[UPSTREAM_SESSION_ID_MAX + 1], line[UPSTREAM_SESSION_ID_MAX + 64];
	size_t	n;

	/* Empty, inner space, control bytes, DEL, non-ASCII. */
	cr_assert_eq(sid("Mcp-Session-Id:\r\n", id, sizeof(id)), -1);
	cr_assert_eq(sid("Mcp-Session-Id:   \r\n", id, sizeof(id)), -1);
	cr_assert_eq(sid("Mcp-Session-Id: a b\r\n", id, sizeof(id)), -1);
	cr_assert_eq(sid("Mcp-Session-Id: a\x01\r\n", id, sizeof(id)), -1);
	cr_assert_eq(sid("Mcp-Session-Id: a\x7f\r\n", id, sizeof(id)), -1);
	cr_assert_eq(sid("Mcp-Session-Id: caf\xc3\xa9\r\n", id, sizeof(id)),
	    -1);
	/* The edge: UPSTREAM_SESSION_ID_MAX bytes pass, one more does not. */
	n = (size_t)snprintf(line, sizeof(line), "Mcp-Session-Id: ");
	memset(line + n, 'a', UPSTREAM_SESSION_ID_MAX);
	strcpy(line + n + UPSTREAM_SESSION_ID_MAX, "\r\n");
	cr_assert_eq(sid(line, id, sizeof(id)), UPSTREAM_SESSION_ID_MAX);
	memset(line + n, 'a', UPSTREAM_SESSION_ID_MAX + 1);
	strcpy(line + n + UPSTREAM_SESSION_ID_MAX + 1, "\r\n");
	cr_assert_eq(sid(line, id, sizeof(id)), -1);
	/* Nor more than the caller's buffer holds. */
	cr_assert_eq(sid("Mcp-Session-Id: abcd\r\n", id, 4), -1);
	cr_assert_eq(sid("Mcp-Session-Id: abc\r\n", id, 4), 3);
}

/* --- a paged list -------------------------------------------------------- */

static const struct list_kind kind = { "things/list", "things", 5, 4 };

/* A page: n items starting at first, and the cursor (NULL: none). */
static struct json_object *
page(int first, int n, const char *cursor)
{
	struct json_object	*r, *a, *t;
	int			 i;

	r = json_object_new_object();
	a = json_object_new_array();
	for (i = first; i < first + n; i++) {
		t = json_object_new_object();
		json_object_object_add(t, "n", json_object_new_int(i));
		json_object_array_add(a, t);
	}
	json_object_object_add(r, "things", a);
	if (cursor != NULL)
		json_object_object_add(r, "nextCursor",
		    json_object_new_string(cursor));
	return (r);
}

static enum lister_step
step(struct lister *l, struct json_object *r, const char **cur)
{
	enum lister_step	 st;
	char			 why[128];

	st = lister_page(l, r, cur, why, sizeof(why));
	json_object_put(r);
	return (st);
}

/* The items taken, 0..n-1 in order, and the lister idle. */
static void
expect_items(struct lister *l, int n)
{
	struct json_object	*items;
	int			 i;

	items = lister_take(l);
	cr_assert_eq(l->running, 0);
	cr_assert_eq((int)json_object_array_length(items), n);
	for (i = 0; i < n; i++)
		cr_assert_eq(json_object_get_int(json_object_object_get(
		    json_object_array_get_idx(items, i), "n")), i);
	json_object_put(items);
}

Test(lister, follows_cursors_to_the_end)
{
	struct lister	 l = { .kind = &kind };
	const char	*cur;

	lister_begin(&l);
	cr_assert_eq(l.running, 1);
	cr_assert_eq(step(&l, page(0, 2, "p2"), &cur), LISTER_NEXT);
	cr_assert_str_eq(cur, "p2");
	cr_assert_eq(step(&l, page(2, 1, "p3"), &cur), LISTER_NEXT);
	cr_assert_str_eq(cur, "p3");
	cr_assert_eq(step(&l, page(3, 1, NULL), &cur), LISTER_DONE);
	cr_assert_null(cur);
	expect_items(&l, 4);
	lister_free(&l);
}

Test(lister, a_repeated_cursor_ends_it)
{
	struct lister	 l = { .kind = &kind };
	const char	*cur;

	lister_begin(&l);
	cr_assert_eq(step(&l, page(0, 1, "a"), &cur), LISTER_NEXT);
	cr_assert_eq(step(&l, page(1, 1, "b"), &cur), LISTER_NEXT);
	/* Back to "a": a loop; what came so far is the list. */
	cr_assert_eq(step(&l, page(2, 1, "a"), &cur), LISTER_DONE);
	expect_items(&l, 3);
}

Test(lister, pages_max)
{
	struct lister	 l = { .kind = &kind };
	const char	*cur;

	/* pages_max 4: three cursors followed, the fourth page is the last. */
	lister_begin(&l);
	cr_assert_eq(step(&l, page(0, 1, "1"), &cur), LISTER_NEXT);
	cr_assert_eq(step(&l, page(1, 1, "2"), &cur), LISTER_NEXT);
	cr_assert_eq(step(&l, page(2, 1, "3"), &cur), LISTER_NEXT);
	cr_assert_eq(step(&l, page(3, 1, "4"), &cur), LISTER_DONE);
	expect_items(&l, 4);
}

Test(lister, items_cap)
{
	struct lister	 l = { .kind = &kind };
	const char	*cur;

	/* max 5: the rest of the third page and any next page are dropped. */
	lister_begin(&l);
	cr_assert_eq(step(&l, page(0, 2, "x"), &cur), LISTER_NEXT);
	cr_assert_eq(step(&l, page(2, 2, "y"), &cur), LISTER_NEXT);
	cr_assert_eq(step(&l, page(4, 3, "z"), &cur), LISTER_DONE);
	expect_items(&l, 5);
	/* Exactly the cap, with no cursor, is all of it. */
	lister_begin(&l);
	cr_assert_eq(step(&l, page(0, 5, NULL), &cur), LISTER_DONE);
	expect_items(&l, 5);
}

Test(lister, odd_cursors_end_it)
{
	struct lister		 l = { .kind = &kind };
	struct json_object	*r;
	const char		*cur;

	lister_begin(&l);
	r = page(0, 1, NULL);
	json_object_object_add(r, "nextCursor", json_object_new_int(7));
	cr_assert_eq(step(&l, r, &cur), LISTER_DONE);
	expect_items(&l, 1);
	lister_begin(&l);
	r = page(0, 2, NULL);
	json_object_object_add(r, "nextCursor", NULL);
	cr_assert_eq(step(&l, r, &cur), LISTER_DONE);
	expect_items(&l, 2);
}

Test(lister, not_a_page)
{
	struct lister		 l = { .kind = &kind };
	struct json_object	*r;
	const char		*cur;
	char			 why[128];

	lister_begin(&l);
	r = json_object_new_object();
	json_object_object_add(r, "tools", json_object_new_array());
	cr_assert_eq(lister_page(&l, r, &cur, why, sizeof(why)), LISTER_BAD);
	cr_assert_str_eq(why, "things/list result without a things array");
	cr_assert_eq(l.running, 0);
	json_object_put(r);
	lister_begin(&l);
	r = json_object_new_object();
	json_object_object_add(r, "things", json_object_new_object());
	cr_assert_eq(lister_page(&l, r, &cur, why, sizeof(why)), LISTER_BAD);
	json_object_put(r);
	lister_begin(&l);
	cr_assert_eq(lister_page(&l, NULL, &cur, why, sizeof(why)),
	    LISTER_BAD);
	lister_free(&l);
}

Test(lister, begin_drops_a_running_list)
{
	struct lister	 l = { .kind = &kind };
	const char	*cur;

	lister_begin(&l);
	cr_assert_eq(step(&l, page(10, 2, "c"), &cur), LISTER_NEXT);
	lister_begin(&l);
	cr_assert_eq(step(&l, page(0, 1, "c"), &cur), LISTER_NEXT,
	    "a cursor of the dropped list is not a loop of the new one");
	cr_assert_eq(step(&l, page(1, 1, NULL), &cur), LISTER_DONE);
	expect_items(&l, 2);
}

/* --- the re-list pace ---------------------------------------------------- */

Test(pace, first_ask_runs_at_once)
{
	struct pace	p = { .interval = 1000 };

	cr_assert_eq(pace_wait(&p, 5), -1, "nothing asked, nothing to wait");
	cr_assert_eq(pace_take(&p, 5), 0);
	pace_ask(&p);
	cr_assert_eq(pace_wait(&p, 5), 0);
	cr_assert_eq(pace_take(&p, 5), 1);
	cr_assert_eq(pace_wait(&p, 5), -1);
	cr_assert_eq(p.asks, 0);
}

Test(pace, asks_meanwhile_are_one_run)
{
	struct pace	p = { .interval = 1000 };
	int		i;

	pace_started(&p, 10000);	/* the handshake's listing */
	for (i = 0; i < 153; i++)
		pace_ask(&p);
	cr_assert_eq(p.asks, 153);
	cr_assert_eq(pace_wait(&p, 10000), 1000);
	cr_assert_eq(pace_wait(&p, 10400), 600);
	cr_assert_eq(pace_take(&p, 10999), 0, "1 ms early");
	cr_assert_eq(pace_wait(&p, 10999), 1);
	cr_assert_eq(pace_take(&p, 11000), 1, "due on the dot");
	cr_assert_eq(pace_take(&p, 11000), 0, "one run for all 153");
	cr_assert_eq(pace_wait(&p, 11000), -1);
}

Test(pace, the_last_ask_is_never_lost)
{
	struct pace	p = { .interval = 1000 };

	pace_ask(&p);
	cr_assert_eq(pace_take(&p, 0), 1);
	/* A change while the run is on: asked again, run later, not lost. */
	pace_ask(&p);
	cr_assert_eq(pace_take(&p, 300), 0);
	cr_assert_eq(pace_wait(&p, 300), 700);
	/* Long after, the pending run is due at once. */
	cr_assert_eq(pace_wait(&p, 50000), 0);
	cr_assert_eq(pace_take(&p, 50000), 1);
	/* The interval counts from the last start, not from the ask. */
	pace_ask(&p);
	cr_assert_eq(pace_wait(&p, 50999), 1);
	cr_assert_eq(pace_take(&p, 51000), 1);
}

Test(pace, never_more_than_one_run_per_interval)
{
	struct pace	p = { .interval = 1000 };
	uint64_t	t;
	int		runs = 0;

	/* An ask every millisecond for 10 s: starts at 1, 1001, ... 9001. */
	for (t = 1; t <= 10000; t++) {
		pace_ask(&p);
		runs += pace_take(&p, t);
	}
	cr_assert_eq(runs, 10, "runs %d", runs);
	/* The asks after 9001 are one more run, when the interval is up. */
	cr_assert_eq(pace_wait(&p, 10000), 1);
	cr_assert_eq(pace_take(&p, 10001), 1, "the last asks' run");
	cr_assert_eq(pace_wait(&p, 10001), -1);
}
