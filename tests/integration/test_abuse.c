/*
 * Reliability under load and abuse from clients (issue 9), the load:
 * each test makes one abuse happen with real processes on real sockets
 * of 127.0.0.1 and asserts the figure the issue names.  Connections and
 * malformed requests are in test_abuse_conn.c; misbehaving workers and
 * deaths from outside in test_abuse_workers.c.
 *
 *	volume_big_calls	36 calls of 3.5 MB at once to one peer while
 *				a healthy client calls it too
 *	batch_amplification	256 tools/list of 10,000 tools in one batch
 *	stdio_not_reading	a stdio client that stops reading stdout
 *	session_flood		1,030 initializes
 *	unread_answers		100 answers of 3.5 MB nobody reads
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

/* --- 1. volume ------------------------------------------------------------ */

/*
 * NBIG calls of 3.5 MB each to one peer at once, twice, while a healthy
 * client calls the same peer all along.  Flow control toward the worker
 * refuses what does not fit as "busy"; the worker is never killed for
 * volume, so the healthy client sees no error.
 */
#define NBIG		36
#define NBIG_SESSIONS	6

MESH_TEST(abuse, volume_big_calls, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct mcp_client	*c = &f.c, cl[NBIG_SESSIONS];
	struct http_req		 q[NBIG];
	struct http_resp	 r[NBIG];
	struct mcp_hdrbuf	 hb[NBIG];
	struct bg		 bg;
	char			*body[NBIG], state[32], prefix[16], busy_v[32];
	char			 firsterr[512];
	const char		*text;
	pid_t			 pid0, pid1;
	uint64_t		 t0, ms;
	long			 ok = 0, busy = 0, other = 0;
	size_t			 len;
	int			 i, round, id;

	one_peer(&f, "v", NULL);
	snprintf(busy_v, sizeof(busy_v), ANSWER_BUSY, "v");
	pid0 = peer_pid(c, "v");
	cr_assert_gt(pid0, 0, "no worker pid for peer v");
	for (i = 0; i < NBIG_SESSIONS; i++)
		cr_assert_eq(mcp_open(&cl[i], f.murl), 0);
	bg_start(&bg, f.murl, "v_echo", 2);
	/* The healthy client is calling before the big calls come. */
	harness_msleep(200);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < NBIG; i++) {
			id = 1000 * (round + 1) + i;
			body[i] = big_call_body(id, "v_echo", ABUSE_BIG_TEXT,
			    &len);
			memset(&q[i], 0, sizeof(q[i]));
			q[i].url = f.murl;
			q[i].body = body[i];
			q[i].bodylen = len;
			q[i].timeout_ms = 45000;
			mcp_headers(&cl[i % NBIG_SESSIONS], &q[i], &hb[i]);
		}
		t0 = now_ms();
		http_perform(q, r, NBIG);
		ms = now_ms() - t0;
		cr_log_info("round %d: %d calls of %d bytes answered in %llu ms",
		    round + 1, NBIG, ABUSE_BIG_TEXT, (unsigned long long)ms);
		for (i = 0; i < NBIG; i++) {
			id = 1000 * (round + 1) + i;
			text = answer_text(&r[i]);
			snprintf(prefix, sizeof(prefix), "%08d", id);
			if (r[i].curlcode != 0 || r[i].status != 200 ||
			    !answer_id_is(&r[i], id)) {
				if (other++ == 0)
					snprintf(firsterr, sizeof(firsterr), "big "
					    "call %d: no answer (curl %d, HTTP "
					    "%ld): %.300s", id, r[i].curlcode,
					    r[i].status, r[i].body ? r[i].body :
					    "");
			} else if (answer_is_error(&r[i]) &&
			    strncmp(text, busy_v, strlen(busy_v)) == 0)
				busy++;
			else if (!answer_is_error(&r[i]) &&
			    big_text_ok(text, ABUSE_BIG_TEXT) &&
			    strncmp(text, prefix, 8) == 0)
				ok++;
			else if (other++ == 0)
				snprintf(firsterr, sizeof(firsterr), "big call %d: "
				    "neither its echo nor \"busy\": %.300s", id,
				    r[i].body);
			http_resp_free(&r[i]);
			free(body[i]);
		}
	}
	bg_stop(&bg);
	cr_log_info("volume: %ld big calls echoed, %ld refused as busy, %ld "
	    "otherwise; the healthy client %ld ok, %ld failed", ok, busy,
	    other, bg.ok, bg.fail);
	cr_assert_eq(bg.fail, 0, "the healthy client failed %ld of %ld calls "
	    "to the same peer; first: %s", bg.fail, bg.ok + bg.fail,
	    bg.firsterr);
	cr_assert_gt(bg.ok, 0, "the healthy client was never answered");
	cr_assert_eq(other, 0, "%ld big calls answered neither with their echo "
	    "nor \"busy\"; first: %s", other, firsterr);
	cr_assert_gt(ok, 0, "no big call went through");
	pid1 = peer_pid_state(c, "v", state, sizeof(state));
	cr_assert_eq(pid1, pid0, "the worker of v changed from %d to %d "
	    "(state %s): killed for volume", (int)pid0, (int)pid1, state);
	cr_assert_eq(proc_log_count(f.mesh, LOG_KILLING_WORKER), 0,
	    "the mesh killed a worker for volume");
	for (i = 0; i < NBIG_SESSIONS; i++)
		mcp_close(&cl[i]);
	fixture_stop(&f);
}

/* --- 2. batch amplification ------------------------------------------------ */

#define BATCH_N		HTTP_BATCH_MAX
#define BATCH_ERR_MAX	256	/* bytes of one "too large" error, at most */
#define BATCH_AT_ONCE	4
#define BATCH_OVERHEAD_KB (16 * 1024)	/* the list, requests, buffers */

static char *
batch_body(size_t *len)
{
	char	*b;
	size_t	 o = 0, cap = (size_t)BATCH_N * 64 + 16;
	int	 i;

	b = malloc(cap);
	cr_assert_not_null(b);
	b[o++] = '[';
	for (i = 1; i <= BATCH_N; i++)
		o += (size_t)snprintf(b + o, cap - o, "%s{\"jsonrpc\":\"2.0\","
		    "\"id\":%d,\"method\":\"tools/list\"}", i > 1 ? "," : "", i);
	b[o++] = ']';
	b[o] = '\0';
	*len = o;
	return (b);
}

/* The JSON value of len bytes at p (not NUL-ended), or NULL. */
static struct json_object *
json_slice(const char *p, size_t len)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, p, (int)len);
	json_tokener_free(tok);
	return (o);
}

/*
 * The answer to one batch, read as text (parsing 32 MB of lists would be
 * most of the test's time): an array of BATCH_N answers in order, each
 * the whole list or a "too large" error of at most BATCH_ERR_MAX bytes,
 * and all of it within HTTP_ANSWER_MAX and one error per element.
 */
static void
batch_check(const char *what, struct http_resp *r, int *nres, int *nerr)
{
	struct json_object	*e;
	const char		*p, *end, *msg;
	char			 head[64], toolarge[160];
	int64_t			 code;
	size_t			 elen, hlen, errbytes = 0, i;

	*nres = *nerr = 0;
	snprintf(toolarge, sizeof(toolarge), ANSWER_BATCH_TOO_LARGE,
	    HTTP_ANSWER_MAX);
	cr_assert(r->curlcode == 0 && r->status == 200, "%s: curl %d, HTTP "
	    "%ld: %.300s", what, r->curlcode, r->status, r->body ? r->body :
	    "");
	cr_assert(r->len > 2 && r->body[0] == '[' && r->body[r->len - 1] ==
	    ']', "%s: the answer is not an array (%zu bytes): %.300s", what,
	    r->len, r->body ? r->body : "");
	p = r->body + 1;
	end = r->body + r->len - 1;
	for (i = 1; p < end; i++) {
		elen = jsonrpc_scan(p, (size_t)(end - p), JSON_DEPTH_MAX);
		cr_assert_gt(elen, 0, "%s: answer %zu is not one JSON value: "
		    "%.200s", what, i, p);
		hlen = (size_t)snprintf(head, sizeof(head), "%s%zu,\"result\":"
		    "{\"tools\":[", JSONRPC_CANON_HEAD, i);
		if (elen > 10000 * 20 && strncmp(p, head, hlen) == 0) {
			/* The first one is checked whole. */
			if (*nres == 0) {
				e = json_tokener_parse(p);
				cr_assert_geq(json_object_array_length(json_path(
				    e, "result.tools")), 10000, "%s: answer %zu: "
				    "not 10,000 tools", what, i);
				json_object_put(e);
			}
			(*nres)++;
		} else {
			cr_assert_leq(elen, BATCH_ERR_MAX, "%s: answer %zu is "
			    "neither the list nor a small error: %.300s", what,
			    i, p);
			e = json_slice(p, elen);
			msg = json_path_str(e, "error.message");
			cr_assert(json_path_int(e, "id", &code) == 0 &&
			    code == (int64_t)i, "%s: answer %zu: %.*s", what, i,
			    (int)elen, p);
			cr_assert(json_path_int(e, "error.code", &code) == 0 &&
			    code == -32603 && msg != NULL &&
			    strcmp(msg, toolarge) == 0, "%s: answer %zu is "
			    "neither the list nor \"%s\": %.*s", what, i,
			    toolarge, (int)elen, p);
			json_object_put(e);
			errbytes += elen + 1;
			(*nerr)++;
		}
		p += elen;
		if (p < end) {
			cr_assert_eq(*p, ',', "%s: after answer %zu: %.40s",
			    what, i, p);
			p++;
		}
	}
	cr_assert_eq(i - 1, BATCH_N, "%s: %zu answers to %d requests", what,
	    i - 1, BATCH_N);
	cr_assert_gt(*nres, 0, "%s: no whole list at all", what);
	cr_assert_gt(*nerr, 0, "%s: %d whole lists of 10,000 tools (%zu "
	    "bytes) and no error past HTTP_ANSWER_MAX", what, *nres, r->len);
	cr_assert_leq(r->len, (size_t)HTTP_ANSWER_MAX + errbytes + 2,
	    "%s: %zu bytes answered: over %d + %d errors", what, r->len,
	    HTTP_ANSWER_MAX, *nerr);
}

static void
batch_req(struct mcp_client *c, struct http_req *q, struct mcp_hdrbuf *hb,
    const char *body, size_t len)
{
	memset(q, 0, sizeof(*q));
	q->url = c->url;
	q->body = body;
	q->bodylen = len;
	q->timeout_ms = 50000;
	mcp_headers(c, q, hb);
}

MESH_TEST(abuse, batch_amplification, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct proc		*mesh;
	struct mcp_client	 c[BATCH_AT_ONCE];
	struct http_req		 q[BATCH_AT_ONCE];
	struct http_resp	 r[BATCH_AT_ONCE];
	struct mcp_hdrbuf	 hb[BATCH_AT_ONCE];
	char			*body, what[64];
	long			 rss0, hwm1, hwm4, slack;
	size_t			 len;
	uint64_t		 t0, t1;
	int			 i, nres, nerr;

	one_peer(&f, "many", "10000");
	mesh = f.mesh;
	for (i = 0; i < BATCH_AT_ONCE; i++) {
		cr_assert_eq(mcp_open_version(&c[i], f.murl, "2025-03-26"),
		    0);
		cr_assert_str_eq(c[i].version, "2025-03-26");
	}
	body = batch_body(&len);
	/* One list first: the cached array is built, its memory counted. */
	batch_req(&c[0], &q[0], &hb[0], "{\"jsonrpc\":\"2.0\",\"id\":0,"
	    "\"method\":\"tools/list\"}", 0);
	http_do(&q[0], &r[0]);
	cr_assert_eq(r[0].status, 200);
	http_resp_free(&r[0]);
	rss0 = proc_rss_kb(mesh->pid);
	slack = proc_rss_slack_kb(mesh->pid);
	cr_assert_eq(proc_hwm_reset(mesh->pid), 0, "cannot reset VmHWM");

	batch_req(&c[0], &q[0], &hb[0], body, len);
	t0 = now_ms();
	http_perform_raw(&q[0], &r[0], 1);
	t1 = now_ms();
	hwm1 = proc_hwm_kb(mesh->pid);
	cr_log_info("one batch of %d tools/list: %zu bytes in %llu ms; mesh "
	    "VmRSS %ld kB, peak %ld kB", BATCH_N, r[0].len,
	    (unsigned long long)(t1 - t0), rss0, hwm1);
	batch_check("one batch", &r[0], &nres, &nerr);
	cr_log_info("one batch: %d lists, %d errors", nres, nerr);
	http_resp_free(&r[0]);

	cr_assert_eq(proc_hwm_reset(mesh->pid), 0);
	for (i = 0; i < BATCH_AT_ONCE; i++)
		batch_req(&c[i], &q[i], &hb[i], body, len);
	t0 = now_ms();
	http_perform_raw(q, r, BATCH_AT_ONCE);
	t1 = now_ms();
	hwm4 = proc_hwm_kb(mesh->pid);
	for (i = 0; i < BATCH_AT_ONCE; i++) {
		snprintf(what, sizeof(what), "batch %d of %d at once", i + 1,
		    BATCH_AT_ONCE);
		batch_check(what, &r[i], &nres, &nerr);
		http_resp_free(&r[i]);
	}
	cr_log_info("%d batches at once in %llu ms: mesh peak VmRSS %ld kB",
	    BATCH_AT_ONCE, (unsigned long long)(t1 - t0), hwm4);
	free(body);
	/*
	 * One batch: the answers held (HTTP_ANSWER_MAX) and the array
	 * built from them.  Four: that each, as they are written.
	 */
	slack += BATCH_OVERHEAD_KB;
	cr_assert_lt(hwm1 - rss0, 2 * HTTP_ANSWER_MAX / 1024 + slack,
	    "one batch: mesh VmRSS %ld kB, peak %ld kB (+%ld MB)", rss0, hwm1,
	    (hwm1 - rss0) / 1024);
	cr_assert_lt(hwm4 - rss0, (BATCH_AT_ONCE + 1) * HTTP_ANSWER_MAX /
	    1024 + slack, "%d batches: mesh VmRSS %ld kB, peak %ld kB "
	    "(+%ld MB)", BATCH_AT_ONCE, rss0, hwm4, (hwm4 - rss0) / 1024);
	for (i = 0; i < BATCH_AT_ONCE; i++)
		mcp_close(&c[i]);
	fixture_stop(&f);
}

/* --- 3. a stdio client that stops reading ---------------------------------- */

MESH_TEST(abuse, stdio_not_reading, .timeout = T_TIMEOUT)
{
	static const char	 list[] = "{\"jsonrpc\":\"2.0\",\"id\":1,"
	    "\"method\":\"tools/list\"}\n";
	struct fixture		 f;
	struct proc		*mesh;
	char			*line;
	pid_t			 kids[16], zygote;
	uint64_t		 tline, gone;
	int			 i, n, sent = 0;

	fixture_init(&f);
	fixture_peer_gateway(&f, "many", "--tools", "10000", NULL);
	fixture_start(&f, FIXTURE_STDIO, NULL);
	mesh = f.mesh;
	n = mesh_workers(mesh->pid, kids, 16);
	zygote = mesh_zygote(mesh->pid);
	cr_assert_gt(n, 0, "no worker");
	line_handshake(f.line);
	/*
	 * A page of 1,000 tools, some 270 KB each; never read:
	 * STDIO_OUT_QUEUE_MAX is 64 MiB.
	 */
	for (i = 0; i < 400; i++) {
		if (line_write(f.line, list, sizeof(list) - 1) == -1)
			break;
		sent++;
		if (i >= 30 && !proc_alive(mesh))
			break;
		harness_msleep(5);
	}
	line = proc_wait_log(mesh, LOG_STDIO_NOT_READ, 20000);
	tline = now_ms();
	cr_assert_not_null(line, "no \"%s\" after %d tools/list never read",
	    LOG_STDIO_NOT_READ, sent);
	free(line);
	cr_assert_eq(proc_wait_exit(mesh, 10000), 0, "the mesh is still "
	    "there 10 s after saying its client does not read");
	gone = now_ms() - tline;
	cr_log_info("stdio not read: %d requests written, the mesh gone %llu "
	    "ms after its log line", sent, (unsigned long long)gone);
	cr_assert_leq(gone, 3000, "the mesh took %llu ms to exit after "
	    "\"client is not reading stdout\"", (unsigned long long)gone);
	for (i = 0; i < n; i++)
		cr_assert(pid_gone(kids[i], 3000), "worker %d is left after "
		    "the mesh exited", (int)kids[i]);
	if (zygote > 0)
		cr_assert(pid_gone(zygote, 3000), "the zygote %d is left",
		    (int)zygote);
}

/* --- 7. a flood of initializes ---------------------------------------------- */

#define NFLOOD		(HTTP_SESSIONS_MAX + 6)
#define FLOOD_BUSY_MS	"6000"	/* the busy session's call lasts this long */

struct hangcall {
	struct mcp_client	*c;
	struct http_resp	 r;
	uint64_t		 ms;
};

static void *
hangcall_main(void *arg)
{
	struct hangcall	*h = arg;

	h->ms = mcp_call_id(h->c, 99, "h_echo", "{\"text\":\"x\"}", 20000,
	    &h->r);
	return (NULL);
}

/* A request in session c: 200 (alive) or 404 (gone). */
static long
session_ping(struct mcp_client *c)
{
	struct http_resp	r;
	long			status;

	mcp_request(c, "ping", NULL, &r);
	status = r.status;
	http_resp_free(&r);
	return (status);
}

MESH_TEST(abuse, session_flood, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct mcp_client	*busy = &f.c, used, nc;
	struct hangcall		 hc;
	struct http_req		 q;
	struct http_resp	 r;
	pthread_t		 th;
	int			 i, refused = 0, evicted;
	uint64_t		 t0, ms;
	int64_t			 sessions = 0;
	struct json_object	*info;

	fixture_init(&f);
	fixture_peer_gateway(&f, "g", NULL);
	fixture_peer_gateway(&f, "h", "--mode", "hang", NULL);
	/* A session with a call in flight (f.c), and one used but idle. */
	fixture_start(&f, 0, "--timeout", FLOOD_BUSY_MS, NULL);
	memset(&hc, 0, sizeof(hc));
	hc.c = busy;
	cr_assert_eq(pthread_create(&th, NULL, hangcall_main, &hc), 0);
	cr_assert_eq(mcp_open(&used, f.murl), 0);
	cr_assert_eq(session_ping(&used), 200);

	/* Initializes that never make a request, past the table's size. */
	t0 = now_ms();
	for (i = 0; i < NFLOOD; i++) {
		memset(&q, 0, sizeof(q));
		q.url = f.murl;
		q.body = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
		    "\"params\":{\"protocolVersion\":\"2025-06-18\","
		    "\"capabilities\":{},\"clientInfo\":{\"name\":\"flood\","
		    "\"version\":\"1\"}}}";
		q.headers[0] = MCP_ACCEPT;
		q.headers[1] = MCP_CTYPE;
		http_do(&q, &r);
		cr_assert_eq(r.curlcode, 0, "initialize %d: curl %d", i,
		    r.curlcode);
		if (r.status != 200)
			refused++;
		http_resp_free(&r);
	}
	ms = now_ms() - t0;
	evicted = proc_log_count(f.mesh, LOG_SESSION_EVICTED);
	cr_log_info("%d initializes in %llu ms: %d refused, %d sessions "
	    "evicted", NFLOOD, (unsigned long long)ms, refused, evicted);
	cr_assert_eq(refused, 0, "%d of %d initializes refused", refused,
	    NFLOOD);
	cr_assert_lt(ms + 500, (uint64_t)atoi(FLOOD_BUSY_MS), "the flood "
	    "outlasted the busy session's call: the test proves nothing");
	cr_assert_geq(evicted, NFLOOD + 2 - HTTP_SESSIONS_MAX, "only %d "
	    "sessions evicted", evicted);

	/* A new client initializes and calls. */
	cr_assert_eq(mcp_open(&nc, f.murl), 0, "a new client cannot "
	    "initialize after %d initializes", NFLOOD);
	nc.wait_ms = ABUSE_HTTP_WAIT_MS;
	mcp_call_tool(&nc, "g_echo", "{\"text\":\"in\"}", &r);
	cr_assert_str_eq(answer_text(&r), "in", "a new client's call: %.300s",
	    r.body ? r.body : "");
	http_resp_free(&r);
	info = node_info(&nc);
	json_path_int(info, "sessions", &sessions);
	json_object_put(info);
	cr_assert_leq(sessions, HTTP_SESSIONS_MAX);
	/* Neither the busy session nor the used one made room. */
	cr_assert_eq(session_ping(busy), 200, "the session with a call in "
	    "flight was evicted by a flood of initializes");
	cr_assert_eq(session_ping(&used), 200, "a used session was evicted "
	    "by a flood of initializes that never made a request");
	pthread_join(th, NULL);
	cr_assert(hc.r.status == 200 && answer_id_is(&hc.r, 99) &&
	    answer_is_error(&hc.r), "the busy session's call: HTTP %ld: %.300s",
	    hc.r.status, hc.r.body ? hc.r.body : "");
	http_resp_free(&hc.r);
	mcp_close(&nc);
	mcp_close(&used);
	fixture_stop(&f);
}

/* --- 8. answers nobody reads ------------------------------------------------ */

#define NUNREAD		100
#define UNREAD_RCVBUF	4096
#define UNREAD_FREED_MS	5000	/* the closes seen, memory back within */

MESH_TEST(abuse, unread_answers, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct proc		*mesh;
	struct mcp_client	*c = &f.c;
	struct json_object	*info;
	char			 req[1024], body[256], *line;
	int			 fds[NUNREAD], i, n, closed;
	long			 rss0, hwm, rss1, slack;
	int64_t			 inflight = -1, calls = 0, failed = -1;
	uint64_t		 t0;

	fixture_init(&f);
	fixture_bridge(&f, "big", FAKE_URL, 1);
	harness_asan_small_quarantine();
	fixture_start(&f, FIXTURE_FAKE_WORKER, "--timeout", "30000", NULL);
	mesh = f.mesh;
	c->wait_ms = ABUSE_HTTP_WAIT_MS;
	rss0 = proc_rss_kb(mesh->pid);
	slack = proc_rss_slack_kb(mesh->pid);
	cr_assert_eq(proc_hwm_reset(mesh->pid), 0);
	for (i = 0; i < NUNREAD; i++) {
		n = snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":%d,"
		    "\"method\":\"tools/call\",\"params\":{\"name\":\"big_echo\","
		    "\"arguments\":{\"text\":\"x\"}}}", i);
		n = snprintf(req, sizeof(req), "POST /mcp HTTP/1.1\r\n"
		    "Host: 127.0.0.1:%d\r\n%s\r\n%s\r\nMcp-Session-Id: %s\r\n"
		    "MCP-Protocol-Version: %s\r\nContent-Length: %d\r\n\r\n%s",
		    f.mport, MCP_ACCEPT, MCP_CTYPE, c->session, c->version, n,
		    body);
		fds[i] = tcp_connect_rcvbuf(f.mport, UNREAD_RCVBUF);
		cr_assert_neq(fds[i], -1, "connect: %s", strerror(errno));
		cr_assert_eq(send(fds[i], req, (size_t)n, MSG_NOSIGNAL), n);
	}
	/* Every call answered by the peer (held or closed by the mesh). */
	t0 = now_ms();
	while (now_ms() - t0 < 30000) {
		if ((info = node_info(c)) != NULL) {
			json_path_int(node_peer(info, "big"), "inflight",
			    &inflight);
			json_path_int(node_peer(info, "big"), "calls", &calls);
			json_path_int(node_peer(info, "big"), "callsFailed",
			    &failed);
			json_object_put(info);
			if (inflight == 0 && calls >= NUNREAD)
				break;
		}
		harness_msleep(100);
	}
	/* The last answers written, or their readers closed, meanwhile. */
	harness_msleep(300);
	hwm = proc_hwm_kb(mesh->pid);
	rss1 = proc_rss_kb(mesh->pid);
	closed = proc_log_count(mesh, LOG_SLOWEST_READER);
	cr_log_info("%d answers of %d bytes unread: mesh VmRSS %ld kB before, "
	    "peak %ld kB (+%ld MB), now %ld kB; %d slowest readers closed",
	    NUNREAD, 3500 * 1000, rss0, hwm, (hwm - rss0) / 1024, rss1, closed);
	cr_assert_eq(inflight, 0, "%lld calls still in flight after 30 s",
	    (long long)inflight);
	cr_assert_leq(failed, 0, "%lld calls to big failed", (long long)failed);
	cr_assert_lt(hwm - rss0, HTTP_ANSWER_BUDGET / 1024 + 4 * 3500 +
	    slack, "mesh VmRSS %ld kB, peak %ld kB (+%ld MB) with %d answers "
	    "of 3.5 MB unread: want at most the answer budget (%d MB) and "
	    "slack", rss0, hwm, (hwm - rss0) / 1024, NUNREAD,
	    HTTP_ANSWER_BUDGET / (1024 * 1024));
	cr_assert_geq(closed, NUNREAD - HTTP_ANSWER_BUDGET / (3500 * 1000),
	    "only %d slowest readers closed", closed);
	line = proc_log_find(mesh, LOG_SLOWEST_READER);
	cr_assert_not_null(line);
	free(line);
	/* The others may still read theirs; the mesh serves meanwhile. */
	info = node_info(c);
	cr_assert_not_null(info, "mesh_node_info did not answer");
	json_object_put(info);
	for (i = 0; i < NUNREAD; i++)
		close(fds[i]);
	/* Nothing tells when the mesh has seen the closes: polled. */
	t0 = now_ms();
	do {
		harness_msleep(50);
		rss1 = proc_rss_kb(mesh->pid);
	} while (rss1 - rss0 >= 4 * 3500 + slack &&
	    now_ms() - t0 < UNREAD_FREED_MS);
	cr_log_info("connections closed: mesh VmRSS %ld kB after %llu ms",
	    rss1, (unsigned long long)(now_ms() - t0));
	cr_assert_lt(rss1 - rss0, 4 * 3500 + slack, "mesh VmRSS %ld kB after "
	    "the unread connections closed (%ld before)", rss1, rss0);
	fixture_stop(&f);
}

