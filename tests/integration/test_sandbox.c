/*
 * The worker sandbox, proved from inside: the real mcp-mesh starts
 * tests/sandbox/sandbox-probe (the real worker up to and including the
 * sandbox) through --worker-path, and the probe tries what a taken-over
 * worker would.  Exec and fork must kill it with SIGSYS, which the
 * supervisor names a sandbox violation; writing a file, reading outside
 * the TLS paths and connecting to a port that is not the peer's must be
 * refused.  Also: the limits a real worker runs under, its empty
 * environment and its user, the per-peer deadline and response cap, and
 * the command line's refusals of bad limits.
 */
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "mesh-limits.h"
#include "integration/harness.h"
#include "integration/logtext.h"

#define T_TIMEOUT	60	/* seconds, any one test */
#define VERDICT_MS	10000	/* a probe's verdict is logged within */
#define RECOVER_MS	5000	/* a peer serves again within */

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset	444
#endif

/* Landlock's ABI as the worker will see it (0: none). */
static int
landlock_abi(void)
{
	long	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U);

	return (abi < 0 ? 0 : (int)abi);
}

static int
sanitized(void)
{
	return (getenv("MESH_SANITIZED") != NULL);
}

/*
 * In fixture f: a gateway, and a mesh whose one peer NAME is served by
 * the probe against it (not waited for: most probes never get ready).
 */
static struct proc *
probe_start(struct fixture *f, const char *name, const char *query)
{
	struct fixture_gw	*gw;
	const char		*probe;
	char			 url[192];

	probe = harness_bin("MESH_PROBE_BIN");
	cr_assert_not_null(probe);
	gw = fixture_gateway(f, "gateway", NULL);
	snprintf(url, sizeof(url), "%s%s", gw->url, query != NULL ? query :
	    "");
	fixture_bridge(f, name, url, 0);
	fixture_start(f, 0, "--worker-path", probe, NULL);
	return (f->mesh);
}

static struct proc *
probe_mesh(struct fixture *f, const char *name, const char *query)
{
	fixture_init(f);
	return (probe_start(f, name, query));
}

static void
expect_log(struct proc *mesh, const char *needle)
{
	char	*line;

	line = proc_wait_log(mesh, needle, VERDICT_MS);
	cr_assert_not_null(line, "mesh never logged \"%s\"", needle);
	free(line);
}

/* The probe's verdict for act: refused with errno e. */
static void
expect_refused(struct proc *mesh, const char *act, int e)
{
	char	 needle[128];

	snprintf(needle, sizeof(needle), PROBE_REFUSED, act, strerror(e));
	expect_log(mesh, needle);
}

/* Once the verdict is in: no line of the log says act went through. */
static void
expect_no_breach(struct proc *mesh, const char *act)
{
	char	 needle[64], *line;

	snprintf(needle, sizeof(needle), PROBE_NOT_REFUSED, act);
	line = proc_log_find(mesh, needle);
	cr_assert_null(line, "sandbox breach: %s", line);
}

/* The worker of peer died of how (LOG_SANDBOX_VIOLATION), one line. */
static void
expect_worker_died(struct proc *mesh, const char *peer, const char *how)
{
	char	 want[256], *line;
	const char *w;

	line = proc_wait_log(mesh, how, VERDICT_MS);
	cr_assert_not_null(line, "mesh never logged \"%s\"", how);
	w = strstr(line, ": worker ");
	snprintf(want, sizeof(want), LOG_WORKER_EXITED "%s", peer,
	    w != NULL ? atoi(w + 9) : -1, how);
	cr_assert(strstr(line, want) != NULL, "want \"%s\", the mesh logged "
	    "\"%s\"", want, line);
	free(line);
}

/*
 * With seccomp, exec and fork kill the worker.  Built without it, the
 * other layers refuse them: Landlock's EXECUTE right for exec,
 * RLIMIT_NPROC for fork (not set in sanitizer builds).  Where no layer
 * can decide, the test is skipped rather than passed.
 */
MESH_TEST(sandbox, exec_kills_the_worker, .timeout = T_TIMEOUT)
{
	struct fixture	 f;
	struct proc	*mesh;

#ifndef HAVE_SECCOMP
	if (landlock_abi() == 0)
		cr_skip_test("no seccomp and no Landlock: exec not refused");
#endif
	mesh = probe_mesh(&f, "exec", NULL);
#ifdef HAVE_SECCOMP
	expect_worker_died(mesh, "exec", LOG_SANDBOX_VIOLATION);
#else
	expect_refused(mesh, "exec", EACCES);
#endif
	fixture_stop(&f);
}

MESH_TEST(sandbox, fork_kills_the_worker, .timeout = T_TIMEOUT)
{
	struct fixture	 f;
	struct proc	*mesh;

#ifndef HAVE_SECCOMP
	if (sanitized())
		cr_skip_test("no seccomp and no RLIMIT_NPROC: fork not refused");
#endif
	mesh = probe_mesh(&f, "fork", NULL);
#ifdef HAVE_SECCOMP
	expect_worker_died(mesh, "fork", LOG_SANDBOX_VIOLATION);
#else
	expect_refused(mesh, "fork", EAGAIN);
#endif
	expect_no_breach(mesh, "fork");
	fixture_stop(&f);
}

MESH_TEST(sandbox, file_write_is_refused, .timeout = T_TIMEOUT)
{
	struct fixture	 f;

	expect_refused(probe_mesh(&f, "write", NULL), "write", EACCES);
	fixture_stop(&f);
}

MESH_TEST(sandbox, read_outside_tls_paths_is_refused, .timeout = T_TIMEOUT)
{
	struct fixture	 f;

	if (landlock_abi() == 0)
		cr_skip_test("the kernel has no Landlock: reads not limited");
	expect_refused(probe_mesh(&f, "read", NULL), "read", EACCES);
	fixture_stop(&f);
}

/*
 * A probe against a port that listens but is not the peer's, so that a
 * refusal cannot be ECONNREFUSED.
 */
static struct proc *
probe_other_port(struct fixture *f, const char *act)
{
	struct fixture_gw	*other;
	char			 q[32];

	fixture_init(f);
	other = fixture_gateway(f, "other", NULL);
	snprintf(q, sizeof(q), "?port=%d", other->port);
	return (probe_start(f, act, q));
}

MESH_TEST(sandbox, connect_to_another_port_is_refused, .timeout = T_TIMEOUT)
{
	struct fixture	 f;

	if (landlock_abi() < 4)
		cr_skip_test("Landlock ABI %d < 4: TCP ports not limited",
		    landlock_abi());
	expect_refused(probe_other_port(&f, "connect"), "connect", EACCES);
	fixture_stop(&f);
}

/*
 * What Landlock's port rule does not see, seccomp must: a TCP Fast Open
 * send (connects without the connect hook), UDP (not TCP at all), and
 * F_SETOWN (SIGIO at another process).
 */
static void
expect_killed(const char *act)
{
	struct fixture	 f;
	struct proc	*mesh;

#ifndef HAVE_SECCOMP
	cr_skip_test("built without libseccomp: %s not filtered", act);
#endif
	mesh = probe_other_port(&f, act);
	expect_worker_died(mesh, act, LOG_SANDBOX_VIOLATION);
	expect_no_breach(mesh, act);
	fixture_stop(&f);
}

MESH_TEST(sandbox, tcp_fast_open_kills_the_worker, .timeout = T_TIMEOUT)
{
	expect_killed("tfo");
}

MESH_TEST(sandbox, udp_kills_the_worker, .timeout = T_TIMEOUT)
{
	expect_killed("udp");
}

MESH_TEST(sandbox, sigio_owner_kills_the_worker, .timeout = T_TIMEOUT)
{
	expect_killed("sigio");
}

/*
 * A worker's stderr is relayed line by line, escaped, under its peer's
 * name, up to WORKER_STDERR_MAX bytes: it cannot forge a line of the
 * supervisor's log or fill it.
 */
MESH_TEST(sandbox, worker_stderr_is_relayed_escaped_and_bounded,
    .timeout = T_TIMEOUT)
{
	struct fixture	 f;
	struct proc	*mesh;
	char		*line, needle[128];

	mesh = probe_mesh(&f, "stderr", NULL);
	snprintf(needle, sizeof(needle), LOG_STDERR "mcp-mesh: peer ok: ready "
	    "(forged)", "stderr");
	expect_log(mesh, needle);
	snprintf(needle, sizeof(needle), LOG_STDERR "bell", "stderr");
	line = proc_wait_log(mesh, needle, VERDICT_MS);
	cr_assert_not_null(line);
	cr_assert(strchr(line, '\a') == NULL && strchr(line, '\033') == NULL,
	    "control bytes reached the log: %s", line);
	free(line);
	snprintf(needle, sizeof(needle), LOG_STDERR LOG_STDERR_CUT, "stderr",
	    WORKER_STDERR_MAX);
	expect_log(mesh, needle);
	expect_refused(mesh, "stderr", EIO);
	fixture_stop(&f);
}

/* The probe with nothing to try is a working worker: the control. */
MESH_TEST(sandbox, probe_serves_when_it_tries_nothing, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct http_resp	 r;
	struct json_object	*res;

	cr_assert_eq(mesh_wait_peer(probe_mesh(&f, "ok", NULL), "ok"), 0);
	res = mcp_call_tool(&f.c, "ok_echo", "{\"text\":\"sandboxed\"}", &r);
	cr_assert_not_null(res, "ok_echo: %s", r.body ? r.body : "");
	cr_assert_str_eq(tool_text(res), "sandboxed");
	http_resp_free(&r);
	fixture_stop(&f);
}

/* One line of /proc/PID/FILE starting with key, or "" (static). */
static const char *
proc_line(pid_t pid, const char *file, const char *key)
{
	static char	 line[512];

	if (proc_file_line(pid, file, key, line, sizeof(line)) == NULL)
		return ("");
	return (line);
}

/* "Max open files  80  80  files": the soft limit, -1 for unlimited. */
static long long
limit_of(pid_t pid, const char *name)
{
	const char	*l = proc_line(pid, "limits", name);

	if (*l == '\0')
		return (-2);
	l += strlen(name);
	while (*l == ' ')
		l++;
	return (strncmp(l, "unlimited", 9) == 0 ? -1 : atoll(l));
}

/* "Key:\tA\tB..." of /proc/PID/status: no field is 0 (root). */
static void
expect_no_zero_field(pid_t pid, const char *key)
{
	char	 buf[512], *f, *p;

	strlcpy(buf, proc_line(pid, "status", key), sizeof(buf));
	cr_assert(buf[0] != '\0', "no %s in /proc/%d/status", key, (int)pid);
	p = buf + strlen(key);
	while ((f = strsep(&p, " \t\n")) != NULL)
		cr_assert(strcmp(f, "0") != 0, "worker has %s 0: %s", key, buf);
}

/* A worker of a root mesh: no root uid or gid anywhere, no capability. */
static void
expect_unprivileged(pid_t pid)
{
	const char	*cap;

	expect_no_zero_field(pid, "Uid:");
	expect_no_zero_field(pid, "Gid:");
	expect_no_zero_field(pid, "Groups:");
	cap = proc_line(pid, "status", "CapEff:");
	cr_assert(strstr(cap, "0000000000000000") != NULL,
	    "worker has capabilities: %s", cap);
}

/*
 * Is pid held by memory.max (supervisor/cgroup.c)?  Then that is its
 * memory cap, and RLIMIT_AS only a backstop WORKER_CGROUP_AS_FACTOR times
 * --worker-memory.
 */
static int
in_memory_cgroup(pid_t pid)
{
	char	dir[1024], path[1100];

	if (proc_cgroup_dir(pid, dir, sizeof(dir)) == NULL)
		return (0);
	snprintf(path, sizeof(path), "%s/memory.max", dir);
	return (access(path, F_OK) == 0);
}

/* The real worker, as a process: limits, flags, user, environment. */
MESH_TEST(sandbox, real_worker_runs_confined, .timeout = T_TIMEOUT)
{
	struct fixture	 fx;
	char		 path[64], env[4096];
	pid_t		 w[4];
	FILE		*f;
	size_t		 n, i;

	fixture_init(&fx);
	fixture_peer_gateway(&fx, "edge", NULL);
	fixture_start(&fx, 0, "--worker-memory", "300", NULL);
	cr_assert_eq(mesh_workers(fx.mesh->pid, w, 4), 1);

	cr_assert_eq(limit_of(w[0], "Max file size"), 0);
	cr_assert_eq(limit_of(w[0], "Max core file size"), 0);
	cr_assert_eq(limit_of(w[0], "Max open files"), WORKER_NOFILE_MAX);
	if (!sanitized()) {
		/* Sanitizer runtimes need threads-as-processes and terabytes. */
		cr_assert_eq(limit_of(w[0], "Max processes"), 0);
		cr_assert_eq(limit_of(w[0], "Max address space"),
		    300LL * 1024 * 1024 * (in_memory_cgroup(w[0]) ?
		    WORKER_CGROUP_AS_FACTOR : 1));
	}
	cr_assert(strstr(proc_line(w[0], "status", "NoNewPrivs:"), "1") !=
	    NULL, "no_new_privs not set");
#ifdef HAVE_SECCOMP
	cr_assert(strstr(proc_line(w[0], "status", "Seccomp:"), "2") != NULL,
	    "no seccomp filter: %s", proc_line(w[0], "status", "Seccomp:"));
#endif
	if (geteuid() == 0)
		expect_unprivileged(w[0]);

	/* Nothing but the sanitizers' own variables. */
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)w[0]);
	cr_assert_not_null(f = fopen(path, "r"));
	n = fread(env, 1, sizeof(env) - 1, f);
	fclose(f);
	for (i = 0; i < n; i += strlen(env + i) + 1) {
		env[n] = '\0';
		cr_assert(strncmp(env + i, "ASAN_", 5) == 0 ||
		    strncmp(env + i, "UBSAN_", 6) == 0 ||
		    strncmp(env + i, "LSAN_", 5) == 0,
		    "the worker was given %s", env + i);
	}
	fixture_stop(&fx);
}

/*
 * Bytes of the body the gateway sends for echo of TEXT with JSON-RPC id
 * ID: asked of the gateway itself, so the cap's edge is exact.
 */
static size_t
echo_body_len(int gport, int id, const char *args)
{
	struct mcp_client	 g;
	struct http_resp	 r;
	char			 url[128];
	size_t			 len;

	url_of(gport, url, sizeof(url));
	cr_assert_eq(mcp_open(&g, url), 0);
	g.nextid = id;
	mcp_call_tool(&g, "echo", args, &r);
	cr_assert_eq(r.status, 200);
	len = r.len;
	http_resp_free(&r);
	mcp_close(&g);
	return (len);
}

/* --peer-timeout: one peer's deadline; the others keep --timeout. */
MESH_TEST(sandbox, per_peer_deadline, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct fixture_gw	*gw;
	struct http_resp	 r;
	struct json_object	*res;
	char			 want[256];

	fixture_init(&f);
	gw = fixture_gateway(&f, "gateway", NULL);
	fixture_bridge(&f, "quick", gw->url, 1);
	fixture_bridge(&f, "patient", gw->url, 1);
	fixture_start(&f, 0, "--timeout", "20000", "--peer-timeout",
	    "quick=300", NULL);

	res = mcp_call_tool(&f.c, "quick_slow", "{\"ms\":1500}", &r);
	cr_assert_not_null(res, "%s", r.body ? r.body : "");
	snprintf(want, sizeof(want), ANSWER_DEADLINE, "quick", "quick_slow",
	    300);
	cr_assert(json_object_get_boolean(json_path(res, "isError")) &&
	    tool_text(res) != NULL && strcmp(tool_text(res), want) == 0,
	    "quick_slow: want \"%s\", got %s", want, r.body);
	http_resp_free(&r);
	res = mcp_call_tool(&f.c, "patient_slow", "{\"ms\":1500}", &r);
	cr_assert_not_null(res, "%s", r.body ? r.body : "");
	cr_assert_str_eq(tool_text(res), "slept 1500 ms", "%s", r.body);
	http_resp_free(&r);
	fixture_stop(&f);
}

/*
 * --peer-max-response at its edge: an answer of exactly the cap passes,
 * one byte more is refused; the other peer keeps the default cap.  The
 * worker sends the peer ids 1, 2, ... so the gateway is asked directly
 * with the same ids for the exact body sizes.
 */
MESH_TEST(sandbox, per_peer_response_cap_at_its_edge, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct fixture_gw	*gw;
	struct http_resp	 r;
	struct json_object	*res;
	char			 args[64], cause[64], cap[128];
	const char		*text;
	size_t			 base, want;
	int			 gport, id, n;

	fixture_init(&f);
	gw = fixture_gateway(&f, "gateway", NULL);
	gport = gw->port;
	fixture_bridge(&f, "capped", gw->url, 1);
	fixture_bridge(&f, "free", gw->url, 1);
	fixture_start(&f, 0, "--peer-max-response", "capped=4K", NULL);

	/* Calls 1 and 2 on "capped": 4096 bytes, then 4097. */
	base = echo_body_len(gport, 1, "{\"text\":\"x\",\"repeat\":1}") - 1;
	for (id = 1; id <= 2; id++) {
		want = 4096 + (id - 1);
		n = (int)(want - base);
		snprintf(args, sizeof(args), "{\"text\":\"x\",\"repeat\":%d}",
		    n);
		cr_assert_eq(echo_body_len(gport, id, args), want);
		res = mcp_call_tool(&f.c, "capped_echo", args, &r);
		cr_assert_not_null(res, "%s", r.body ? r.body : "");
		text = tool_text(res);
		if (id == 1)
			cr_assert(text != NULL && strlen(text) == (size_t)n &&
			    !json_object_get_boolean(json_path(res, "isError")),
			    "an answer of exactly 4096 bytes: %.200s", r.body);
		else {
			snprintf(cause, sizeof(cause), ANSWER_TOO_LARGE,
			    4096);
			snprintf(cap, sizeof(cap), ANSWER_PEER_FAILED,
			    "capped", cause);
			cr_assert(text != NULL && strcmp(text, cap) == 0,
			    "an answer of 4097 bytes: want \"%s\", got %.300s",
			    cap, r.body);
		}
		http_resp_free(&r);
		res = mcp_call_tool(&f.c, "free_echo", args, &r);
		cr_assert(tool_text(res) != NULL &&
		    strlen(tool_text(res)) == (size_t)n, "the other peer's cap");
		http_resp_free(&r);
	}
	fixture_stop(&f);
}

/* mcp-mesh -n with ARGS...: exits 0 (ok) or not, log line wanted. */
static void
check_args(int ok, const char *want, ...)
{
	const char	*bin = harness_bin("MESH_BIN");
	char		*argv[16], *line;
	struct proc	*p;
	va_list		 ap;
	int		 n = 0;

	argv[n++] = (char *)bin;
	argv[n++] = (char *)"-n";
	va_start(ap, want);
	while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	cr_assert_not_null(p = proc_spawn("mesh-n", 0, argv));
	cr_assert_eq(proc_wait_exit(p, 5000), 0, "mcp-mesh -n did not exit");
	cr_assert(WIFEXITED(p->status) &&
	    (ok ? WEXITSTATUS(p->status) == 0 : WEXITSTATUS(p->status) != 0),
	    "%s: status %#x", want ? want : "(valid)", p->status);
	if (want != NULL) {
		line = proc_log_find(p, want);
		cr_assert_not_null(line, "no \"%s\" in the log", want);
		free(line);
	}
}

/* The refusal of --max-response ARG, in w. */
static const char *
bad_size(char *w, size_t len, const char *arg)
{
	snprintf(w, len, LOG_BAD_SIZE, "--max-response", arg,
	    UPSTREAM_RESPONSE_MIN, UPSTREAM_RESPONSE_CAP);
	return (w);
}

MESH_TEST(sandbox, bad_limits_are_refused_by_name, .timeout = T_TIMEOUT)
{
	const char	*u = "a=http://127.0.0.1:9/mcp";
	char		 w[256];

	snprintf(w, sizeof(w), LOG_NO_SUCH_PEER, "--peer-timeout", "b");
	check_args(0, w, "--bridge", u, "--peer-timeout", "b=500", NULL);
	snprintf(w, sizeof(w), LOG_OUT_OF_RANGE, "--peer-timeout", "a=99",
	    "too small");
	check_args(0, w, "--bridge", u, "--peer-timeout", "a=99", NULL);
	check_args(1, NULL, "--bridge", u, "--peer-timeout", "a=100", NULL);
	check_args(0, bad_size(w, sizeof(w), "4095"), "--bridge", u,
	    "--max-response", "4095", NULL);
	check_args(1, NULL, "--bridge", u, "--max-response", "4096", NULL);
	check_args(1, NULL, "--bridge", u, "--max-response", "8M", NULL);
	check_args(0, bad_size(w, sizeof(w), "8193K"), "--bridge", u,
	    "--max-response", "8193K", NULL);
	/* Would wrap to 1 MiB; a sign after a blank. */
	check_args(0, bad_size(w, sizeof(w), "17592186044417M"), "--bridge", u,
	    "--max-response", "17592186044417M", NULL);
	check_args(0, bad_size(w, sizeof(w), " -18446744073709547520"),
	    "--bridge", u, "--max-response", " -18446744073709547520", NULL);
	snprintf(w, sizeof(w), LOG_NOT_NAME_VALUE, "--peer-max-response",
	    "a");
	check_args(0, w, "--bridge", u, "--peer-max-response", "a", NULL);
	snprintf(w, sizeof(w), LOG_OUT_OF_RANGE, "--worker-memory", "-1",
	    "too small");
	check_args(0, w, "--worker-memory", "-1", NULL);
	if (geteuid() == 0) {
		snprintf(w, sizeof(w), LOG_ROOT_USER, "root");
		check_args(0, w, "--worker-user", "root", NULL);
	}
	snprintf(w, sizeof(w), LOG_NO_SUCH_USER, "no-such-user-here");
	check_args(geteuid() != 0, geteuid() == 0 ? w : NULL,
	    "--worker-user", "no-such-user-here", NULL);
}

/* VmSize of a process, kB (0 if unknown). */
static long
vm_size_kb(pid_t pid)
{
	return (atol(proc_line(pid, "status", "VmSize:") + 7));
}

/*
 * --worker-memory at its edge: a worker given 8 MiB above what it maps
 * when idle serves small calls, cannot take in a 4 MiB answer to a small
 * request (its buffers and the parse need some 20 MiB), and that call gets
 * a clear error naming the cause; the same peer then serves again and the
 * other peer never notices.  The idle size is measured first, so the edge
 * does not depend on this machine's libraries.
 */
MESH_TEST(sandbox, worker_memory_cap_at_its_edge, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct fixture_gw	*gw;
	struct http_resp	 r;
	struct json_object	*res;
	char			 mb[32];
	pid_t			 w[4];
	long			 idle_kb;

	if (sanitized())
		cr_skip_test("sanitizer builds run workers without RLIMIT_AS");
	fixture_init(&f);
	gw = fixture_gateway(&f, "gateway", NULL);
	fixture_bridge(&f, "small", gw->url, 1);
	fixture_start(&f, 0, NULL);
	cr_assert_eq(mesh_workers(f.mesh->pid, w, 4), 1);
	idle_kb = vm_size_kb(w[0]);
	cr_assert_gt(idle_kb, 0);
	fixture_stop_mesh(&f);

	snprintf(mb, sizeof(mb), "%ld", idle_kb / 1024 + 8);
	fixture_bridge(&f, "other", gw->url, 1);
	fixture_start(&f, 0, "--worker-memory", mb, "--max-response", "8M",
	    NULL);

	/* A small request, a 4 MiB answer. */
	res = mcp_call_tool(&f.c, "small_echo",
	    "{\"text\":\"mmmmmmmmmmmmmmmm\",\"repeat\":262144}", &r);
	cr_assert_eq(r.status, 200, "HTTP %ld", r.status);
	cr_assert(res == NULL || json_object_get_boolean(json_path(res,
	    "isError")), "a 4 MiB answer fit in %s MiB", mb);
	cr_assert(strstr(r.body, "small") != NULL &&
	    strcasestr(r.body, "memory") != NULL,
	    "the error does not name the peer and the cause: %.300s", r.body);
	cr_log_info("a 4 MiB answer under a %s MiB cap: %.300s", mb, r.body);
	http_resp_free(&r);

	/* The other peer (a worker under the same cap) was not touched. */
	res = mcp_call_tool(&f.c, "other_echo", "{\"text\":\"still here\"}",
	    &r);
	cr_assert_str_eq(tool_text(res), "still here", "%s", r.body);
	http_resp_free(&r);
	/* The capped peer serves small calls (restarted if it died). */
	cr_assert_geq(wait_echo(&f.c, "small_echo", "small again", RECOVER_MS),
	    0, "small never served again within %d ms", RECOVER_MS);
	fixture_stop(&f);
}

/*
 * A gateway named by host name is resolved once, before the sandbox.
 * When calls keep failing to connect, the worker exits so that its
 * successor resolves the name again; the peer serves once the gateway
 * is back.
 */
MESH_TEST(sandbox, named_host_is_resolved_again, .timeout = T_TIMEOUT)
{
	struct fixture		 f;
	struct fixture_gw	*gw;
	struct http_resp	 r;
	char			 named[128], port[16], needle[256];
	int			 i;

	fixture_init(&f);
	gw = fixture_gateway(&f, "gateway", NULL);
	snprintf(named, sizeof(named), "http://localhost:%d/mcp", gw->port);
	fixture_bridge(&f, "named", named, 1);
	fixture_start(&f, 0, NULL);

	proc_stop(gw->proc);
	for (i = 0; i < UPSTREAM_CONNECT_FAILS_MAX; i++) {
		mcp_call_tool(&f.c, "named_echo", "{\"text\":\"x\"}", &r);
		http_resp_free(&r);
	}
	snprintf(needle, sizeof(needle), LOG_RESOLVE_AGAIN,
	    UPSTREAM_CONNECT_FAILS_MAX, named);
	expect_log(f.mesh, needle);

	/* The gateway comes back on its port. */
	snprintf(port, sizeof(port), "%d", gw->port);
	fixture_gateway(&f, "gateway2", "--port", port, NULL);
	cr_assert_geq(wait_echo(&f.c, "named_echo", "back", 4 * RECOVER_MS),
	    0, "never served again within %d ms", 4 * RECOVER_MS);
	fixture_stop(&f);
}
