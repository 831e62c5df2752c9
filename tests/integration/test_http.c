/*
 * mcp-mesh over Streamable HTTP, end to end: real gateways, a real mesh
 * with its workers, real HTTP on 127.0.0.1 (every port from --port 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "mesh-limits.h"
#include "jsonrpc.h"
#include "integration/harness.h"

#define T_TIMEOUT	60	/* seconds, any one test */
#define LATE_MARGIN_MS	500	/* a late answer is in this long after */

/* Two gateways, factory (gw[0]) and edge (gw[1]), bridged by one mesh. */
static void
http_pair(struct fixture *t, const char *gwopt)
{
	fixture_init(t);
	fixture_peer_gateway(t, "factory", gwopt, NULL);
	fixture_peer_gateway(t, "edge", gwopt, NULL);
	fixture_start(t, 0, "--name", "it-node", NULL);
}

static void
open_client(struct mcp_client *c, const char *url)
{
	cr_assert_eq(mcp_open(c, url), 0, "MCP session to %s failed", url);
}

static int64_t
resp_id(struct http_resp *r)
{
	int64_t	 id = -1;

	json_path_int(r->json, "id", &id);
	return (id);
}

static int
count_prefix(struct json_object *tools, const char *prefix)
{
	size_t		 i;
	int		 n = 0;
	const char	*name;

	for (i = 0; i < json_object_array_length(tools); i++) {
		name = json_path_str(json_object_array_get_idx(tools, i),
		    "name");
		if (name != NULL && strncmp(name, prefix, strlen(prefix)) == 0)
			n++;
	}
	return (n);
}

/* The calls every bridged setup must serve. */
static void
check_bridged(struct fixture *t)
{
	static const char *want[] = {
		"mesh_node_info", "factory_echo", "factory_add",
		"factory_slow", "factory_fail", "edge_echo", "edge_add",
		"edge_slow", "edge_fail", NULL
	};
	struct json_object	*tools;
	int			 i;

	tools = mcp_list_tools(&t->c);
	cr_assert_not_null(tools, "tools/list through the mesh failed");
	for (i = 0; want[i] != NULL; i++)
		cr_assert(tools_has(tools, want[i]), "tools/list lacks %s: %s",
		    want[i], json_object_to_json_string(tools));
	json_object_put(tools);
	expect_text(&t->c, "factory_echo", "{\"text\":\"hello mesh\"}",
	    "hello mesh");
	expect_text(&t->c, "edge_echo",
	    "{\"text\":\"h\\u00e9llo \\\"edge\\\"\"}", "h\xc3\xa9llo \"edge\"");
	expect_text(&t->c, "edge_add", "{\"a\":2,\"b\":3}", "5");
}

/* --- tools through the mesh -------------------------------------------- */

MESH_TEST(http, tools_list_and_calls, .timeout = T_TIMEOUT)
{
	struct fixture	 t;

	http_pair(&t, NULL);
	check_bridged(&t);
	fixture_stop(&t);
}

MESH_TEST(http, tools_list_schemas, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct mcp_client	 g;
	struct json_object	*tools, *direct, *tool, *mine;
	const char		*name, *n;
	char			 prefixed[128];
	size_t			 i, j;

	http_pair(&t, NULL);
	open_client(&g, t.gw[0].url);
	tools = mcp_list_tools(&t.c);
	direct = mcp_list_tools(&g);
	cr_assert_not_null(tools);
	cr_assert_not_null(direct);
	/* Every factory tool is there, renamed, everything else identical. */
	for (i = 0; i < json_object_array_length(direct); i++) {
		tool = json_object_array_get_idx(direct, i);
		name = json_path_str(tool, "name");
		snprintf(prefixed, sizeof(prefixed), "factory_%s", name);
		mine = NULL;
		for (j = 0; j < json_object_array_length(tools); j++) {
			n = json_path_str(json_object_array_get_idx(tools, j),
			    "name");
			if (n != NULL && strcmp(n, prefixed) == 0)
				mine = json_object_array_get_idx(tools, j);
		}
		cr_assert_not_null(mine, "%s missing from the mesh's list",
		    prefixed);
		cr_assert(json_object_equal(json_path(mine, "inputSchema"),
		    json_path(tool, "inputSchema")),
		    "%s: inputSchema changed: mesh %s, gateway %s", prefixed,
		    json_object_to_json_string(json_path(mine, "inputSchema")),
		    json_object_to_json_string(json_path(tool, "inputSchema")));
	}
	/* No name twice. */
	for (i = 0; i < json_object_array_length(tools); i++)
		for (j = i + 1; j < json_object_array_length(tools); j++)
			cr_assert(strcmp(json_path_str(
			    json_object_array_get_idx(tools, i), "name"),
			    json_path_str(json_object_array_get_idx(tools, j),
			    "name")) != 0, "duplicate tool name");
	json_object_put(tools);
	json_object_put(direct);
	mcp_close(&g);
	fixture_stop(&t);
}

MESH_TEST(http, structured_content_untouched, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct mcp_client	 g;
	struct http_resp	 r1, r2;
	struct json_object	*via, *direct;
	int64_t			 sum;

	http_pair(&t, NULL);
	open_client(&g, t.gw[1].url);
	via = mcp_call_tool(&t.c, "edge_add", "{\"a\":2,\"b\":40}", &r1);
	direct = mcp_call_tool(&g, "add", "{\"a\":2,\"b\":40}", &r2);
	cr_assert_not_null(via, "edge_add: %s", r1.body ? r1.body : "");
	cr_assert_not_null(direct, "gateway add: %s", r2.body ? r2.body : "");
	cr_assert_str_eq(tool_text(via) ? tool_text(via) : "(null)", "42");
	cr_assert_eq(json_path_int(via, "structuredContent.sum", &sum), 0,
	    "no structuredContent.sum: %s", r1.body);
	cr_assert_eq(sum, 42);
	cr_assert(json_object_equal(via, direct),
	    "result changed on the way: mesh %s, gateway %s",
	    json_object_to_json_string(via),
	    json_object_to_json_string(direct));
	http_resp_free(&r1);
	http_resp_free(&r2);
	mcp_close(&g);
	fixture_stop(&t);
}

MESH_TEST(http, tool_error_is_result, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct http_resp	 r;
	struct json_object	*res;
	const char		*text;

	http_pair(&t, NULL);
	res = mcp_call_tool(&t.c, "factory_fail", "{\"message\":\"boom 17\"}",
	    &r);
	cr_assert_not_null(res, "factory_fail: %s", r.body ? r.body : "");
	cr_assert(json_object_get_boolean(json_path(res, "isError")),
	    "isError not set: %s", r.body);
	text = tool_text(res);
	cr_assert(text != NULL && strstr(text, "boom 17") != NULL,
	    "error text lost: %s", r.body);
	http_resp_free(&r);
	fixture_stop(&t);
}

MESH_TEST(http, unknown_tool, .timeout = T_TIMEOUT)
{
	static const char *names[] = { "nosuchpeer_echo", "factory_nosuch",
	    "echo", "mesh_nosuch", NULL };
	struct fixture		 t;
	struct http_resp	 r;
	int			 i;

	http_pair(&t, NULL);
	for (i = 0; names[i] != NULL; i++) {
		mcp_call_tool(&t.c, names[i], "{}", &r);
		cr_assert_eq(r.status, 200, "%s: HTTP %ld", names[i],
		    r.status);
		cr_assert_eq(http_error_code(&r), JSONRPC_INVALID_PARAMS,
		    "tools/call %s: want JSON-RPC error -32602, got %s",
		    names[i], r.body ? r.body : "");
		http_resp_free(&r);
	}
	/* The session is fine afterwards. */
	expect_text(&t.c, "factory_echo", "{\"text\":\"still\"}", "still");
	fixture_stop(&t);
}

MESH_TEST(http, ping_and_node_info, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct http_resp	 r;
	struct json_object	*res, *info, *v;
	const char		*text, *s;
	int			 has_uptime = 0;

	http_pair(&t, NULL);
	mcp_request(&t.c, "ping", NULL, &r);
	cr_assert_eq(r.status, 200);
	v = json_path(r.json, "result");
	cr_assert(v != NULL && json_object_is_type(v, json_type_object) &&
	    json_object_object_length(v) == 0, "ping: want {}, got %s",
	    r.body);
	http_resp_free(&r);

	res = mcp_call_tool(&t.c, "mesh_node_info", "{}", &r);
	cr_assert_not_null(res, "mesh_node_info: %s", r.body ? r.body : "");
	if ((info = json_path(res, "structuredContent")) != NULL)
		json_object_get(info);
	else if ((text = tool_text(res)) != NULL)
		info = json_tokener_parse(text);
	cr_assert_not_null(info, "mesh_node_info: neither structuredContent "
	    "nor JSON text: %s", r.body);
	s = json_path_str(info, "name");
	cr_assert(s != NULL && strcmp(s, "it-node") == 0,
	    "node name: want it-node: %s", r.body);
	cr_assert_not_null(json_path_str(info, "version"), "no version: %s",
	    r.body);
	json_object_object_foreach(info, key, val) {
		(void)val;
		if (strncmp(key, "uptime", 6) == 0)
			has_uptime = 1;
	}
	cr_assert(has_uptime, "no uptime: %s", r.body);
	v = json_path(info, "peers");
	cr_assert_not_null(v, "no peers: %s", r.body);
	s = json_object_to_json_string(v);
	cr_assert(strstr(s, "factory") != NULL && strstr(s, "edge") != NULL,
	    "peers lack factory or edge: %s", s);
	json_object_put(info);
	http_resp_free(&r);
	fixture_stop(&t);
}

/* --- Streamable HTTP rules (protocol.md 2.1) ----------------------------- */

MESH_TEST(http, initialize_session_header, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct mcp_client	 a, b;
	const char		*p;

	http_pair(&t, NULL);
	open_client(&a, t.murl);
	open_client(&b, t.murl);
	cr_assert_str_eq(a.version, MCP_VERSION, "negotiated %s", a.version);
	cr_assert_str_neq(a.session, b.session, "two clients, one session");
	cr_assert(strlen(a.session) >= 16, "short session id %s", a.session);
	for (p = a.session; *p != '\0'; p++)
		cr_assert(*p >= 0x21 && *p <= 0x7e, "session id not visible "
		    "ASCII: %s", a.session);
	mcp_close(&a);
	mcp_close(&b);
	fixture_stop(&t);
}

MESH_TEST(http, missing_session_400, .timeout = T_TIMEOUT)
{
	static const char *h[] = { MCP_ACCEPT, MCP_CTYPE,
	    "MCP-Protocol-Version: " MCP_VERSION, NULL };
	struct fixture		 t;
	struct http_resp	 r;

	http_pair(&t, NULL);
	http_raw(NULL, t.murl, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	    "\"tools/list\"}", h, &r);
	cr_assert_eq(r.status, 400, "tools/list without Mcp-Session-Id: "
	    "want 400, got %ld %s", r.status, r.body ? r.body : "");
	http_resp_free(&r);
	fixture_stop(&t);
}

MESH_TEST(http, unknown_session_404, .timeout = T_TIMEOUT)
{
	static const char *h[] = { MCP_ACCEPT, MCP_CTYPE,
	    "MCP-Protocol-Version: " MCP_VERSION,
	    "Mcp-Session-Id: 0123456789abcdef0123456789abcdef", NULL };
	struct fixture		 t;
	struct http_resp	 r;

	http_pair(&t, NULL);
	http_raw(NULL, t.murl, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	    "\"tools/list\"}", h, &r);
	cr_assert_eq(r.status, 404, "unknown session: want 404, got %ld %s",
	    r.status, r.body ? r.body : "");
	cr_assert_eq(http_error_code(&r), MCP_SESSION_NOT_FOUND,
	    "unknown session: want -32001, got %s", r.body ? r.body : "");
	http_resp_free(&r);
	fixture_stop(&t);
}

#define INIT_BODY "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"," \
	"\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}," \
	"\"clientInfo\":{\"name\":\"it\",\"version\":\"1\"}}}"

MESH_TEST(http, bad_origin_403, .timeout = T_TIMEOUT)
{
	static const char *h[] = { MCP_ACCEPT, MCP_CTYPE,
	    "Origin: http://evil.example", NULL };
	struct fixture		 t;
	struct http_resp	 r;

	http_pair(&t, NULL);
	http_raw(NULL, t.murl, INIT_BODY, h, &r);
	cr_assert_eq(r.status, 403, "Origin http://evil.example: want 403, "
	    "got %ld", r.status);
	cr_assert_null(r.session, "session minted for a bad origin");
	http_resp_free(&r);
	fixture_stop(&t);
}

MESH_TEST(http, local_origin_allowed, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct http_resp	 r;
	char			 origin[64];
	const char		*h[] = { MCP_ACCEPT, MCP_CTYPE, origin, NULL };

	http_pair(&t, NULL);
	snprintf(origin, sizeof(origin), "Origin: http://127.0.0.1:%d",
	    t.mport);
	http_raw(NULL, t.murl, INIT_BODY, h, &r);
	cr_assert_eq(r.status, 200, "%s: want 200, got %ld %s", origin,
	    r.status, r.body ? r.body : "");
	http_resp_free(&r);
	fixture_stop(&t);
}

MESH_TEST(http, foreign_host_403, .timeout = T_TIMEOUT)
{
	static const char *h[] = { MCP_ACCEPT, MCP_CTYPE,
	    "Host: evil.example", NULL };
	struct fixture		 t;
	struct http_resp	 r;

	http_pair(&t, NULL);
	http_raw(NULL, t.murl, INIT_BODY, h, &r);
	cr_assert_eq(r.status, 403, "Host: evil.example: want 403, got %ld",
	    r.status);
	cr_assert_null(r.session, "session minted for a foreign Host");
	http_resp_free(&r);
	fixture_stop(&t);
}

MESH_TEST(http, wrong_method_405, .timeout = T_TIMEOUT)
{
	static const char *h[] = { MCP_ACCEPT, MCP_CTYPE, NULL };
	struct fixture		 t;
	struct http_resp	 r;

	http_pair(&t, NULL);
	http_raw("PUT", t.murl, INIT_BODY, h, &r);
	cr_assert_eq(r.status, 405, "PUT: want 405, got %ld", r.status);
	cr_assert(r.allow != NULL && strstr(r.allow, "POST") != NULL,
	    "405 without an Allow header naming POST (RFC 9110 15.5.6): %s",
	    r.allow ? r.allow : "(none)");
	http_resp_free(&r);
	fixture_stop(&t);
}

MESH_TEST(http, not_acceptable_406, .timeout = T_TIMEOUT)
{
	static const char *h[] = { "Accept: application/json", MCP_CTYPE,
	    NULL };
	struct fixture		 t;
	struct http_resp	 r;

	http_pair(&t, NULL);
	http_raw(NULL, t.murl, INIT_BODY, h, &r);
	cr_assert_eq(r.status, 406, "Accept without text/event-stream: want "
	    "406, got %ld", r.status);
	http_resp_free(&r);
	fixture_stop(&t);
}

MESH_TEST(http, unsupported_media_415, .timeout = T_TIMEOUT)
{
	static const char *h[] = { MCP_ACCEPT, "Content-Type: text/plain",
	    NULL };
	struct fixture		 t;
	struct http_resp	 r;

	http_pair(&t, NULL);
	http_raw(NULL, t.murl, INIT_BODY, h, &r);
	cr_assert_eq(r.status, 415, "Content-Type text/plain: want 415, got "
	    "%ld", r.status);
	http_resp_free(&r);
	fixture_stop(&t);
}

/* A ping whose body is exactly len bytes (padding in params). */
static char *
ping_of_size(size_t len)
{
	static const char	 head[] = "{\"jsonrpc\":\"2.0\",\"id\":9,"
	    "\"method\":\"ping\",\"params\":{\"pad\":\"";
	static const char	 tail[] = "\"}}";
	char			*b;

	if ((b = malloc(len + 1)) == NULL)
		abort();
	memcpy(b, head, sizeof(head) - 1);
	memset(b + sizeof(head) - 1, 'x', len - (sizeof(head) - 1) -
	    (sizeof(tail) - 1));
	memcpy(b + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
	b[len] = '\0';
	return (b);
}

MESH_TEST(http, body_limit_413, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct http_resp	 r;
	char			*big;

	http_pair(&t, NULL);
	/* At the limit: served. */
	big = ping_of_size(HTTP_BODY_MAX);
	mcp_in_session(&t.c, NULL, big, NULL, &r);
	free(big);
	cr_assert_eq(r.status, 200, "body of HTTP_BODY_MAX bytes: want 200, "
	    "got %ld (curl %d)", r.status, r.curlcode);
	cr_assert_eq(resp_id(&r), 9, "ping at the limit: %.300s",
	    r.body ? r.body : "");
	http_resp_free(&r);
	/* One byte over: refused. */
	big = ping_of_size(HTTP_BODY_MAX + 1);
	mcp_in_session(&t.c, NULL, big, NULL, &r);
	free(big);
	cr_assert_eq(r.status, 413, "body of HTTP_BODY_MAX+1 bytes: want "
	    "413, got %ld (curl %d)", r.status, r.curlcode);
	http_resp_free(&r);
	/* And the mesh goes on. */
	expect_text(&t.c, "factory_echo", "{\"text\":\"after 413\"}",
	    "after 413");
	fixture_stop(&t);
}

MESH_TEST(http, malformed_json_400, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct http_resp	 r;
	struct json_object	*id;

	http_pair(&t, NULL);
	mcp_in_session(&t.c, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":",
	    NULL, &r);
	cr_assert_eq(r.status, 400, "malformed JSON: want 400, got %ld",
	    r.status);
	cr_assert_eq(http_error_code(&r), JSONRPC_PARSE_ERROR,
	    "malformed JSON: want -32700, got %s", r.body ? r.body : "");
	cr_assert(!json_object_object_get_ex(r.json, "id", &id) ||
	    id == NULL, "parse error with a non-null id: %s", r.body);
	http_resp_free(&r);
	expect_text(&t.c, "edge_echo", "{\"text\":\"ok\"}", "ok");
	fixture_stop(&t);
}

MESH_TEST(http, invalid_request_400, .timeout = T_TIMEOUT)
{
	static const char *bad[] = {
		"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}",
		"{\"jsonrpc\":\"2.0\",\"id\":{\"x\":1},\"method\":\"ping\"}",
		"[1,2,3]",
		"\"just a string\"",
		NULL
	};
	struct fixture		 t;
	struct http_resp	 r;
	int			 i;

	http_pair(&t, NULL);
	for (i = 0; bad[i] != NULL; i++) {
		mcp_in_session(&t.c, NULL, bad[i], NULL, &r);
		cr_assert_eq(r.status, 400, "%s: want 400, got %ld %s", bad[i],
		    r.status, r.body ? r.body : "");
		cr_assert_eq(http_error_code(&r), JSONRPC_INVALID_REQUEST,
		    "%s: want -32600, got %s", bad[i], r.body ? r.body : "");
		http_resp_free(&r);
	}
	fixture_stop(&t);
}

MESH_TEST(http, bad_protocol_version_400, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct http_resp	 r;

	http_pair(&t, NULL);
	snprintf(t.c.version, sizeof(t.c.version), "1999-01-01");
	mcp_request(&t.c, "tools/list", NULL, &r);
	cr_assert_eq(r.status, 400, "MCP-Protocol-Version: 1999-01-01: want "
	    "400, got %ld %s", r.status, r.body ? r.body : "");
	http_resp_free(&r);
	/* The session is still usable with the negotiated version. */
	snprintf(t.c.version, sizeof(t.c.version), "%s", MCP_VERSION);
	expect_text(&t.c, "factory_echo", "{\"text\":\"v\"}", "v");
	fixture_stop(&t);
}

MESH_TEST(http, notification_202, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct http_resp	 r;

	http_pair(&t, NULL);
	mcp_in_session(&t.c, NULL, "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/cancelled\",\"params\":{\"requestId\":4242}}",
	    NULL, &r);
	cr_assert_eq(r.status, 202, "notification: want 202, got %ld",
	    r.status);
	cr_assert_eq(r.len, 0, "202 with a body: %s", r.body);
	http_resp_free(&r);
	fixture_stop(&t);
}

MESH_TEST(http, delete_then_404, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct mcp_client	 other;
	struct http_resp	 r;

	http_pair(&t, NULL);
	open_client(&other, t.murl);
	mcp_in_session(&t.c, "DELETE", NULL, NULL, &r);
	cr_assert(r.status == 200 || r.status == 204,
	    "DELETE: want 200 or 204, got %ld", r.status);
	http_resp_free(&r);
	mcp_request(&t.c, "tools/list", NULL, &r);
	cr_assert_eq(r.status, 404, "request after DELETE: want 404, got %ld",
	    r.status);
	cr_assert_eq(http_error_code(&r), MCP_SESSION_NOT_FOUND,
	    "after DELETE: want -32001, got %s", r.body ? r.body : "");
	http_resp_free(&r);
	mcp_in_session(&t.c, "DELETE", NULL, NULL, &r);
	cr_assert_eq(r.status, 404, "second DELETE: want 404, got %ld",
	    r.status);
	http_resp_free(&r);
	/* Only that session ended. */
	expect_text(&other, "factory_echo", "{\"text\":\"other\"}", "other");
	mcp_close(&other);
	fixture_stop(&t);
}

MESH_TEST(http, get_opens_sse, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct http_req		 q;
	struct http_resp	 r;
	struct mcp_hdrbuf	 hb;

	http_pair(&t, NULL);
	memset(&q, 0, sizeof(q));
	q.method = "GET";
	q.url = t.c.url;
	q.timeout_ms = 800;	/* the stream stays open: cut it */
	mcp_headers(&t.c, &q, &hb);
	q.headers[0] = "Accept: text/event-stream";
	http_do(&q, &r);
	cr_assert_eq(r.status, 200, "GET stream: want 200, got %ld",
	    r.status);
	cr_assert(r.ctype != NULL && strstr(r.ctype, "text/event-stream"),
	    "GET stream: Content-Type %s", r.ctype ? r.ctype : "(none)");
	cr_assert(r.curlcode == CURLE_OPERATION_TIMEDOUT,
	    "GET stream ended by the server (curl %d)", r.curlcode);
	http_resp_free(&r);
	/* A GET that does not accept SSE. */
	q.headers[0] = "Accept: application/json";
	q.timeout_ms = 3000;
	http_do(&q, &r);
	cr_assert_eq(r.status, 406, "GET with Accept: application/json: want "
	    "406, got %ld", r.status);
	http_resp_free(&r);
	/* The session still works once the stream is gone. */
	expect_text(&t.c, "factory_echo", "{\"text\":\"after get\"}",
	    "after get");
	fixture_stop(&t);
}

/* --- concurrency and failures ------------------------------------------- */

MESH_TEST(http, same_id_two_sessions, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct mcp_client	 a, b, gf, ge;
	struct http_req		 q[5];
	struct http_resp	 r[5];
	struct mcp_hdrbuf	 hb[5];
	char			*body[5];
	uint64_t		 t0, took;
	int			 i;

	http_pair(&t, NULL);
	open_client(&a, t.murl);
	open_client(&b, t.murl);
	open_client(&gf, t.gw[0].url);
	open_client(&ge, t.gw[1].url);
	/* Three sessions, one id (7), at once; the gateways directly too. */
	body[0] = mcp_tool_req(&a, &q[0], &hb[0], 7, "factory_slow",
	    "{\"ms\":800}", 10000);
	body[1] = mcp_tool_req(&b, &q[1], &hb[1], 7, "edge_slow",
	    "{\"ms\":500}", 10000);
	body[2] = mcp_tool_req(&t.c, &q[2], &hb[2], 7, "factory_echo",
	    "{\"text\":\"ccc\"}", 10000);
	body[3] = mcp_tool_req(&gf, &q[3], &hb[3], 7, "slow", "{\"ms\":800}",
	    10000);
	body[4] = mcp_tool_req(&ge, &q[4], &hb[4], 7, "slow", "{\"ms\":500}",
	    10000);
	t0 = now_ms();
	http_perform(q, r, 5);
	took = now_ms() - t0;
	for (i = 0; i < 5; i++) {
		cr_assert_eq(r[i].status, 200, "request %d: HTTP %ld curl %d",
		    i, r[i].status, r[i].curlcode);
		cr_assert_eq(resp_id(&r[i]), 7, "request %d: id not 7: %s", i,
		    r[i].body ? r[i].body : "");
		cr_assert_not_null(json_path(r[i].json, "result"),
		    "request %d: no result: %s", i, r[i].body);
	}
	cr_assert_str_eq(tool_text(json_path(r[2].json, "result")) ?
	    tool_text(json_path(r[2].json, "result")) : "(null)", "ccc");
	cr_assert(json_object_equal(json_path(r[0].json, "result"),
	    json_path(r[3].json, "result")),
	    "session a got %s, the gateway's own answer is %s", r[0].body,
	    r[3].body);
	cr_assert(json_object_equal(json_path(r[1].json, "result"),
	    json_path(r[4].json, "result")),
	    "session b got %s, the gateway's own answer is %s", r[1].body,
	    r[4].body);
	/* Concurrent, not one after the other (800 + 500 = 1300). */
	cr_assert_lt(took, 1300, "calls were serialized: %llu ms",
	    (unsigned long long)took);
	for (i = 0; i < 5; i++) {
		free(body[i]);
		http_resp_free(&r[i]);
	}
	mcp_close(&a);
	mcp_close(&b);
	mcp_close(&gf);
	mcp_close(&ge);
	fixture_stop(&t);
}

MESH_TEST(http, client_disconnect_mid_request, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct mcp_client	 a, b, c;
	struct http_req		 q[3];
	struct http_resp	 r[3];
	struct mcp_hdrbuf	 hb[3];
	char			*body[3];
	const char		*text;
	uint64_t		 t0;
	int			 i;

	http_pair(&t, NULL);
	open_client(&a, t.murl);
	open_client(&b, t.murl);
	/* a gives up after 300 ms on a 1500 ms call; b works meanwhile. */
	body[0] = mcp_tool_req(&a, &q[0], &hb[0], 1, "factory_slow",
	    "{\"ms\":1500}", 300);
	body[1] = mcp_tool_req(&b, &q[1], &hb[1], 1, "factory_slow",
	    "{\"ms\":600}", 10000);
	body[2] = mcp_tool_req(&b, &q[2], &hb[2], 2, "edge_echo",
	    "{\"text\":\"during\"}", 10000);
	t0 = now_ms();
	http_perform(q, r, 3);
	cr_assert_eq(r[0].curlcode, CURLE_OPERATION_TIMEDOUT,
	    "the impatient client was answered: curl %d HTTP %ld %s",
	    r[0].curlcode, r[0].status, r[0].body ? r[0].body : "");
	cr_assert_eq(r[1].status, 200, "b's slow call: HTTP %ld curl %d",
	    r[1].status, r[1].curlcode);
	cr_assert_eq(resp_id(&r[1]), 1, "b's slow call: %s", r[1].body);
	cr_assert_eq(r[2].status, 200);
	text = tool_text(json_path(r[2].json, "result"));
	cr_assert(text != NULL && strcmp(text, "during") == 0,
	    "b's echo during a's disconnect: %s", r[2].body);
	for (i = 0; i < 3; i++) {
		free(body[i]);
		http_resp_free(&r[i]);
	}
	expect_text(&b, "factory_echo", "{\"text\":\"b1\"}", "b1");
	/*
	 * The abandoned call's late answer (1500 ms after it was sent) must
	 * go nowhere: wait until it came, and a little, before looking.
	 * Nothing tells the test it came, so this is a sleep.
	 */
	while (now_ms() < t0 + 1500 + LATE_MARGIN_MS)
		harness_msleep(50);
	cr_assert(proc_alive(t.mesh), "mcp-mesh died");
	expect_text(&b, "factory_echo", "{\"text\":\"b2\"}", "b2");
	expect_text(&a, "edge_add", "{\"a\":1,\"b\":1}", "2");
	open_client(&c, t.murl);
	expect_text(&c, "factory_echo", "{\"text\":\"new\"}", "new");
	mcp_close(&a);
	mcp_close(&b);
	mcp_close(&c);
	fixture_stop(&t);
}

MESH_TEST(http, peer_down_is_error_result, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct http_resp	 r;
	struct json_object	*res;
	const char		*text;
	uint64_t		 t0;

	http_pair(&t, NULL);
	expect_text(&t.c, "edge_echo", "{\"text\":\"up\"}", "up");
	proc_stop(t.gw[1].proc);
	t0 = now_ms();
	res = mcp_call_tool(&t.c, "edge_echo", "{\"text\":\"down\"}", &r);
	cr_assert_eq(r.status, 200, "edge_echo with edge down: HTTP %ld curl "
	    "%d", r.status, r.curlcode);
	cr_assert_not_null(res, "edge_echo with edge down: want an isError "
	    "result, got %s", r.body ? r.body : "");
	cr_assert(json_object_get_boolean(json_path(res, "isError")),
	    "edge down, isError not set: %s", r.body);
	text = tool_text(res);
	cr_assert(text != NULL && strstr(text, "edge") != NULL,
	    "error does not name the peer: %s", r.body);
	cr_assert_lt(now_ms() - t0, 8000, "answer took too long");
	http_resp_free(&r);
	expect_text(&t.c, "factory_echo", "{\"text\":\"alive\"}", "alive");
	fixture_stop(&t);
}

MESH_TEST(http, peer_never_reachable, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct http_resp	 r;
	struct json_object	*res, *tools;
	const char		*text;
	char			 ghost[128];
	uint64_t		 t0;

	fixture_init(&t);
	fixture_peer_gateway(&t, "factory", NULL);
	snprintf(ghost, sizeof(ghost), "http://127.0.0.1:%d/mcp",
	    closed_port());
	fixture_bridge(&t, "ghost", ghost, 0);
	fixture_start(&t, 0, NULL);
	t0 = now_ms();
	tools = mcp_list_tools(&t.c);
	cr_assert_not_null(tools, "tools/list with a dead peer failed");
	cr_assert(tools_has(tools, "factory_echo") &&
	    tools_has(tools, "mesh_node_info"), "%s",
	    json_object_to_json_string(tools));
	cr_assert_lt(now_ms() - t0, (uint64_t)LIST_WAIT_MS + 2000,
	    "tools/list waited too long for a dead peer");
	json_object_put(tools);
	res = mcp_call_tool(&t.c, "ghost_echo", "{\"text\":\"x\"}", &r);
	cr_assert_not_null(res, "ghost_echo (peer ghost unreachable): want "
	    "an isError result naming ghost, got %s", r.body ? r.body : "");
	cr_assert(json_object_get_boolean(json_path(res, "isError")),
	    "isError not set: %s", r.body);
	text = tool_text(res);
	cr_assert(text != NULL && strstr(text, "ghost") != NULL,
	    "error does not name the peer: %s", r.body);
	http_resp_free(&r);
	expect_text(&t.c, "factory_echo", "{\"text\":\"fine\"}", "fine");
	fixture_stop(&t);
}

MESH_TEST(http, gateway_forgets_sessions, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct http_resp	 r;
	struct json_object	*res;

	http_pair(&t, NULL);
	expect_text(&t.c, "factory_echo", "{\"text\":\"one\"}", "one");
	res = mcp_call_tool(&t.c, "factory_forget_sessions", "{}", &r);
	cr_assert_not_null(res, "factory_forget_sessions: %s",
	    r.body ? r.body : "");
	http_resp_free(&r);
	/* The gateway now answers 404: the worker must re-initialize. */
	expect_text(&t.c, "factory_echo", "{\"text\":\"two\"}", "two");
	expect_text(&t.c, "factory_add", "{\"a\":20,\"b\":22}", "42");
	expect_text(&t.c, "edge_echo", "{\"text\":\"three\"}", "three");
	fixture_stop(&t);
}

MESH_TEST(http, sse_gateways, .timeout = T_TIMEOUT)
{
	struct fixture	 t;

	http_pair(&t, "--sse");
	check_bridged(&t);
	fixture_stop(&t);
}

MESH_TEST(http, paginated_120_tools, .timeout = T_TIMEOUT)
{
	struct fixture		 t;
	struct mcp_client	 g;
	struct json_object	*tools, *direct;
	const char		*name;
	char			 want[128];
	size_t			 i;

	fixture_init(&t);
	fixture_peer_gateway(&t, "factory", "--tools", "120", NULL);
	fixture_start(&t, 0, NULL);
	open_client(&g, t.gw[0].url);
	direct = mcp_list_tools(&g);
	cr_assert_not_null(direct);
	cr_assert_geq(json_object_array_length(direct), 120,
	    "the gateway lists %zu tools", json_object_array_length(direct));
	tools = mcp_list_tools(&t.c);
	cr_assert_not_null(tools);
	cr_assert_eq(count_prefix(tools, "factory_"),
	    (int)json_object_array_length(direct),
	    "mesh shows %d factory tools, the gateway %zu (3 pages of 50)",
	    count_prefix(tools, "factory_"), json_object_array_length(direct));
	for (i = 0; i < json_object_array_length(direct); i++) {
		name = json_path_str(json_object_array_get_idx(direct, i),
		    "name");
		snprintf(want, sizeof(want), "factory_%s", name);
		cr_assert(tools_has(tools, want), "%s missing", want);
	}
	json_object_put(tools);
	json_object_put(direct);
	expect_text(&t.c, "factory_echo", "{\"text\":\"many\"}", "many");
	mcp_close(&g);
	fixture_stop(&t);
}
