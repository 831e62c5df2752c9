/*
 * Peers and the supervisor's side of their workers: a state machine per
 * worker (stopped, starting, ready, backoff, failed, stopping), the message
 * dispatch table that says what a worker may send in which state, liveness
 * pings, and restarts with exponential backoff.  Everything a worker sends
 * is untrusted: a bad message kills that worker, never the supervisor.
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

struct peers	 peers = TAILQ_HEAD_INITIALIZER(peers);
unsigned	 npeers;

#define ST(s)	(1U << (s))

struct worker_handler {
	uint16_t	 type;
	unsigned	 states;	/* ST() mask it is allowed in */
	int		(*fn)(struct peer *, struct msg *);
};

static int	 worker_hello(struct peer *, struct msg *);
static int	 worker_ready(struct peer *, struct msg *);
static int	 worker_fail(struct peer *, struct msg *);
static int	 worker_response(struct peer *, struct msg *);
static int	 worker_callfail(struct peer *, struct msg *);
static int	 worker_notify(struct peer *, struct msg *);
static int	 worker_tools(struct peer *, struct msg *);
static int	 worker_pong(struct peer *, struct msg *);
static int	 worker_log(struct peer *, struct msg *);
static void	 worker_timer_arm(struct peer *, uint64_t);
static void	 worker_finish(struct peer *);

static const struct worker_handler worker_handlers[] = {
	{ MSG_HELLO,	ST(WS_STARTING),		worker_hello },
	{ MSG_READY,	ST(WS_STARTING),		worker_ready },
	{ MSG_FAIL,	ST(WS_STARTING) | ST(WS_READY) | ST(WS_STOPPING),
			worker_fail },
	{ MSG_RESPONSE,	ST(WS_READY) | ST(WS_STOPPING),	worker_response },
	{ MSG_CALLFAIL,	ST(WS_READY) | ST(WS_STOPPING),	worker_callfail },
	{ MSG_NOTIFY_UP, ST(WS_READY) | ST(WS_STOPPING), worker_notify },
	{ MSG_TOOLS,	ST(WS_READY),			worker_tools },
	{ MSG_PONG,	ST(WS_STARTING) | ST(WS_READY) | ST(WS_STOPPING),
							worker_pong },
	{ MSG_LOG,	ST(WS_STARTING) | ST(WS_READY) | ST(WS_STOPPING),
							worker_log },
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
worker_set_state(struct peer *p, enum worker_state s)
{
	if (p->state != s)
		log_debug("peer %s: %s -> %s", p->name,
		    worker_state_name(p->state), worker_state_name(s));
	p->state = s;
}

struct peer *
peer_add(const struct bridge_spec *b)
{
	struct peer	*p;

	p = xcalloc(1, sizeof(*p));
	p->index = npeers++;
	p->fd = -1;
	strlcpy(p->name, b->name, sizeof(p->name));
	strlcpy(p->url, b->url, sizeof(p->url));
	p->timeout_ms = b->timeout_ms;
	p->response_max = b->response_max;
	RB_INIT(&p->inflight);
	p->cause[0] = '\0';
	TAILQ_INSERT_TAIL(&peers, p, entry);
	return (p);
}

struct peer *
peer_find(const char *name)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry)
		if (strcmp(p->name, name) == 0)
			return (p);
	return (NULL);
}

/* Every peer has been ready once or has given up its first start. */
int
peer_settled(void)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry)
		if (!p->ever_ready && p->state == WS_STARTING)
			return (0);
	return (1);
}

/* --- the socketpair ------------------------------------------------------ */

static void
worker_io(evutil_socket_t fd, short events, void *arg);

static void
worker_want_write(struct peer *p, int on)
{
	short	ev = EV_READ | EV_PERSIST | (on ? EV_WRITE : 0);

	if (event_get_events(p->ev) == ev)
		return;
	event_del(p->ev);
	event_assign(p->ev, ev_base, p->fd, ev, worker_io, p);
	event_add(p->ev, NULL);
}

int
worker_send(struct peer *p, uint16_t type, uint64_t id, const char *data,
    size_t len)
{
	if (p->fd == -1 || p->eof)
		return (-1);
	if (msg_compose(&p->mb, type, 0, id, data, len) == -1) {
		if (errno == ENOBUFS)
			worker_kill(p, "worker stopped reading (over %d bytes "
			    "queued)", MSG_QUEUE_MAX);
		else
			log_warnx("peer %s: message of %zu bytes is over "
			    "the frame limit", p->name, len);
		return (-1);
	}
	/* Write at once: most messages go out without waiting a loop turn. */
	if (msg_write(&p->mb) == -1) {
		worker_kill(p, "write to worker: %s", strerror(errno));
		return (-1);
	}
	worker_want_write(p, msg_queued(&p->mb) > 0);
	return (0);
}

static int
worker_dispatch(struct peer *p, struct msg *m)
{
	size_t	i;

	for (i = 0; i < sizeof(worker_handlers) / sizeof(worker_handlers[0]);
	    i++) {
		if (worker_handlers[i].type != m->hdr.type)
			continue;
		if (!(worker_handlers[i].states & ST(p->state)))
			break;
		return (worker_handlers[i].fn(p, m));
	}
	worker_kill(p, "worker sent message type %u in state %s",
	    m->hdr.type, worker_state_name(p->state));
	return (-1);
}

static void
worker_read(struct peer *p)
{
	struct msg	m;
	long		n;
	int		r;

	if ((n = msg_read(&p->mb)) == 0 || (n == -1 && errno != EAGAIN)) {
		if (n == -1)
			log_warn("peer %s: read from worker", p->name);
		p->eof = 1;
		worker_finish(p);
		return;
	}
	while (p->fd != -1 && (r = msg_get(&p->mb, &m)) != 0) {
		if (r == -1) {
			worker_kill(p, "malformed frame from worker: %s",
			    strerror(errno));
			return;
		}
		if (worker_dispatch(p, &m) == -1)
			return;
	}
	if (p->shrink) {
		/* A tool list came: the buffers it grew are not needed now. */
		p->shrink = 0;
		msgbuf_shrink(&p->mb);
	}
}

static void
worker_io(evutil_socket_t fd, short events, void *arg)
{
	struct peer	*p = arg;

	if (events & EV_WRITE) {
		if (msg_write(&p->mb) == -1) {
			worker_kill(p, "write to worker: %s", strerror(errno));
			return;
		}
		worker_want_write(p, msg_queued(&p->mb) > 0);
	}
	if ((events & EV_READ) && p->fd != -1)
		worker_read(p);
}

/* --- messages from the worker -------------------------------------------- */

/* Parse a JSON payload from a worker with the bounded parser. */
static struct json_object *
worker_json(struct peer *p, struct msg *m, const char *what)
{
	struct json_object	*o;
	const char		*why;

	o = jsonrpc_parse(m->data, m->hdr.len, JSON_DEPTH_MAX, &why);
	if (o == NULL)
		worker_kill(p, "worker sent bad JSON in %s: %s", what, why);
	return (o);
}

static int
worker_hello(struct peer *p, struct msg *m)
{
	struct json_object	*o, *v, *cfg;
	const char		*s;
	size_t			 len;

	if (p->hello) {
		worker_kill(p, "worker said HELLO twice");
		return (-1);
	}
	if ((o = worker_json(p, m, "HELLO")) == NULL)
		return (-1);
	if (!json_object_object_get_ex(o, "version", &v) ||
	    json_object_get_int(v) != MESH_PROTO_VERSION) {
		json_object_put(o);
		worker_kill(p, "worker speaks another protocol version "
		    "(want %d): stale worker binary?", MESH_PROTO_VERSION);
		return (-1);
	}
	json_object_put(o);
	p->hello = 1;

	cfg = json_object_new_object();
	json_object_object_add(cfg, "name", json_object_new_string(p->name));
	json_object_object_add(cfg, "url", json_object_new_string(p->url));
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
	worker_send(p, MSG_CONFIG, 0, s, len);
	json_object_put(cfg);
	return (p->fd == -1 ? -1 : 0);
}

static int
worker_ready(struct peer *p, struct msg *m)
{
	struct json_object	*o, *tools, *info;
	const char		*version;
	int			 n;

	if (!p->hello) {
		worker_kill(p, "worker said READY before HELLO");
		return (-1);
	}
	if ((o = worker_json(p, m, "READY")) == NULL)
		return (-1);
	version = jsonrpc_get_str(o, "protocolVersion");
	if (!json_object_object_get_ex(o, "tools", &tools) ||
	    !json_object_is_type(tools, json_type_array) || version == NULL ||
	    mcp_version_find(version, strlen(version)) == NULL) {
		json_object_put(o);
		worker_kill(p, "worker sent a READY without tools or a "
		    "supported protocol version");
		return (-1);
	}
	strlcpy(p->protocol_version, version, sizeof(p->protocol_version));
	if (p->server_info != NULL)
		json_object_put(p->server_info);
	p->server_info = NULL;
	if (json_object_object_get_ex(o, "serverInfo", &info))
		p->server_info = json_object_get(info);
	n = toolmap_set_peer(p, tools);
	p->ntools = n;
	json_object_put(o);

	worker_set_state(p, WS_READY);
	p->ever_ready = 1;
	p->ready_since_ms = now_ms();
	p->cause[0] = '\0';
	log_info("peer %s: ready (%d tools, protocol %s, pid %d)", p->name, n,
	    p->protocol_version, (int)p->pid);
	worker_timer_arm(p, WORKER_PING_INTERVAL_MS);
	p->shrink = 1;
	mcp_tools_changed();
	return (0);
}

static int
worker_fail(struct peer *p, struct msg *m)
{
	struct json_object	*o;
	const char		*reason;
	char			 esc[sizeof(p->cause)];

	if ((o = worker_json(p, m, "FAIL")) == NULL)
		return (-1);
	if ((reason = jsonrpc_get_str(o, "reason")) == NULL)
		reason = "no reason given";
	log_escape(esc, sizeof(esc), reason, strlen(reason));
	strlcpy(p->cause, esc, sizeof(p->cause));
	json_object_put(o);
	log_warnx("peer %s: %s", p->name, p->cause);
	return (0);
}

static int
worker_response(struct peer *p, struct msg *m)
{
	router_response(p, m->hdr.id, m->data, m->hdr.len);
	return (p->fd == -1 ? -1 : 0);
}

static int
worker_callfail(struct peer *p, struct msg *m)
{
	struct json_object	*o;
	const char		*reason;
	char			 esc[512];

	if ((o = worker_json(p, m, "CALLFAIL")) == NULL)
		return (-1);
	if ((reason = jsonrpc_get_str(o, "reason")) == NULL)
		reason = "the peer's answer could not be used";
	log_escape(esc, sizeof(esc), reason, strlen(reason));
	json_object_put(o);
	router_callfail(p, m->hdr.id, esc);
	return (0);
}

static int
worker_notify(struct peer *p, struct msg *m)
{
	struct json_object	*o;
	const char		*method;

	if ((o = worker_json(p, m, "NOTIFY")) == NULL)
		return (-1);
	if (jsonrpc_check(o, &method) != JSONRPC_NOTIFICATION) {
		json_object_put(o);
		worker_kill(p, "worker relayed something that is not a "
		    "notification");
		return (-1);
	}
	method = jsonrpc_method(o);
	/* Progress on a call pushes its deadline out. */
	if (m->hdr.id != 0 && strcmp(method, "notifications/progress") == 0)
		router_progress(p, m->hdr.id);
	log_debug("peer %s: notification %s", p->name, method);
	json_object_put(o);
	return (0);
}

static int
worker_tools(struct peer *p, struct msg *m)
{
	struct json_object	*o, *tools;
	int			 n;

	if ((o = worker_json(p, m, "TOOLS")) == NULL)
		return (-1);
	if (!json_object_object_get_ex(o, "tools", &tools) ||
	    !json_object_is_type(tools, json_type_array)) {
		json_object_put(o);
		worker_kill(p, "worker sent TOOLS without a tools array");
		return (-1);
	}
	n = toolmap_set_peer(p, tools);
	p->ntools = n;
	json_object_put(o);
	log_info("peer %s: tool list changed (%d tools)", p->name, n);
	p->shrink = 1;
	mcp_tools_changed();
	return (0);
}

static int
worker_pong(struct peer *p, struct msg *m)
{
	if (m->hdr.id != p->ping_seq || p->ping_sent_ms == 0)
		return (0);
	p->ping_sent_ms = 0;
	if (p->state == WS_READY)
		worker_timer_arm(p, WORKER_PING_INTERVAL_MS);
	return (0);
}

static int
worker_log(struct peer *p, struct msg *m)
{
	char	esc[WORKER_LOG_LINE_MAX * 4 + 1];
	int	level;
	size_t	len = m->hdr.len;

	if (len < 1 || m->data[0] < '0' || m->data[0] > '7') {
		worker_kill(p, "worker sent a malformed LOG message");
		return (-1);
	}
	level = m->data[0] - '0';
	/* Bound the line and the level: a worker cannot shout as an error. */
	if (level < LOG_LVL_WARNING)
		level = LOG_LVL_WARNING;
	if (len - 1 > WORKER_LOG_LINE_MAX)
		len = WORKER_LOG_LINE_MAX + 1;
	log_escape(esc, sizeof(esc), m->data + 1, len - 1);
	log_emit(level, "peer %s: %s", p->name, esc);
	return (0);
}

/* --- life and death ------------------------------------------------------ */

static void
worker_timer(evutil_socket_t fd, short events, void *arg);

static void
worker_timer_arm(struct peer *p, uint64_t ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	if (p->timer == NULL)
		p->timer = evtimer_new(ev_base, worker_timer, p);
	evtimer_add(p->timer, &tv);
}

void
peer_start(struct peer *p)
{
	char	who[PEER_NAME_MAX + 8];
	int	fd, errfd;
	pid_t	pid;

	p->hello = p->eof = p->reaped = 0;
	p->ping_sent_ms = 0;
	if ((pid = proc_spawn_worker(conf.worker_path, p->name, p->signaled,
	    &fd, &errfd)) == -1) {
		strlcpy(p->cause, "could not start a worker", sizeof(p->cause));
		worker_set_state(p, WS_BACKOFF);
		p->backoff_ms = WORKER_BACKOFF_MAX_MS;
		worker_timer_arm(p, p->backoff_ms);
		return;
	}
	p->pid = pid;
	p->fd = fd;
	snprintf(who, sizeof(who), "peer %s", p->name);
	stderr_relay_start(who, errfd);
	msgbuf_init(&p->mb, fd, MSG_QUEUE_MAX);
	if (p->ev == NULL)
		p->ev = event_new(ev_base, fd, EV_READ | EV_PERSIST, worker_io, p);
	else
		event_assign(p->ev, ev_base, fd, EV_READ | EV_PERSIST,
		    worker_io, p);
	event_add(p->ev, NULL);
	worker_set_state(p, WS_STARTING);
	worker_timer_arm(p, WORKER_READY_TIMEOUT_MS);
	log_debug("peer %s: worker pid %d for %s", p->name, (int)pid, p->url);
}

void
peer_start_all(void)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry)
		if (p->state == WS_STOPPED)
			peer_start(p);
}

/* Kill a misbehaving worker at once; its requests are answered on exit. */
void
worker_kill(struct peer *p, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(p->cause, sizeof(p->cause), fmt, ap);
	va_end(ap);
	log_warnx("peer %s: killing worker %d: %s", p->name, (int)p->pid,
	    p->cause);
	if (!p->reaped && p->pid > 0)
		kill(p->pid, SIGKILL);
	p->eof = 1;
	p->killed = 1;
	worker_finish(p);
}

/* The socket is gone: close it, answer every request on it. */
static void
worker_close(struct peer *p)
{
	if (p->fd == -1)
		return;
	if (p->cause[0] == '\0')
		strlcpy(p->cause, "its worker stopped", sizeof(p->cause));
	event_del(p->ev);
	close(p->fd);
	p->fd = -1;
	msgbuf_clear(&p->mb);
	router_fail_all(p, p->cause[0] ? p->cause : "worker stopped");
}

/* Is this exit a crash (counts toward FAILED) or network trouble? */
static int
worker_exit_is_crash(int status)
{
	if (!WIFEXITED(status))
		return (1);
	switch (WEXITSTATUS(status)) {
	case EX_UNAVAILABLE:
	case EX_TEMPFAIL:
	case EX_PROTOCOL:
		return (0);
	default:
		return (1);
	}
}

/* Give up on a peer until it is reconnected: its tools leave the list. */
static void
worker_give_up(struct peer *p)
{
	worker_set_state(p, WS_FAILED);
	toolmap_remove_peer(p);
	p->ntools = 0;
	mcp_tools_changed();
}

static void
worker_schedule_restart(struct peer *p)
{
	uint64_t	now = now_ms();
	int		stable;

	/* Ready long enough, or the window passed: crashes are forgiven. */
	stable = p->ready_since_ms != 0 &&
	    now - p->ready_since_ms >= WORKER_STABLE_MS;
	if (stable || now - p->window_start_ms > WORKER_FAIL_WINDOW_MS) {
		p->failures = 0;
		p->window_start_ms = now;
	}
	if (p->crashed && ++p->failures >= WORKER_FAIL_MAX) {
		log_warnx("peer %s: %u crashes in %d s: failed until reconnected "
		    "(last: %s)", p->name, p->failures,
		    WORKER_FAIL_WINDOW_MS / 1000, p->cause);
		worker_give_up(p);
		return;
	}
	/* Exponential: fast first restart, doubling up to the cap. */
	if (stable || p->backoff_ms == 0)
		p->backoff_ms = WORKER_BACKOFF_MIN_MS;
	else if ((p->backoff_ms *= 2) > WORKER_BACKOFF_MAX_MS)
		p->backoff_ms = WORKER_BACKOFF_MAX_MS;
	p->ready_since_ms = 0;
	p->restarts++;
	worker_set_state(p, WS_BACKOFF);
	log_info("peer %s: restarting in %llu ms", p->name,
	    (unsigned long long)p->backoff_ms);
	worker_timer_arm(p, p->backoff_ms);
}

/*
 * Both the socket's EOF and the reaping must have happened before the
 * worker is done with (ntpd's race): requests are answered on EOF, the
 * restart decided once the exit status says why.
 */
static void
worker_finish(struct peer *p)
{
	worker_close(p);
	if (!p->reaped) {
		/* A worker that closed its socket but lives on is killed. */
		worker_timer_arm(p, WORKER_STOP_TIMEOUT_MS);
		return;
	}
	if (p->state == WS_STOPPING || p->state == WS_STOPPED) {
		worker_set_state(p, WS_STOPPED);
		return;
	}
	if (p->permanent) {
		log_warnx("peer %s: failed: %s (permanent; fix the "
		    "configuration and reconnect)", p->name, p->cause);
		worker_give_up(p);
		return;
	}
	worker_schedule_restart(p);
}

/*
 * Signals a gateway could cause: a stack smash (SIGABRT), a wild pointer,
 * the sandbox.  SIGKILL or SIGTERM from outside tell an attacker nothing.
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

void
worker_exited(pid_t pid, int status)
{
	struct peer	*p;
	char		 why[128];

	TAILQ_FOREACH(p, &peers, entry)
		if (p->pid == pid && !p->reaped)
			break;
	if (p == NULL)
		return;
	p->reaped = 1;
	exit_reason(status, why, sizeof(why));
	p->crashed = p->killed || worker_exit_is_crash(status);
	/* A crash: its successor is exec'd (see proc_spawn_worker()). */
	p->signaled = WIFSIGNALED(status) && worker_signal_is_crash(
	    WTERMSIG(status));
	p->permanent = WIFEXITED(status) &&
	    (WEXITSTATUS(status) == EX_CONFIG || WEXITSTATUS(status) == EX_NOPERM);
	if (p->state != WS_STOPPING) {
		if (p->cause[0] == '\0' || (!p->killed && !WIFEXITED(status)))
			strlcpy(p->cause, why, sizeof(p->cause));
		log_warnx("peer %s: worker %d %s%s%s", p->name, (int)pid, why,
		    p->cause[0] && strcmp(p->cause, why) ? ": " : "",
		    strcmp(p->cause, why) ? p->cause : "");
	}
	p->killed = 0;
	if (!p->eof) {
		/* Its socket may still hold answers: read them first. */
		worker_read(p);
		if (!p->eof) {
			p->eof = 1;
			worker_finish(p);
		}
		return;
	}
	worker_finish(p);
}

/*
 * Liveness: a PING every WORKER_PING_INTERVAL_MS; the timer is then armed
 * for the PONG's deadline, so a hung worker is killed WORKER_PING_TIMEOUT_MS
 * after the ping it did not answer, not a tick later.
 */
static void
worker_ping(struct peer *p)
{
	if (p->ping_sent_ms != 0) {
		worker_kill(p, "worker missed its ping deadline (%d ms)",
		    WORKER_PING_TIMEOUT_MS);
		return;
	}
	p->ping_seq++;
	p->ping_sent_ms = now_ms();
	if (worker_send(p, MSG_PING, p->ping_seq, NULL, 0) == 0)
		worker_timer_arm(p, WORKER_PING_TIMEOUT_MS);
}

static void
worker_timer(evutil_socket_t fd, short events, void *arg)
{
	struct peer	*p = arg;

	if (p->fd == -1 && !p->reaped && p->pid > 0) {
		/* Socket closed, process still there: make sure it goes. */
		kill(p->pid, SIGKILL);
		return;
	}
	switch (p->state) {
	case WS_STARTING:
		worker_kill(p, "worker not ready after %d ms",
		    WORKER_READY_TIMEOUT_MS);
		break;
	case WS_READY:
		worker_ping(p);
		break;
	case WS_BACKOFF:
		peer_start(p);
		break;
	case WS_STOPPING:
		if (!p->reaped && p->pid > 0)
			kill(p->pid, SIGKILL);
		break;
	default:
		break;
	}
}

/* Ask every worker to stop; SIGKILL after WORKER_STOP_TIMEOUT_MS. */
void
peer_stop_all(void)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry) {
		if (p->fd != -1 && !p->reaped) {
			worker_set_state(p, WS_STOPPING);
			strlcpy(p->cause, "mesh shutting down", sizeof(p->cause));
			worker_send(p, MSG_SHUTDOWN, 0, NULL, 0);
			worker_timer_arm(p, WORKER_STOP_TIMEOUT_MS);
		} else {
			if (p->timer != NULL)
				evtimer_del(p->timer);
			worker_set_state(p, WS_STOPPED);
		}
	}
}

/* Are all workers gone (for a clean exit)? */
int
peer_all_stopped(void)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &peers, entry)
		if (p->pid > 0 && !p->reaped)
			return (0);
	return (1);
}

void
peer_free_all(void)
{
	struct peer	*p;

	while ((p = TAILQ_FIRST(&peers)) != NULL) {
		TAILQ_REMOVE(&peers, p, entry);
		if (p->pid > 0 && !p->reaped) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
		}
		worker_close(p);
		if (p->ev != NULL)
			event_free(p->ev);
		if (p->timer != NULL)
			event_free(p->timer);
		if (p->server_info != NULL)
			json_object_put(p->server_info);
		free(p);
	}
	npeers = 0;
}
