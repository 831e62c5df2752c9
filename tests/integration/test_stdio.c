/*
 * mcp-mesh --stdio, end to end: newline-delimited JSON-RPC on the mesh's
 * stdin and stdout, two real gateways behind it over HTTP.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "jsonrpc.h"
#include "integration/harness.h"

#define T_TIMEOUT	60	/* seconds, any one test */

#define INIT_PARAMS(v) "{\"protocolVersion\":\"" v "\",\"capabilities\":{}," \
	"\"clientInfo\":{\"name\":\"it-stdio\",\"version\":\"1\"}}"

/* Gateways factory and edge (when bridged), and a stdio mesh. */
static void
stdio_start(struct fixture *f, int bridged)
{
	fixture_init(f);
	if (bridged) {
		fixture_peer_gateway(f, "factory", NULL);
		fixture_peer_gateway(f, "edge", NULL);
	}
	fixture_start(f, FIXTURE_STDIO, NULL);
}

static void
expect_error(struct json_object *r, int code, const char *what)
{
	int64_t	 got = 0;

	cr_assert_eq(json_path_int(r, "error.code", &got), 0,
	    "%s: want error %d, got %s", what, code,
	    json_object_to_json_string(r));
	cr_assert_eq(got, code, "%s: want error %d, got %s", what, code,
	    json_object_to_json_string(r));
}

/* --- tests ------------------------------------------------------------- */

MESH_TEST(stdio, initialize_echoes_version, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct json_object	*r;
	const char		*v;

	stdio_start(&f, 1);
	r = line_rpc(f.line, 1, "initialize", INIT_PARAMS("2025-06-18"));
	v = json_path_str(r, "result.protocolVersion");
	cr_assert(v != NULL && strcmp(v, "2025-06-18") == 0,
	    "initialize 2025-06-18: got %s", json_object_to_json_string(r));
	cr_assert_not_null(json_path_str(r, "result.serverInfo.name"),
	    "no serverInfo.name: %s", json_object_to_json_string(r));
	cr_assert_not_null(json_path(r, "result.capabilities.tools"),
	    "no tools capability: %s", json_object_to_json_string(r));
	json_object_put(r);
}

MESH_TEST(stdio, initialize_unknown_version, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct json_object	*r;
	const char		*v;

	stdio_start(&f, 0);
	r = line_rpc(f.line, 1, "initialize", INIT_PARAMS("1999-01-01"));
	v = json_path_str(r, "result.protocolVersion");
	cr_assert(v != NULL && strcmp(v, "2025-11-25") == 0,
	    "initialize 1999-01-01: want 2025-11-25, got %s",
	    json_object_to_json_string(r));
	json_object_put(r);
}

MESH_TEST(stdio, tools_and_calls, .timeout = T_TIMEOUT)
{
	static const char *want[] = { "mesh_node_info", "factory_echo",
	    "factory_add", "edge_echo", "edge_add", NULL };
	struct fixture		 f;
	struct json_object	*r, *tools;
	const char		*text;
	int64_t			 sum = 0;
	int			 i;

	stdio_start(&f, 1);
	line_handshake(f.line);
	r = line_rpc(f.line, 2, "tools/list", NULL);
	tools = json_path(r, "result.tools");
	cr_assert_not_null(tools, "tools/list: %s",
	    json_object_to_json_string(r));
	for (i = 0; want[i] != NULL; i++)
		cr_assert(tools_has(tools, want[i]), "tools/list lacks %s: %s",
		    want[i], json_object_to_json_string(r));
	json_object_put(r);

	r = line_rpc(f.line, 3, "tools/call", "{\"name\":\"factory_echo\","
	    "\"arguments\":{\"text\":\"over stdio\\nline two\"}}");
	text = tool_text(json_path(r, "result"));
	cr_assert(text != NULL && strcmp(text, "over stdio\nline two") == 0,
	    "factory_echo: %s", json_object_to_json_string(r));
	json_object_put(r);

	r = line_rpc(f.line, 4, "tools/call", "{\"name\":\"edge_add\","
	    "\"arguments\":{\"a\":2,\"b\":3}}");
	text = tool_text(json_path(r, "result"));
	cr_assert(text != NULL && strcmp(text, "5") == 0, "edge_add: %s",
	    json_object_to_json_string(r));
	cr_assert_eq(json_path_int(r, "result.structuredContent.sum", &sum),
	    0, "edge_add: no structuredContent.sum: %s",
	    json_object_to_json_string(r));
	cr_assert_eq(sum, 5);
	json_object_put(r);

	r = line_rpc(f.line, 5, "ping", NULL);
	cr_assert(json_path(r, "result") != NULL &&
	    json_object_object_length(json_path(r, "result")) == 0,
	    "ping: want {}, got %s", json_object_to_json_string(r));
	json_object_put(r);

	r = line_rpc(f.line, 6, "tools/call", "{\"name\":\"nosuch_tool\","
	    "\"arguments\":{}}");
	expect_error(r, JSONRPC_INVALID_PARAMS, "unknown tool");
	json_object_put(r);
}

MESH_TEST(stdio, string_ids_and_concurrency, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct json_object	*msg;
	const char		*id, *text;
	int			 i, slow = 0, fast = 0;

	stdio_start(&f, 1);
	line_handshake(f.line);
	/* A slow call, then a fast one: the fast answer comes first. */
	line_expect_send(f.line, "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":"
	    "\"tools/call\",\"params\":{\"name\":\"factory_slow\","
	    "\"arguments\":{\"ms\":700}}}");
	line_expect_send(f.line, "{\"jsonrpc\":\"2.0\",\"id\":\"f\",\"method\":"
	    "\"tools/call\",\"params\":{\"name\":\"edge_echo\","
	    "\"arguments\":{\"text\":\"fast\"}}}");
	for (i = 0; i < 2;) {
		msg = line_expect_msg(f.line, LINE_WAIT_MS);
		cr_assert_not_null(msg, "stdout closed");
		if ((id = json_path_str(msg, "id")) == NULL) {
			json_object_put(msg);
			continue;
		}
		if (strcmp(id, "f") == 0) {
			cr_assert_eq(slow, 0, "the fast call waited for the "
			    "slow one");
			text = tool_text(json_path(msg, "result"));
			cr_assert(text != NULL && strcmp(text, "fast") == 0,
			    "%s", json_object_to_json_string(msg));
			fast = 1;
		} else {
			cr_assert_str_eq(id, "s");
			cr_assert_not_null(json_path(msg, "result"), "%s",
			    json_object_to_json_string(msg));
			slow = 1;
		}
		json_object_put(msg);
		i++;
	}
	cr_assert(fast && slow);
}

MESH_TEST(stdio, malformed_line, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct json_object	*r;

	stdio_start(&f, 1);
	line_handshake(f.line);
	line_expect_send(f.line, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":");
	r = line_expect_response(f.line, -1);
	expect_error(r, JSONRPC_PARSE_ERROR, "malformed line");
	json_object_put(r);
	line_expect_send(f.line, "this is not json at all");
	r = line_expect_response(f.line, -1);
	expect_error(r, JSONRPC_PARSE_ERROR, "garbage line");
	json_object_put(r);
	/* The mesh goes on. */
	r = line_rpc(f.line, 8, "tools/call", "{\"name\":\"factory_echo\","
	    "\"arguments\":{\"text\":\"still here\"}}");
	cr_assert_str_eq(tool_text(json_path(r, "result")) ?
	    tool_text(json_path(r, "result")) : "(null)", "still here");
	json_object_put(r);
}

MESH_TEST(stdio, invalid_request, .timeout = T_TIMEOUT)
{
	static const char *bad[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":7}",
		"{\"jsonrpc\":\"1.0\",\"id\":5,\"method\":\"ping\"}",
		"{\"id\":5,\"method\":\"ping\"}",
		NULL
	};
	struct fixture		 f;
	struct json_object	*r, *id;
	int			 i;

	stdio_start(&f, 1);
	line_handshake(f.line);
	for (i = 0; bad[i] != NULL; i++) {
		line_expect_send(f.line, bad[i]);
		r = line_expect_answer(f.line);
		expect_error(r, JSONRPC_INVALID_REQUEST, bad[i]);
		cr_assert(json_object_object_get_ex(r, "id", &id) &&
		    (id == NULL || json_object_get_int64(id) == 5),
		    "%s: id must be 5 or null: %s", bad[i],
		    json_object_to_json_string(r));
		json_object_put(r);
	}
	r = line_rpc(f.line, 9, "ping", NULL);
	cr_assert_not_null(json_path(r, "result"));
	json_object_put(r);
}

MESH_TEST(stdio, eof_exits_and_stdout_is_jsonrpc, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct json_object	*r;
	pid_t			 workers[16];
	int			 i, n;

	stdio_start(&f, 1);
	line_handshake(f.line);
	r = line_rpc(f.line, 2, "tools/list", NULL);
	json_object_put(r);
	r = line_rpc(f.line, 3, "tools/call", "{\"name\":\"edge_echo\","
	    "\"arguments\":{\"text\":\"bye\"}}");
	json_object_put(r);
	n = mesh_workers(f.mesh->pid, workers, 16);
	cr_assert_geq(n, 2, "want a worker per peer, found %d children", n);
	proc_close_stdin(f.mesh);
	/* Whatever is left on stdout must be JSON-RPC too, then EOF. */
	while ((r = line_expect_msg(f.line, 5000)) != NULL)
		json_object_put(r);
	cr_assert_eq(proc_wait_exit(f.mesh, 5000), 0,
	    "mcp-mesh still running 5 s after EOF on stdin");
	cr_assert(WIFEXITED(f.mesh->status) && WEXITSTATUS(f.mesh->status) == 0,
	    "mcp-mesh after EOF: status 0x%x, want exit 0", f.mesh->status);
	for (i = 0; i < n; i++)
		cr_assert(pid_gone(workers[i], 3000), "worker %d outlived "
		    "the mesh", (int)workers[i]);
}
