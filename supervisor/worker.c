/*
 * The supervisor's side of a worker, the process behind one peer: a state
 * machine (stopped, starting, ready, backoff, failed, stopping), the
 * message dispatch table that says what a worker may send in which state,
 * flow control on its socketpair, liveness pings, and restarts with
 * exponential backoff.  Everything a worker sends is untrusted: a bad
 * message kills that worker, never the supervisor.
 *
 * Which deaths count toward FAILED: a crash signal (a gateway may have
 * found a bug), a protocol violation (a worker that lies), and a worker
 * that stopped answering while running.  Not counted: network trouble
 * (its exit status says so), a SIGKILL or SIGSTOP from outside (the kill
 * after a missed ping of a stopped worker included), a worker that
 * stopped reading its socket.  A failed peer is retried after
 * --failed-retry: it never stays dead for good.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "mesh-proto.h"
#include "mesh.h"
#include "xmalloc.h"

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

static TAILQ_HEAD(, worker)	workers = TAILQ_HEAD_INITIALIZER(workers);

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
static int	 worker_msg_tools(struct worker *, struct msg *);
static int	 worker_msg_pong(struct worker *, struct msg *);
static int	 worker_msg_log(struct worker *, struct msg *);
static void	 worker_timer_arm(struct worker *, uint64_t);
static void	 worker_finish(struct worker *);
static void	 worker_read(struct worker *);
static void	 worker_log_report(struct worker *);

static const struct worker_handler worker_handlers[] = {
	{ MSG_HELLO,	ST(WS_STARTING),		worker_msg_hello },
	{ MSG_READY,	ST(WS_STARTING),		worker_msg_ready },
	{ MSG_FAIL,	ST(WS_STARTING) | ST(WS_READY) | ST(WS_STOPPING),
			worker_msg_fail },
	{ MSG_RESPONSE,	ST(WS_READY) | ST(WS_STOPPING),	worker_msg_response },
	{ MSG_CALLFAIL,	ST(WS_READY) | ST(WS_STOPPING),	worker_msg_callfail },
	{ MSG_NOTIFY_UP, ST(WS_READY) | ST(WS_STOPPING), worker_msg_notify },
	{ MSG_TOOLS,	ST(WS_READY),			worker_msg_tools },
	{ MSG_PONG,	ST(WS_STARTING) | ST(WS_READY) | ST(WS_STOPPING),
							worker_msg_pong },
	{ MSG_LOG,	ST(WS_STARTING) | ST(WS_READY) | ST(WS_STOPPING),
							worker_msg_log },
};

const char *
worker_state_name(enum worker_state s)
{
	static const char *names[] = { "stopped", "starting", "ready",
	    "backoff", "failed", "stopping" };

	return ((unsigned)s < sizeof(names) / sizeof(names[0]) ?
	    names[s] : "?");
}

static void
worker_set_state(struct worker *w, enum worker_state s)
{
	enum worker_state	old = w->state;

	if (old == s)
		return;
	log_debug("peer %s: %s -> %s", w->peer->name, worker_state_name(old),
	    worker_state_name(s));
	w->state = s;
	/*
	 * A first start failed: calls parked for it may go.  (One that
	 * succeeded wakes them once its tools are in: worker_msg_ready.)
	 */
	if (old == WS_STARTING && s != WS_READY)
		router_wake_parked(0);
}

struct worker *
worker_new(struct peer *p)
{
	struct worker	*w;

	w = xcalloc(1, sizeof(*w));
	w->peer = p;
	w->fd = -1;
	w->log_tokens = WORKER_LOG_BURST;
	TAILQ_INSERT_TAIL(&workers, w, entry);
	return (w);
}

enum worker_state
worker_state(const struct worker *w)
{
	return (w->state);
}

const char *
worker_cause(const struct worker *w)
{
	return (w->cause);
}

int
worker_is_ready(const struct worker *w)
{
	return (w->state == WS_READY && w->fd != -1);
}

int
worker_ever_ready(const struct worker *w)
{
	return (w->ever_ready);
}

int
worker_alive(const struct worker *w)
{
	return (w->pid > 0 && !w->reaped);
}

pid_t
worker_pid(const struct worker *w)
{
	return (w->pid);
}

unsigned
worker_restarts(const struct worker *w)
{
	return (w->restarts);
}

size_t
worker_queued(const struct worker *w)
{
	return (w->fd == -1 ? 0 : msg_queued(&w->mb));
}

/* --- the socketpair ------------------------------------------------------ */

static void	 worker_io(evutil_socket_t, short, void *);

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

static void
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

static void
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
	    json_object_new_int64(conf.worker_memory_mb));
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
	n = peer_set_tools(p, tools);
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

/* Parse and apply a TOOLS payload. */
static int
worker_tools_apply(struct worker *w, const char *data, size_t len)
{
	struct json_object	*o, *tools;
	const char		*why;
	uint64_t		 start = now_ms();
	int			 n;

	if ((o = jsonrpc_parse(data, len, JSON_DEPTH_MAX, &why)) == NULL) {
		w->violation = 1;
		worker_kill(w, "worker sent bad JSON in TOOLS: %s", why);
		return (-1);
	}
	if ((tools = worker_tools_of(w, o, "TOOLS")) == NULL) {
		json_object_put(o);
		return (-1);
	}
	n = peer_set_tools(w->peer, tools);
	json_object_put(o);
	w->tools_applied_ms = now_ms();
	w->tools_cost_ms = w->tools_applied_ms - start;
	log_info("peer %s: tool list changed (%d tools)", w->peer->name, n);
	log_debug("peer %s: tool list applied in %llu ms", w->peer->name,
	    (unsigned long long)w->tools_cost_ms);
	w->shrink = 1;
	return (0);
}

static void
worker_tools_due(evutil_socket_t fd, short events, void *arg)
{
	struct worker	*w = arg;
	char		*text = w->tools_pending;

	w->tools_pending = NULL;
	if (text != NULL && w->state == WS_READY)
		worker_tools_apply(w, text, w->tools_pending_len);
	free(text);
}

/*
 * A new tool list.  A peer that sends them without pause would have the
 * mesh re-index and every client re-list all the time: at most one per
 * WORKER_TOOLS_APPLY_MS, or WORKER_TOOLS_APPLY_FACTOR times what the
 * last one took (applying 10,000 tools takes a while), and of a burst
 * only the newest is applied; the worker is read again when it is due.
 */
static int
worker_msg_tools(struct worker *w, struct msg *m)
{
	uint64_t	now = now_ms(), due, gap;
	struct timeval	tv;

	gap = w->tools_cost_ms * WORKER_TOOLS_APPLY_FACTOR;
	if (gap < WORKER_TOOLS_APPLY_MS)
		gap = WORKER_TOOLS_APPLY_MS;
	due = w->tools_applied_ms + gap;
	if (now >= due && w->tools_pending == NULL)
		return (worker_tools_apply(w, m->data, m->hdr.len));
	free(w->tools_pending);
	w->tools_pending = xmalloc(m->hdr.len + 1);
	memcpy(w->tools_pending, m->data, m->hdr.len);
	w->tools_pending_len = m->hdr.len;
	if (w->tools_timer == NULL)
		w->tools_timer = evtimer_new(ev_base, worker_tools_due, w);
	if (!evtimer_pending(w->tools_timer, NULL)) {
		tv = ms_tv(due > now ? due - now : 0);
		evtimer_add(w->tools_timer, &tv);
	}
	if (due > now)
		worker_read_pause(w, due - now);
	return (0);
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
static void
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

/* --- life and death ------------------------------------------------------ */

static void	 worker_timer(evutil_socket_t, short, void *);

static void
worker_timer_arm(struct worker *w, uint64_t ms)
{
	struct timeval	tv = ms_tv(ms);

	if (w->timer == NULL)
		w->timer = evtimer_new(ev_base, worker_timer, w);
	evtimer_add(w->timer, &tv);
}

static void
worker_reset(struct worker *w)
{
	w->hello = w->eof = w->reaped = w->killed = w->violation = 0;
	w->crash = w->permanent = 0;
	w->ping_sent_ms = 0;
	w->log_dropped = 0;
	w->log_dropped_bytes = 0;
	w->log_over = w->read_paused = 0;
	if (w->read_timer != NULL)
		evtimer_del(w->read_timer);
	free(w->tools_pending);
	w->tools_pending = NULL;
}

void
worker_start(struct worker *w)
{
	int	fd, errfd;
	pid_t	pid;

	worker_reset(w);
	if ((pid = proc_spawn_worker(conf.worker_path, w->peer->name,
	    w->fresh_layout, &fd, &errfd)) == -1) {
		/* Out of descriptors passes: try again soon, not in 30 s. */
		w->backoff.delay_ms = errno == EMFILE || errno == ENFILE ?
		    WORKER_SPAWN_RETRY_MS : WORKER_BACKOFF_MAX_MS;
		snprintf(w->cause, sizeof(w->cause), "could not start a "
		    "worker: %s", strerror(errno));
		w->pid = 0;
		worker_set_state(w, WS_BACKOFF);
		worker_timer_arm(w, w->backoff.delay_ms);
		return;
	}
	worker_attach(w, pid, fd, errfd);
}

/*
 * A worker process on our end of its socketpair (and of its stderr pipe,
 * or -1): from here it is supervised.  Tests attach a socket they speak
 * the worker's side of themselves.
 */
void
worker_attach(struct worker *w, pid_t pid, int fd, int errfd)
{
	struct peer	*p = w->peer;
	char		 who[PEER_NAME_MAX + 8];

	worker_reset(w);
	w->pid = pid;
	w->fd = fd;
	snprintf(who, sizeof(who), "peer %s", p->name);
	if (errfd != -1)
		stderr_relay_start(who, errfd);
	msgbuf_init(&w->mb, fd, WORKER_DOWNQUEUE_MAX);
	if (w->ev == NULL)
		w->ev = event_new(ev_base, fd, EV_READ | EV_PERSIST, worker_io,
		    w);
	else
		event_assign(w->ev, ev_base, fd, EV_READ | EV_PERSIST,
		    worker_io, w);
	event_add(w->ev, NULL);
	worker_set_state(w, WS_STARTING);
	worker_timer_arm(w, WORKER_READY_TIMEOUT_MS);
	log_debug("peer %s: worker pid %d for %s", p->name, (int)pid, p->url);
}

static void
worker_vkill(struct worker *w, const char *fmt, va_list ap)
{
	vsnprintf(w->cause, sizeof(w->cause), fmt, ap);
	log_warnx("peer %s: killing worker %d: %s", w->peer->name, (int)w->pid,
	    w->cause);
	if (worker_alive(w))
		kill(w->pid, SIGKILL);
	w->eof = 1;
	w->killed = 1;
	worker_finish(w);
}

/* Kill a worker at once; its calls are answered on its socket's close. */
void
worker_kill(struct worker *w, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	worker_vkill(w, fmt, ap);
	va_end(ap);
}

/* The socket is gone: close it, answer every call on it. */
static void
worker_close(struct worker *w)
{
	if (w->fd == -1)
		return;
	if (w->cause[0] == '\0')
		strlcpy(w->cause, "its worker stopped", sizeof(w->cause));
	event_del(w->ev);
	close(w->fd);
	w->fd = -1;
	msgbuf_clear(&w->mb);
	worker_log_report(w);
	router_fail_all(w->peer, w->cause);
}

/*
 * Give up on the peer for now: its tools leave the list, and it is tried
 * again after --failed-retry, in case what broke it was fixed.
 */
static void
worker_give_up(struct worker *w)
{
	worker_set_state(w, WS_FAILED);
	peer_clear_tools(w->peer);
	memset(&w->backoff, 0, sizeof(w->backoff));
	log_info("peer %s: retried in %llu s", w->peer->name,
	    (unsigned long long)conf.failed_retry_ms / 1000);
	worker_timer_arm(w, conf.failed_retry_ms);
}

uint64_t
backoff_next(struct backoff *b, uint64_t now, uint64_t ready_since_ms,
    int crash)
{
	int	stable;

	/* Ready long enough, or the window passed: crashes are forgiven. */
	stable = ready_since_ms != 0 && now - ready_since_ms >= WORKER_STABLE_MS;
	if (stable || now - b->window_start_ms > WORKER_FAIL_WINDOW_MS) {
		b->failures = 0;
		b->window_start_ms = now;
	}
	if (crash && ++b->failures >= WORKER_FAIL_MAX)
		return (0);
	/* Exponential: fast first restart, doubling up to the cap. */
	if (stable || b->delay_ms == 0)
		b->delay_ms = WORKER_BACKOFF_MIN_MS;
	else if ((b->delay_ms *= 2) > WORKER_BACKOFF_MAX_MS)
		b->delay_ms = WORKER_BACKOFF_MAX_MS;
	return (b->delay_ms);
}

static void
worker_schedule_restart(struct worker *w)
{
	uint64_t	delay;

	delay = backoff_next(&w->backoff, now_ms(), w->ready_since_ms,
	    w->crash);
	w->ready_since_ms = 0;
	if (delay == 0) {
		log_warnx("peer %s: %u crashes in %d s: failed (last: %s)",
		    w->peer->name, w->backoff.failures,
		    WORKER_FAIL_WINDOW_MS / 1000, w->cause);
		worker_give_up(w);
		return;
	}
	w->restarts++;
	worker_set_state(w, WS_BACKOFF);
	log_info("peer %s: restarting in %llu ms", w->peer->name,
	    (unsigned long long)delay);
	worker_timer_arm(w, delay);
}

/*
 * Both the socket's EOF and the reaping must have happened before the
 * worker is done with (ntpd's race): calls are answered on EOF, the
 * restart decided once the exit status says why.
 */
static void
worker_finish(struct worker *w)
{
	worker_close(w);
	if (!w->reaped) {
		/* A worker that closed its socket but lives on is killed. */
		worker_timer_arm(w, WORKER_STOP_TIMEOUT_MS);
		return;
	}
	if (w->tools_timer != NULL)
		evtimer_del(w->tools_timer);
	if (w->peer->removed) {
		/* Freed from the loop: callers up the stack still hold w. */
		worker_set_state(w, WS_STOPPED);
		worker_timer_arm(w, 0);
		return;
	}
	if (w->state == WS_STOPPING || w->state == WS_STOPPED) {
		worker_set_state(w, WS_STOPPED);
		return;
	}
	if (w->permanent) {
		log_warnx("peer %s: failed: %s (permanent; fix the "
		    "configuration)", w->peer->name, w->cause);
		worker_give_up(w);
		return;
	}
	worker_schedule_restart(w);
}

/*
 * Signals a gateway could cause: a stack smash (SIGABRT), a wild pointer,
 * the sandbox.  SIGKILL, SIGTERM or SIGSTOP from outside tell an attacker
 * nothing, and are no fault of the peer.
 */
static int
worker_signal_is_crash(int sig)
{
	switch (sig) {
	case SIGSEGV:
	case SIGBUS:
	case SIGILL:
	case SIGFPE:
	case SIGABRT:
	case SIGTRAP:
	case SIGSYS:
		return (1);
	default:
		return (0);
	}
}

/* Does this death count toward FAILED (see the top of this file)? */
static int
worker_death_is_crash(const struct worker *w, int status)
{
	if (w->killed)
		return (w->violation || w->crash);
	if (WIFSIGNALED(status))
		return (worker_signal_is_crash(WTERMSIG(status)));
	switch (WEXITSTATUS(status)) {
	case EX_UNAVAILABLE:
	case EX_TEMPFAIL:
	case EX_PROTOCOL:
		return (0);
	default:
		return (1);
	}
}

static struct worker *
worker_by_pid(pid_t pid)
{
	struct worker	*w;

	TAILQ_FOREACH(w, &workers, entry)
		if (w->pid == pid && !w->reaped)
			return (w);
	return (NULL);
}

void
worker_exited(pid_t pid, int status)
{
	struct worker	*w;
	char		 why[128];

	if ((w = worker_by_pid(pid)) == NULL)
		return;
	w->reaped = 1;
	exit_reason(status, why, sizeof(why));
	w->crash = worker_death_is_crash(w, status);
	/* A crash signal: its successor is exec'd (see proc_spawn_worker()). */
	w->fresh_layout = WIFSIGNALED(status) &&
	    worker_signal_is_crash(WTERMSIG(status));
	w->permanent = WIFEXITED(status) &&
	    (WEXITSTATUS(status) == EX_CONFIG || WEXITSTATUS(status) == EX_NOPERM);
	if (w->state != WS_STOPPING) {
		if (w->cause[0] == '\0' || (!w->killed && !WIFEXITED(status)))
			strlcpy(w->cause, why, sizeof(w->cause));
		log_warnx("peer %s: worker %d %s%s%s", w->peer->name, (int)pid,
		    why, w->cause[0] && strcmp(w->cause, why) ? ": " : "",
		    strcmp(w->cause, why) ? w->cause : "");
	}
	if (!w->eof) {
		/* Its socket may still hold answers: read them first. */
		worker_read(w);
		if (w->eof)
			return;		/* finished (and maybe freed) */
		w->eof = 1;
	}
	worker_finish(w);
}

/* Is the process stopped (SIGSTOP, a debugger)?  From /proc/PID/stat. */
static int
worker_is_stopped(pid_t pid)
{
	char	 path[64], buf[256], *p;
	FILE	*f;
	int	 stopped = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL && p[1] == ' ')
		stopped = p[2] == 'T' || p[2] == 't';
	fclose(f);
	return (stopped);
}

/*
 * Liveness: a PING every WORKER_PING_INTERVAL_MS; the timer is then armed
 * for the PONG's deadline, so a hung worker is killed WORKER_PING_TIMEOUT_MS
 * after the ping it did not answer.  A worker that does not read its
 * socket for WORKER_STALL_MS while messages wait is killed too.
 */
static void
worker_ping(struct worker *w)
{
	uint64_t	now = now_ms();

	worker_log_report(w);
	if (w->ping_sent_ms != 0) {
		/* Stopped from outside is not the peer's fault. */
		w->crash = !worker_is_stopped(w->pid);
		worker_kill(w, "worker missed its ping deadline (%d ms)%s",
		    WORKER_PING_TIMEOUT_MS, w->crash ? "" : ": it was stopped");
		return;
	}
	if (msg_queued(&w->mb) > 0 && now - w->write_ms >= WORKER_STALL_MS) {
		worker_kill(w, "worker read nothing for %d ms with %zu bytes "
		    "waiting", WORKER_STALL_MS, msg_queued(&w->mb));
		return;
	}
	w->ping_seq++;
	w->ping_sent_ms = now;
	if (worker_send(w, MSG_PING, w->ping_seq, NULL, 0) == 0)
		worker_timer_arm(w, WORKER_PING_TIMEOUT_MS);
}

static void
worker_timer(evutil_socket_t fd, short events, void *arg)
{
	struct worker	*w = arg;

	if (w->peer->removed && w->fd == -1 && !worker_alive(w)) {
		peer_worker_gone(w->peer);	/* frees w */
		return;
	}
	if (w->fd == -1 && worker_alive(w)) {
		/* Socket closed, process still there: make sure it goes. */
		kill(w->pid, SIGKILL);
		return;
	}
	switch (w->state) {
	case WS_STARTING:
		w->crash = !worker_is_stopped(w->pid);
		worker_kill(w, "worker not ready after %d ms%s",
		    WORKER_READY_TIMEOUT_MS, w->crash ? "" : ": it was stopped");
		break;
	case WS_READY:
		worker_ping(w);
		break;
	case WS_BACKOFF:
	case WS_FAILED:
		worker_start(w);
		break;
	case WS_STOPPING:
		if (worker_alive(w))
			kill(w->pid, SIGKILL);
		break;
	default:
		break;
	}
}

/* Ask the worker to go; SIGKILL after WORKER_STOP_TIMEOUT_MS. */
void
worker_stop(struct worker *w, const char *why)
{
	if (w->fd != -1 && !w->reaped) {
		worker_set_state(w, WS_STOPPING);
		strlcpy(w->cause, why, sizeof(w->cause));
		worker_send(w, MSG_SHUTDOWN, 0, NULL, 0);
		worker_timer_arm(w, WORKER_STOP_TIMEOUT_MS);
		return;
	}
	if (worker_alive(w)) {
		/* Socket already closed: only the reaping is missing. */
		worker_set_state(w, WS_STOPPING);
		kill(w->pid, SIGKILL);
		return;
	}
	if (w->timer != NULL)
		evtimer_del(w->timer);
	worker_set_state(w, WS_STOPPED);
}

/* At exit, or once a removed peer's worker is gone. */
void
worker_free(struct worker *w)
{
	if (worker_alive(w)) {
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
		w->reaped = 1;
	}
	TAILQ_REMOVE(&workers, w, entry);
	if (w->fd != -1) {
		event_del(w->ev);
		close(w->fd);
		msgbuf_clear(&w->mb);
	}
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->timer != NULL)
		event_free(w->timer);
	if (w->tools_timer != NULL)
		event_free(w->tools_timer);
	if (w->read_timer != NULL)
		event_free(w->read_timer);
	free(w->tools_pending);
	free(w);
}
