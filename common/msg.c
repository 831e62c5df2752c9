/*
 * Framed message layer: fixed 16-byte header, bounded payload, one
 * contiguous buffer per direction.  This runs on every tool call, so the
 * write queue is compacted only when a frame would not fit at its end and
 * a frame is handed out as a pointer into the read buffer, never copied.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mesh-limits.h"
#include "mesh-proto.h"
#include "msg.h"
#include "util.h"
#include "xmalloc.h"

/*
 * A buffer that grew past this (for one large frame) is freed once it is
 * empty, so a single 8 MiB answer does not pin 8 MiB per peer for ever.
 */

static int	msg_hdr_check(const struct msg_hdr *);
static void	msg_wreserve(struct msgbuf *, size_t);
static void	msg_rreserve(struct msgbuf *);
static ssize_t	msg_send(int, const void *, size_t);

void
msgbuf_init(struct msgbuf *mb, int fd, size_t wmax)
{
	memset(mb, 0, sizeof(*mb));
	mb->fd = fd;
	mb->wmax = wmax != 0 ? wmax : MSG_QUEUE_MAX;
}

void
msgbuf_clear(struct msgbuf *mb)
{
	free(mb->rbuf);
	free(mb->wbuf);
	mb->rbuf = mb->wbuf = NULL;
	mb->roff = mb->rlen = mb->rcap = 0;
	mb->woff = mb->wlen = mb->wcap = 0;
}

void
msgbuf_shrink(struct msgbuf *mb)
{
	if (mb->roff == mb->rlen) {
		free(mb->rbuf);
		mb->rbuf = NULL;
		mb->roff = mb->rlen = mb->rcap = 0;
	}
	if (mb->woff == mb->wlen) {
		free(mb->wbuf);
		mb->wbuf = NULL;
		mb->woff = mb->wlen = mb->wcap = 0;
	}
}

size_t
msg_queued(const struct msgbuf *mb)
{
	return (mb->wlen - mb->woff);
}

/* Make room for need more bytes at the end of the write queue. */
static void
msg_wreserve(struct msgbuf *mb, size_t need)
{
	size_t	queued = mb->wlen - mb->woff, ncap;

	if (mb->wcap - mb->wlen >= need)
		return;
	if (mb->woff != 0) {
		memmove(mb->wbuf, mb->wbuf + mb->woff, queued);
		mb->woff = 0;
		mb->wlen = queued;
		if (mb->wcap - mb->wlen >= need)
			return;
	}
	ncap = mb->wcap != 0 ? mb->wcap : MSG_READ_CHUNK;
	while (ncap - mb->wlen < need)
		ncap *= 2;
	mb->wbuf = xreallocarray(mb->wbuf, 1, ncap);
	mb->wcap = ncap;
}

int
msg_compose2(struct msgbuf *mb, uint16_t type, uint16_t flags, uint64_t id,
    const void *a, size_t alen, const void *b, size_t blen)
{
	struct msg_hdr	hdr;
	size_t		total;

	if (alen > MSG_PAYLOAD_MAX || blen > MSG_PAYLOAD_MAX - alen) {
		errno = EMSGSIZE;
		return (-1);
	}
	total = MSG_HDR_SIZE + alen + blen;
	if (msg_queued(mb) + total > mb->wmax) {
		errno = ENOBUFS;
		return (-1);
	}
	msg_wreserve(mb, total);

	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.flags = flags;
	hdr.len = (uint32_t)(alen + blen);
	hdr.id = id;
	memcpy(mb->wbuf + mb->wlen, &hdr, MSG_HDR_SIZE);
	mb->wlen += MSG_HDR_SIZE;
	if (alen != 0) {
		memcpy(mb->wbuf + mb->wlen, a, alen);
		mb->wlen += alen;
	}
	if (blen != 0) {
		memcpy(mb->wbuf + mb->wlen, b, blen);
		mb->wlen += blen;
	}
	return (0);
}

int
msg_compose(struct msgbuf *mb, uint16_t type, uint16_t flags, uint64_t id,
    const void *data, size_t len)
{
	return (msg_compose2(mb, type, flags, id, data, len, NULL, 0));
}

/*
 * send() with MSG_NOSIGNAL so a dead worker is an EPIPE, not a SIGPIPE;
 * plain write() when the descriptor is a pipe (tests, odd set-ups).
 */
static ssize_t
msg_send(int fd, const void *buf, size_t len)
{
	ssize_t	n;

	n = send(fd, buf, len, MSG_NOSIGNAL);
	if (n == -1 && errno == ENOTSOCK)
		n = write(fd, buf, len);
	return (n);
}

int
msg_write(struct msgbuf *mb)
{
	ssize_t	n;

	while (msg_queued(mb) != 0) {
		n = msg_send(mb->fd, mb->wbuf + mb->woff, msg_queued(mb));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return (0);
			return (-1);
		}
		mb->woff += (size_t)n;
	}
	mb->woff = mb->wlen = 0;
	if (mb->wcap > MSG_BUF_KEEP) {
		free(mb->wbuf);
		mb->wbuf = NULL;
		mb->wcap = 0;
	}
	return (0);
}

static int
msg_hdr_check(const struct msg_hdr *hdr)
{
	if (hdr->type == MSG_NONE || hdr->type >= MSG_TYPE_MAX) {
		errno = EBADMSG;
		return (-1);
	}
	if (hdr->len > MSG_PAYLOAD_MAX) {
		errno = EMSGSIZE;
		return (-1);
	}
	return (0);
}

/*
 * Make room to read: at least MSG_READ_CHUNK, or the whole of a large
 * frame whose header is already in, so it is read without re-growing.
 * Frames already handed out by msg_get() move here: that is why their
 * data is valid only until the next msg_read().
 */
static void
msg_rreserve(struct msgbuf *mb)
{
	struct msg_hdr	hdr;
	size_t		have = mb->rlen - mb->roff, want = MSG_READ_CHUNK, ncap;

	if (have == 0) {
		mb->roff = mb->rlen = 0;
		if (mb->rcap > MSG_BUF_KEEP) {
			free(mb->rbuf);
			mb->rbuf = NULL;
			mb->rcap = 0;
		}
	}
	if (have >= MSG_HDR_SIZE) {
		memcpy(&hdr, mb->rbuf + mb->roff, MSG_HDR_SIZE);
		if (msg_hdr_check(&hdr) == 0 &&
		    MSG_HDR_SIZE + hdr.len > have + want)
			want = MSG_HDR_SIZE + hdr.len - have;
	}
	if (mb->rcap - mb->rlen >= want)
		return;
	if (mb->roff != 0) {
		memmove(mb->rbuf, mb->rbuf + mb->roff, have);
		mb->roff = 0;
		mb->rlen = have;
		if (mb->rcap - mb->rlen >= want)
			return;
	}
	ncap = mb->rlen + want;
	mb->rbuf = xreallocarray(mb->rbuf, 1, ncap);
	mb->rcap = ncap;
}

long
msg_read(struct msgbuf *mb)
{
	ssize_t	n;

	msg_rreserve(mb);
	do {
		n = read(mb->fd, mb->rbuf + mb->rlen, mb->rcap - mb->rlen);
	} while (n == -1 && errno == EINTR);
	if (n > 0)
		mb->rlen += (size_t)n;
	return ((long)n);
}

int
msg_get(struct msgbuf *mb, struct msg *m)
{
	struct msg_hdr	hdr;
	size_t		have = mb->rlen - mb->roff;

	if (have < MSG_HDR_SIZE)
		return (0);
	memcpy(&hdr, mb->rbuf + mb->roff, MSG_HDR_SIZE);
	/* A malformed frame stays put: every later call fails the same way. */
	if (msg_hdr_check(&hdr) == -1)
		return (-1);
	if (have - MSG_HDR_SIZE < hdr.len)
		return (0);
	m->hdr = hdr;
	m->data = mb->rbuf + mb->roff + MSG_HDR_SIZE;
	mb->roff += MSG_HDR_SIZE + hdr.len;
	return (1);
}

int
msg_send_blocking(struct msgbuf *mb)
{
	struct pollfd	pfd;

	for (;;) {
		if (msg_write(mb) == -1)
			return (-1);
		if (msg_queued(mb) == 0)
			return (0);
		pfd.fd = mb->fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			return (-1);
	}
}

/*
 * Returns 1 with a frame, 0 on EOF, -1 on error: errno ETIMEDOUT when
 * timeout_ms (negative: none) passed first, EMSGSIZE/EBADMSG on a
 * malformed frame.
 */
int
msg_recv_blocking(struct msgbuf *mb, struct msg *m, int timeout_ms)
{
	struct pollfd	pfd;
	uint64_t	deadline = 0, now;
	long		n;
	int		r, wait = -1;

	if (timeout_ms >= 0)
		deadline = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		if ((r = msg_get(mb, m)) != 0)
			return (r);
		if (timeout_ms >= 0) {
			now = now_ms();
			if (now >= deadline) {
				errno = ETIMEDOUT;
				return (-1);
			}
			wait = (int)(deadline - now);
		}
		pfd.fd = mb->fd;
		pfd.events = POLLIN;
		if ((r = poll(&pfd, 1, wait)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (r == 0)
			continue;	/* the deadline check above decides */
		n = msg_read(mb);
		if (n == 0)
			return (0);
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return (-1);
	}
}
