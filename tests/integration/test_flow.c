/*
 * Flow control between a gateway, its worker and the supervisor, end to
 * end.  A gateway that sends list_changed without pause gets at most one
 * re-list per UPSTREAM_RELIST_MIN_MS, and the last change is seen.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <json-c/json.h>

#include "mesh-limits.h"
#include "integration/harness.h"

#define T_TIMEOUT	180	/* seconds, any one test (sanitizers are slow) */
#define STORM_WINDOW_MS	5000	/* tools/list counted over this window */
#define SETTLE_MS	20000	/* the storm's end, its last re-list */

/* tools/call that must answer with exactly this text. */
static void
expect_text(struct mcp_client *c, const char *tool, const char *args,
    const char *want)
{
	struct http_resp	 r;
	const char		*text;

	mcp_call_id(c, c->nextid++, tool, args, 15000, &r);
	text = tool_text(json_path(r.json, "result"));
	cr_assert(r.status == 200 && text != NULL && strcmp(text, want) == 0 &&
	    !json_object_get_boolean(json_path(r.json, "result.isError")),
	    "%s %s: HTTP %ld, want \"%s\": %.500s", tool, args, r.status,
	    want, r.body ? r.body : "");
	http_resp_free(&r);
}

/* --- list_changed without pause ------------------------------------------ */

/* list_count of the storm gateway, asked directly: its three figures. */
static void
storm_count(struct mcp_client *g, int64_t *lists, int64_t *changes,
    int *storming)
{
	struct http_resp	 r;
	struct json_object	*sc;

	mcp_call_id(g, g->nextid++, "list_count", "{}", 15000, &r);
	sc = json_path(r.json, "result.structuredContent");
	cr_assert(sc != NULL && json_path_int(sc, "lists", lists) == 0 &&
	    json_path_int(sc, "changes", changes) == 0,
	    "list_count: %.300s", r.body ? r.body : "");
	*storming = json_object_get_boolean(json_path(sc, "storming"));
	http_resp_free(&r);
}

MESH_TEST(flow, list_changed_storm_is_paced, .timeout = T_TIMEOUT)
{
	struct proc		*storm, *mesh;
	struct mcp_client	 c, g;
	struct json_object	*tools;
	char			 sb[192], gurl[128], murl[128], want[64];
	int64_t			 l0, l1, changes, c1;
	uint64_t		 t0, t1;
	int			 sport, mport, on, found = 0;
	long			 max;

	storm = gateway_start("storm", &sport, "--mode", "list-storm", NULL);
	cr_assert_not_null(storm);
	snprintf(sb, sizeof(sb), "storm=http://127.0.0.1:%d/mcp", sport);
	mesh = mesh_start(&mport, "--bridge", sb, NULL);
	cr_assert_not_null(mesh);
	cr_assert_eq(mesh_wait_peer(mesh, "storm"), 0);
	url_of(sport, gurl, sizeof(gurl));
	url_of(mport, murl, sizeof(murl));
	cr_assert_eq(mcp_open(&g, gurl), 0);
	cr_assert_eq(mcp_open(&c, murl), 0);

	/* The storm starts when the worker opens its GET stream. */
	t0 = harness_now_ms();
	do {
		storm_count(&g, &l0, &changes, &on);
		if (!on)
			harness_msleep(20);
	} while (!on && harness_now_ms() - t0 < 10000);
	cr_assert(on, "the storm never started (no GET stream?)");
	t0 = harness_now_ms();
	harness_msleep(STORM_WINDOW_MS);
	storm_count(&g, &l1, &c1, &on);
	t1 = harness_now_ms();
	max = (long)((t1 - t0) / UPSTREAM_RELIST_MIN_MS) + 1;
	cr_log_info("storm: %lld tools/list in %llu ms, %lld list_changed",
	    (long long)(l1 - l0), (unsigned long long)(t1 - t0),
	    (long long)(c1 - changes));
	cr_assert(on, "the storm ended before the window did");
	cr_assert_gt(c1 - changes, 1000, "not much of a storm: %lld "
	    "list_changed", (long long)(c1 - changes));
	cr_assert_leq(l1 - l0, max, "%lld tools/list in %llu ms of "
	    "list_changed: want at most %ld (one per %d ms)",
	    (long long)(l1 - l0), (unsigned long long)(t1 - t0), max,
	    UPSTREAM_RELIST_MIN_MS);
	cr_assert_geq(l1 - l0, 1, "no re-list at all during the storm");

	/* After the storm, the last change is in the mesh's tool list. */
	t0 = harness_now_ms();
	do {
		storm_count(&g, &l1, &changes, &on);
		if (on)
			harness_msleep(100);
	} while (on && harness_now_ms() - t0 < SETTLE_MS);
	cr_assert(!on, "the storm did not end");
	snprintf(want, sizeof(want), "storm_gen_%lld", (long long)changes);
	while (!found && harness_now_ms() - t0 < SETTLE_MS) {
		if ((tools = mcp_list_tools(&c)) != NULL) {
			found = tools_has(tools, want);
			json_object_put(tools);
		}
		if (!found)
			harness_msleep(100);
	}
	cr_assert(found, "the mesh never listed %s, the storm's last "
	    "generation", want);
	expect_text(&c, "storm_echo", "{\"text\":\"calm\"}", "calm");
	mcp_close(&g);
	mcp_close(&c);
}
