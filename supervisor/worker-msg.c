/*
 * A worker's socketpair and what comes over it: buffered writes with
 * flow control, reads, and the dispatch table that says what a worker may
 * send in which state, with one handler per message.  Everything a worker
 * sends is untrusted: a bad message kills that worker (worker_kill()),
 * never the supervisor; a worker that floods its log or its tool list is
 * held to a budget instead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "mesh-proto.h"
#include "mesh.h"
#include "xmalloc.h"

#define ST(s)	(1U << (s))

struct worker_handler {
	uint16_t	 type;
	unsigned	 states;	/* ST() mask it is allowed in */
	int		(*fn)(struct worker *, struct msg *);
};

static int	 worker_msg_hello(struct worker *, struct msg *);
static int	 worker_msg_ready(struct worker *, struct msg *);
static int	 worker_msg_fail(struct worker *, struct msg *);
static int	 worker_msg_response(struct worker *, struct msg *);
static int	 worker_msg_callfail(struct worker *, struct msg *);
static int	 worker_msg_notify(struct worker *, struct msg *);
static int	 worker_msg_lists(struct worker *, struct msg *);
static int	 worker_msg_srequest(struct worker *, struct msg *);
static int	 worker_msg_pong(struct worker *, struct msg *);
static int	 worker_msg_log(struct worker *, struct msg *);

static const struct worker_handler worker_handlers[] = {
	{ MSG_HELLO,	ST(WS_STARTING),		worker_msg_hello },
	{ MSG_READY,	ST(WS_STARTING),		worker_msg_ready },
	{ MSG_FAIL,	ST(WS_STARTING) | ST(WS_READY) | ST(WS_STOPPING),
			worker_msg_fail },
	{ MSG_RESPONSE,	ST(WS_READY) | ST(WS_STOPPING),	worker_msg_response },
	{ MSG_CALLFAIL,	ST(WS_READY) | ST(WS_STOPPING),	worker_msg_callfail },
	{ MSG_NOTIFY_UP, ST(WS_READY) | ST(WS_STOPPING), worker_msg_notify },
	{ MSG_LISTS,	ST(WS_READY),			worker_msg_lists },
	{ MSG_SREQUEST,	ST(WS_READY) | ST(WS_STOPPING),	worker_msg_srequest },
	{ MSG_PONG,	ST(WS_STARTING) | ST(WS_READY) | ST(WS_STOPPING),
							worker_msg_pong },
	{ MSG_LOG,	ST(WS_STARTING) | ST(WS_READY) | ST(WS_STOPPING),
							worker_msg_log },
};

/* --- the socketpair ------------------------------------------------------ */


static void
worker_want_write(struct worker *w, int on)
{
	short	ev = (w->read_paused ? 0 : EV_READ) | EV_PERSIST |
		    (on ? EV_WRITE : 0);

	if (event_get_events(w->ev) == ev)
		return;
	event_del(w->ev);
	event_assign(w->ev, ev_base, w->fd, ev, worker_io, w);
	if (ev != EV_PERSIST)
		event_add(w->ev, NULL);
}

static void
worker_read_resume(evutil_socket_t fd, short events, void *arg)
{
	struct worker	*w = arg;

	w->read_paused = 0;
	if (w->fd != -1)
		worker_want_write(w, msg_queued(&w->mb) > 0);
}

/*
 * A worker that sends more than is taken from it (over its log budget,
 * tool lists faster than they are applied) is read ms later: one that
 * floods as fast as it can costs the supervisor one read per pause, not
 * a CPU's worth of reading and dropping.
 */
static void
worker_read_pause(struct worker *w, uint64_t ms)
{
	struct timeval	tv = ms_tv(ms);

	w->read_paused = 1;
	worker_want_write(w, msg_queued(&w->mb) > 0);
	if (w->read_timer == NULL)
		w->read_timer = evtimer_new(ev_base, worker_read_resume, w);
	evtimer_add(w->read_timer, &tv);
}

/* Write what the socket takes; remember when it last took something. */
static int
worker_flush(struct worker *w)
{
	size_t	before = msg_queued(&w->mb);

	if (msg_write(&w->mb) == -1) {
		worker_kill(w, "write to worker: %s", strerror(errno));
		return (-1);
	}
	if (msg_queued(&w->mb) < before)
		w->write_ms = now_ms();
	worker_want_write(w, msg_queued(&w->mb) > 0);
	return (0);
}

/*
 * Queue one message and write at once: most go out without waiting a
 * loop turn.  Calls are refused above WORKER_DOWNQUEUE_HIGH (router.c),
 * so the queue's cap is reached only by a worker that stopped reading.
 */
int
worker_send(struct worker *w, uint16_t type, uint64_t id, const char *data,
    size_t len)
{
	if (w->fd == -1 || w->eof)
		return (-1);
	if (msg_queued(&w->mb) == 0)
		w->write_ms = now_ms();
	if (msg_compose(&w->mb, type, 0, id, data, len) == -1) {
		if (errno == ENOBUFS)
			worker_kill(w, "worker stopped reading (over %d bytes "
			    "queued)", WORKER_DOWNQUEUE_MAX);
		else
			log_warnx("peer %s: message of %zu bytes is over "
			    "the frame limit", w->peer->name, len);
		return (-1);
	}
	return (worker_flush(w));
}

static int
worker_dispatch(struct worker *w, struct msg *m)
{
	size_t	i;

	for (i = 0; i < sizeof(worker_handlers) / sizeof(worker_handlers[0]);
	    i++) {
		if (worker_handlers[i].type != m->hdr.type)
			continue;
		if (!(worker_handlers[i].states & ST(w->state)))
			break;
		return (worker_handlers[i].fn(w, m));
	}
	w->violation = 1;
	worker_kill(w, "worker sent message type %u in state %s",
	    m->hdr.type, worker_state_name(w->state));
	return (-1);
}

void
worker_read(struct worker *w)
{
	struct msg	m;
	long		n;
	int		r;

	if ((n = msg_read(&w->mb)) == 0 || (n == -1 && errno != EAGAIN)) {
		if (n == -1)
			log_warn("peer %s: read from worker", w->peer->name);
		w->eof = 1;
		worker_finish(w);
		return;
	}
	while (w->fd != -1 && (r = msg_get(&w->mb, &m)) != 0) {
		if (r == -1) {
			w->violation = 1;
			worker_kill(w, "malformed frame from worker: %s",
			    strerror(errno));
			return;
		}
		if (worker_dispatch(w, &m) == -1)
			return;
	}
	if (w->shrink && w->fd != -1) {
		/* A tool list came: the buffers it grew are not needed now. */
		w->shrink = 0;
		msgbuf_shrink(&w->mb);
	}
	if (w->log_over && w->fd != -1) {
		w->log_over = 0;
		worker_read_pause(w, WORKER_LOG_PAUSE_MS);
	}
}

void
worker_io(evutil_socket_t fd, short events, void *arg)
{
	struct worker	*w = arg;

	if ((events & EV_WRITE) && worker_flush(w) == -1)
		return;
	if ((events & EV_READ) && w->fd != -1)
		worker_read(w);
}

/* --- messages from the worker -------------------------------------------- */

/* A JSON payload from a worker, through the bounded parser. */
static struct json_object *
worker_json(struct worker *w, struct msg *m, const char *what)
{
	struct json_object	*o;
	const char		*why;

	o = jsonrpc_parse(m->data, m->hdr.len, JSON_DEPTH_MAX, &why);
	if (o == NULL) {
		w->violation = 1;
		worker_kill(w, "worker sent bad JSON in %s: %s", what, why);
	}
	return (o);
}

static void
worker_send_config(struct worker *w)
{
	struct json_object	*cfg;
	struct peer		*p = w->peer;
	const char		*s;
	size_t			 len;

	cfg = json_object_new_object();
	json_object_object_add(cfg, "name", json_object_new_string(p->name));
	json_object_object_add(cfg, "url", json_object_new_string(p->url));
	json_object_object_add(cfg, "transport",
	    json_object_new_string("streamable-http"));
	json_object_object_add(cfg, "node_name",
	    json_object_new_string(conf.name));
	json_object_object_add(cfg, "mesh_version",
	    json_object_new_string(MESH_VERSION));
	json_object_object_add(cfg, "request_timeout_ms",
	    json_object_new_int64(p->timeout_ms));
	json_object_object_add(cfg, "response_max",
	    json_object_new_int64(p->response_max));
	json_object_object_add(cfg, "memory_mb",
	    json_object_new_int64(cgroup_worker_as_mb()));
	if (conf.worker_uid != -1) {
		json_object_object_add(cfg, "uid",
		    json_object_new_int64(conf.worker_uid));
		json_object_object_add(cfg, "gid",
		    json_object_new_int64(conf.worker_gid));
	}
	json_object_object_add(cfg, "sandbox_debug",
	    json_object_new_boolean(conf.sandbox_debug));
	json_object_object_add(cfg, "connect_timeout_ms",
	    json_object_new_int64(UPSTREAM_CONNECT_TIMEOUT_MS));
	json_object_object_add(cfg, "verbose",
	    json_object_new_int(log_getverbose()));
	json_object_object_add(cfg, "client_capabilities",
	    relay_client_caps());
	s = jsonrpc_string(cfg, &len);
	worker_send(w, MSG_CONFIG, 0, s, len);
	json_object_put(cfg);
}

static int
worker_msg_hello(struct worker *w, struct msg *m)
{
	struct json_object	*o, *v;
	int			 ok;

	if (w->hello) {
		w->violation = 1;
		worker_kill(w, "worker said HELLO twice");
		return (-1);
	}
	if ((o = worker_json(w, m, "HELLO")) == NULL)
		return (-1);
	ok = json_object_object_get_ex(o, "version", &v) &&
	    json_object_get_int(v) == MESH_PROTO_VERSION;
	json_object_put(o);
	if (!ok) {
		w->violation = 1;
		worker_kill(w, "worker speaks another protocol version "
		    "(want %d): stale worker binary?", MESH_PROTO_VERSION);
		return (-1);
	}
	w->hello = 1;
	worker_send_config(w);
	return (w->fd == -1 ? -1 : 0);
}

/* The tools array of a READY or TOOLS payload, or NULL (and killed). */
static struct json_object *
worker_tools_of(struct worker *w, struct json_object *o, const char *what)
{
	struct json_object	*tools;

	if (json_object_object_get_ex(o, "tools", &tools) &&
	    json_object_is_type(tools, json_type_array))
		return (tools);
	w->violation = 1;
	worker_kill(w, "worker sent a %s without a tools array", what);
	return (NULL);
}

static int
worker_msg_ready(struct worker *w, struct msg *m)
{
	struct json_object	*o, *tools;
	struct peer		*p = w->peer;
	const char		*version;
	int			 n;

	if (!w->hello) {
		w->violation = 1;
		worker_kill(w, "worker said READY before HELLO");
		return (-1);
	}
	if ((o = worker_json(w, m, "READY")) == NULL)
		return (-1);
	version = jsonrpc_get_str(o, "protocolVersion");
	if (version == NULL ||
	    mcp_version_find(version, strlen(version)) == NULL) {
		json_object_put(o);
		w->violation = 1;
		worker_kill(w, "worker sent a READY without a supported "
		    "protocol version");
		return (-1);
	}
	if ((tools = worker_tools_of(w, o, "READY")) == NULL) {
		json_object_put(o);
		return (-1);
	}
	peer_set_info(p, o);
	w->ever_ready = 1;
	w->ready_since_ms = now_ms();
	w->cause[0] = '\0';
	worker_set_state(w, WS_READY);
	peer_set_lists(p, o);
	/* A new worker has a new upstream session: what it was asked. */
	mcp_resources_peer_ready(p);
	mcp_logging_peer_ready(p);
	n = p->ntools;
	json_object_put(o);
	w->tools_applied_ms = now_ms();
	w->tools_cost_ms = w->tools_applied_ms - w->ready_since_ms;
	log_info("peer %s: ready (%d tools, protocol %s, pid %d)", p->name, n,
	    p->protocol_version, (int)w->pid);
	worker_timer_arm(w, WORKER_PING_INTERVAL_MS);
	w->shrink = 1;
	router_wake_parked(0);
	return (0);
}

static int
worker_msg_fail(struct worker *w, struct msg *m)
{
	struct json_object	*o;
	const char		*reason;

	if ((o = worker_json(w, m, "FAIL")) == NULL)
		return (-1);
	if ((reason = jsonrpc_get_str(o, "reason")) == NULL)
		reason = "no reason given";
	log_escape(w->cause, sizeof(w->cause), reason, strlen(reason));
	json_object_put(o);
	log_warnx("peer %s: %s", w->peer->name, w->cause);
	return (0);
}

static int
worker_msg_response(struct worker *w, struct msg *m)
{
	router_response(w->peer, m->hdr.id, m->data, m->hdr.len);
	return (w->fd == -1 ? -1 : 0);
}

static int
worker_msg_callfail(struct worker *w, struct msg *m)
{
	struct json_object	*o;
	const char		*reason;
	char			 esc[512];

	if ((o = worker_json(w, m, "CALLFAIL")) == NULL)
		return (-1);
	if ((reason = jsonrpc_get_str(o, "reason")) == NULL)
		reason = "the peer's answer could not be used";
	log_escape(esc, sizeof(esc), reason, strlen(reason));
	json_object_put(o);
	router_callfail(w->peer, m->hdr.id, esc);
	return (w->fd == -1 ? -1 : 0);
}

static int
worker_msg_notify(struct worker *w, struct msg *m)
{
	router_notify(w->peer, m->hdr.id, m->data, m->hdr.len);
	return (w->fd == -1 ? -1 : 0);
}

/* Parse and apply a LISTS payload. */
static int
worker_lists_apply(struct worker *w, const char *data, size_t len)
{
	struct json_object	*o;
	const char		*why;
	uint64_t		 start = now_ms();

	if ((o = jsonrpc_parse(data, len, JSON_DEPTH_MAX, &why)) == NULL ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		worker_violation(w, "worker sent bad JSON in LISTS: %s",
		    o == NULL ? why : "not an object");
		return (-1);
	}
	peer_set_lists(w->peer, o);
	json_object_put(o);
	w->tools_applied_ms = now_ms();
	w->tools_cost_ms = w->tools_applied_ms - start;
	log_info("peer %s: lists changed (%d tools, %d prompts)",
	    w->peer->name, w->peer->ntools, w->peer->nprompts);
	log_debug("peer %s: lists applied in %llu ms", w->peer->name,
	    (unsigned long long)w->tools_cost_ms);
	w->shrink = 1;
	return (0);
}

static void
worker_lists_due(evutil_socket_t fd, short events, void *arg)
{
	struct worker	*w = arg;
	char		*text = w->tools_pending;

	w->tools_pending = NULL;
	if (text != NULL && w->state == WS_READY)
		worker_lists_apply(w, text, w->tools_pending_len);
	free(text);
}

/*
 * Which list a LISTS payload is (its first key, as the worker prints it):
 * one held back is replaced only by a newer one of the same list.
 */
static int
worker_lists_same(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	n = sizeof("{\"resources\"") - 1;

	return (alen >= n && blen >= n && memcmp(a, b, n) == 0);
}

/*
 * A list changed.  A peer that sends them without pause would have the
 * mesh re-index and every client re-list all the time: at most one per
 * WORKER_TOOLS_APPLY_MS, or WORKER_TOOLS_APPLY_FACTOR times what the
 * last one took (applying 10,000 tools takes a while), and of a burst
 * only the newest is applied (one of another list held back is applied
 * first: none is lost); the worker is read again when it is due.
 */
static int
worker_msg_lists(struct worker *w, struct msg *m)
{
	uint64_t	now = now_ms(), due, gap;
	struct timeval	tv;

	gap = w->tools_cost_ms * WORKER_TOOLS_APPLY_FACTOR;
	if (gap < WORKER_TOOLS_APPLY_MS)
		gap = WORKER_TOOLS_APPLY_MS;
	due = w->tools_applied_ms + gap;
	if (now >= due && w->tools_pending == NULL)
		return (worker_lists_apply(w, m->data, m->hdr.len));
	if (w->tools_pending != NULL && !worker_lists_same(w->tools_pending,
	    w->tools_pending_len, m->data, m->hdr.len)) {
		worker_lists_due(-1, 0, w);
		if (w->fd == -1)
			return (-1);
	}
	free(w->tools_pending);
	w->tools_pending = xmalloc(m->hdr.len + 1);
	memcpy(w->tools_pending, m->data, m->hdr.len);
	w->tools_pending_len = m->hdr.len;
	if (w->tools_timer == NULL)
		w->tools_timer = evtimer_new(ev_base, worker_lists_due, w);
	if (!evtimer_pending(w->tools_timer, NULL)) {
		tv = ms_tv(due > now ? due - now : 0);
		evtimer_add(w->tools_timer, &tv);
	}
	if (due > now)
		worker_read_pause(w, due - now);
	return (0);
}

/* A request of the peer's for a client (sampling, elicitation, roots). */
static int
worker_msg_srequest(struct worker *w, struct msg *m)
{
	relay_request(w->peer, m->hdr.id, m->data, m->hdr.len);
	return (w->fd == -1 ? -1 : 0);
}

static int
worker_msg_pong(struct worker *w, struct msg *m)
{
	if (m->hdr.id != w->ping_seq || w->ping_sent_ms == 0)
		return (0);
	w->ping_sent_ms = 0;
	if (w->state == WS_READY)
		worker_timer_arm(w, WORKER_PING_INTERVAL_MS);
	return (0);
}

/* Is there room in the bucket for len bytes of log? */
static int
worker_log_take(struct worker *w, size_t len)
{
	uint64_t	now = now_ms();

	w->log_tokens += (now - w->log_refill_ms) * WORKER_LOG_RATE / 1000;
	if (w->log_tokens > WORKER_LOG_BURST)
		w->log_tokens = WORKER_LOG_BURST;
	w->log_refill_ms = now;
	if (len > w->log_tokens) {
		w->log_dropped++;
		w->log_dropped_bytes += len;
		w->log_over = 1;
		return (0);
	}
	w->log_tokens -= len;
	return (1);
}

/* What the budget held back, said once in a while. */
void
worker_log_report(struct worker *w)
{
	if (w->log_dropped == 0)
		return;
	log_warnx("peer %s: %u log lines (%llu bytes) from the worker "
	    "suppressed: over %d bytes/s", w->peer->name, w->log_dropped,
	    (unsigned long long)w->log_dropped_bytes, WORKER_LOG_RATE);
	w->log_dropped = 0;
	w->log_dropped_bytes = 0;
}

static int
worker_msg_log(struct worker *w, struct msg *m)
{
	char	esc[WORKER_LOG_LINE_MAX * 4 + 1];
	int	level;
	size_t	len = m->hdr.len;

	if (len < 1 || m->data[0] < '0' || m->data[0] > '7') {
		w->violation = 1;
		worker_kill(w, "worker sent a malformed LOG message");
		return (-1);
	}
	level = m->data[0] - '0';
	/* Bound the line and the level: a worker cannot shout as an error. */
	if (level < LOG_LVL_WARNING)
		level = LOG_LVL_WARNING;
	if (len - 1 > WORKER_LOG_LINE_MAX)
		len = WORKER_LOG_LINE_MAX + 1;
	/* Lines not shown count too: a flood of them costs as much. */
	if (!worker_log_take(w, len))
		return (0);
	if (level == LOG_LVL_DEBUG && log_getverbose() == 0)
		return (0);
	log_escape(esc, sizeof(esc), m->data + 1, len - 1);
	log_emit(level, "peer %s: %s", w->peer->name, esc);
	return (0);
}
