/*
 * A cgroup per worker (supervisor/cgroup.c), proved with real processes:
 * the real mcp-mesh, its real workers, and tests/sandbox/sandbox-probe
 * (the real worker up to its sandbox) for what a taken-over worker would
 * do.  While a worker runs, its cgroup exists with the named limits and
 * holds its pid; it goes when the worker does.  A worker over memory.max
 * is killed and restarted while another peer serves on; one that spins
 * is throttled by cpu.max; a connect to the gateway's port on another
 * address is refused by the connect hook while the gateway's own works;
 * and what the machine lacks is logged once.
 *
 * What is enforced is read from the mesh's own start-up line ("cgroup: a
 * cgroup per worker in DIR (memory.max on, ...)"); a test that needs
 * what this machine lacks is skipped, saying what, never passed.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
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
#define VERDICT_MS	10000	/* a probe's verdict is logged within */
#define GONE_MS		5000	/* a reaped worker's cgroup is removed within */
#define SPIN_MS		3000	/* the spinning probe's wall time */
#define MEM_LIMIT_MB	"64"	/* --worker-memory of the memory test */
#define MEM_PROBE_MIB	"96"	/* what the probe touches: over memory.max,
				   under the address-space backstop */

/* What the mesh said it enforces, from its start-up line. */
struct cgstate {
	int	on;
	int	memory, cpu, pids, hook;
	char	top[512];	/* directory of the workers' cgroups */
	char	why[512];	/* when off: the mesh's reason */
};

/* Logged at start, before the mesh listens. */
static void
cg_state(struct proc *mesh, struct cgstate *st)
{
	static const char	 tag[] = LOG_CGROUP_ON;
	char			*line, *p;

	memset(st, 0, sizeof(*st));
	if ((line = proc_log_find(mesh, tag)) == NULL) {
		line = proc_log_find(mesh, LOG_CGROUP_OFF);
		snprintf(st->why, sizeof(st->why), "%s", line != NULL ? line :
		    "the mesh said nothing about cgroups");
		free(line);
		return;
	}
	p = strstr(line, tag) + sizeof(tag) - 1;
	snprintf(st->top, sizeof(st->top), "%.*s", (int)strcspn(p, " "), p);
	st->on = 1;
	st->memory = strstr(line, LOG_CGROUP_MEMORY) != NULL;
	st->cpu = strstr(line, LOG_CGROUP_CPU) != NULL;
	st->pids = strstr(line, LOG_CGROUP_PIDS) != NULL;
	st->hook = strstr(line, LOG_CGROUP_HOOK) != NULL;
	free(line);
}

/*
 * Skipped with the mesh stopped first: a skip ends the test process, and
 * a mesh killed by its death signal could not remove its cgroups.
 */
#define SKIP_UNLESS(f, cond, ...) do {					\
	if (!(cond)) {							\
		fixture_stop_mesh(f);					\
		cr_skip_test(__VA_ARGS__);				\
	}								\
} while (0)

static void
need_cgroups(struct fixture *f, const struct cgstate *st)
{
	SKIP_UNLESS(f, st->on, "no worker cgroups here: %s", st->why);
}

/* A control file's first line, or "" when absent (static). */
static const char *
cg_file(const char *dir, const char *file)
{
	static char	 buf[512];
	char		 path[1100];
	FILE		*f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((f = fopen(path, "r")) == NULL)
		return (buf);
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return (buf);
}

/* KEY's number in a flat-keyed file (cpu.stat); -1 when absent. */
static long long
cg_stat(const char *dir, const char *file, const char *key)
{
	char		 path[1100], line[256];
	size_t		 klen = strlen(key);
	long long	 v = -1;
	FILE		*f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			v = atoll(line + klen + 1);
	fclose(f);
	return (v);
}

/* Is pid listed in the cgroup's cgroup.procs? */
static int
cg_holds(const char *dir, pid_t pid)
{
	char	 path[1100], line[64];
	FILE	*f;
	int	 found = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = atoi(line) == (int)pid;
	fclose(f);
	return (found);
}

static int
dir_gone(const char *dir, int timeout_ms)
{
	uint64_t	deadline = now_ms() + (uint64_t)timeout_ms;

	while (access(dir, F_OK) == 0) {
		if (now_ms() >= deadline)
			return (0);
		harness_msleep(20);
	}
	return (1);
}

static void
expect_log(struct proc *mesh, const char *needle)
{
	char	*line;

	line = proc_wait_log(mesh, needle, VERDICT_MS);
	cr_assert_not_null(line, "mesh never logged \"%s\"", needle);
	free(line);
}

/* The one worker of a mesh with one peer, and its cgroup directory. */
static pid_t
only_worker(struct proc *mesh, char *dir, size_t len)
{
	pid_t	w[4];

	cr_assert_eq(mesh_workers(mesh->pid, w, 4), 1);
	cr_assert_not_null(proc_cgroup_dir(w[0], dir, len),
	    "worker %d has no cgroup v2", (int)w[0]);
	return (w[0]);
}

/* The cgroup directory of peer's worker (worker-PEER-N); its pid, or -1. */
static pid_t
peer_worker_dir(struct proc *mesh, const char *peer, char *dir, size_t len)
{
	char	name[64];
	pid_t	w[8];
	int	i, n;

	snprintf(name, sizeof(name), "/worker-%s-", peer);
	n = mesh_workers(mesh->pid, w, 8);
	for (i = 0; i < n; i++)
		if (proc_cgroup_dir(w[i], dir, len) != NULL &&
		    strstr(dir, name) != NULL)
			return (w[i]);
	return (-1);
}

/* The mesh's own view of a peer (mesh_node_info), owned by the caller. */
static struct json_object *
peer_status(struct mcp_client *c, const char *peer)
{
	struct json_object	*info, *found;

	info = node_info(c);
	cr_assert_not_null(info, "mesh_node_info did not answer");
	found = node_peer(info, peer);
	cr_assert_not_null(found, "mesh_node_info has no peer %s: %s", peer,
	    json_object_to_json_string(info));
	json_object_get(found);
	json_object_put(info);
	return (found);
}

/* f, with the gateway the probes' peers are bridged to. */
static struct fixture_gw *
probe_gateway(struct fixture *f)
{
	fixture_init(f);
	return (fixture_gateway(f, "gateway", NULL));
}

/*
 * A mesh over the probe bridging a ("name[?query]") and b on the gateway
 * g; neither is waited for.
 */
static void
probe_mesh(struct fixture *f, struct fixture_gw *g, const char *memory,
    const char *a, const char *b)
{
	const char	*probe = harness_bin("MESH_PROBE_BIN");
	char		 name[32], url[256];

	cr_assert_not_null(probe);
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(a, "?"), a);
	snprintf(url, sizeof(url), "%s%s", g->url, a + strcspn(a, "?"));
	fixture_bridge(f, name, url, 0);
	fixture_bridge(f, b, g->url, 0);
	fixture_start(f, 0, "--worker-path", probe, "--worker-memory", memory,
	    NULL);
}

/* The named limits are on the cgroup that holds the worker. */
static void
expect_limits(const struct cgstate *st, const char *dir)
{
	char	want[64];

	if (st->memory) {
		cr_assert_str_eq(cg_file(dir, "memory.max"), "314572800");
		if (*cg_file(dir, "memory.swap.max") != '\0')
			cr_assert_str_eq(cg_file(dir, "memory.swap.max"), "0");
	}
	if (st->pids) {
		snprintf(want, sizeof(want), "%d", WORKER_CGROUP_PIDS_MAX);
		cr_assert_str_eq(cg_file(dir, "pids.max"), want);
	}
	if (st->cpu) {
		snprintf(want, sizeof(want), "%d %d",
		    WORKER_CGROUP_CPU_QUOTA_US, WORKER_CGROUP_CPU_PERIOD_US);
		cr_assert_str_eq(cg_file(dir, "cpu.max"), want);
	}
}

/* Its cgroup as mesh_node_info shows it. */
static void
expect_status(const struct cgstate *st, struct mcp_client *c,
    const char *dir, int gport)
{
	struct json_object	*p;
	const char		*path;
	char			 want[64];
	int64_t			 v;

	p = peer_status(c, "echo");
	path = json_path_str(p, "cgroup.path");
	cr_assert_not_null(path, "no cgroup in the peer's status");
	cr_assert(strlen(dir) >= strlen(path) &&
	    strcmp(dir + strlen(dir) - strlen(path), path) == 0,
	    "status path %s, worker in %s", path, dir);
	cr_assert_eq(json_path_int(p, "cgroup.cpuUsec", &v), 0);
	cr_assert_gt(v, 0);
	if (st->memory) {
		cr_assert_eq(json_path_int(p, "cgroup.memoryBytes", &v), 0);
		cr_assert_gt(v, 0);
	}
	snprintf(want, sizeof(want), "127.0.0.1:%d", gport);
	if (st->hook)
		cr_assert_str_eq(json_path_str(p, "cgroup.connectOnly"), want);
	json_object_put(p);
}

MESH_TEST(cgroup, worker_cgroup_holds_it_with_limits_and_goes_with_it,
    .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct fixture_gw	*gw;
	struct cgstate		 st;
	struct proc		*mesh;
	char			 dir[1024], dir2[1024], base[600], ready[64];
	pid_t			 pid, pid2;

	fixture_init(&f);
	gw = fixture_gateway(&f, "gateway", NULL);
	fixture_bridge(&f, "echo", gw->url, 1);
	fixture_start(&f, 0, "--worker-memory", "300", NULL);
	mesh = f.mesh;
	cg_state(mesh, &st);
	need_cgroups(&f, &st);

	pid = only_worker(mesh, dir, sizeof(dir));
	snprintf(base, sizeof(base), "%s/worker-echo-", st.top);
	cr_assert(strncmp(dir, base, strlen(base)) == 0,
	    "worker %d in %s, not in %s*", (int)pid, dir, base);
	cr_assert(cg_holds(dir, pid), "%s/cgroup.procs lacks %d", dir,
	    (int)pid);
	expect_limits(&st, dir);
	expect_status(&st, &f.c, dir, gw->port);

	/* Reaped: its cgroup goes; its successor gets a new one. */
	kill(pid, SIGKILL);
	cr_assert(dir_gone(dir, GONE_MS), "%s outlived its worker", dir);
	snprintf(ready, sizeof(ready), LOG_PEER_READY " (", "echo");
	cr_assert_geq(proc_wait_log_count(mesh, ready, 2, HARNESS_READY_MS),
	    2);
	pid2 = only_worker(mesh, dir2, sizeof(dir2));
	cr_assert_neq(pid2, pid);
	cr_assert_str_neq(dir2, dir);
	cr_assert(cg_holds(dir2, pid2));
	expect_limits(&st, dir2);

	/* At exit the mesh removes what it made. */
	fixture_stop_mesh(&f);
	cr_assert(dir_gone(dir2, GONE_MS), "%s outlived the mesh", dir2);
	if (strstr(st.top, "/mcp-mesh-") != NULL)
		cr_assert(dir_gone(st.top, GONE_MS), "%s outlived the mesh",
		    st.top);
}

/*
 * The probe "mem" touches more than memory.max (--worker-memory) but less
 * than the address-space backstop: the kernel kills it, the mesh says why
 * and restarts it, and the other peer serves meanwhile.
 */
MESH_TEST(cgroup, memory_max_kills_the_worker_not_its_neighbour,
    .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct fixture_gw	*gw;
	struct cgstate		 st;
	struct proc		*mesh;
	char			 w[128];

	gw = probe_gateway(&f);
	probe_mesh(&f, gw, MEM_LIMIT_MB, "mem?mib=" MEM_PROBE_MIB, "ok");
	mesh = f.mesh;
	cg_state(mesh, &st);
	need_cgroups(&f, &st);
	SKIP_UNLESS(&f, st.memory, "no memory controller for workers here: "
	    "memory.max is not enforced");
	snprintf(w, sizeof(w), LOG_PEER_WORKER, "mem");
	expect_log(mesh, w);
	expect_log(mesh, LOG_CGROUP_OOM MEM_LIMIT_MB " MiB)");
	snprintf(w, sizeof(w), LOG_RESTARTING, "mem");
	expect_log(mesh, w);
	snprintf(w, sizeof(w), PROBE_NOT_REFUSED, "mem");
	cr_assert_null(proc_log_find(mesh, w));
	snprintf(w, sizeof(w), PROBE_REFUSED, "mem", "");
	cr_assert_null(proc_log_find(mesh, w),
	    "the address-space limit bound before memory.max");
	cr_assert_eq(mesh_wait_peer(mesh, "ok"), 0);
	expect_text(&f.c, "ok_echo", "{\"text\":\"still here\"}",
	    "still here");
	fixture_stop(&f);
}

/*
 * The probe "spin" burns CPU for SPIN_MS: cpu.max throttles it (cpu.stat
 * nr_throttled) and it gets about half of the time, not all of it.
 */
MESH_TEST(cgroup, cpu_max_throttles_a_spinning_worker, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct fixture_gw	*gw;
	struct cgstate		 st;
	struct proc		*mesh;
	char			 dir[1024], q[32], *line;
	long long		 cpu, wall;

	snprintf(q, sizeof(q), "spin?ms=%d", SPIN_MS);
	gw = probe_gateway(&f);
	probe_mesh(&f, gw, "512", q, "ok");
	mesh = f.mesh;
	cg_state(mesh, &st);
	need_cgroups(&f, &st);
	SKIP_UNLESS(&f, st.cpu, "no cpu controller for workers here: "
	    "cpu.max is not enforced");
	cr_assert_eq(mesh_wait_peer(mesh, "ok"), 0);
	/* Half of its spin: throttled by then if ever. */
	harness_msleep(SPIN_MS / 2);
	cr_assert(peer_worker_dir(mesh, "spin", dir, sizeof(dir)) != -1,
	    "the spinning worker is gone already");
	cr_assert_gt(cg_stat(dir, "cpu.stat", "nr_throttled"), 0,
	    "cpu.max never throttled a spinning worker");
	line = proc_wait_log(mesh, "probe spin: ", SPIN_MS + VERDICT_MS);
	cr_assert_not_null(line);
	cr_assert_eq(sscanf(strstr(line, "probe spin: "), PROBE_SPIN, &cpu,
	    &wall), 2, "%s", line);
	free(line);
	/* Half a CPU, and slack for the periods at either end. */
	cr_assert(cpu * 100 <= wall * (WORKER_CGROUP_CPU_QUOTA_US * 100 /
	    WORKER_CGROUP_CPU_PERIOD_US + 15), "spun %lld ms of CPU in %lld "
	    "ms: over cpu.max", cpu, wall);
	fixture_stop(&f);
}

/* A listener on 127.0.0.2:port, or -1 (errno). */
static int
listen_other(int port)
{
	struct sockaddr_in	sin;
	int			s, on = 1;

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(s, 8) == -1) {
		close(s);
		return (-1);
	}
	return (s);
}

/* Without the hook, that listener is reachable: the refusal is the hook's. */
static void
expect_reachable(int port)
{
	struct sockaddr_in	sin;
	int			s, r;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1);
	cr_assert_neq(s = socket(AF_INET, SOCK_STREAM, 0), -1);
	r = connect(s, (struct sockaddr *)&sin, sizeof(sin));
	close(s);
	cr_assert_eq(r, 0, "127.0.0.2:%d unreachable from the test: %s",
	    port, strerror(errno));
}

/*
 * The gateway's port on another address (127.0.0.2, where the test
 * listens, so that nothing but the hook can refuse): EPERM.  Landlock
 * allows it (same port); the gateway on 127.0.0.1 keeps working.
 */
MESH_TEST(cgroup, connect_hook_refuses_another_address, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct fixture_gw	*gw;
	struct cgstate		 st;
	struct proc		*mesh;
	char			 w[128];
	int			 other;

	gw = probe_gateway(&f);
	if ((other = listen_other(gw->port)) == -1)
		cr_skip_test("cannot listen on 127.0.0.2:%d: %s", gw->port,
		    strerror(errno));
	expect_reachable(gw->port);
	probe_mesh(&f, gw, "512", "addr", "ok");
	mesh = f.mesh;
	cg_state(mesh, &st);
	need_cgroups(&f, &st);
	SKIP_UNLESS(&f, st.hook, "the connect hook cannot be attached "
	    "here");
	snprintf(w, sizeof(w), PROBE_REFUSED, "addr", strerror(EPERM));
	expect_log(mesh, w);
	cr_assert_eq(mesh_wait_peer(mesh, "ok"), 0);
	expect_text(&f.c, "ok_echo", "{\"text\":\"still here\"}",
	    "still here");
	close(other);
	fixture_stop(&f);
}

/*
 * Every gap is logged once, at start, however many workers come and go:
 * each "cgroup:" line appears once, and a named gateway's (no hook for
 * it) once.  Decidable whatever the machine offers.
 */
MESH_TEST(cgroup, gaps_are_logged_once, .timeout = T_TIMEOUT)
{
	struct fixture		 fx;
	struct fixture_gw	*gw;
	struct cgstate		 st;
	struct proc		*mesh;
	char			 named[128], line[4096], *l;
	pid_t			 w[4];
	FILE			*f;
	int			 n;

	fixture_init(&fx);
	gw = fixture_gateway(&fx, "gateway", NULL);
	fixture_bridge(&fx, "echo", gw->url, 1);
	snprintf(named, sizeof(named), "http://localhost:%d/mcp", gw->port);
	fixture_bridge(&fx, "named", named, 1);
	fixture_start(&fx, 0, NULL);
	mesh = fx.mesh;
	cg_state(mesh, &st);
	cr_assert_eq(mesh_workers(mesh->pid, w, 4), 2);
	kill(w[0], SIGKILL);
	kill(w[1], SIGKILL);
	cr_assert_geq(proc_wait_log_count(mesh, LOG_READY_TOOLS, 4,
	    HARNESS_READY_MS), 4);

	cr_assert_not_null(f = fopen(mesh->logpath, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((l = strstr(line, LOG_CGROUP)) == NULL ||
		    strstr(line, "peer ") != NULL)
			continue;
		line[strcspn(line, "\n")] = '\0';
		n = proc_log_count(mesh, l);
		cr_assert_eq(n, 1, "logged %d times: %s", n, l);
	}
	fclose(f);
	snprintf(named, sizeof(named), LOG_CGROUP_NAMED, "named");
	n = proc_log_count(mesh, named);
	cr_assert_eq(n, st.on && st.hook ? 1 : 0);
	n = proc_log_count(mesh, LOG_CGROUP_OFF);
	cr_assert_eq(n, st.on ? 0 : 1);
	fixture_stop(&fx);
}
