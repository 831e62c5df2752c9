/*
 * The Streamable HTTP front-end (MCP 2025-03-26 .. 2025-11-25, server side)
 * on one endpoint, /mcp: the libmicrohttpd daemon and its connections.
 * MHD runs in external epoll mode: its epoll descriptor is one read event
 * on the supervisor's libevent base, and a timer follows MHD_get_timeout().
 * No threads.
 *
 * A request answered later suspends its connection; the answer resumes
 * it and MHD calls the handler again, which queues the response.  Per
 * connection state (struct hconn, http.h) lives from MHD's connection
 * start to its close and is reused by every request on a keep-alive
 * connection.
 *
 * What no client can take from the others:
 *	connections	at the cap, a new connection evicts the oldest one
 *			without a complete request; if every one is busy
 *			it is answered 503 (MHD's own limit is set higher,
 *			so nobody gets a reset)
 *	time		a new connection's headers must be in within
 *			HTTP_HEADER_TIMEOUT_MS, a request within
 *			HTTP_CONN_IDLE_TIMEOUT_S
 *	memory		answer bytes held for clients (collected, queued,
 *			unread) are capped by HTTP_ANSWER_BUDGET: past it
 *			the slowest readers are closed
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/queue.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "jsonrpc.h"
#include "log.h"
#include "mesh.h"
#include "http.h"
#include "xmalloc.h"

static void	 http_run(void);
static void	 http_wake(void);

static struct MHD_Daemon	*httpd;
static struct event		*http_ev;	/* MHD's epoll fd readable */
static struct event		*http_timer;	/* MHD's timeout, or a wake-up */
static struct event		*http_sweep;	/* idle sessions */
static struct MHD_Response	*http_empty;	/* 200/202 without body */
static int			 http_bound_port;
static int			 http_kick;	/* resumed: run MHD again */
int				 http_loopback;	/* Host checked */

static TAILQ_HEAD(, hconn)	 http_conns = TAILQ_HEAD_INITIALIZER(http_conns);
static unsigned			 http_nconns, http_conn_max;
/* Connections holding answer bytes, first held first. */
static TAILQ_HEAD(, hconn)	 http_holders =
				    TAILQ_HEAD_INITIALIZER(http_holders);
static size_t			 http_held;

/* --- responses ----------------------------------------------------------- */

static void
http_text_free(void *arg)
{
	free(arg);
}

/*
 * Queue text (owned) as an application/json response; it is sent from
 * that buffer and freed once MHD is done with it.  Its bytes count as
 * held for the client until the request completes.
 */
enum MHD_Result
http_send(struct hconn *hc, unsigned status, char *text, size_t len,
    const char *hname, const char *hvalue)
{
	struct MHD_Response	*r;
	enum MHD_Result		 ret;

	hc->r.state = HS_DONE;
	r = MHD_create_response_from_buffer_with_free_callback_cls(len, text,
	    http_text_free, text);
	if (r == NULL) {
		free(text);
		return (MHD_NO);
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
	if (hname != NULL)
		MHD_add_response_header(r, hname, hvalue);
	if (hc->refused)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(hc->conn, status, r);
	MHD_destroy_response(r);
	if (ret == MHD_YES)
		http_hold(hc, len);
	return (ret);
}

enum MHD_Result
http_send_json(struct hconn *hc, unsigned status, struct json_object *msg,
    const char *hname, const char *hvalue)
{
	const char	*s;
	size_t		 len;
	char		*text;

	s = jsonrpc_string(msg, &len);
	text = xstrndup(s, len);
	json_object_put(msg);
	return (http_send(hc, status, text, len, hname, hvalue));
}

/* Transport errors: a JSON-RPC error without id, as the SDK sends. */
enum MHD_Result
http_error(struct hconn *hc, unsigned status, int code, const char *fmt, ...)
{
	char	 msg[256];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return (http_send_json(hc, status, jsonrpc_error(NULL, code, msg, NULL),
	    NULL, NULL));
}

enum MHD_Result
http_empty_reply(struct hconn *hc, unsigned status)
{
	hc->r.state = HS_DONE;
	return (MHD_queue_response(hc->conn, status, http_empty));
}

/* --- answer bytes held for clients --------------------------------------- */

size_t
http_held_total(void)
{
	return (http_held);
}

/*
 * Over the budget: the connections that have held bytes longest are
 * the slowest readers; they are closed until the rest fit.
 */
static void
http_budget(void)
{
	struct hconn	*hc, *next;
	size_t		 keep = http_held;

	for (hc = TAILQ_FIRST(&http_holders); hc != NULL &&
	    keep > HTTP_ANSWER_BUDGET; hc = next) {
		next = TAILQ_NEXT(hc, hentry);
		if (hc->closing)
			continue;
		keep -= hc->held;
		log_warnx("http: %zu answer bytes held for clients (budget "
		    "%d): the slowest reader, holding %zu, is closed",
		    http_held, HTTP_ANSWER_BUDGET, hc->held);
		http_close_conn(hc, "over the answer budget");
	}
}

void
http_hold(struct hconn *hc, size_t n)
{
	if (n == 0)
		return;
	hc->held += n;
	http_held += n;
	if (!hc->holding) {
		hc->holding = 1;
		TAILQ_INSERT_TAIL(&http_holders, hc, hentry);
	}
	if (http_held > HTTP_ANSWER_BUDGET)
		http_budget();
}

void
http_unhold(struct hconn *hc, size_t n)
{
	if (n > hc->held)
		n = hc->held;
	hc->held -= n;
	http_held -= n;
	if (hc->held == 0 && hc->holding) {
		hc->holding = 0;
		TAILQ_REMOVE(&http_holders, hc, hentry);
	}
}

/* Shutting the socket down makes MHD close the connection on its run. */
void
http_close_conn(struct hconn *hc, const char *why)
{
	if (hc->closing)
		return;
	log_debug("http: connection closed: %s", why);
	hc->closing = 1;
	if (hc->fd != -1)
		shutdown(hc->fd, SHUT_RDWR);
	if (hc->suspended) {
		hc->gone = 1;
		http_resume(hc);
	}
	http_wake();
}

/* --- the event loop glue ------------------------------------------------- */

static void
http_rearm(void)
{
	MHD_UNSIGNED_LONG_LONG	 ms;
	struct timeval		 tv;

	if (MHD_get_timeout(httpd, &ms) == MHD_YES) {
		tv = ms_tv(ms);
		evtimer_add(http_timer, &tv);
	} else
		evtimer_del(http_timer);
}

static void
http_run(void)
{
	http_kick = 0;
	MHD_run(httpd);
	/*
	 * A connection resumed from inside MHD's callbacks is not seen by
	 * this run, and MHD_get_timeout() does not say so: run again.
	 */
	if (http_kick)
		http_wake();
	else
		http_rearm();
}

static void
http_run_cb(evutil_socket_t fd, short what, void *arg)
{
	http_run();
}

/*
 * MHD must run soon: a connection was resumed from outside its callbacks.
 * The run is made active rather than put on a zero timer: it happens in
 * this same turn of the loop, without another epoll_wait.
 */
static void
http_wake(void)
{
	if (http_timer == NULL)
		return;
	http_kick = 1;
	event_active(http_timer, EV_TIMEOUT, 1);
}

/*
 * MHD does not see a hang-up while a connection is suspended, so each
 * connection has its own watch.  It stays registered for the connection's
 * life, edge-triggered (two epoll_ctl a call saved): a hang-up seen while
 * MHD still had the connection is remembered and acted on at suspend.
 */
void
http_suspend(struct hconn *hc)
{
	MHD_suspend_connection(hc->conn);
	hc->suspended = 1;
	if (hc->hup && hc->watch != NULL)
		event_active(hc->watch, EV_CLOSED, 1);
}

void
http_resume(struct hconn *hc)
{
	if (!hc->suspended)
		return;
	hc->suspended = 0;
	MHD_resume_connection(hc->conn);
	http_wake();
}

void
http_arm_deadline(struct hconn *hc, uint64_t ms)
{
	struct timeval	tv = ms_tv(ms);

	evtimer_add(hc->deadline, &tv);
}

static void
http_mhd_log(void *arg, const char *fmt, va_list ap)
{
	char	 line[512];
	size_t	 n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_debug("http: mhd: %s", line);
}

/* --- MHD callbacks ------------------------------------------------------- */

/* Headers are in: route, check, and answer at once unless a body follows. */
static enum MHD_Result
http_begin(struct hconn *hc, const char *url, const char *method)
{
	hc->r.state = HS_IDLE;
	if (hc->refused) {
		evtimer_del(hc->deadline);
		return (http_error(hc, MHD_HTTP_SERVICE_UNAVAILABLE,
		    MCP_BAD_REQUEST, "Service Unavailable: %u connections, "
		    "all busy", http_conn_max));
	}
	if (strcmp(url, HTTP_PATH) != 0)
		return (http_error(hc, MHD_HTTP_NOT_FOUND, MCP_BAD_REQUEST,
		    "Not Found"));
	if (http_forbidden(hc->conn, http_loopback))
		return (http_error(hc, MHD_HTTP_FORBIDDEN, MCP_BAD_REQUEST,
		    "Forbidden: invalid Origin or Host header"));
	if (strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
		/* Headers in: the body has the rest of the request's time. */
		http_arm_deadline(hc, HTTP_CONN_IDLE_TIMEOUT_S * 1000);
		return (http_post_begin(hc));
	}
	evtimer_del(hc->deadline);
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
		return (http_get(hc));
	if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0)
		return (http_delete(hc));
	return (http_send_json(hc, MHD_HTTP_METHOD_NOT_ALLOWED,
	    jsonrpc_error(NULL, MCP_BAD_REQUEST, "Method not allowed", NULL),
	    MHD_HTTP_HEADER_ALLOW, HTTP_ALLOW));
}

static enum MHD_Result
http_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **req_cls)
{
	const union MHD_ConnectionInfo	*ci;
	struct hconn			*hc = *req_cls;

	if (hc == NULL) {
		ci = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		if (ci == NULL || (hc = ci->socket_context) == NULL)
			return (MHD_NO);
		*req_cls = hc;
		return (http_begin(hc, url, method));
	}
	switch (hc->r.state) {
	case HS_BODY:
		if (*size != 0)
			return (http_post_data(hc, data, size));
		return (http_post(hc));
	case HS_WAIT:
		return (http_post_resumed(hc));
	default:
		*size = 0;	/* answered early: drop the rest */
		return (MHD_YES);
	}
}

/* One request is over, answered or not; the connection may stay. */
static void
http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct hconn	*hc = *req_cls;

	if (hc == NULL)
		return;
	*req_cls = NULL;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && hc->r.nwait > 0)
		log_debug("http: client left before its answer");
	if (hc->r.state == HS_EVENTS && hc->r.hs != NULL &&
	    hc->r.hs->stream == hc)
		http_stream_close(hc);
	http_forget(hc);
	http_req_clear(hc);
	hc->suspended = hc->gone = 0;
	buf_reset(&hc->body);
	buf_trim(&hc->body, HTTP_BODY_KEEP);
	buf_free(&hc->out);
	/* The response and any events are freed by now. */
	http_unhold(hc, hc->held);
	http_arm_deadline(hc, HTTP_CONN_IDLE_TIMEOUT_S * 1000);
}

/*
 * A request's headers and body must arrive within their deadline.  MHD's
 * own timeout restarts on every byte, so one byte a second would hold a
 * connection forever; shutting the socket down makes MHD close it.
 */
static void
http_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn	*hc = arg;

	http_close_conn(hc, "request not complete in time");
}

/* The peer hung up on a suspended connection. */
static void
http_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn	*hc = arg;

	hc->hup = 1;
	if (!hc->suspended)
		return;
	if (hc->r.state == HS_EVENTS && hc->r.hs != NULL &&
	    hc->r.hs->stream == hc) {
		http_stream_close(hc);
		return;
	}
	log_debug("http: client left before its answer");
	http_forget(hc);
	hc->gone = 1;
	http_resume(hc);
}

/*
 * At the cap: the oldest connection without a complete request (idle
 * between requests, or still sending one) makes room.  NULL if every
 * connection is busy with a request.
 */
static struct hconn *
http_evictable(struct hconn *except)
{
	struct hconn	*hc;

	TAILQ_FOREACH(hc, &http_conns, centry) {
		if (hc == except || hc->closing || hc->refused)
			continue;
		if (hc->r.state == HS_IDLE || hc->r.state == HS_BODY)
			return (hc);
	}
	return (NULL);
}

static void
http_conn_started(struct MHD_Connection *conn, void **sock_ctx)
{
	const union MHD_ConnectionInfo	*ci;
	struct hconn			*hc, *old;

	hc = xcalloc(1, sizeof(*hc));
	hc->conn = conn;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	hc->fd = ci != NULL ? ci->connect_fd : -1;
	hc->deadline = evtimer_new(ev_base, http_deadline_cb, hc);
	http_arm_deadline(hc, HTTP_HEADER_TIMEOUT_MS);
	if (hc->fd != -1 && (event_base_get_features(ev_base) &
	    (EV_FEATURE_EARLY_CLOSE | EV_FEATURE_ET)) ==
	    (EV_FEATURE_EARLY_CLOSE | EV_FEATURE_ET)) {
		hc->watch = event_new(ev_base, hc->fd, EV_CLOSED | EV_ET |
		    EV_PERSIST, http_watch_cb, hc);
		if (hc->watch != NULL)
			event_add(hc->watch, NULL);
	}
	TAILQ_INSERT_TAIL(&http_conns, hc, centry);
	http_nconns++;
	*sock_ctx = hc;
	if (http_nconns <= http_conn_max)
		return;
	if ((old = http_evictable(hc)) != NULL)
		http_close_conn(old, "the oldest idle connection, evicted "
		    "for a new one at the cap");
	else
		hc->refused = 1;
}

static void
http_connection(void *cls, struct MHD_Connection *conn, void **sock_ctx,
    enum MHD_ConnectionNotificationCode toe)
{
	struct hconn	*hc;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		http_conn_started(conn, sock_ctx);
		return;
	}
	if ((hc = *sock_ctx) == NULL)
		return;
	*sock_ctx = NULL;
	TAILQ_REMOVE(&http_conns, hc, centry);
	http_nconns--;
	http_unhold(hc, hc->held);
	event_free(hc->deadline);
	if (hc->watch != NULL)
		event_free(hc->watch);
	if (hc->keepalive != NULL)
		event_free(hc->keepalive);
	buf_free(&hc->body);
	buf_free(&hc->out);
	free(hc);
}

/* --- start and stop ------------------------------------------------------ */

static int
http_is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		return ((ntohl(sin->sin_addr.s_addr) >> 24) == 127);
	}
	sin6 = (const struct sockaddr_in6 *)sa;
	return (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
}

static struct MHD_Daemon *
http_daemon(const struct sockaddr *sa)
{
	unsigned int	 flags;

	flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (sa->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/*
	 * The logger first, or MHD prints its early messages itself.  Its
	 * limit is above ours by the spare connections that are answered
	 * 503: at its own limit MHD would close new connections unanswered.
	 * No per-IP limit: every local client shares 127.0.0.1.
	 */
	return (MHD_start_daemon(flags, 0, NULL, NULL, http_handler, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, sa,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)(http_conn_max + HTTP_CONNECTIONS_SPARE),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_CONN_IDLE_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY_MAX,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, http_connection, NULL,
	    MHD_OPTION_END));
}

static void
http_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	http_session_sweep();
}

static int
http_events(void)
{
	const union MHD_DaemonInfo	*di;
	struct timeval			 tv = ms_tv(HTTP_SESSION_SWEEP_MS);

	if ((di = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_EPOLL_FD)) == NULL)
		return (-1);
	http_ev = event_new(ev_base, di->epoll_fd, EV_READ | EV_PERSIST,
	    http_run_cb, NULL);
	http_timer = evtimer_new(ev_base, http_run_cb, NULL);
	http_sweep = event_new(ev_base, -1, EV_PERSIST, http_sweep_cb, NULL);
	if (http_ev == NULL || http_timer == NULL || http_sweep == NULL)
		return (-1);
	event_add(http_ev, NULL);
	evtimer_add(http_sweep, &tv);
	return (0);
}

int
http_start(const char *addr, int port, unsigned conn_max)
{
	const union MHD_DaemonInfo	*di;
	struct addrinfo			 hints, *ai;
	char				 serv[16];
	int				 error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%d", port);
	if ((error = getaddrinfo(addr, serv, &hints, &ai)) != 0) {
		log_warnx("http: %s: %s", addr, gai_strerror(error));
		return (-1);
	}
	http_conn_max = conn_max;
	http_loopback = http_is_loopback(ai->ai_addr);
	httpd = http_daemon(ai->ai_addr);
	freeaddrinfo(ai);
	if (httpd == NULL) {
		log_warnx("http: cannot listen on %s port %d", addr, port);
		return (-1);
	}
	if (http_events() == -1) {
		log_warnx("http: cannot hook libmicrohttpd to the event loop");
		http_stop();
		return (-1);
	}
	http_empty = MHD_create_response_from_buffer(0, (void *)"",
	    MHD_RESPMEM_PERSISTENT);
	di = MHD_get_daemon_info(httpd, MHD_DAEMON_INFO_BIND_PORT);
	http_bound_port = di != NULL ? di->port : port;
	if (strchr(addr, ':') != NULL)
		log_info("http: listening on http://[%s]:%d/mcp (%u "
		    "connections)", addr, http_bound_port, http_conn_max);
	else
		log_info("http: listening on http://%s:%d/mcp (%u connections)",
		    addr, http_bound_port, http_conn_max);
	http_rearm();
	return (0);
}

void
http_stop(void)
{
	if (httpd == NULL)
		return;
	/*
	 * MHD must not stop with suspended connections: ending the sessions
	 * resumes every one waiting on them.
	 */
	http_session_end_all();
	MHD_stop_daemon(httpd);
	httpd = NULL;
	if (http_ev != NULL)
		event_free(http_ev);
	if (http_timer != NULL)
		event_free(http_timer);
	if (http_sweep != NULL)
		event_free(http_sweep);
	http_ev = http_timer = http_sweep = NULL;
	if (http_empty != NULL)
		MHD_destroy_response(http_empty);
	http_empty = NULL;
	http_bound_port = 0;
}

int
http_port(void)
{
	return (http_bound_port);
}
