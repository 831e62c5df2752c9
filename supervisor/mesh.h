/*
 * mcp-mesh supervisor: one libevent loop owning the MCP front-ends (stdio,
 * Streamable HTTP), the peers and their workers, the exposed-tool table and
 * the in-flight request table.  Prototypes are grouped per file.
 */
#ifndef MESH_H
#define MESH_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>
#include <stdint.h>

#include <json-c/json.h>

#include "jsonrpc.h"
#include "mcp-version.h"
#include "mesh-limits.h"
#include "msg.h"
#include "util.h"

#define MESH_VERSION		PACKAGE_VERSION
#define MESH_SERVER_NAME	"mcp-mesh"
#define SESSION_ID_LEN		32	/* hex characters, 128 random bits */
#define PROTOCOL_VERSION_LEN	MCP_VERSION_LEN_MAX

struct event_base;
struct event;

extern struct event_base *ev_base;

/* --- config.c ------------------------------------------------------------ */
struct bridge_spec {
	TAILQ_ENTRY(bridge_spec) entry;
	char		name[PEER_NAME_MAX + 1];
	char		url[PEER_URL_MAX + 1];
	uint64_t	timeout_ms;	/* --peer-timeout, else --timeout */
	uint64_t	response_max;	/* --peer-max-response, else --max-response */
};
TAILQ_HEAD(bridge_specs, bridge_spec);

/* --peer-timeout / --peer-max-response, applied once bridges are known. */
struct peer_option {
	TAILQ_ENTRY(peer_option) entry;
	const char	*opt;		/* for messages */
	char		 peer[PEER_NAME_MAX + 1];
	uint64_t	 timeout_ms;	/* 0: not this option */
	uint64_t	 response_max;
};
TAILQ_HEAD(peer_options, peer_option);

struct mesh_config {
	char		 name[NODE_NAME_MAX + 1];	/* --name */
	char		 node_id[37];			/* UUID, per start */
	int		 stdio;				/* --stdio */
	int		 http;				/* serve HTTP */
	int		 port;				/* --port */
	char		 listen[64];			/* --listen */
	char		 worker_path[1024];		/* --worker-path */
	int		 verbose;			/* -v */
	int		 check_only;			/* -n */
	uint64_t	 request_timeout_ms;		/* --timeout */
	uint64_t	 response_max;			/* --max-response */
	uint64_t	 worker_memory_mb;		/* --worker-memory */
	char		 worker_user[64];		/* --worker-user */
	long		 worker_uid, worker_gid;	/* -1: not root */
	int		 sandbox_debug;			/* --sandbox-debug */
	int		 worker_exec;			/* --worker-exec: no zygote */
	struct bridge_specs bridges;			/* --bridge */
	struct peer_options peer_options;		/* --peer-* */
	uint64_t	 started_ms;
};
extern struct mesh_config conf;

int	 config_parse_args(struct mesh_config *, int, char **);
int	 bridge_spec_parse(const char *, struct bridge_spec *, char *, size_t);
void	 config_clear(struct mesh_config *);
void	 config_usage(void);

/* --- worker.c: peers and the supervisor side of their workers ----------- */
enum worker_state {
	WS_STOPPED = 0,	/* not running, not wanted */
	WS_STARTING,	/* spawned, HELLO/CONFIG/READY handshake */
	WS_READY,	/* serving */
	WS_BACKOFF,	/* died, restart timer armed */
	WS_FAILED,	/* gave up until reconnected */
	WS_STOPPING,	/* SHUTDOWN sent, waiting for exit */
};

struct pending;
RB_HEAD(pending_tree, pending);
TAILQ_HEAD(pending_list, pending);

struct peer {
	TAILQ_ENTRY(peer)	 entry;
	int			 index;		/* order given: stable */
	char			 name[PEER_NAME_MAX + 1];
	char			 url[PEER_URL_MAX + 1];
	uint64_t		 timeout_ms;	/* deadline of one request */
	uint64_t		 response_max;	/* bytes of one answer */

	enum worker_state	 state;
	pid_t			 pid;
	int			 fd;		/* socketpair, -1 when none */
	int			 eof;		/* socket closed */
	int			 reaped;	/* waitpid done */
	int			 hello;		/* HELLO seen */
	int			 killed;	/* we killed it */
	int			 crashed;	/* last exit counts as a crash */
	int			 permanent;	/* last exit: do not restart */
	int			 signaled;	/* last exit: killed by a signal */
	struct msgbuf		 mb;
	struct event		*ev;		/* read/write on fd */
	struct event		*timer;		/* handshake/ping/backoff/stop */
	uint64_t		 ping_seq;
	uint64_t		 ping_sent_ms;	/* 0: no ping outstanding */

	/* supervision */
	unsigned		 restarts;	/* total */
	unsigned		 failures;	/* in the current window */
	uint64_t		 window_start_ms;
	uint64_t		 ready_since_ms;
	uint64_t		 backoff_ms;
	char			 cause[256];	/* why it last stopped */

	/* what the peer told us */
	struct json_object	*server_info;
	char			 protocol_version[PROTOCOL_VERSION_LEN];
	int			 ntools;	/* exposed through the table */
	int			 ever_ready;
	int			 shrink;	/* free idle buffers after this read */

	/* requests in flight to this peer */
	uint64_t		 next_id;
	struct pending_tree	 inflight;
	unsigned		 ninflight;
};
TAILQ_HEAD(peers, peer);
extern struct peers peers;
extern unsigned npeers;

struct peer	*peer_add(const struct bridge_spec *);
struct peer	*peer_find(const char *name);
void		 peer_start(struct peer *);
void		 peer_start_all(void);
void		 peer_stop_all(void);
int		 peer_all_stopped(void);
void		 peer_free_all(void);
int		 peer_settled(void);	/* no peer on its first start */
const char	*worker_state_name(enum worker_state);
void		 worker_exited(pid_t, int status);	/* from proc.c */
int		 worker_send(struct peer *, uint16_t type, uint64_t id,
		    const char *data, size_t len);
void		 worker_kill(struct peer *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* --- proc.c: spawn and reap worker processes ---------------------------- */
void	 proc_init(void);
void	 proc_shutdown(void);
pid_t	 proc_spawn_worker(const char *path, const char *peer_name, int exec,
	    int *fd, int *errfd);

/* --- worker-stderr.c: workers' stderr, relayed line by line ------------ */
void	 stderr_relay_start(const char *who, int fd);
void	 stderr_relay_free_all(void);

/* --- toolmap.c: exposed name <-> (peer, tool) --------------------------- */
/*
 * A definition is kept as JSON text, not a json-c tree (some 5 KB a tool):
 * body is its members after "name", as json-c prints them, and the name
 * is put back in front when the list is built, so a rename is free.
 * The entry, the tool's name and body are one allocation.
 */
struct toolent {
	RB_ENTRY(toolent)	 node;
	TAILQ_ENTRY(toolent)	 entry;		/* in its peer's order */
	struct peer		*peer;		/* NULL: the mesh's own */
	char			*body;		/* members but "name", or "" */
	size_t			 bodylen;
	int			 ord;		/* position in the peer's list */
	char			 exposed[TOOL_NAME_MAX + 1];
	char			 tool[];	/* name on the peer; then body */
};

void		 toolmap_init(void);
void		 toolmap_clear(void);
void		 toolmap_add_local(struct json_object *def);	/* mesh_* */
int		 toolmap_set_peer(struct peer *, struct json_object *tools);
void		 toolmap_remove_peer(struct peer *);
struct toolent	*toolmap_lookup(const char *exposed);
/* A new json-c object of the full definition; rare, not for hot paths. */
struct json_object *toolmap_def(struct toolent *);
unsigned	 toolmap_count(void);
/* The tools array as JSON text, cached until the table changes. */
const char	*toolmap_json(size_t *len);
char		*toolmap_json_take(size_t *len);	/* caller frees */
/* Deterministic exposed name; pure, for tests. */
void		 toolmap_name(const char *peer, const char *tool, int hashed,
		    unsigned attempt, char *out, size_t outlen);
int		 toolmap_valid_name(const char *);

/* --- session.c: downstream MCP sessions (stdio, or one HTTP session) ---- */
struct session;
typedef void (*session_push_cb)(struct session *, const char *json, size_t len);

struct session {
	TAILQ_ENTRY(session)	 entry;
	char			 id[SESSION_ID_LEN + 1];
	int			 is_stdio;
	int			 initialized;	/* initialize answered */
	char			 version[PROTOCOL_VERSION_LEN];
	struct json_object	*client_info;
	uint64_t		 last_active_ms;
	unsigned		 npending;	/* requests in flight */
	struct pending_list	 pendings;	/* those requests */
	session_push_cb		 push;		/* server-initiated messages */
	void			*frontend;	/* front-end's own state */
};
TAILQ_HEAD(sessions, session);

struct session	*session_new(int is_stdio);
void		 session_free(struct session *);
struct session	*session_find(const char *id);
unsigned	 session_count(void);
void		 session_broadcast(struct json_object *notification);
void		 session_touch(struct session *);
void		 session_free_all(void);
struct session	*session_first(void);
struct session	*session_next(struct session *);

/* --- mcp.c: the MCP server methods -------------------------------------- */
/*
 * Called with the answer to one downstream request: a complete JSON-RPC
 * response whose reference passes to the callee.  NULL when the client
 * cancelled the request (notifications/cancelled): no answer is owed, an
 * HTTP front-end ends that exchange without a body (202).
 */
typedef void (*mcp_reply_cb)(void *arg, struct json_object *response);

/*
 * Handle one checked JSON-RPC request from session s.  The answer comes
 * through cb exactly once, possibly before mcp_request returns (then
 * NULL is returned), unless mcp_abandon() is called on the handle first.
 * The request object is borrowed but may be modified (id, params.name).
 */
struct pending	*mcp_request(struct session *, struct json_object *req,
		    mcp_reply_cb cb, void *arg);
/* The client went away: its answer is dropped, the peer is told. */
void		 mcp_abandon(struct pending *);
void		 mcp_notification(struct session *, struct json_object *msg);
void		 mcp_client_response(struct session *, struct json_object *msg);
/* Tell every session the tool list changed. */
void		 mcp_tools_changed(void);
void		 mcp_shutdown(void);

/* --- router.c: requests in flight to workers ---------------------------- */
/* Answer or route a parked request once peers have settled. */
typedef void (*router_resume_fn)(struct pending *);

struct pending {
	RB_ENTRY(pending)	 node;		/* in peer->inflight */
	TAILQ_ENTRY(pending)	 wait;		/* waiting for peers to settle */
	TAILQ_ENTRY(pending)	 sentry;	/* in session->pendings */
	uint64_t		 id;		/* mesh id toward the peer */
	struct peer		*peer;
	struct session		*session;
	struct json_object	*client_id;	/* the client's id, owned */
	struct json_object	*req;		/* parked request, owned */
	router_resume_fn	 resume;	/* answers a parked request */
	int			 parked;	/* on the parked list */
	char			 tool[TOOL_NAME_MAX + 1]; /* exposed, for errors */
	struct event		*timer;		/* deadline */
	uint64_t		 started_us;
	mcp_reply_cb		 cb;
	void			*arg;
};
RB_PROTOTYPE(pending_tree, pending, node, pending_cmp);

struct pending	*router_call(struct session *, struct peer *,
		    const char *exposed, const char *tool, struct json_object *req,
		    mcp_reply_cb, void *);
int		 router_route(struct pending *, struct peer *,
		    const char *exposed, const char *tool, struct json_object *req);
struct pending	*router_park(struct session *, struct json_object *req,
		    router_resume_fn, mcp_reply_cb, void *);
void		 router_wake_parked(int force);
void		 router_response(struct peer *, uint64_t id, const char *json,
		    size_t len);
void		 router_callfail(struct peer *, uint64_t id, const char *reason);
void		 router_progress(struct peer *, uint64_t id);
void		 router_fail_all(struct peer *, const char *cause);
void		 router_abandon(struct pending *);
void		 router_cancel(struct pending *);
/* A session is going: its requests are answered with an error now. */
void		 router_session_gone(struct session *);
void		 router_reply(struct pending *, struct json_object *response);
unsigned	 router_inflight(void);

/* --- meshtools.c: the mesh's own tools (mesh_*) ------------------------- */
void			 meshtools_register(void);
int			 meshtools_call(struct session *, const char *name,
			    struct json_object *args, struct json_object **result);

/* --- frontend-stdio.c --------------------------------------------------- */
int	 stdio_start(void);
void	 stdio_stop(void);

/* --- frontend-http.c ---------------------------------------------------- */
int	 http_start(const char *addr, int port);
void	 http_stop(void);
int	 http_port(void);	/* the bound port (for --port 0) */

/* --- mcp-mesh.c --------------------------------------------------------- */
void	 mesh_shutdown(int status);

#endif /* MESH_H */
