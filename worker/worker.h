/*
 * mcp-mesh-worker: one process per peer.  It speaks the framed protocol
 * of mesh-proto.h with the supervisor on WORKER_FD and MCP with the
 * peer's server over a transport (transport.h; Streamable HTTP today),
 * and is the only place where the server's HTTP, SSE and JSON are
 * parsed.
 */
#ifndef MESH_WORKER_H
#define MESH_WORKER_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh-limits.h"
#include "log.h"
#include "transport.h"

#define WORKER_REASON_MAX		(PEER_URL_MAX + UPSTREAM_ERROR_SNIPPET * 4 + 512)

struct worker_config {
	const struct transport_ops *transport;	/* CONFIG's, or the default */
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
	char		*client_caps;		/* JSON object text to declare */
	int		 verbose;
};

/* worker.c */
extern struct worker_config	 worker_conf;
extern pid_t			 worker_ppid;
int		 worker_main(void);
void		 worker_setup(void);	/* everything up to the loop */
void		 worker_start(void);	/* the handshake begins */
__dead void	 worker_loop(void);
__dead void	 worker_exit(int status);

/* sup.c: the channel to the supervisor */
struct msg;
struct pollfd;
void		 sup_init(void);
void		 sup_hello(void);
void		 sup_config(struct msg *);
void		 sup_log_start(void);
void		 sup_send(uint16_t type, uint64_t id, const void *, size_t);
void		 sup_send_reason(uint16_t type, uint64_t id, const char *);
__dead void	 sup_fail(int status, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 sup_read(void);
void		 sup_pollfd(struct pollfd *);
int		 sup_congested(void);
size_t		 sup_queued(void);
void		 sup_write(void);
void		 sup_close(void);

/* zygote.c: returns only in a new worker */
void		 zygote_main(char *arg);

/* sandbox-*.c: see sandbox.h */

#endif
