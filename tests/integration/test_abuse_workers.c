/*
 * Reliability under abuse from workers and from outside (issue 9): a
 * worker that floods its log, one that sends tool lists without pause,
 * one that reports progress for ever, workers killed and stopped from
 * outside, and one that crashes until it is fixed.  The misbehaving
 * workers are tests/fakeworker/fake-worker (mcp-mesh --worker-exec
 * --worker-path it), whose peer name says what it does; the kills are
 * of real workers of a real gateway.
 *
 *	log_flood		LOG frames as fast as the supervisor reads
 *	tool_list_storm		10,000 tools in a LISTS message every 2 ms
 *	progress_forever	notifications/progress for ever, no answer
 *	kills_from_outside	SIGSTOP, then SIGKILLs, WORKER_FAIL_MAX deaths
 *	failed_retried		10 crashes: failed, retried, serving again
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <json-c/json.h>

#include "mesh-limits.h"
#include "integration/abuse.h"

#define T_TIMEOUT	60	/* seconds, any one test */
#define FAKE_URL	"http://127.0.0.1:9/mcp"	/* never connected to */
#define FLOOD_MS	4000	/* how long a flood or a storm is watched */
#define HEALTHY_P50_MS	50	/* a healthy call's median meanwhile */
#define FLOOD_CPU_PCT	25	/* of a CPU for the mesh during a log flood */

/* A mesh of fake workers with four arguments (two bridges, say). */
static struct proc *
fake_mesh(int *mport, char *murl, size_t len, const char *a1,
    const char *a2, const char *a3, const char *a4)
{
	struct proc	*mesh;

	harness_asan_small_quarantine();
	/*
	 * Lists in one page: a storm changes the list faster than a client
	 * could follow cursors, and the mesh refuses a cursor of a list
	 * that changed (the pages are test_surface's).
	 */
	mesh = mesh_start_fake(mport, "--page-size", "0", a1, a2, a3, a4,
	    NULL);
	cr_assert_not_null(mesh, "mcp-mesh (fake workers) did not start");
	url_of(*mport, murl, len);
	return (mesh);
}

static void
wait_ready(struct proc *mesh, const char *peer)
{
	cr_assert_eq(mesh_wait_peer(mesh, peer), 0, "peer %s never ready",
	    peer);
}

/* --- 9. a worker that floods its log ---------------------------------------- */

MESH_TEST(abuse, log_flood, .timeout = T_TIMEOUT)
{
	struct proc		*mesh;
	struct mcp_client	 c;
	struct bg		 bg;
	char			 murl[128], *line;
	const char		*p;
	pid_t			 pid0, pid1;
	uint64_t		 cpu0, cpu1, t0, t1, pct;
	unsigned long		 dropped = 0;
	int			 mport, logged;

	mesh = fake_mesh(&mport, murl, sizeof(murl), "--bridge",
	    "logflood=" FAKE_URL, "--bridge", "good=" FAKE_URL);
	wait_ready(mesh, "logflood");
	wait_ready(mesh, "good");
	cr_assert_eq(mcp_open(&c, murl), 0);
	pid0 = peer_pid(&c, "logflood", NULL, 0);
	cr_assert_gt(pid0, 0);
	bg_start(&bg, murl, "good_echo", 2);
	t0 = harness_now_ms();
	cpu0 = proc_cpu_ms(mesh->pid);
	harness_msleep(FLOOD_MS);
	cpu1 = proc_cpu_ms(mesh->pid);
	t1 = harness_now_ms();
	bg_stop(&bg);
	pct = (cpu1 - cpu0) * 100 / (t1 - t0);
	/* The report comes with the next ping (WORKER_PING_INTERVAL_MS). */
	line = proc_wait_log(mesh, "from the worker suppressed",
	    WORKER_PING_INTERVAL_MS + 2000);
	if (line != NULL && (p = strstr(line, "logflood: ")) != NULL)
		dropped = strtoul(p + 10, NULL, 10);
	logged = log_count(mesh, "flooding the supervisor");
	cr_log_info("log flood for %llu ms: the mesh used %llu%% of a CPU; %d "
	    "lines logged, %lu suppressed (\"%s\"); healthy p50 %u ms",
	    (unsigned long long)(t1 - t0), (unsigned long long)pct, logged,
	    dropped, line ? line : "", bg_percentile(&bg, 50));
	cr_assert_not_null(line, "the log does not say how many lines were "
	    "suppressed");
	free(line);
	cr_assert_gt(dropped, 0);
	/* What the bucket lets through: a burst, then the rate. */
	cr_assert_leq((uint64_t)logged * sizeof("flooding the supervisor's "
	    "log with lines that say nothing at all, as fast as it reads "
	    "them"), WORKER_LOG_BURST + (uint64_t)WORKER_LOG_RATE *
	    (harness_now_ms() - t0 + 1000) / 1000, "%d flood lines logged",
	    logged);
	cr_assert_lt(pct, FLOOD_CPU_PCT, "the mesh used %llu%% of a CPU for a log flood",
	    (unsigned long long)pct);
	cr_assert_eq(bg.fail, 0, "the healthy peer failed %ld of %ld calls "
	    "during the flood; first: %s", bg.fail, bg.ok + bg.fail,
	    bg.firsterr);
	cr_assert_leq(bg_percentile(&bg, 50), HEALTHY_P50_MS);
	pid1 = peer_pid(&c, "logflood", NULL, 0);
	cr_assert_eq(pid1, pid0, "the flooding worker was replaced (%d, then "
	    "%d): a worker is not killed for volume", (int)pid0, (int)pid1);
	mcp_close(&c);
}

/* --- 10. tool lists without pause ------------------------------------------- */

#define STORM_TOOLS	10000
/* One list per WORKER_TOOLS_APPLY_MS, one more for the edges. */
#define STORM_APPLIED_MAX(ms)	((ms) / WORKER_TOOLS_APPLY_MS + 2)

MESH_TEST(abuse, tool_list_storm, .timeout = T_TIMEOUT)
{
	struct proc		*mesh;
	struct mcp_client	 c;
	struct bg		 bg;
	struct json_object	*tools;
	char			 murl[128];
	uint64_t		 t0, ms, cpu0, cpu1;
	int			 mport, n0, n1;
	pid_t			 pid0;

	mesh = fake_mesh(&mport, murl, sizeof(murl), "--bridge",
	    "toolstorm=" FAKE_URL, "--bridge", "good=" FAKE_URL);
	wait_ready(mesh, "toolstorm");
	wait_ready(mesh, "good");
	cr_assert_eq(mcp_open(&c, murl), 0);
	pid0 = peer_pid(&c, "toolstorm", NULL, 0);
	n0 = log_count(mesh, "peer toolstorm: lists changed");
	bg_start(&bg, murl, "good_echo", 2);
	t0 = harness_now_ms();
	cpu0 = proc_cpu_ms(mesh->pid);
	harness_msleep(FLOOD_MS);
	n1 = log_count(mesh, "peer toolstorm: lists changed");
	ms = harness_now_ms() - t0;
	cpu1 = proc_cpu_ms(mesh->pid);
	bg_stop(&bg);
	cr_log_info("tool-list storm for %llu ms: %d lists applied (at most "
	    "%llu), the mesh used %llu%% of a CPU; healthy calls %ld, p50 %u "
	    "ms, p99 %u ms", (unsigned long long)ms, n1 - n0,
	    (unsigned long long)STORM_APPLIED_MAX(ms),
	    (unsigned long long)((cpu1 - cpu0) * 100 / ms), bg.ok,
	    bg_percentile(&bg, 50), bg_percentile(&bg, 99));
	cr_assert_eq(bg.fail, 0, "the healthy peer failed %ld of %ld calls "
	    "during the storm; first: %s", bg.fail, bg.ok + bg.fail,
	    bg.firsterr);
	cr_assert_leq(bg_percentile(&bg, 50), HEALTHY_P50_MS, "healthy calls' "
	    "median %u ms during a tool-list storm", bg_percentile(&bg, 50));
	cr_assert_gt(n1 - n0, 0, "no tool list applied in %llu ms of storm",
	    (unsigned long long)ms);
	cr_assert_leq((uint64_t)(n1 - n0), STORM_APPLIED_MAX(ms), "%d tool "
	    "lists applied in %llu ms", n1 - n0, (unsigned long long)ms);
	/* The storm's tools are listed, and the peer was not killed for it. */
	tools = mcp_list_tools(&c);
	cr_assert_not_null(tools, "tools/list failed during the storm");
	cr_assert(tools_has(tools, "toolstorm_storm_09999") &&
	    tools_has(tools, "good_echo"), "tools/list lacks the storm's or "
	    "good's tools");
	cr_assert_geq(json_object_array_length(tools), STORM_TOOLS + 2);
	json_object_put(tools);
	cr_assert_eq(peer_pid(&c, "toolstorm", NULL, 0), pid0,
	    "the storming worker was replaced");
	mcp_close(&c);
}

/* --- 11. progress for ever --------------------------------------------------- */

#define PROGRESS_TIMEOUT_MS	400	/* --peer-timeout of the peer */
#define CEILING_MS	(PROGRESS_TIMEOUT_MS * REQUEST_CEILING_FACTOR)

MESH_TEST(abuse, progress_forever, .timeout = T_TIMEOUT)
{
	struct proc		*mesh;
	struct mcp_client	 c;
	struct http_resp	 r;
	char			 murl[128], to[64], *line;
	const char		*text;
	uint64_t		 ms;
	int			 mport;

	snprintf(to, sizeof(to), "progress=%d", PROGRESS_TIMEOUT_MS);
	mesh = fake_mesh(&mport, murl, sizeof(murl), "--bridge",
	    "progress=" FAKE_URL, "--peer-timeout", to);
	wait_ready(mesh, "progress");
	cr_assert_eq(mcp_open(&c, murl), 0);
	ms = mcp_call_id(&c, 5, "progress_work", "{}", CEILING_MS + 10000, &r);
	text = answer_text(&r);
	cr_log_info("a call with progress every 100 ms and a deadline of %d "
	    "ms: answered after %llu ms: %s", PROGRESS_TIMEOUT_MS,
	    (unsigned long long)ms, text);
	cr_assert(r.curlcode == 0 && r.status == 200 && answer_id_is(&r, 5),
	    "no answer after %llu ms (curl %d, HTTP %ld)",
	    (unsigned long long)ms, r.curlcode, r.status);
	cr_assert(answer_is_error(&r) && strstr(text, "ceiling") != NULL &&
	    strstr(text, "peer progress") != NULL, "want an isError naming "
	    "the ceiling: %.300s", r.body);
	cr_assert_geq(ms + 50, CEILING_MS, "answered after %llu ms, before "
	    "the ceiling of %d ms", (unsigned long long)ms, CEILING_MS);
	cr_assert_leq(ms, CEILING_MS + 1500, "answered after %llu ms, the "
	    "ceiling is %d ms", (unsigned long long)ms, CEILING_MS);
	http_resp_free(&r);
	/* The peer was told (MSG_CANCEL): the fake worker says so. */
	line = proc_wait_log(mesh, "peer progress: stderr: cancel 1 ", 2000);
	cr_assert_not_null(line, "the peer was not told to cancel the call");
	free(line);
	/* And the peer is not broken for it. */
	cr_assert_gt(peer_pid(&c, "progress", NULL, 0), 0);
	mcp_close(&c);
}

/* --- 12. a peer never stays dead --------------------------------------------- */

/* The pid of peer's next ready worker other than old, or -1 after ms. */
static pid_t
next_ready(struct mcp_client *c, const char *peer, pid_t old, int ms,
    char *state, size_t len)
{
	uint64_t	 t0 = harness_now_ms();
	pid_t		 pid;

	while (harness_now_ms() - t0 < (uint64_t)ms) {
		pid = peer_pid(c, peer, state, len);
		if (pid > 0 && pid != old)
			return (pid);
		if (strcmp(state, "failed") == 0)
			return (-1);
		harness_msleep(10);
	}
	return (-1);
}

/*
 * WORKER_FAIL_MAX deaths from outside within WORKER_FAIL_WINDOW_MS: one
 * SIGSTOP left to the mesh's ping deadline, then SIGKILLs, each as soon
 * as the peer is back.  None counts as a crash: the peer never fails.
 * (12 kills cannot fit in a test: the restart delay doubles from 50 ms,
 * so the 12th death would come some 80 s after the first; the 10th,
 * the one that used to make the peer failed, comes after 25.6 s.)
 */
MESH_TEST(abuse, kills_from_outside, .timeout = 75)
{
	struct proc		*gw, *mesh;
	struct mcp_client	 c;
	struct json_object	*info;
	char			 url[128], bridge[192], murl[128], state[32];
	char			 needle[96], *line;
	const char		*st;
	pid_t			 pid, next;
	uint64_t		 t0, tstop, killed_ms;
	int			 gport, mport, deaths = 0;

	gw = gateway_start("g", &gport, NULL);
	cr_assert_not_null(gw);
	url_of(gport, url, sizeof(url));
	snprintf(bridge, sizeof(bridge), "g=%s", url);
	harness_asan_small_quarantine();
	mesh = mesh_start(&mport, "--bridge", bridge, NULL);
	cr_assert_not_null(mesh);
	wait_ready(mesh, "g");
	url_of(mport, murl, sizeof(murl));
	cr_assert_eq(mcp_open(&c, murl), 0);
	t0 = harness_now_ms();

	/* A stopped worker: killed at its ping deadline, not a crash. */
	pid = peer_pid(&c, "g", state, sizeof(state));
	cr_assert_gt(pid, 0);
	tstop = harness_now_ms();
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	snprintf(needle, sizeof(needle), "peer g: worker %d killed", (int)pid);
	line = proc_wait_log(mesh, needle, WORKER_PING_INTERVAL_MS +
	    WORKER_PING_TIMEOUT_MS + 6000);
	killed_ms = harness_now_ms() - tstop;
	if (line == NULL)
		kill(pid, SIGCONT);
	cr_assert_not_null(line, "a stopped worker was not killed after %llu "
	    "ms", (unsigned long long)killed_ms);
	cr_log_info("SIGSTOP: \"%s\" after %llu ms", line,
	    (unsigned long long)killed_ms);
	free(line);
	deaths++;

	/* Then SIGKILLs, each as soon as the peer is back. */
	while (deaths < WORKER_FAIL_MAX) {
		next = next_ready(&c, "g", pid, WORKER_BACKOFF_MAX_MS, state,
		    sizeof(state));
		cr_assert_gt(next, 0, "after %d deaths from outside, peer g is "
		    "not ready again (state %s)", deaths, state);
		pid = next;
		cr_assert_eq(kill(pid, SIGKILL), 0);
		deaths++;
	}
	snprintf(needle, sizeof(needle), "peer g: worker %d killed by SIGKILL",
	    (int)pid);
	line = proc_wait_log(mesh, needle, 5000);
	cr_assert_not_null(line);
	free(line);
	harness_msleep(100);
	info = node_info(&c);
	st = json_path_str(node_peer(info, "g"), "state");
	cr_log_info("%d deaths from outside in %llu ms: peer g is %s", deaths,
	    (unsigned long long)(harness_now_ms() - t0), st ? st : "?");
	cr_assert(st != NULL && strcmp(st, "failed") != 0, "after %d deaths "
	    "from outside (a SIGSTOP, then SIGKILLs) in %llu ms, peer g is "
	    "%s", deaths, (unsigned long long)(harness_now_ms() - t0),
	    st ? st : "?");
	json_object_put(info);
	cr_assert_eq(log_count(mesh, "crashes in"), 0, "the mesh counted "
	    "deaths from outside as crashes");
	/* Its restart is scheduled like any other. */
	cr_assert_gt(log_count(mesh, "peer g: restarting in"), deaths - 1);
	/* The next PING at most an interval after the stop, then its timeout. */
	cr_assert_leq(killed_ms, WORKER_PING_INTERVAL_MS +
	    WORKER_PING_TIMEOUT_MS + 1500, "a stopped worker was killed %llu "
	    "ms after it stopped", (unsigned long long)killed_ms);
	mcp_close(&c);
}

/*
 * A peer whose worker crashes (SIGSEGV) WORKER_FAIL_MAX times in the
 * window fails; with --failed-retry 1000 it is tried again a second
 * later (crashing again while the cause lasts) and serves once the cause
 * is gone.  The cause is a file: the fake worker crashes while it exists.
 * One peer crashes after READY, one before it; a good peer serves
 * throughout.
 */
MESH_TEST(abuse, failed_retried, .timeout = T_TIMEOUT)
{
	static const char *const crashing[] = { "crash", "crash-early" };
	struct proc		*mesh;
	struct mcp_client	 c;
	struct http_resp	 r;
	struct bg		 bg;
	char			 flag[64], b[2][160], murl[128], needle[96];
	char			 state[32], tool[48], *line;
	uint64_t		 t0, tfail;
	int			 mport, fd, i, k, ok, segv0;

	snprintf(flag, sizeof(flag), "/tmp/mesh-abuse-crash.%d", (int)getpid());
	fd = open(flag, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_neq(fd, -1, "%s: %s", flag, strerror(errno));
	close(fd);
	for (i = 0; i < 2; i++)
		snprintf(b[i], sizeof(b[i]), "%s=%s?while=%s", crashing[i],
		    FAKE_URL, flag);
	harness_asan_small_quarantine();
	mesh = mesh_start_fake(&mport, "--failed-retry", "1000", "--bridge",
	    b[0], "--bridge", b[1], "--bridge", "good=" FAKE_URL, NULL);
	if (mesh == NULL)
		unlink(flag);
	cr_assert_not_null(mesh, "mcp-mesh --failed-retry 1000 did not start");
	url_of(mport, murl, sizeof(murl));
	t0 = harness_now_ms();
	wait_ready(mesh, "good");
	bg_start(&bg, murl, "good_echo", 5);

	/* WORKER_FAIL_MAX crashes, some 25 s of backoff: failed. */
	for (i = 0; i < 2; i++) {
		snprintf(needle, sizeof(needle), "peer %s: %d crashes in",
		    crashing[i], WORKER_FAIL_MAX);
		line = proc_wait_log(mesh, needle, 45000);
		if (line == NULL)
			unlink(flag);
		cr_assert_not_null(line, "peer %s did not fail after crashing "
		    "%d times", crashing[i], WORKER_FAIL_MAX);
		cr_log_info("after %llu ms: %s", (unsigned long long)
		    (harness_now_ms() - t0), line);
		free(line);
	}
	tfail = harness_now_ms();
	cr_assert_eq(mcp_open(&c, murl), 0);
	peer_pid(&c, "crash", state, sizeof(state));
	cr_log_info("peer crash is %s", state);
	if (strcmp(state, "failed") != 0)
		unlink(flag);
	cr_assert_str_eq(state, "failed", "peer crash is %s after %d crashes",
	    state, WORKER_FAIL_MAX);
	/* Retried while the cause lasts: it crashes again. */
	segv0 = log_count(mesh, "peer crash: worker");
	line = proc_wait_log(mesh, "peer crash: retried in 1 s", 100);
	if (line == NULL)
		unlink(flag);
	cr_assert_not_null(line, "no retry announced for the failed peer");
	free(line);
	while (log_count(mesh, "peer crash: worker") == segv0 &&
	    harness_now_ms() - tfail < 5000)
		harness_msleep(20);
	if (log_count(mesh, "peer crash: worker") == segv0)
		unlink(flag);
	cr_assert_gt(log_count(mesh, "peer crash: worker"), segv0, "the failed "
	    "peer was not tried again within 5 s (--failed-retry 1000)");
	cr_log_info("retried %llu ms after it failed, and crashed again",
	    (unsigned long long)(harness_now_ms() - tfail));

	/* The cause is gone: both serve again. */
	unlink(flag);
	for (i = 0; i < 2; i++) {
		snprintf(tool, sizeof(tool), "%s_echo", crashing[i]);
		for (k = 0, ok = 0; k < 100 && !ok; k++) {
			mcp_call_tool(&c, tool, "{\"text\":\"fixed\"}", &r);
			ok = !answer_is_error(&r) &&
			    strcmp(answer_text(&r), "fixed") == 0;
			http_resp_free(&r);
			if (!ok)
				harness_msleep(100);
		}
		cr_assert(ok, "peer %s does not serve again once its cause is "
		    "gone", crashing[i]);
		cr_log_info("peer %s serves again %llu ms after it failed",
		    crashing[i], (unsigned long long)(harness_now_ms() - tfail));
	}
	bg_stop(&bg);
	cr_assert_eq(bg.fail, 0, "the good peer failed %ld of %ld calls; "
	    "first: %s", bg.fail, bg.ok + bg.fail, bg.firsterr);
	mcp_close(&c);
}
