/*
 * mcp-mesh supervisor: one libevent loop owning the MCP front-ends (stdio,
 * Streamable HTTP), the peers and their workers, the exposed-tool table and
 * the calls in flight.  Prototypes are grouped per file.
 *
 * The request path in one paragraph: a front-end hands each message of
 * its client to mcp.c together with an origin (who receives the replies:
 * a legacy session, one stateless exchange, or an internal caller) and
 * reply operations (how replies leave: zero or more messages, then
 * exactly one answer, as JSON text).  mcp.c makes the request a call
 * (call.c) and dispatches it through its method table; a handler answers
 * at once or routes the call to a peer (router.c), whose worker
 * (worker.c) relays it to the gateway.
 */
#ifndef MESH_H
#define MESH_H

#include <sys/types.h>
#include <sys/param.h>
#include <sys/queue.h>
#include <sys/uio.h>
#include <sys/tree.h>
#include <stdint.h>

#include <json-c/json.h>

#include "jsonrpc.h"
#include "mcp-version.h"
#include "mesh-limits.h"
#include "msg.h"
#include "peerspec.h"
#include "util.h"

#define MESH_VERSION		PACKAGE_VERSION
#define MESH_SERVER_NAME	"mcp-mesh"
#define SESSION_ID_LEN		32	/* hex characters, 128 random bits */
#define PROTOCOL_VERSION_LEN	MCP_VERSION_LEN_MAX
#define ORIGIN_NAME_MAX		48	/* "session 0123abcd", for logs */
/* _meta keys of our own (reverse DNS, as MCP asks): meshes of meshes. */
#define MESH_META_PATH		"dev.mcp-mesh/path"	/* node ids of a tool */
#define MESH_META_HOPS		"dev.mcp-mesh/hops"	/* meshes a call crossed */
#define CAUSE_MAX		256	/* why a worker last stopped */

struct event_base;
struct event;
struct call;
struct peer;
struct worker;
struct session;

extern struct event_base *ev_base;

/* --- config.c ------------------------------------------------------------ */
struct bridge_spec {
	TAILQ_ENTRY(bridge_spec) entry;
	char		name[PEER_NAME_MAX + 1];
	char		url[PEER_URL_MAX + 1];
	char		id[UUID_LEN + 1];	/* of its peers-file entry, or "" */
	char		spec[PEER_URL_MAX + PEER_NAME_MAX + 2];	/* as given */
	uint64_t	timeout_ms;	/* --peer-timeout, else --timeout */
	uint64_t	response_max;	/* --peer-max-response, else --max-response */
	int		bridged;	/* --bridge: tools re-exported */
	int		has_prefix;	/* --prefix NAME=..., else the name */
	char		prefix[PEER_NAME_MAX + 1];
};
TAILQ_HEAD(bridge_specs, bridge_spec);

/* A --bridge or --peer as given, resolved once the peers file is read. */
struct peer_arg {
	TAILQ_ENTRY(peer_arg) entry;
	const char	*opt;
	int		 bridged;
	char		 spec[];
};
TAILQ_HEAD(peer_args, peer_arg);

/* --allow-peer: URLs mesh_add_peer may reach beyond the peers file. */
struct allow_pattern {
	TAILQ_ENTRY(allow_pattern) entry;
	char		 pattern[];
};
TAILQ_HEAD(allow_patterns, allow_pattern);

enum mesh_tools_mode {
	MESH_TOOLS_ALL,		/* every mesh tool */
	MESH_TOOLS_READ,	/* listing and lookup only */
	MESH_TOOLS_NONE,
};

/* --peer-timeout / --peer-max-response, applied once bridges are known. */
struct peer_option {
	TAILQ_ENTRY(peer_option) entry;
	const char	*opt;		/* for messages */
	char		 peer[PEER_NAME_MAX + 1];
	uint64_t	 timeout_ms;	/* 0: not this option */
	uint64_t	 response_max;
	int		 has_prefix;	/* --prefix */
	char		 prefix[PEER_NAME_MAX + 1];
};
TAILQ_HEAD(peer_options, peer_option);

struct mesh_config {
	char		 name[NODE_NAME_MAX + 1];	/* --name */
	char		 node_id[UUID_LEN + 1];		/* kept in data_dir */
	char		 data_dir[PATH_MAX];		/* MCP_MESH_DATA_DIR */
	char		 peers_path[PATH_MAX];		/* MCP_MESH_PEERS */
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
	uint64_t	 failed_retry_ms;		/* --failed-retry */
	unsigned	 page_size;			/* --page-size, 0: one */
	char		 worker_user[64];		/* --worker-user */
	long		 worker_uid, worker_gid;	/* -1: not root */
	int		 sandbox_debug;			/* --sandbox-debug */
	int		 worker_exec;			/* --worker-exec: no zygote */
	struct peer_args peer_args;			/* --bridge, --peer */
	struct bridge_specs bridges;			/* ... resolved */
	struct peer_options peer_options;		/* --peer-* */
	struct allow_patterns allow_peers;		/* --allow-peer */
	enum mesh_tools_mode mesh_tools;		/* --mesh-tools */
	uint64_t	 started_ms;
};
extern struct mesh_config conf;

int	 config_parse_args(struct mesh_config *, int, char **);
int	 bridge_spec_parse(const char *, struct bridge_spec *, char *, size_t);
int	 config_size(const char *opt, const char *arg, uint64_t *out);
void	 config_clear(struct mesh_config *);
void	 config_usage(void);

/* --- node.c: this node's identity and data directory -------------------- */
int	 node_data_dir(char *, size_t);
int	 node_init(struct mesh_config *, char *err, size_t errlen);

/* --- directory.c: the peers file, UUID URL [NAME] ----------------------- */
struct dir_entry {
	TAILQ_ENTRY(dir_entry)	 entry;
	char			 id[UUID_LEN + 1];	/* lower case */
	char			 url[PEER_URL_MAX + 1];
	char			 name[PEER_NAME_MAX + 1];	/* "" when none */
	unsigned		 line;		/* in the file */
};
TAILQ_HEAD(dir_entries, dir_entry);

struct directory {
	char			 path[PATH_MAX];
	struct dir_entries	 entries;	/* in the file's order */
	unsigned		 n;
};
extern struct directory directory;	/* this node's */

/* The steps of an atomic write, for tests that crash at each. */
enum dir_write_step {
	DIR_WRITE_CREATED,	/* the temporary file exists */
	DIR_WRITE_WRITING,	/* some of the new text is in it */
	DIR_WRITE_SYNCED,	/* all of it, on disk */
	DIR_WRITE_RENAMED,	/* it is the file now */
	DIR_WRITE_DONE,		/* and the directory is synced */
};
extern void (*directory_write_hook)(enum dir_write_step);

void		 directory_init(struct directory *, const char *path);
int		 directory_load(struct directory *, const char *path,
		    char *err, size_t errlen);
int		 directory_parse(struct directory *, const char *text,
		    size_t len, char *err, size_t errlen);
void		 directory_clear(struct directory *);
void		 directory_move(struct directory *, struct directory *src);
const struct dir_entry *directory_by_id(const struct directory *,
		    const char *);
const struct dir_entry *directory_by_name(const struct directory *,
		    const char *);
const struct dir_entry *directory_by_url(const struct directory *,
		    const char *);
/* SPEC as name=URL, URL, UUID or name, in that order; -1 says what. */
int		 directory_resolve(const struct directory *, const char *spec,
		    struct bridge_spec *, char *err, size_t errlen);
int		 directory_add(struct directory *, const char *id,
		    const char *url, const char *name, char *err,
		    size_t errlen);
int		 directory_del(struct directory *, const char *id, char *err,
		    size_t errlen);

/* --- call.c: calls, the origins that own them, their replies ------------ */
/*
 * How replies to one request leave, supplied by whoever made it: a
 * front-end for its client, or an internal caller for itself.
 *
 * message: zero or more before the answer (a progress or log
 * notification, a request to the client), borrowed text.
 * answer: exactly once, the JSON-RPC response as text the callee now
 * owns (free()); NULL when the client cancelled and no answer is owed.
 */
struct reply_ops {
	void	(*message)(void *arg, const char *json, size_t len);
	void	(*answer)(void *arg, char *json, size_t len);
};

enum origin_kind {
	ORIGIN_SESSION,		/* a legacy session: stdio, or an HTTP session */
	ORIGIN_EXCHANGE,	/* one stateless HTTP exchange (2026-07-28) */
	ORIGIN_INTERNAL,	/* the mesh itself: a timer, the control socket */
};

/* Who a call belongs to: its calls are answered or dropped when it goes. */
struct origin {
	enum origin_kind	 kind;
	char			 name[ORIGIN_NAME_MAX];
	TAILQ_HEAD(, call)	 calls;		/* in flight, oldest first */
	unsigned		 ncalls;
	struct session		*session;	/* ORIGIN_SESSION */
};

typedef void (*call_resume_fn)(struct call *);

RB_HEAD(call_tree, call);

struct call {
	TAILQ_ENTRY(call)	 oentry;	/* in origin->calls */
	struct origin		*origin;
	const struct reply_ops	*ops;
	void			*arg;
	struct json_object	*client_id;	/* the request's id, owned */
	int			 refs;
	int			 done;		/* answered, cancelled or dropped */
	int			 plain_errors;	/* failures as JSON-RPC errors, not
						   a tool's isError result */
	uint64_t		 started_us;

	/* Routing to a peer (router.c). */
	RB_ENTRY(call)		 node;		/* in peer->inflight */
	TAILQ_ENTRY(call)	 wait;		/* parked until peers settle */
	struct peer		*peer;		/* routed to, or NULL */
	uint64_t		 id;		/* mesh id toward the peer */
	struct json_object	*req;		/* a parked request, owned */
	call_resume_fn		 resume;	/* routes or answers it then */
	int			 parked;
	int			 waited;	/* parked once already */
	char			 what[TOOL_NAME_MAX + 1]; /* for errors */
	struct event		*timer;		/* deadline or park timeout */
	uint64_t		 ceiling_ms;	/* whatever the progress */
	int			 at_ceiling;	/* the deadline armed is it */
	struct json_object	*progress_token; /* the client's, owned */
};
RB_PROTOTYPE(call_tree, call, node, call_cmp);

void		 origin_init(struct origin *, enum origin_kind, const char *,
		    ...) __attribute__((format(printf, 3, 4)));
/* The origin goes: calls still owned are answered with an error. */
void		 origin_end(struct origin *, const char *why);
struct call	*origin_find_call(struct origin *, struct json_object *id);

struct call	*call_new(struct origin *, struct json_object *id,
		    const struct reply_ops *, void *arg);
void		 call_hold(struct call *);
void		 call_release(struct call *);
int		 call_done(const struct call *);
/* Answers, each ending the call; text is owned by the callee after. */
void		 call_answer(struct call *, char *text, size_t len);
void		 call_answer_json(struct call *, struct json_object *resp);
void		 call_result(struct call *, struct json_object *result);
void		 call_result_text(struct call *, const char *v, size_t vlen);
/* The same, V given in pieces (a prefix, a cached array, a suffix). */
void		 call_result_iov(struct call *, const struct iovec *, int n);
void		 call_error(struct call *, int code, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
/* A failure: a tool's isError result, or for other methods (plain_errors)
 * a JSON-RPC internal error. */
void		 call_error_result(struct call *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
void		 call_message(struct call *, const char *json, size_t len);
/* The client cancelled: no answer is owed (the spec); the peer is told. */
void		 call_cancel(struct call *);
/* The front-end cannot deliver any more: dropped, the peer is told. */
void		 call_abandon(struct call *);
unsigned	 call_count(void);
/*
 * A request of the mesh's own to p (req borrowed, its id replaced): the
 * answer is only logged when it is an error.  what names it in logs.
 */
void		 call_internal(struct peer *, const char *what,
		    struct json_object *req);
void		 call_internal_end(void);

/* --- peer.c: peers, their configuration and life ------------------------ */
struct toolent;
TAILQ_HEAD(toolent_list, toolent);
struct resent;
TAILQ_HEAD(resent_list, resent);

struct peer {
	TAILQ_ENTRY(peer)	 entry;
	int			 index;		/* order given: stable */
	char			 name[PEER_NAME_MAX + 1];
	char			 prefix[PEER_NAME_MAX + 1];	/* of its names, or "" */
	char			 url[PEER_URL_MAX + 1];
	char			 id[UUID_LEN + 1];	/* its entry's, or "" */
	char			 spec[PEER_URL_MAX + PEER_NAME_MAX + 2];
	uint64_t		 timeout_ms;	/* idle deadline of one call */
	uint64_t		 response_max;	/* bytes of one answer */
	int			 bridged;	/* tools re-exported */
	int			 removed;	/* out of the table, worker going */
	struct worker		*worker;	/* its process, always one */

	/* What the peer said at initialize. */
	struct json_object	*server_info;
	struct json_object	*capabilities;
	char			 protocol_version[PROTOCOL_VERSION_LEN];

	/* Its tools and prompts, in its order; a bridged peer's are also
	 * in the indexes of exposed names (toolmap.c). */
	struct toolent_list	 tools;
	int			 ntools;
	struct toolent_list	 prompts;
	int			 nprompts;
	struct resent_list	 resources;	/* resources.c */
	struct resent_list	 templates;

	/* Calls in flight to it. */
	uint64_t		 next_id;
	struct call_tree	 inflight;
	unsigned		 ninflight;
	uint64_t		 ncalls;	/* routed, in all */
	uint64_t		 nfailed;	/* answered with an error by us */
};
TAILQ_HEAD(peers, peer);
extern struct peers peers;
extern unsigned npeers;

struct peer	*peer_add(const struct bridge_spec *);
/* Out of the table now; its calls answered; freed once its worker is. */
void		 peer_remove(struct peer *, const char *why);
struct peer	*peer_find(const char *name);
int		 peer_ready(const struct peer *);
const char	*peer_state_name(const struct peer *);
const char	*peer_cause(const struct peer *);
int		 peer_settled(void);	/* no peer on its first start */
void		 peer_start_all(void);
void		 peer_stop_all(void);
int		 peer_all_stopped(void);
void		 peer_free_all(void);
/* From worker-msg.c: READY or LISTS. */
void		 peer_set_lists(struct peer *, struct json_object *lists);
int		 peer_set_tools(struct peer *, struct json_object *tools);
void		 peer_set_info(struct peer *, struct json_object *ready);
void		 peer_clear_tools(struct peer *);
/* SIGHUP: peers named through the directory follow their entries. */
void		 peer_reresolve_all(void);
/* From worker.c: the worker of a removed peer is gone. */
void		 peer_worker_gone(struct peer *);
/* The peer as mesh_node_info and the control socket show it. */
struct json_object *peer_json(const struct peer *);

/* --- worker.c: the process behind a peer -------------------------------- */
enum worker_state {
	WS_STOPPED = 0,	/* not running, not wanted */
	WS_STARTING,	/* spawned, HELLO/CONFIG/READY handshake */
	WS_READY,	/* serving */
	WS_BACKOFF,	/* died, restart timer armed */
	WS_FAILED,	/* too many crashes: retried after --failed-retry */
	WS_STOPPING,	/* SHUTDOWN sent, waiting for exit */
};

/* Restart arithmetic, pure (backoff_next(), tests). */
struct backoff {
	unsigned	failures;	/* in the current window */
	uint64_t	window_start_ms;
	uint64_t	delay_ms;	/* last delay, 0 before the first */
};

/* A worker's record lives as long as its peer (or, removed, its process). */
struct worker {
	TAILQ_ENTRY(worker)	 entry;		/* every worker */
	struct peer		*peer;
	enum worker_state	 state;
	pid_t			 pid;
	int			 fd;		/* socketpair, -1 when none */
	int			 eof;		/* socket closed */
	int			 reaped;	/* waitpid done */
	int			 hello;		/* HELLO seen */
	int			 killed;	/* we killed it */
	int			 violation;	/* ... for breaking the protocol */
	int			 crash;		/* its death counts toward FAILED */
	int			 permanent;	/* its exit: bad configuration */
	int			 fresh_layout;	/* exec the next: it crashed */
	int			 restart;	/* start again once it is gone */
	struct msgbuf		 mb;
	struct event		*ev;		/* read/write on fd */
	struct event		*timer;		/* handshake/ping/backoff/stop */
	uint64_t		 ping_seq;
	uint64_t		 ping_sent_ms;	/* 0: no ping outstanding */
	uint64_t		 write_ms;	/* last write progress */

	struct backoff		 backoff;
	unsigned		 restarts;	/* in all */
	uint64_t		 ready_since_ms;
	int			 ever_ready;
	int			 shrink;	/* free idle buffers after this read */
	char			 cause[CAUSE_MAX];	/* why it last stopped */

	/* LOG lines: a token bucket of bytes. */
	uint64_t		 log_tokens;
	uint64_t		 log_refill_ms;
	unsigned		 log_dropped;
	uint64_t		 log_dropped_bytes;
	int			 log_over;	/* a line dropped in this read */
	int			 read_paused;	/* ... so reading waits a while */
	struct event		*read_timer;

	/* A TOOLS list held back: applied a few times a second at most. */
	struct event		*tools_timer;
	char			*tools_pending;
	size_t			 tools_pending_len;
	uint64_t		 tools_applied_ms;
	uint64_t		 tools_cost_ms;	/* the last one took */
};

struct worker	*worker_new(struct peer *);
void		 worker_start(struct worker *);
void		 worker_attach(struct worker *, pid_t, int fd, int errfd);
/* Ask it to go (SHUTDOWN, SIGKILL after WORKER_STOP_TIMEOUT_MS). */
void		 worker_stop(struct worker *, const char *why);
void		 worker_restart(struct worker *, const char *why);
void		 worker_free(struct worker *);
enum worker_state worker_state(const struct worker *);
const char	*worker_state_name(enum worker_state);
const char	*worker_cause(const struct worker *);
int		 worker_is_ready(const struct worker *);
int		 worker_ever_ready(const struct worker *);
int		 worker_alive(const struct worker *);	/* not yet reaped */
pid_t		 worker_pid(const struct worker *);
unsigned	 worker_restarts(const struct worker *);
size_t		 worker_queued(const struct worker *);
void		 worker_exited(pid_t, int status);	/* from proc.c */
int		 worker_send(struct worker *, uint16_t type, uint64_t id,
		    const char *data, size_t len);
void		 worker_kill(struct worker *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
/* The same for a lie (router.c): it counts toward FAILED. */
void		 worker_violation(struct worker *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
/* Shared by worker.c and worker-msg.c. */
void		 worker_set_state(struct worker *, enum worker_state);
void		 worker_timer_arm(struct worker *, uint64_t ms);
void		 worker_finish(struct worker *);
void		 worker_read(struct worker *);
void		 worker_io(int fd, short events, void *arg);
void		 worker_log_report(struct worker *);
/* The next restart delay (0: give up), from the backoff state. */
uint64_t	 backoff_next(struct backoff *, uint64_t now_ms,
		    uint64_t ready_since_ms, int crash);

/* --- proc.c: spawn and reap worker processes ---------------------------- */
void	 proc_init(void);
void	 proc_shutdown(void);
pid_t	 proc_spawn_worker(const char *path, const char *peer_name, int exec,
	    int *fd, int *errfd);

/* --- cgroup.c: a cgroup (v2) per worker, where we are given a subtree -- */
/*
 * Where the supervisor may make cgroups (systemd Delegate=yes, or root),
 * each worker gets one with memory.max, cpu.max and pids.max, and the
 * connect hook of cgroup-bpf.c when its gateway is given by address.
 * Elsewhere every call is a no-op; what is missing is logged at start.
 */
struct cgroup_gateway {
	int		 family;	/* AF_INET, AF_INET6; 0: a host name */
	uint8_t		 addr[16];	/* network order */
	uint16_t	 port;		/* host order */
};

void		 cgroup_init(void);	/* before the zygote: we may move */
void		 cgroup_shutdown(void);	/* after the workers are reaped */
void		 cgroup_peer_note(const char *peer, const char *url);
/* Right after the spawn, before HELLO is read; -1: kill the worker. */
int		 cgroup_worker_add(pid_t, const char *peer, const char *url);
void		 cgroup_worker_gone(pid_t);		/* reaped */
uint64_t	 cgroup_worker_as_mb(void);		/* RLIMIT_AS for CONFIG */
struct json_object *cgroup_worker_json(pid_t);	/* NULL: not in one */
int		 cgroup_gateway_parse(const char *url, struct cgroup_gateway *);

/* --- cgroup-bpf.c: the connect hook of a worker's cgroup ---------------- */
int	 cgroup_bpf_attach(int dirfd, const struct cgroup_gateway *,
	    const char **what);
int	 cgroup_bpf_probe(int dirfd, const char **what);

/* --- worker-stderr.c: workers' stderr, relayed line by line ------------ */
void	 stderr_relay_start(const char *who, int fd);
void	 stderr_relay_free_all(void);

/* --- toolmap.c: a peer's tools, and exposed name -> (peer, tool) -------- */
/*
 * A definition is kept as JSON text, not a json-c tree (some 5 KB a tool):
 * body is its members after "name", as json-c prints them, and the name
 * is put back in front when a list is built, so a rename is free.
 * The entry, the tool's name and body are one allocation.  Every entry is
 * on its peer's list; a bridged peer's are also in the exposed-name index
 * (the tree and its ordered list), the mesh's own tools only there.
 */
struct toolent {
	RB_ENTRY(toolent)	 node;		/* in the index */
	TAILQ_ENTRY(toolent)	 entry;		/* in the index's order */
	TAILQ_ENTRY(toolent)	 pentry;	/* in its peer's order */
	struct peer		*peer;		/* NULL: the mesh's own */
	int			 indexed;
	char			*body;		/* members but "name", or "" */
	size_t			 bodylen;
	int			 ord;		/* position in the peer's list */
	char			 exposed[TOOL_NAME_MAX + 1];
	char			 tool[];	/* name on the peer; then body */
};

/*
 * The same for prompts (namemap_prompts) and tools (namemap_tools); the
 * toolmap_* calls are namemap_* on the tools'.
 */
struct namemap;
extern struct namemap *const namemap_tools;
extern struct namemap *const namemap_prompts;
void		 namemap_init(struct namemap *);
void		 namemap_clear(struct namemap *);
void		 namemap_add_local(struct namemap *, struct json_object *);
int		 namemap_set_peer(struct namemap *, struct peer *,
		    struct json_object *items, int *changed);
void		 namemap_remove_peer(struct namemap *, struct peer *);
struct toolent	*namemap_lookup(struct namemap *, const char *, size_t);
struct toolent	*namemap_first(struct namemap *);
unsigned	 namemap_count(struct namemap *);
const char	*namemap_json(struct namemap *, size_t *len);
struct buf;
unsigned	 namemap_gen(struct namemap *);
unsigned	 namemap_slice(struct namemap *, unsigned off, unsigned n,
		    struct buf *);
char		*namemap_peer_json(struct namemap *, const struct peer *,
		    size_t *len);

void		 toolmap_init(void);
/* This node's id, for the paths of exported tools (loop-freedom). */
void		 toolmap_set_node(const char *id);
struct json_object *toolmap_path_meta(struct json_object *def,
		    const char *node, const char **why);
void		 toolmap_clear(void);
void		 toolmap_add_local(struct json_object *def);	/* mesh_* */
/*
 * Replace p's tool list, and index it if p is bridged; *changed (may be
 * NULL) says whether anything differs.  Returns the tools kept.
 */
int		 toolmap_set_peer(struct peer *, struct json_object *tools,
		    int *changed);
void		 toolmap_remove_peer(struct peer *);
struct toolent	*toolmap_lookup(const char *exposed, size_t len);
/* A new json-c object of the full definition; rare, not for hot paths. */
struct json_object *toolmap_def(struct toolent *);
unsigned	 toolmap_count(void);
/* The index in its order (tools/list's). */
struct toolent	*toolmap_first(void);
struct toolent	*toolmap_next(struct toolent *);
/* The index's tools array as JSON text, cached until the table changes. */
const char	*toolmap_json(size_t *len);
/* A peer's own tools, with their own names, as a new JSON array text. */
char		*toolmap_peer_json(const struct peer *, size_t *len);
/* Deterministic exposed name; pure, for tests. */
void		 toolmap_name(const char *prefix, const char *peer,
		    const char *tool, int hashed, unsigned attempt, char *out,
		    size_t outlen);
int		 toolmap_valid_name(const char *);

/* --- cursor.c: the mesh's own pagination cursors ------------------------- */
#define CURSOR_LEN	48	/* "<kind><gen>.<offset>.<mac>" and a NUL */
void		 cursor_make(const struct origin *, char kind, unsigned gen,
		    unsigned off, char *out, size_t len);
int		 cursor_parse(const struct origin *, char kind, unsigned gen,
		    const char *cur, unsigned *off);

/* --- resources.c: peers' resources and templates, routed by URI --------- */
void		 resources_set_peer(struct peer *, struct json_object *resources,
		    struct json_object *templates, int *changed);
int		 resources_remove_peer(struct peer *);
/* The bridged peer a URI goes to (listed, or a template's), or NULL. */
struct peer	*resources_route(const char *uri);
struct peer	*resources_template_peer(const char *uri_template);
int		 resources_template_match(const char *tpl, const char *uri);
/* Does any bridged peer offer capability cap (with sub: true)? */
int		 resources_offered(const char *cap, const char *sub);
/* A page of the merged list as c's result; cursor NULL: the first. */
void		 resources_page(struct call *, int templates,
		    const char *cursor);

/* --- session.c: downstream legacy sessions (stdio, or one HTTP each) ---- */
/* Server-initiated messages outside any call (list_changed). */
typedef void (*session_push_cb)(struct session *, const char *json,
    size_t len);

struct session {
	struct origin		 origin;	/* its calls */
	TAILQ_ENTRY(session)	 entry;		/* least recently used first */
	char			 id[SESSION_ID_LEN + 1];
	int			 is_stdio;
	int			 initialized;	/* initialize answered */
	int			 used;		/* a request after initialize */
	char			 version[PROTOCOL_VERSION_LEN];
	struct json_object	*client_info;
	struct json_object	*client_caps;
	int			 log_level;	/* logging/setLevel, or -1 */
	uint64_t		 last_active_ms;
	session_push_cb		 push;
	void			*frontend;	/* front-end's own state */
};
TAILQ_HEAD(sessions, session);

struct session	*session_new(int is_stdio);
void		 session_free(struct session *);
struct session	*session_find(const char *id);
unsigned	 session_count(void);
void		 session_broadcast(const char *json, size_t len);
void		 session_touch(struct session *);
void		 session_free_all(void);
struct session	*session_lru(void);
struct session	*session_next(struct session *);

/* --- mcp.c: the MCP server the clients see ------------------------------ */
/*
 * One checked message of kind from a client of origin o.  A request
 * becomes a call answered through ops exactly once, possibly before this
 * returns (then NULL is returned); otherwise the call is returned for
 * call_abandon().  req is borrowed but may be modified (id, params).
 */
struct call	*mcp_handle(struct origin *, struct json_object *msg,
		    enum jsonrpc_kind, const struct reply_ops *, void *arg);
/* Tell every session a list changed (coalesced per list). */
enum mcp_list {
	MCP_LIST_TOOLS,
	MCP_LIST_PROMPTS,
	MCP_LIST_RESOURCES,
	MCP_LIST_N
};
void		 mcp_list_changed(enum mcp_list);
void		 mcp_tools_changed(void);
void		 mcp_shutdown(void);

/* mcp-resources.c: resources/{list,templates/list,read,(un)subscribe} */
void		 mcp_resources_list(struct call *, struct json_object *);
void		 mcp_resources_templates_list(struct call *,
		    struct json_object *);
void		 mcp_resources_read(struct call *, struct json_object *);
void		 mcp_resources_subscribe(struct call *, struct json_object *);
void		 mcp_resources_unsubscribe(struct call *, struct json_object *);
void		 mcp_resources_session_gone(struct session *);
void		 mcp_resources_peer_ready(struct peer *);
void		 mcp_resources_peer_gone(struct peer *);
void		 mcp_resources_updated(struct peer *, struct json_object *n,
		    const char *json, size_t len);
/* mcp-tools.c: a page of tools/list or prompts/list (head: {"tools":) */
void		 mcp_list_page(struct call *, struct json_object *req,
		    struct namemap *, const char *head, char kind,
		    const char *what);
/* mcp-prompts.c: prompts/list, prompts/get, completion/complete */
void		 mcp_prompts_list(struct call *, struct json_object *);
void		 mcp_prompts_get(struct call *, struct json_object *);
void		 mcp_completion_complete(struct call *, struct json_object *);
/* mcp-logging.c: logging/setLevel and the peers' notifications/message */
void		 mcp_logging_set_level(struct call *, struct json_object *);
void		 mcp_logging_peer_ready(struct peer *);
void		 mcp_logging_relay(struct peer *, struct call *,
		    struct json_object *n);
const struct mcp_version *mcp_origin_version(const struct origin *);

/* --- mcp-tools.c: tools/list and tools/call ----------------------------- */
void		 mcp_tools_list(struct call *, struct json_object *req);
void		 mcp_tools_call(struct call *, struct json_object *req);

/* --- router.c: calls in flight to workers ------------------------------- */
/*
 * Send call c to peer p as tool (its name on the peer); exposed names it
 * in errors.  req is the client's request: id, params.name and the
 * progress token are rewritten in place.  Returns 0 when the call is on
 * its way, -1 when it was answered now (why: not ready, busy).
 */
int		 router_route(struct call *, struct peer *, const char *exposed,
		    const char *tool, struct json_object *req);
/* Park c until every peer has had its first start; then resume(c). */
void		 router_park(struct call *, struct json_object *req,
		    call_resume_fn);
void		 router_wake_parked(int force);
void		 router_response(struct peer *, uint64_t id, const char *json,
		    size_t len);
void		 router_callfail(struct peer *, uint64_t id, const char *reason);
void		 router_notify(struct peer *, uint64_t id, const char *json,
		    size_t len);
void		 router_fail_all(struct peer *, const char *fmt);
/* The call in flight to p under mesh id id, or NULL. */
struct call	*router_call_of(struct peer *, uint64_t id);
/* c waits on its client (a relayed request): its idle deadline moves. */
void		 router_extend(struct call *);
/* call.c: c is ending; cancel tells the peer when it was sent. */
void		 router_unlink(struct call *, int cancel);

/* --- relay.c: a peer's requests to the client of its call ---------------- */
void		 relay_request(struct peer *, uint64_t call, const char *,
		    size_t);
int		 relay_response(struct origin *, struct json_object *msg);
void		 relay_peer_cancelled(struct peer *, struct json_object *params);
void		 relay_origin_gone(struct origin *);
void		 relay_peer_gone(struct peer *);
struct json_object *relay_client_caps(void);
void		 relay_session_caps(struct json_object *caps, int delta);
void		 relay_roots_changed(void);

/* --- meshtools.c: the mesh's own tools (mesh_*) ------------------------- */
void		 meshtools_register(void);
/* 0 when name is a mesh tool and the call is in its hands, else -1. */
int		 meshtools_call(struct call *, const char *name,
		    struct json_object *args, struct json_object *req);

/* --- lineconn.c: newline-delimited JSON-RPC over a descriptor pair ------ */
struct lineconn;
struct lineconn_ops {
	void	(*line)(void *arg, const char *line, size_t len);
	void	(*eof)(void *arg, int error);
	void	(*overflow)(void *arg);		/* out queue over its cap */
};
struct lineconn	*lineconn_new(int in, int out, size_t line_max,
		    size_t out_max, const struct lineconn_ops *, void *arg);
void		 lineconn_write(struct lineconn *, const char *, size_t);
/* Write what is queued within timeout_ms, then free (the fds stay). */
void		 lineconn_free(struct lineconn *, int flush_ms);

/* --- frontend-stdio.c --------------------------------------------------- */
int	 stdio_start(void);
void	 stdio_stop(void);

/* --- http.c and http-*.c (see http.h) ----------------------------------- */
int	 http_start(const char *addr, int port, unsigned connections);
void	 http_stop(void);
int	 http_port(void);	/* the bound port (for --port 0) */

/* --- mcp-mesh.c --------------------------------------------------------- */
void	 mesh_shutdown(int status);

#endif /* MESH_H */
