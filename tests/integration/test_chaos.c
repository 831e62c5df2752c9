/*
 * The chaos test: three peers (a and b behave, c hangs every tools/call),
 * NCLIENTS client sessions calling random tools on all of them, and a
 * killer SIGKILLing a random worker every KILL_MIN_MS..KILL_MAX_MS.
 *
 * Every request must get exactly one HTTP answer carrying a JSON-RPC
 * response with its id; no answer may be missing or be a transport
 * failure.  At the end the mesh is the same process, every peer is back
 * and serving, its descriptors are back to where they started once the
 * sessions are deleted, and its memory did not grow beyond a bound.
 *
 * MESH_CHAOS_SEED=N replays one run; MESH_CHAOS_MS=N sets its length.
 */
#include <sys/types.h>

#include <errno.h>
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

#include "mesh-limits.h"
#include "integration/harness.h"

#define CHAOS_MS	15000	/* how long the clients call */
#define NCLIENTS	6
#define NPEERS		3
#define MESH_TIMEOUT_MS	1500	/* --timeout of the mesh */
#define HTTP_WAIT_MS	(MESH_TIMEOUT_MS + 8000) /* no answer: missing */
#define LATENCY_MAX_MS	(MESH_TIMEOUT_MS + 2000) /* slowest answer */
#define KILL_MIN_MS	500
#define KILL_MAX_MS	2000
/* Stay clear of WORKER_FAIL_MAX crashes a window: that is "failed". */
#define KILLS_PER_PEER	(WORKER_FAIL_MAX - 3)
#define RECOVER_MS	10000	/* a killed peer is ready again within */
#define FD_SLACK	4

static const char *const peer_names[NPEERS] = { "a", "b", "c" };

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
	int		 kills[NPEERS];
	int		 nkills;
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

/* The first error a thread saw is kept. */
#define tally_err(t, ...)						\
	first_err((t)->firsterr, sizeof((t)->firsterr), __VA_ARGS__)

/*
 * An isError answer to a bridged tool (not the one failing on purpose)
 * must name the peer ("peer a") and a cause: not end with ": ".
 */
static int
vague_error(const char *tool, const char *text)
{
	char	 name[40];

	if (strncmp(tool, "mesh_", 5) == 0 || strstr(tool, "_fail") != NULL)
		return (0);
	if (text == NULL)
		return (1);
	snprintf(name, sizeof(name), "peer %.*s", (int)strcspn(tool, "_"),
	    tool);
	return (strstr(text, name) == NULL || cause_empty(text));
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
	    now_ms() < cl->ch->end)
		client_call(cl, &c);
	/* DELETE: the session must leave nothing behind. */
	mcp_close(&c);
	return (NULL);
}

/* --- the killer ---------------------------------------------------------- */

/* mesh_node_info's structuredContent (to put), or NULL; tallied. */
static struct json_object *
tallied_node_info(struct mcp_client *c, struct tally *t)
{
	struct http_resp	 r;
	struct json_object	*sc = NULL;
	uint64_t		 ms;
	int			 id = c->nextid++;

	ms = mcp_call_id(c, id, "mesh_node_info", "{}", HTTP_WAIT_MS, &r);
	if (tally_answer(t, "mesh_node_info", id, &r, ms, NULL))
		sc = node_info_of(&r);
	http_resp_free(&r);
	return (sc);
}

/* Poll until peer is ready with a worker other than old; ms, or -1. */
static int64_t
killer_wait_back(struct chaos *ch, struct mcp_client *c, int peer,
    pid_t old, uint64_t tkill)
{
	struct json_object	*info;
	pid_t			 pid;

	while (now_ms() - tkill < RECOVER_MS) {
		if ((info = tallied_node_info(c, &ch->killer)) != NULL) {
			pid = node_peer_pid(info, peer_names[peer], NULL);
			json_object_put(info);
			if (pid > 0 && pid != old)
				return ((int64_t)(now_ms() - tkill));
		}
		harness_msleep(10);
	}
	return (-1);
}

static void
killer_one(struct chaos *ch, struct mcp_client *c, unsigned int *seed)
{
	struct json_object	*info;
	pid_t			 workers[16], pids[NPEERS];
	int			 i, j, n, cand[NPEERS], ncand = 0, peer;
	int64_t			 back;
	uint64_t		 tkill;

	if ((info = tallied_node_info(c, &ch->killer)) == NULL)
		return;
	n = mesh_workers(ch->mesh, workers, 16);
	for (i = 0; i < NPEERS; i++) {
		pids[i] = node_peer_pid(info, peer_names[i], NULL);
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
	tkill = now_ms();
	if (kill(pids[peer], SIGKILL) == -1) {
		snprintf(ch->killerr, sizeof(ch->killerr), "kill %d: %s",
		    (int)pids[peer], strerror(errno));
		return;
	}
	ch->kills[peer]++;
	ch->nkills++;
	if ((back = killer_wait_back(ch, c, peer, pids[peer], tkill)) < 0) {
		if (ch->killerr[0] == '\0')
			snprintf(ch->killerr, sizeof(ch->killerr), "peer %s "
			    "not ready again %d ms after its worker %d was "
			    "killed", peer_names[peer], RECOVER_MS,
			    (int)pids[peer]);
		return;
	}
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
		if (now_ms() + (uint64_t)pause >= ch->end)
			break;
		harness_msleep(pause);
		killer_one(ch, &c, &seed);
	}
	mcp_close(&c);
	return (NULL);
}

/* Every peer ready (node_info); -1 after limit_ms. */
static int
all_ready(struct mcp_client *c, int limit_ms, char *why, size_t len)
{
	struct json_object	*info;
	struct tally		 t;
	uint64_t		 t0 = now_ms();
	int			 i, ready;

	for (;;) {
		memset(&t, 0, sizeof(t));
		ready = 0;
		if ((info = tallied_node_info(c, &t)) != NULL) {
			for (i = 0; i < NPEERS; i++)
				if (node_peer_pid(info, peer_names[i],
				    NULL) > 0)
					ready++;
			snprintf(why, len, "%s",
			    json_object_to_json_string_ext(json_path(info,
			    "peers"), JSON_C_TO_STRING_PLAIN));
			json_object_put(info);
		} else
			snprintf(why, len, "mesh_node_info: %s", t.firsterr);
		if (ready == NPEERS)
			return (0);
		if (now_ms() - t0 > (uint64_t)limit_ms)
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

/*
 * Every live worker of the mesh is the ready worker of one of its peers,
 * one each: none lost track of, none left over from the kills.
 */
static void
expect_one_worker_per_peer(struct mcp_client *c, pid_t mesh)
{
	struct json_object	*info;
	pid_t			 w[16], pid;
	int			 i, j, n;

	info = node_info(c);
	cr_assert_not_null(info, "mesh_node_info did not answer");
	n = mesh_workers(mesh, w, 16);
	cr_assert_eq(n, NPEERS, "the mesh has %d workers for %d peers: %s", n,
	    NPEERS, json_object_to_json_string(info));
	for (i = 0; i < NPEERS; i++) {
		pid = node_peer_pid(info, peer_names[i], NULL);
		for (j = 0; j < n && w[j] != pid; j++)
			;
		cr_assert(pid > 0 && j < n, "peer %s: worker %d is not one of "
		    "the mesh's %d workers: %s", peer_names[i], (int)pid, n,
		    json_object_to_json_string(info));
	}
	json_object_put(info);
}

MESH_TEST(chaos, kill_workers_under_load, .timeout = 120)
{
	struct fixture		 f;
	struct proc		*mesh;
	struct mcp_client	*c = &f.c;
	struct chaos		 ch;
	struct client		 cl[NCLIENTS];
	struct tally		 sum;
	pthread_t		 th[NCLIENTS], killer;
	char			 why[2048];
	const char		*env;
	int			 i, fd0, fd1, ms;
	long			 rss0, rss1;
	uint64_t		 t0, t1, elapsed, settle;

	fixture_init(&f);
	for (i = 0; i < NPEERS; i++)
		fixture_peer_gateway(&f, peer_names[i], i == 2 ? "--mode" :
		    NULL, "hang", NULL);
	harness_asan_small_quarantine();
	fixture_start(&f, 0, "--timeout", "1500", NULL);
	mesh = f.mesh;

	memset(&ch, 0, sizeof(ch));
	snprintf(ch.url, sizeof(ch.url), "%s", f.murl);
	ch.mesh = mesh->pid;
	ch.seed = (env = getenv("MESH_CHAOS_SEED")) != NULL ?
	    (unsigned int)strtoul(env, NULL, 10) :
	    (unsigned int)(now_ms() ^ (uint64_t)getpid());
	ms = (env = getenv("MESH_CHAOS_MS")) != NULL ? atoi(env) : CHAOS_MS;
	if (ms <= 0)
		ms = CHAOS_MS;
	cr_assert_eq(all_ready(c, 5000, why, sizeof(why)), 0,
	    "peers not ready before the chaos: %s", why);
	fd0 = proc_fd_count(mesh->pid);
	rss0 = proc_rss_kb(mesh->pid);
	cr_assert(fd0 > 0 && rss0 > 0, "cannot read /proc/%d",
	    (int)mesh->pid);

	t0 = now_ms();
	ch.end = t0 + (uint64_t)ms;
	atomic_store(&ch.stop, 0);
	for (i = 0; i < NCLIENTS; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].ch = &ch;
		cl[i].index = i;
		cl[i].seed = ch.seed + (unsigned int)i * 7919;
		cr_assert_eq(pthread_create(&th[i], NULL, client_main,
		    &cl[i]), 0);
	}
	cr_assert_eq(pthread_create(&killer, NULL, killer_main, &ch), 0);
	for (i = 0; i < NCLIENTS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&ch.stop, 1);
	pthread_join(killer, NULL);
	elapsed = now_ms() - t0;

	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < NCLIENTS; i++)
		tally_add(&sum, &cl[i].t);
	tally_add(&sum, &ch.killer);

	/* The same mesh, every peer back and serving. */
	cr_assert(proc_alive(mesh), "the mesh died (status 0x%x)",
	    mesh->status);
	t1 = now_ms();
	cr_assert_eq(all_ready(c, RECOVER_MS, why, sizeof(why)), 0,
	    "after the chaos, not every peer came back within %d ms: %s",
	    RECOVER_MS, why);
	settle = now_ms() - t1;
	expect_echo(c, "a_echo", "a is back");
	expect_echo(c, "b_echo", "b is back");
	expect_one_worker_per_peer(c, mesh->pid);
	cr_assert(proc_alive(mesh), "the mesh died (status 0x%x)",
	    mesh->status);

	/* Sessions deleted (the clients did): descriptors back. */
	mcp_close(c);
	for (i = 0, fd1 = -1; i < 100; i++) {
		if ((fd1 = proc_fd_count(mesh->pid)) <= fd0 + FD_SLACK)
			break;
		harness_msleep(50);
	}
	rss1 = proc_rss_kb(mesh->pid);

	fprintf(stderr, "chaos summary: seed %u, %llu ms, %d clients: "
	    "requests %ld (ok %ld, isError %ld, JSON-RPC errors %ld, "
	    "transport failures %ld, wrong id %ld, wrong content %ld, "
	    "vague errors %ld); kills %d (a %d, b %d, c %d), recovered %d, "
	    "time-to-recover min %llu / avg %llu / max %llu ms, settle "
	    "after %llu ms; max answer latency %llu ms; mesh fds %d -> %d, "
	    "VmRSS %ld -> %ld kB\n", ch.seed, (unsigned long long)elapsed,
	    NCLIENTS, sum.requests, sum.ok, sum.iserror, sum.rpcerror,
	    sum.transport, sum.badid, sum.wrong, sum.vague, ch.nkills,
	    ch.kills[0], ch.kills[1], ch.kills[2], ch.recovered,
	    (unsigned long long)ch.rec_min, (unsigned long long)(ch.recovered ?
	    ch.rec_sum / (uint64_t)ch.recovered : 0),
	    (unsigned long long)ch.rec_max, (unsigned long long)settle,
	    (unsigned long long)sum.maxms, fd0, fd1, rss0, rss1);

	for (i = 0; i < NCLIENTS; i++)
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
	cr_assert(ch.killerr[0] == '\0', "killer: %s", ch.killerr);
	cr_assert_geq(ch.nkills, 3, "only %d workers killed", ch.nkills);
	cr_assert_eq(ch.recovered, ch.nkills, "%d of %d killed peers came "
	    "back", ch.recovered, ch.nkills);
	cr_assert_gt(sum.ok, 100, "only %ld successful calls", sum.ok);
	cr_assert_gt(sum.iserror, 0, "no isError answers: c never timed out?");
	cr_assert_leq(sum.maxms, LATENCY_MAX_MS, "slowest answer %llu ms "
	    "(deadline %d ms)", (unsigned long long)sum.maxms,
	    MESH_TIMEOUT_MS);
	cr_assert_leq(fd1, fd0 + FD_SLACK, "mesh descriptors: %d before, %d "
	    "after the sessions were deleted", fd0, fd1);
	cr_assert_lt(rss1 - rss0, proc_rss_slack_kb(mesh->pid), "mesh VmRSS grew "
	    "from %ld to %ld kB", rss0, rss1);
	fixture_stop(&f);
}
