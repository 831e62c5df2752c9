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
#include "integration/logtext.h"

#define T_TIMEOUT	60	/* seconds, any one test */
#define FLOOD_MS	4000	/* how long a flood or a storm is watched */
#define HEALTHY_P50_MS	50	/* a healthy call's median meanwhile */
#define FLOOD_CPU_PCT	25	/* of a CPU for the mesh during a log flood */

/*
 * A mesh of fake workers for peers a and b (unless NULL), both ready,
 * with the option opt arg (unless NULL); a session, f->c.
 */
static void
fake_mesh(struct fixture *f, const char *a, const char *b, const char *opt,
    const char *arg)
{
	fixture_init(f);
	fixture_bridge(f, a, FAKE_URL, 1);
	if (b != NULL)
		fixture_bridge(f, b, FAKE_URL, 1);
	harness_asan_small_quarantine();
	/*
	 * Lists in one page: a storm changes the list faster than a client
	 * could follow cursors, and the mesh refuses a cursor of a list
	 * that changed (the pages are test_surface's).
	 */
	fixture_start(f, FIXTURE_FAKE_WORKER, "--page-size", "0", opt, arg,
	    NULL);
	f->c.wait_ms = ABUSE_HTTP_WAIT_MS;
}

/* --- 9. a worker that floods its log ---------------------------------------- */

MESH_TEST(abuse, log_flood, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct proc		*mesh;
	struct mcp_client	*c = &f.c;
	struct bg		 bg;
	char			*line;
	const char		*p;
	pid_t			 pid0, pid1;
	uint64_t		 cpu0, cpu1, t0, t1, pct;
	unsigned long		 dropped = 0;
	int			 logged;

	fake_mesh(&f, "logflood", "good", NULL, NULL);
	mesh = f.mesh;
	pid0 = peer_pid(c, "logflood");
	cr_assert_gt(pid0, 0);
	bg_start(&bg, f.murl, "good_echo", 2);
	t0 = now_ms();
	cpu0 = proc_cpu_ms(mesh->pid);
	harness_msleep(FLOOD_MS);
	cpu1 = proc_cpu_ms(mesh->pid);
	t1 = now_ms();
	bg_stop(&bg);
	pct = (cpu1 - cpu0) * 100 / (t1 - t0);
	/* The report comes with the next ping (WORKER_PING_INTERVAL_MS). */
	line = proc_wait_log(mesh, LOG_SUPPRESSED,
	    WORKER_PING_INTERVAL_MS + 2000);
	if (line != NULL && (p = strstr(line, "logflood: ")) != NULL)
		dropped = strtoul(p + 10, NULL, 10);
	logged = proc_log_count(mesh, FAKE_FLOOD_LINE);
	cr_log_info("log flood for %llu ms: the mesh used %llu%% of a CPU; %d "
	    "lines logged, %lu suppressed (\"%s\"); healthy p50 %u ms",
	    (unsigned long long)(t1 - t0), (unsigned long long)pct, logged,
	    dropped, line ? line : "", bg_percentile(&bg, 50));
	cr_assert_not_null(line, "the log does not say how many lines were "
	    "suppressed");
	free(line);
	cr_assert_gt(dropped, 0);
	/* What the bucket lets through: a burst, then the rate. */
	cr_assert_leq((uint64_t)logged * sizeof(FAKE_FLOOD_LINE),
	    WORKER_LOG_BURST + (uint64_t)WORKER_LOG_RATE *
	    (now_ms() - t0 + 1000) / 1000, "%d flood lines logged",
	    logged);
	cr_assert_lt(pct, FLOOD_CPU_PCT, "the mesh used %llu%% of a CPU for a log flood",
	    (unsigned long long)pct);
	cr_assert_eq(bg.fail, 0, "the healthy peer failed %ld of %ld calls "
	    "during the flood; first: %s", bg.fail, bg.ok + bg.fail,
	    bg.firsterr);
	cr_assert_leq(bg_percentile(&bg, 50), HEALTHY_P50_MS);
	pid1 = peer_pid(c, "logflood");
	cr_assert_eq(pid1, pid0, "the flooding worker was replaced (%d, then "
	    "%d): a worker is not killed for volume", (int)pid0, (int)pid1);
	fixture_stop(&f);
}

/* --- 10. tool lists without pause ------------------------------------------- */

#define STORM_TOOLS	10000
/* One list per WORKER_TOOLS_APPLY_MS, one more for the edges. */
#define STORM_APPLIED_MAX(ms)	((ms) / WORKER_TOOLS_APPLY_MS + 2)

MESH_TEST(abuse, tool_list_storm, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct proc		*mesh;
	struct mcp_client	*c = &f.c;
	struct bg		 bg;
	struct json_object	*tools;
	char			 lists[64];
	uint64_t		 t0, ms, cpu0, cpu1;
	int			 n0, n1;
	pid_t			 pid0;

	fake_mesh(&f, "toolstorm", "good", NULL, NULL);
	mesh = f.mesh;
	pid0 = peer_pid(c, "toolstorm");
	snprintf(lists, sizeof(lists), LOG_LISTS_CHANGED, "toolstorm");
	n0 = proc_log_count(mesh, lists);
	bg_start(&bg, f.murl, "good_echo", 2);
	t0 = now_ms();
	cpu0 = proc_cpu_ms(mesh->pid);
	harness_msleep(FLOOD_MS);
	n1 = proc_log_count(mesh, lists);
	ms = now_ms() - t0;
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
	tools = mcp_list_tools(c);
	cr_assert_not_null(tools, "tools/list failed during the storm");
	cr_assert(tools_has(tools, "toolstorm_storm_09999") &&
	    tools_has(tools, "good_echo"), "tools/list lacks the storm's or "
	    "good's tools");
	cr_assert_geq(json_object_array_length(tools), STORM_TOOLS + 2);
	json_object_put(tools);
	cr_assert_eq(peer_pid(c, "toolstorm"), pid0,
	    "the storming worker was replaced");
	fixture_stop(&f);
}

/* --- 11. progress for ever --------------------------------------------------- */

#define PROGRESS_TIMEOUT_MS	400	/* --peer-timeout of the peer */
#define CEILING_MS	(PROGRESS_TIMEOUT_MS * REQUEST_CEILING_FACTOR)

MESH_TEST(abuse, progress_forever, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct mcp_client	*c = &f.c;
	struct http_resp	 r;
	char			 to[64], want[256], needle[96], *line;
	const char		*text;
	uint64_t		 ms;

	snprintf(to, sizeof(to), "progress=%d", PROGRESS_TIMEOUT_MS);
	fake_mesh(&f, "progress", NULL, "--peer-timeout", to);
	snprintf(want, sizeof(want), ANSWER_CEILING, "progress",
	    "progress_work", CEILING_MS);
	ms = mcp_call_id(c, 5, "progress_work", "{}", CEILING_MS + 10000, &r);
	text = answer_text(&r);
	cr_log_info("a call with progress every 100 ms and a deadline of %d "
	    "ms: answered after %llu ms: %s", PROGRESS_TIMEOUT_MS,
	    (unsigned long long)ms, text);
	cr_assert(r.curlcode == 0 && r.status == 200 && answer_id_is(&r, 5),
	    "no answer after %llu ms (curl %d, HTTP %ld)",
	    (unsigned long long)ms, r.curlcode, r.status);
	cr_assert(answer_is_error(&r) && strcmp(text, want) == 0, "want an "
	    "isError \"%s\": %.300s", want, r.body);
	cr_assert_geq(ms + 50, CEILING_MS, "answered after %llu ms, before "
	    "the ceiling of %d ms", (unsigned long long)ms, CEILING_MS);
	cr_assert_leq(ms, CEILING_MS + 1500, "answered after %llu ms, the "
	    "ceiling is %d ms", (unsigned long long)ms, CEILING_MS);
	http_resp_free(&r);
	/* The peer was told (MSG_CANCEL): the fake worker says so. */
	snprintf(needle, sizeof(needle), LOG_STDERR FAKE_CANCELLED, "progress",
	    1ULL);
	line = proc_wait_log(f.mesh, needle, 2000);
	cr_assert_not_null(line, "the peer was not told to cancel the call");
	free(line);
	/* And the peer is not broken for it. */
	cr_assert_gt(peer_pid(c, "progress"), 0);
	fixture_stop(&f);
}

/* --- 12. a peer never stays dead --------------------------------------------- */

/* The pid of peer's next ready worker other than old, or -1 after ms. */
static pid_t
next_ready(struct mcp_client *c, const char *peer, pid_t old, int ms,
    char *state, size_t len)
{
	uint64_t	 t0 = now_ms();
	pid_t		 pid;

	while (now_ms() - t0 < (uint64_t)ms) {
		pid = peer_pid_state(c, peer, state, len);
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
	struct fixture		 f;
	struct proc		*mesh;
	struct mcp_client	*c = &f.c;
	struct json_object	*info;
	char			 state[32], needle[160], *line;
	const char		*st;
	pid_t			 pid, next;
	uint64_t		 t0, tstop, killed_ms;
	int			 deaths = 0;

	one_peer(&f, "g", NULL);
	mesh = f.mesh;
	t0 = now_ms();

	/* A stopped worker: killed at its ping deadline, not a crash. */
	pid = peer_pid_state(c, "g", state, sizeof(state));
	cr_assert_gt(pid, 0);
	tstop = now_ms();
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	snprintf(needle, sizeof(needle), LOG_WORKER_EXITED
	    LOG_KILLED_BY_SIGKILL ": " LOG_PING_MISSED, "g", (int)pid,
	    WORKER_PING_TIMEOUT_MS);
	line = proc_wait_log(mesh, needle, WORKER_PING_INTERVAL_MS +
	    WORKER_PING_TIMEOUT_MS + 6000);
	killed_ms = now_ms() - tstop;
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
		next = next_ready(c, "g", pid, WORKER_BACKOFF_MAX_MS, state,
		    sizeof(state));
		cr_assert_gt(next, 0, "after %d deaths from outside, peer g is "
		    "not ready again (state %s)", deaths, state);
		pid = next;
		cr_assert_eq(kill(pid, SIGKILL), 0);
		deaths++;
	}
	snprintf(needle, sizeof(needle), LOG_WORKER_EXITED
	    LOG_KILLED_BY_SIGKILL, "g", (int)pid);
	line = proc_wait_log(mesh, needle, 5000);
	cr_assert_not_null(line);
	free(line);
	/* Its restart is scheduled once its death is handled. */
	harness_msleep(100);
	info = node_info(c);
	st = json_path_str(node_peer(info, "g"), "state");
	cr_log_info("%d deaths from outside in %llu ms: peer g is %s", deaths,
	    (unsigned long long)(now_ms() - t0), st ? st : "?");
	cr_assert(st != NULL && strcmp(st, "failed") != 0, "after %d deaths "
	    "from outside (a SIGSTOP, then SIGKILLs) in %llu ms, peer g is "
	    "%s", deaths, (unsigned long long)(now_ms() - t0),
	    st ? st : "?");
	json_object_put(info);
	cr_assert_eq(proc_log_count(mesh, LOG_CRASHES), 0, "the mesh counted "
	    "deaths from outside as crashes");
	/* Its restart is scheduled like any other. */
	snprintf(needle, sizeof(needle), LOG_RESTARTING, "g");
	cr_assert_gt(proc_log_count(mesh, needle), deaths - 1);
	/* The next PING at most an interval after the stop, then its timeout. */
	cr_assert_leq(killed_ms, WORKER_PING_INTERVAL_MS +
	    WORKER_PING_TIMEOUT_MS + 1500, "a stopped worker was killed %llu "
	    "ms after it stopped", (unsigned long long)killed_ms);
	fixture_stop(&f);
}

/*
 * A peer whose worker crashes (SIGSEGV) WORKER_FAIL_MAX times in the
 * window fails; with --failed-retry 1000 it is tried again a second
 * later (crashing again while the cause lasts) and serves once the cause
 * is gone.  The cause is a file: the fake worker crashes while it exists.
 * One peer crashes after READY, one before it; a good peer serves
 * throughout.
 */
/* Peer's WORKER_FAIL_MAX crashes within 45 s: failed (else flag goes). */
static void
wait_failed(struct proc *mesh, const char *flag, const char *peer,
    uint64_t t0)
{
	char	 needle[96], *line;

	snprintf(needle, sizeof(needle), LOG_N_CRASHES, peer, WORKER_FAIL_MAX);
	line = proc_wait_log(mesh, needle, 45000);
	if (line == NULL)
		unlink(flag);
	cr_assert_not_null(line, "peer %s did not fail after crashing %d "
	    "times", peer, WORKER_FAIL_MAX);
	cr_log_info("after %llu ms: %s", (unsigned long long)(now_ms() - t0),
	    line);
	free(line);
}

MESH_TEST(abuse, failed_retried, .timeout = T_TIMEOUT)
{
	static const char *const crashing[] = { "crash", "crash-early" };
	struct fixture		 f;
	struct proc		*mesh;
	struct mcp_client	 c;
	struct http_resp	 r;
	struct bg		 bg;
	char			 flag[64], url[2][160], needle[96];
	char			 state[32], tool[48], crashed[64], *line;
	uint64_t		 t0, tfail, spent;
	int			 fd, i, k, n, ok, segv0;

	snprintf(flag, sizeof(flag), "/tmp/mesh-abuse-crash.%d", (int)getpid());
	fd = open(flag, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert_neq(fd, -1, "%s: %s", flag, strerror(errno));
	close(fd);
	fixture_init(&f);
	for (i = 0; i < 2; i++) {
		snprintf(url[i], sizeof(url[i]), "%s?while=%s", FAKE_URL,
		    flag);
		fixture_bridge(&f, crashing[i], url[i], 0);
	}
	fixture_bridge(&f, "good", FAKE_URL, 1);
	harness_asan_small_quarantine();
	t0 = now_ms();
	/* (Should it fail, the flag stays behind, named by our pid.) */
	fixture_start(&f, FIXTURE_FAKE_WORKER, "--failed-retry", "1000", NULL);
	mesh = f.mesh;
	bg_start(&bg, f.murl, "good_echo", 5);

	/*
	 * WORKER_FAIL_MAX crashes, some 25 s of backoff: failed, until the
	 * retry a second later.  So crash is asked at once, before waiting
	 * for crash-early, which fails about then but may be a second apart.
	 */
	wait_failed(mesh, flag, "crash", t0);
	tfail = now_ms();
	/* Opened now: one unused for so long would have expired. */
	cr_assert_eq(mcp_open(&c, f.murl), 0);
	c.wait_ms = ABUSE_HTTP_WAIT_MS;
	peer_pid_state(&c, "crash", state, sizeof(state));
	cr_log_info("peer crash is %s", state);
	if (strcmp(state, "failed") != 0)
		unlink(flag);
	cr_assert_str_eq(state, "failed", "peer crash is %s after %d crashes",
	    state, WORKER_FAIL_MAX);
	/* Retried while the cause lasts: it crashes again. */
	snprintf(crashed, sizeof(crashed), LOG_PEER_WORKER, "crash");
	segv0 = proc_log_count(mesh, crashed);
	snprintf(needle, sizeof(needle), LOG_RETRIED, "crash", 1);
	line = proc_wait_log(mesh, needle, 100);
	if (line == NULL)
		unlink(flag);
	cr_assert_not_null(line, "no retry announced for the failed peer");
	free(line);
	spent = now_ms() - tfail;
	n = proc_wait_log_count(mesh, crashed, segv0 + 1, spent < 5000 ?
	    (int)(5000 - spent) : 0);
	if (n == -1)
		unlink(flag);
	cr_assert_gt(n, segv0, "the failed peer was not tried again within 5 s "
	    "(--failed-retry 1000)");
	cr_log_info("retried %llu ms after it failed, and crashed again",
	    (unsigned long long)(now_ms() - tfail));
	wait_failed(mesh, flag, "crash-early", t0);

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
		    crashing[i], (unsigned long long)(now_ms() - tfail));
	}
	bg_stop(&bg);
	cr_assert_eq(bg.fail, 0, "the good peer failed %ld of %ld calls; "
	    "first: %s", bg.fail, bg.ok + bg.fail, bg.firsterr);
	mcp_close(&c);
	fixture_stop(&f);
}
