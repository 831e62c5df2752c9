/*
 * libcurl's multi handle: every transfer of the worker runs on it, over
 * at most UPSTREAM_HOST_CONNECTIONS_MAX keep-alive connections.  Here it
 * is set up (before the sandbox), driven from the worker's loop, and
 * used once more at shutdown to DELETE the session.
 *
 * Finished transfers go to the done queue before their owner hears of
 * them, so that an owner that exits (a failed handshake) leaves nothing
 * that upstream_free() cannot find.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <curl/curl.h>

#include "log.h"
#include "upstream.h"
#include "util.h"

static void	 multi_add_pending(void);
static void	 multi_collect(void);
static void	 multi_deliver(void);
static CURLcode	 multi_perform_last(CURL *, long);

void
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
	resolve_url(worker_conf.url);
}

uint16_t
upstream_port(void)
{
	return (xs.port);
}

/* How long the loop may sleep (libcurl's own timers come on top). */
int
upstream_timeout(void)
{
	int	t;

	/* Transfers queued outside upstream_run() must not wait a poll out. */
	if (!TAILQ_EMPTY(&xs.pending) || !TAILQ_EMPTY(&xs.done))
		return (0);
	if ((t = client_timeout(now_ms())) == -1 || t > 1000)
		return (1000);
	return (t);
}

/* Wait for fd (the supervisor's socket) and libcurl's sockets. */
short
upstream_wait(int fd, short events, int timeout_ms)
{
	struct curl_waitfd	 wfd;
	CURLMcode		 mc;
	int			 n;

	wfd.fd = fd;
	wfd.events = 0;
	if (events & POLLIN)
		wfd.events |= CURL_WAIT_POLLIN;
	if (events & POLLOUT)
		wfd.events |= CURL_WAIT_POLLOUT;
	wfd.revents = 0;
	mc = curl_multi_poll(xs.multi, &wfd, 1, timeout_ms, &n);
	if (mc != CURLM_OK)
		sup_fail(EX_SOFTWARE, "curl_multi_poll: %s",
		    curl_multi_strerror(mc));
	return ((wfd.revents & CURL_WAIT_POLLIN) ? POLLIN : 0);
}

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
		x->rc = cm->data.result;
		xq_move(x, &xs.done);
	}
}

/* Each owner takes its finished transfer (put, posted again or held). */
static void
multi_deliver(void)
{
	struct xfer	*x;

	while ((x = TAILQ_FIRST(&xs.done)) != NULL) {
		x->done(x, x->rc);
		/* x may be freed: only its address is compared. */
		if (TAILQ_FIRST(&xs.done) == x)
			fatalx("a finished transfer was not taken");
	}
}

/* Move every transfer along; called once per loop turn. */
void
upstream_run(void)
{
	int	running;

	client_run(now_ms());
	multi_add_pending();
	curl_multi_perform(xs.multi, &running);
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
	CURLMsg		*m;
	CURLcode	 rc = CURLE_OPERATION_TIMEDOUT;
	uint64_t	 deadline = now_ms() + timeout_ms;
	int		 n;

	if (curl_multi_add_handle(xs.multi, e) != CURLM_OK)
		return (CURLE_FAILED_INIT);
	while (now_ms() < deadline) {
		curl_multi_perform(xs.multi, &n);
		while ((m = curl_multi_info_read(xs.multi, &n)) != NULL) {
			if (m->msg == CURLMSG_DONE && m->easy_handle == e) {
				rc = m->data.result;
				goto done;
			}
		}
		curl_multi_poll(xs.multi, NULL, 0, 50, NULL);
	}
done:
	curl_multi_remove_handle(xs.multi, e);
	return (rc);
}

/* MSG_SHUTDOWN: end the session politely, within a second. */
void
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
void
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
	curl_global_cleanup();
}
