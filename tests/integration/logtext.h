/*
 * The words of mcp-mesh that the integration tests look for: lines of its
 * log, and the texts of the errors it answers with.  Each one here must
 * match the daemon's wording exactly, byte for byte (where it is printed
 * is noted); a rewording there is a change here, and only here.  Strings
 * with a % are printf formats, their arguments named in the comment.  The
 * daemon is to share this header later, so that the two cannot drift.
 */
#ifndef MESH_TEST_LOGTEXT_H
#define MESH_TEST_LOGTEXT_H

/* --- mcp-mesh's log ----------------------------------------------------- */

/*
 * supervisor/http.c, http_start(): the port follows, then "/mcp (N
 * connections)".
 */
#define LOG_HTTP_LISTENING	"http: listening on http://127.0.0.1:"

/*
 * supervisor/worker-msg.c, worker_msg_ready(): peer; " (N tools, ...)"
 * follows.
 */
#define LOG_PEER_READY		"peer %s: ready"
#define LOG_READY_TOOLS		": ready ("	/* any peer's */

/* supervisor/worker-msg.c, worker_lists_apply(): peer; counts follow. */
#define LOG_LISTS_CHANGED	"peer %s: lists changed ("

/*
 * supervisor/worker.c, worker_exited(): peer, pid, then exit_reason()
 * of common/util.c, the signal named.
 */
/* any line about one of peer's workers */
#define LOG_PEER_WORKER		"peer %s: worker "
#define LOG_WORKER_EXITED	LOG_PEER_WORKER "%d "
#define LOG_KILLED_BY		"killed by "
#define LOG_KILLED_BY_SIGKILL	LOG_KILLED_BY "SIGKILL"
#define LOG_SANDBOX_VIOLATION	LOG_KILLED_BY "SIGSYS (sandbox violation)"

/*
 * supervisor/worker.c, worker_vkill(): peer, pid, the cause, which
 * worker_exited() repeats after the exit_reason(), after ": ".  Three
 * causes: a second HELLO before READY (worker-msg.c), any other message a
 * worker may not send in its state (a HELLO after READY: type, state;
 * worker-msg.c, worker_dispatch()), and no PONG in time
 * (WORKER_PING_TIMEOUT_MS; worker.c, worker_ping()).
 */
#define LOG_KILLING_WORKER	"killing worker "
#define LOG_HELLO_TWICE		"worker said HELLO twice"
#define LOG_MSG_IN_STATE	"worker sent message type "
#define LOG_PING_MISSED		"worker missed its ping deadline (%d ms)"

/* supervisor/worker.c, worker_schedule_restart(): peer, the failures. */
#define LOG_RESTARTING		"peer %s: restarting in "	/* N ms */
#define LOG_CRASHES		"crashes in "	/* "peer P: N crashes in S s" */
#define LOG_N_CRASHES		"peer %s: %d " LOG_CRASHES
/* supervisor/worker.c, worker_give_up(): peer, --failed-retry in s. */
#define LOG_RETRIED		"peer %s: retried in %d s"

/*
 * supervisor/worker-msg.c, worker_log_report(): peer, then "N log lines
 * (B bytes) " before this.
 */
#define LOG_SUPPRESSED		"from the worker suppressed"

/* worker/sup.c: a worker whose supervisor does not read its frames. */
#define LOG_SUP_NOT_READING	"supervisor is not reading: exiting"

/* supervisor/call.c, call_answer(): an answer after the first. */
#define LOG_SECOND_ANSWER	"a second answer to one call dropped"

/* supervisor/frontend-stdio.c, stdio_overflow(). */
#define LOG_STDIO_NOT_READ	"stdio: client is not reading stdout ("

/* supervisor/http-session.c: a session evicted to make room. */
#define LOG_SESSION_EVICTED	"least recently used"

/*
 * supervisor/http-stream.c: a GET stream's Last-Event-ID that is not an
 * id the session gave (the header's value), or one whose events are gone
 * (the value, the newest id).
 */
#define LOG_EVENT_ID_ALIEN	"Last-Event-ID %s is none of ours"
#define LOG_EVENTS_GONE		"the events after it are no longer kept"
#define LOG_EVENT_ID_GONE	"Last-Event-ID %s: " LOG_EVENTS_GONE \
				" (%d is the newest)"

/* supervisor/http.c: over HTTP_ANSWER_BUDGET, a connection closed. */
#define LOG_SLOWEST_READER	"the slowest reader, holding "

/* supervisor/mcp-mesh.c: RLIMIT_NOFILE leaves fewer connections. */
#define LOG_CONN_CAP		"HTTP connections at most (raise LimitNOFILE)"
/* strerror(EMFILE), in any log_warn() of the daemon */
#define LOG_EMFILE		"Too many open files"

/*
 * supervisor/cgroup.c: at start, either the workers' cgroups (then the
 * controllers, each "on" or "off") or why there are none.
 */
#define LOG_CGROUP		"cgroup: "
#define LOG_CGROUP_ON		"cgroup: a cgroup per worker in "
#define LOG_CGROUP_OFF		"workers get no cgroup"
#define LOG_CGROUP_MEMORY	"memory.max on"
#define LOG_CGROUP_CPU		"cpu.max on"
#define LOG_CGROUP_PIDS		"pids.max on"
#define LOG_CGROUP_HOOK		"connect hook on"
/* a peer given by name: peer */
#define LOG_CGROUP_NAMED	"peer %s: its gateway is named"
/* the kernel's OOM kill: --worker-memory in MiB follows, then " MiB)" */
#define LOG_CGROUP_OOM		"went over its memory.max ("

/* supervisor/proc.c, proc_zygote_lost(): why. */
#define LOG_ZYGOTE_EXITED	"zygote: it exited; workers are exec'd from " \
				"now on"
#define LOG_ZYGOTE_UNANSWERED	"zygote: no new worker from it; workers are " \
				"exec'd from now on"

/* supervisor/worker-stderr.c: a worker's stderr lines, under its peer. */
#define LOG_STDERR		"peer %s: stderr: "
#define LOG_STDERR_CUT		"more than %d bytes, the rest is ignored"

/* worker/call.c, call_count_connect(): how many, the URL. */
#define LOG_RESOLVE_AGAIN	"%d calls in a row could not connect to %s; " \
				"resolving its name again"

/*
 * supervisor/config.c, refusals of the command line (with -n, before
 * anything starts).
 */
/* option, peer */
#define LOG_NO_SUCH_PEER	"%s: no peer is named \"%s\""
/* option, argument, UPSTREAM_RESPONSE_MIN, UPSTREAM_RESPONSE_CAP */
#define LOG_BAD_SIZE		"%s %s: a size from %d to %d bytes"
/* option, argument */
#define LOG_NOT_NAME_VALUE	"%s %s: NAME=VALUE with a peer name"
/* option, argument, strtonum(3)'s words ("too small") */
#define LOG_OUT_OF_RANGE	"%s %s: %s ("
/* user */
#define LOG_ROOT_USER		"--worker-user %s: uid or gid 0; workers " \
				"never run as root"
#define LOG_NO_SUCH_USER	"--worker-user %s: no such user (workers " \
				"never run as root)"

/* --- errors in answers (isError results) -------------------------------- */

/* supervisor/router.c, router_callfail(): peer, the worker's reason. */
#define ANSWER_PEER_FAILED	"peer %s: %s"
/*
 * supervisor/router.c, router_fail_all(): peer, tool, the cause (the
 * worker_kill() cause, else worker_close()'s "its worker stopped").
 */
#define ANSWER_FAILED_DURING	"peer %s failed during %s: %s"
/* supervisor/router.c, router_deadline(): peer, tool, ms. */
#define ANSWER_DEADLINE		"peer %s did not answer %s within %d ms: " \
				"the call was cancelled"
/* The same past REQUEST_CEILING_FACTOR deadlines: peer, tool, ms. */
#define ANSWER_CEILING		"peer %s did not finish %s within %d ms " \
				"(the ceiling of a call, whatever its " \
				"progress): the call was cancelled"
/*
 * supervisor/router.c, flow control: peer; the figures follow.  Too many
 * calls in flight (PEER_INFLIGHT_MAX), or too many bytes queued for its
 * worker.
 */
#define ANSWER_BUSY		"peer %s is busy: "

/*
 * supervisor/mcp.c, mcp_dispatch(): a method whose capability no peer
 * offers (-32601): the capability, or "CAP with SUB".
 */
#define ANSWER_NOT_OFFERED	"Method not found: no peer of this mesh " \
				"offers %s"
/*
 * supervisor/mcp-tools.c: a cursor not given to this session, of a list
 * that changed since, or not a string: the method.
 */
#define ANSWER_BAD_CURSOR	"%s: invalid cursor: not one this mesh gave " \
				"this session, or the list changed since; " \
				"list again from the start"
/* supervisor/mcp-logging.c: logging/setLevel with no such level. */
#define ANSWER_BAD_LEVEL	"logging/setLevel: params.level must be " \
				"one of debug, info, notice, warning, " \
				"error, critical, alert, emergency"

/* supervisor/http-post.c: a batch's answers over HTTP_ANSWER_MAX. */
#define ANSWER_BATCH_TOO_LARGE	"the answer is too large: over %d bytes " \
				"(the answers of a batch count together)"

/* worker/call.c, call_answer(): why, from jsonrpc_parse/_check. */
#define ANSWER_INVALID_JSONRPC	"the gateway answered with invalid JSON-RPC: "
#define ANSWER_WRONG_ID		"the gateway answered with a wrong id"
/* worker/xfer.c, xfer_too_large(): the cap. */
#define ANSWER_TOO_LARGE	"response larger than %d bytes"
/* worker/xfer.c, xfer_outcome(): status, URL. */
#define ANSWER_HTTP_STATUS	"HTTP %d from %s: "
/* worker/xfer.c, xfer_curl_reason(): URL, strerror(3). */
#define ANSWER_CONNECT		"connect to %s: %s"
/* worker/xfer.c, xfer_curl_reason(): URL, then libcurl's words. */
#define ANSWER_CURL		"%s: %s"

/* supervisor/http-post.c: an HTTP 400's body, two Content-Lengths. */
#define HTTP_CONTENT_LENGTHS	"Content-Length headers that differ"

/* --- the worker's FAIL reasons (worker/worker.c, its CONFIG) ------------ */

/* the transport given, then the one there is */
#define FAIL_TRANSPORT		"unknown transport \"%s\" in CONFIG (this " \
				"worker speaks %s)"
#define FAIL_CONFIG_STRING	"CONFIG lacks name or url, or has a bad " \
				"string"

/* common/jsonrpc.c: why a text or an envelope was refused. */
#define WHY_TOO_DEEP		"JSON nested too deeply"
#define WHY_BAD_UTF8		"invalid UTF-8 in JSON"
#define WHY_NOT_JSON		"invalid JSON: "	/* json-c's next */
#define WHY_NOT_JSONRPC_2	"jsonrpc is not \"2.0\""

/* --- tests/sandbox/sandbox-probe.c's verdicts (ours): act, strerror --- */
#define PROBE_REFUSED		"probe %s: refused: %s"
#define PROBE_NOT_REFUSED	"probe %s: NOT REFUSED"
/* the CPU time and the wall time of its spin, ms */
#define PROBE_SPIN		"probe spin: %lld ms of CPU in %lld ms"

/*
 * --- tests/fakeworker/fake-worker.c's words (ours), on its stderr or in
 * its LOG frames ---
 */
/* one LOG frame of peer logflood, again and again */
#define FAKE_FLOOD_LINE		"flooding the supervisor's log with " \
				"lines that say nothing at all, as " \
				"fast as it reads them"
/* peer progress, told MSG_CANCEL: the call's id, its notifications */
#define FAKE_CANCELLED		"cancel %llu after "
#define FAKE_CANCEL		FAKE_CANCELLED "%d progress notifications"

#endif
