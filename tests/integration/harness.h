/*
 * Integration test harness: real processes (mcp-mesh, its workers, the
 * test gateway) on real sockets of 127.0.0.1, driven over real HTTP
 * (libcurl) and real pipes.  One library, tests/integration/libharness.a:
 * harness.c (processes, /proc, clients: HTTP, MCP over HTTP, newline
 * JSON-RPC over a descriptor pair, UNIX sockets; nothing here asserts)
 * and fixture.c (Criterion: the fixture, and expect_* helpers that fail
 * the test).  The daemon's words the tests match are in logtext.h.
 *
 * Every process started here is registered and killed and reaped at
 * teardown, whatever happened in the test: the child runs in its own
 * process group with PR_SET_PDEATHSIG, and the test process is a child
 * subreaper, so a worker orphaned by a dying mesh comes back to us and is
 * reaped too.  The stderr of every child (and the stdout of daemons) goes
 * to a temporary file polled for log lines, so a chatty child never
 * blocks on a full pipe; the files are printed when a test fails.
 */
#ifndef MESH_TEST_HARNESS_H
#define MESH_TEST_HARNESS_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "util.h"		/* now_ms() */

#define PROC_STDIN_PIPE		0x01	/* else /dev/null */
#define PROC_STDOUT_PIPE	0x02	/* else the log file */

#define HARNESS_PROCS_MAX	16
#define HARNESS_READY_MS	15000	/* start-up of a mesh or a gateway */

/*
 * Newline-delimited messages (JSON-RPC in MCP's stdio transport) over a
 * pair of descriptors: a child's stdin and stdout pipes, or one socket
 * for both directions (a UNIX control socket).
 */
struct lineconn {
	int		 rfd;		/* read side, or -1 */
	int		 wfd;		/* write side (may be rfd), or -1 */
	char		*buf;		/* read but not yet a line */
	size_t		 len;
	int		 eof;		/* the read side ended */
};

void		 line_init(struct lineconn *, int rfd, int wfd);
int		 line_write(struct lineconn *, const void *, size_t);
int		 line_send(struct lineconn *, const char *msg);
char		*line_read(struct lineconn *, int timeout_ms);
void		 line_close_write(struct lineconn *);
void		 line_close(struct lineconn *);
/* A JSON-RPC request's text (params NULL: none), to free. */
char		*rpc_text(int64_t id, const char *method, const char *params);

/* UNIX stream sockets: connect (waiting for a listener), listen. */
int		 unix_connect(const char *path, int timeout_ms);
int		 unix_listen(const char *path);

struct proc {
	char		 name[32];
	pid_t		 pid;
	struct lineconn	 io;		/* to its stdin (PROC_STDIN_PIPE),
					   from its stdout (PROC_STDOUT_PIPE) */
	char		 logpath[128];	/* stderr (and stdout if no pipe) */
	int		 reaped;
	int		 status;	/* from waitpid once reaped */
	int		 killed;	/* SIGTERM was not enough */
	int		 stopped;	/* proc_stop() done */
};

/* Criterion .init/.fini of every integration test. */
void		 harness_setup(void);
void		 harness_teardown(void);
const char	*harness_finish(void);

/*
 * Define a test whose end is recorded: when an assertion aborts it, the
 * logs of its processes are printed at teardown.  A body that ran to its
 * end then stops every process and fails if one needed SIGKILL or logged
 * a sanitizer report.
 */
extern int	 harness_passed;
#define MESH_TEST(suite, name, ...)					\
	static void suite##_##name##_body(void);			\
	Test(suite, name, .init = harness_setup,			\
	    .fini = harness_teardown, ##__VA_ARGS__)			\
	{								\
		const char *why_;					\
									\
		suite##_##name##_body();				\
		why_ = harness_finish();				\
		cr_assert_null(why_, "%s", why_ ? why_ : "");		\
		harness_passed = 1;					\
	}								\
	static void suite##_##name##_body(void)

/* Programs under test, from MESH_BIN, MESH_WORKER_BIN, MESH_GATEWAY_BIN. */
const char	*harness_bin(const char *envname);
void		 harness_msleep(int ms);
const char	*harness_tmpdir(void);	/* this test's, removed at teardown */

/*
 * Memory growth a test allows a process, larger under AddressSanitizer
 * (shadow memory, allocator caches); the sanitizer's freed-memory
 * quarantine is kept small for programs the tests start.
 */
#define HARNESS_RSS_SLACK_KB		(8 * 1024)
#define HARNESS_RSS_SLACK_ASAN_KB	(32 * 1024)
#define HARNESS_ASAN_QUARANTINE		"quarantine_size_mb=4"
void		 harness_asan_small_quarantine(void);
long		 proc_rss_kb(pid_t);
/* The line of /proc/PID/FILE that starts with key, in buf; NULL if none. */
char		*proc_file_line(pid_t, const char *file, const char *key,
		    char *buf, size_t len);
/* pid's cgroup v2 directory (under the cgroup2 mount); NULL if none. */
char		*proc_cgroup_dir(pid_t, char *buf, size_t len);
/* /proc/PID/cmdline, arguments separated by spaces. */
void		 proc_cmdline(pid_t, char *buf, size_t len);
long		 proc_rss_slack_kb(pid_t);
int		 proc_fd_count(pid_t);
/* Where the first mapping naming what (a library) starts; 0 if none. */
unsigned long	 proc_map_base(pid_t, const char *what);

/* Processes. */
struct proc	*proc_spawn(const char *name, int flags, char *const argv[]);
void		 proc_close_stdin(struct proc *);
char		*proc_wait_log(struct proc *, const char *needle,
		    int timeout_ms);
char		*proc_log_find(struct proc *, const char *needle); /* now */
int		 proc_log_count(struct proc *, const char *needle); /* now */
int		 proc_wait_log_count(struct proc *, const char *needle, int n,
		    int timeout_ms);
char		*proc_wait_log_any(struct proc *, const char *const needles[],
		    int timeout_ms);
int		 proc_wait_exit(struct proc *, int timeout_ms);
int		 proc_alive(struct proc *);
void		 proc_stop(struct proc *);
void		 proc_dump(struct proc *, FILE *);
int		 proc_children(pid_t parent, pid_t *out, int max);
int		 mesh_workers(pid_t mesh, pid_t *out, int max);
pid_t		 mesh_zygote(pid_t mesh);	/* -1 if none */
int		 mesh_is_worker(pid_t mesh, pid_t pid);
int		 pid_gone(pid_t pid, int timeout_ms);

/* The programs under test. */
struct proc	*gateway_start(const char *name, int *port, ...);
struct proc	*gateway_startv(const char *name, int *port,
		    const char *const argv[]);
struct proc	*mesh_start(int *port, ...);
struct proc	*mesh_start_stdio(const char *arg, ...);
struct proc	*mesh_startv(int *port, const char *const argv[]);
int		 mesh_wait_peer(struct proc *, const char *peer);
int		 closed_port(void);

/* HTTP over libcurl. */
struct http_req {
	const char	*method;	/* "POST" when NULL */
	const char	*url;
	const char	*body;		/* may be NULL */
	size_t		 bodylen;	/* strlen(body) when 0 */
	const char	*headers[16];	/* "Name: value", NULL-terminated */
	long		 timeout_ms;	/* 10 s when 0 */
};

struct http_resp {
	int		 curlcode;	/* CURLcode */
	long		 status;
	char		*body;
	size_t		 len;
	char		*session;	/* Mcp-Session-Id, or NULL */
	char		*ctype;		/* Content-Type, or NULL */
	char		*allow;		/* Allow, or NULL */
	struct json_object *json;	/* body, or the response in an SSE body */
};

void		 http_perform(struct http_req *, struct http_resp *, int n);
void		 http_do(struct http_req *, struct http_resp *);
void		 http_resp_free(struct http_resp *);
const char	*http_error_message(struct http_resp *);
int		 http_error_code(struct http_resp *);

/* An MCP client session over Streamable HTTP. */
struct mcp_client {
	char		 url[128];
	char		*session;
	char		 version[32];
	int		 nextid;
	long		 wait_ms;	/* of expect_text, node_info, wait_echo
					   for an answer (0: 10 s) */
};

#define MCP_ACCEPT	"Accept: application/json, text/event-stream"
#define MCP_CTYPE	"Content-Type: application/json"
#define MCP_VERSION	"2025-06-18"

int		 mcp_open(struct mcp_client *, const char *url);
int		 mcp_open_version(struct mcp_client *, const char *url,
		    const char *version);
void		 mcp_close(struct mcp_client *);
struct mcp_hdrbuf {
	char		 sid[256];
	char		 version[64];
};
void		 mcp_headers(struct mcp_client *, struct http_req *,
		    struct mcp_hdrbuf *);
struct json_object *mcp_request(struct mcp_client *, const char *method,
		    const char *params, struct http_resp *);
struct json_object *mcp_call_tool(struct mcp_client *, const char *tool,
		    const char *args, struct http_resp *);
struct json_object *mcp_list_tools(struct mcp_client *);
/* tools/call with a chosen id, waiting at most wait_ms; ms it took. */
uint64_t	 mcp_call_id(struct mcp_client *, int id, const char *tool,
		    const char *args, long wait_ms, struct http_resp *);
/* The same as a request to run (several at once): its body, to free. */
char		*mcp_tool_req(struct mcp_client *, struct http_req *,
		    struct mcp_hdrbuf *, int id, const char *tool,
		    const char *args, long wait_ms);
/* A request in session c (its headers, and extra), or in none. */
void		 mcp_in_session(struct mcp_client *, const char *method,
		    const char *body, const char *extra, struct http_resp *);
void		 http_raw(const char *method, const char *url,
		    const char *body, const char *const *hdrs,
		    struct http_resp *);

/* Answers: the text (a result's, or error.message), id, an error. */
const char	*answer_text(struct http_resp *);
int		 answer_id_is(struct http_resp *, int id);
int		 answer_is_error(struct http_resp *);
int		 cause_empty(const char *text);	/* "peer x: ...: " */
void		 first_err(char *buf, size_t len, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* Call tool {"text": text} until it echoes, at most limit_ms: ms, or -1. */
#define SERVE_POLL_MS	50
int64_t		 wait_echo(struct mcp_client *, const char *tool,
		    const char *text, int limit_ms);

/* mesh_node_info: structuredContent (to put), a peer's entry, its pid. */
struct json_object *node_info(struct mcp_client *);
struct json_object *node_info_of(struct http_resp *);
struct json_object *node_peer(struct json_object *info, const char *peer);
pid_t		 node_peer_pid(struct json_object *info, const char *peer,
		    const char **state);	/* -1 unless ready */
pid_t		 peer_pid(struct mcp_client *, const char *peer);

/* JSON helpers (borrowed references, NULL when absent). */
struct json_object *json_path(struct json_object *, const char *path);
const char	*json_path_str(struct json_object *, const char *path);
int		 json_path_int(struct json_object *, const char *path,
		    int64_t *out);
const char	*tool_text(struct json_object *result);
int		 rpc_id_is(struct json_object *msg, int64_t id); /* <0: null */
int		 tools_has(struct json_object *tools, const char *name);
void		 url_of(int port, char *buf, size_t len);

/*
 * With Criterion (fixture.c): each of these fails the test when what it
 * expects does not happen.
 */

/* Newline JSON-RPC over a lineconn. */
#define LINE_WAIT_MS	10000	/* one answer */
void		 line_expect_send(struct lineconn *, const char *msg);
struct json_object *line_expect_msg(struct lineconn *, int timeout_ms);
struct json_object *line_expect_response(struct lineconn *, int64_t id);
struct json_object *line_expect_answer(struct lineconn *);	/* any id */
struct json_object *line_rpc(struct lineconn *, int64_t id,
		    const char *method, const char *params);
/* initialize (id 0) and notifications/initialized. */
void		 line_handshake(struct lineconn *);

/* tools/call in c must succeed (no error, no isError) with text want. */
void		 expect_text(struct mcp_client *, const char *tool,
		    const char *args, const char *want);

/*
 * One fixture for every test with a mesh: gateways, one mesh bridging
 * peers on them, and an MCP session to it.  Build it, then start it:
 *
 *	fixture_init(&f);
 *	fixture_peer_gateway(&f, "good", NULL);		  gateway + peer
 *	fixture_peer_gateway(&f, "bad", "--mode", "hang", NULL);
 *	gw = fixture_gateway(&f, "other", NULL);	  a gateway only
 *	fixture_bridge(&f, "two", gw->url, 1);		  a peer on it
 *	fixture_start(&f, 0, "--timeout", "2000", NULL);  mesh arguments
 *
 * fixture_start waits until every peer bridged with wait is ready, and
 * opens f.c (HTTP), or makes f.line the mesh's stdin and stdout
 * (FIXTURE_STDIO); with FIXTURE_FAKE_WORKER its workers are the fake
 * worker (tests/fakeworker, MESH_FAKE_WORKER_BIN), whose peer's name says
 * how it misbehaves.  Any failure fails the test.  Teardown stops every
 * process; fixture_stop_mesh stops the mesh alone, which can then be
 * started again (more peers bridged, other arguments).
 */
#define FIXTURE_GATEWAYS_MAX	4
#define FIXTURE_PEERS_MAX	4
#define FIXTURE_STDIO		0x01
#define FIXTURE_FAKE_WORKER	0x02

struct fixture_gw {
	char		 name[32];
	struct proc	*proc;
	int		 port;
	char		 url[128];	/* http://127.0.0.1:PORT/mcp */
};

struct fixture_peer {
	char		 name[32];
	char		 spec[256];	/* --bridge NAME=URL */
	int		 wait;		/* until ready, at the start */
};

struct fixture {
	int			 ngw;
	struct fixture_gw	 gw[FIXTURE_GATEWAYS_MAX];
	int			 npeers;
	struct fixture_peer	 peer[FIXTURE_PEERS_MAX];
	struct proc		*mesh;
	int			 mport;		/* HTTP */
	char			 murl[128];
	struct mcp_client	 c;		/* HTTP: a session */
	struct lineconn		*line;		/* FIXTURE_STDIO */
};

void		 fixture_init(struct fixture *);
struct fixture_gw *fixture_gateway(struct fixture *, const char *name, ...);
struct fixture_gw *fixture_peer_gateway(struct fixture *, const char *name,
		    ...);
void		 fixture_bridge(struct fixture *, const char *peer,
		    const char *url, int wait);
void		 fixture_start(struct fixture *, int flags, ...);
void		 fixture_stop_mesh(struct fixture *);
void		 fixture_stop(struct fixture *);

#endif
