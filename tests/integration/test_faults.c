/*
 * Fault isolation, end to end: one misbehaving gateway (every mode of
 * mcp-test-gateway), a dead or frozen worker, a gateway that goes away
 * and comes back, each while a healthy peer is being called at the same
 * time from another session.
 *
 * Every test checks the same contract: the client gets exactly one clear
 * answer (an isError result, or a JSON-RPC error, naming the peer) within
 * the deadline plus a margin; the healthy peer never sees one error; the
 * mesh lives on, and answers a normal call and mesh_node_info afterwards.
 */
#include <sys/types.h>

#include <pthread.h>
#include <regex.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#define T_TIMEOUT	60	/* seconds, any one test */
#define MESH_TIMEOUT_MS	2000	/* --timeout of the mesh */
#define MARGIN_MS	1500	/* answer may come this late */
#define HTTP_WAIT_MS	15000	/* client side: "no answer" beyond */
#define RECOVER_MS	10000	/* a peer serves again within */
#define BG_PAUSE_MS	5	/* between two calls of the background */
#define BG_UP_MS	5000	/* the background's first answer within */

/* The healthy peer, called in a loop from its own session. */
struct bg {
	char		 url[128];
	pthread_t	 thread;
	int		 running;
	atomic_int	 stop;
	atomic_int	 served;	/* a first call succeeded */
	long		 ok;
	long		 fail;
	uint64_t	 maxms;
	char		 firsterr[1024];
};

/* good (normal gateway), bad (--mode), the mesh bridging both. */
struct fx {
	struct fixture	 fx;
	struct fixture_gw *good, *bad;
	struct bg	 bg;
};

/*
 * The one answer to request id: HTTP 200, a JSON-RPC response with that
 * id, an error (isError or JSON-RPC) naming the peer, whose text has the
 * one phrase this failure produces (logtext.h), within max_ms.
 */
static void
expect_clear_error(const char *what, struct http_resp *r, int id,
    const char *peer, const char *want, uint64_t ms, uint64_t max_ms)
{
	const char	*text;
	char		 name[64];

	cr_assert_eq(r->curlcode, 0, "%s: no answer after %llu ms (curl %d): "
	    "want one error answer naming peer %s", what,
	    (unsigned long long)ms, r->curlcode, peer);
	cr_assert_eq(r->status, 200, "%s: HTTP %ld (want 200), body %.500s",
	    what, r->status, r->body ? r->body : "");
	cr_assert_not_null(r->json, "%s: body is not a JSON-RPC response: "
	    "%.500s", what, r->body ? r->body : "");
	cr_assert(answer_id_is(r, id), "%s: answer id is not %d: %.500s",
	    what, id, r->body);
	cr_assert(answer_is_error(r), "%s: want an error (isError or "
	    "JSON-RPC error), got %.500s", what, r->body);
	text = answer_text(r);
	snprintf(name, sizeof(name), "peer %s", peer);
	cr_assert(strstr(text, name) != NULL, "%s: the error does not name "
	    "\"%s\": %.500s", what, name, r->body);
	cr_assert(!cause_empty(text), "%s: the error's cause is empty: "
	    "\"%s\"", what, text);
	cr_assert(strstr(text, want) != NULL, "%s: the error does not give "
	    "the cause; want \"%s\" in \"%s\"", what, want, text);
	cr_assert_leq(ms, max_ms, "%s: answered after %llu ms, want at most "
	    "%llu ms: %.300s", what, (unsigned long long)ms,
	    (unsigned long long)max_ms, r->body);
	cr_log_info("%s: %llu ms: %s", what, (unsigned long long)ms, text);
}

/* --- the healthy peer, called all the time ------------------------------- */

/* One more failure of the background; the first one is kept. */
#define bg_failed(b, ...)						\
	do {								\
		(b)->fail++;						\
		first_err((b)->firsterr, sizeof((b)->firsterr),		\
		    __VA_ARGS__);					\
	} while (0)

static void *
bg_main(void *arg)
{
	struct bg		*b = arg;
	struct mcp_client	 c;
	struct http_resp	 r;
	char			 args[64], want[32];
	const char		*text;
	uint64_t		 ms;
	int			 id;

	if (mcp_open(&c, b->url) == -1) {
		bg_failed(b, "background: MCP session to %s failed", b->url);
		return (NULL);
	}
	while (!atomic_load(&b->stop)) {
		id = c.nextid++;
		snprintf(want, sizeof(want), "good %d", id);
		snprintf(args, sizeof(args), "{\"text\":\"%s\"}", want);
		ms = mcp_call_id(&c, id, "good_echo", args, HTTP_WAIT_MS, &r);
		if (ms > b->maxms)
			b->maxms = ms;
		text = tool_text(json_path(r.json, "result"));
		if (r.curlcode != 0 || r.status != 200 || r.json == NULL)
			bg_failed(b, "good_echo #%d: no answer after %llu ms "
			    "(curl %d, HTTP %ld): %.300s", id,
			    (unsigned long long)ms, r.curlcode, r.status,
			    r.body ? r.body : "");
		else if (!answer_id_is(&r, id) || answer_is_error(&r) ||
		    text == NULL || strcmp(text, want) != 0)
			bg_failed(b, "good_echo #%d after %llu ms: %.500s", id,
			    (unsigned long long)ms, r.body);
		else {
			b->ok++;
			atomic_store(&b->served, 1);
		}
		http_resp_free(&r);
		harness_msleep(BG_PAUSE_MS);
	}
	mcp_close(&c);
	return (NULL);
}

static void
bg_start(struct bg *b, const char *url)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->url, sizeof(b->url), "%s", url);
	atomic_store(&b->stop, 0);
	cr_assert_eq(pthread_create(&b->thread, NULL, bg_main, b), 0);
	b->running = 1;
}

/* Stop it; every call to good must have succeeded. */
static void
bg_check(struct bg *b)
{
	if (!b->running)
		return;
	atomic_store(&b->stop, 1);
	pthread_join(b->thread, NULL);
	b->running = 0;
	cr_log_info("good_echo in the background: %ld ok, %ld failed, "
	    "slowest %llu ms", b->ok, b->fail, (unsigned long long)b->maxms);
	cr_assert_eq(b->fail, 0, "the healthy peer failed %ld of %ld calls "
	    "while the other misbehaved; first: %s", b->fail, b->ok + b->fail,
	    b->firsterr);
	cr_assert_gt(b->ok, 0, "the healthy peer was never called");
}

/* --- set-up -------------------------------------------------------------- */

static void
fx_start(struct fx *f, const char *mode, int timeout_ms)
{
	char		 to[32];
	uint64_t	 t0;

	memset(f, 0, sizeof(*f));
	fixture_init(&f->fx);
	f->good = fixture_peer_gateway(&f->fx, "good", NULL);
	f->bad = fixture_peer_gateway(&f->fx, "bad", mode != NULL ? "--mode" :
	    NULL, mode, NULL);
	snprintf(to, sizeof(to), "%d", timeout_ms);
	harness_asan_small_quarantine();
	fixture_start(&f->fx, 0, "--timeout", to, NULL);
	f->fx.c.wait_ms = HTTP_WAIT_MS;
	bg_start(&f->bg, f->fx.murl);
	/* The background is up and running before the fault: one answer. */
	t0 = now_ms();
	while (!atomic_load(&f->bg.served) && now_ms() - t0 < BG_UP_MS)
		harness_msleep(BG_PAUSE_MS);
	if (!atomic_load(&f->bg.served))
		bg_check(&f->bg);	/* fails, saying why */
	cr_assert(atomic_load(&f->bg.served), "the background had no answer "
	    "within %d ms", BG_UP_MS);
}

/* The end of every test: mesh alive, good serving, node_info answering. */
static void
fx_finish(struct fx *f)
{
	struct json_object	*info, *p;
	const char		*state;

	bg_check(&f->bg);
	cr_assert(proc_alive(f->fx.mesh), "the mesh died (status 0x%x)",
	    f->fx.mesh->status);
	expect_text(&f->fx.c, "good_echo", "{\"text\":\"after\"}", "after");
	info = node_info(&f->fx.c);
	cr_assert_not_null(info, "mesh_node_info did not answer");
	p = node_peer(info, "good");
	state = json_path_str(p, "state");
	cr_assert(state != NULL && strcmp(state, "ready") == 0,
	    "peer good is not ready: %s", json_object_to_json_string(info));
	cr_assert_not_null(node_peer(info, "bad"),
	    "mesh_node_info lacks peer bad: %s",
	    json_object_to_json_string(info));
	json_object_put(info);
	cr_assert(proc_alive(f->fx.mesh), "the mesh died (status 0x%x)",
	    f->fx.mesh->status);
	fixture_stop(&f->fx);
}

/* The text of peer bad's error with this cause (a printf format). */
static const char *
bad_says(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *
bad_says(char *buf, size_t len, const char *fmt, ...)
{
	char	 cause[256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(cause, sizeof(cause), fmt, ap);
	va_end(ap);
	snprintf(buf, len, ANSWER_PEER_FAILED, "bad", cause);
	return (buf);
}

/*
 * The common case: f's bad gateway misbehaves on tools/call; call
 * bad_echo n times (one after the other), each must get one clear error
 * with the phrase want, in time.
 */
static void
fault_calls(struct fx *f, const char *mode, const char *want,
    uint64_t max_ms, int n)
{
	struct http_resp	 r;
	char			 what[64];
	uint64_t		 ms;
	int			 i, id;

	for (i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "--mode %s, bad_echo #%d", mode,
		    i + 1);
		id = f->fx.c.nextid++;
		ms = mcp_call_id(&f->fx.c, id, "bad_echo", "{\"text\":\"x\"}",
		    HTTP_WAIT_MS, &r);
		expect_clear_error(what, &r, id, "bad", want, ms, max_ms);
		http_resp_free(&r);
	}
}

/* The same for a cause that names no port: the whole test. */
static void
fault_case(const char *mode, const char *cause, uint64_t max_ms, int n)
{
	struct fx	 f;
	char		 want[512];

	fx_start(&f, mode, MESH_TIMEOUT_MS);
	fault_calls(&f, mode, bad_says(want, sizeof(want), "%s", cause),
	    max_ms, n);
	fx_finish(&f);
}

/* The supervisor's deadline for a call of tool on peer bad. */
static const char *
deadline_says(char *buf, size_t len, const char *tool)
{
	snprintf(buf, len, ANSWER_DEADLINE, "bad", tool, MESH_TIMEOUT_MS);
	return (buf);
}

/* --- one test per gateway mode ------------------------------------------ */

MESH_TEST(faults, hang, .timeout = T_TIMEOUT)
{
	struct fx		 f;
	struct http_resp	 r;
	char			 want[256];
	uint64_t		 ms;
	int			 id;

	fx_start(&f, "hang", MESH_TIMEOUT_MS);
	id = f.fx.c.nextid++;
	ms = mcp_call_id(&f.fx.c, id, "bad_echo", "{\"text\":\"x\"}",
	    HTTP_WAIT_MS, &r);
	expect_clear_error("--mode hang, bad_echo", &r, id, "bad",
	    deadline_says(want, sizeof(want), "bad_echo"), ms,
	    MESH_TIMEOUT_MS + MARGIN_MS);
	cr_assert_geq(ms + 100, MESH_TIMEOUT_MS, "timed out after %llu ms, "
	    "before the deadline of %d ms", (unsigned long long)ms,
	    MESH_TIMEOUT_MS);
	http_resp_free(&r);
	/* Again: a cancelled call leaves nothing behind that blocks. */
	id = f.fx.c.nextid++;
	ms = mcp_call_id(&f.fx.c, id, "bad_slow", "{\"ms\":1}", HTTP_WAIT_MS,
	    &r);
	expect_clear_error("--mode hang, bad_slow", &r, id, "bad",
	    deadline_says(want, sizeof(want), "bad_slow"), ms,
	    MESH_TIMEOUT_MS + MARGIN_MS);
	http_resp_free(&r);
	fx_finish(&f);
}

MESH_TEST(faults, trickle, .timeout = T_TIMEOUT)
{
	enum { N = 20 };
	struct fx		 f;
	struct mcp_client	 cl[N];
	struct http_req		 q[N];
	struct http_resp	 r[N];
	struct mcp_hdrbuf	 hb[N];
	char			*body[N], what[64], want[256];
	pid_t			 wpid;
	long			 m0, m1, w0, w1;
	uint64_t		 t0, ms;
	int			 i, round;

	fx_start(&f, "trickle", MESH_TIMEOUT_MS);
	wpid = peer_pid(&f.fx.c, "bad");
	cr_assert_gt(wpid, 0, "no pid for the worker of bad");
	m0 = proc_rss_kb(f.fx.mesh->pid);
	w0 = proc_rss_kb(wpid);
	for (i = 0; i < N; i++)
		cr_assert_eq(mcp_open(&cl[i], f.fx.murl), 0);
	/* N trickled answers at once, twice. */
	for (round = 0; round < 2; round++) {
		for (i = 0; i < N; i++)
			body[i] = mcp_tool_req(&cl[i], &q[i], &hb[i], 100 + i,
			    "bad_echo", "{\"text\":\"t\"}", HTTP_WAIT_MS);
		t0 = now_ms();
		http_perform(q, r, N);
		ms = now_ms() - t0;
		for (i = 0; i < N; i++) {
			snprintf(what, sizeof(what), "--mode trickle, round "
			    "%d, call %d", round + 1, i);
			expect_clear_error(what, &r[i], 100 + i, "bad",
			    deadline_says(want, sizeof(want), "bad_echo"), ms,
			    MESH_TIMEOUT_MS + MARGIN_MS);
			http_resp_free(&r[i]);
			free(body[i]);
		}
	}
	for (i = 0; i < N; i++)
		mcp_close(&cl[i]);
	m1 = proc_rss_kb(f.fx.mesh->pid);
	w1 = proc_rss_kb(wpid);
	cr_log_info("trickle: mesh VmRSS %ld -> %ld kB, worker %ld -> %ld kB",
	    m0, m1, w0, w1);
	cr_assert(m0 > 0 && m1 > 0 && w0 > 0 && w1 > 0,
	    "VmRSS unreadable (mesh %ld %ld, worker %ld %ld); worker died?",
	    m0, m1, w0, w1);
	cr_assert_lt(m1 - m0, proc_rss_slack_kb(f.fx.mesh->pid), "mesh VmRSS "
	    "grew from %ld to %ld kB over %d trickled calls", m0, m1, 2 * N);
	cr_assert_lt(w1 - w0, proc_rss_slack_kb(wpid), "worker VmRSS grew from "
	    "%ld to %ld kB over %d trickled calls", w0, w1, 2 * N);
	/* The worker was not killed for it: a timeout is not a crash. */
	cr_assert_eq(peer_pid(&f.fx.c, "bad"), wpid,
	    "the worker of bad changed over timeouts");
	fx_finish(&f);
}

MESH_TEST(faults, garbage, .timeout = T_TIMEOUT)
{
	/* "this is {not ...": json-c's words for the 't' of "this". */
	fault_case("garbage", ANSWER_INVALID_JSONRPC WHY_NOT_JSON
	    "boolean expected", MESH_TIMEOUT_MS, 3);
}

MESH_TEST(faults, not_jsonrpc, .timeout = T_TIMEOUT)
{
	fault_case("not-jsonrpc", ANSWER_INVALID_JSONRPC WHY_NOT_JSONRPC_2,
	    MESH_TIMEOUT_MS, 3);
}

MESH_TEST(faults, wrong_id, .timeout = T_TIMEOUT)
{
	fault_case("wrong-id", ANSWER_WRONG_ID, MESH_TIMEOUT_MS, 3);
}

MESH_TEST(faults, deep, .timeout = T_TIMEOUT)
{
	fault_case("deep", ANSWER_INVALID_JSONRPC WHY_TOO_DEEP,
	    MESH_TIMEOUT_MS, 3);
}

MESH_TEST(faults, bad_utf8, .timeout = T_TIMEOUT)
{
	fault_case("bad-utf8", ANSWER_INVALID_JSONRPC WHY_BAD_UTF8,
	    MESH_TIMEOUT_MS, 3);
}

MESH_TEST(faults, sse_garbage, .timeout = T_TIMEOUT)
{
	/*
	 * The first event's data, "{not json", refused (json-c's words):
	 * the lines that are not fields before it were skipped.
	 */
	fault_case("sse-garbage", ANSWER_INVALID_JSONRPC WHY_NOT_JSON
	    "quoted object property name expected", MESH_TIMEOUT_MS, 3);
}

MESH_TEST(faults, http500, .timeout = T_TIMEOUT)
{
	struct fx	 f;
	char		 want[512];

	/* The status, the URL, and the start of the body, quoted. */
	fx_start(&f, "http500", MESH_TIMEOUT_MS);
	bad_says(want, sizeof(want), ANSWER_HTTP_STATUS "<html><head><title>"
	    "500 Internal Server Error</title>", 500, f.bad->url);
	fault_calls(&f, "http500", want, MESH_TIMEOUT_MS, 3);
	fx_finish(&f);
}

MESH_TEST(faults, huge, .timeout = T_TIMEOUT)
{
	struct fx	 f;
	char		 want[256];

	/* A size error, not a timeout: well before the deadline. */
	fx_start(&f, "huge", MESH_TIMEOUT_MS);
	bad_says(want, sizeof(want), ANSWER_TOO_LARGE, UPSTREAM_RESPONSE_MAX);
	fault_calls(&f, "huge", want, MESH_TIMEOUT_MS - 1, 2);
	fx_finish(&f);
}

MESH_TEST(faults, reset, .timeout = T_TIMEOUT)
{
	struct fx	 f;
	char		 want[256];

	/* libcurl's words for a body shorter than its Content-Length. */
	fx_start(&f, "reset", MESH_TIMEOUT_MS);
	bad_says(want, sizeof(want), ANSWER_CURL, f.bad->url,
	    "transfer closed with ");
	fault_calls(&f, "reset", want, MESH_TIMEOUT_MS, 3);
	fx_finish(&f);
}

MESH_TEST(faults, flood, .timeout = T_TIMEOUT)
{
	struct fx		 f;
	struct http_resp	 r;
	const char		*text;
	char			 what[64];
	uint64_t		 ms;
	int			 i, id;

	fx_start(&f, "flood", MESH_TIMEOUT_MS);
	for (i = 0; i < 3; i++) {
		snprintf(what, sizeof(what), "--mode flood, bad_echo #%d",
		    i + 1);
		id = f.fx.c.nextid++;
		ms = mcp_call_id(&f.fx.c, id, "bad_echo", "{\"text\":\"x\"}",
		    HTTP_WAIT_MS, &r);
		cr_assert_eq(r.curlcode, 0, "%s: no answer after %llu ms "
		    "(curl %d)", what, (unsigned long long)ms, r.curlcode);
		cr_assert_eq(r.status, 200, "%s: HTTP %ld: %.500s", what,
		    r.status, r.body ? r.body : "");
		cr_assert(answer_id_is(&r, id), "%s: bad answer: %.500s",
		    what, r.body ? r.body : "");
		text = answer_text(&r);
		if (answer_is_error(&r))
			cr_assert(strstr(text, "peer bad") != NULL,
			    "%s: the error does not name peer bad: %.500s",
			    what, r.body);
		else
			cr_assert_str_eq(text, "after the flood",
			    "%s: %.500s", what, r.body);
		cr_assert_leq(ms, MESH_TIMEOUT_MS + MARGIN_MS,
		    "%s: answered after %llu ms", what,
		    (unsigned long long)ms);
		cr_log_info("%s: %llu ms: %s", what, (unsigned long long)ms,
		    text);
		http_resp_free(&r);
		/* The mesh itself is responsive meanwhile. */
		expect_text(&f.fx.c, "good_add", "{\"a\":1,\"b\":2}", "3");
	}
	fx_finish(&f);
}

MESH_TEST(faults, bad_tools, .timeout = T_TIMEOUT)
{
	static const char *const want[] = {
		"good_echo", "good_add", "good_slow", "good_fail",
		"bad_echo", "bad_add", "bad_dup", "bad_bulk_0000",
		"bad_bulk_4999", "mesh_node_info", NULL
	};
	struct fx		 f;
	struct json_object	*tools, *seen;
	const char		*name;
	regex_t			 re;
	size_t			 i, n;
	int			 dup = 0;

	fx_start(&f, "bad-tools", MESH_TIMEOUT_MS);
	cr_assert_eq(regcomp(&re, "^[A-Za-z0-9_-]{1,64}$", REG_EXTENDED |
	    REG_NOSUB), 0);
	tools = mcp_list_tools(&f.fx.c);
	cr_assert_not_null(tools, "tools/list failed");
	n = json_object_array_length(tools);
	seen = json_object_new_object();
	for (i = 0; i < n; i++) {
		name = json_path_str(json_object_array_get_idx(tools, i),
		    "name");
		cr_assert_not_null(name, "tool %zu has no name: %s", i,
		    json_object_to_json_string(
		    json_object_array_get_idx(tools, i)));
		cr_assert_eq(regexec(&re, name, 0, NULL, 0), 0,
		    "tools/list has an invalid name \"%s\"", name);
		cr_assert(!json_object_object_get_ex(seen, name, NULL),
		    "tools/list has \"%s\" twice", name);
		json_object_object_add(seen, name, NULL);
		if (strncmp(name, "bad_dup", 7) == 0)
			dup++;
	}
	regfree(&re);
	json_object_put(seen);
	for (i = 0; want[i] != NULL; i++)
		cr_assert(tools_has(tools, want[i]), "tools/list lacks %s",
		    want[i]);
	cr_assert_eq(dup, 1, "the two tools named dup gave %d exposed tools",
	    dup);
	/* 10 tools of bad with a broken name, 5,000 bulk, the built-ins. */
	cr_assert_geq(n, 5000 + 4 + 4, "only %zu tools listed", n);
	cr_log_info("bad-tools: %zu tools listed, every name valid and unique",
	    n);
	json_object_put(tools);
	expect_text(&f.fx.c, "bad_echo", "{\"text\":\"still\"}", "still");
	expect_text(&f.fx.c, "good_echo", "{\"text\":\"fine\"}", "fine");
	fx_finish(&f);
}

/* --- processes dying ------------------------------------------------------ */

/* The gateway of bad exits, comes back on the same port later. */
MESH_TEST(faults, gateway_restart_same_port, .timeout = T_TIMEOUT)
{
	struct fx		 f;
	struct http_resp	 r;
	struct proc		*again = NULL;
	char			 port[16], what[64], want[256];
	uint64_t		 ms;
	int64_t			 back;
	int			 i, id, tries, nport = -1;

	fx_start(&f, NULL, MESH_TIMEOUT_MS);
	expect_text(&f.fx.c, "bad_echo", "{\"text\":\"before\"}", "before");
	kill(f.bad->proc->pid, SIGKILL);
	cr_assert_eq(proc_wait_exit(f.bad->proc, 5000), 0,
	    "gateway bad lives on");
	bad_says(want, sizeof(want), ANSWER_CONNECT, f.bad->url,
	    strerror(ECONNREFUSED));
	for (i = 0; i < 5; i++) {
		snprintf(what, sizeof(what), "gateway bad down, bad_echo #%d",
		    i + 1);
		id = f.fx.c.nextid++;
		ms = mcp_call_id(&f.fx.c, id, "bad_echo", "{\"text\":\"x\"}",
		    HTTP_WAIT_MS, &r);
		expect_clear_error(what, &r, id, "bad", want, ms,
		    MESH_TIMEOUT_MS + MARGIN_MS);
		http_resp_free(&r);
		/* Not a wait for anything: the calls span the outage. */
		harness_msleep(250);
	}
	snprintf(port, sizeof(port), "%d", f.bad->port);
	/* The later --port wins over the harness's --port 0. */
	for (tries = 0; again == NULL && tries < 20; tries++) {
		again = gateway_start("bad-again", &nport, "--port", port,
		    NULL);
		if (again == NULL)
			harness_msleep(250);
	}
	cr_assert_not_null(again, "gateway bad could not listen on port %s "
	    "again", port);
	cr_assert_eq(nport, f.bad->port, "gateway bad came back on %d, not %d",
	    nport, f.bad->port);
	back = wait_echo(&f.fx.c, "bad_echo", "back", RECOVER_MS);
	cr_assert_geq(back, 0, "peer bad did not serve again within %d ms of "
	    "its gateway coming back on the same port", RECOVER_MS);
	cr_log_info("gateway back: bad_echo served again after %lld ms",
	    (long long)back);
	expect_text(&f.fx.c, "bad_add", "{\"a\":40,\"b\":2}", "42");
	fx_finish(&f);
}

struct slowcall {
	char		 url[128];
	struct http_resp r;
	int		 id;
	uint64_t	 done;		/* when answered (monotonic ms) */
	uint64_t	 ms;
	int		 opened;
};

static void *
slow_main(void *arg)
{
	struct slowcall		*s = arg;
	struct mcp_client	 c;

	if (mcp_open(&c, s->url) == -1) {
		s->opened = -1;
		return (NULL);
	}
	s->opened = 1;
	s->id = c.nextid++;
	s->ms = mcp_call_id(&c, s->id, "bad_slow", "{\"ms\":3000}", HTTP_WAIT_MS,
	    &s->r);
	s->done = now_ms();
	mcp_close(&c);
	return (NULL);
}

/* Wait until peer has n calls in flight (node_info), up to ms. */
static int
wait_inflight(struct mcp_client *c, const char *peer, int n, int ms)
{
	struct json_object	*info;
	int64_t			 v = -1;
	uint64_t		 t0 = now_ms();

	while (now_ms() - t0 < (uint64_t)ms) {
		if ((info = node_info(c)) != NULL) {
			v = -1;
			json_path_int(node_peer(info, peer), "inflight", &v);
			json_object_put(info);
			if (v >= n)
				return (0);
		}
		harness_msleep(20);
	}
	return (-1);
}

/*
 * BURST calls of tool at once in session c, each answered: a success
 * echoing "burst", or an error naming peer with a cause.  For the
 * moments right after a worker's death.
 */
#define BURST	16
static void
expect_burst(struct mcp_client *c, const char *tool, const char *peer,
    const char *what, int *nerr)
{
	struct http_req		 q[BURST];
	struct http_resp	 r[BURST];
	struct mcp_hdrbuf	 hb[BURST];
	char			*body[BURST], name[64];
	const char		*text;
	int			 i, base = c->nextid;

	c->nextid += BURST;
	for (i = 0; i < BURST; i++)
		body[i] = mcp_tool_req(c, &q[i], &hb[i], base + i, tool,
		    "{\"text\":\"burst\"}", HTTP_WAIT_MS);
	http_perform(q, r, BURST);
	snprintf(name, sizeof(name), "peer %s", peer);
	for (i = 0; i < BURST; i++) {
		cr_assert(r[i].curlcode == 0 && r[i].status == 200 &&
		    answer_id_is(&r[i], base + i), "%s, call %d: no answer "
		    "(curl %d, HTTP %ld): %.300s", what, i, r[i].curlcode,
		    r[i].status, r[i].body ? r[i].body : "");
		text = answer_text(&r[i]);
		if (answer_is_error(&r[i])) {
			(*nerr)++;
			cr_assert(strstr(text, name) != NULL, "%s, call %d: "
			    "the error does not name \"%s\": %.300s", what, i,
			    name, r[i].body);
			cr_assert(!cause_empty(text), "%s, call %d: the "
			    "error's cause is empty: \"%s\"", what, i, text);
		} else
			cr_assert_str_eq(text, "burst", "%s, call %d: %.300s",
			    what, i, r[i].body);
		http_resp_free(&r[i]);
		free(body[i]);
	}
}

MESH_TEST(faults, worker_sigkill, .timeout = T_TIMEOUT)
{
	struct fx		 f;
	struct slowcall		 s;
	struct json_object	*info;
	pthread_t		 th;
	pid_t			 wpid, npid;
	char			 needle[96], want[128], *line;
	uint64_t		 tkill;
	int64_t			 back, restarts = -1;
	int			 nerr = 0;

	/* The slow call would finish well inside this deadline. */
	fx_start(&f, NULL, 8000);
	wpid = peer_pid(&f.fx.c, "bad");
	cr_assert_gt(wpid, 0, "no worker pid for peer bad in mesh_node_info");
	cr_assert(mesh_is_worker(f.fx.mesh->pid, wpid), "pid %d is not an "
	    "mcp-mesh-worker child of the mesh", (int)wpid);
	memset(&s, 0, sizeof(s));
	snprintf(s.url, sizeof(s.url), "%s", f.fx.murl);
	cr_assert_eq(pthread_create(&th, NULL, slow_main, &s), 0);
	cr_assert_eq(wait_inflight(&f.fx.c, "bad", 1, 3000), 0,
	    "bad_slow never in flight on peer bad");
	tkill = now_ms();
	cr_assert_eq(kill(wpid, SIGKILL), 0);
	/* Calls arriving while the mesh learns of the death. */
	expect_burst(&f.fx.c, "bad_echo", "bad", "bad_echo right after the "
	    "worker's SIGKILL", &nerr);
	pthread_join(th, NULL);
	/* And once the in-flight call was answered (the socket's EOF). */
	expect_burst(&f.fx.c, "bad_echo", "bad", "bad_echo after the in-flight "
	    "call was answered", &nerr);
	cr_assert_eq(s.opened, 1, "MCP session for the slow call failed");
	/*
	 * The worker died under the call.  Its cause is the first thing the
	 * mesh met: the socket's EOF ("its worker stopped"), or, when a call
	 * of the burst came first, "write to worker: Broken pipe".
	 */
	snprintf(want, sizeof(want), ANSWER_FAILED_DURING, "bad", "bad_slow",
	    "");
	expect_clear_error("bad_slow ms=3000 in flight, worker SIGKILLed",
	    &s.r, s.id, "bad", want, s.done - tkill, 1000);
	cr_assert_gt(nerr, 0, "a burst right after the kill met no dead "
	    "worker");
	cr_log_info("in-flight call answered %llu ms after the kill "
	    "(%llu ms after it was sent)",
	    (unsigned long long)(s.done - tkill), (unsigned long long)s.ms);
	http_resp_free(&s.r);
	snprintf(needle, sizeof(needle), LOG_WORKER_EXITED
	    LOG_KILLED_BY_SIGKILL, "bad", (int)wpid);
	line = proc_wait_log(f.fx.mesh, needle, 5000);
	cr_assert_not_null(line, "the mesh did not log \"%s\"", needle);
	free(line);
	back = wait_echo(&f.fx.c, "bad_echo", "again", RECOVER_MS);
	cr_assert_geq(back, 0, "peer bad did not serve again within %d ms "
	    "of its worker's death", RECOVER_MS);
	cr_log_info("worker SIGKILL: bad_echo served again %lld ms after "
	    "the answer", (long long)back);
	npid = peer_pid(&f.fx.c, "bad");
	cr_assert(npid > 0 && npid != wpid, "peer bad: worker pid %d after "
	    "restart (was %d)", (int)npid, (int)wpid);
	cr_assert(mesh_is_worker(f.fx.mesh->pid, npid), "new pid %d is not a "
	    "worker of the mesh", (int)npid);
	info = node_info(&f.fx.c);
	json_path_int(node_peer(info, "bad"), "restarts", &restarts);
	cr_assert_geq(restarts, 1, "mesh_node_info: restarts of bad: %s",
	    json_object_to_json_string(info));
	json_object_put(info);
	fx_finish(&f);
}

/*
 * A frozen worker: calls time out, and the liveness ping kills it after
 * WORKER_PING_TIMEOUT_MS (plus up to one WORKER_PING_INTERVAL_MS).
 */
MESH_TEST(faults, worker_sigstop, .timeout = 90)
{
	struct fx		 f;
	struct http_resp	 r;
	pid_t			 wpid, npid;
	char			 needle[160], want[256], *line;
	uint64_t		 tstop, ms, killed;
	int64_t			 back;
	int			 id;

	fx_start(&f, NULL, MESH_TIMEOUT_MS);
	wpid = peer_pid(&f.fx.c, "bad");
	cr_assert_gt(wpid, 0, "no worker pid for peer bad");
	cr_assert(mesh_is_worker(f.fx.mesh->pid, wpid), "pid %d is not a "
	    "worker", (int)wpid);
	tstop = now_ms();
	cr_assert_eq(kill(wpid, SIGSTOP), 0);
	id = f.fx.c.nextid++;
	ms = mcp_call_id(&f.fx.c, id, "bad_echo", "{\"text\":\"frozen\"}",
	    HTTP_WAIT_MS, &r);
	expect_clear_error("worker SIGSTOPped, bad_echo", &r, id, "bad",
	    deadline_says(want, sizeof(want), "bad_echo"), ms,
	    MESH_TIMEOUT_MS + MARGIN_MS);
	http_resp_free(&r);
	snprintf(needle, sizeof(needle), LOG_WORKER_EXITED
	    LOG_KILLED_BY_SIGKILL ": " LOG_PING_MISSED, "bad", (int)wpid,
	    WORKER_PING_TIMEOUT_MS);
	/* Waits past the bound to see when it happens, if ever. */
	line = proc_wait_log(f.fx.mesh, needle, 2 * WORKER_PING_INTERVAL_MS +
	    WORKER_PING_TIMEOUT_MS + 5000);
	killed = now_ms() - tstop;
	if (line == NULL)
		kill(wpid, SIGCONT);
	cr_assert_not_null(line, "a stopped worker was not killed after %llu "
	    "ms (ping interval %d ms, timeout %d ms): no \"%s\"",
	    (unsigned long long)killed, WORKER_PING_INTERVAL_MS,
	    WORKER_PING_TIMEOUT_MS, needle);
	cr_log_info("worker SIGSTOP: %s, %llu ms after the stop", line,
	    (unsigned long long)killed);
	free(line);
	cr_assert(pid_gone(wpid, 2000), "worker %d still runs", (int)wpid);
	back = wait_echo(&f.fx.c, "bad_echo", "again", RECOVER_MS);
	cr_assert_geq(back, 0, "peer bad did not serve again within %d ms "
	    "of its frozen worker's death", RECOVER_MS);
	npid = peer_pid(&f.fx.c, "bad");
	cr_assert(npid > 0 && npid != wpid, "peer bad: pid %d after restart "
	    "(was %d)", (int)npid, (int)wpid);
	fx_finish(&f);
	/*
	 * The next PING goes out at most one interval after the freeze; no
	 * PONG within the ping timeout of it means killed.
	 */
	cr_assert_leq(killed, WORKER_PING_INTERVAL_MS +
	    WORKER_PING_TIMEOUT_MS + MARGIN_MS, "a stopped worker was killed "
	    "%llu ms after it froze; want at most %d ms (a PING every %d ms, "
	    "killed %d ms after an unanswered one)",
	    (unsigned long long)killed, WORKER_PING_INTERVAL_MS +
	    WORKER_PING_TIMEOUT_MS + MARGIN_MS, WORKER_PING_INTERVAL_MS,
	    WORKER_PING_TIMEOUT_MS);
}
