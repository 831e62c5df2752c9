/*
 * Flow control between a gateway, its worker and the supervisor, end to
 * end.  A gateway that floods a call with notifications while the
 * supervisor is not reading (stopped) must get its worker paused, not
 * killed: the call is answered once the supervisor reads again, the
 * worker is the same process, the other peer never noticed.  A gateway
 * that sends list_changed without pause gets at most one re-list per
 * UPSTREAM_RELIST_MIN_MS, and the last change is seen.
 */
#include <sys/types.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <json-c/json.h>

#include "mesh-limits.h"
#include "integration/harness.h"
#include "integration/logtext.h"

#define T_TIMEOUT	180	/* seconds, any one test (sanitizers are slow) */
#define FLOOD_WAIT_MS	120000	/* the flooded call is answered within */
#define STOP_MS		4000	/* the supervisor is stopped this long */
#define STORM_WINDOW_MS	5000	/* tools/list counted over this window */
#define SETTLE_MS	20000	/* the storm's end, its last re-list */
#define CALL_WAIT_MS	15000	/* a call, mesh_node_info */

/* --- a flood of notifications while the supervisor is stopped ------------- */

struct flooded {
	char			 url[128];
	struct http_resp	 r;
	uint64_t		 ms;
	int			 opened;
};

static void *
flood_main(void *arg)
{
	struct flooded		*f = arg;
	struct mcp_client	 c;

	if (mcp_open(&c, f->url) == -1) {
		f->opened = -1;
		return (NULL);
	}
	f->opened = 1;
	f->ms = mcp_call_id(&c, 1000, "flood_echo", "{\"text\":\"x\"}",
	    FLOOD_WAIT_MS, &f->r);
	mcp_close(&c);
	return (NULL);
}

MESH_TEST(flow, notify_flood_while_supervisor_stopped, .timeout = T_TIMEOUT)
{
	struct fixture		 fx;
	struct proc		*mesh;
	struct mcp_client	*c = &fx.c;
	struct flooded		 f;
	pthread_t		 thr;
	const char		*text;
	char			*line;
	pid_t			 wpid, gpid;

	fixture_init(&fx);
	fixture_peer_gateway(&fx, "flood", "--mode", "notify-flood", NULL);
	fixture_peer_gateway(&fx, "good", NULL);
	/* The deadline is not what this is about. */
	fixture_start(&fx, 0, "--timeout", "600000", NULL);
	mesh = fx.mesh;
	c->wait_ms = CALL_WAIT_MS;
	wpid = peer_pid(c, "flood");
	gpid = peer_pid(c, "good");
	cr_assert(wpid > 0 && gpid > 0, "no worker pids");

	memset(&f, 0, sizeof(f));
	snprintf(f.url, sizeof(f.url), "%s", fx.murl);
	cr_assert_eq(pthread_create(&thr, NULL, flood_main, &f), 0);
	/* The flood is on its way (nothing tells); then nobody reads. */
	harness_msleep(500);
	cr_assert_eq(kill(mesh->pid, SIGSTOP), 0);
	harness_msleep(STOP_MS);
	cr_assert_eq(kill(mesh->pid, SIGCONT), 0);
	pthread_join(thr, NULL);
	cr_assert_eq(f.opened, 1, "MCP session for the flooded call failed");
	cr_log_info("flooded call answered after %llu ms",
	    (unsigned long long)f.ms);
	text = tool_text(json_path(f.r.json, "result"));
	cr_assert(f.r.status == 200 && text != NULL &&
	    strcmp(text, "after the notification flood") == 0,
	    "the flooded call (64 MiB of notifications, supervisor stopped "
	    "%d ms): curl %d, HTTP %ld, %.500s", STOP_MS, f.r.curlcode,
	    f.r.status, f.r.body ? f.r.body : "");
	http_resp_free(&f.r);
	cr_assert_eq(peer_pid(c, "flood"), wpid, "the worker of flood was "
	    "replaced (it died while the supervisor was stopped)");
	cr_assert_eq(peer_pid(c, "good"), gpid, "the worker of good changed");
	expect_text(c, "good_echo", "{\"text\":\"fine\"}", "fine");
	line = proc_log_find(mesh, LOG_SUP_NOT_READING);
	cr_assert_null(line, "a worker said the supervisor is not reading: %s",
	    line);
	fixture_stop(&fx);
}

/* --- list_changed without pause ------------------------------------------ */

/* list_count of the storm gateway, asked directly: its three figures. */
static void
storm_count(struct mcp_client *g, int64_t *lists, int64_t *changes,
    int *storming)
{
	struct http_resp	 r;
	struct json_object	*sc;

	mcp_call_id(g, g->nextid++, "list_count", "{}", CALL_WAIT_MS, &r);
	sc = json_path(r.json, "result.structuredContent");
	cr_assert(sc != NULL && json_path_int(sc, "lists", lists) == 0 &&
	    json_path_int(sc, "changes", changes) == 0,
	    "list_count: %.300s", r.body ? r.body : "");
	*storming = json_object_get_boolean(json_path(sc, "storming"));
	http_resp_free(&r);
}

MESH_TEST(flow, list_changed_storm_is_paced, .timeout = T_TIMEOUT)
{
	struct fixture		 fx;
	struct fixture_gw	*storm;
	struct mcp_client	*c = &fx.c, g;
	struct json_object	*tools;
	char			 want[64];
	int64_t			 l0, l1, changes, c1;
	uint64_t		 t0, t1;
	int			 on, found = 0;
	long			 max;

	fixture_init(&fx);
	storm = fixture_peer_gateway(&fx, "storm", "--mode", "list-storm",
	    NULL);
	fixture_start(&fx, 0, NULL);
	c->wait_ms = CALL_WAIT_MS;
	cr_assert_eq(mcp_open(&g, storm->url), 0);

	/* The storm starts when the worker opens its GET stream. */
	t0 = now_ms();
	do {
		storm_count(&g, &l0, &changes, &on);
		if (!on)
			harness_msleep(20);
	} while (!on && now_ms() - t0 < 10000);
	cr_assert(on, "the storm never started (no GET stream?)");
	t0 = now_ms();
	harness_msleep(STORM_WINDOW_MS);
	storm_count(&g, &l1, &c1, &on);
	t1 = now_ms();
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
	t0 = now_ms();
	do {
		storm_count(&g, &l1, &changes, &on);
		if (on)
			harness_msleep(100);
	} while (on && now_ms() - t0 < SETTLE_MS);
	cr_assert(!on, "the storm did not end");
	snprintf(want, sizeof(want), "storm_gen_%lld", (long long)changes);
	while (!found && now_ms() - t0 < SETTLE_MS) {
		if ((tools = mcp_list_tools(c)) != NULL) {
			found = tools_has(tools, want);
			json_object_put(tools);
		}
		if (!found)
			harness_msleep(100);
	}
	cr_assert(found, "the mesh never listed %s, the storm's last "
	    "generation", want);
	expect_text(c, "storm_echo", "{\"text\":\"calm\"}", "calm");
	mcp_close(&g);
	fixture_stop(&fx);
}
