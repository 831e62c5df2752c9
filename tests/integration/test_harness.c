/*
 * The harness's own clients, tested against peers written here: the
 * newline JSON-RPC client over a pipe pair, over one UNIX socket, and a
 * child's stdio; unix_connect() waiting for a listener, and giving up;
 * log lines counted, and waited for.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "integration/harness.h"

#define T_TIMEOUT	30	/* seconds, any one test */

/*
 * A newline JSON-RPC peer on its own thread: each request is answered
 * with {"echo": params} after a notification, the answer written in two
 * pieces cut inside the line; the request "bye" ends it (EOF).
 */
struct peer {
	struct lineconn	 lc;
	int		 listen_fd;	/* accept one connection first, or -1 */
	int		 delay_ms;	/* then listen at path after this */
	char		 path[128];
	pthread_t	 thread;
	int		 served;
	char		 err[256];	/* what went wrong, for the test */
};

static void
peer_answer(struct peer *pe, struct json_object *req)
{
	struct json_object	*id, *params, *resp, *res;
	const char		*text;
	size_t			 n;

	json_object_object_get_ex(req, "id", &id);
	json_object_object_get_ex(req, "params", &params);
	line_send(&pe->lc, "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/message\",\"params\":{\"level\":\"info\"}}");
	resp = json_object_new_object();
	json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(resp, "id", json_object_get(id));
	res = json_object_new_object();
	json_object_object_add(res, "echo", params != NULL ?
	    json_object_get(params) : NULL);
	json_object_object_add(resp, "result", res);
	text = json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PLAIN);
	n = strlen(text) / 2;
	line_write(&pe->lc, text, n);
	usleep(5 * 1000);	/* the client sees half a line first */
	line_write(&pe->lc, text + n, strlen(text) - n);
	line_write(&pe->lc, "\n", 1);
	json_object_put(resp);
	pe->served++;
}

static void *
peer_main(void *arg)
{
	struct peer		*pe = arg;
	struct json_object	*req;
	const char		*method;
	char			*line;
	int			 fd;

	if (pe->delay_ms > 0) {
		usleep((useconds_t)pe->delay_ms * 1000);
		if ((pe->listen_fd = unix_listen(pe->path)) == -1) {
			snprintf(pe->err, sizeof(pe->err), "listen %s: %s",
			    pe->path, strerror(errno));
			return (NULL);
		}
	}
	if (pe->listen_fd != -1) {
		if ((fd = accept(pe->listen_fd, NULL, NULL)) == -1) {
			snprintf(pe->err, sizeof(pe->err), "accept: %s",
			    strerror(errno));
			return (NULL);
		}
		line_init(&pe->lc, fd, fd);
	}
	while ((line = line_read(&pe->lc, 10000)) != NULL) {
		req = json_tokener_parse(line);
		free(line);
		method = json_object_get_string(json_path(req, "method"));
		if (method != NULL && strcmp(method, "bye") == 0) {
			json_object_put(req);
			break;
		}
		peer_answer(pe, req);
		json_object_put(req);
	}
	line_close(&pe->lc);
	return (NULL);
}

static void
peer_start(struct peer *pe)
{
	cr_assert_eq(pthread_create(&pe->thread, NULL, peer_main, pe), 0);
}

static void
peer_join(struct peer *pe)
{
	pthread_join(pe->thread, NULL);
	if (pe->listen_fd != -1)
		close(pe->listen_fd);
	cr_assert(pe->err[0] == '\0', "the peer: %s", pe->err);
}

/* Two calls, a string id too, then "bye": EOF after the answers. */
static void
converse(struct lineconn *lc, struct peer *pe)
{
	struct json_object	*r;
	const char		*s;

	r = line_rpc(lc, 1, "first", "{\"x\":1}");
	cr_assert_str_eq(json_object_to_json_string_ext(json_path(r,
	    "result.echo"), JSON_C_TO_STRING_PLAIN), "{\"x\":1}",
	    "answer to first: %s", json_object_to_json_string(r));
	json_object_put(r);
	r = line_rpc(lc, 2, "second", "[\"a\\nb\"]");
	s = json_path_str(r, "result.echo.0");
	cr_assert(s != NULL && strcmp(s, "a\nb") == 0, "answer to second: %s",
	    json_object_to_json_string(r));
	json_object_put(r);
	line_expect_send(lc, "{\"jsonrpc\":\"2.0\",\"method\":\"bye\"}");
	cr_assert_null(line_expect_msg(lc, 5000), "a line after bye");
	cr_assert(lc->eof, "no EOF after bye");
	cr_assert_eq(pe->served, 2);
}

MESH_TEST(harness, line_client_over_a_pipe_pair, .timeout = T_TIMEOUT)
{
	struct lineconn	 lc;
	struct peer	 pe;
	int		 up[2], down[2];

	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down), 0);
	memset(&pe, 0, sizeof(pe));
	pe.listen_fd = -1;
	line_init(&pe.lc, up[0], down[1]);
	line_init(&lc, down[0], up[1]);
	peer_start(&pe);
	converse(&lc, &pe);
	line_close(&lc);
	peer_join(&pe);
}

MESH_TEST(harness, line_client_over_a_unix_socket, .timeout = T_TIMEOUT)
{
	struct lineconn	 lc;
	struct peer	 pe;
	int		 fd;

	memset(&pe, 0, sizeof(pe));
	snprintf(pe.path, sizeof(pe.path), "%s/control.sock",
	    harness_tmpdir());
	cr_assert_neq(pe.listen_fd = unix_listen(pe.path), -1, "listen: %s",
	    strerror(errno));
	peer_start(&pe);
	cr_assert_neq(fd = unix_connect(pe.path, 1000), -1, "connect: %s",
	    strerror(errno));
	line_init(&lc, fd, fd);
	converse(&lc, &pe);
	line_close(&lc);
	peer_join(&pe);
}

/* A daemon's socket appears late: unix_connect waits for it. */
MESH_TEST(harness, unix_connect_waits_for_the_listener, .timeout = T_TIMEOUT)
{
	struct lineconn	 lc;
	struct peer	 pe;
	uint64_t	 t0, ms;
	int		 fd;

	memset(&pe, 0, sizeof(pe));
	pe.listen_fd = -1;
	pe.delay_ms = 100;
	snprintf(pe.path, sizeof(pe.path), "%s/late.sock", harness_tmpdir());
	t0 = now_ms();
	peer_start(&pe);
	fd = unix_connect(pe.path, 5000);
	ms = now_ms() - t0;
	cr_assert_neq(fd, -1, "connect: %s", strerror(errno));
	cr_assert_geq(ms, 90, "connected after %llu ms, before the listener",
	    (unsigned long long)ms);
	line_init(&lc, fd, fd);
	converse(&lc, &pe);
	line_close(&lc);
	peer_join(&pe);
}

MESH_TEST(harness, unix_connect_gives_up, .timeout = T_TIMEOUT)
{
	char		 path[128];
	uint64_t	 t0, ms;

	snprintf(path, sizeof(path), "%s/nobody.sock", harness_tmpdir());
	t0 = now_ms();
	cr_assert_eq(unix_connect(path, 100), -1, "connected to nothing");
	ms = now_ms() - t0;
	cr_assert_eq(errno, ENOENT, "errno %d", errno);
	cr_assert(ms >= 100 && ms < 2000, "gave up after %llu ms, want 100",
	    (unsigned long long)ms);
}

/* A child's stdio is a lineconn too: lines back, EOF, a timeout. */
MESH_TEST(harness, line_client_over_a_childs_stdio, .timeout = T_TIMEOUT)
{
	char *const	 argv[] = { (char *)"/bin/cat", NULL };
	struct proc	*p;
	char		*line;
	uint64_t	 t0;

	p = proc_spawn("cat", PROC_STDIN_PIPE | PROC_STDOUT_PIPE, argv);
	cr_assert_not_null(p);
	t0 = now_ms();
	cr_assert_null(line_read(&p->io, 50), "a line from a silent cat");
	cr_assert_geq(now_ms() - t0, 50);
	cr_assert(!p->io.eof, "EOF from a live cat");
	cr_assert_eq(line_write(&p->io, "one\ntw", 6), 0);
	cr_assert_eq(line_send(&p->io, "o"), 0);
	cr_assert_not_null(line = line_read(&p->io, 5000));
	cr_assert_str_eq(line, "one");
	free(line);
	cr_assert_not_null(line = line_read(&p->io, 5000));
	cr_assert_str_eq(line, "two");
	free(line);
	/* An unfinished last line is not a line. */
	cr_assert_eq(line_write(&p->io, "three", 5), 0);
	proc_close_stdin(p);
	cr_assert_null(line_read(&p->io, 5000));
	cr_assert(p->io.eof, "no EOF once cat's stdin closed");
	cr_assert_eq(proc_wait_exit(p, 5000), 0);
}

/*
 * Log lines are counted when complete, a needle starting with '^' at a
 * line's start only; a wait for a count ends when it is reached, at its
 * timeout, or when the process exits short of it.
 */
MESH_TEST(harness, log_lines_counted, .timeout = T_TIMEOUT)
{
	char *const	 argv[] = { (char *)"/bin/sh", (char *)"-c",
	    (char *)"echo 'a: one'; echo 'b: a: two'; sleep 0.2; "
	    "echo 'a: three'; printf 'a: unfinished'; exec cat", NULL };
	struct proc	*p;
	uint64_t	 t0;

	p = proc_spawn("sh", PROC_STDIN_PIPE, argv);
	cr_assert_not_null(p);
	cr_assert_eq(proc_wait_log_count(p, "a: ", 3, 5000), 3);
	cr_assert_eq(proc_log_count(p, "a: "), 3);
	cr_assert_eq(proc_log_count(p, "^a: "), 2);
	cr_assert_eq(proc_log_count(p, "^b: a: two"), 1);
	cr_assert_eq(proc_log_count(p, "nowhere"), 0);
	t0 = now_ms();
	cr_assert_eq(proc_wait_log_count(p, "a: ", 4, 100), -1);
	cr_assert_geq(now_ms() - t0, 100);
	proc_close_stdin(p);
	t0 = now_ms();
	cr_assert_eq(proc_wait_log_count(p, "nowhere", 1, 5000), -1);
	cr_assert_lt(now_ms() - t0, 4000, "waited %llu ms for a process that "
	    "exited", (unsigned long long)(now_ms() - t0));
}
