/*
 * The worker binary alone, driven over its socketpair as the supervisor
 * drives it (fd 3, mesh-proto.h frames): what CONFIG's "transport" may
 * say.  Absent or "streamable-http" is the one transport there is;
 * anything else is refused with FAIL and EX_CONFIG, before any byte to
 * the gateway.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "mesh-proto.h"
#include "msg.h"
#include "integration/harness.h"
#include "integration/logtext.h"

#define T_TIMEOUT	30
#define WAIT_MS		10000

struct wk {
	pid_t		 pid;
	struct msgbuf	 mb;
};

static void
wk_start(struct wk *w)
{
	const char	*bin = harness_bin("MESH_WORKER_BIN");
	int		 sv[2];

	cr_assert_not_null(bin);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	if ((w->pid = fork()) == 0) {
		if (dup2(sv[1], WORKER_FD) == -1)
			_exit(127);
		execl(bin, "mcp-mesh-worker", (char *)NULL);
		_exit(127);
	}
	cr_assert_gt(w->pid, 0);
	close(sv[1]);
	msgbuf_init(&w->mb, sv[0], 0);
}

/* The worker's exit status, reaped; -1 if it did not exit in time. */
static int
wk_exit(struct wk *w)
{
	uint64_t	t0 = now_ms();
	int		status;

	while (now_ms() - t0 < WAIT_MS) {
		if (waitpid(w->pid, &status, WNOHANG) == w->pid)
			return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		harness_msleep(10);
	}
	kill(w->pid, SIGKILL);
	waitpid(w->pid, &status, 0);
	return (-1);
}

static void
wk_end(struct wk *w)
{
	close(w->mb.fd);
	msgbuf_clear(&w->mb);
}

/* HELLO, then CONFIG with transport (NULL: none, else its JSON value). */
static void
wk_config(struct wk *w, const char *transport)
{
	struct msg	 m;
	char		 conf[512], user[64] = "";
	int		 n;

	cr_assert_eq(msg_recv_blocking(&w->mb, &m, WAIT_MS), 1, "no HELLO");
	cr_assert_eq(m.hdr.type, MSG_HELLO);
	/* Run as root, a worker wants a user to become. */
	if (geteuid() == 0)
		snprintf(user, sizeof(user), ",\"uid\":65534,\"gid\":65534");
	n = snprintf(conf, sizeof(conf), "{\"name\":\"p\",\"url\":"
	    "\"http://127.0.0.1:%d/mcp\"%s%s%s}", closed_port(), user,
	    transport != NULL ? ",\"transport\":" : "",
	    transport != NULL ? transport : "");
	cr_assert_eq(msg_compose(&w->mb, MSG_CONFIG, 0, 0, conf, (size_t)n), 0);
	cr_assert_eq(msg_send_blocking(&w->mb), 0);
}

/* The FAIL the worker sends: its reason (to free) and exit status. */
static char *
wk_fail(struct wk *w, int64_t *ex)
{
	struct json_object	*o;
	struct msg		 m;
	char			*reason;
	int			 r;

	while ((r = msg_recv_blocking(&w->mb, &m, WAIT_MS)) == 1 &&
	    m.hdr.type == MSG_LOG)
		;
	cr_assert_eq(r, 1, "no FAIL from the worker");
	cr_assert_eq(m.hdr.type, MSG_FAIL, "message %u, not FAIL",
	    m.hdr.type);
	o = json_tokener_parse(m.data);
	cr_assert_not_null(o);
	cr_assert_eq(json_path_int(o, "exit", ex), 0);
	reason = strdup(json_path_str(o, "reason"));
	json_object_put(o);
	return (reason);
}

/* CONFIG with transport is refused, the reason exactly want. */
static void
expect_refused(const char *transport, const char *want)
{
	struct wk	 w;
	int64_t		 ex;
	char		*reason;

	wk_start(&w);
	wk_config(&w, transport);
	reason = wk_fail(&w, &ex);
	cr_assert_eq(ex, EX_CONFIG, "transport %s: exit %lld (%s)", transport,
	    (long long)ex, reason);
	cr_assert_str_eq(reason, want, "transport %s: reason \"%s\", want "
	    "\"%s\"", transport, reason, want);
	cr_assert_eq(wk_exit(&w), EX_CONFIG);
	free(reason);
	wk_end(&w);
}

/* The transport's name, escaped, in FAIL_TRANSPORT. */
static const char *
unknown(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, FAIL_TRANSPORT, name, "streamable-http");
	return (buf);
}

MESH_TEST(worker, config_transport_other_is_refused, .timeout = T_TIMEOUT)
{
	char	 w[256];

	expect_refused("\"stdio\"", unknown(w, sizeof(w), "stdio"));
	expect_refused("\"Streamable-HTTP\"", unknown(w, sizeof(w),
	    "Streamable-HTTP"));
	expect_refused("\"\\u0001\"", unknown(w, sizeof(w), "\\001"));
	expect_refused("5", FAIL_CONFIG_STRING);
	expect_refused("null", FAIL_CONFIG_STRING);
}

/* Accepted: the worker goes on to its gateway (and cannot connect). */
MESH_TEST(worker, config_transport_streamable_http, .timeout = T_TIMEOUT)
{
	static const char *const ok[] = { NULL, "\"streamable-http\"",
	    "\"\"" };
	struct wk	 w;
	int64_t		 ex;
	char		*reason;
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		wk_start(&w);
		wk_config(&w, ok[i]);
		reason = wk_fail(&w, &ex);
		cr_assert_eq(ex, EX_UNAVAILABLE, "transport %s: exit %lld (%s)",
		    ok[i] ? ok[i] : "(none)", (long long)ex, reason);
		cr_assert(strstr(reason, "connect to") != NULL, "transport %s: "
		    "%s", ok[i] ? ok[i] : "(none)", reason);
		cr_assert_eq(wk_exit(&w), EX_UNAVAILABLE);
		free(reason);
		wk_end(&w);
	}
}
