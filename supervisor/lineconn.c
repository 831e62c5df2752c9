/*
 * Newline-delimited JSON-RPC over a pair of descriptors: the stdio
 * front-end today, other line protocols later.  Reading splits lines
 * (a line over line_max is reported once as an empty line of length
 * (size_t)-1 and skipped to its end); writing queues what the other side
 * has not taken yet, up to out_max bytes, past which the other side is
 * taken to have stopped reading (overflow).
 *
 * Descriptors that epoll refuses (regular files) are read as fast as they
 * come and written blocking: a file always takes what is written.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "log.h"
#include "mesh.h"
#include "xmalloc.h"

struct lineconn {
	int			 in, out;
	size_t			 line_max, out_max;
	const struct lineconn_ops *ops;
	void			*arg;
	struct event		*ev_in, *ev_out;
	int			 in_polled, out_polled;
	int			 skipping;	/* discarding an over-long line */
	int			 dead;		/* EOF, error or overflow */
	int			 busy;		/* in a callback */
	int			 freed;		/* free once out of it */
	int			 free_flush_ms;
	struct buf		 inbuf, outbuf;
};

static void	lineconn_read(evutil_socket_t, short, void *);
static void	lineconn_flush(evutil_socket_t, short, void *);

static void
lineconn_fail(struct lineconn *lc, int error)
{
	if (lc->dead)
		return;
	lc->dead = 1;
	event_del(lc->ev_in);
	event_del(lc->ev_out);
	lc->ops->eof(lc->arg, error);
}

/* Write what the descriptor takes now. */
static void
lineconn_flush(evutil_socket_t fd, short events, void *arg)
{
	struct lineconn	*lc = arg;
	ssize_t		 n;

	while (buf_used(&lc->outbuf) > 0) {
		n = write(lc->out, buf_data(&lc->outbuf),
		    buf_used(&lc->outbuf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN && lc->out_polled) {
			event_add(lc->ev_out, NULL);
			return;
		}
		if (n <= 0) {
			log_warn("write to descriptor %d", lc->out);
			buf_reset(&lc->outbuf);
			lineconn_fail(lc, 1);
			return;
		}
		buf_consume(&lc->outbuf, (size_t)n);
	}
	buf_trim(&lc->outbuf, MSG_BUF_KEEP);
}

void
lineconn_write(struct lineconn *lc, const char *line, size_t len)
{
	char	*p;

	if (lc->dead)
		return;
	if (buf_used(&lc->outbuf) + len + 1 > lc->out_max) {
		buf_reset(&lc->outbuf);
		lc->dead = 1;
		event_del(lc->ev_in);
		event_del(lc->ev_out);
		lc->ops->overflow(lc->arg);
		return;
	}
	p = buf_reserve(&lc->outbuf, len + 1);
	memcpy(p, line, len);
	p[len] = '\n';
	buf_added(&lc->outbuf, len + 1);
	lineconn_flush(-1, 0, lc);
}

static int
line_blank(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return (0);
	return (1);
}

/* Hand over every whole line read; keep a partial one for later. */
static void
lineconn_lines(struct lineconn *lc)
{
	char	*start, *nl;
	size_t	 len;

	while (!lc->dead && !lc->freed && buf_used(&lc->inbuf) > 0) {
		start = buf_data(&lc->inbuf);
		if ((nl = memchr(start, '\n', buf_used(&lc->inbuf))) == NULL)
			break;
		len = nl - start;
		if (lc->skipping)
			lc->skipping = 0;
		else if (!line_blank(start, len))
			lc->ops->line(lc->arg, start, len);
		buf_consume(&lc->inbuf, len + 1);
	}
	if (!lc->dead && !lc->freed && buf_used(&lc->inbuf) > lc->line_max) {
		if (!lc->skipping)
			lc->ops->line(lc->arg, NULL, (size_t)-1);
		lc->skipping = 1;
		buf_reset(&lc->inbuf);
	}
}

static void
lineconn_read(evutil_socket_t fd, short events, void *arg)
{
	struct lineconn	*lc = arg;
	ssize_t		 n;

	n = read(lc->in, buf_reserve(&lc->inbuf, MSG_READ_CHUNK),
	    MSG_READ_CHUNK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1)
			log_warn("read from descriptor %d", lc->in);
		lineconn_fail(lc, n == -1);
		return;
	}
	buf_added(&lc->inbuf, (size_t)n);
	lc->busy = 1;
	lineconn_lines(lc);
	lc->busy = 0;
	if (lc->freed) {
		lineconn_free(lc, lc->free_flush_ms);
		return;
	}
	if (!lc->in_polled && !lc->dead)
		event_active(lc->ev_in, EV_READ, 0);
}

struct lineconn *
lineconn_new(int in, int out, size_t line_max, size_t out_max,
    const struct lineconn_ops *ops, void *arg)
{
	struct lineconn	*lc;

	lc = xcalloc(1, sizeof(*lc));
	lc->in = in;
	lc->out = out;
	lc->line_max = line_max;
	lc->out_max = out_max;
	lc->ops = ops;
	lc->arg = arg;
	fd_nonblock(in);
	fd_nonblock(out);
	lc->ev_in = event_new(ev_base, in, EV_READ | EV_PERSIST,
	    lineconn_read, lc);
	lc->ev_out = event_new(ev_base, out, EV_WRITE, lineconn_flush, lc);
	/* Regular files cannot be polled: read them as fast as they come. */
	lc->in_polled = event_add(lc->ev_in, NULL) == 0;
	if (!lc->in_polled)
		event_active(lc->ev_in, EV_READ, 0);
	lc->out_polled = event_add(lc->ev_out, NULL) == 0;
	if (lc->out_polled)
		event_del(lc->ev_out);
	else
		fd_blocking(out);
	return (lc);
}

/*
 * Say what is still owed, but never wait on a reader that stopped: at
 * most flush_ms, non-blocking (a client that does not read must not
 * keep the mesh from exiting).
 */
static void
lineconn_drain(struct lineconn *lc, int flush_ms)
{
	struct pollfd	pfd;
	uint64_t	deadline = now_ms() + (uint64_t)flush_ms;
	uint64_t	now;

	pfd.fd = lc->out;
	pfd.events = POLLOUT;
	while (!lc->dead && buf_used(&lc->outbuf) > 0) {
		if ((now = now_ms()) >= deadline)
			break;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			break;
		lineconn_flush(-1, 0, lc);
	}
	if (buf_used(&lc->outbuf) > 0)
		log_warnx("descriptor %d: %zu bytes not taken within %d ms, "
		    "dropped", lc->out, buf_used(&lc->outbuf), flush_ms);
}

void
lineconn_free(struct lineconn *lc, int flush_ms)
{
	if (lc->busy) {
		/* Called from a line: done once lineconn_read is back. */
		lc->freed = 1;
		lc->free_flush_ms = flush_ms;
		return;
	}
	if (flush_ms > 0)
		lineconn_drain(lc, flush_ms);
	event_free(lc->ev_in);
	event_free(lc->ev_out);
	buf_free(&lc->inbuf);
	buf_free(&lc->outbuf);
	free(lc);
}
