/*
 * The framed message layer over a real AF_UNIX socketpair: framing, partial
 * reads and writes, every limit at its edge, malformed frames and EOF.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mesh-limits.h"
#include "mesh-proto.h"
#include "msg.h"

static int		sv[2];
static struct msgbuf	ma, mb;	/* ma on sv[0], mb on sv[1] */

static void
nonblock(int fd)
{
	int	fl;

	fl = fcntl(fd, F_GETFL);
	cr_assert(fl != -1);
	cr_assert(fcntl(fd, F_SETFL, fl | O_NONBLOCK) != -1);
}

static void
setup(void)
{
	cr_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	nonblock(sv[0]);
	nonblock(sv[1]);
	msgbuf_init(&ma, sv[0], MSG_QUEUE_MAX);
	msgbuf_init(&mb, sv[1], MSG_QUEUE_MAX);
}

static void
teardown(void)
{
	msgbuf_clear(&ma);
	msgbuf_clear(&mb);
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
}

/* Raw bytes straight onto the socket, as a lying worker would send. */
static void
raw_send(int fd, uint16_t type, uint32_t len)
{
	struct msg_hdr	hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.len = len;
	hdr.id = 7;
	cr_assert_eq(write(fd, &hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
}

static void
fill(char *p, size_t len, unsigned seed)
{
	size_t	i;

	for (i = 0; i < len; i++)
		p[i] = (char)((i * 31 + seed) & 0xff);
}

TestSuite(msg, .init = setup, .fini = teardown);

Test(msg, header_is_16_bytes)
{
	cr_assert_eq(MSG_HDR_SIZE, 16);
}

Test(msg, round_trip)
{
	struct msg	m;

	cr_assert_eq(msg_compose(&ma, MSG_REQUEST, 3, 42, "hello", 5), 0);
	cr_assert_eq(msg_queued(&ma), MSG_HDR_SIZE + 5);
	cr_assert_eq(msg_send_blocking(&ma), 0);
	cr_assert_eq(msg_queued(&ma), 0);
	cr_assert_eq(msg_recv_blocking(&mb, &m, 1000), 1);
	cr_assert_eq(m.hdr.type, MSG_REQUEST);
	cr_assert_eq(m.hdr.flags, 3);
	cr_assert_eq(m.hdr.id, 42);
	cr_assert_eq(m.hdr.len, 5);
	cr_assert(memcmp(m.data, "hello", 5) == 0);
	cr_assert_eq(msg_get(&mb, &m), 0);
}

Test(msg, empty_payload_and_compose2)
{
	struct msg	m;

	cr_assert_eq(msg_compose(&ma, MSG_PING, 0, 1, NULL, 0), 0);
	cr_assert_eq(msg_compose2(&ma, MSG_RESPONSE, 0, 2, "ab", 2, "cde", 3),
	    0);
	cr_assert_eq(msg_send_blocking(&ma), 0);
	cr_assert_eq(msg_recv_blocking(&mb, &m, 1000), 1);
	cr_assert_eq(m.hdr.type, MSG_PING);
	cr_assert_eq(m.hdr.len, 0);
	cr_assert_eq(msg_recv_blocking(&mb, &m, 1000), 1);
	cr_assert_eq(m.hdr.type, MSG_RESPONSE);
	cr_assert_eq(m.hdr.len, 5);
	cr_assert(memcmp(m.data, "abcde", 5) == 0);
}

Test(msg, many_frames_one_read)
{
	struct msg	m;
	char		buf[32];
	unsigned	i, n = 0;
	long		r;

	for (i = 0; i < 100; i++) {
		snprintf(buf, sizeof(buf), "frame-%03u", i);
		cr_assert_eq(msg_compose(&ma, MSG_NOTIFY_UP, 0, i, buf,
		    strlen(buf)), 0);
	}
	cr_assert_eq(msg_send_blocking(&ma), 0);
	r = msg_read(&mb);
	cr_assert_eq(r, (long)(100 * (MSG_HDR_SIZE + 9)));
	while (msg_get(&mb, &m) == 1) {
		snprintf(buf, sizeof(buf), "frame-%03u", n);
		cr_assert_eq(m.hdr.id, n);
		cr_assert_eq(m.hdr.len, 9);
		cr_assert(memcmp(m.data, buf, 9) == 0);
		n++;
	}
	cr_assert_eq(n, 100);
	cr_assert_eq(msg_read(&mb), -1);
	cr_assert_eq(errno, EAGAIN);
}

Test(msg, frame_split_byte_by_byte)
{
	struct msg	m;
	size_t		i, total;

	cr_assert_eq(msg_compose(&ma, MSG_RESPONSE, 0, 9, "{\"x\":1}", 7), 0);
	total = msg_queued(&ma);
	for (i = 0; i < total; i++) {
		cr_assert_eq(write(sv[0], ma.wbuf + ma.woff + i, 1), 1);
		cr_assert_eq(msg_read(&mb), 1);
		if (i + 1 < total)
			cr_assert_eq(msg_get(&mb, &m), 0, "early at %zu", i);
	}
	cr_assert_eq(msg_get(&mb, &m), 1);
	cr_assert_eq(m.hdr.id, 9);
	cr_assert(memcmp(m.data, "{\"x\":1}", 7) == 0);
}

/*
 * Tiny socket buffers: one large frame leaves the queue over many
 * msg_write() calls while the other side reads it in pieces.
 */
Test(msg, partial_writes)
{
	struct msg	 m;
	size_t		 len = 1024 * 1024;
	char		*p;
	int		 sz = 4096, writes = 0, got = 0;

	cr_assert(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)) == 0);
	cr_assert(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz,
	    sizeof(sz)) == 0);
	p = malloc(len);
	fill(p, len, 5);
	cr_assert_eq(msg_compose(&ma, MSG_RESPONSE, 0, 77, p, len), 0);
	cr_assert_eq(msg_compose(&ma, MSG_PONG, 0, 78, NULL, 0), 0);
	while (got < 2) {
		if (msg_queued(&ma) != 0) {
			cr_assert_eq(msg_write(&ma), 0);
			writes++;
		}
		if (msg_read(&mb) == -1)
			cr_assert_eq(errno, EAGAIN);
		while (got < 2 && msg_get(&mb, &m) == 1) {
			if (got++ == 0) {
				cr_assert_eq(m.hdr.id, 77);
				cr_assert_eq(m.hdr.len, len);
				cr_assert(memcmp(m.data, p, len) == 0);
			} else
				cr_assert_eq(m.hdr.type, MSG_PONG);
		}
	}
	cr_assert_gt(writes, 10, "only %d writes", writes);
	cr_assert_eq(msg_queued(&ma), 0);
	free(p);
}

Test(msg, payload_max_edge)
{
	struct msg	 m;
	char		*p;
	int		 got = 0;

	p = malloc(MSG_PAYLOAD_MAX + 1);
	fill(p, MSG_PAYLOAD_MAX + 1, 9);
	errno = 0;
	cr_assert_eq(msg_compose(&ma, MSG_RESPONSE, 0, 1, p,
	    MSG_PAYLOAD_MAX + 1), -1);
	cr_assert_eq(errno, EMSGSIZE);
	cr_assert_eq(msg_compose2(&ma, MSG_RESPONSE, 0, 1, p, 10, p,
	    MSG_PAYLOAD_MAX - 9), -1);
	cr_assert_eq(errno, EMSGSIZE);
	cr_assert_eq(msg_queued(&ma), 0);

	cr_assert_eq(msg_compose(&ma, MSG_RESPONSE, 0, 1, p, MSG_PAYLOAD_MAX),
	    0);
	while (!got) {
		cr_assert_eq(msg_write(&ma), 0);
		if (msg_read(&mb) == -1)
			cr_assert_eq(errno, EAGAIN);
		got = msg_get(&mb, &m);
		cr_assert_neq(got, -1);
	}
	cr_assert_eq(m.hdr.len, MSG_PAYLOAD_MAX);
	cr_assert(memcmp(m.data, p, MSG_PAYLOAD_MAX) == 0);
	free(p);
}

Test(msg, header_len_over_max)
{
	struct msg	m;

	raw_send(sv[0], MSG_RESPONSE, MSG_PAYLOAD_MAX + 1);
	cr_assert_eq(msg_read(&mb), (long)MSG_HDR_SIZE);
	errno = 0;
	cr_assert_eq(msg_get(&mb, &m), -1);
	cr_assert_eq(errno, EMSGSIZE);
	/* It stays malformed: the caller drops the peer. */
	cr_assert_eq(msg_get(&mb, &m), -1);
}

Test(msg, header_len_at_max_waits)
{
	struct msg	m;

	raw_send(sv[0], MSG_RESPONSE, MSG_PAYLOAD_MAX);
	cr_assert_eq(msg_read(&mb), (long)MSG_HDR_SIZE);
	cr_assert_eq(msg_get(&mb, &m), 0);
}

Test(msg, type_zero)
{
	struct msg	m;

	raw_send(sv[0], MSG_NONE, 4);
	cr_assert_eq(msg_read(&mb), (long)MSG_HDR_SIZE);
	errno = 0;
	cr_assert_eq(msg_get(&mb, &m), -1);
	cr_assert_eq(errno, EBADMSG);
}

Test(msg, type_too_big)
{
	struct msg	m;

	raw_send(sv[0], MSG_TYPE_MAX, 0);
	cr_assert_eq(msg_read(&mb), (long)MSG_HDR_SIZE);
	errno = 0;
	cr_assert_eq(msg_get(&mb, &m), -1);
	cr_assert_eq(errno, EBADMSG);
}

Test(msg, garbage_header)
{
	struct msg	m;
	char		junk[MSG_HDR_SIZE];

	memset(junk, 0xff, sizeof(junk));
	cr_assert_eq(write(sv[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
	cr_assert_eq(msg_recv_blocking(&mb, &m, 1000), -1);
	cr_assert_eq(errno, EBADMSG);
}

Test(msg, short_header_waits)
{
	struct msg	m;

	cr_assert_eq(write(sv[0], "\x02\x00\x00", 3), 3);
	cr_assert_eq(msg_read(&mb), 3);
	cr_assert_eq(msg_get(&mb, &m), 0);
}

Test(msg, queue_cap_enobufs)
{
	char		buf[1000];
	unsigned	i;
	int		r = 0;

	msgbuf_clear(&ma);
	msgbuf_init(&ma, sv[0], 64 * 1024);
	memset(buf, 'q', sizeof(buf));
	/* The other side never reads: the socket fills, then the queue. */
	for (i = 0; i < 100000; i++) {
		r = msg_compose(&ma, MSG_REQUEST, 0, i, buf, sizeof(buf));
		if (r == -1)
			break;
		cr_assert_eq(msg_write(&ma), 0);
	}
	cr_assert_eq(r, -1);
	cr_assert_eq(errno, ENOBUFS);
	cr_assert_leq(msg_queued(&ma), 64 * 1024);
	cr_assert_gt(msg_queued(&ma), 64 * 1024 - MSG_HDR_SIZE - sizeof(buf));
}

Test(msg, queue_cap_exact)
{
	msgbuf_clear(&ma);
	msgbuf_init(&ma, sv[0], MSG_HDR_SIZE + 10);
	cr_assert_eq(msg_compose(&ma, MSG_PING, 0, 1, "0123456789", 10), 0);
	cr_assert_eq(msg_compose(&ma, MSG_PING, 0, 1, NULL, 0), -1);
	cr_assert_eq(errno, ENOBUFS);
	cr_assert_eq(msg_send_blocking(&ma), 0);
	cr_assert_eq(msg_compose(&ma, MSG_PING, 0, 2, "0123456789", 10), 0);
}

Test(msg, eof)
{
	struct msg	m;

	cr_assert_eq(msg_compose(&ma, MSG_PONG, 0, 5, NULL, 0), 0);
	cr_assert_eq(msg_send_blocking(&ma), 0);
	close(sv[0]);
	sv[0] = -1;
	cr_assert_eq(msg_recv_blocking(&mb, &m, 1000), 1);
	cr_assert_eq(m.hdr.id, 5);
	cr_assert_eq(msg_read(&mb), 0);
	cr_assert_eq(msg_recv_blocking(&mb, &m, 1000), 0);
}

Test(msg, write_to_closed_peer)
{
	close(sv[1]);
	sv[1] = -1;
	cr_assert_eq(msg_compose(&ma, MSG_PONG, 0, 5, NULL, 0), 0);
	/* EPIPE, not SIGPIPE. */
	cr_assert_eq(msg_write(&ma), -1);
	cr_assert_eq(errno, EPIPE);
}

Test(msg, recv_timeout)
{
	struct msg	m;

	cr_assert_eq(msg_recv_blocking(&mb, &m, 50), -1);
	cr_assert_eq(errno, ETIMEDOUT);
}
