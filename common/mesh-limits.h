/*
 * Every limit and timeout of mcp-mesh, in one place.  Each one is listed
 * in ARCHITECTURE.md ("Limits") and has a test at its edge.
 */
#ifndef MESH_MESH_LIMITS_H
#define MESH_MESH_LIMITS_H

/* Framed message layer (supervisor <-> worker socketpair). */
#define MSG_PAYLOAD_MAX		(8 * 1024 * 1024)	/* one frame's payload */
#define MSG_QUEUE_MAX		(32 * 1024 * 1024)	/* bytes queued to one peer */
#define MSG_READ_CHUNK		(16 * 1024)		/* one read(2) */
#define MSG_BUF_KEEP		(4 * MSG_READ_CHUNK)	/* larger buffers freed when empty */
/*
 * glibc raises its mmap threshold after freeing a large block, so later
 * large blocks (a 2.7 MB tools/list, its printed answer) come from the
 * heap and stay there.  Fixed here, they are mmap'd and given back.
 */
#define MALLOC_MMAP_THRESHOLD	(128 * 1024)

/* JSON */
#define JSON_DEPTH_MAX		64	/* nesting accepted from anybody */

/* A peer's (gateway's) answers, parsed in the worker. */
#define UPSTREAM_RESPONSE_MAX	(4 * 1024 * 1024)	/* one HTTP body / SSE event;
							   --max-response, per peer */
#define UPSTREAM_RESPONSE_MIN	4096	/* smallest cap accepted */
#define UPSTREAM_RESPONSE_CAP	MSG_PAYLOAD_MAX	/* largest cap accepted: an
						   answer travels as one frame */
#define UPSTREAM_TOOLS_MAX	10000	/* tools accepted from one peer */
#define UPSTREAM_RESOURCES_MAX	10000	/* resources, and templates apart */
#define UPSTREAM_PROMPTS_MAX	10000	/* prompts accepted from one peer */
#define RESOURCE_URI_MAX	2048	/* a resource's URI or template */
#define RESOURCES_PAGE_MAX	100	/* resources (or templates) a page */
#define LIST_PAGE_DEFAULT	1000	/* tools (prompts) a page of the mesh's
					   tools/list; --page-size, 0: one page */
#define LIST_PAGE_MAX		100000	/* largest --page-size */
#define UPSTREAM_PAGES_MAX	1000	/* tools/list pages followed */
#define UPSTREAM_INFLIGHT_MAX	1024	/* concurrent requests to one peer */
#define UPSTREAM_CONNECT_TIMEOUT_MS	5000
#define UPSTREAM_INIT_TIMEOUT_MS	10000	/* initialize + tools/list */
#define UPSTREAM_HEADER_MAX	1024	/* one response header line kept */
#define UPSTREAM_REINIT_MAX	1	/* re-initializes for one request on 404 */
#define WORKER_CONFIG_TIMEOUT_MS	WORKER_HELLO_TIMEOUT_MS	/* HELLO to CONFIG */
#define UPSTREAM_DELETE_TIMEOUT_MS	1000	/* DELETE of the session at exit */
#define UPSTREAM_HOST_CONNECTIONS_MAX	64	/* keep-alive connections to a gateway */
#define UPSTREAM_ERROR_SNIPPET		200	/* body bytes quoted in a failure */
#define UPSTREAM_XFER_POOL_MAX		64	/* idle transfers kept for reuse */
#define UPSTREAM_XFER_KEEP_MAX		(64 * 1024)	/* buffer kept by an idle transfer */
#define UPSTREAM_GET_RETRY_MS		5000	/* reopen a dropped GET stream */
#define UPSTREAM_SESSION_ID_MAX		256	/* Mcp-Session-Id accepted */
#define UPSTREAM_EVENT_ID_MAX		256	/* an SSE id: kept to resume */
#define UPSTREAM_RESUME_MAX		3	/* resumes of a call's stream in
						   a row that brought nothing */
#define UPSTREAM_RESUME_DELAY_MS	1000	/* when the gateway gave no
						   retry: */
#define UPSTREAM_RESUME_DELAY_MAX_MS	30000	/* a retry: longer is cut */
#define UPSTREAM_DEADLINE_GRACE_MS	1000	/* curl's timeout of a non-call POST
						   after the deadline */
#define UPSTREAM_CONNECT_FAILS_MAX	3	/* calls in a row not connecting:
						   the worker exits to re-resolve */
#define UPSTREAM_ADDRS_MAX	8	/* addresses pinned for a host name */
/*
 * Between the starts of two re-lists after list_changed: a gateway that
 * sends list_changed without pause made 153 full re-lists in 10 s, each
 * a tools/list of every page and a new tool table in the supervisor.
 * The list_changed that come meanwhile are one re-list when it passes.
 */
#define UPSTREAM_RELIST_MIN_MS	1000

/* Downstream clients (front-ends). */
#define HTTP_BODY_MAX		(4 * 1024 * 1024)	/* one POST body */
#define HTTP_SESSIONS_MAX	1024	/* then the least recently used
					   idle one is evicted */
#define HTTP_CONNECTIONS_MAX	1024	/* lower if descriptors are few */
#define HTTP_CONNECTIONS_SPARE	64	/* over the cap: answered 503 */
#define HTTP_HEADER_TIMEOUT_MS	5000	/* a new connection's headers */
#define HTTP_CONN_IDLE_TIMEOUT_S	30	/* idle or slow connection */
#define HTTP_SESSION_IDLE_TIMEOUT_MS	(30 * 60 * 1000)
#define HTTP_SESSION_FRESH_TIMEOUT_MS	60000	/* never used after initialize */
#define HTTP_ANSWER_MAX		(32 * 1024 * 1024)	/* one answer, or a
							   batch's together */
#define HTTP_ANSWER_BUDGET	(256 * 1024 * 1024)	/* answer bytes held for
							   all HTTP clients */
#define HTTP_SSE_KEEPALIVE_MS	15000	/* ':' comment on open GET streams */
#define HTTP_SSE_QUEUE_MAX	(4 * 1024 * 1024) /* bytes queued to one GET stream */
#define HTTP_SSE_REPLAY_MAX	64	/* a session's last GET-stream events
					   kept for Last-Event-ID */
#define HTTP_SSE_REPLAY_BYTES	(256 * 1024)	/* and their bytes at most */
#define HTTP_SSE_RETRY_MS	1000	/* retry: on a GET stream's priming */
#define HTTP_PORT_DEFAULT	45679
/*
 * MHD's per-connection pool (request headers, response headers).  It is
 * zeroed on every keep-alive request, so it is kept small: the benchmark
 * measured 6% of the supervisor's time in that memset at 64 KiB.
 */
#define HTTP_CONN_MEMORY_MAX	(16 * 1024)
#define HTTP_BODY_KEEP		(64 * 1024)	/* body buffer kept between requests */
#define HTTP_SSE_BLOCK		(16 * 1024)	/* one read from a GET stream */
#define HTTP_SESSION_SWEEP_MS	10000		/* idle sessions looked for */
#define HTTP_BATCH_MAX		256		/* messages in one 2025-03-26 batch */
#define STDIO_LINE_MAX		HTTP_BODY_MAX	/* one stdin message */
#define STDIO_OUT_QUEUE_MAX	(64 * 1024 * 1024)	/* unread stdout bytes */
#define STDIO_FLUSH_MS		2000	/* stdout written at exit, at most */

/* Descriptors (RLIMIT_NOFILE, raised to its hard limit at start). */
#define FD_RESERVE_BASE		32	/* the loop, logs, the zygote, MHD */
#define FD_PER_PEER		4	/* socketpair, stderr pipe, a spawn's */
#define FD_PEERS_ROOM		64	/* peers that may be added at run time */
#define CLIENT_INFLIGHT_MAX	4096	/* requests in flight, whole mesh */

/* Peers and tools. */
#define PEERS_MAX		512
#define PEER_NAME_MAX		32	/* [a-z0-9-], prefix of exposed names */
#define PEER_URL_MAX		2048
#define TOOL_NAME_MAX		64	/* ^[A-Za-z0-9_-]{1,64}$ exposed */
#define TOOL_HASH_LEN		6	/* hex digits of the shortening suffix */
#define TOOLMAP_ATTEMPTS_MAX	64	/* hashed names tried before a tool is dropped */
#define NODE_NAME_MAX		64
#define MESH_PATH_MAX		8	/* meshes a tool may come through */
#define MESH_HOPS_MAX		8	/* meshes a call may cross */
#define DIRECTORY_LINE_MAX	4096	/* one line of the peers file */
#define DIRECTORY_ENTRIES_MAX	4096	/* entries in the peers file */
#define DIRECTORY_FILE_MAX	(4 * 1024 * 1024)	/* its size */

/* Requests routed to a worker. */
#define REQUEST_TIMEOUT_MS	60000	/* default idle deadline of one call
					   (progress pushes it out);
					   --timeout, --peer-timeout */
#define REQUEST_CEILING_FACTOR	10	/* a call ends after this many
					   timeouts, whatever its progress */
#define REQUEST_TIMEOUT_MIN_MS	100
#define REQUEST_TIMEOUT_MAX_MS	(3600 * 1000)
#define PEER_INFLIGHT_MAX	512	/* per peer, then refused at once */
#define RELAY_REQUESTS_MAX	1024	/* peers' requests waiting for clients */
#define SUBSCRIPTIONS_MAX	4096	/* resources/subscribe, all sessions */
#define LOG_DEFAULT_LEVEL	6	/* "info": notifications/message a
					   session gets before logging/setLevel */
#define LIST_WAIT_MS		5000	/* tools/list waits for starting peers */
#define TOOLS_CHANGED_COALESCE_MS 20	/* one list_changed for a burst */

/* Worker sandbox (worker/sandbox*.c). */
#define WORKER_MEMORY_MB	512	/* RLIMIT_AS; --worker-memory, 0: none */
#define WORKER_MEMORY_MB_CAP	(1024 * 1024)	/* largest --worker-memory */
#define WORKER_NOFILE_MAX	(UPSTREAM_HOST_CONNECTIONS_MAX + 16)	/* RLIMIT_NOFILE */
#define PROC_ZYGOTE_TIMEOUT_MS	1000	/* the zygote answers a spawn within */
#define WORKER_USER_DEFAULT	"nobody"	/* --worker-user when run as root */

/*
 * A worker's cgroup (supervisor/cgroup.c), where the supervisor may make
 * one: memory.max is --worker-memory, and RLIMIT_AS then only a backstop
 * this many times larger (it counts libraries and untouched reservations,
 * which memory.max does not).  pids.max: a worker is one thread
 * (RLIMIT_NPROC 0); the rest is room for the sanitizers' tracer.
 */
#define WORKER_CGROUP_AS_FACTOR		2
#define WORKER_CGROUP_CPU_QUOTA_US	50000	/* cpu.max: half a CPU ... */
#define WORKER_CGROUP_CPU_PERIOD_US	100000	/* ... of every 100 ms */
#define WORKER_CGROUP_PIDS_MAX		4
#define CGROUP_RMDIR_RETRY_MS		100	/* a reaped worker's cgroup busy */
#define CGROUP_RMDIR_TRIES		50	/* then it is left, and logged */

/* Worker supervision. */
#define WORKER_HELLO_TIMEOUT_MS	5000	/* exec to HELLO */
#define WORKER_READY_TIMEOUT_MS	(UPSTREAM_INIT_TIMEOUT_MS + 5000)
#define WORKER_PING_INTERVAL_MS	5000
#define WORKER_PING_TIMEOUT_MS	5000	/* no PONG by then: killed; a call
					   to a stopped worker waits at most
					   the two together */
#define WORKER_STALL_MS		10000	/* messages wait, none read: killed */
#define WORKER_STOP_TIMEOUT_MS	2000	/* SHUTDOWN, then SIGKILL */
#define WORKER_SPAWN_RETRY_MS	1000	/* out of descriptors: try again */
#define WORKER_FAILED_RETRY_MS	(5 * 60 * 1000)	/* --failed-retry */
#define WORKER_FAILED_RETRY_MIN_MS	1000
/* Bytes queued toward one worker (flow control, see router.c). */
#define WORKER_DOWNQUEUE_HIGH	(16 * 1024 * 1024)	/* calls refused as busy */
#define WORKER_DOWNQUEUE_SMALL	(64 * 1024)	/* a call this small ... */
#define WORKER_DOWNQUEUE_RESERVE (4 * 1024 * 1024)	/* ... may use this */
#define WORKER_DOWNQUEUE_MAX	(WORKER_DOWNQUEUE_HIGH + \
				    WORKER_DOWNQUEUE_RESERVE + \
				    MSG_PAYLOAD_MAX + 64 * 1024)
#define WORKER_LOG_RATE		(16 * 1024)	/* LOG bytes/s from one worker */
#define WORKER_LOG_BURST	(64 * 1024)
#define WORKER_LOG_PAUSE_MS	50	/* over the rate: reading it waits */
#define WORKER_TOOLS_APPLY_MS	250	/* between two tool lists applied */
#define WORKER_TOOLS_APPLY_FACTOR 4	/* ... and this many times the last
					   one took */
#define WORKER_BACKOFF_MIN_MS	50	/* first restart is fast */
#define WORKER_BACKOFF_MAX_MS	30000
#define WORKER_STABLE_MS	10000	/* ready this long: failures forgiven */
#define WORKER_FAIL_WINDOW_MS	60000
#define WORKER_FAIL_MAX		10	/* crashes in the window: FAILED */
#define WORKER_LOG_LINE_MAX	1024	/* one LOG message or stderr line from a worker */
#define WORKER_STDERR_MAX	(64 * 1024)	/* stderr bytes logged from one worker */
/*
 * A worker's queue toward the supervisor.  Above HIGH it stops reading
 * its gateway (libcurl's pause) and the supervisor's socket, and goes on
 * below LOW: a gateway that floods notifications faster than the
 * supervisor reads them is slowed to the supervisor's pace instead of
 * the worker dying of a full queue.  Log lines above HIGH are dropped
 * (and counted).  Everything that adds to the queue (a write callback,
 * a finished transfer, one read of the supervisor's socket) starts below
 * HIGH and adds at most one frame of MSG_PAYLOAD_MAX and SLACK of small
 * ones: a write callback has at most UPSTREAM_WRITE_MAX bytes, and the
 * frames of its events (16 bytes of header to at least 30 of JSON-RPC)
 * are at most ~2.2 times that, with one CALLFAIL and one log line.  So
 * MAX is never reached with well-formed traffic.
 */
#define WORKER_UPQUEUE_HIGH	(4 * 1024 * 1024)
#define WORKER_UPQUEUE_LOW	(1024 * 1024)
#define UPSTREAM_WRITE_MAX	16384	/* body bytes of one write callback:
					   libcurl's CURL_MAX_WRITE_SIZE */
#define WORKER_UPQUEUE_SLACK	(256 * 1024)
#define WORKER_UPQUEUE_MAX	(WORKER_UPQUEUE_HIGH + 16 + MSG_PAYLOAD_MAX + \
				    WORKER_UPQUEUE_SLACK)

#endif /* MESH_MESH_LIMITS_H */
