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

/* supervisor/frontend-http.c, http_start(): the port follows. */
#define LOG_HTTP_LISTENING	"http: listening on http://127.0.0.1:"

/* supervisor/worker.c, worker_ready(): peer. */
#define LOG_PEER_READY		"peer %s: ready"

/*
 * supervisor/worker.c, worker_exited(): peer, pid, then exit_reason()
 * of common/util.c, the signal named.
 */
#define LOG_WORKER_EXITED	"peer %s: worker %d "
#define LOG_KILLED_BY		"killed by "
#define LOG_KILLED_BY_SIGKILL	LOG_KILLED_BY "SIGKILL"
#define LOG_SANDBOX_VIOLATION	LOG_KILLED_BY "SIGSYS (sandbox violation)"

/*
 * supervisor/worker.c, worker_kill(): peer, pid, the cause, which
 * worker_exited() repeats after the exit_reason(), after ": ".  Three
 * causes: a second HELLO before READY, any other message a worker may
 * not send in its state (a HELLO after READY: type, state), and no PONG
 * in time (WORKER_PING_TIMEOUT_MS).
 */
#define LOG_KILLING_WORKER	"killing worker "
#define LOG_HELLO_TWICE		"worker said HELLO twice"
#define LOG_MSG_IN_STATE	"worker sent message type "
#define LOG_PING_MISSED		"worker missed its ping deadline (%d ms)"

/* supervisor/proc.c, proc_zygote_lost(): why. */
#define LOG_ZYGOTE_EXITED	"zygote: it exited; workers are exec'd from " \
				"now on"
#define LOG_ZYGOTE_UNANSWERED	"zygote: no new worker from it; workers are " \
				"exec'd from now on"

/* supervisor/worker-stderr.c: a worker's stderr lines, under its peer. */
#define LOG_STDERR		"peer %s: stderr: "
#define LOG_STDERR_CUT		"more than %d bytes, the rest is ignored"

/* worker/upstream.c, up_count_connect(): how many, the URL. */
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
/* supervisor/router.c, the deadline: peer, tool, ms. */
#define ANSWER_DEADLINE		"peer %s did not answer %s within %d ms: " \
				"the call was cancelled"

/* worker/upstream.c, up_call_answer(): why, from jsonrpc_parse/_check. */
#define ANSWER_INVALID_JSONRPC	"the gateway answered with invalid JSON-RPC: "
#define ANSWER_WRONG_ID		"the gateway answered with a wrong id"
/* worker/upstream.c: the cap. */
#define ANSWER_TOO_LARGE	"response larger than %d bytes"
/* worker/upstream.c, xfer_outcome(): status, URL. */
#define ANSWER_HTTP_STATUS	"HTTP %d from %s: "
/* worker/upstream.c, xfer_curl_reason(): URL, strerror(3). */
#define ANSWER_CONNECT		"connect to %s: %s"
/* worker/upstream.c, xfer_curl_reason(): URL, then libcurl's words. */
#define ANSWER_CURL		"%s: %s"

/* common/jsonrpc.c: why a text or an envelope was refused. */
#define WHY_TOO_DEEP		"JSON nested too deeply"
#define WHY_BAD_UTF8		"invalid UTF-8 in JSON"
#define WHY_NOT_JSON		"invalid JSON: "	/* json-c's next */
#define WHY_NOT_JSONRPC_2	"jsonrpc is not \"2.0\""

/* --- tests/sandbox/sandbox-probe.c's verdicts (ours): act, strerror --- */
#define PROBE_REFUSED		"probe %s: refused: %s"
#define PROBE_NOT_REFUSED	"probe %s: NOT REFUSED"

#endif
