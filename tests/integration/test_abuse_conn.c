/*
 * Reliability under abuse from clients (issue 9), connections and
 * malformed requests: each test makes one abuse happen with real
 * processes on real sockets of 127.0.0.1 and asserts the figure the
 * issue names.  (The load is in test_abuse.c.)
 *
 *	idle_connections	512 idle or slowloris connections, then the
 *				connection cap
 *	busy_connections_503	every connection busy: 503, not a reset
 *	sigterm_group_in_flight	SIGTERM to the process group, 1,000 calls
 *				in flight
 *	delete_session_mid_call	DELETE of a session whose calls are pending
 *	descriptor_limit	RLIMIT_NOFILE 256/512, the connections full,
 *				a worker killed
 *	id_out_of_range		-99999999999999999999 as a request id
 *	nul_in_names		"tools/list\u0000junk", "x_echo\u0000junk"
 *	content_length_conflict	two Content-Length headers that differ
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <json-c/json.h>

#include "jsonscan.h"
#include "mesh-limits.h"
#include "integration/abuse.h"
#include "integration/logtext.h"

#define T_TIMEOUT	60	/* seconds, any one test */

/* --- 4. request ids out of range ------------------------------------------- */

static const char *const bad_ids[] = { "-99999999999999999999",
    "99999999999999999999", "-9223372036854775809", NULL };

/* An answer for no request: -32600 with a null id (or none). */
static void
expect_invalid_null_id(const char *what, struct json_object *msg)
{
	struct json_object	*id = NULL;
	int64_t			 code = 0;

	cr_assert_not_null(msg, "%s: no JSON answer", what);
	cr_assert(json_path_int(msg, "error.code", &code) == 0 &&
	    code == -32600, "%s: want error -32600, got %s", what,
	    json_object_to_json_string(msg));
	cr_assert(!json_object_object_get_ex(msg, "id", &id) || id == NULL,
	    "%s: answered with id %s (want null)", what,
	    json_object_to_json_string(id));
}

MESH_TEST(abuse, id_out_of_range, .timeout = T_TIMEOUT)
{
	struct fixture		 f, s;
	struct http_req		 q;
	struct http_resp	 r;
	struct mcp_hdrbuf	 hb;
	struct json_object	*msg;
	char			 body[256], what[128];
	int			 i;

	one_peer(&f, "x", NULL);
	for (i = 0; bad_ids[i] != NULL; i++) {
		snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":%s,"
		    "\"method\":\"tools/call\",\"params\":{\"name\":\"x_echo\","
		    "\"arguments\":{\"text\":\"t\"}}}", bad_ids[i]);
		memset(&q, 0, sizeof(q));
		q.url = f.murl;
		q.body = body;
		mcp_headers(&f.c, &q, &hb);
		http_do(&q, &r);
		snprintf(what, sizeof(what), "HTTP, id %s", bad_ids[i]);
		cr_assert_eq(r.curlcode, 0);
		cr_assert_eq(r.status, 400, "%s: HTTP %ld: %.300s", what,
		    r.status, r.body ? r.body : "");
		expect_invalid_null_id(what, r.json);
		http_resp_free(&r);
	}
	fixture_stop(&f);

	/* A mesh over stdio, no peer. */
	fixture_init(&s);
	fixture_start(&s, FIXTURE_STDIO, NULL);
	line_handshake(s.line);
	for (i = 0; bad_ids[i] != NULL; i++) {
		snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":%s,"
		    "\"method\":\"ping\"}\n{\"jsonrpc\":\"2.0\",\"id\":7,"
		    "\"method\":\"ping\"}\n", bad_ids[i]);
		cr_assert_eq(line_write(s.line, body, strlen(body)), 0);
		snprintf(what, sizeof(what), "stdio, id %s", bad_ids[i]);
		msg = line_expect_answer(s.line);
		expect_invalid_null_id(what, msg);
		json_object_put(msg);
		/* The next request is answered as itself. */
		msg = line_expect_response(s.line, 7);
		cr_assert_not_null(json_path(msg, "result"), "%s: the ping "
		    "after it was answered %s", what,
		    json_object_to_json_string(msg));
		json_object_put(msg);
	}
}

/* --- 5. idle and slowloris connections ------------------------------------- */

#define NIDLE		512
#define NEW_CLIENT_MS	2000
#define SLOW_HEADER	"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" \
	"Accept: application/json, text/event-stream\r\n" \
	"Content-Type: application/json\r\nX-Slow: "

struct slowloris {
	int		*fds;
	int		 n;
	atomic_int	 stop;
	int		 sent;		/* header bytes each */
};

/* One header byte a second on each connection (never the end). */
static void *
slowloris_main(void *arg)
{
	struct slowloris	*s = arg;
	const char		*h = SLOW_HEADER;
	char			 ch;
	int			 i, k;

	while (!atomic_load(&s->stop)) {
		ch = s->sent < (int)strlen(h) ? h[s->sent] : 'x';
		for (i = 0; i < s->n; i++)
			if (s->fds[i] != -1 &&
			    send(s->fds[i], &ch, 1, MSG_NOSIGNAL | MSG_DONTWAIT)
			    != 1) {
				close(s->fds[i]);
				s->fds[i] = -1;
			}
		s->sent++;
		for (k = 0; k < 10 && !atomic_load(&s->stop); k++)
			harness_msleep(100);
	}
	return (NULL);
}

/* initialize and a call, from a new client; ms it took, or -1. */
static int64_t
new_client(const char *murl, const char *tool, char *why, size_t len)
{
	struct mcp_client	 c;
	struct http_resp	 r;
	uint64_t		 t0 = now_ms();
	int64_t			 ms;
	int			 ok;

	if (mcp_open(&c, murl) == -1) {
		snprintf(why, len, "initialize failed");
		return (-1);
	}
	mcp_call_tool(&c, tool, "{\"text\":\"new\"}", &r);
	ms = (int64_t)(now_ms() - t0);
	ok = r.status == 200 && !answer_is_error(&r) &&
	    strcmp(answer_text(&r), "new") == 0;
	if (!ok)
		snprintf(why, len, "%s: curl %d, HTTP %ld: %.200s", tool,
		    r.curlcode, r.status, r.body ? r.body : "");
	http_resp_free(&r);
	mcp_close(&c);
	return (ok ? ms : -1);
}

/* One initialize on a new connection: served (200) or 503, never reset. */
static int
at_cap_client(const char *murl, int *served)
{
	struct http_req		 q;
	struct http_resp	 r;
	int			 status;

	memset(&q, 0, sizeof(q));
	q.url = murl;
	q.body = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
	    "\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":"
	    "{},\"clientInfo\":{\"name\":\"cap\",\"version\":\"1\"}}}";
	q.headers[0] = MCP_ACCEPT;
	q.headers[1] = MCP_CTYPE;
	q.timeout_ms = 10000;
	http_do(&q, &r);
	cr_assert_eq(r.curlcode, 0, "a new connection at the cap: curl %d "
	    "(a reset or no answer), HTTP %ld", r.curlcode, r.status);
	cr_assert(r.status == 200 || r.status == 503, "a new connection at "
	    "the cap: HTTP %ld: %.200s", r.status, r.body ? r.body : "");
	status = (int)r.status;
	if (status == 200)
		(*served)++;
	http_resp_free(&r);
	return (status);
}

MESH_TEST(abuse, idle_connections, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct proc		*mesh;
	struct slowloris	 s;
	pthread_t		 th;
	char			 why[512];
	int			 fds[HTTP_CONNECTIONS_MAX + 64], i, n = 0;
	int			 nslow = NIDLE / 2, served = 0, cap;
	int64_t			 ms;
	uint64_t		 t0;

	nofile_raise();
	one_peer(&f, "g", NULL);
	mesh = f.mesh;
	cap = mesh_conn_cap(mesh);
	/* Half send nothing, half a header byte a second. */
	for (i = 0; i < NIDLE; i++) {
		fds[n] = tcp_connect(f.mport);
		cr_assert_neq(fds[n], -1, "connection %d: %s", i,
		    strerror(errno));
		n++;
	}
	memset(&s, 0, sizeof(s));
	s.fds = fds + NIDLE - nslow;
	s.n = nslow;
	atomic_store(&s.stop, 0);
	cr_assert_eq(pthread_create(&th, NULL, slowloris_main, &s), 0);
	/* The slowloris connections have sent their first bytes. */
	harness_msleep(300);
	ms = new_client(f.murl, "g_echo", why, sizeof(why));
	cr_log_info("%d idle and slowloris connections: a new client served "
	    "in %lld ms", NIDLE, (long long)ms);
	cr_assert_geq(ms, 0, "with %d idle and slowloris connections open, a "
	    "new client was not served: %s", NIDLE, why);
	cr_assert_leq(ms, NEW_CLIENT_MS, "with %d idle and slowloris "
	    "connections open, a new client took %lld ms", NIDLE,
	    (long long)ms);

	/* To the cap and past it: the oldest idle ones make room. */
	while (n < cap + 32) {
		fds[n] = tcp_connect(f.mport);
		cr_assert_neq(fds[n], -1, "connection %d: %s", n,
		    strerror(errno));
		n++;
	}
	/* The mesh has accepted them (nothing tells). */
	harness_msleep(200);
	t0 = now_ms();
	for (i = 0; i < 20; i++)
		at_cap_client(f.murl, &served);
	cr_log_info("%d connections opened (cap %d): %d of 20 new clients "
	    "served in %llu ms, the others 503", n, cap, served,
	    (unsigned long long)(now_ms() - t0));
	ms = new_client(f.murl, "g_echo", why, sizeof(why));
	cr_assert_geq(ms, 0, "past the cap, a new client was not served: %s",
	    why);

	/* Nothing of a request in HTTP_HEADER_TIMEOUT_MS: closed. */
	harness_msleep(HTTP_HEADER_TIMEOUT_MS + 1000);
	atomic_store(&s.stop, 1);
	pthread_join(th, NULL);
	cr_assert_leq(proc_fd_count(mesh->pid), 64, "the mesh still holds "
	    "%d descriptors %d ms after the idle connections were opened",
	    proc_fd_count(mesh->pid), HTTP_HEADER_TIMEOUT_MS + 1000);
	for (i = 0; i < n; i++)
		if (fds[i] != -1)
			close(fds[i]);
	for (i = 0; i < nslow; i++)
		if (s.fds[i] != -1)
			close(s.fds[i]);
	fixture_stop(&f);
}

/*
 * Every connection busy with a call that hangs (three peers that never
 * answer, PEER_INFLIGHT_MAX calls each at most): a new connection is
 * answered 503 (libmicrohttpd's own limit is above ours), never reset.
 */
#define NHANG_PEERS	3
#define HANG_DEADLINE	"12000"	/* --timeout: the calls hang this long */

/*
 * On the heap, the client copied: the thread outlives a test body that
 * an assertion ends.
 */
struct hangers {
	char		 url[128];
	struct mcp_client c;
	int		 n;
	long		 answered;
};

static void	*hangers_main(void *);

/* The fixture's NHANG_PEERS gateways that hang every call, h0, h1, h2. */
static void
hang_peers(struct fixture *f)
{
	char	 name[16];
	int	 i;

	fixture_init(f);
	for (i = 0; i < NHANG_PEERS; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		fixture_peer_gateway(f, name, "--mode", "hang", NULL);
	}
}

static struct hangers *
hangers_start(pthread_t *th, struct mcp_client *c, int n)
{
	struct hangers	*h;

	h = calloc(1, sizeof(*h));
	cr_assert_not_null(h);
	snprintf(h->url, sizeof(h->url), "%s", c->url);
	h->c = *c;
	h->c.session = strdup(c->session);
	h->n = n;
	cr_assert_eq(pthread_create(th, NULL, hangers_main, h), 0);
	return (h);
}

static void *
hangers_main(void *arg)
{
	struct hangers		*h = arg;
	struct http_req		*q;
	struct http_resp	*r;
	struct mcp_hdrbuf	*hb;
	char			**body;
	int			 i;

	q = calloc((size_t)h->n, sizeof(*q));
	r = calloc((size_t)h->n, sizeof(*r));
	hb = calloc((size_t)h->n, sizeof(*hb));
	body = calloc((size_t)h->n, sizeof(*body));
	for (i = 0; i < h->n; i++) {
		if (asprintf(&body[i], "{\"jsonrpc\":\"2.0\",\"id\":%d,"
		    "\"method\":\"tools/call\",\"params\":{\"name\":"
		    "\"h%d_echo\",\"arguments\":{\"text\":\"h\"}}}", i,
		    i % NHANG_PEERS) == -1)
			abort();
		q[i].url = h->url;
		q[i].body = body[i];
		q[i].timeout_ms = 30000;
		mcp_headers(&h->c, &q[i], &hb[i]);
	}
	http_perform_paced(q, r, h->n, 64, 20);
	for (i = 0; i < h->n; i++) {
		if (r[i].curlcode == 0 && r[i].status == 200)
			h->answered++;
		http_resp_free(&r[i]);
		free(body[i]);
	}
	free(q);
	free(r);
	free(hb);
	free(body);
	return (NULL);
}

/* callsInFlight from a new connection; 0 if it got 503. */
static int64_t
calls_in_flight(struct mcp_client *c, long *status)
{
	struct http_req		 q;
	struct http_resp	 r;
	struct mcp_hdrbuf	 hb;
	int64_t			 n = 0;

	memset(&q, 0, sizeof(q));
	q.url = c->url;
	q.body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"mesh_node_info\",\"arguments\":{}}}";
	mcp_headers(c, &q, &hb);
	http_do(&q, &r);
	cr_assert_eq(r.curlcode, 0, "mesh_node_info while the connections "
	    "fill: curl %d (a reset?)", r.curlcode);
	json_path_int(r.json, "result.structuredContent.callsInFlight", &n);
	*status = r.status;
	http_resp_free(&r);
	return (n);
}

MESH_TEST(abuse, busy_connections_503, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct proc		*mesh;
	struct mcp_client	*c = &f.c;
	struct hangers		*h;
	pthread_t		 th;
	int			 cap, i, served = 0, n503 = 0;
	int64_t			 inflight = 0;
	long			 status = 0;
	uint64_t		 t0;
	int			 fd0;

	nofile_raise();
	hang_peers(&f);
	fixture_start(&f, 0, "--timeout", HANG_DEADLINE, NULL);
	mesh = f.mesh;
	cap = mesh_conn_cap(mesh);
	cr_assert_leq(cap, NHANG_PEERS * PEER_INFLIGHT_MAX);
	/*
	 * Until every connection holds a call, counted by the mesh's
	 * descriptors: asking it over HTTP would take a connection that a
	 * hanging call then finds busy.
	 */
	fd0 = proc_fd_count(mesh->pid);
	h = hangers_start(&th, c, cap);
	t0 = now_ms();
	while (proc_fd_count(mesh->pid) < fd0 + cap &&
	    now_ms() - t0 < 9000)
		harness_msleep(20);
	/* The last connections' calls have reached the mesh. */
	harness_msleep(300);
	inflight = calls_in_flight(c, &status);
	cr_log_info("%d connections after %llu ms (cap %d), then HTTP %ld",
	    proc_fd_count(mesh->pid) - fd0, (unsigned long long)(now_ms()
	    - t0), cap, status);
	cr_assert_eq(status, 503, "a connection over the cap of %d busy ones: "
	    "HTTP %ld, %lld calls in flight", cap, status, (long long)inflight);
	for (i = 0; i < 20; i++)
		if (at_cap_client(f.murl, &served) == 503)
			n503++;
	cr_log_info("every connection busy: %d of 20 new clients got 503, %d "
	    "served", n503, served);
	cr_assert_eq(n503, 20, "%d of 20 new clients served with every "
	    "connection busy", 20 - n503);
	/* The calls end at their deadline; then connections are free. */
	pthread_join(th, NULL);
	cr_assert_eq(h->answered, cap, "%ld of %d hanging calls answered",
	    h->answered, cap);
	free(h->c.session);
	free(h);
	cr_assert_eq(at_cap_client(f.murl, &served), 200);
	fixture_stop(&f);
}

/*
 * SIGTERM to the process group (what systemd sends by default) with a
 * thousand calls in flight: workers die as the mesh abandons their calls
 * and tells them, which must neither spin nor touch a freed call; the
 * mesh exits within the harness's grace.  The race is the workers' death
 * during that loop: a few rounds.
 */
#define GROUP_ROUNDS	3
#define GROUP_CALLS	1000
#define GROUP_EXIT_MS	3000

MESH_TEST(abuse, sigterm_group_in_flight, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct proc		*mesh;
	struct hangers		*h;
	pthread_t		 th;
	int			 round;
	int64_t			 inflight = 0;
	long			 status;
	uint64_t		 t0, gone[GROUP_ROUNDS];

	nofile_raise();
	hang_peers(&f);
	for (round = 0; round < GROUP_ROUNDS; round++) {
		fixture_start(&f, 0, "--timeout", HANG_DEADLINE, NULL);
		mesh = f.mesh;
		h = hangers_start(&th, &f.c, GROUP_CALLS);
		t0 = now_ms();
		do {
			harness_msleep(50);
			inflight = calls_in_flight(&f.c, &status);
		} while (inflight < GROUP_CALLS && now_ms() - t0 < 8000);
		cr_assert_geq(inflight, GROUP_CALLS, "only %lld calls in flight",
		    (long long)inflight);
		t0 = now_ms();
		cr_assert_eq(kill(-mesh->pid, SIGTERM), 0);
		proc_wait_exit(mesh, 10000);
		gone[round] = now_ms() - t0;
		if (proc_alive(mesh))
			kill(-mesh->pid, SIGKILL);
		pthread_join(th, NULL);
		free(h->c.session);
		free(h);
		cr_log_info("round %d: %lld calls in flight, SIGTERM to the "
		    "process group: the mesh gone after %llu ms", round + 1,
		    (long long)inflight, (unsigned long long)gone[round]);
		cr_assert_leq(gone[round], GROUP_EXIT_MS, "round %d: the mesh "
		    "was still there %llu ms after SIGTERM to its process "
		    "group with %lld calls in flight", round + 1,
		    (unsigned long long)gone[round], (long long)inflight);
		cr_assert_eq(proc_log_count(mesh, LOG_SECOND_ANSWER), 0,
		    "round %d: calls answered twice", round + 1);
		/* Its session went with it; the next round starts anew. */
		fixture_stop_mesh(&f);
	}
}

/*
 * A client deletes its session while its calls are pending (single
 * requests and a batch): each pending POST is answered 404, and the mesh
 * lives on (it used to dereference the ended session at that answer).
 */
#define MIDCALL_N	3

struct midcall {
	struct http_req		 q[MIDCALL_N + 1];
	struct http_resp	 r[MIDCALL_N + 1];
	struct mcp_hdrbuf	 hb[MIDCALL_N + 1];
	char			*body[MIDCALL_N + 1];
};

static void *
midcall_main(void *arg)
{
	struct midcall	*m = arg;

	http_perform_raw(m->q, m->r, MIDCALL_N + 1);
	return (NULL);
}

MESH_TEST(abuse, delete_session_mid_call, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct mcp_client	*c = &f.c, b, nc;
	struct midcall		*m;
	struct http_resp	 r;
	pthread_t		 th;
	int			 i;
	int64_t			 inflight = 0;
	long			 status;
	uint64_t		 t0;

	fixture_init(&f);
	fixture_peer_gateway(&f, "h", "--mode", "hang", NULL);
	harness_asan_small_quarantine();
	fixture_start(&f, 0, "--timeout", "20000", NULL);
	cr_assert_eq(mcp_open_version(&b, f.murl, "2025-03-26"), 0);
	cr_assert_eq(mcp_open(&nc, f.murl), 0);
	/* MIDCALL_N calls in c, a batch of two in b: all pending. */
	m = calloc(1, sizeof(*m));
	for (i = 0; i <= MIDCALL_N; i++) {
		if (i < MIDCALL_N)
			cr_assert_neq(asprintf(&m->body[i], "{\"jsonrpc\":\"2.0\","
			    "\"id\":%d,\"method\":\"tools/call\",\"params\":"
			    "{\"name\":\"h_echo\",\"arguments\":{\"text\":"
			    "\"x\"}}}", i), -1);
		else
			cr_assert_neq(asprintf(&m->body[i], "[{\"jsonrpc\":"
			    "\"2.0\",\"id\":8,\"method\":\"tools/call\","
			    "\"params\":{\"name\":\"h_echo\",\"arguments\":"
			    "{\"text\":\"x\"}}},{\"jsonrpc\":\"2.0\",\"id\":9,"
			    "\"method\":\"ping\"}]"), -1);
		m->q[i].url = f.murl;
		m->q[i].body = m->body[i];
		m->q[i].timeout_ms = 15000;
		mcp_headers(i < MIDCALL_N ? c : &b, &m->q[i], &m->hb[i]);
	}
	cr_assert_eq(pthread_create(&th, NULL, midcall_main, m), 0);
	t0 = now_ms();
	do {
		harness_msleep(20);
		inflight = calls_in_flight(&nc, &status);
	} while (inflight < MIDCALL_N + 2 && now_ms() - t0 < 5000);
	cr_assert_geq(inflight, MIDCALL_N + 2, "only %lld calls in flight",
	    (long long)inflight);
	mcp_close(c);
	mcp_close(&b);
	pthread_join(th, NULL);
	cr_assert(proc_alive(f.mesh), "the mesh died when sessions with "
	    "pending calls were deleted (status 0x%x)", f.mesh->status);
	for (i = 0; i <= MIDCALL_N; i++) {
		cr_assert(m->r[i].curlcode == 0 && m->r[i].status == 404,
		    "pending %s %d after its session was deleted: curl %d, "
		    "HTTP %ld: %.200s", i < MIDCALL_N ? "call" : "batch", i,
		    m->r[i].curlcode, m->r[i].status,
		    m->r[i].body ? m->r[i].body : "");
		http_resp_free(&m->r[i]);
		free(m->body[i]);
	}
	free(m);
	mcp_call_tool(&nc, "mesh_node_info", "{}", &r);
	cr_assert_eq(r.status, 200, "the mesh does not answer any more");
	http_resp_free(&r);
	mcp_close(&nc);
	fixture_stop(&f);
}

/* --- 6. a small descriptor limit ------------------------------------------- */

#define NOFILE_SOFT	256
#define NOFILE_HARD	512
#define RESPAWN_MS	1500	/* a killed worker is ready again within */
#define RESPAWN_WAIT_MS	12000	/* looked for this long (the old wait: 30 s) */

MESH_TEST(abuse, descriptor_limit, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct proc		*mesh;
	struct http_resp	 r;
	struct rlimit		 rl, old;
	char			 ready[64], *capline;
	int			 cap, i, n = 0, *fds, ready0;
	long			 soft = -1, hard = -1;
	pid_t			 pid;
	uint64_t		 tkill, back = 0;

	fixture_init(&f);
	fixture_peer_gateway(&f, "g", NULL);
	/* The mesh inherits a small limit; ours is raised again after. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	cr_assert_geq(old.rlim_max, NOFILE_HARD);
	rl.rlim_cur = NOFILE_SOFT;
	rl.rlim_max = NOFILE_HARD;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	harness_asan_small_quarantine();
	fixture_start(&f, 0, NULL);
	rl.rlim_cur = NOFILE_HARD;
	setrlimit(RLIMIT_NOFILE, &rl);
	mesh = f.mesh;
	proc_nofile(mesh->pid, &soft, &hard);
	/* Logged before the mesh listens. */
	capline = proc_log_find(mesh, LOG_CONN_CAP);
	cap = mesh_conn_cap(mesh);
	cr_log_info("mesh descriptor limit: soft %ld, hard %ld; HTTP "
	    "connections %d: %s", soft, hard, cap, capline ? capline : "");

	pid = peer_pid(&f.c, "g");
	cr_assert_gt(pid, 0);
	mcp_close(&f.c);
	/* More idle connections than descriptors are left. */
	fds = calloc(NOFILE_HARD, sizeof(*fds));
	for (i = 0; i < NOFILE_HARD - 200; i++)
		if ((fds[n] = tcp_connect(f.mport)) != -1)
			n++;
	/* The mesh has accepted them (nothing tells). */
	harness_msleep(300);
	snprintf(ready, sizeof(ready), LOG_PEER_READY, "g");
	ready0 = proc_log_count(mesh, ready);
	tkill = now_ms();
	cr_assert_eq(kill(pid, SIGKILL), 0);
	if (proc_wait_log_count(mesh, ready, ready0 + 1, RESPAWN_WAIT_MS) > 0)
		back = now_ms() - tkill;
	cr_log_info("%d idle connections (cap %d): the killed worker was back "
	    "after %llu ms%s", n, cap, (unsigned long long)back, back ? "" :
	    " (never)");
	cr_assert_gt(back, 0, "the killed worker was not back within %d ms "
	    "with the connections full", RESPAWN_WAIT_MS);
	cr_assert_leq(back, RESPAWN_MS, "the killed worker took %llu ms to "
	    "come back with the connections full", (unsigned long long)back);
	cr_assert_eq(proc_log_count(mesh, LOG_EMFILE), 0,
	    "the mesh ran out of descriptors");
	cr_assert(soft == NOFILE_HARD && hard == NOFILE_HARD, "the mesh's "
	    "descriptor limit is %ld/%ld: the soft one was not raised to %d",
	    soft, hard, NOFILE_HARD);
	cr_assert_not_null(capline, "the log does not name the connection "
	    "cap");
	cr_assert(cap > 0 && cap < NOFILE_HARD - 64, "connection cap %d with "
	    "%d descriptors", cap, NOFILE_HARD);
	free(capline);
	cr_assert_eq(mcp_open(&f.c, f.murl), 0, "no session with the cap "
	    "full");
	mcp_call_tool(&f.c, "g_echo", "{\"text\":\"back\"}", &r);
	cr_assert_str_eq(answer_text(&r), "back", "g_echo: %.300s",
	    r.body ? r.body : "");
	http_resp_free(&r);
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	fixture_stop(&f);
}

/* --- 13. NUL inside names --------------------------------------------------- */

static void
expect_code(const char *what, struct json_object *msg, int64_t id, int code)
{
	int64_t	 got = 0, gid = -1;

	cr_assert_not_null(msg, "%s: no JSON answer", what);
	cr_assert(json_path_int(msg, "error.code", &got) == 0 && got == code,
	    "%s: want error %d, got %s", what, code,
	    json_object_to_json_string(msg));
	cr_assert(json_path_int(msg, "id", &gid) == 0 && gid == id,
	    "%s: answered with another id: %s", what,
	    json_object_to_json_string(msg));
}

MESH_TEST(abuse, nul_in_names, .timeout = T_TIMEOUT)
{
	static const struct {
		const char	*line;
		int		 code;
	} cases[] = {
		{ "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":"
		    "\"tools/list\\u0000junk\"}", -32601 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"x_echo\\u0000junk\",\"arguments\":"
		    "{\"text\":\"t\"}}}", -32602 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"tools/call\","
		    "\"params\":{\"name\":\"mesh_node_info\\u0000\","
		    "\"arguments\":{}}}", -32602 },
		{ "{\"jsonrpc\":\"2.0\",\"id\":14,\"method\":"
		    "\"ping\\u0000\"}", -32601 },
	};
	struct fixture		 f, s;
	struct http_req		 q;
	struct http_resp	 r;
	struct mcp_hdrbuf	 hb;
	struct json_object	*msg;
	char			 what[64];
	int			 i;
	size_t			 k;

	one_peer(&f, "x", NULL);
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		memset(&q, 0, sizeof(q));
		q.url = f.murl;
		q.body = cases[k].line;
		mcp_headers(&f.c, &q, &hb);
		http_do(&q, &r);
		snprintf(what, sizeof(what), "HTTP, request %d", 11 + (int)k);
		cr_assert_eq(r.status, 200, "%s: HTTP %ld: %.300s", what,
		    r.status, r.body ? r.body : "");
		expect_code(what, r.json, 11 + (int)k, cases[k].code);
		http_resp_free(&r);
	}
	fixture_stop_mesh(&f);

	/* The same over stdio, the same gateway behind it. */
	fixture_init(&s);
	fixture_bridge(&s, "x", f.gw[0].url, 1);
	fixture_start(&s, FIXTURE_STDIO, NULL);
	line_handshake(s.line);
	for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		line_expect_send(s.line, cases[i].line);
		snprintf(what, sizeof(what), "stdio, request %d", 11 + i);
		/* Notifications (a list_changed) may come before it. */
		msg = line_expect_answer(s.line);
		expect_code(what, msg, 11 + i, cases[i].code);
		json_object_put(msg);
	}
}

/* --- 14. two Content-Length headers ----------------------------------------- */

static char *
raw_post(int port, const char *cl1, const char *cl2, const char *body,
    size_t *len)
{
	char	 req[2048];
	int	 fd, n;

	n = snprintf(req, sizeof(req), "POST /mcp HTTP/1.1\r\nHost: "
	    "127.0.0.1:%d\r\n%s\r\n%s\r\nContent-Length: %s\r\n%s%s%s"
	    "Connection: close\r\n\r\n%s", port, MCP_ACCEPT, MCP_CTYPE, cl1,
	    cl2 ? "Content-Length: " : "", cl2 ? cl2 : "", cl2 ? "\r\n" : "",
	    body);
	fd = tcp_connect(port);
	cr_assert_neq(fd, -1);
	cr_assert_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
	return (tcp_read_all(fd, 5000, len));
}

MESH_TEST(abuse, content_length_conflict, .timeout = T_TIMEOUT)
{
	static const char	 init[] = "{\"jsonrpc\":\"2.0\",\"id\":0,"
	    "\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
	    "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":"
	    "\"cl\",\"version\":\"1\"}}}";
	char			 len[16], more[16], less[16], *resp;
	const char		*pairs[][2] = { { len, more }, { more, len },
				    { len, less }, { less, len } };
	struct fixture		 f;
	size_t			 n, k;

	one_peer(&f, "x", NULL);
	snprintf(len, sizeof(len), "%zu", sizeof(init) - 1);
	snprintf(more, sizeof(more), "%zu", sizeof(init) + 40);
	snprintf(less, sizeof(less), "%d", 5);
	for (k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		resp = raw_post(f.mport, pairs[k][0], pairs[k][1], init, &n);
		cr_log_info("Content-Length %s and %s: %.*s", pairs[k][0],
		    pairs[k][1], (int)strcspn(resp, "\r\n"), resp);
		cr_assert(strncmp(resp, "HTTP/1.1 400", 12) == 0,
		    "Content-Length %s and %s: want 400, got: %.300s",
		    pairs[k][0], pairs[k][1], n ? resp : "(nothing)");
		cr_assert(strstr(resp, HTTP_CONTENT_LENGTHS) != NULL,
		    "Content-Length %s and %s: a 400 for another reason: %.300s",
		    pairs[k][0], pairs[k][1], resp);
		free(resp);
	}
	/* The same value twice is one value. */
	resp = raw_post(f.mport, len, len, init, &n);
	cr_assert(strncmp(resp, "HTTP/1.1 200", 12) == 0, "Content-Length %s "
	    "twice: want 200, got %.300s", len, n ? resp : "(nothing)");
	free(resp);
	/* And one alone, of course. */
	resp = raw_post(f.mport, len, NULL, init, &n);
	cr_assert(strncmp(resp, "HTTP/1.1 200", 12) == 0, "one "
	    "Content-Length: %.300s", n ? resp : "(nothing)");
	free(resp);
	fixture_stop(&f);
}
