/*
 * The part of the harness that asserts (Criterion): newline JSON-RPC
 * expectations.  See harness.h.
 */
#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "harness.h"

/* --- newline-delimited JSON-RPC ------------------------------------------ */

void
line_expect_send(struct lineconn *lc, const char *msg)
{
	cr_assert_eq(line_send(lc, msg), 0, "could not write the line %.200s",
	    msg);
}

/*
 * One line, which must be one JSON-RPC 2.0 message (an object) on one
 * line.  Returns it (owned), or NULL at EOF or after timeout_ms.
 */
struct json_object *
line_expect_msg(struct lineconn *lc, int timeout_ms)
{
	struct json_object	*msg;
	const char		*v;
	char			*line;

	if ((line = line_read(lc, timeout_ms)) == NULL)
		return (NULL);
	msg = json_tokener_parse(line);
	cr_assert(msg != NULL && json_object_is_type(msg, json_type_object),
	    "line is not a JSON object: %s", line);
	v = json_path_str(msg, "jsonrpc");
	cr_assert(v != NULL && strcmp(v, "2.0") == 0,
	    "line is not JSON-RPC 2.0: %s", line);
	free(line);
	return (msg);
}

/*
 * The response with id (id < 0: a null id) within LINE_WAIT_MS; the
 * notifications before it are skipped, anything else fails.
 */
struct json_object *
line_expect_response(struct lineconn *lc, int64_t id)
{
	struct json_object	*msg;
	uint64_t		 deadline = now_ms() + LINE_WAIT_MS;
	int64_t			 left;

	for (;;) {
		left = (int64_t)(deadline - now_ms());
		cr_assert_gt(left, 0, "no response with id %lld in %d ms",
		    (long long)id, LINE_WAIT_MS);
		msg = line_expect_msg(lc, (int)left);
		cr_assert_not_null(msg, "%s waiting for id %lld", lc->eof ?
		    "end of input" : "silence", (long long)id);
		if (rpc_id_is(msg, id))
			return (msg);
		cr_assert_null(json_path(msg, "id"), "response with an "
		    "unexpected id: %s", json_object_to_json_string(msg));
		cr_assert_not_null(json_path_str(msg, "method"),
		    "unexpected message: %s", json_object_to_json_string(msg));
		json_object_put(msg);
	}
}

/*
 * The next message that is not a notification (owned), within
 * LINE_WAIT_MS: an answer whatever its id, for requests too broken to
 * have one for sure.  Notifications (the mesh may send one any time,
 * tools/list_changed say) are skipped.
 */
struct json_object *
line_expect_answer(struct lineconn *lc)
{
	struct json_object	*msg;
	uint64_t		 deadline = now_ms() + LINE_WAIT_MS;
	int64_t			 left;

	for (;;) {
		left = (int64_t)(deadline - now_ms());
		cr_assert_gt(left, 0, "no answer in %d ms", LINE_WAIT_MS);
		msg = line_expect_msg(lc, (int)left);
		cr_assert_not_null(msg, "%s waiting for an answer", lc->eof ?
		    "end of input" : "silence");
		if (json_object_object_get_ex(msg, "id", NULL) ||
		    json_path_str(msg, "method") == NULL)
			return (msg);
		json_object_put(msg);
	}
}

/* Request method (params NULL: none) with id; its response (owned). */
struct json_object *
line_rpc(struct lineconn *lc, int64_t id, const char *method,
    const char *params)
{
	char	*req = rpc_text(id, method, params);

	line_expect_send(lc, req);
	free(req);
	return (line_expect_response(lc, id));
}

/*
 * initialize (MCP_VERSION) with id 0, then notifications/initialized: the
 * session a stdio client has before its first request.
 */
void
line_handshake(struct lineconn *lc)
{
	struct json_object	*r;

	r = line_rpc(lc, 0, "initialize", "{\"protocolVersion\":\""
	    MCP_VERSION "\",\"capabilities\":{},\"clientInfo\":{\"name\":"
	    "\"mesh-it\",\"version\":\"1\"}}");
	cr_assert_not_null(json_path(r, "result"), "initialize: %s",
	    json_object_to_json_string(r));
	json_object_put(r);
	line_expect_send(lc, "{\"jsonrpc\":\"2.0\","
	    "\"method\":\"notifications/initialized\"}");
}

/* --- calls ---------------------------------------------------------------- */

void
expect_text(struct mcp_client *c, const char *tool, const char *args,
    const char *want)
{
	struct http_resp	 r;
	const char		*text;
	int			 id = c->nextid++;

	mcp_call_id(c, id, tool, args, c->wait_ms, &r);
	cr_assert_eq(r.status, 200, "%s %s: curl %d, HTTP %ld, body %.500s",
	    tool, args, r.curlcode, r.status, r.body ? r.body : "");
	cr_assert(answer_id_is(&r, id), "%s %s: not the answer to id %d: "
	    "%.500s", tool, args, id, r.body ? r.body : "");
	cr_assert(!answer_is_error(&r), "%s %s: error: %.500s", tool, args,
	    r.body);
	text = tool_text(json_path(r.json, "result"));
	cr_assert(text != NULL && strcmp(text, want) == 0,
	    "%s %s: got %.500s, want \"%s\"", tool, args, r.body, want);
	http_resp_free(&r);
}

/* --- the fixture ---------------------------------------------------------- */

void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
}

static struct fixture_gw *
fixture_gatewayv(struct fixture *f, const char *name, va_list ap)
{
	struct fixture_gw	*g;
	const char		*argv[32], *arg;
	int			 n = 0;

	cr_assert_lt(f->ngw, FIXTURE_GATEWAYS_MAX, "more than %d gateways",
	    FIXTURE_GATEWAYS_MAX);
	while (n < 31 && (arg = va_arg(ap, const char *)) != NULL)
		argv[n++] = arg;
	argv[n] = NULL;
	g = &f->gw[f->ngw++];
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->proc = gateway_startv(name, &g->port, argv);
	cr_assert_not_null(g->proc, "gateway %s did not start", name);
	url_of(g->port, g->url, sizeof(g->url));
	return (g);
}

/* Gateway name, with the extra arguments (NULL-terminated). */
struct fixture_gw *
fixture_gateway(struct fixture *f, const char *name, ...)
{
	struct fixture_gw	*g;
	va_list			 ap;

	va_start(ap, name);
	g = fixture_gatewayv(f, name, ap);
	va_end(ap);
	return (g);
}

/* Gateway name, bridged as peer name (waited for). */
struct fixture_gw *
fixture_peer_gateway(struct fixture *f, const char *name, ...)
{
	struct fixture_gw	*g;
	va_list			 ap;

	va_start(ap, name);
	g = fixture_gatewayv(f, name, ap);
	va_end(ap);
	fixture_bridge(f, name, g->url, 1);
	return (g);
}

/* --bridge peer=url; wait: fixture_start waits until it is ready. */
void
fixture_bridge(struct fixture *f, const char *peer, const char *url,
    int wait)
{
	struct fixture_peer	*p;

	cr_assert_lt(f->npeers, FIXTURE_PEERS_MAX, "more than %d peers",
	    FIXTURE_PEERS_MAX);
	p = &f->peer[f->npeers++];
	snprintf(p->name, sizeof(p->name), "%s", peer);
	snprintf(p->spec, sizeof(p->spec), "%s=%s", peer, url);
	p->wait = wait;
}

/*
 * The mesh: --bridge for every peer, then the arguments (NULL-terminated);
 * every peer bridged with wait ready; a session (HTTP) or f->line (stdio).
 * FIXTURE_FAKE_WORKER: every worker is tests/fakeworker/fake-worker,
 * exec'd.
 */
void
fixture_start(struct fixture *f, int flags, ...)
{
	const char	*argv[2 * FIXTURE_PEERS_MAX + 32], *arg, *fw;
	va_list		 ap;
	int		 i, n = 0;

	cr_assert_null(f->mesh, "fixture_start: a mesh runs already");
	if (flags & FIXTURE_FAKE_WORKER) {
		fw = harness_bin("MESH_FAKE_WORKER_BIN");
		cr_assert_not_null(fw, "no fake worker (MESH_FAKE_WORKER_BIN)");
		argv[n++] = "--worker-exec";
		argv[n++] = "--worker-path";
		argv[n++] = fw;
	}
	for (i = 0; i < f->npeers; i++) {
		argv[n++] = "--bridge";
		argv[n++] = f->peer[i].spec;
	}
	va_start(ap, flags);
	while (n < (int)(sizeof(argv) / sizeof(*argv)) - 1 &&
	    (arg = va_arg(ap, const char *)) != NULL)
		argv[n++] = arg;
	va_end(ap);
	argv[n] = NULL;
	if (flags & FIXTURE_STDIO) {
		f->mesh = mesh_startv(NULL, argv);
		cr_assert_not_null(f->mesh, "mcp-mesh --stdio did not start");
		f->line = &f->mesh->io;
	} else {
		f->mesh = mesh_startv(&f->mport, argv);
		cr_assert_not_null(f->mesh, "mcp-mesh did not start listening");
		url_of(f->mport, f->murl, sizeof(f->murl));
	}
	for (i = 0; i < f->npeers; i++)
		if (f->peer[i].wait)
			cr_assert_eq(mesh_wait_peer(f->mesh, f->peer[i].name),
			    0, "peer %s never ready", f->peer[i].name);
	if (!(flags & FIXTURE_STDIO))
		cr_assert_eq(mcp_open(&f->c, f->murl), 0, "MCP session to %s "
		    "failed", f->murl);
}

/* Stop the mesh (its session closed first); it may be started again. */
void
fixture_stop_mesh(struct fixture *f)
{
	if (f->mesh == NULL)
		return;
	mcp_close(&f->c);
	proc_stop(f->mesh);
	f->mesh = NULL;
	f->line = NULL;
}

void
fixture_stop(struct fixture *f)
{
	int	 i;

	fixture_stop_mesh(f);
	for (i = f->ngw - 1; i >= 0; i--)
		proc_stop(f->gw[i].proc);
}
