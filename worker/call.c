/*
 * The supervisor's requests (tools/call and the like), one transfer
 * each: relayed as they came, cancelled on MSG_CANCEL, and answered
 * exactly once, RESPONSE with the gateway's answer or CALLFAIL saying
 * why there is none.  A call's SSE stream may carry notifications for it
 * (relayed with its id) and requests of the gateway's own before the
 * answer.  A plain result goes in the canonical shape the supervisor
 * forwards without parsing (ARCHITECTURE.md, "Message flow").
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "jsonrpc.h"
#include "jsonscan.h"
#include "mesh-proto.h"
#include "upstream.h"
#include "util.h"

RB_HEAD(call_tree, xfer);

static struct {
	struct call_tree	 tree;		/* by the supervisor's id */
	size_t			 n;
	int			 connect_fails;	/* calls in a row */
	struct xferq		 resuming;	/* waiting for their retry: */
} calls = { RB_INITIALIZER(&calls.tree), 0, 0,
    TAILQ_HEAD_INITIALIZER(calls.resuming) };

static int	 call_cmp(struct xfer *, struct xfer *);
RB_PROTOTYPE_STATIC(call_tree, xfer, node, call_cmp);
static void	 call_answer(struct xfer *, const char *, size_t);
static void	 call_message(struct xfer *, const char *, size_t);
static void	 call_done(struct xfer *, CURLcode);
static void	 call_forget(struct xfer *);
static void	 call_count_connect(CURLcode);

RB_GENERATE_STATIC(call_tree, xfer, node, call_cmp);

static int
call_cmp(struct xfer *a, struct xfer *b)
{
	return (a->id < b->id ? -1 : a->id > b->id);
}

/* MSG_REQUEST: buf is a JSON-RPC request whose id is the integer id. */
void
call_request(uint64_t id, const char *buf, size_t len)
{
	struct up_session	*s = client_session();
	struct xfer		*x, key;
	char			 reason[WORKER_REASON_MAX];

	key.id = id;
	if (RB_FIND(call_tree, &calls.tree, &key) != NULL) {
		log_warnx("supervisor sent request %llu twice",
		    (unsigned long long)id);
		worker_exit(EX_SOFTWARE);
	}
	if (calls.n >= UPSTREAM_INFLIGHT_MAX) {
		snprintf(reason, sizeof(reason), "more than %d requests "
		    "in flight", UPSTREAM_INFLIGHT_MAX);
		sup_send_reason(MSG_CALLFAIL, id, reason);
		return;
	}
	x = xfer_get(s, XFER_CALL);
	x->id = id;
	x->message = call_message;
	x->done = call_done;
	xbuf_set(&x->body, buf, len);
	RB_INSERT(call_tree, &calls.tree, x);
	calls.n++;
	if (s->reinit)
		xq_move(x, &s->waiting);
	else
		xfer_post(x, xfer_timeout(x));
}

/* MSG_NOTIFY_DOWN: a notification for the gateway, posted as it is. */
void
call_notify(const char *buf, size_t len)
{
	client_post_text(client_session(), buf, len);
}

/* MSG_CANCEL: drop the transfer, tell the gateway, answer nothing. */
void
call_cancel(uint64_t id)
{
	struct xfer	*x, key;
	char		 buf[160];
	int		 n, sent;

	key.id = id;
	if ((x = RB_FIND(call_tree, &calls.tree, &key)) == NULL) {
		log_debug("cancel of request %llu: not in flight",
		    (unsigned long long)id);
		return;
	}
	/* A request held for the new session never reached the gateway. */
	sent = x->queue != &x->session->waiting && x->queue != &xs.pending;
	xfer_detach(x);
	if (sent && !x->answered) {
		n = snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"method\":"
		    "\"notifications/cancelled\",\"params\":{\"requestId\":%llu,"
		    "\"reason\":\"cancelled by client\"}}",
		    (unsigned long long)id);
		client_post_text(x->session, buf, (size_t)n);
	}
	call_forget(x);
}

/* Out of the tree and back to the pool. */
static void
call_forget(struct xfer *x)
{
	RB_REMOVE(call_tree, &calls.tree, x);
	calls.n--;
	xfer_put(x);
}

/* A call that will not be sent (its session could not be renewed). */
void
call_abort(struct xfer *x, const char *reason)
{
	sup_send_reason(MSG_CALLFAIL, x->id, reason);
	call_forget(x);
}

/* The answer to call x: checked, then forwarded as received. */
static void
call_answer(struct xfer *x, const char *buf, size_t len)
{
	struct json_object	*m, *mid;
	const char		*why;
	char			 reason[WORKER_REASON_MAX], *canon;
	enum jsonrpc_kind	 kind;
	size_t			 clen;

	x->answered = 1;
	/* A plain result goes in the shape the supervisor forwards fast. */
	if ((clen = jsonrpc_canon_make(buf, len, x->id, &canon)) != 0) {
		sup_send(MSG_RESPONSE, x->id, canon, clen);
		free(canon);
		return;
	}
	if ((m = jsonrpc_parse(buf, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    (kind = jsonrpc_check(m, &why)) == JSONRPC_INVALID) {
		snprintf(reason, sizeof(reason), "the gateway answered with "
		    "invalid JSON-RPC: %s", why);
		sup_send_reason(MSG_CALLFAIL, x->id, reason);
	} else if (kind != JSONRPC_RESPONSE) {
		snprintf(reason, sizeof(reason), "the gateway answered with a "
		    "%s, not a response", kind == JSONRPC_REQUEST ?
		    "request" : "notification");
		sup_send_reason(MSG_CALLFAIL, x->id, reason);
	} else if ((mid = jsonrpc_id(m)) == NULL ||
	    !json_object_is_type(mid, json_type_int) ||
	    (uint64_t)json_object_get_int64(mid) != x->id) {
		snprintf(reason, sizeof(reason),
		    "the gateway answered with a wrong id");
		sup_send_reason(MSG_CALLFAIL, x->id, reason);
	} else
		sup_send(MSG_RESPONSE, x->id, buf, len);
	json_object_put(m);
}

/* One message on a call's SSE stream. */
static void
call_message(struct xfer *x, const char *data, size_t len)
{
	struct json_object	*m;
	const char		*why;
	enum jsonrpc_kind	 kind;

	if ((m = jsonrpc_parse(data, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    (kind = jsonrpc_check(m, &why)) == JSONRPC_INVALID) {
		json_object_put(m);
		if (!x->answered)
			call_answer(x, data, len);	/* says why */
		return;
	}
	if (kind == JSONRPC_REQUEST)
		client_server_request(x->id, x->session, m, data, len);
	else if (kind == JSONRPC_NOTIFICATION) {
		if (!x->answered)
			sup_send(MSG_NOTIFY_UP, x->id, data, len);
	} else if (!x->answered)
		call_answer(x, data, len);
	else
		log_warnx("second response to request %llu ignored",
		    (unsigned long long)x->id);
	json_object_put(m);
}

/* Why a finished call has no answer, or "" when its body is one. */
static void
call_no_answer(struct xfer *x, CURLcode rc, char *reason, size_t len)
{
	if (xfer_outcome(x, rc, reason, len) != 0)
		return;
	if (x->body_kind == BODY_JSON)
		reason[0] = '\0';
	else if (x->body_kind == BODY_SSE)
		snprintf(reason, len, "stream ended without a response");
	else
		snprintf(reason, len, "HTTP %ld without a response", x->status);
}

/*
 * The gateway ended a call's SSE stream before its answer, having given
 * an event id (SEP-1699: a server may close a stream at any time and
 * expects the client to GET the rest with Last-Event-ID, after the retry
 * it said).  1 when x waits to do that; resumes that bring nothing new
 * are counted, and past UPSTREAM_RESUME_MAX the call fails.
 */
static int
call_resume(struct xfer *x, CURLcode rc)
{
	const char	*id = sse_lastid(&x->sse);
	long		 retry = sse_retry(&x->sse);

	if (x->answered || rc != CURLE_OK || x->status != 200 ||
	    x->body_kind != BODY_SSE)
		return (0);
	if (id[0] != '\0' && strcmp(id, x->lastid) != 0) {
		if (strlen(id) > UPSTREAM_EVENT_ID_MAX)
			return (0);
		strlcpy(x->lastid, id, sizeof(x->lastid));
		x->resumes = 0;
	} else if (x->lastid[0] == '\0' || ++x->resumes > UPSTREAM_RESUME_MAX)
		return (0);
	if (retry < 0)
		retry = UPSTREAM_RESUME_DELAY_MS;
	if (retry > UPSTREAM_RESUME_DELAY_MAX_MS)
		retry = UPSTREAM_RESUME_DELAY_MAX_MS;
	/*
	 * The first time at once, whatever the retry: a server that closes
	 * a call's stream to make us poll may finish the call meanwhile,
	 * and some (the TypeScript SDK's, 1.2x) keep its answer only for a
	 * stream that is there to take it.  Later resumes wait as asked.
	 */
	if (!x->resumed)
		retry = 0;
	x->resumed = 1;
	log_debug("request %llu: stream closed before the answer, resuming "
	    "after event %s in %ld ms", (unsigned long long)x->id, x->lastid,
	    retry);
	x->resume_at = now_ms() + (uint64_t)retry;
	xq_move(x, &calls.resuming);
	return (1);
}

/* ms until the next resume is due, -1 when none waits. */
int
call_timeout(uint64_t now)
{
	struct xfer	*x;
	int		 t = -1, w;

	TAILQ_FOREACH(x, &calls.resuming, entry) {
		w = x->resume_at <= now ? 0 : (int)(x->resume_at - now);
		if (t == -1 || w < t)
			t = w;
	}
	return (t);
}

void
call_run(uint64_t now)
{
	struct xfer	*x, *next;

	for (x = TAILQ_FIRST(&calls.resuming); x != NULL; x = next) {
		next = TAILQ_NEXT(x, entry);
		if (x->resume_at > now)
			continue;
		if (x->session->reinit || x->gen != x->session->gen) {
			/* Its session is gone: the stream with it. */
			call_abort(x, "the gateway closed the call's stream and "
			    "the session it belonged to ended");
			continue;
		}
		xfer_reconnect(x, x->lastid);
	}
}

static void
call_done(struct xfer *x, CURLcode rc)
{
	char	reason[WORKER_REASON_MAX];

	if (!x->answered && rc == CURLE_OK && x->status == 404 &&
	    x->had_session && x->reinits < UPSTREAM_REINIT_MAX) {
		/* The gateway forgot our session: a new one, then again. */
		x->reinits++;
		xq_move(x, &x->session->waiting);
		if (x->gen == x->session->gen)
			client_reinit(x->session);
		else if (!x->session->reinit)
			xfer_post(x, xfer_timeout(x));
		return;
	}
	if (call_resume(x, rc))
		return;
	if (!x->answered) {
		call_no_answer(x, rc, reason, sizeof(reason));
		if (x->lastid[0] != '\0' && reason[0] != '\0')
			strlcat(reason, " (resumed after its last event)",
			    sizeof(reason));
		if (reason[0] == '\0')
			call_answer(x, x->resp.p, x->resp.len);
		else
			sup_send_reason(MSG_CALLFAIL, x->id, reason);
	}
	call_forget(x);
	call_count_connect(rc);
}

/*
 * The gateway's host name was resolved once, before the sandbox.  When
 * calls keep failing to connect, the name may point elsewhere now: exit
 * (temporary failure) and let a new worker resolve it again.  A URL with
 * an address has nothing to re-resolve and keeps trying call by call.
 */
static void
call_count_connect(CURLcode rc)
{
	if (rc != CURLE_COULDNT_CONNECT) {
		calls.connect_fails = 0;
		return;
	}
	if (xs.resolve != NULL &&
	    ++calls.connect_fails >= UPSTREAM_CONNECT_FAILS_MAX)
		sup_fail(EX_UNAVAILABLE, "%d calls in a row could not "
		    "connect to %s; resolving its name again",
		    calls.connect_fails, xs.url);
}

/* At exit: the transfers themselves are freed with their queues. */
void
call_free(void)
{
	xfer_free_queue(&calls.resuming);
	RB_INIT(&calls.tree);
	calls.n = 0;
}
