/*
 * How workers are started: by default forked by the zygote (one
 * pre-initialized worker process, worker/zygote.c), re-parented to the
 * mesh; with --worker-exec, or once the zygote is gone, by fork and exec.
 * Either way a worker is the mesh's child, serves, and is replaced when
 * it dies.
 */
#include <sys/types.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "mesh-limits.h"
#include "integration/harness.h"
#include "integration/logtext.h"

#define T_TIMEOUT	60	/* seconds, any one test */
#define SERVE_MS	10000	/* a peer serves (again) within */
#define SETTLE_MS	500	/* for a late line of the log */

/*
 * Where libcurl is mapped in PID (0: unknown).  Forked workers have the
 * zygote's layout; an exec'd one has its own (ASLR).
 */
static unsigned long
curl_base(pid_t pid)
{
	return (proc_map_base(pid, "libcurl"));
}

/* The worker of PEER (by its pid in the mesh's "ready" line), or -1. */
static pid_t
worker_of(pid_t mesh, pid_t not)
{
	pid_t	w[8];
	int	i, n;

	n = mesh_workers(mesh, w, 8);
	for (i = 0; i < n; i++)
		if (w[i] != not)
			return (w[i]);
	return (-1);
}

/* PEER_echo answers (a restart may be under way) within SERVE_MS. */
static void
expect_serves(struct mcp_client *c, const char *peer)
{
	char	 tool[64];

	snprintf(tool, sizeof(tool), "%s_echo", peer);
	cr_assert_geq(wait_echo(c, tool, "up", SERVE_MS), 0, "%s never served "
	    "within %d ms", peer, SERVE_MS);
}

/* A gateway, a mesh bridging it as "a" and "b" with extra ARG, a client. */
static struct proc *
spawn_fixture(struct fixture *f, const char *arg)
{
	struct fixture_gw	*gw;

	fixture_init(f);
	gw = fixture_gateway(f, "gateway", NULL);
	fixture_bridge(f, "a", gw->url, 1);
	fixture_bridge(f, "b", gw->url, 1);
	fixture_start(f, 0, arg, NULL);
	return (f->mesh);
}

MESH_TEST(spawn, workers_come_from_the_zygote, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct proc		*mesh;
	pid_t			 w[8], z, other, fresh;
	char			 cmd[256];
	unsigned long		 zbase;
	int			 i, n;

	mesh = spawn_fixture(&f, NULL);
	cr_assert_gt(z = mesh_zygote(mesh->pid), 0, "no zygote");
	proc_cmdline(z, cmd, sizeof(cmd));
	cr_assert(strstr(cmd, "zygote") != NULL, "zygote's command: %s", cmd);
	if ((zbase = curl_base(z)) == 0)
		cr_skip_test("cannot read /proc/%d/maps", (int)z);
	cr_assert_eq(n = mesh_workers(mesh->pid, w, 8), 2);
	for (i = 0; i < n; i++) {
		/* The mesh's children (re-parented), named as workers. */
		proc_cmdline(w[i], cmd, sizeof(cmd));
		cr_assert(strstr(cmd, "zygote") == NULL,
		    "a worker's command line says zygote: %s", cmd);
		cr_assert_eq(curl_base(w[i]), zbase, "worker %d not forked "
		    "from the zygote", (int)w[i]);
	}
	expect_serves(&f.c, "a");
	expect_serves(&f.c, "b");

	/* SIGKILL from outside is no crash: forked again. */
	other = w[1];
	kill(w[0], SIGKILL);
	expect_serves(&f.c, "a");
	cr_assert_eq(mesh_workers(mesh->pid, w, 8), 2);
	fresh = worker_of(mesh->pid, other);
	cr_assert_eq(curl_base(fresh), zbase, "a SIGKILLed worker's "
	    "successor was not forked from the zygote");

	/*
	 * A crash (SIGABRT, as a smashed stack ends): its successor is
	 * exec'd, with a layout of its own, not one more guess at the
	 * zygote's canary.
	 */
	kill(fresh, SIGABRT);
	expect_serves(&f.c, "a");
	expect_serves(&f.c, "b");
	cr_assert_eq(mesh_zygote(mesh->pid), z, "the zygote changed");
	cr_assert_eq(mesh_workers(mesh->pid, w, 8), 2);
	fresh = worker_of(mesh->pid, other);
	cr_assert_gt(fresh, 0);
	cr_assert_neq(curl_base(fresh), zbase, "the successor of a worker "
	    "killed by a signal was forked from the zygote");
	fixture_stop(&f);
}

/*
 * A zygote that does not answer (stopped) costs one spawn's wait: the
 * worker is exec'd on new descriptors, so no two workers ever share a
 * socket (one HELLO each), and the mesh goes on without the zygote.
 * Two workers on one socket would show as a second HELLO: before READY
 * "HELLO twice", after it "sent message type ... in state ready", each
 * a "killing worker" line; nothing here is a reason to kill a worker.
 */
MESH_TEST(spawn, stopped_zygote_is_replaced_by_exec, .timeout = T_TIMEOUT)
{
	static const char *const unwanted[] = { LOG_HELLO_TWICE,
	    LOG_MSG_IN_STATE, LOG_KILLING_WORKER, NULL };
	struct fixture		 f;
	struct proc		*mesh;
	pid_t			 w[8], z;
	char			*line;
	uint64_t		 given_up;
	int			 left;

	mesh = spawn_fixture(&f, NULL);
	cr_assert_gt(z = mesh_zygote(mesh->pid), 0, "no zygote");
	cr_assert_eq(mesh_workers(mesh->pid, w, 8), 2);
	kill(z, SIGSTOP);
	/* No crash: its successor is asked of the zygote, which is stopped. */
	kill(w[0], SIGKILL);
	line = proc_wait_log(mesh, LOG_ZYGOTE_UNANSWERED, 10000);
	cr_assert_not_null(line, "the stopped zygote was not given up");
	free(line);
	given_up = now_ms();
	expect_serves(&f.c, "a");
	expect_serves(&f.c, "b");
	cr_assert_eq(mesh_zygote(mesh->pid), -1, "the zygote is still there");
	/*
	 * A late worker, a late line: SETTLE_MS from the last spawn, then
	 * one more call to each peer.
	 */
	left = (int)((int64_t)(given_up + SETTLE_MS) - (int64_t)now_ms());
	line = proc_wait_log_any(mesh, unwanted, left > 0 ? left : 0);
	cr_assert_null(line, "two workers on one socket, or a worker killed: "
	    "%s", line);
	expect_serves(&f.c, "a");
	expect_serves(&f.c, "b");
	line = proc_wait_log_any(mesh, unwanted, 0);
	cr_assert_null(line, "two workers on one socket, or a worker killed: "
	    "%s", line);
	fixture_stop(&f);
}

/* The zygote dies: workers are exec'd from then on, nobody notices. */
MESH_TEST(spawn, zygote_death_falls_back_to_exec, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct proc		*mesh;
	pid_t			 w[8], z;
	char			*line;
	int			 i, n;

	mesh = spawn_fixture(&f, NULL);
	cr_assert_gt(z = mesh_zygote(mesh->pid), 0, "no zygote");
	kill(z, SIGKILL);
	line = proc_wait_log(mesh, LOG_ZYGOTE_EXITED, 5000);
	cr_assert_not_null(line);
	free(line);
	expect_serves(&f.c, "a");

	n = mesh_workers(mesh->pid, w, 8);
	cr_assert_eq(n, 2, "workers went with the zygote");
	for (i = 0; i < n; i++)
		kill(w[i], SIGKILL);
	expect_serves(&f.c, "a");
	expect_serves(&f.c, "b");
	cr_assert_eq(mesh_zygote(mesh->pid), -1, "a zygote came back");
	cr_assert_eq(mesh_workers(mesh->pid, w, 8), 2);
	fixture_stop(&f);
}

MESH_TEST(spawn, worker_exec_starts_no_zygote, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct proc		*mesh;
	pid_t			 w[8];

	mesh = spawn_fixture(&f, "--worker-exec");
	cr_assert_eq(mesh_zygote(mesh->pid), -1, "a zygote with --worker-exec");
	cr_assert_eq(mesh_workers(mesh->pid, w, 8), 2);
	expect_serves(&f.c, "a");
	kill(w[1], SIGKILL);
	expect_serves(&f.c, "a");
	expect_serves(&f.c, "b");
	fixture_stop(&f);
}
