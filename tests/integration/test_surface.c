/*
 * The MCP surface beyond tools, end to end over Streamable HTTP: what the
 * mesh says it can do, resources, prompts and completion with nobody
 * behind them (-32601, saying why), logging, and the GET stream's event
 * ids, priming and replay after Last-Event-ID.
 *
 * The same surface with a peer behind it (a gateway's resources, prompts,
 * templates, subscriptions, logging, sampling) is proven with the official
 * conformance suite's fixture server through the mesh (make conformance,
 * tests/conformance/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "mesh-limits.h"
#include "jsonrpc.h"
#include "integration/harness.h"
#include "integration/logtext.h"

#define T_TIMEOUT	60	/* seconds, any one test */
#define STREAM_CUT_MS	700	/* a GET stream is read this long */

/* A session of protocol version (not the harness's default). */
static void
open_version(struct mcp_client *c, const char *url, const char *version)
{
	cr_assert_eq(mcp_open_version(c, url, version), 0, "initialize %s "
	    "failed", version);
	cr_assert_str_eq(c->version, version);
}

/* A mesh alone (no peer), named "surface". */
static void
surface_mesh(struct fixture *f)
{
	fixture_init(f);
	fixture_start(f, 0, "--name", "surface", NULL);
}

/* A request whose answer must be a JSON-RPC error code; its message. */
static char *
expect_error(struct mcp_client *c, const char *method, const char *params,
    int code)
{
	struct http_resp	 r;
	struct json_object	*m;
	const char		*msg;
	char			*out;

	m = mcp_request(c, method, params, &r);
	cr_assert_not_null(m, "%s: no JSON answer", method);
	cr_assert_null(json_path(m, "result"), "%s %s: want error %d, got %s",
	    method, params ? params : "", code, r.body);
	cr_assert_eq(http_error_code(&r), code, "%s %s: want %d: %s", method,
	    params ? params : "", code, r.body);
	msg = http_error_message(&r);
	out = strdup(msg != NULL ? msg : "");
	http_resp_free(&r);
	return (out);
}

/* A request whose result must print exactly as want. */
static void
expect_result(struct mcp_client *c, const char *method, const char *params,
    const char *want)
{
	struct http_resp	 r;
	struct json_object	*m, *res, *w;

	m = mcp_request(c, method, params, &r);
	cr_assert_not_null(m, "%s: no JSON answer", method);
	res = json_path(m, "result");
	cr_assert_not_null(res, "%s: no result: %s", method, r.body);
	w = json_tokener_parse(want);
	cr_assert_not_null(w);
	cr_assert(json_object_equal(res, w), "%s %s: want %s, got %s", method,
	    params ? params : "", want, json_object_to_json_string(res));
	json_object_put(w);
	http_resp_free(&r);
}

/* Read the session's GET stream for STREAM_CUT_MS; the text, owned. */
static char *
read_stream(struct mcp_client *c, const char *last_event_id)
{
	struct http_req		 q;
	struct http_resp	 r;
	struct mcp_hdrbuf	 hb;
	char			 lh[96];
	char			*out;
	int			 i;

	memset(&q, 0, sizeof(q));
	q.method = "GET";
	q.url = c->url;
	q.timeout_ms = STREAM_CUT_MS;
	mcp_headers(c, &q, &hb);
	q.headers[0] = "Accept: text/event-stream";
	if (last_event_id != NULL) {
		for (i = 0; q.headers[i] != NULL; i++)
			;
		snprintf(lh, sizeof(lh), "Last-Event-ID: %s", last_event_id);
		q.headers[i] = lh;
		q.headers[i + 1] = NULL;
	}
	http_do(&q, &r);
	cr_assert_eq(r.status, 200, "GET stream: HTTP %ld", r.status);
	cr_assert_eq(r.curlcode, CURLE_OPERATION_TIMEDOUT,
	    "GET stream ended by the server (curl %d)", r.curlcode);
	out = strdup(r.body != NULL ? r.body : "");
	http_resp_free(&r);
	return (out);
}

/* --- what the mesh says it is --------------------------------------------- */

MESH_TEST(surface, initialize_capabilities, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct http_req		 q;
	struct http_resp	 r;
	struct json_object	*caps, *want;

	surface_mesh(&f);
	memset(&q, 0, sizeof(q));
	q.url = f.murl;
	q.body = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":"
	    "{},\"clientInfo\":{\"name\":\"surface\",\"version\":\"1\"}}}";
	q.headers[0] = MCP_ACCEPT;
	q.headers[1] = MCP_CTYPE;
	http_do(&q, &r);
	cr_assert_eq(r.status, 200);
	caps = json_path(r.json, "result.capabilities");
	cr_assert_not_null(caps, "%s", r.body);
	/* Alone: its own tools and logging, nothing a peer would bring. */
	want = json_tokener_parse("{\"tools\":{\"listChanged\":true},"
	    "\"logging\":{}}");
	cr_assert(json_object_equal(caps, want), "capabilities %s",
	    json_object_to_json_string(caps));
	json_object_put(want);
	http_resp_free(&r);
	fixture_stop(&f);
}

/* --- with nobody behind them: exact answers, never a vague one ------------ */

MESH_TEST(surface, alone_lists_and_errors, .timeout = T_TIMEOUT)
{
	static const char *const unserved[][3] = {
		{ "resources/list", NULL, "resources" },
		{ "resources/templates/list", "{}", "resources" },
		{ "resources/read", "{\"uri\":\"test://none\"}",
		    "resources" },
		{ "resources/subscribe", "{\"uri\":\"test://none\"}",
		    "resources with subscribe" },
		{ "resources/unsubscribe", "{\"uri\":\"test://none\"}",
		    "resources with subscribe" },
		{ "prompts/list", NULL, "prompts" },
		{ "prompts/get", "{\"name\":\"nope\"}", "prompts" },
		{ "completion/complete", "{\"ref\":{\"type\":\"ref/prompt\","
		    "\"name\":\"nope\"}}", "completions" },
	};
	struct fixture		 f;
	struct mcp_client	 c;
	char			 want[128], *msg;
	size_t			 i;

	surface_mesh(&f);
	open_version(&c, f.murl, "2025-11-25");

	/* Nobody offers them: -32601, saying so. */
	for (i = 0; i < sizeof(unserved) / sizeof(unserved[0]); i++) {
		msg = expect_error(&c, unserved[i][0], unserved[i][1],
		    JSONRPC_METHOD_NOT_FOUND);
		snprintf(want, sizeof(want), ANSWER_NOT_OFFERED,
		    unserved[i][2]);
		cr_assert_str_eq(msg, want, "%s: \"%s\", want \"%s\"",
		    unserved[i][0], msg, want);
		free(msg);
	}
	msg = expect_error(&c, "logging/setLevel", "{\"level\":\"loud\"}",
	    JSONRPC_INVALID_PARAMS);
	cr_assert_str_eq(msg, ANSWER_BAD_LEVEL, "%s", msg);
	free(msg);
	expect_result(&c, "logging/setLevel", "{\"level\":\"debug\"}", "{}");
	mcp_close(&c);
	fixture_stop(&f);
}

/* --- the GET stream: ids, priming, replay --------------------------------- */

/* A tools/list_changed to every session: a peer added (and ready). */
static void
add_peer(struct mcp_client *c, struct proc *mesh, const char *gwurl)
{
	struct http_resp	 r;
	char			 args[256];

	snprintf(args, sizeof(args), "{\"spec\":\"%s\",\"name\":\"late\","
	    "\"bridge\":true}", gwurl);
	cr_assert_not_null(mcp_call_tool(c, "mesh_add_peer", args, &r),
	    "mesh_add_peer: %s", r.body ? r.body : "");
	cr_assert(strstr(r.body, "isError\":true") == NULL, "mesh_add_peer: %s",
	    r.body);
	http_resp_free(&r);
	cr_assert_eq(mesh_wait_peer(mesh, "late"), 0);
}

MESH_TEST(surface, get_stream_resumes, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct fixture_gw	*gw;
	struct mcp_client	 c, old;
	char			 w[160], *s;

	fixture_init(&f);
	gw = fixture_gateway(&f, "late", "--tools-only", NULL);
	fixture_start(&f, 0, "--name", "surface", "--allow-peer",
	    "http://127.0.0.1:*", NULL);
	open_version(&c, f.murl, "2025-11-25");
	open_version(&old, f.murl, "2025-06-18");

	/* 2025-11-25: a priming event, an id and a retry and no data. */
	s = read_stream(&c, NULL);
	cr_assert_str_eq(s, "id: 0\nretry: 1000\ndata: \n\n");
	free(s);
	/* Older: no priming (an empty data field would be a bad message). */
	s = read_stream(&old, NULL);
	cr_assert_str_eq(s, "");
	free(s);

	/* Sent while no stream is open: kept, with ids. */
	add_peer(&c, f.mesh, gw->url);
	/* The list_changed, coalesced, has been sent by then. */
	harness_msleep(TOOLS_CHANGED_COALESCE_MS * 5);
	s = read_stream(&c, "0");
	cr_assert_str_eq(s, "id: 1\nretry: 1000\ndata: \n\n"
	    "id: 1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/tools/list_changed\"}\n\n", "%s", s);
	free(s);
	/* The older session resumes the same way, without the priming. */
	s = read_stream(&old, "0");
	cr_assert_str_eq(s, "id: 1\nevent: message\ndata: {\"jsonrpc\":"
	    "\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n",
	    "%s", s);
	free(s);
	/* Nothing after the newest; an id never given replays nothing. */
	s = read_stream(&c, "1");
	cr_assert_str_eq(s, "id: 1\nretry: 1000\ndata: \n\n");
	free(s);
	s = read_stream(&c, "77");
	cr_assert_str_eq(s, "id: 1\nretry: 1000\ndata: \n\n");
	free(s);
	snprintf(w, sizeof(w), LOG_EVENT_ID_GONE, "77", 1);
	cr_assert_not_null(proc_wait_log(f.mesh, w, 2000));
	s = read_stream(&c, "abc");
	cr_assert_str_eq(s, "id: 1\nretry: 1000\ndata: \n\n");
	free(s);
	snprintf(w, sizeof(w), LOG_EVENT_ID_ALIEN, "abc");
	cr_assert_not_null(proc_wait_log(f.mesh, w, 2000));
	mcp_close(&c);
	mcp_close(&old);
	fixture_stop(&f);
}

/* Only the last HTTP_SSE_REPLAY_MAX events are kept. */
MESH_TEST(surface, get_stream_replay_window, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct fixture_gw	*gw;
	struct mcp_client	 c;
	struct http_resp	 r;
	char			 id[32], *s, *p;
	int			 i, n;

	fixture_init(&f);
	gw = fixture_gateway(&f, "late", "--tools-only", NULL);
	fixture_start(&f, 0, "--name", "surface", "--allow-peer",
	    "http://127.0.0.1:*", NULL);
	open_version(&c, f.murl, "2025-11-25");
	/*
	 * Each add and each removal of a bridged peer: one list_changed,
	 * each sent (coalesced) before the next change.
	 */
	for (i = 0; i < HTTP_SSE_REPLAY_MAX / 2 + 4; i++) {
		add_peer(&c, f.mesh, gw->url);
		harness_msleep(TOOLS_CHANGED_COALESCE_MS * 3);
		cr_assert_not_null(mcp_call_tool(&c, "mesh_remove_peer",
		    "{\"peer\":\"late\"}", &r));
		http_resp_free(&r);
		harness_msleep(TOOLS_CHANGED_COALESCE_MS * 3);
	}
	s = read_stream(&c, "0");
	/* The oldest are gone: nothing is replayed, and it is said. */
	cr_assert(strstr(s, "event: message") == NULL, "%s", s);
	free(s);
	cr_assert_not_null(proc_wait_log(f.mesh, LOG_EVENTS_GONE, 2000));
	/* From the oldest kept on, every one in order. */
	s = read_stream(&c, NULL);
	cr_assert(sscanf(s, "id: %d", &n) == 1, "%s", s);
	free(s);
	snprintf(id, sizeof(id), "%d", n - HTTP_SSE_REPLAY_MAX);
	s = read_stream(&c, id);
	for (i = n - HTTP_SSE_REPLAY_MAX + 1, p = s; i <= n; i++) {
		char	want[32];

		snprintf(want, sizeof(want), "id: %d\nevent: message", i);
		p = strstr(p, want);
		cr_assert_not_null(p, "event %d not replayed: %s", i, s);
	}
	free(s);
	mcp_close(&c);
	fixture_stop(&f);
}

/* --- pages of tools/list ------------------------------------------------- */

/* tools/list with cursor (NULL: the first page); the response, owned. */
static struct json_object *
tools_page(struct mcp_client *c, const char *cursor, struct http_resp *r)
{
	char	params[128];

	if (cursor == NULL)
		return (mcp_request(c, "tools/list", NULL, r));
	snprintf(params, sizeof(params), "{\"cursor\":\"%s\"}", cursor);
	return (mcp_request(c, "tools/list", params, r));
}

MESH_TEST(surface, tools_list_pages, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct mcp_client	 c, other;
	struct http_resp	 r;
	struct json_object	*m, *seen;
	char			 params[128], want[256];
	char			 cursor[64], first[64];
	const char		*cur, *name;
	size_t			 i, n;
	int			 pages = 0, total = 0;
	char			*msg;

	fixture_init(&f);
	fixture_peer_gateway(&f, "big", "--tools", "120", "--tools-only",
	    NULL);
	fixture_start(&f, 0, "--name", "surface", "--page-size", "50", NULL);
	open_version(&c, f.murl, "2025-11-25");
	open_version(&other, f.murl, "2025-11-25");
	snprintf(want, sizeof(want), ANSWER_BAD_CURSOR, "tools/list");

	/* Every tool once, 50 a page, the last page without a cursor. */
	seen = json_object_new_object();
	first[0] = cursor[0] = '\0';
	do {
		m = tools_page(&c, cursor[0] != '\0' ? cursor : NULL, &r);
		cr_assert_not_null(json_path(m, "result.tools"), "%s", r.body);
		n = json_object_array_length(json_path(m, "result.tools"));
		cur = json_path_str(m, "result.nextCursor");
		cr_assert(n == 50 || cur == NULL, "page %d: %zu tools", pages, n);
		for (i = 0; i < n; i++) {
			name = json_object_get_string(json_object_object_get(
			    json_object_array_get_idx(json_path(m,
			    "result.tools"), i), "name"));
			cr_assert(!json_object_object_get_ex(seen, name, NULL),
			    "%s twice", name);
			json_object_object_add(seen, name, NULL);
		}
		total += (int)n;
		snprintf(cursor, sizeof(cursor), "%s", cur != NULL ? cur : "");
		if (pages++ == 0)
			snprintf(first, sizeof(first), "%s", cursor);
		http_resp_free(&r);
	} while (cursor[0] != '\0' && pages < 10);
	cr_assert_eq(pages, 3, "%d pages", pages);
	cr_assert_gt(total, 120, "%d tools", total);
	cr_assert(json_object_object_get_ex(seen, "big_echo", NULL));
	json_object_put(seen);

	/* Another session's cursor is not this one's. */
	snprintf(params, sizeof(params), "{\"cursor\":\"%s\"}", first);
	msg = expect_error(&other, "tools/list", params,
	    JSONRPC_INVALID_PARAMS);
	cr_assert_str_eq(msg, want);
	free(msg);
	msg = expect_error(&c, "tools/list", "{\"cursor\":\"nonsense\"}",
	    JSONRPC_INVALID_PARAMS);
	cr_assert_str_eq(msg, want);
	free(msg);
	msg = expect_error(&c, "tools/list", "{\"cursor\":7}",
	    JSONRPC_INVALID_PARAMS);
	cr_assert_str_eq(msg, want);
	free(msg);
	/* The list changed since: the cursor is refused, not a wrong page. */
	cr_assert_not_null(mcp_call_tool(&c, "mesh_remove_peer",
	    "{\"peer\":\"big\"}", &r));
	http_resp_free(&r);
	/* Its list_changed (coalesced) is out by then. */
	harness_msleep(TOOLS_CHANGED_COALESCE_MS * 3);
	msg = expect_error(&c, "tools/list", params, JSONRPC_INVALID_PARAMS);
	cr_assert_str_eq(msg, want);
	free(msg);
	/* The mesh's own tools alone fit in one page. */
	m = tools_page(&c, NULL, &r);
	cr_assert_null(json_path(m, "result.nextCursor"), "%s", r.body);
	http_resp_free(&r);
	mcp_close(&c);
	mcp_close(&other);
	fixture_stop(&f);
}
