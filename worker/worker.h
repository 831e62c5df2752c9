/*
 * mcp-mesh-worker: one process per peer.  It speaks the framed protocol
 * of mesh-proto.h with the supervisor on WORKER_FD and MCP over
 * Streamable HTTP (libcurl multi) with the peer's gateway, and is the
 * only place where the gateway's HTTP, SSE and JSON are parsed.
 */
#ifndef MESH_WORKER_H
#define MESH_WORKER_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh-limits.h"
#include "log.h"

#define WORKER_REASON_MAX		(PEER_URL_MAX + UPSTREAM_ERROR_SNIPPET * 4 + 512)

struct worker_config {
	char		*name;
	char		*url;
	char		*node_name;
	char		*mesh_version;
	long		 request_timeout_ms;
	long		 connect_timeout_ms;
	long		 response_max;		/* bytes of one answer */
	long		 memory_mb;		/* RLIMIT_AS; 0: none */
	long		 uid, gid;		/* -2: absent, keep ours (not root) */
	int		 sandbox_debug;		/* trap and report */
	int		 verbose;
};

/* worker.c */
extern struct worker_config	 worker_conf;
extern pid_t			 worker_ppid;
int		 worker_main(void);
void		 worker_setup(void);	/* everything up to the loop */
__dead void	 worker_loop(void);
__dead void	 worker_exit(int status);

/* sup.c: the channel to the supervisor */
struct msg;
void		 sup_init(void);
void		 sup_hello(void);
void		 sup_config(struct msg *);
void		 sup_log_start(void);
void		 sup_send(uint16_t type, uint64_t id, const void *, size_t);
void		 sup_send_reason(uint16_t type, uint64_t id, const char *);
__dead void	 sup_fail(int status, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 sup_read(void);
size_t		 sup_queued(void);
void		 sup_write(void);
void		 sup_close(void);

/* multi.c, client.c, call.c: the upstream, Streamable HTTP */
void		 upstream_init(void);
uint16_t	 upstream_port(void);	/* the gateway's TCP port */
void		 upstream_start(void);
int		 upstream_timeout(void);
short		 upstream_wait(int fd, short events, int timeout_ms);
void		 upstream_run(void);
int		 upstream_ready(void);
void		 call_request(uint64_t id, const char *, size_t);
void		 call_notify(const char *, size_t);
void		 call_cancel(uint64_t id);
void		 upstream_shutdown(void);
void		 upstream_free(void);

/* zygote.c: returns only in a new worker */
void		 zygote_main(char *arg);

/* sandbox-*.c: see sandbox.h */

#endif
