/*
 * The chaos test: four peers (a and b behave, c hangs every tools/call,
 * h behaves and is never harmed), NCLIENTS client sessions calling random
 * tools on a, b, c and the mesh, a client sending calls with 3.5 MB
 * arguments to a and b, NHEALTHY clients calling only h, and a killer
 * that every KILL_MIN_MS..KILL_MAX_MS harms a random worker of a, b or c:
 * SIGKILL, or SIGSTOP followed later by SIGCONT, or SIGSTOP left to the
 * mesh's own kill at the ping deadline.
 *
 * Every request must get exactly one HTTP answer carrying a JSON-RPC
 * response with its id; no answer may be missing or be a transport
 * failure; h's clients see no error at all.  At the end the mesh is the
 * same process, every peer is back and serving, its descriptors are back
 * to where they started once the sessions are deleted, and its memory
 * did not grow beyond a bound.
 *
 * MESH_CHAOS_SEED=N replays one run; MESH_CHAOS_MS=N sets its length.
 */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <json-c/json.h>

#include "mesh-limits.h"
#include "integration/harness.h"

#define CHAOS_MS	15000	/* how long the clients call */
#define NCLIENTS	6
#define NHEALTHY	2	/* clients of h only */
#define NTHREADS	(NCLIENTS + 1 + NHEALTHY)	/* and one big caller */
#define HEALTHY_PAUSE_MS 5	/* between two calls of h's clients */
#define NPEERS		4	/* a, b, c are harmed; h never */
#define NHARMED		3
#define BIG_TEXT	(3500 * 1000)	/* arguments of the big calls */
#define BIG_PAUSE_MS	50	/* between two big calls */
#define CONT_MIN_MS	300	/* SIGSTOP, then SIGCONT after this.. */
#define CONT_MAX_MS	3000	/* ..to this (under the ping deadline) */
#define MESH_TIMEOUT_MS	1500	/* --timeout of the mesh */
#define HTTP_WAIT_MS	(MESH_TIMEOUT_MS + 8000) /* no answer: missing */
#define LATENCY_MAX_MS	(MESH_TIMEOUT_MS + 2000) /* slowest answer */
#define KILL_MIN_MS	500
#define KILL_MAX_MS	2000
/* Stay clear of WORKER_FAIL_MAX crashes a window: that is "failed". */
#define KILLS_PER_PEER	(WORKER_FAIL_MAX - 3)
#define RECOVER_MS	10000	/* a killed peer is ready again within */
/* A stopped worker is killed by the mesh within (then restarted). */
#define STOPPED_KILL_MS	(WORKER_PING_INTERVAL_MS + WORKER_PING_TIMEOUT_MS + \
			    1500)
#define FD_SLACK	4

static const char *const peer_names[NPEERS] = { "a", "b", "c", "h" };

enum fault { F_KILL, F_STOP_CONT, F_STOP_LEFT, F_NFAULTS };
static const char *const fault_names[F_NFAULTS] = { "SIGKILL",
    "SIGSTOP+SIGCONT", "SIGSTOP" };

/* What one thread saw. */
struct tally {
	long		 requests;
	long		 ok;
	long		 iserror;
	long		 rpcerror;
	long		 transport;	/* no answer, not HTTP 200, not JSON */
	long		 badid;		/* an answer for another request */
	long		 wrong;		/* success with the wrong content */
	long		 vague;		/* isError not naming peer and cause */
	uint64_t	 maxms;
	char		 firsterr[768];
};

struct chaos {
	char		 url[128];
	pid_t		 mesh;
	uint64_t	 end;		/* monotonic ms: stop calling */
	unsigned int	 seed;
	atomic_int	 stop;
	/* The killer's figures. */
	int		 kills[NPEERS];		/* faults of each peer */
	int		 nkills;		/* faults in all */
	int		 nfault[F_NFAULTS];
	int		 recovered;
	uint64_t	 rec_min, rec_max, rec_sum;
	char		 killerr[512];
	struct tally	 killer;
};

struct client {
	struct chaos	*ch;
	int		 index;
	unsigned int	 seed;
	struct tally	 t;
	int		 opened;
};


static void
tally_err(struct tally *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tally_err(struct tally *t, const char *fmt, ...)
{
	va_list	 ap;

	if (t->firsterr[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(t->firsterr, sizeof(t->firsterr), fmt, ap);
	va_end(ap);
}


/*
 * An isError answer to a bridged tool (not the one failing on purpose)
 * must name the peer ("peer a") and a cause: not end with ": ".
 */
static int
vague_error(const char *tool, const char *text)
{
	char	 name[40];
	size_t	 n;

	if (strncmp(tool, "mesh_", 5) == 0 || strstr(tool, "_fail") != NULL)
		return (0);
	if (text == NULL)
		return (1);
	snprintf(name, sizeof(name), "peer %.*s", (int)strcspn(tool, "_"),
	    tool);
	if (strstr(text, name) == NULL)
		return (1);
	n = strlen(text);
	while (n > 0 && text[n - 1] == ' ')
		n--;
	return (n == 0 || text[n - 1] == ':');
}

/*
 * Classify the answer to request id of tool; want is the text a success
 * must carry (NULL: any).  Returns 1 for a success.
 */
static int
tally_answer(struct tally *t, const char *tool, int id, struct http_resp *r,
    uint64_t ms, const char *want)
{
	const char	*text;
	int64_t		 got;

	t->requests++;
	if (ms > t->maxms)
		t->maxms = ms;
	if (r->curlcode != 0 || r->status != 200 || r->json == NULL) {
		t->transport++;
		tally_err(t, "%s #%d: no answer after %llu ms (curl %d, HTTP "
		    "%ld): %.300s", tool, id, (unsigned long long)ms,
		    r->curlcode, r->status, r->body ? r->body : "");
		return (0);
	}
	if (json_path_int(r->json, "id", &got) == -1 || got != id) {
		t->badid++;
		tally_err(t, "%s #%d: answer with another id: %.300s", tool,
		    id, r->body);
		return (0);
	}
	if (json_path(r->json, "error") != NULL) {
		t->rpcerror++;
		tally_err(t, "%s #%d: JSON-RPC error: %.300s", tool, id,
		    r->body);
		return (0);
	}
	if (json_path(r->json, "result") == NULL) {
		t->transport++;
		tally_err(t, "%s #%d: neither result nor error: %.300s", tool,
		    id, r->body);
		return (0);
	}
	if (json_object_get_boolean(json_path(r->json, "result.isError"))) {
		t->iserror++;
		if (vague_error(tool, tool_text(json_path(r->json,
		    "result")))) {
			t->vague++;
			tally_err(t, "%s #%d: an error without its peer or its "
			    "cause: %.300s", tool, id, r->body);
		}
		return (0);
	}
	text = tool_text(json_path(r->json, "result"));
	if (want != NULL && (text == NULL || strcmp(text, want) != 0)) {
		t->wrong++;
		tally_err(t, "%s #%d: want \"%s\", got %.300s", tool, id, want,
		    r->body);
		return (0);
	}
	t->ok++;
	return (1);
}

static void
tally_add(struct tally *sum, const struct tally *t)
{
	sum->requests += t->requests;
	sum->ok += t->ok;
	sum->iserror += t->iserror;
	sum->rpcerror += t->rpcerror;
	sum->transport += t->transport;
	sum->badid += t->badid;
	sum->wrong += t->wrong;
	sum->vague += t->vague;
	if (t->maxms > sum->maxms)
		sum->maxms = t->maxms;
	if (sum->firsterr[0] == '\0' && t->firsterr[0] != '\0')
		snprintf(sum->firsterr, sizeof(sum->firsterr), "%s",
		    t->firsterr);
}

/* --- the clients ---------------------------------------------------------- */

static void
client_call(struct client *cl, struct mcp_client *c)
{
	struct http_resp	 r;
	char			 tool[32], args[96], want[64];
	const char		*peer, *wantp = want;
	unsigned int		 pick;
	uint64_t		 ms;
	int			 id = c->nextid++, x, y;

	pick = (unsigned int)rand_r(&cl->seed) % 16;
	/* c hangs every call: one in eight goes there. */
	peer = pick < 2 ? "c" : (pick & 1) ? "a" : "b";
	x = rand_r(&cl->seed) % 1000;
	y = rand_r(&cl->seed) % 1000;
	switch (pick / 2) {
	case 0:
	case 1:
	case 2:
		snprintf(tool, sizeof(tool), "%s_echo", peer);
		snprintf(want, sizeof(want), "c%d-%d %d", cl->index, id, x);
		snprintf(args, sizeof(args), "{\"text\":\"%s\"}", want);
		break;
	case 3:
	case 4:
		snprintf(tool, sizeof(tool), "%s_add", peer);
		snprintf(args, sizeof(args), "{\"a\":%d,\"b\":%d}", x, y);
		snprintf(want, sizeof(want), "%d", x + y);
		break;
	case 5:
		snprintf(tool, sizeof(tool), "%s_slow", peer);
		snprintf(args, sizeof(args), "{\"ms\":%d}", x % 300);
		snprintf(want, sizeof(want), "slept %d ms", x % 300);
		break;
	case 6:
		snprintf(tool, sizeof(tool), "%s_fail", peer);
		snprintf(args, sizeof(args), "{}");
		wantp = NULL;
		break;
	default:
		snprintf(tool, sizeof(tool), "mesh_node_info");
		snprintf(args, sizeof(args), "{}");
		wantp = NULL;
		break;
	}
	ms = mcp_call_id(c, id, tool, args, HTTP_WAIT_MS, &r);
	tally_answer(&cl->t, tool, id, &r, ms, wantp);
	http_resp_free(&r);
}

static void *
client_main(void *arg)
{
	struct client		*cl = arg;
	struct mcp_client	 c;

	if (mcp_open(&c, cl->ch->url) == -1) {
		cl->opened = -1;
		tally_err(&cl->t, "client %d: MCP session failed", cl->index);
		return (NULL);
	}
	cl->opened = 1;
	while (!atomic_load(&cl->ch->stop) &&
	    harness_now_ms() < cl->ch->end)
		client_call(cl, &c);
	/* DELETE: the session must leave nothing behind. */
	mcp_close(&c);
	return (NULL);
}

/*
 * Calls with BIG_TEXT bytes of arguments to a or b, one after the other:
 * each the echo of its text (its id first), or an isError naming the
 * peer and why (busy, its worker died or is stopped).
 */
static void *
big_main(void *arg)
{
	struct client		*cl = arg;
	struct mcp_client	 c;
	struct http_req		 q;
	struct http_resp	 r;
	struct mcp_hdrbuf	 hb;
	char			*body, *text, tool[16];
	uint64_t		 t0;
	size_t			 hlen;
	int			 id, n, i;

	if (mcp_open(&c, cl->ch->url) == -1) {
		cl->opened = -1;
		tally_err(&cl->t, "big calls: MCP session failed");
		return (NULL);
	}
	cl->opened = 1;
	body = malloc(BIG_TEXT + 256);
	text = malloc(BIG_TEXT + 1);
	if (body == NULL || text == NULL)
		abort();
	for (i = 0; i < BIG_TEXT; i++)
		text[i] = 'a' + (char)(i % 26);
	text[BIG_TEXT] = '\0';
	while (!atomic_load(&cl->ch->stop) &&
	    harness_now_ms() < cl->ch->end) {
		id = c.nextid++;
		snprintf(tool, sizeof(tool), "%s_echo",
		    rand_r(&cl->seed) % 2 ? "a" : "b");
		/* Its id first: an answer to another call would show. */
		n = snprintf(text, 16, "%08d", id);
		text[n] = 'a' + (char)(n % 26);
		hlen = (size_t)snprintf(body, 256, "{\"jsonrpc\":\"2.0\",\"id\":"
		    "%d,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
		    "\"arguments\":{\"text\":\"", id, tool);
		memcpy(body + hlen, text, BIG_TEXT);
		memcpy(body + hlen + BIG_TEXT, "\"}}}", 4);
		memset(&q, 0, sizeof(q));
		q.url = c.url;
		q.body = body;
		q.bodylen = hlen + BIG_TEXT + 4;
		q.timeout_ms = HTTP_WAIT_MS;
		mcp_headers(&c, &q, &hb);
		t0 = harness_now_ms();
		http_do(&q, &r);
		tally_answer(&cl->t, tool, id, &r, harness_now_ms() - t0, text);
		http_resp_free(&r);
		harness_msleep(BIG_PAUSE_MS);
	}
	free(body);
	free(text);
	mcp_close(&c);
	return (NULL);
}

/* h only, which nothing harms: every call must succeed. */
static void *
healthy_main(void *arg)
{
	struct client		*cl = arg;
	struct mcp_client	 c;
	struct http_resp	 r;
	char			 args[96], want[64];
	uint64_t		 ms;
	int			 id, x, y;

	if (mcp_open(&c, cl->ch->url) == -1) {
		cl->opened = -1;
		tally_err(&cl->t, "healthy client %d: MCP session failed",
		    cl->index);
		return (NULL);
	}
	cl->opened = 1;
	while (!atomic_load(&cl->ch->stop) &&
	    harness_now_ms() < cl->ch->end) {
		id = c.nextid++;
		x = rand_r(&cl->seed) % 1000;
		y = rand_r(&cl->seed) % 1000;
		if (id % 2) {
			snprintf(want, sizeof(want), "h%d-%d", cl->index, id);
			snprintf(args, sizeof(args), "{\"text\":\"%s\"}", want);
			ms = mcp_call_id(&c, id, "h_echo", args, HTTP_WAIT_MS,
			    &r);
			tally_answer(&cl->t, "h_echo", id, &r, ms, want);
		} else {
			snprintf(args, sizeof(args), "{\"a\":%d,\"b\":%d}", x, y);
			snprintf(want, sizeof(want), "%d", x + y);
			ms = mcp_call_id(&c, id, "h_add", args, HTTP_WAIT_MS,
			    &r);
			tally_answer(&cl->t, "h_add", id, &r, ms, want);
		}
		http_resp_free(&r);
		harness_msleep(HEALTHY_PAUSE_MS);
	}
	mcp_close(&c);
	return (NULL);
}

/* --- the killer ---------------------------------------------------------- */

/* mesh_node_info's structuredContent (to put), or NULL; tallied. */
static struct json_object *
node_info(struct mcp_client *c, struct tally *t)
{
	struct http_resp	 r;
	struct json_object	*sc = NULL;
	uint64_t		 ms;
	int			 id = c->nextid++;

	ms = mcp_call_id(c, id, "mesh_node_info", "{}", HTTP_WAIT_MS, &r);
	if (tally_answer(t, "mesh_node_info", id, &r, ms, NULL) &&
	    (sc = json_path(r.json, "result.structuredContent")) != NULL)
		json_object_get(sc);
	http_resp_free(&r);
	return (sc);
}

/* The pid of peer's worker when ready, else -1; state copied out. */
static pid_t
info_pid(struct json_object *info, const char *peer, const char **state)
{
	struct json_object	*peers, *p;
	const char		*n;
	int64_t			 pid;
	size_t			 i;

	*state = NULL;
	peers = json_path(info, "peers");
	for (i = 0; peers != NULL && i < json_object_array_length(peers);
	    i++) {
		p = json_object_array_get_idx(peers, i);
		if ((n = json_path_str(p, "name")) == NULL ||
		    strcmp(n, peer) != 0)
			continue;
		*state = json_path_str(p, "state");
		if (*state == NULL || strcmp(*state, "ready") != 0 ||
		    json_path_int(p, "pid", &pid) == -1)
			return (-1);
		return ((pid_t)pid);
	}
	return (-1);
}

/*
 * Poll until peer is ready with a worker other than old (any worker if
 * old is 0), at most limit_ms after t; ms since t, or -1.
 */
static int64_t
killer_wait_back(struct chaos *ch, struct mcp_client *c, int peer,
    pid_t old, uint64_t t, int limit_ms)
{
	struct json_object	*info;
	const char		*state;
	pid_t			 pid;

	while (harness_now_ms() - t < (uint64_t)limit_ms) {
		if ((info = node_info(c, &ch->killer)) != NULL) {
			pid = info_pid(info, peer_names[peer], &state);
			json_object_put(info);
			if (pid > 0 && pid != old)
				return ((int64_t)(harness_now_ms() - t));
		}
		harness_msleep(10);
	}
	return (-1);
}

/*
 * Harm pid, the worker of peer, with fault f; then wait until the peer
 * serves again.  Returns the ms from the end of the harm (the SIGKILL,
 * the SIGCONT, the mesh's own kill) to that, or -1 (killerr set).
 */
static int64_t
killer_harm(struct chaos *ch, struct mcp_client *c, int peer, pid_t pid,
    enum fault f, unsigned int *seed)
{
	uint64_t	 t = harness_now_ms();
	int64_t		 back;
	int		 sig = f == F_KILL ? SIGKILL : SIGSTOP;

	if (kill(pid, sig) == -1) {
		snprintf(ch->killerr, sizeof(ch->killerr), "kill %d: %s",
		    (int)pid, strerror(errno));
		return (-1);
	}
	switch (f) {
	case F_KILL:
		back = killer_wait_back(ch, c, peer, pid, t, RECOVER_MS);
		break;
	case F_STOP_CONT:
		harness_msleep(CONT_MIN_MS + (int)(rand_r(seed) %
		    (CONT_MAX_MS - CONT_MIN_MS + 1)));
		kill(pid, SIGCONT);
		/* The same worker, or a new one if the mesh killed it. */
		back = killer_wait_back(ch, c, peer, 0, harness_now_ms(),
		    RECOVER_MS);
		break;
	default:
		/* Left to the mesh: killed at its ping deadline, restarted. */
		if (!pid_gone(pid, STOPPED_KILL_MS)) {
			kill(pid, SIGCONT);
			if (ch->killerr[0] == '\0')
				snprintf(ch->killerr, sizeof(ch->killerr),
				    "peer %s: its stopped worker %d was not "
				    "killed by the mesh within %d ms",
				    peer_names[peer], (int)pid,
				    STOPPED_KILL_MS);
			return (-1);
		}
		back = killer_wait_back(ch, c, peer, pid, harness_now_ms(),
		    RECOVER_MS);
		break;
	}
	if (back < 0 && ch->killerr[0] == '\0')
		snprintf(ch->killerr, sizeof(ch->killerr), "peer %s not ready "
		    "again %d ms after its worker %d was harmed (%s)",
		    peer_names[peer], RECOVER_MS, (int)pid, fault_names[f]);
	return (back);
}

static void
killer_one(struct chaos *ch, struct mcp_client *c, unsigned int *seed)
{
	struct json_object	*info;
	const char		*state;
	pid_t			 workers[16], pids[NPEERS];
	int			 i, j, n, cand[NPEERS], ncand = 0, peer;
	enum fault		 f;
	int64_t			 back;

	if ((info = node_info(c, &ch->killer)) == NULL)
		return;
	n = mesh_workers(ch->mesh, workers, 16);
	for (i = 0; i < NHARMED; i++) {
		pids[i] = info_pid(info, peer_names[i], &state);
		if (pids[i] <= 0 || ch->kills[i] >= KILLS_PER_PEER)
			continue;
		/* Only a live mcp-mesh-worker child of the mesh. */
		for (j = 0; j < n; j++)
			if (workers[j] == pids[i])
				cand[ncand++] = i;
	}
	json_object_put(info);
	if (ncand == 0)
		return;
	peer = cand[(unsigned int)rand_r(seed) % (unsigned int)ncand];
	/*
	 * Half the time a SIGKILL, else a SIGSTOP, continued or not; one
	 * left to the mesh at most, and after two other faults (it takes
	 * up to STOPPED_KILL_MS of the run).
	 */
	f = (enum fault)(rand_r(seed) % 4);
	if (f > F_STOP_LEFT || (f == F_STOP_LEFT &&
	    (ch->nfault[F_STOP_LEFT] > 0 || ch->nkills < 2)))
		f = F_KILL;
	ch->kills[peer]++;
	ch->nkills++;
	ch->nfault[f]++;
	if ((back = killer_harm(ch, c, peer, pids[peer], f, seed)) < 0)
		return;
	if (ch->recovered == 0 || (uint64_t)back < ch->rec_min)
		ch->rec_min = (uint64_t)back;
	if ((uint64_t)back > ch->rec_max)
		ch->rec_max = (uint64_t)back;
	ch->rec_sum += (uint64_t)back;
	ch->recovered++;
}

static void *
killer_main(void *arg)
{
	struct chaos		*ch = arg;
	struct mcp_client	 c;
	unsigned int		 seed = ch->seed ^ 0x5eed;
	int			 pause;

	if (mcp_open(&c, ch->url) == -1) {
		snprintf(ch->killerr, sizeof(ch->killerr), "killer: MCP "
		    "session failed");
		return (NULL);
	}
	while (!atomic_load(&ch->stop)) {
		pause = KILL_MIN_MS + rand_r(&seed) % (KILL_MAX_MS -
		    KILL_MIN_MS + 1);
		if (harness_now_ms() + (uint64_t)pause >= ch->end)
			break;
		harness_msleep(pause);
		killer_one(ch, &c, &seed);
	}
	mcp_close(&c);
	return (NULL);
}

/* --- the mesh's resources ----------------------------------------------- */





/* Every peer ready (node_info); -1 after limit_ms. */
static int
all_ready(struct mcp_client *c, int limit_ms, char *why, size_t len)
{
	struct json_object	*info;
	struct tally		 t;
	const char		*state;
	uint64_t		 t0 = harness_now_ms();
	int			 i, ready;

	for (;;) {
		memset(&t, 0, sizeof(t));
		ready = 0;
		if ((info = node_info(c, &t)) != NULL) {
			for (i = 0; i < NPEERS; i++)
				if (info_pid(info, peer_names[i], &state) > 0)
					ready++;
			snprintf(why, len, "%s",
			    json_object_to_json_string_ext(json_path(info,
			    "peers"), JSON_C_TO_STRING_PLAIN));
			json_object_put(info);
		} else
			snprintf(why, len, "mesh_node_info: %s", t.firsterr);
		if (ready == NPEERS)
			return (0);
		if (harness_now_ms() - t0 > (uint64_t)limit_ms)
			return (-1);
		harness_msleep(50);
	}
}

static void
expect_echo(struct mcp_client *c, const char *tool, const char *text)
{
	struct http_resp	 r;
	struct tally		 t;
	char			 args[96];
	uint64_t		 ms;
	int			 id = c->nextid++;

	memset(&t, 0, sizeof(t));
	snprintf(args, sizeof(args), "{\"text\":\"%s\"}", text);
	ms = mcp_call_id(c, id, tool, args, HTTP_WAIT_MS, &r);
	tally_answer(&t, tool, id, &r, ms, text);
	http_resp_free(&r);
	cr_assert_eq(t.ok, 1, "after the chaos, %s fails: %s", tool,
	    t.firsterr[0] ? t.firsterr : "an isError result");
}

MESH_TEST(chaos, kill_workers_under_load, .timeout = 120)
{
	struct proc		*gw[NPEERS], *mesh;
	struct mcp_client	 c;
	struct chaos		 ch;
	struct client		 cl[NTHREADS];
	struct tally		 sum, healthy, harmed;
	pthread_t		 th[NTHREADS], killer;
	char			 url[128], bridge[NPEERS][192], why[2048];
	const char		*env;
	int			 port[NPEERS], mport, i, fd0, fd1, ms;
	long			 rss0, rss1;
	uint64_t		 t0, t1, elapsed, settle;

	for (i = 0; i < NPEERS; i++) {
		if (i == 2)
			gw[i] = gateway_start(peer_names[i], &port[i],
			    "--mode", "hang", NULL);
		else
			gw[i] = gateway_start(peer_names[i], &port[i], NULL);
		cr_assert_not_null(gw[i], "gateway %s did not start",
		    peer_names[i]);
		url_of(port[i], url, sizeof(url));
		snprintf(bridge[i], sizeof(bridge[i]), "%s=%s", peer_names[i],
		    url);
	}
	harness_asan_small_quarantine();
	mesh = mesh_start(&mport, "--timeout", "1500", "--bridge", bridge[0],
	    "--bridge", bridge[1], "--bridge", bridge[2], "--bridge",
	    bridge[3], NULL);
	cr_assert_not_null(mesh, "mcp-mesh did not start listening");
	for (i = 0; i < NPEERS; i++)
		cr_assert_eq(mesh_wait_peer(mesh, peer_names[i]), 0,
		    "peer %s never ready", peer_names[i]);

	memset(&ch, 0, sizeof(ch));
	url_of(mport, ch.url, sizeof(ch.url));
	ch.mesh = mesh->pid;
	ch.seed = (env = getenv("MESH_CHAOS_SEED")) != NULL ?
	    (unsigned int)strtoul(env, NULL, 10) :
	    (unsigned int)(harness_now_ms() ^ (uint64_t)getpid());
	ms = (env = getenv("MESH_CHAOS_MS")) != NULL ? atoi(env) : CHAOS_MS;
	if (ms <= 0)
		ms = CHAOS_MS;
	cr_assert_eq(mcp_open(&c, ch.url), 0, "MCP session failed");
	cr_assert_eq(all_ready(&c, 5000, why, sizeof(why)), 0,
	    "peers not ready before the chaos: %s", why);
	fd0 = proc_fd_count(mesh->pid);
	rss0 = proc_rss_kb(mesh->pid);
	cr_assert(fd0 > 0 && rss0 > 0, "cannot read /proc/%d",
	    (int)mesh->pid);

	t0 = harness_now_ms();
	ch.end = t0 + (uint64_t)ms;
	atomic_store(&ch.stop, 0);
	/* The random clients, the big caller, then h's clients. */
	for (i = 0; i < NTHREADS; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].ch = &ch;
		cl[i].index = i;
		cl[i].seed = ch.seed + (unsigned int)i * 7919;
		cr_assert_eq(pthread_create(&th[i], NULL, i < NCLIENTS ?
		    client_main : i == NCLIENTS ? big_main : healthy_main,
		    &cl[i]), 0);
	}
	cr_assert_eq(pthread_create(&killer, NULL, killer_main, &ch), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&ch.stop, 1);
	pthread_join(killer, NULL);
	elapsed = harness_now_ms() - t0;

	memset(&sum, 0, sizeof(sum));
	memset(&healthy, 0, sizeof(healthy));
	memset(&harmed, 0, sizeof(harmed));
	for (i = 0; i < NTHREADS; i++) {
		tally_add(&sum, &cl[i].t);
		tally_add(i > NCLIENTS ? &healthy : &harmed, &cl[i].t);
	}
	tally_add(&sum, &ch.killer);

	/* The same mesh, every peer back and serving. */
	cr_assert(proc_alive(mesh), "the mesh died (status 0x%x)",
	    mesh->status);
	t1 = harness_now_ms();
	cr_assert_eq(all_ready(&c, RECOVER_MS, why, sizeof(why)), 0,
	    "after the chaos, not every peer came back within %d ms: %s",
	    RECOVER_MS, why);
	settle = harness_now_ms() - t1;
	expect_echo(&c, "a_echo", "a is back");
	expect_echo(&c, "b_echo", "b is back");
	expect_echo(&c, "h_echo", "h is fine");
	cr_assert(proc_alive(mesh), "the mesh died (status 0x%x)",
	    mesh->status);

	/* Sessions deleted (the clients did): descriptors back. */
	mcp_close(&c);
	for (i = 0, fd1 = -1; i < 100; i++) {
		if ((fd1 = proc_fd_count(mesh->pid)) <= fd0 + FD_SLACK)
			break;
		harness_msleep(50);
	}
	rss1 = proc_rss_kb(mesh->pid);

	fprintf(stderr, "chaos summary: seed %u, %llu ms, %d clients, one of "
	    "them with %d-byte calls (%ld: ok %ld, isError %ld), %d of h: "
	    "requests %ld (ok %ld, isError %ld, JSON-RPC errors %ld, "
	    "transport failures %ld, wrong id %ld, wrong content %ld, "
	    "vague errors %ld), h's %ld (ok %ld); faults %d (SIGKILL %d, "
	    "SIGSTOP+SIGCONT %d, SIGSTOP %d; a %d, b %d, c %d), recovered "
	    "%d, time-to-recover min %llu / avg %llu / max %llu ms, settle "
	    "after %llu ms; max answer latency %llu ms; mesh fds %d -> %d, "
	    "VmRSS %ld -> %ld kB\n", ch.seed, (unsigned long long)elapsed,
	    NCLIENTS + 1, BIG_TEXT, cl[NCLIENTS].t.requests,
	    cl[NCLIENTS].t.ok, cl[NCLIENTS].t.iserror, NHEALTHY,
	    sum.requests, sum.ok, sum.iserror, sum.rpcerror,
	    sum.transport, sum.badid, sum.wrong, sum.vague, healthy.requests,
	    healthy.ok, ch.nkills, ch.nfault[F_KILL], ch.nfault[F_STOP_CONT],
	    ch.nfault[F_STOP_LEFT], ch.kills[0], ch.kills[1], ch.kills[2],
	    ch.recovered,
	    (unsigned long long)ch.rec_min, (unsigned long long)(ch.recovered ?
	    ch.rec_sum / (uint64_t)ch.recovered : 0),
	    (unsigned long long)ch.rec_max, (unsigned long long)settle,
	    (unsigned long long)sum.maxms, fd0, fd1, rss0, rss1);

	for (i = 0; i < NTHREADS; i++)
		cr_assert_eq(cl[i].opened, 1, "client %d: %s", i,
		    cl[i].t.firsterr);
	cr_assert_eq(sum.transport, 0, "%ld of %ld requests got no answer or "
	    "a transport failure; first: %s", sum.transport, sum.requests,
	    sum.firsterr);
	cr_assert_eq(sum.badid, 0, "%ld answers carried another id; first: "
	    "%s", sum.badid, sum.firsterr);
	cr_assert_eq(sum.wrong, 0, "%ld successes carried the wrong content; "
	    "first: %s", sum.wrong, sum.firsterr);
	cr_assert_eq(sum.vague, 0, "%ld isError answers did not name their "
	    "peer and a cause; first: %s", sum.vague, sum.firsterr);
	cr_assert_eq(sum.rpcerror, 0, "%ld answers for bridged tools were "
	    "JSON-RPC errors, not isError results; first: %s", sum.rpcerror,
	    sum.firsterr);
	cr_assert_eq(healthy.ok, healthy.requests, "h, never harmed, failed "
	    "%ld of %ld calls; first: %s", healthy.requests - healthy.ok,
	    healthy.requests, healthy.firsterr);
	cr_assert_gt(healthy.ok, 100, "only %ld calls to h", healthy.ok);
	cr_assert_gt(cl[NCLIENTS].t.requests, 0, "no big call made");
	cr_assert(ch.killerr[0] == '\0', "killer: %s", ch.killerr);
	cr_assert_geq(ch.nkills, 3, "only %d workers harmed", ch.nkills);
	cr_assert_eq(ch.recovered, ch.nkills, "%d of %d harmed peers came "
	    "back", ch.recovered, ch.nkills);
	cr_assert_gt(harmed.ok, 100, "only %ld successful calls to a, b, c and "
	    "the mesh", harmed.ok);
	cr_assert_gt(sum.iserror, 0, "no isError answers: c never timed out?");
	cr_assert_leq(sum.maxms, LATENCY_MAX_MS, "slowest answer %llu ms "
	    "(deadline %d ms)", (unsigned long long)sum.maxms,
	    MESH_TIMEOUT_MS);
	cr_assert_leq(fd1, fd0 + FD_SLACK, "mesh descriptors: %d before, %d "
	    "after the sessions were deleted", fd0, fd1);
	cr_assert_lt(rss1 - rss0, proc_rss_slack_kb(mesh->pid), "mesh VmRSS grew "
	    "from %ld to %ld kB", rss0, rss1);
	cr_assert_eq(proc_fd_count(mesh->pid) > 0, 1, "mesh pid gone");
}
