/*
 * POST /mcp: one JSON-RPC message, a 2025-03-26 batch, or initialize.
 * Each request is a call (mcp.c) whose replies come back through
 * http_ops into its slot.  When the answers come alone they are sent as
 * one application/json response (an array for a batch); when a message
 * (progress, a request to the client) comes first, the response becomes
 * an SSE stream on which the messages and then the answers travel as
 * events, and it ends with the last answer.
 *
 * One answer may be at most HTTP_ANSWER_MAX bytes, a batch's answers
 * together too: past that an answer is replaced by an error, so a small
 * batch cannot make the mesh build a huge one.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "mesh.h"
#include "http.h"
#include "xmalloc.h"

static void	 http_slot_message(void *, const char *, size_t);
static void	 http_slot_answer(void *, char *, size_t);
static enum MHD_Result http_answer(struct hconn *);

static const struct reply_ops http_ops = { http_slot_message, http_slot_answer };

/* --- slots and their answers --------------------------------------------- */

/* The answer that takes a too-large one's place. */
static char *
http_too_large(struct hslot *slot, size_t *len)
{
	struct json_object	*e;
	char			 msg[160];
	const char		*s;
	char			*text;

	snprintf(msg, sizeof(msg), "the answer is too large: over %d bytes "
	    "(the answers of a batch count together)", HTTP_ANSWER_MAX);
	e = jsonrpc_error(slot->id, JSONRPC_INTERNAL_ERROR, msg, NULL);
	s = jsonrpc_string(e, len);
	text = xstrndup(s, *len);
	json_object_put(e);
	return (text);
}

static void
http_slot_answer(void *arg, char *json, size_t len)
{
	struct hslot	*slot = arg;
	struct hconn	*hc = slot->hc;

	slot->call = NULL;
	slot->answered = 1;
	hc->r.nwait--;
	if (json != NULL && hc->r.answered + len > HTTP_ANSWER_MAX) {
		log_warnx("http: an answer of %zu bytes (%zu before it) is over "
		    "%d: replaced by an error", len, hc->r.answered,
		    HTTP_ANSWER_MAX);
		free(json);
		json = http_too_large(slot, &len);
	}
	if (json != NULL)
		hc->r.answered += len;
	if (hc->r.sse) {
		if (json != NULL)
			http_sse_event(hc, json, len);
		free(json);
		http_events_wake(hc);
		return;
	}
	if (json != NULL) {
		slot->answer = json;
		slot->len = len;
		http_hold(hc, len);
	}
	if (hc->r.nwait == 0 && hc->suspended)
		http_resume(hc);
}

/*
 * The response becomes SSE: answers already in (a batch's, or its
 * refused elements') go first, as events of their own.
 */
static void
http_to_events(struct hconn *hc)
{
	struct hslot	*slot;
	unsigned	 i;

	hc->r.sse = 1;
	for (i = 0; i < hc->r.nslots; i++) {
		slot = &hc->r.slots[i];
		if (slot->answer == NULL)
			continue;
		http_unhold(hc, slot->len);
		http_sse_event(hc, slot->answer, slot->len);
		free(slot->answer);
		slot->answer = NULL;
	}
}

/* A message before the answers: from now on this response is SSE. */
static void
http_slot_message(void *arg, const char *json, size_t len)
{
	struct hslot	*slot = arg;
	struct hconn	*hc = slot->hc;

	if (hc->gone)
		return;
	if (buf_used(&hc->out) + len > HTTP_SSE_QUEUE_MAX) {
		/* Progress and logs may be lost; the answers will not be. */
		log_debug("http: a client not reading its events: one dropped");
		return;
	}
	if (!hc->r.sse)
		http_to_events(hc);
	http_sse_event(hc, json, len);
	if (hc->r.state == HS_EVENTS)
		http_events_wake(hc);
	else if (hc->suspended)
		http_resume(hc);	/* the handler opens the stream */
}

/* Hand one checked request to mcp.c; the answer may come at once. */
static void
http_call(struct hconn *hc, struct hslot *slot, struct session *s,
    struct json_object *req)
{
	struct call	*c;

	slot->hc = hc;
	slot->id = json_object_get(jsonrpc_id(req));
	hc->r.nwait++;
	c = mcp_handle(&s->origin, req, JSONRPC_REQUEST, &http_ops, slot);
	if (!slot->answered)
		slot->call = c;
}

void
http_abandon_all(struct hconn *hc)
{
	struct call	*c;
	unsigned	 i;

	for (i = 0; i < hc->r.nslots; i++) {
		if ((c = hc->r.slots[i].call) == NULL)
			continue;
		/* Cleared first: no answer may reach this slot any more. */
		hc->r.slots[i].call = NULL;
		hc->r.nwait--;
		call_abandon(c);
	}
}

static void
http_bind(struct hconn *hc, struct hsess *hs)
{
	hc->r.hs = hs;
	hc->r.bound = 1;
	TAILQ_INSERT_TAIL(&hs->conns, hc, entry);
}

static void
http_unbind(struct hconn *hc)
{
	if (hc->r.bound)
		TAILQ_REMOVE(&hc->r.hs->conns, hc, entry);
	hc->r.bound = 0;
}

/* Answers still owed to hc are not wanted any more. */
void
http_forget(struct hconn *hc)
{
	struct hsess	*hs = hc->r.hs;

	http_abandon_all(hc);
	http_unbind(hc);
	if (hc->r.init && hs != NULL) {
		/* The client never learnt the id: nobody can use it. */
		hc->r.init = 0;
		hc->r.hs = NULL;
		http_session_end(hs);
	}
}

void
http_req_clear(struct hconn *hc)
{
	unsigned	i;

	for (i = 0; i < hc->r.nslots; i++) {
		free(hc->r.slots[i].answer);
		json_object_put(hc->r.slots[i].id);
	}
	if (hc->r.slots != &hc->r.one)
		free(hc->r.slots);
	memset(&hc->r, 0, sizeof(hc->r));
}

/* Answers all in (or none owed): send them, or wait; or stream events. */
static enum MHD_Result
http_settle(struct hconn *hc)
{
	if (hc->r.sse)
		return (http_events_open(hc, NULL));
	if (hc->r.nwait == 0)
		return (http_answer(hc));
	hc->r.state = HS_WAIT;
	http_suspend(hc);
	return (MHD_YES);
}

/* A slot's answer, out of the slot and its hold. */
static char *
http_slot_take(struct hconn *hc, struct hslot *slot, size_t *len)
{
	char	*text = slot->answer;

	*len = slot->len;
	slot->answer = NULL;
	http_unhold(hc, slot->len);
	return (text);
}

/* [a,b,...]: one copy of the answers. */
static enum MHD_Result
http_answer_batch(struct hconn *hc)
{
	struct hslot	*slot;
	char		*text, *a;
	size_t		 need = 2, len = 0, n;
	unsigned	 i, k = 0;

	for (i = 0; i < hc->r.nslots; i++)
		need += hc->r.slots[i].len + 1;
	text = xmalloc(need);
	text[len++] = '[';
	for (i = 0; i < hc->r.nslots; i++) {
		slot = &hc->r.slots[i];
		if (slot->answer == NULL)
			continue;
		if (k++ > 0)
			text[len++] = ',';
		a = http_slot_take(hc, slot, &n);
		memcpy(text + len, a, n);
		len += n;
		free(a);
	}
	text[len++] = ']';
	if (k == 0) {
		/* Only notifications, responses and cancels: nothing to say. */
		free(text);
		return (http_empty_reply(hc, MHD_HTTP_ACCEPTED));
	}
	return (http_send(hc, MHD_HTTP_OK, text, len, NULL, NULL));
}

static enum MHD_Result
http_answer(struct hconn *hc)
{
	struct hsess	*hs = hc->r.hs;
	const char	*sid = NULL;
	char		*text;
	size_t		 len;

	http_unbind(hc);
	if (hc->r.ended)
		return (http_error(hc, MHD_HTTP_NOT_FOUND, MCP_SESSION_NOT_FOUND,
		    "Session not found"));
	if (hc->r.batch)
		return (http_answer_batch(hc));
	if (hc->r.one.answer == NULL)
		return (http_empty_reply(hc, MHD_HTTP_ACCEPTED));	/* cancelled */
	text = http_slot_take(hc, &hc->r.one, &len);
	if (hc->r.init) {
		hc->r.init = 0;
		/* mcp.c set initialized only if it accepted the client. */
		if (hs->s->initialized) {
			sid = hs->s->id;
			log_debug("http: %s: initialized (%s)",
			    hs->s->origin.name, hs->s->version);
		} else {
			hc->r.hs = NULL;
			http_session_end(hs);
		}
	}
	return (http_send(hc, MHD_HTTP_OK, text, len,
	    sid != NULL ? HTTP_SESSION_HEADER : NULL, sid));
}

/* --- the request --------------------------------------------------------- */

enum MHD_Result
http_post_begin(struct hconn *hc)
{
	const char	*cl;

	if (!http_accepts(hc->conn, 1))
		return (http_error(hc, MHD_HTTP_NOT_ACCEPTABLE, MCP_BAD_REQUEST,
		    "Not Acceptable: Client must accept both application/json "
		    "and text/event-stream"));
	if (!http_is_json(hc->conn))
		return (http_error(hc, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		    MCP_BAD_REQUEST,
		    "Unsupported Media Type: Content-Type must be "
		    "application/json"));
	if (http_content_length_conflict(hc->conn))
		return (http_error(hc, MHD_HTTP_BAD_REQUEST, MCP_BAD_REQUEST,
		    "Bad Request: Content-Length headers that differ"));
	cl = MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && strtoull(cl, NULL, 10) > HTTP_BODY_MAX)
		return (http_error(hc, MHD_HTTP_CONTENT_TOO_LARGE,
		    JSONRPC_INVALID_REQUEST, "Payload Too Large: body exceeds "
		    "%d bytes", HTTP_BODY_MAX));
	hc->r.state = HS_BODY;
	return (MHD_YES);
}

enum MHD_Result
http_post_data(struct hconn *hc, const char *data, size_t *size)
{
	size_t	 n = *size;

	*size = 0;
	if (hc->r.too_large)
		return (MHD_YES);
	if (buf_used(&hc->body) + n > HTTP_BODY_MAX) {
		/*
		 * A chunked body has no Content-Length to refuse early, and
		 * MHD takes no response in mid-body: the rest is dropped
		 * (within the request deadline), then 413 is answered.
		 */
		hc->r.too_large = 1;
		buf_reset(&hc->body);
		return (MHD_YES);
	}
	buf_append(&hc->body, data, n);
	return (MHD_YES);
}

static enum MHD_Result
http_post_initialize(struct hconn *hc, struct json_object *msg)
{
	enum MHD_Result	 ret;

	if (MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND,
	    HTTP_SESSION_HEADER) != NULL) {
		if (http_session(hc, &ret) == NULL)
			return (ret);
		return (http_error(hc, MHD_HTTP_BAD_REQUEST,
		    JSONRPC_INVALID_REQUEST,
		    "Invalid Request: Server already initialized"));
	}
	if (!http_session_room())
		return (http_send_json(hc, MHD_HTTP_SERVICE_UNAVAILABLE,
		    jsonrpc_error(jsonrpc_id(msg), MCP_BAD_REQUEST,
		    "Service Unavailable: too many sessions", NULL),
		    NULL, NULL));
	/* mcp.c answers initialize on a session that must exist already. */
	http_bind(hc, http_session_new());
	hc->r.init = 1;
	hc->r.slots = &hc->r.one;
	hc->r.nslots = 1;
	http_call(hc, &hc->r.one, hc->r.hs->s, msg);
	return (http_settle(hc));
}

/* One element of a batch; a slot is used when an answer is owed. */
static void
http_batch_one(struct hconn *hc, struct session *s, struct json_object *m)
{
	struct hslot		*slot = &hc->r.slots[hc->r.nslots];
	struct json_object	*e, *eid = NULL;
	enum jsonrpc_kind	 kind;
	const char		*why;
	size_t			 len;

	kind = jsonrpc_check(m, &why);
	if (kind == JSONRPC_REQUEST &&
	    strcmp(jsonrpc_method(m), "initialize") == 0) {
		why = "Invalid Request: initialize cannot be batched";
		eid = jsonrpc_id(m);
		kind = JSONRPC_INVALID;
	}
	if (kind == JSONRPC_REQUEST) {
		hc->r.nslots++;
		http_call(hc, slot, s, m);
		return;
	}
	if (kind != JSONRPC_INVALID) {
		mcp_handle(&s->origin, m, kind, NULL, NULL);
		return;
	}
	hc->r.nslots++;
	slot->hc = hc;
	slot->answered = 1;
	e = jsonrpc_error(eid, JSONRPC_INVALID_REQUEST, why, NULL);
	slot->answer = xstrdup(jsonrpc_string(e, &len));
	slot->len = len;
	hc->r.answered += len;
	http_hold(hc, len);
	json_object_put(e);
}

static enum MHD_Result
http_post_batch(struct hconn *hc, struct json_object *arr)
{
	struct session	*s;
	enum MHD_Result	 ret;
	size_t		 i, n;

	if ((s = http_session(hc, &ret)) == NULL)
		return (ret);
	if (!(mcp_origin_version(&s->origin)->flags & MCP_VF_BATCH))
		return (http_error(hc, MHD_HTTP_BAD_REQUEST,
		    JSONRPC_INVALID_REQUEST, "batches are not supported in "
		    "protocol version %s", s->version));
	n = json_object_array_length(arr);
	if (n == 0 || n > HTTP_BATCH_MAX)
		return (http_error(hc, MHD_HTTP_BAD_REQUEST,
		    JSONRPC_INVALID_REQUEST, "Invalid Request: a batch holds "
		    "1 to %d messages", HTTP_BATCH_MAX));
	hc->r.batch = 1;
	hc->r.slots = xcalloc(n, sizeof(*hc->r.slots));
	http_bind(hc, s->frontend);
	for (i = 0; i < n; i++) {
		http_batch_one(hc, s, json_object_array_get_idx(arr, i));
		/* A session may end from inside mcp.c: stop feeding it. */
		if (hc->r.ended)
			break;
	}
	return (http_settle(hc));
}

static enum MHD_Result
http_post_one(struct hconn *hc, struct json_object *msg)
{
	struct session		*s;
	const char		*why;
	enum jsonrpc_kind	 kind;
	enum MHD_Result		 ret;

	kind = jsonrpc_check(msg, &why);
	if (kind == JSONRPC_INVALID)
		return (http_error(hc, MHD_HTTP_BAD_REQUEST,
		    JSONRPC_INVALID_REQUEST, "Invalid Request: %s", why));
	if (kind == JSONRPC_REQUEST &&
	    strcmp(jsonrpc_method(msg), "initialize") == 0)
		return (http_post_initialize(hc, msg));
	if ((s = http_session(hc, &ret)) == NULL)
		return (ret);
	if (kind != JSONRPC_REQUEST) {
		mcp_handle(&s->origin, msg, kind, NULL, NULL);
		return (http_empty_reply(hc, MHD_HTTP_ACCEPTED));
	}
	http_bind(hc, s->frontend);
	hc->r.slots = &hc->r.one;
	hc->r.nslots = 1;
	http_call(hc, &hc->r.one, s, msg);
	return (http_settle(hc));
}

/* The body is complete. */
enum MHD_Result
http_post(struct hconn *hc)
{
	struct json_object	*msg;
	const char		*why;
	enum MHD_Result		 ret;

	evtimer_del(hc->deadline);
	if (hc->r.too_large)
		return (http_error(hc, MHD_HTTP_CONTENT_TOO_LARGE,
		    JSONRPC_INVALID_REQUEST, "Payload Too Large: body exceeds "
		    "%d bytes", HTTP_BODY_MAX));
	msg = jsonrpc_parse(buf_used(&hc->body) > 0 ? buf_data(&hc->body) : "",
	    buf_used(&hc->body), JSON_DEPTH_MAX, &why);
	if (msg == NULL)
		return (http_error(hc, MHD_HTTP_BAD_REQUEST, JSONRPC_PARSE_ERROR,
		    "Parse error: %s", why));
	if (json_object_is_type(msg, json_type_array))
		ret = http_post_batch(hc, msg);
	else
		ret = http_post_one(hc, msg);
	json_object_put(msg);
	return (ret);
}

/* Called again after a resume. */
enum MHD_Result
http_post_resumed(struct hconn *hc)
{
	if (hc->gone)
		return (MHD_NO);	/* MHD closes the connection */
	if (hc->r.ended)
		return (http_answer(hc));
	if (hc->r.sse)
		return (http_events_open(hc, NULL));
	if (hc->r.nwait > 0) {
		http_suspend(hc);
		return (MHD_YES);
	}
	return (http_answer(hc));
}
