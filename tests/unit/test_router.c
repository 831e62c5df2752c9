/*
 * Calls routed to a peer (router.c, call.c), through the real worker.c
 * over a real socketpair: the test plays the worker (HELLO, CONFIG,
 * READY, then REQUEST frames answered as it likes) with common/msg.c,
 * and runs the supervisor's loop in between.  The worker's process is a
 * child that only sleeps.
 *
 * Covered, with the exact texts: mesh ids unique and increasing per
 * peer, the client's id put back byte for byte (strings, integers, the
 * int64 edge); the canonical fast path and the slow path; exactly one
 * answer (a second dropped, one for an id never issued kills the worker,
 * a late one dropped quietly); deadlines (an isError result naming the
 * peer, MSG_CANCEL upstream); progress extending the deadline up to the
 * ceiling; progress tokens replaced by the mesh id and restored;
 * call_cancel(), call_abandon(), origin_end(); CALLFAIL; the worker's
 * socket closing; busy refusals (PEER_INFLIGHT_MAX, CLIENT_INFLIGHT_MAX,
 * the queue toward the worker and its reserve for small calls); calls
 * to a peer still starting, refused or parked; lies the router catches
 * counting toward FAILED like those the dispatch table catches.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>

#include "log.h"
#include "mesh-proto.h"
#include "supervisor/mesh.h"
#include "xmalloc.h"

/* The supervisor's globals, as mcp-mesh.c has them. */
struct event_base	*ev_base;
struct mesh_config	 conf;

#define READY_JSON	"{\"protocolVersion\":\"2025-06-18\",\"serverInfo\":{}," \
			"\"capabilities\":{},\"tools\":[{\"name\":\"echo\"," \
			"\"inputSchema\":{\"type\":\"object\"}}]}"
#define WAIT_MS		3000	/* for what should happen at once */
/* libevent's clock is coarse: a timer may fire this much early. */
#define CLOCK_SLACK_MS	10

static struct peer	*p;
static pid_t		 child = -1;
static int		 wfd = -1;	/* the fake worker's end */
static struct msgbuf	 wmb;
static struct origin	 o, o2;

/* What the reply operations of one call saw. */
#define REC_MSGS	8
struct rec {
	int	 nmsgs;
	char	*msgs[REC_MSGS];
	int	 answers;	/* answer() calls, cancellations included */
	int	 cancelled;	/* answer(NULL) */
	char	*answer;	/* the first */
	size_t	 len;
};
#define RECS		(PEER_INFLIGHT_MAX + 64)
static struct rec	 recs[RECS];
static int		 nrecs;

/* Warnings the supervisor logged (what "quietly" means). */
static int		 nwarnings;
static char		 lastwarn[1024];

/* One frame the supervisor sent the fake worker. */
struct frame {
	uint16_t	 type;
	uint64_t	 id;
	char		*data;		/* NUL-terminated copy */
	size_t		 len;
};

/* --- the fixture --------------------------------------------------------- */

static void
log_capture(int level, const char *line)
{
	if (level <= LOG_LVL_WARNING) {
		nwarnings++;
		strlcpy(lastwarn, line, sizeof(lastwarn));
	}
	fprintf(stderr, "mcp-mesh: %s\n", line);
}

static struct rec *
rec_new(void)
{
	cr_assert_lt(nrecs, RECS);
	return (&recs[nrecs++]);
}

static void
rec_message(void *arg, const char *json, size_t len)
{
	struct rec	*r = arg;

	cr_assert_eq(strlen(json), len);
	if (r->nmsgs < REC_MSGS)
		r->msgs[r->nmsgs] = xstrndup(json, len);
	r->nmsgs++;
}

static void
rec_answer(void *arg, char *json, size_t len)
{
	struct rec	*r = arg;

	if (r->answers++ != 0) {
		free(json);
		return;
	}
	if (json == NULL) {
		r->cancelled = 1;
		return;
	}
	cr_assert_eq(strlen(json), len);
	r->answer = json;
	r->len = len;
}

static const struct reply_ops rec_ops = { rec_message, rec_answer };

static void
loop_once(void)
{
	event_base_loop(ev_base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/* Run the supervisor's loop until cond holds; fail after ms. */
#define PUMP_UNTIL(cond, ms) do {					\
	uint64_t	end_ = now_ms() + (ms);				\
									\
	for (;;) {							\
		loop_once();						\
		if (cond)						\
			break;						\
		cr_assert_lt(now_ms(), end_, "waited %d ms for %s",	\
		    (int)(ms), #cond);					\
		usleep(500);						\
	}								\
} while (0)

/* Run the supervisor's loop for ms. */
static void
pump(int ms)
{
	uint64_t	end = now_ms() + ms;

	do {
		loop_once();
		usleep(500);
	} while (now_ms() < end);
}

static void
wsend(uint16_t type, uint64_t id, const char *fmt, ...)
{
	va_list	 ap;
	char	*s = NULL;
	int	 len = 0;

	if (fmt != NULL) {
		va_start(ap, fmt);
		len = vasprintf(&s, fmt, ap);
		va_end(ap);
		cr_assert_geq(len, 0);
	}
	cr_assert_eq(msg_compose(&wmb, type, 0, id, s, len), 0);
	cr_assert_eq(msg_send_blocking(&wmb), 0);
	free(s);
}

static void
frame_free(struct frame *f)
{
	free(f->data);
	f->data = NULL;
}

/*
 * The next frame from the supervisor, its loop running meanwhile (pings
 * are answered here).  1 with a frame, 0 on EOF, -1 when ms passed.
 */
static int
wrecv(struct frame *f, int ms)
{
	struct msg	m;
	uint64_t	end = now_ms() + ms;
	long		n;
	int		r;

	for (;;) {
		if ((r = msg_get(&wmb, &m)) == 1) {
			if (m.hdr.type == MSG_PING) {
				wsend(MSG_PONG, m.hdr.id, NULL);
				continue;
			}
			f->type = m.hdr.type;
			f->id = m.hdr.id;
			f->len = m.hdr.len;
			f->data = xstrndup(m.data ? m.data : "", m.hdr.len);
			return (1);
		}
		cr_assert_eq(r, 0, "malformed frame from the supervisor");
		if ((n = msg_read(&wmb)) == 0)
			return (0);
		if (n > 0)
			continue;
		if (now_ms() >= end)
			return (-1);
		loop_once();
		usleep(500);
	}
}

/* The next frame must be of this type (and id, unless 0). */
static void
expect(struct frame *f, uint16_t type, uint64_t id)
{
	cr_assert_eq(wrecv(f, WAIT_MS), 1, "no frame of type %u", type);
	cr_assert_eq(f->type, type, "frame of type %u, want %u: %s", f->type,
	    type, f->data);
	if (id != 0)
		cr_assert_eq(f->id, id, "frame for %llu, want %llu",
		    (unsigned long long)f->id, (unsigned long long)id);
}

/* Nothing comes for ms. */
static void
expect_nothing(int ms)
{
	struct frame	f;

	if (wrecv(&f, ms) == 1)
		cr_assert_fail("unexpected frame of type %u for %llu: %s",
		    f.type, (unsigned long long)f.id, f.data);
}

/* A REQUEST for mesh id id; its text is returned (free it). */
static char *
expect_request(uint64_t id)
{
	struct frame	f;

	expect(&f, MSG_REQUEST, id);
	return (f.data);
}

static void
expect_cancel(uint64_t id)
{
	struct frame	f;

	expect(&f, MSG_CANCEL, id);
	cr_assert_eq(f.len, 0);
	frame_free(&f);
}

static void
handshake(void)
{
	struct frame		 f;
	struct json_object	*cfg, *v;

	wsend(MSG_HELLO, 0, "{\"version\":%d,\"pid\":%d}", MESH_PROTO_VERSION,
	    (int)child);
	expect(&f, MSG_CONFIG, 0);
	cfg = json_tokener_parse(f.data);
	cr_assert_not_null(cfg, "CONFIG is not JSON: %s", f.data);
	cr_assert(json_object_object_get_ex(cfg, "name", &v));
	cr_assert_str_eq(json_object_get_string(v), "t");
	cr_assert(json_object_object_get_ex(cfg, "url", &v));
	cr_assert_str_eq(json_object_get_string(v), "http://127.0.0.1:9/mcp");
	cr_assert(json_object_object_get_ex(cfg, "request_timeout_ms", &v));
	cr_assert_eq(json_object_get_int64(v), 60000);
	json_object_put(cfg);
	frame_free(&f);
	wsend(MSG_READY, 0, READY_JSON);
	PUMP_UNTIL(peer_ready(p), WAIT_MS);
}

static void
setup_starting(void)
{
	struct bridge_spec	b;
	int			sv[2];

	signal(SIGPIPE, SIG_IGN);
	log_sethook(log_capture);
	ev_base = event_base_new();
	cr_assert_not_null(ev_base);
	/* Nothing is ever spawned: a restart would need this. */
	strlcpy(conf.worker_path, "/nonexistent", sizeof(conf.worker_path));
	conf.failed_retry_ms = WORKER_FAILED_RETRY_MS;
	toolmap_init();

	memset(&b, 0, sizeof(b));
	strlcpy(b.name, "t", sizeof(b.name));
	strlcpy(b.url, "http://127.0.0.1:9/mcp", sizeof(b.url));
	b.timeout_ms = 60000;
	b.response_max = UPSTREAM_RESPONSE_MAX;
	b.bridged = 1;
	p = peer_add(&b);

	if ((child = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(60);
		for (;;)
			pause();
	}
	cr_assert_gt(child, 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
	    0);
	worker_attach(p->worker, child, sv[0], -1);
	wfd = sv[1];
	msgbuf_init(&wmb, wfd, MSG_QUEUE_MAX);
	origin_init(&o, ORIGIN_INTERNAL, "test");
	origin_init(&o2, ORIGIN_INTERNAL, "test2");
}

static void
setup(void)
{
	setup_starting();
	handshake();
	nwarnings = 0;
}

static void
teardown(void)
{
	int	i, j;

	origin_end(&o, "test over");
	origin_end(&o2, "test over");
	cr_assert_eq(call_count(), 0);
	peer_free_all();	/* kills and reaps the child */
	toolmap_clear();
	mcp_shutdown();
	msgbuf_clear(&wmb);
	if (wfd != -1)
		close(wfd);
	event_base_free(ev_base);
	for (i = 0; i < nrecs; i++) {
		free(recs[i].answer);
		for (j = 0; j < recs[i].nmsgs && j < REC_MSGS; j++)
			free(recs[i].msgs[j]);
	}
	log_sethook(NULL);
}

TestSuite(router, .init = setup, .fini = teardown, .timeout = 20);
TestSuite(router_start, .init = setup_starting, .fini = teardown,
    .timeout = 20);

/* --- making calls -------------------------------------------------------- */

static char *
xprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	cr_assert_geq(vasprintf(&s, fmt, ap), 0);
	va_end(ap);
	return (s);
}

/* Short text, from a few static buffers used in turn: never freed. */
static const char *
S(const char *fmt, ...)
{
	static char	buf[8][256];
	static int	n;
	va_list		ap;
	char		*b = buf[n++ % 8];

	va_start(ap, fmt);
	vsnprintf(b, sizeof(buf[0]), fmt, ap);
	va_end(ap);
	return (b);
}

static struct json_object *
parse_request(const char *text)
{
	struct json_object	*req;
	const char		*why;

	req = jsonrpc_parse(text, strlen(text), JSON_DEPTH_MAX, &why);
	cr_assert_not_null(req, "%s: %s", why, text);
	cr_assert_eq(jsonrpc_check(req, &why), JSONRPC_REQUEST, "%s", text);
	return (req);
}

/*
 * tools/call of t_echo through mcp_handle(), with the client's id (JSON
 * text), arguments and any more members of params; the call is returned
 * while it is in flight, NULL once answered.
 */
static struct call *
tool_call_ex(struct origin *or, struct rec *r, const char *id,
    const char *args, const char *more)
{
	struct json_object	*req;
	struct call		*c;
	char			*text;

	text = xprintf("{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":"
	    "\"tools/call\",\"params\":{\"name\":\"t_echo\",\"arguments\":%s%s}}",
	    id, args, more);
	req = parse_request(text);
	c = mcp_handle(or, req, JSONRPC_REQUEST, &rec_ops, r);
	json_object_put(req);
	free(text);
	return (c);
}

static struct call *
tool_call(struct origin *or, struct rec *r, const char *id)
{
	return (tool_call_ex(or, r, id, "{}", ""));
}

/* The REQUEST text a call above becomes toward the worker. */
static char *
upstream_text(uint64_t id, const char *args, const char *more)
{
	/*
	 * more is "" or ',"_meta":{...}'; the mesh adds its hop count to
	 * _meta, last (router.c: router_count_hop()).
	 */
	if (*more == '\0')
		return (xprintf("{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":"
		    "\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":"
		    "%s,\"_meta\":{\"" MESH_META_HOPS "\":1}}}",
		    (unsigned long long)id, args));
	return (xprintf("{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":"
	    "\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":%s"
	    "%.*s,\"" MESH_META_HOPS "\":1}}}", (unsigned long long)id, args,
	    (int)strlen(more) - 1, more));
}

static void
assert_answer(struct rec *r, const char *fmt, ...)
{
	va_list	 ap;
	char	*want;

	va_start(ap, fmt);
	cr_assert_geq(vasprintf(&want, fmt, ap), 0);
	va_end(ap);
	cr_assert_eq(r->answers, 1, "%d answers, want 1 (%s)", r->answers,
	    want);
	cr_assert_not_null(r->answer, "cancelled; want %s", want);
	cr_assert_str_eq(r->answer, want);
	free(want);
}

/* An isError result for client id (JSON text) saying text. */
static void
assert_error_result(struct rec *r, const char *id, const char *text)
{
	assert_answer(r, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":"
	    "{\"content\":[{\"type\":\"text\",\"text\":\"%s\"}],"
	    "\"isError\":true}}", id, text);
}

#define RESULT		"{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}"

/* The worker answers mesh id id with result V in the canonical shape. */
static void
answer(uint64_t id, const char *v)
{
	wsend(MSG_RESPONSE, id, "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"result\":%s}",
	    (unsigned long long)id, v);
}

static void
progress(uint64_t id, const char *token, int n)
{
	wsend(MSG_NOTIFY_UP, id, "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/progress\",\"params\":{\"progressToken\":%s,"
	    "\"progress\":%d,\"total\":100}}", token, n);
}

/* Wait for the supervisor to kill the worker; reap it as proc.c would. */
static void
reap_killed_worker(void)
{
	int	status;

	PUMP_UNTIL(!worker_is_ready(p->worker), WAIT_MS);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	worker_exited(child, status);
	/* Not pumped after this: the restart timer must not fire. */
}

/* --- the handshake and one call ------------------------------------------ */

Test(router, handshake_makes_the_peer_ready_with_its_tool)
{
	struct toolent	*te;

	cr_assert(peer_ready(p));
	cr_assert_eq(worker_state(p->worker), WS_READY);
	cr_assert_str_eq(p->protocol_version, "2025-06-18");
	cr_assert_eq(p->ntools, 1);
	te = toolmap_lookup("t_echo", 6);
	cr_assert_not_null(te);
	cr_assert_eq(te->peer, p);
	cr_assert_str_eq(te->tool, "echo");
}

Test(router, request_reaches_the_worker_under_a_mesh_id)
{
	struct rec	*r = rec_new();
	struct call	*c;
	char		*got, *want;

	c = tool_call_ex(&o, r, "\"a\"", "{\"x\":[1,\"y\"]}", "");
	cr_assert_not_null(c);
	cr_assert_eq(c->peer, p);
	cr_assert_eq(c->id, 1);
	cr_assert_eq(p->ninflight, 1);
	got = expect_request(1);
	want = upstream_text(1, "{\"x\":[1,\"y\"]}", "");
	cr_assert_str_eq(got, want);
	free(got);
	free(want);
	answer(1, RESULT);
	PUMP_UNTIL(r->answers == 1, WAIT_MS);
	assert_answer(r, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":%s}",
	    RESULT);
	cr_assert_eq(p->ninflight, 0);
	cr_assert_eq(p->ncalls, 1);
	cr_assert_eq(p->nfailed, 0);
	cr_assert_eq(nwarnings, 0);
}

Test(router, mesh_ids_are_unique_and_increasing_per_peer)
{
	struct rec	*r[6];
	struct origin	*or;
	uint64_t	 i;
	char		*got;

	/* Two clients using the same ids: never confused on the peer. */
	for (i = 0; i < 6; i++) {
		r[i] = rec_new();
		or = i % 2 == 0 ? &o : &o2;
		cr_assert_not_null(tool_call(or, r[i], i < 2 ? "7" : "\"x\""));
	}
	for (i = 1; i <= 6; i++) {
		got = expect_request(i);
		cr_assert(strstr(got, S("\"id\":%llu,",
		    (unsigned long long)i)) != NULL, "%s", got);
		free(got);
	}
	cr_assert_eq(p->next_id, 6);
	/* Answered out of order, each to its own call. */
	for (i = 6; i >= 1; i--)
		answer(i, S("{\"n\":%llu}", (unsigned long long)i));
	PUMP_UNTIL(r[0]->answers == 1, WAIT_MS);
	for (i = 0; i < 6; i++)
		assert_answer(r[i], "{\"jsonrpc\":\"2.0\",\"id\":%s,"
		    "\"result\":{\"n\":%llu}}", i < 2 ? "7" : "\"x\"",
		    (unsigned long long)i + 1);
	/* The next call carries on from there. */
	cr_assert_not_null(tool_call(&o, rec_new(), "1"));
	free(expect_request(7));
}

/* A call and its answer, on the fast path or not. */
static void
round_trip(const char *client_id, const char *response, const char *want)
{
	struct rec	*r = rec_new();
	uint64_t	 id = p->next_id + 1;

	cr_assert_not_null(tool_call(&o, r, client_id));
	free(expect_request(id));
	wsend(MSG_RESPONSE, id, response, (unsigned long long)id);
	PUMP_UNTIL(r->answers == 1, WAIT_MS);
	assert_answer(r, want, client_id);
	cr_assert(worker_is_ready(p->worker));
}

#define CANON	"{\"jsonrpc\":\"2.0\",\"id\":%llu,\"result\":{\"a\":1}}"
#define SLOW	"{\"jsonrpc\": \"2.0\", \"id\": %llu, \"result\": {\"a\": 1}}"
#define WANT	"{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"a\":1}}"

Test(router, string_ids_are_put_back_byte_for_byte)
{
	static const char *ids[] = {
		"\"a\"", "\"\"", "\"req/1 \xc3\xa9\"", "\"a\\\"b\\\\c\"",
		"\"\\u0001\"", "\"1\"",
	};
	size_t	i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		round_trip(ids[i], CANON, WANT);
		round_trip(ids[i], SLOW, WANT);
	}
}

Test(router, integer_ids_are_put_back_byte_for_byte)
{
	static const char *ids[] = {
		"0", "1", "-7", "4294967296", "9007199254740993",
		"9223372036854775807", "-9223372036854775807",
	};
	size_t	i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		round_trip(ids[i], CANON, WANT);
		round_trip(ids[i], SLOW, WANT);
	}
}

Test(router, canonical_answer_keeps_the_result_bytes)
{
	/* Spaces, escapes and number forms inside V are the peer's. */
	round_trip("5", "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"result\":"
	    "{ \"t\" : \"\\u00e9\\/\" , \"n\":1.50E+2 }}",
	    "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":"
	    "{ \"t\" : \"\\u00e9\\/\" , \"n\":1.50E+2 }}");
}

Test(router, answer_with_extra_members_takes_the_slow_path)
{
	round_trip("5", "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"result\":"
	    "{ \"t\" : \"x\" },\"extra\":true}",
	    "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"t\":\"x\"},"
	    "\"extra\":true}");
}

Test(router, error_answer_from_the_peer_is_relayed)
{
	round_trip("\"e\"", "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"error\":"
	    "{\"code\":-32602,\"message\":\"bad\",\"data\":[1]}}",
	    "{\"jsonrpc\":\"2.0\",\"id\":%s,\"error\":{\"code\":-32602,"
	    "\"message\":\"bad\",\"data\":[1]}}");
}

/* --- exactly one answer -------------------------------------------------- */

Test(router, a_second_answer_for_one_id_is_dropped)
{
	struct rec	*r = rec_new();

	cr_assert_not_null(tool_call(&o, r, "1"));
	free(expect_request(1));
	answer(1, "{\"first\":1}");
	answer(1, "{\"second\":2}");
	PUMP_UNTIL(r->answers == 1, WAIT_MS);
	pump(50);
	assert_answer(r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	    "{\"first\":1}}");
	cr_assert(worker_is_ready(p->worker));
	cr_assert_eq(nwarnings, 0, "%s", lastwarn);
}

static void
assert_killed_for_stray(uint16_t type, uint64_t stray, const char *what)
{
	struct rec	*r = rec_new(), *r2;
	char		 cause[256], text[512];

	cr_assert_not_null(tool_call(&o, r, "1"));
	free(expect_request(1));
	if (type == MSG_RESPONSE)
		answer(stray, "{}");
	else
		wsend(MSG_CALLFAIL, stray, "{\"reason\":\"x\"}");
	snprintf(cause, sizeof(cause), "worker sent %s for request %llu, "
	    "which it was never sent", what, (unsigned long long)stray);
	reap_killed_worker();
	cr_assert_str_eq(worker_cause(p->worker), cause);
	cr_assert_eq(worker_state(p->worker), WS_BACKOFF);
	cr_assert_eq(worker_restarts(p->worker), 1);
	/* The call in flight was answered when the socket closed. */
	snprintf(text, sizeof(text), "peer t failed during t_echo: %s", cause);
	assert_error_result(r, "1", text);
	/* And the next is refused, saying why. */
	r2 = rec_new();
	cr_assert_null(tool_call(&o, r2, "2"));
	snprintf(text, sizeof(text), "peer t is not reachable (backoff): %s",
	    cause);
	assert_error_result(r2, "2", text);
}

Test(router, an_answer_for_an_id_never_issued_kills_the_worker)
{
	assert_killed_for_stray(MSG_RESPONSE, 2, "an answer");
}

Test(router, an_answer_for_id_zero_kills_the_worker)
{
	assert_killed_for_stray(MSG_RESPONSE, 0, "an answer");
}

Test(router, a_failure_for_an_id_never_issued_kills_the_worker)
{
	assert_killed_for_stray(MSG_CALLFAIL, 1000, "a failure");
}

Test(router, an_answer_under_another_id_kills_the_worker)
{
	struct rec	*r = rec_new();

	cr_assert_not_null(tool_call(&o, r, "1"));
	free(expect_request(1));
	wsend(MSG_RESPONSE, 1, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}");
	PUMP_UNTIL(r->answers == 1, WAIT_MS);
	assert_error_result(r, "1", "peer t failed during t_echo: worker "
	    "answered request 1 with another id");
	cr_assert_not(worker_is_ready(p->worker));
}

Test(router, a_member_after_the_result_cannot_change_the_id)
{
	struct rec	*r = rec_new();

	cr_assert_not_null(tool_call(&o, r, "1"));
	free(expect_request(1));
	wsend(MSG_RESPONSE, 1, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},"
	    "\"id\":2}");
	PUMP_UNTIL(r->answers == 1, WAIT_MS);
	assert_error_result(r, "1", "peer t failed during t_echo: worker "
	    "answered request 1 with another id");
	cr_assert_not(worker_is_ready(p->worker));
}

Test(router, an_invalid_answer_kills_the_worker)
{
	struct rec	*r = rec_new();

	cr_assert_not_null(tool_call(&o, r, "1"));
	free(expect_request(1));
	wsend(MSG_RESPONSE, 1, "{\"jsonrpc\":\"2.0\",\"id\":1}");
	PUMP_UNTIL(r->answers == 1, WAIT_MS);
	cr_assert_not(worker_is_ready(p->worker));
	cr_assert(strncmp(worker_cause(p->worker), "worker relayed an invalid "
	    "response: ", 36) == 0, "%s", worker_cause(p->worker));
	cr_assert(strstr(r->answer, "peer t failed during t_echo: worker "
	    "relayed an invalid response") != NULL, "%s", r->answer);
}

Test(router, a_request_relayed_as_a_notification_kills_the_worker)
{
	struct rec	*r = rec_new();

	cr_assert_not_null(tool_call(&o, r, "1"));
	free(expect_request(1));
	wsend(MSG_NOTIFY_UP, 1, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":"
	    "\"sampling/createMessage\"}");
	PUMP_UNTIL(r->answers == 1, WAIT_MS);
	assert_error_result(r, "1", "peer t failed during t_echo: worker "
	    "relayed something that is not a notification");
}

/* --- deadlines and progress ---------------------------------------------- */

Test(router, deadline_answers_with_an_error_naming_the_peer)
{
	struct rec	*r = rec_new();
	uint64_t	 t0;

	p->timeout_ms = 100;
	t0 = now_ms();
	cr_assert_not_null(tool_call(&o, r, "\"d\""));
	free(expect_request(1));
	PUMP_UNTIL(r->answers == 1, WAIT_MS);
	cr_assert_geq(now_ms() - t0, 100 - CLOCK_SLACK_MS);
	assert_error_result(r, "\"d\"", "peer t did not answer t_echo within "
	    "100 ms: the call was cancelled");
	cr_assert_eq(p->nfailed, 1);
	cr_assert_eq(p->ninflight, 0);
	cr_assert_eq(call_count(), 0);
}

Test(router, deadline_cancels_upstream)
{
	struct rec	*r = rec_new();
	struct frame	 f, g;

	p->timeout_ms = 100;
	cr_assert_not_null(tool_call(&o, r, "1"));
	cr_assert_not_null(tool_call(&o, rec_new(), "2"));
	free(expect_request(1));
	free(expect_request(2));
	/* Both time out; each is cancelled by its own mesh id. */
	expect(&f, MSG_CANCEL, 0);
	expect(&g, MSG_CANCEL, 0);
	cr_assert_eq(f.len + g.len, 0);
	cr_assert(f.id + g.id == 3 && f.id * g.id == 2, "cancelled %llu, %llu",
	    (unsigned long long)f.id, (unsigned long long)g.id);
	frame_free(&f);
	frame_free(&g);
	cr_assert_eq(r->answers, 1);
	cr_assert(worker_is_ready(p->worker));
}

Test(router, a_late_answer_after_the_deadline_is_dropped_quietly)
{
	struct rec	*r = rec_new();

	p->timeout_ms = 100;
	cr_assert_not_null(tool_call(&o, r, "1"));
	free(expect_request(1));
	expect_cancel(1);
	nwarnings = 0;
	answer(1, "{\"late\":true}");
	wsend(MSG_CALLFAIL, 1, "{\"reason\":\"late too\"}");
	pump(100);
	cr_assert_eq(r->answers, 1);
	cr_assert(strstr(r->answer, "did not answer") != NULL, "%s",
	    r->answer);
	cr_assert(worker_is_ready(p->worker));
	cr_assert_eq(nwarnings, 0, "%s", lastwarn);
}

Test(router, an_answer_in_time_cancels_nothing)
{
	struct rec	*r = rec_new();

	p->timeout_ms = 100;
	cr_assert_not_null(tool_call(&o, r, "1"));
	free(expect_request(1));
	answer(1, "{}");
	PUMP_UNTIL(r->answers == 1, WAIT_MS);
	/* Well past where the deadline was. */
	expect_nothing(150);
	cr_assert_eq(p->nfailed, 0);
}

Test(router, progress_extends_the_deadline)
{
	struct rec	*r = rec_new();
	uint64_t	 t0;
	int		 i;

	p->timeout_ms = 100;
	t0 = now_ms();
	cr_assert_not_null(tool_call(&o, r, "1"));
	free(expect_request(1));
	/* Four timeouts' worth, a notification every 40 ms. */
	for (i = 1; i <= 10; i++) {
		pump(40);
		progress(1, "1", i);
	}
	pump(20);
	cr_assert_geq(now_ms() - t0, 400);
	cr_assert_eq(r->answers, 0, "answered: %s", r->answer);
	answer(1, "{\"done\":1}");
	PUMP_UNTIL(r->answers == 1, WAIT_MS);
	assert_answer(r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
	    "{\"done\":1}}");
	expect_nothing(50);
	/* No token was asked for: nothing was relayed. */
	cr_assert_eq(r->nmsgs, 0);
}

Test(router, progress_never_extends_past_the_ceiling)
{
	struct rec	*r = rec_new();
	struct frame	 f;
	uint64_t	 t0, took;
	int		 i = 0, cancelled = 0;

	p->timeout_ms = 100;
	t0 = now_ms();
	cr_assert_not_null(tool_call(&o, r, "1"));
	free(expect_request(1));
	while (r->answers == 0) {
		cr_assert_lt(now_ms() - t0, 3000, "no ceiling");
		pump(25);
		progress(1, "1", ++i);
	}
	took = now_ms() - t0;
	cr_assert_geq(took, 100 * REQUEST_CEILING_FACTOR - CLOCK_SLACK_MS);
	cr_assert_lt(took, 100 * REQUEST_CEILING_FACTOR + 500);
	assert_error_result(r, "1", "peer t did not finish t_echo within "
	    "1000 ms (the ceiling of a call, whatever its progress): the call "
	    "was cancelled");
	while (wrecv(&f, 100) == 1) {
		if (f.type == MSG_CANCEL && f.id == 1)
			cancelled++;
		frame_free(&f);
	}
	cr_assert_eq(cancelled, 1);
}

Test(router, progress_token_is_the_mesh_id_toward_the_worker)
{
	char	*got, *want;

	p->next_id = 41;
	cr_assert_not_null(tool_call_ex(&o, rec_new(), "1", "{}",
	    ",\"_meta\":{\"progressToken\":\"tok\",\"k\":1}"));
	got = expect_request(42);
	want = upstream_text(42, "{}",
	    ",\"_meta\":{\"progressToken\":42,\"k\":1}");
	cr_assert_str_eq(got, want);
	free(got);
	free(want);
}

Test(router, progress_is_relayed_under_the_clients_token)
{
	static const char *tokens[] = { "\"tok\"", "7", "\"\"", "-1" };
	struct rec	*r[4];
	char		*want;
	int		 i;

	for (i = 0; i < 4; i++) {
		r[i] = rec_new();
		want = xprintf(",\"_meta\":{\"progressToken\":%s}", tokens[i]);
		cr_assert_not_null(tool_call_ex(&o, r[i], "1", "{}", want));
		free(want);
		free(expect_request(i + 1));
	}
	for (i = 0; i < 4; i++)
		progress(i + 1, S("%d", i + 1), 50);
	PUMP_UNTIL(r[3]->nmsgs == 1, WAIT_MS);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(r[i]->nmsgs, 1);
		want = xprintf("{\"jsonrpc\":\"2.0\",\"method\":"
		    "\"notifications/progress\",\"params\":{\"progressToken\":"
		    "%s,\"progress\":50,\"total\":100}}", tokens[i]);
		cr_assert_str_eq(r[i]->msgs[0], want);
		free(want);
		cr_assert_eq(r[i]->answers, 0);
	}
}

Test(router, progress_under_another_token_is_not_relayed)
{
	struct rec	*r = rec_new(), *plain = rec_new();

	cr_assert_not_null(tool_call_ex(&o, r, "1", "{}",
	    ",\"_meta\":{\"progressToken\":\"tok\"}"));
	cr_assert_not_null(tool_call(&o, plain, "2"));
	free(expect_request(1));
	free(expect_request(2));
	progress(1, "2", 1);		/* another call's mesh id */
	progress(1, "\"1\"", 1);	/* a string, not the mesh id */
	progress(0, "1", 1);		/* about no call */
	progress(2, "2", 1);		/* a call that asked for none */
	progress(1, "1", 2);		/* the right one, last */
	PUMP_UNTIL(r->nmsgs == 1, WAIT_MS);
	pump(20);
	cr_assert_eq(r->nmsgs, 1);
	cr_assert(strstr(r->msgs[0], "\"progressToken\":\"tok\","
	    "\"progress\":2,") != NULL, "%s", r->msgs[0]);
	cr_assert_eq(plain->nmsgs, 0);
}

Test(router, a_token_of_another_type_is_left_alone)
{
	struct rec	*r = rec_new();
	char		*got, *want;

	cr_assert_not_null(tool_call_ex(&o, r, "1", "{}",
	    ",\"_meta\":{\"progressToken\":{\"x\":1}}"));
	got = expect_request(1);
	want = upstream_text(1, "{}", ",\"_meta\":{\"progressToken\":"
	    "{\"x\":1}}");
	cr_assert_str_eq(got, want);
	free(got);
	free(want);
	progress(1, "1", 1);
	pump(50);
	cr_assert_eq(r->nmsgs, 0);
}

/* --- the origin's side: cancel, abandon, end ----------------------------- */

Test(router, call_cancel_sends_cancel_and_answers_nothing)
{
	struct rec	*r = rec_new();
	struct call	*c;

	c = tool_call(&o, r, "1");
	cr_assert_not_null(c);
	free(expect_request(1));
	call_cancel(c);
	cr_assert_eq(r->answers, 1);
	cr_assert(r->cancelled);
	cr_assert_null(r->answer);
	cr_assert_eq(p->ninflight, 0);
	cr_assert_eq(o.ncalls, 0);
	expect_cancel(1);
	/* The peer's answer, if it comes, goes nowhere. */
	answer(1, "{}");
	pump(50);
	cr_assert_eq(r->answers, 1);
	cr_assert(worker_is_ready(p->worker));
}

Test(router, notifications_cancelled_from_the_client_cancels_its_call)
{
	struct json_object	*n;
	struct rec		*r = rec_new(), *other = rec_new();
	const char		*why;
	const char		*text = "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/cancelled\",\"params\":{\"requestId\":\"x\"}}";

	cr_assert_not_null(tool_call(&o, r, "\"x\""));
	cr_assert_not_null(tool_call(&o2, other, "\"x\""));
	free(expect_request(1));
	free(expect_request(2));
	n = jsonrpc_parse(text, strlen(text), JSON_DEPTH_MAX, &why);
	cr_assert_null(mcp_handle(&o, n, JSONRPC_NOTIFICATION, &rec_ops,
	    NULL));
	json_object_put(n);
	cr_assert(r->cancelled);
	/* Only the calls of the origin that sent it. */
	cr_assert_eq(other->answers, 0);
	expect_cancel(1);
}

Test(router, call_abandon_sends_cancel_and_answers_nothing)
{
	struct rec	*r = rec_new();
	struct call	*c;

	c = tool_call(&o, r, "1");
	free(expect_request(1));
	call_abandon(c);
	cr_assert_eq(r->answers, 0);
	cr_assert_eq(p->ninflight, 0);
	cr_assert_eq(call_count(), 0);
	expect_cancel(1);
	answer(1, "{}");
	pump(50);
	cr_assert_eq(r->answers, 0);
}

Test(router, origin_end_answers_every_call_of_the_origin)
{
	struct rec	*r[3], *other = rec_new();
	int		 i;

	for (i = 0; i < 3; i++) {
		r[i] = rec_new();
		cr_assert_not_null(tool_call(&o, r[i], S("%d", i)));
		free(expect_request(i + 1));
	}
	cr_assert_not_null(tool_call(&o2, other, "0"));
	free(expect_request(4));
	origin_end(&o, "the client went");
	for (i = 0; i < 3; i++)
		assert_answer(r[i], "{\"jsonrpc\":\"2.0\",\"id\":%d,\"error\":"
		    "{\"code\":-32603,\"message\":\"the client went\"}}", i);
	cr_assert_eq(o.ncalls, 0);
	cr_assert_eq(p->ninflight, 1);
	cr_assert_eq(other->answers, 0);
	/* Their late answers are dropped; the other origin's still comes. */
	for (i = 1; i <= 4; i++)
		answer(i, "{}");
	PUMP_UNTIL(other->answers == 1, WAIT_MS);
	assert_answer(other, "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{}}");
	for (i = 0; i < 3; i++)
		cr_assert_eq(r[i]->answers, 1);
	cr_assert(worker_is_ready(p->worker));
}

/* --- the worker's side: failures ----------------------------------------- */

Test(router, callfail_answers_with_the_reason)
{
	struct rec	*r[3];
	int		 i;

	for (i = 0; i < 3; i++) {
		r[i] = rec_new();
		cr_assert_not_null(tool_call(&o, r[i], "1"));
		free(expect_request(i + 1));
	}
	wsend(MSG_CALLFAIL, 1, "{\"reason\":\"connection reset\"}");
	wsend(MSG_CALLFAIL, 2, "{}");
	wsend(MSG_CALLFAIL, 3, "{\"reason\":\"a\\nb\\u0007\"}");
	PUMP_UNTIL(r[2]->answers == 1, WAIT_MS);
	assert_error_result(r[0], "1", "peer t: connection reset");
	assert_error_result(r[1], "1", "peer t: the peer's answer could not "
	    "be used");
	/* The reason is the worker's: escaped. */
	assert_error_result(r[2], "1", "peer t: a\\\\nb\\\\a");
	cr_assert_eq(p->nfailed, 3);
	cr_assert(worker_is_ready(p->worker));
}

Test(router, a_closed_socket_fails_every_call)
{
	struct rec	*r[3];
	int		 i;

	for (i = 0; i < 3; i++) {
		r[i] = rec_new();
		cr_assert_not_null(tool_call(i == 1 ? &o2 : &o, r[i],
		    S("\"c%d\"", i)));
		free(expect_request(i + 1));
	}
	close(wfd);
	wfd = -1;
	PUMP_UNTIL(r[2]->answers == 1, WAIT_MS);
	for (i = 0; i < 3; i++)
		assert_error_result(r[i], S("\"c%d\"", i), "peer t failed "
		    "during t_echo: its worker stopped");
	cr_assert_eq(p->ninflight, 0);
	cr_assert_eq(p->nfailed, 3);
	cr_assert_not(peer_ready(p));
	cr_assert_eq(call_count(), 0);
}

/* --- busy ---------------------------------------------------------------- */

Test(router, busy_at_peer_inflight_max)
{
	struct rec	*r, *last;
	struct frame	 f;
	int		 i, n = 0;

	for (i = 0; i < PEER_INFLIGHT_MAX; i++)
		cr_assert_not_null(tool_call(&o, rec_new(), "1"), "call %d", i);
	cr_assert_eq(p->ninflight, PEER_INFLIGHT_MAX);
	r = rec_new();
	cr_assert_null(tool_call(&o, r, "\"over\""));
	assert_error_result(r, "\"over\"", "peer t is busy: 512 requests in "
	    "flight (limit 512); try again");
	cr_assert_eq(p->ninflight, PEER_INFLIGHT_MAX);
	/* One answered: room for one more. */
	while (n < PEER_INFLIGHT_MAX && wrecv(&f, WAIT_MS) == 1) {
		if (f.type == MSG_REQUEST)
			n++;
		frame_free(&f);
	}
	cr_assert_eq(n, PEER_INFLIGHT_MAX);
	answer(1, "{}");
	PUMP_UNTIL(recs[0].answers == 1, WAIT_MS);
	last = rec_new();
	cr_assert_not_null(tool_call(&o, last, "\"again\""));
	cr_assert_null(tool_call(&o, rec_new(), "\"over\""));
}

Test(router, busy_at_client_inflight_max)
{
	struct json_object	*id = json_object_new_int(0);
	struct rec		*sink = rec_new(), *r;
	int			 i;

	/* Calls of the whole mesh, this one included, up to the limit. */
	for (i = 0; i < CLIENT_INFLIGHT_MAX - 1; i++)
		call_new(&o2, id, &rec_ops, sink);
	json_object_put(id);
	cr_assert_not_null(tool_call(&o, rec_new(), "1"));
	cr_assert_eq(call_count(), CLIENT_INFLIGHT_MAX);
	r = rec_new();
	cr_assert_null(tool_call(&o, r, "2"));
	cr_assert_eq(r->answers, 1);
	/* The mesh's count and limit, not the peer's: the peer is not full. */
	cr_assert(strstr(r->answer, "\"text\":\"the mesh is busy: 4097 calls "
	    "in flight (limit 4096); try again\"") != NULL, "%s", r->answer);
	cr_assert_eq(p->ninflight, 1);
}

/* A tools/call whose REQUEST toward the worker is exactly len bytes. */
static struct call *
sized_call(struct rec *r, size_t len)
{
	struct call	*c;
	char		*empty, *args, *s;
	size_t		 base;

	empty = upstream_text(p->next_id + 1, "{\"s\":\"\"}", "");
	base = strlen(empty);
	free(empty);
	cr_assert_geq(len, base);
	s = xmalloc(len - base + 1);
	memset(s, 'x', len - base);
	s[len - base] = '\0';
	args = xprintf("{\"s\":\"%s\"}", s);
	free(s);
	c = tool_call_ex(&o, r, "1", args, "");
	free(args);
	return (c);
}

static void
assert_busy_bytes(struct rec *r, size_t queued, size_t limit, size_t len)
{
	char	text[256];

	snprintf(text, sizeof(text), "peer t is busy: %zu bytes wait for its "
	    "worker (limit %zu for a call of %zu bytes); try again", queued,
	    limit, len);
	assert_error_result(r, "1", text);
}

/* Route calls of len bytes until one is refused; it says limit. */
static int
fill(size_t len, size_t limit)
{
	struct rec	*r;
	size_t		 q;
	int		 n = 0;

	while (worker_queued(p->worker) + len <= limit) {
		cr_assert_not_null(sized_call(rec_new(), len), "call %d of %zu "
		    "bytes, %zu queued", n, len, worker_queued(p->worker));
		n++;
	}
	q = worker_queued(p->worker);
	r = rec_new();
	cr_assert_null(sized_call(r, len));
	assert_busy_bytes(r, q, limit, len);
	return (n);
}

Test(router, a_full_queue_refuses_big_calls_but_keeps_a_reserve)
{
	const size_t	 small = WORKER_DOWNQUEUE_SMALL;
	const size_t	 high = WORKER_DOWNQUEUE_HIGH;
	const size_t	 reserve = high + WORKER_DOWNQUEUE_RESERVE;
	struct frame	 f;
	int		 n, routed = 0;

	/* The fake worker reads nothing: the queue fills. */
	routed += fill(6 * 1024 * 1024, high);
	cr_assert_geq(routed, 2);
	/* One byte over the small size: no reserve. */
	routed += fill(small + 1, high);
	cr_assert_leq(worker_queued(p->worker), high);
	/* The small size itself: the reserve, up to its end. */
	n = fill(small, reserve);
	cr_assert_gt(n, 0);
	routed += n;
	cr_assert_gt(worker_queued(p->worker), high);
	/* Nobody was killed for it; everything queued arrives. */
	cr_assert(worker_is_ready(p->worker));
	for (n = 0; n < routed; n++) {
		cr_assert_eq(wrecv(&f, WAIT_MS), 1);
		cr_assert_eq(f.type, MSG_REQUEST);
		frame_free(&f);
	}
	cr_assert_eq(worker_queued(p->worker), 0);
	cr_assert_not_null(sized_call(rec_new(), 6 * 1024 * 1024));
}

Test(router, a_call_over_the_frame_limit_is_refused)
{
	struct rec	*r = rec_new();

	cr_assert_null(sized_call(r, MSG_PAYLOAD_MAX + 1));
	cr_assert_eq(r->answers, 1);
	cr_assert(strstr(r->answer, "\"text\":\"peer t: the call is 8388609 "
	    "bytes, over the 8388608 a frame to its worker may hold\"") != NULL,
	    "%s", r->answer);
	cr_assert(worker_is_ready(p->worker));
	cr_assert_eq(p->ninflight, 0);
	/* The next call is fine. */
	cr_assert_not_null(tool_call(&o, rec_new(), "1"));
}

/* --- a peer on its first start ------------------------------------------- */

Test(router_start, a_call_to_a_starting_peer_is_refused)
{
	struct json_object	*req;
	struct call		*c;
	struct rec		*r = rec_new();
	struct json_object	*id = json_object_new_string("s");

	cr_assert_eq(worker_state(p->worker), WS_STARTING);
	req = parse_request("{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":"
	    "\"tools/call\",\"params\":{\"name\":\"t_echo\"}}");
	c = call_new(&o, id, &rec_ops, r);
	json_object_put(id);
	cr_assert_eq(router_route(c, p, "t_echo", "echo", req), -1);
	json_object_put(req);
	assert_error_result(r, "\"s\"", "peer t is not reachable (starting): "
	    "its worker is starting");
	cr_assert_eq(p->next_id, 0);
	expect_nothing(20);
}

Test(router_start, a_call_for_a_coming_tool_waits_for_the_peer)
{
	struct rec	*r = rec_new();
	char		*got, *want;

	cr_assert_not_null(tool_call(&o, r, "\"early\""));
	cr_assert_eq(r->answers, 0);
	expect_nothing(20);
	handshake();
	got = expect_request(1);
	want = upstream_text(1, "{}", "");
	cr_assert_str_eq(got, want);
	free(got);
	free(want);
	answer(1, RESULT);
	PUMP_UNTIL(r->answers == 1, WAIT_MS);
	assert_answer(r, "{\"jsonrpc\":\"2.0\",\"id\":\"early\",\"result\":%s}",
	    RESULT);
}

Test(router_start, a_parked_call_fails_if_the_start_fails)
{
	struct rec	*r = rec_new();

	int		 status;

	cr_assert_not_null(tool_call(&o, r, "1"));
	kill(child, SIGKILL);
	cr_assert_eq(waitpid(child, &status, 0), child);
	worker_exited(child, status);
	/* The first start is over: the call learns why at once. */
	assert_error_result(r, "1", "peer t is not reachable (backoff): "
	    "killed by SIGKILL");
}

/* --- lies and the restart policy ---------------------------------------- */

/* A new fake worker process on a new socket, as a restart gives. */
static void
new_worker(void)
{
	int	sv[2];

	msgbuf_clear(&wmb);
	if (wfd != -1)
		close(wfd);
	if ((child = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(60);
		for (;;)
			pause();
	}
	cr_assert_gt(child, 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv),
	    0);
	worker_attach(p->worker, child, sv[0], -1);
	wfd = sv[1];
	msgbuf_init(&wmb, wfd, MSG_QUEUE_MAX);
	handshake();
}

/* The worker lies in one of the ways the router finds out. */
static void
router_lie(int kind)
{
	uint64_t	id = p->next_id + 1;

	if (kind > 0) {
		cr_assert_not_null(tool_call(&o, rec_new(), "1"));
		free(expect_request(id));
	}
	switch (kind) {
	case 0:
		answer(id + 5, "{}");
		break;
	case 1:
		wsend(MSG_RESPONSE, id, "{\"jsonrpc\":\"2.0\",\"id\":%llu,"
		    "\"result\":{}}", (unsigned long long)id + 1);
		break;
	case 2:
		wsend(MSG_RESPONSE, id, "{\"jsonrpc\":\"2.0\",\"id\":%llu}",
		    (unsigned long long)id);
		break;
	default:
		wsend(MSG_NOTIFY_UP, id, "{\"jsonrpc\":\"2.0\",\"id\":1,"
		    "\"result\":{}}");
		break;
	}
}

Test(router, lies_found_by_the_router_count_toward_failed)
{
	int	i;

	for (i = 0; i < WORKER_FAIL_MAX; i++) {
		if (i > 0)
			new_worker();
		router_lie(i % 4);
		reap_killed_worker();
		cr_assert_eq(worker_state(p->worker), i + 1 < WORKER_FAIL_MAX ?
		    WS_BACKOFF : WS_FAILED, "after lie %d: %s", i,
		    worker_state_name(worker_state(p->worker)));
	}
	/* Its tools left the list. */
	cr_assert_null(toolmap_lookup("t_echo", 6));
}

Test(router, lies_found_by_the_dispatch_count_toward_failed)
{
	int	i;

	for (i = 0; i < WORKER_FAIL_MAX; i++) {
		if (i > 0)
			new_worker();
		wsend(MSG_HELLO, 0, "{\"version\":%d}", MESH_PROTO_VERSION);
		reap_killed_worker();
	}
	cr_assert_eq(worker_state(p->worker), WS_FAILED);
}

Test(router, deaths_that_are_not_lies_do_not_fail_the_peer)
{
	int	i, status;

	for (i = 0; i < WORKER_FAIL_MAX + 2; i++) {
		if (i > 0)
			new_worker();
		/* Stopped from outside, its socket closed. */
		kill(child, SIGTERM);
		cr_assert_eq(waitpid(child, &status, 0), child);
		close(wfd);
		wfd = -1;
		PUMP_UNTIL(!worker_is_ready(p->worker), WAIT_MS);
		worker_exited(child, status);
		cr_assert_eq(worker_state(p->worker), WS_BACKOFF);
	}
	cr_assert_str_eq(worker_cause(p->worker), "killed by SIGTERM");
}
