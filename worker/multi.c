/*
 * libcurl's multi handle in the worker's loop, and the Streamable HTTP
 * transport's table of operations.  Every transfer of the worker runs on
 * the one multi handle, over at most UPSTREAM_HOST_CONNECTIONS_MAX
 * keep-alive connections.
 *
 * libcurl tells us which sockets it wants watched and when it next needs
 * the time (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION); the loop
 * polls them with the supervisor's socket and curl_multi_socket_action()
 * runs only the transfers whose socket is ready or whose timer is due.
 * curl_multi_perform() looked at every running transfer on every loop
 * turn, a poll(2) each; see ARCHITECTURE.md for the figures.
 *
 * Finished transfers go to the done queue before their owner hears of
 * them, so that an owner that exits (a failed handshake) leaves nothing
 * that upstream_free() cannot find, and so that they wait there while
 * the supervisor is behind (sup_congested(), WORKER_UPQUEUE_HIGH), as
 * running transfers wait paused.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <curl/curl.h>

#include "log.h"
#include "sandbox.h"
#include "transport.h"
#include "upstream.h"
#include "util.h"

/*
 * The sockets libcurl watches.  No process of ours holds more than
 * RLIMIT_NOFILE descriptors, so neither does this table.
 */
static struct {
	struct pollfd	 fds[WORKER_NOFILE_MAX];
	int		 n;
	int		 timer_on;	/* libcurl wants the time */
	uint64_t	 timer_at;	/* then, monotonic ms */
} mp;

static int	 multi_socket_cb(CURL *, curl_socket_t, int, void *, void *);
static int	 multi_timer_cb(CURLM *, long, void *);
static int	 multi_fds(struct pollfd *, int);
static void	 multi_sockets(struct pollfd *, int);
static void	 multi_timer(uint64_t);
static void	 multi_add_pending(void);
static void	 multi_collect(void);
static void	 multi_deliver(void);
static CURLcode	 multi_perform_last(CURL *, long);
static void	 upstream_init(void);
static void	 upstream_policy(struct sandbox_policy *);
static int	 upstream_timeout(void);
static void	 upstream_run(struct pollfd *, int);
static void	 upstream_shutdown(void);
static void	 upstream_free(void);

const struct transport_ops transport_streamable_http = {
	.name = "streamable-http",
	.kind = TRANSPORT_STREAMABLE_HTTP,
	.init = upstream_init,
	.policy = upstream_policy,
	.start = upstream_start,
	.ready = upstream_ready,
	.fds = multi_fds,
	.timeout = upstream_timeout,
	.run = upstream_run,
	.request = call_request,
	.notify = call_notify,
	.cancel = call_cancel,
	.answer = client_answer_gateway,
	.caps = client_caps,
	.shutdown = upstream_shutdown,
	.free = upstream_free,
};

static void
upstream_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		sup_fail(EX_SOFTWARE, "curl_global_init failed");
	TAILQ_INIT(&xs.pool);
	TAILQ_INIT(&xs.pending);
	TAILQ_INIT(&xs.running);
	TAILQ_INIT(&xs.done);
	if ((xs.multi = curl_multi_init()) == NULL)
		sup_fail(EX_SOFTWARE, "curl_multi_init failed");
	curl_multi_setopt(xs.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    (long)UPSTREAM_HOST_CONNECTIONS_MAX);
	/*
	 * libcurl keeps at most 4 idle connections per easy handle in the
	 * multi handle, and ours are added and removed per call: in every
	 * lull (the GET stream alone: 4) it closed keep-alive connections
	 * that the next burst opened again, 4% of calls paying a connect.
	 */
	curl_multi_setopt(xs.multi, CURLMOPT_MAXCONNECTS,
	    (long)UPSTREAM_HOST_CONNECTIONS_MAX);
	curl_multi_setopt(xs.multi, CURLMOPT_SOCKETFUNCTION, multi_socket_cb);
	curl_multi_setopt(xs.multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
	resolve_url(worker_conf.url);
}

/* Connects go to the gateway's port alone. */
static void
upstream_policy(struct sandbox_policy *pol)
{
	pol->port = xs.port;
}

/* libcurl wants fd watched for what (CURL_POLL_*), or no more. */
static int
multi_socket_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
	int	i;

	for (i = 0; i < mp.n; i++)
		if (mp.fds[i].fd == fd)
			break;
	if (what == CURL_POLL_REMOVE) {
		if (i < mp.n)
			mp.fds[i] = mp.fds[--mp.n];
		return (0);
	}
	if (i == mp.n) {
		if (mp.n == WORKER_NOFILE_MAX)
			fatalx("libcurl watches more than %d sockets",
			    WORKER_NOFILE_MAX);
		mp.fds[mp.n++].fd = fd;
	}
	mp.fds[i].events = ((what & CURL_POLL_IN) ? POLLIN : 0) |
	    ((what & CURL_POLL_OUT) ? POLLOUT : 0);
	mp.fds[i].revents = 0;
	return (0);
}

/* libcurl's one timer: -1 none, 0 at once (never run from in here). */
static int
multi_timer_cb(CURLM *m, long timeout_ms, void *arg)
{
	mp.timer_on = timeout_ms >= 0;
	if (mp.timer_on)
		mp.timer_at = now_ms() + (uint64_t)timeout_ms;
	return (0);
}

static int
multi_fds(struct pollfd *pfd, int max)
{
	int	n = mp.n < max ? mp.n : max;

	memcpy(pfd, mp.fds, n * sizeof(*pfd));
	return (n);
}

/* ms until libcurl's timer is due, -1 if none. */
static int
multi_timer_wait(uint64_t now)
{
	if (!mp.timer_on)
		return (-1);
	if (now >= mp.timer_at)
		return (0);
	return (mp.timer_at - now < INT32_MAX ? (int)(mp.timer_at - now) :
	    INT32_MAX);
}

/*
 * How long the loop may sleep.  At most a second, so that what the
 * sandbox's debug mode noted is reported even when nothing happens.
 */
static int
upstream_timeout(void)
{
	uint64_t	now = now_ms();
	int		t = 1000, w;

	/* Work queued outside upstream_run() must not wait a poll out. */
	if (!TAILQ_EMPTY(&xs.pending))
		return (0);
	if ((!TAILQ_EMPTY(&xs.done) || xs.npaused > 0) && !sup_congested())
		return (0);
	if ((w = multi_timer_wait(now)) != -1 && w < t)
		t = w;
	if ((w = client_timeout(now)) != -1 && w < t)
		t = w;
	return (t);
}

/* What poll() said of libcurl's sockets, to libcurl. */
static void
multi_sockets(struct pollfd *pfd, int n)
{
	int	i, ev, running;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		ev = 0;
		if (pfd[i].revents & (POLLIN | POLLHUP))
			ev |= CURL_CSELECT_IN;
		if (pfd[i].revents & POLLOUT)
			ev |= CURL_CSELECT_OUT;
		if (pfd[i].revents & (POLLERR | POLLNVAL))
			ev |= CURL_CSELECT_ERR;
		curl_multi_socket_action(xs.multi, pfd[i].fd, ev, &running);
	}
}

static void
multi_timer(uint64_t now)
{
	int	running;

	if (mp.timer_on && now >= mp.timer_at) {
		mp.timer_on = 0;
		curl_multi_socket_action(xs.multi, CURL_SOCKET_TIMEOUT, 0,
		    &running);
	}
}

/* Adding sets libcurl's timer to 0: multi_timer() starts them. */
static void
multi_add_pending(void)
{
	struct xfer	*x;
	CURLMcode	 mc;

	while ((x = TAILQ_FIRST(&xs.pending)) != NULL) {
		xq_move(x, &xs.running);
		if ((mc = curl_multi_add_handle(xs.multi, x->easy)) != CURLM_OK)
			fatalx("curl_multi_add_handle: %s",
			    curl_multi_strerror(mc));
	}
}

/* Finished transfers, out of the multi handle, into the done queue. */
static void
multi_collect(void)
{
	struct CURLMsg	*cm;
	struct xfer	*x;
	int		 left;

	while ((cm = curl_multi_info_read(xs.multi, &left)) != NULL) {
		if (cm->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, &x);
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
		curl_multi_remove_handle(xs.multi, x->easy);
		xfer_unpaused(x);
		x->rc = cm->data.result;
		xq_move(x, &xs.done);
	}
}

/*
 * Each owner takes its finished transfer (put, posted again or held),
 * while the supervisor keeps up: an answer is a frame of up to
 * MSG_PAYLOAD_MAX, and any number of transfers can end at once.
 */
static void
multi_deliver(void)
{
	struct xfer	*x;

	while (!sup_congested() && (x = TAILQ_FIRST(&xs.done)) != NULL) {
		x->done(x, x->rc);
		/* x may be freed: only its address is compared. */
		if (TAILQ_FIRST(&xs.done) == x)
			fatalx("a finished transfer was not taken");
	}
}

/* Move every transfer along; called once per loop turn. */
static void
upstream_run(struct pollfd *pfd, int n)
{
	uint64_t	now = now_ms();

	client_run(now);
	if (xs.npaused > 0 && !sup_congested())
		xfer_resume();
	multi_add_pending();
	multi_sockets(pfd, n);
	multi_timer(now);
	multi_collect();
	multi_deliver();
	multi_add_pending();
}

/*
 * Run one transfer to its end on the worker's own multi handle (the
 * others go on meanwhile; their outcomes are dropped, we are leaving).
 * Not curl_easy_perform(): that makes a multi handle of its own, whose
 * wake-up socketpair the sandbox does not allow, and a new connection.
 */
static CURLcode
multi_perform_last(CURL *e, long timeout_ms)
{
	struct pollfd	 pfd[WORKER_NOFILE_MAX];
	CURLMsg		*m;
	CURLcode	 rc = CURLE_OPERATION_TIMEDOUT;
	uint64_t	 now, deadline = now_ms() + timeout_ms;
	int		 n, t, left;

	if (curl_multi_add_handle(xs.multi, e) != CURLM_OK)
		return (CURLE_FAILED_INIT);
	while ((now = now_ms()) < deadline) {
		multi_timer(now);
		while ((m = curl_multi_info_read(xs.multi, &left)) != NULL) {
			if (m->msg == CURLMSG_DONE && m->easy_handle == e) {
				rc = m->data.result;
				goto done;
			}
		}
		n = multi_fds(pfd, WORKER_NOFILE_MAX);
		if ((t = multi_timer_wait(now)) == -1 ||
		    (uint64_t)t > deadline - now)
			t = (int)(deadline - now);
		if (poll(pfd, n, t) == -1) {
			if (errno != EINTR)
				break;
			continue;
		}
		multi_sockets(pfd, n);
	}
done:
	curl_multi_remove_handle(xs.multi, e);
	return (rc);
}

/* MSG_SHUTDOWN: end the session politely, within a second. */
static void
upstream_shutdown(void)
{
	const struct up_session	*s = client_session();
	struct curl_slist	*l = NULL;
	CURL			*e;
	char			 line[64 + UPSTREAM_SESSION_ID_MAX];
	long			 code = 0;

	if (s->id[0] == '\0' || xs.multi == NULL)
		return;
	if ((e = curl_easy_init()) == NULL)
		return;
	snprintf(line, sizeof(line), "Mcp-Session-Id: %s", s->id);
	l = curl_slist_append(l, line);
	snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", s->version);
	l = curl_slist_append(l, line);
	curl_easy_setopt(e, CURLOPT_URL, xs.url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
	curl_easy_setopt(e, CURLOPT_RESOLVE, xs.resolve);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)UPSTREAM_DELETE_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_discard);
	/* 405: the gateway does not let clients end sessions; fine. */
	if (multi_perform_last(e, UPSTREAM_DELETE_TIMEOUT_MS) == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		log_debug("DELETE of the session: HTTP %ld", code);
	}
	curl_easy_cleanup(e);
	curl_slist_free_all(l);
}

/* Everything, for a clean exit (and a leak checker's peace). */
static void
upstream_free(void)
{
	if (xs.multi == NULL)
		return;
	xfer_free_queue(&xs.running);
	xfer_free_queue(&xs.pending);
	xfer_free_queue(&xs.done);
	client_free();
	call_free();
	xfer_free_queue(&xs.pool);
	xs.npool = 0;
	curl_multi_cleanup(xs.multi);
	xs.multi = NULL;
	curl_slist_free_all(xs.resolve);
	xs.resolve = NULL;
	mp.n = 0;
	curl_global_cleanup();
}
