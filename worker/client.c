/*
 * The MCP client: the upstream session and what it takes to keep it.
 * initialize, notifications/initialized, then the lists (listing.c),
 * sent to the supervisor as READY; a new session when the gateway
 * forgets ours (HTTP 404 on a call, call.c) or when clients can do more
 * than the session declared (CAPS), the held requests sent once it is
 * there; the standalone GET stream, which is how the gateway says
 * list_changed and sends notifications outside any call; and the
 * gateway's own requests: ping answered here, the others (sampling,
 * elicitation, roots) relayed to the supervisor, whose answer comes back
 * as SRESPONSE.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <json-c/json.h>

#include "jsonrpc.h"
#include "mcp-version.h"
#include "mesh-proto.h"
#include "upstream.h"
#include "util.h"
#include "xmalloc.h"

static struct {
	struct up_session	 session;	/* the one there is, today */
	unsigned		 nextid;
	int			 ready;		/* READY sent */
	struct json_object	*caps;		/* client capabilities to declare */
	struct json_object	*declared;	/* ... declared by this session */
} cl;

static void	 client_message(struct xfer *, const char *, size_t);
static void	 client_init_start(struct up_session *);
static void	 client_init_done(struct xfer *, CURLcode);
static void	 client_initialized_done(struct xfer *, CURLcode);
static void	 client_reinit_done(struct up_session *);
static void	 client_post_done(struct xfer *, CURLcode);
static void	 client_get_start(struct up_session *);
static void	 client_get_done(struct xfer *, CURLcode);
static struct json_object *client_caps_now(void);

struct up_session *
client_session(void)
{
	return (&cl.session);
}

int
upstream_ready(void)
{
	return (cl.ready);
}

void
upstream_start(void)
{
	struct up_session	*s = &cl.session;

	TAILQ_INIT(&s->waiting);
	s->hdrs = xfer_hdrs_new(s);
	client_init_start(s);
}

/*
 * One message on the SSE stream of our own request or of the GET stream:
 * the response we wait for is kept for its transfer's end.
 */
static void
client_message(struct xfer *x, const char *data, size_t len)
{
	struct json_object	*m, *mid;
	const char		*why;
	enum jsonrpc_kind	 kind;

	if ((m = jsonrpc_parse(data, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    (kind = jsonrpc_check(m, &why)) == JSONRPC_INVALID) {
		log_warnx("bad message on SSE stream: %s", why);
		json_object_put(m);
		return;
	}
	if (kind == JSONRPC_REQUEST)
		client_server_request(0, x->session, m, data, len);
	else if (kind == JSONRPC_NOTIFICATION && x->kind == XFER_GET) {
		if (!listing_changed(x->session, jsonrpc_method(m)))
			sup_send(MSG_NOTIFY_UP, 0, data, len);
	} else if (kind == JSONRPC_RESPONSE && x->result == NULL &&
	    (mid = jsonrpc_id(m)) != NULL &&
	    json_object_is_type(mid, json_type_string) &&
	    strcmp(json_object_get_string(mid), x->rid) == 0) {
		x->result = m;
		return;
	}
	json_object_put(m);
}

/*
 * The JSON-RPC response to one of our own requests, from a JSON body or
 * kept from the SSE stream.  NULL with *ex and the reason on failure; a
 * JSON-RPC error response is a failure too.
 */
struct json_object *
client_answer(struct xfer *x, CURLcode rc, int *ex, char *buf, size_t len)
{
	struct json_object	*m = NULL, *mid, *e;
	const char		*why = NULL;
	char			 esc[UPSTREAM_ERROR_SNIPPET * 4 + 1];

	if ((*ex = xfer_outcome(x, rc, buf, len)) != 0)
		return (NULL);
	*ex = EX_PROTOCOL;
	if (x->body_kind == BODY_SSE) {
		if ((m = x->result) == NULL) {
			snprintf(buf, len, "SSE stream from %s ended "
			    "without a response", xs.url);
			return (NULL);
		}
		x->result = NULL;
	} else if ((m = jsonrpc_parse(x->resp.p, x->resp.len, JSON_DEPTH_MAX,
	    &why)) == NULL || jsonrpc_check(m, &why) != JSONRPC_RESPONSE ||
	    (mid = jsonrpc_id(m)) == NULL ||
	    !json_object_is_type(mid, json_type_string) ||
	    strcmp(json_object_get_string(mid), x->rid) != 0) {
		log_escape(esc, sizeof(esc), x->resp.p != NULL ? x->resp.p : "",
		    x->resp.len < UPSTREAM_ERROR_SNIPPET ? x->resp.len :
		    UPSTREAM_ERROR_SNIPPET);
		snprintf(buf, len, "%s is not an MCP server (%s): %s", xs.url,
		    why != NULL ? why : "not the response wanted", esc);
		json_object_put(m);
		return (NULL);
	}
	if (json_object_object_get_ex(m, "error", &e)) {
		snprintf(buf, len, "%s answered %s with an error: %.200s",
		    xs.url, x->rid, json_object_to_json_string_ext(e,
		    JSON_C_TO_STRING_PLAIN));
		json_object_put(m);
		return (NULL);
	}
	*ex = 0;
	return (m);
}

/* POST one of our own requests, within the session's running deadline. */
struct xfer *
client_request(struct up_session *s, const char *method,
    struct json_object *params, enum xfer_kind kind,
    void (*done)(struct xfer *, CURLcode))
{
	struct json_object	*id, *m;
	struct xfer		*x;
	const char		*str;
	size_t			 len;
	uint64_t		 now = now_ms();

	x = xfer_get(s, kind);
	x->message = client_message;
	x->done = done;
	/* A string id can never collide with the supervisor's integers. */
	snprintf(x->rid, sizeof(x->rid), "mesh-%u", ++cl.nextid);
	id = json_object_new_string(x->rid);
	if (kind == XFER_INITIALIZED)
		m = jsonrpc_notification(method, params);
	else
		m = jsonrpc_request(id, method, params);
	str = jsonrpc_string(m, &len);
	xbuf_set(&x->body, str, len);
	json_object_put(m);
	json_object_put(id);
	xfer_post(x, s->deadline > now ? (long)(s->deadline - now) : 1);
	return (x);
}

/*
 * Our own request failed.  Before READY the worker cannot start; a
 * re-initialize that fails ends it too, after answering what it held; a
 * re-list that fails leaves the old list in place (listing.c).
 */
void
client_fail(struct xfer *failed, int ex, const char *reason)
{
	struct up_session	*s = failed->session;
	struct xfer		*x;

	if (!cl.ready)
		sup_fail(ex, "%s", reason);
	if (failed->kind == XFER_LIST) {
		listing_failed(failed, reason);
		return;
	}
	while ((x = TAILQ_FIRST(&s->waiting)) != NULL) {
		if (x->kind == XFER_CALL)
			call_abort(x, reason);
		else
			xfer_put(x);
	}
	log_warnx("re-initialize failed: %s", reason);
	worker_exit(ex);
}

static void
client_init_start(struct up_session *s)
{
	struct json_object	*p, *ci;

	s->deadline = now_ms() + UPSTREAM_INIT_TIMEOUT_MS;
	s->id[0] = s->version[0] = s->newid[0] = '\0';
	xfer_hdrs_unref(s->hdrs);
	s->hdrs = xfer_hdrs_new(s);
	p = json_object_new_object();
	json_object_object_add(p, "protocolVersion",
	    json_object_new_string(mcp_version_newest(MCP_ERA_LEGACY)->name));
	/* What the clients we relay to can do (CONFIG, then CAPS). */
	json_object_put(cl.declared);
	cl.declared = json_object_get(client_caps_now());
	json_object_object_add(p, "capabilities",
	    json_object_get(cl.declared));
	ci = json_object_new_object();
	json_object_object_add(ci, "name", json_object_new_string("mcp-mesh"));
	json_object_object_add(ci, "version",
	    json_object_new_string(worker_conf.mesh_version));
	json_object_object_add(p, "clientInfo", ci);
	client_request(s, "initialize", p, XFER_INIT, client_init_done);
}

/* The negotiated version, or NULL and the reason. */
static const struct mcp_version *
client_version(struct json_object *r, char *reason, size_t len)
{
	const struct mcp_version *ver;
	struct json_object	*v;
	const char		*s;
	char			 esc[64];

	if (!json_object_is_type(r, json_type_object) ||
	    !json_object_object_get_ex(r, "protocolVersion", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		snprintf(reason, len, "%s: initialize result without "
		    "protocolVersion", xs.url);
		return (NULL);
	}
	s = json_object_get_string(v);
	if ((ver = mcp_version_find(s, json_object_get_string_len(v))) ==
	    NULL || !(ver->era & MCP_ERA_LEGACY)) {
		log_escape(esc, sizeof(esc), s, strlen(s));
		snprintf(reason, len, "%s speaks unsupported protocol version "
		    "%s", xs.url, esc);
		return (NULL);
	}
	return (ver);
}

static void
client_init_done(struct xfer *x, CURLcode rc)
{
	struct up_session	*s = x->session;
	struct json_object	*m, *r;
	const struct mcp_version *ver;
	char			 reason[WORKER_REASON_MAX];
	int			 ex;

	if ((m = client_answer(x, rc, &ex, reason, sizeof(reason))) == NULL) {
		client_fail(x, ex, reason);
		return;
	}
	if (!json_object_object_get_ex(m, "result", &r))
		r = NULL;
	if ((ver = client_version(r, reason, sizeof(reason))) == NULL) {
		json_object_put(m);
		client_fail(x, EX_PROTOCOL, reason);
		return;
	}
	strlcpy(s->version, ver->name, sizeof(s->version));
	strlcpy(s->id, s->newid, sizeof(s->id));
	s->gen++;
	xfer_hdrs_unref(s->hdrs);
	s->hdrs = xfer_hdrs_new(s);
	json_object_put(s->init);
	s->init = json_object_get(r);
	json_object_put(m);
	xfer_put(x);
	log_debug("initialized, protocol %s, session %s", s->version,
	    s->id[0] != '\0' ? "issued" : "none");
	client_request(s, "notifications/initialized", NULL, XFER_INITIALIZED,
	    client_initialized_done);
}

static void
client_initialized_done(struct xfer *x, CURLcode rc)
{
	struct up_session	*s = x->session;
	char			 reason[WORKER_REASON_MAX];
	int			 ex;

	if ((ex = xfer_outcome(x, rc, reason, sizeof(reason))) != 0) {
		client_fail(x, ex, reason);
		return;
	}
	xfer_put(x);
	if (s->reinit)
		client_reinit_done(s);
	else
		listing_start(s);
}

/* A new session, the requests held meanwhile (s->waiting). */
static void
client_renew(struct up_session *s, const char *why)
{
	if (s->reinit)
		return;
	log_info("%s, initializing again", why);
	s->reinit = 1;
	client_init_start(s);
}

/* A call found the session gone (HTTP 404): initialize again, once. */
void
client_reinit(struct up_session *s)
{
	client_renew(s, "session expired");
}

/* The client capabilities to declare: CONFIG's until CAPS says more. */
static struct json_object *
client_caps_now(void)
{
	const char	*why;

	if (cl.caps == NULL && worker_conf.client_caps != NULL &&
	    (cl.caps = jsonrpc_parse(worker_conf.client_caps,
	    strlen(worker_conf.client_caps), JSON_DEPTH_MAX, &why)) == NULL)
		log_warnx("client capabilities in CONFIG: %s", why);
	if (cl.caps == NULL)
		cl.caps = json_object_new_object();
	return (cl.caps);
}

/* Has want a capability (a member) that have lacks? */
static int
client_caps_more(struct json_object *want, struct json_object *have)
{
	json_object_object_foreach(want, key, val) {
		(void)val;
		if (!json_object_object_get_ex(have, key, NULL))
			return (1);
	}
	return (0);
}

/*
 * MSG_CAPS: what the mesh's clients can do now.  When that is more than
 * the session declared, a gateway would never ask it of us (sampling,
 * say): a new session declares it.  Less is not worth a new session: a
 * request a client cannot serve is refused, clearly, by the supervisor.
 */
void
client_caps(const char *buf, size_t len)
{
	struct json_object	*o, *c;
	const char		*why;

	if ((o = jsonrpc_parse(buf, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    !json_object_object_get_ex(o, "capabilities", &c) ||
	    !json_object_is_type(c, json_type_object)) {
		log_warnx("CAPS from the supervisor: %s", o == NULL ? why :
		    "no capabilities object");
		worker_exit(EX_SOFTWARE);
	}
	json_object_put(cl.caps);
	cl.caps = json_object_get(c);
	json_object_put(o);
	if (!cl.ready || cl.declared == NULL ||
	    !client_caps_more(cl.caps, cl.declared))
		return;
	client_renew(&cl.session, "clients can do more than this session "
	    "declared");
}

/* The new session is there: send what waited for it. */
static void
client_reinit_done(struct up_session *s)
{
	struct xfer	*x;

	s->reinit = 0;
	log_info("new session established");
	while ((x = TAILQ_FIRST(&s->waiting)) != NULL)
		xfer_post(x, xfer_timeout(x));
	/*
	 * The GET stream belonged to the old session: what the gateway
	 * sends the new one outside any call (a sampling request of a tool
	 * that gave no related request, a list_changed) goes to a stream of
	 * the new one.
	 */
	if ((x = s->get) != NULL) {
		s->get = NULL;
		xfer_detach(x);
		xfer_put(x);
	}
	if (cl.ready)
		client_get_start(s);
}

static void
client_post_done(struct xfer *x, CURLcode rc)
{
	char	reason[WORKER_REASON_MAX];

	if (xfer_outcome(x, rc, reason, sizeof(reason)) != 0)
		log_warnx("POST of a notification or answer: %s", reason);
	xfer_put(x);
}

/* A notification or answer to the gateway; nobody waits for its result. */
void
client_post_text(struct up_session *s, const char *buf, size_t len)
{
	struct xfer	*x;

	x = xfer_get(s, XFER_POST);
	x->message = client_message;
	x->done = client_post_done;
	xbuf_set(&x->body, buf, len);
	if (s->reinit) {
		xq_move(x, &s->waiting);
		return;
	}
	xfer_post(x, xfer_timeout(x));
}

/*
 * The gateway asks us something on an SSE stream, during call id (0: on
 * the GET stream, during none).  ping is answered here; sampling,
 * elicitation and roots are the client's to answer: relayed to the
 * supervisor, which finds the client of that call (SREQUEST), and whose
 * answer comes back as SRESPONSE.
 */
void
client_server_request(uint64_t id, struct up_session *s, struct json_object *m,
    const char *data, size_t len)
{
	struct json_object	*a;
	const char		*str;
	size_t			 alen;

	if (strcmp(jsonrpc_method(m), "ping") != 0) {
		sup_send(MSG_SREQUEST, id, data, len);
		return;
	}
	a = jsonrpc_result(jsonrpc_id(m), json_object_new_object());
	str = jsonrpc_string(a, &alen);
	client_post_text(s, str, alen);
	json_object_put(a);
}

/* MSG_SRESPONSE: a client's answer (the gateway's own id in it). */
void
client_answer_gateway(const char *buf, size_t len)
{
	client_post_text(&cl.session, buf, len);
}

/* The standalone GET stream: how the gateway says list_changed. */
static void
client_get_start(struct up_session *s)
{
	struct xfer	*x;

	if (s->get_off || s->get != NULL || s->reinit)
		return;
	s->get_retry_at = 0;
	x = xfer_get(s, XFER_GET);
	x->message = client_message;
	x->done = client_get_done;
	xfer_stream(x);
	s->get = x;
}

static void
client_get_done(struct xfer *x, CURLcode rc)
{
	struct up_session	*s = x->session;
	char			 reason[WORKER_REASON_MAX];

	s->get = NULL;
	if (rc == CURLE_OK && x->status == 404 && s->id[0] != '\0') {
		/* The session is gone, not the stream: a new one has one. */
		xfer_put(x);
		client_reinit(s);
		return;
	}
	if (rc == CURLE_OK && (x->status == 405 || x->status == 404 ||
	    x->status == 400)) {
		log_debug("no GET stream offered (HTTP %ld)", x->status);
		s->get_off = 1;
	} else {
		if (xfer_outcome(x, rc, reason, sizeof(reason)) != 0)
			log_debug("GET stream: %s", reason);
		s->get_retry_at = now_ms() + UPSTREAM_GET_RETRY_MS;
	}
	xfer_put(x);
}

/* The handshake is over (READY went): the GET stream may open. */
void
client_ready(struct up_session *s)
{
	cl.ready = 1;
	client_get_start(s);
}

/* How long the loop may sleep for us: the GET stream's retry, a re-list. */
int
client_timeout(uint64_t now)
{
	uint64_t	at = cl.session.get_retry_at;
	int		t = -1, w;

	if (at != 0)
		t = now >= at ? 0 : (at - now < INT32_MAX ? (int)(at - now) :
		    INT32_MAX);
	if ((w = listing_timeout(now)) != -1 && (t == -1 || w < t))
		t = w;
	if ((w = call_timeout(now)) != -1 && (t == -1 || w < t))
		t = w;
	return (t);
}

void
client_run(uint64_t now)
{
	struct up_session	*s = &cl.session;

	if (s->get_retry_at != 0 && now >= s->get_retry_at)
		client_get_start(s);
	listing_run(s, now);
	call_run(now);
}

/* At exit: the transfers themselves are freed with their queues. */
void
client_free(void)
{
	struct up_session	*s = &cl.session;

	if (s->hdrs != NULL)
		xfer_free_queue(&s->waiting);
	s->get = NULL;
	xfer_hdrs_unref(s->hdrs);
	s->hdrs = NULL;
	json_object_put(s->init);
	s->init = NULL;
	json_object_put(cl.caps);
	json_object_put(cl.declared);
	cl.caps = cl.declared = NULL;
	listing_free();
}
