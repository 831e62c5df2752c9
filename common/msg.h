/*
 * Framed message layer for the supervisor <-> worker socketpair, shaped
 * like OpenBSD's imsg but ours: a fixed 16-byte header, a payload of at
 * most MSG_PAYLOAD_MAX bytes, non-blocking buffered I/O with a cap on the
 * bytes queued toward the other side.
 *
 * Wire format (host byte order: both ends are on one machine):
 *	uint16_t type		MSG_* from mesh-proto.h
 *	uint16_t flags		MSGF_*
 *	uint32_t len		payload length, <= MSG_PAYLOAD_MAX
 *	uint64_t id		request id this message belongs to, or 0
 *	uint8_t  payload[len]
 *
 * A frame whose length is over the maximum or whose type is 0 is
 * malformed: msg_get() returns -1 and the caller drops that peer.
 */
#ifndef MESH_MSG_H
#define MESH_MSG_H

#include <stddef.h>
#include <stdint.h>

struct msg_hdr {
	uint16_t	type;
	uint16_t	flags;
	uint32_t	len;
	uint64_t	id;
};
#define MSG_HDR_SIZE	sizeof(struct msg_hdr)	/* 16 */

struct msg {
	struct msg_hdr	 hdr;
	const char	*data;	/* hdr.len bytes, valid until the next msg_read */
};

struct msgbuf {
	int		 fd;
	/* read side */
	char		*rbuf;
	size_t		 roff;	/* start of unconsumed bytes */
	size_t		 rlen;	/* end of valid bytes */
	size_t		 rcap;
	/* write side: one contiguous queue */
	char		*wbuf;
	size_t		 woff;
	size_t		 wlen;
	size_t		 wcap;
	size_t		 wmax;	/* cap on queued bytes */
};

void	msgbuf_init(struct msgbuf *, int fd, size_t wmax);
void	msgbuf_clear(struct msgbuf *);	/* frees buffers, does not close fd */
/*
 * Free the buffers that are empty.  For a peer that went quiet after a
 * large message (READY with its tools): idle peers should cost nothing.
 */
void	msgbuf_shrink(struct msgbuf *);

/*
 * Queue one frame.  Returns 0, or -1 with errno EMSGSIZE (payload over
 * MSG_PAYLOAD_MAX) or ENOBUFS (the queue cap would be exceeded: the
 * other side is not reading).
 */
int	msg_compose(struct msgbuf *, uint16_t type, uint16_t flags, uint64_t id,
	    const void *data, size_t len);
/* Same, payload given in two pieces (e.g. a fixed part and JSON). */
int	msg_compose2(struct msgbuf *, uint16_t type, uint16_t flags,
	    uint64_t id, const void *a, size_t alen, const void *b, size_t blen);

/* Bytes still queued to write. */
size_t	msg_queued(const struct msgbuf *);

/*
 * Write what the socket takes.  Returns 0 (possibly with bytes still
 * queued: wait for writability), or -1 on a write error (EAGAIN is not
 * an error).
 */
int	msg_write(struct msgbuf *);

/*
 * Read what is available.  Returns the number of bytes read, 0 on EOF,
 * -1 on error (errno EAGAIN when there is nothing to read).
 */
long	msg_read(struct msgbuf *);

/*
 * Take the next whole frame out of the read buffer.  Returns 1 and fills
 * *m, 0 when no whole frame is buffered, -1 on a malformed frame (errno
 * EMSGSIZE or EBADMSG).
 */
int	msg_get(struct msgbuf *, struct msg *m);

/* Blocking helpers for simple peers (tests, the worker's start-up). */
int	msg_send_blocking(struct msgbuf *);
int	msg_recv_blocking(struct msgbuf *, struct msg *, int timeout_ms);

#endif
