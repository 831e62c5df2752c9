/*
 * Helpers of the load and abuse tests (test_abuse.c, test_abuse_conn.c,
 * test_abuse_workers.c), in libharness.a: a healthy client calling in the
 * background, sessions at a chosen protocol version, raw TCP for what
 * libcurl will not send, and /proc figures (peak RSS, CPU time) of the
 * mesh.
 */
#ifndef MESH_TEST_ABUSE_H
#define MESH_TEST_ABUSE_H

#include <sys/types.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <json-c/json.h>

#include "integration/harness.h"

#define ABUSE_HTTP_WAIT_MS	15000	/* a client waits this long */
/* A fake worker's gateway: never connected to. */
#define FAKE_URL	"http://127.0.0.1:9/mcp"
#define ABUSE_BIG_TEXT		(3500 * 1000)	/* "3.5 MB arguments" */

/* A healthy client: tool with {"text":"..."} in a loop, from its session. */
#define BG_LAT_MAX	100000
struct bg {
	char		 url[128];
	char		 tool[64];
	int		 pause_ms;
	pthread_t	 thread;
	int		 running;
	atomic_int	 stop;
	long		 ok;
	long		 fail;
	uint64_t	 maxms;
	uint32_t	*lat;		/* ms of each success */
	long		 nlat;
	char		 firsterr[1024];
};
void		 bg_start(struct bg *, const char *url, const char *tool,
		    int pause_ms);
/* Stop it and report; the caller asserts on the figures. */
void		 bg_stop(struct bg *);
/* The p-th percentile (0..100) of its successes' latency, ms. */
uint32_t	 bg_percentile(struct bg *, int p);

/* The worker pid of a ready peer, else -1; its state copied out. */
pid_t		 peer_pid_state(struct mcp_client *, const char *peer,
		    char *state, size_t len);

/* A tools/call body with a text argument of len bytes of a pattern. */
char		*big_call_body(int id, const char *tool, size_t len,
		    size_t *bodylen);
/* Is text the pattern big_call_body() put in (len bytes)? */
int		 big_text_ok(const char *text, size_t len);

/* http_perform() without parsing the bodies (r->json stays NULL). */
void		 http_perform_raw(struct http_req *, struct http_resp *, int n);
/* The same, step transfers started every step_ms. */
void		 http_perform_paced(struct http_req *, struct http_resp *, int n,
		    int step, int step_ms);

/* Raw TCP to 127.0.0.1:port (blocking, or -1). */
int		 tcp_connect(int port);
/* The same with a small receive buffer: a client that reads nothing. */
int		 tcp_connect_rcvbuf(int port, int rcvbuf);
/* Read until the peer closes or timeout_ms; bytes read (NUL-ended). */
char		*tcp_read_all(int fd, int timeout_ms, size_t *len);

/* /proc figures of a process. */
long		 proc_hwm_kb(pid_t);		/* VmHWM */
int		 proc_hwm_reset(pid_t);		/* clear_refs 5 */
uint64_t	 proc_cpu_ms(pid_t);		/* utime + stime */
int		 proc_nofile(pid_t, long *soft, long *hard);

/*
 * The fixture f: a gateway NAME (with --tools TOOLS unless NULL), a mesh
 * bridging it (the freed-memory quarantine small, --page-size 0), the
 * peer ready, f->c waiting ABUSE_HTTP_WAIT_MS.
 */
void		 one_peer(struct fixture *f, const char *name,
		    const char *tools);
/* The connection cap a mesh logged ("listening on ... (N connections)"). */
int		 mesh_conn_cap(struct proc *);
/* This process's soft descriptor limit up to its hard one. */
void		 nofile_raise(void);

#endif
