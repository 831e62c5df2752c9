/*
 * libFuzzer target: the framed message layer (common/msg.c), which reads
 * whatever a worker writes to its socketpair.  Three checks per input:
 *
 * 1. The input as raw bytes in a msgbuf's read buffer: msg_get() hands out
 *    exactly the frames a trivial reference decoder finds, never one over
 *    MSG_PAYLOAD_MAX or with a bad type, each inside the buffer, and once it
 *    says -1 it says -1 for ever without consuming anything.
 * 2. The same bytes through a real socketpair, written in pieces of
 *    fuzz-chosen sizes (msg_read() with its buffer growth, compaction and
 *    release), then once more through msg_recv_blocking(): the same frames
 *    and the same end.
 * 3. Frames composed from the input with msg_compose()/msg_compose2() under
 *    a fuzz-chosen queue cap, including payloads up to and past
 *    MSG_PAYLOAD_MAX: the queue follows a model (EMSGSIZE, ENOBUFS), and
 *    msg_write() to msg_read()/msg_get() on the other end gives every frame
 *    back identically.
 *
 * Any mismatch aborts, so libFuzzer keeps the input.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mesh-limits.h"
#include "mesh-proto.h"
#include "msg.h"
#include "util.h"
#include "fuzz.h"

/* Payloads of synthetic frames are cut from this, at any offset. */
#define BIG_SLACK	4096
static uint8_t	*big;

/* One frame the reference decoder found, by its offset in the input. */
struct ref {
	struct msg_hdr	 hdr;
	size_t		 off;		/* of the header */
};

/* A small deterministic generator, seeded from the input. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t	x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return (x);
}

static uint64_t
seed_of(const uint8_t *p, size_t n)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return (h != 0 ? h : 1);
}

static int
hdr_ok(const struct msg_hdr *h)
{
	return (h->type != MSG_NONE && h->type < MSG_TYPE_MAX &&
	    h->len <= MSG_PAYLOAD_MAX);
}

/*
 * The reference: frames in p, and how the stream ends (0: whole frames
 * then a partial one or nothing, -1: a malformed header).
 */
static int
ref_decode(const uint8_t *p, size_t n, struct ref **out, size_t *nout)
{
	struct msg_hdr	 h;
	struct ref	*r = NULL;
	size_t		 off = 0, cnt = 0;
	int		 end = 0;

	for (;;) {
		if (n - off < MSG_HDR_SIZE)
			break;
		memcpy(&h, p + off, MSG_HDR_SIZE);
		if (!hdr_ok(&h)) {
			end = -1;
			break;
		}
		if (n - off - MSG_HDR_SIZE < h.len)
			break;
		r = realloc(r, (cnt + 1) * sizeof(*r));
		CHECK(r != NULL);
		r[cnt].hdr = h;
		r[cnt].off = off;
		cnt++;
		off += MSG_HDR_SIZE + h.len;
	}
	*out = r;
	*nout = cnt;
	return (end);
}

static void
same_frame(const struct msg *m, const struct ref *r, const uint8_t *input)
{
	CHECK(hdr_ok(&m->hdr));
	CHECK(m->hdr.type == r->hdr.type);
	CHECK(m->hdr.flags == r->hdr.flags);
	CHECK(m->hdr.len == r->hdr.len);
	CHECK(m->hdr.id == r->hdr.id);
	CHECK(m->hdr.len == 0 ||
	    memcmp(m->data, input + r->off + MSG_HDR_SIZE, m->hdr.len) == 0);
}

/* A -1 from msg_get: malformed, and it stays so without consuming. */
static void
check_sticky(struct msgbuf *mb)
{
	struct msg	m;
	size_t		roff = mb->roff, rlen = mb->rlen;
	int		i;

	CHECK(errno == EMSGSIZE || errno == EBADMSG);
	for (i = 0; i < 3; i++) {
		CHECK(msg_get(mb, &m) == -1);
		CHECK(mb->roff == roff && mb->rlen == rlen);
	}
}

/* Check 1: the input placed straight into the read buffer. */
static void
direct(const uint8_t *p, size_t n, const struct ref *ref, size_t nref,
    int end)
{
	struct msgbuf	mb;
	struct msg	m;
	size_t		k = 0, roff;
	int		r;

	msgbuf_init(&mb, -1, 0);
	mb.rbuf = malloc(n + 1);	/* msgbuf_clear frees it */
	CHECK(mb.rbuf != NULL);
	if (n > 0)
		memcpy(mb.rbuf, p, n);
	mb.rlen = n;
	mb.rcap = n + 1;
	for (;;) {
		roff = mb.roff;
		r = msg_get(&mb, &m);
		if (r != 1)
			break;
		CHECK(k < nref);
		CHECK(m.data == mb.rbuf + roff + MSG_HDR_SIZE);
		CHECK(mb.roff == roff + MSG_HDR_SIZE + m.hdr.len);
		CHECK(mb.roff <= mb.rlen);
		same_frame(&m, &ref[k], p);
		k++;
	}
	CHECK(k == nref);
	CHECK(r == end);
	if (r == -1)
		check_sticky(&mb);
	else {
		/* No whole frame: asking again changes nothing. */
		roff = mb.roff;
		CHECK(msg_get(&mb, &m) == 0);
		CHECK(mb.roff == roff);
	}
	msgbuf_clear(&mb);
}

/* Read what is there and take frames out; returns -1 once malformed. */
static int
drain(struct msgbuf *mb, const uint8_t *input, const struct ref *ref,
    size_t nref, size_t *k, int *eof)
{
	struct msg	m;
	long		n;
	int		r;

	for (;;) {
		n = msg_read(mb);
		if (n == -1) {
			CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
			return (0);
		}
		if (n == 0) {
			*eof = 1;
			return (0);
		}
		CHECK(mb->rlen <= mb->rcap && mb->roff <= mb->rlen);
		while ((r = msg_get(mb, &m)) == 1) {
			CHECK(*k < nref);
			same_frame(&m, &ref[*k], input);
			(*k)++;
		}
		if (r == -1) {
			check_sticky(mb);
			return (-1);
		}
	}
}

/* Check 2: the input through a socketpair in pieces, then all at once. */
static void
socketed(const uint8_t *p, size_t n, const struct ref *ref, size_t nref,
    int end)
{
	struct msgbuf	mb;
	struct msg	m;
	uint64_t	s = seed_of(p, n);
	size_t		off = 0, k = 0, chunk;
	ssize_t		w;
	int		sv[2], r = 0, eof = 0, mode;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(fd_nonblock(sv[0]) == 0);
	msgbuf_init(&mb, sv[0], 0);
	/* Byte-sized pieces of a long input would only cost time. */
	mode = (int)(rng_next(&s) % 3);
	if (mode == 0 && n > 1024)
		mode = 1;
	while (off < n && r == 0) {
		/* Tiny pieces split headers; large ones batch frames. */
		if (mode == 0)
			chunk = 1 + rng_next(&s) % 7;
		else if (mode == 1)
			chunk = 1 + rng_next(&s) % 64;
		else
			chunk = 1 + rng_next(&s) % 65536;
		if (chunk > n - off)
			chunk = n - off;
		w = write(sv[1], p + off, chunk);
		CHECK(w > 0);
		off += (size_t)w;
		r = drain(&mb, p, ref, nref, &k, &eof);
	}
	shutdown(sv[1], SHUT_WR);
	while (r == 0 && !eof)
		r = drain(&mb, p, ref, nref, &k, &eof);
	CHECK(k == nref);
	CHECK(r == end);
	if (r == 0)
		CHECK(msg_get(&mb, &m) == 0);
	msgbuf_clear(&mb);
	close(sv[0]);
	close(sv[1]);

	/* msg_recv_blocking(): the worker's start-up and the tests use it. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	if (n > 0)
		CHECK(write(sv[1], p, n) == (ssize_t)n);
	shutdown(sv[1], SHUT_WR);
	msgbuf_init(&mb, sv[0], 0);
	k = 0;
	while ((r = msg_recv_blocking(&mb, &m, 5000)) == 1) {
		CHECK(k < nref);
		same_frame(&m, &ref[k], p);
		k++;
	}
	CHECK(k == nref);
	if (end == -1) {
		CHECK(r == -1);
		check_sticky(&mb);
	} else
		CHECK(r == 0);	/* EOF, never ETIMEDOUT */
	msgbuf_clear(&mb);
	close(sv[0]);
	close(sv[1]);
}

/* --- check 3: compose, write, read back ---------------------------------- */

struct sent {
	struct msg_hdr	 hdr;
	const uint8_t	*a, *b;
	size_t		 alen, blen;
};

struct rt {
	struct msgbuf	 w, r;
	int		 sv[2];
	struct sent	*sent;		/* composed, not yet read back */
	size_t		 nsent, head;
	int		 dead;		/* reader saw a malformed frame */
	size_t		 queued;	/* model of msg_queued(&w) */
	int		 nbig;		/* frames over a read chunk */
};

/* Bytes of input, zero when it runs out. */
struct src {
	const uint8_t	*p;
	size_t		 n, off;
};

static uint64_t
take(struct src *s, int bytes)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < bytes; i++) {
		v <<= 8;
		if (s->off < s->n)
			v |= s->p[s->off++];
	}
	return (v);
}

static void
rt_expect(struct rt *t, const struct msg *m)
{
	struct sent	*e;

	CHECK(t->head < t->nsent);
	e = &t->sent[t->head++];
	CHECK(m->hdr.type == e->hdr.type && m->hdr.flags == e->hdr.flags);
	CHECK(m->hdr.id == e->hdr.id && m->hdr.len == e->alen + e->blen);
	CHECK(e->alen == 0 || memcmp(m->data, e->a, e->alen) == 0);
	CHECK(e->blen == 0 || memcmp(m->data + e->alen, e->b, e->blen) == 0);
}

static void
rt_read(struct rt *t)
{
	struct msg	 m;
	char		 junk[65536];
	long		 n;
	int		 r;

	for (;;) {
		if (t->dead) {
			/* Only keep the writer going. */
			if (read(t->sv[1], junk, sizeof(junk)) <= 0)
				return;
			continue;
		}
		n = msg_read(&t->r);
		if (n <= 0) {
			CHECK(n == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK));
			return;
		}
		while ((r = msg_get(&t->r, &m)) == 1)
			rt_expect(t, &m);
		if (r == -1) {
			/* Only a frame we gave a bad type may do that. */
			CHECK(t->head < t->nsent);
			CHECK(errno == EBADMSG);
			CHECK(!hdr_ok(&t->sent[t->head].hdr));
			check_sticky(&t->r);
			t->dead = 1;
		}
	}
}

static void
rt_flush(struct rt *t)
{
	while (msg_queued(&t->w) > 0) {
		CHECK(msg_write(&t->w) == 0);
		rt_read(t);
	}
	rt_read(t);
	t->queued = 0;
}

static void
rt_compose(struct rt *t, struct src *s)
{
	struct sent	 e;
	size_t		 len, cut, total;
	uint64_t	 sel;
	int		 r, two, expect, kind;

	memset(&e, 0, sizeof(e));
	sel = take(s, 1);
	/* Mostly valid types, so the reader does not die at once. */
	if (sel & 0x80)
		e.hdr.type = (uint16_t)take(s, 2);
	else
		e.hdr.type = (sel & 1) ? MSG_REQUEST : MSG_RESPONSE;
	e.hdr.flags = (uint16_t)take(s, 2);
	e.hdr.id = take(s, (int)(sel >> 1 & 7) + 1);
	two = (sel & 0x40) != 0;
	kind = sel >> 4 & 3;
	/* Large frames cost page faults, not coverage: one per input. */
	if (kind >= 2 && t->nbig++ > 0)
		kind = 1;
	switch (kind) {
	case 0:		/* payload from the input itself */
		len = take(s, 1);
		if (len > s->n - s->off)
			len = s->n - s->off;
		e.a = s->p + s->off;
		s->off += len;
		break;
	case 1:		/* up to 64 KiB, one read chunk */
		len = take(s, 2);
		e.a = big + take(s, 1) * 16;
		break;
	case 2:		/* larger than a read chunk: the grow paths */
		len = take(s, 2) * 17;
		e.a = big + take(s, 1) * 16;
		break;
	default:	/* at and past the edge */
		switch (take(s, 1) % 6) {
		case 0: len = MSG_PAYLOAD_MAX; break;
		case 1: len = MSG_PAYLOAD_MAX - 1; break;
		case 2: len = MSG_PAYLOAD_MAX + 1; break;
		case 3: len = MSG_PAYLOAD_MAX - MSG_HDR_SIZE; break;
		case 4: len = SIZE_MAX / 2; break;
		default: len = SIZE_MAX; break;
		}
		e.a = big;
		break;
	}
	if (len > MSG_PAYLOAD_MAX) {
		/*
		 * Refused before a byte is read, so the pointers need not
		 * cover len; the cut tries both size checks of compose2.
		 */
		cut = two ? (size_t)(take(s, 3) % (MSG_PAYLOAD_MAX + 2)) : len;
		e.alen = cut;
		e.b = big;
		e.blen = len - cut;
	} else {
		cut = two ? (size_t)(take(s, 3) % (len + 1)) : len;
		e.alen = cut;
		e.b = e.a + cut;
		e.blen = len - cut;
	}
	total = e.alen + e.blen;
	if (total > MSG_PAYLOAD_MAX)
		expect = EMSGSIZE;
	else if (t->queued + MSG_HDR_SIZE + total > t->w.wmax)
		expect = ENOBUFS;
	else
		expect = 0;
	if (two)
		r = msg_compose2(&t->w, e.hdr.type, e.hdr.flags, e.hdr.id,
		    e.a, e.alen, e.b, e.blen);
	else
		r = msg_compose(&t->w, e.hdr.type, e.hdr.flags, e.hdr.id,
		    e.a, total);
	if (!two) {
		/* msg_compose is msg_compose2 with one piece. */
		e.alen = total;
		e.blen = 0;
	}
	if (expect != 0) {
		CHECK(r == -1 && errno == expect);
		CHECK(msg_queued(&t->w) == t->queued);
		return;
	}
	CHECK(r == 0);
	t->queued += MSG_HDR_SIZE + total;
	CHECK(msg_queued(&t->w) == t->queued);
	e.hdr.len = (uint32_t)total;
	t->sent = realloc(t->sent, (t->nsent + 1) * sizeof(*t->sent));
	CHECK(t->sent != NULL);
	t->sent[t->nsent++] = e;
}

static void
roundtrip(const uint8_t *p, size_t n)
{
	static const size_t	 caps[] = { 0, 16, 100, 4096, 65536, 1 << 20,
				    MSG_PAYLOAD_MAX + MSG_HDR_SIZE };
	struct rt		 t;
	struct src		 s = { p, n, 0 };
	struct msg		 m;
	int			 ops = 0;

	memset(&t, 0, sizeof(t));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, t.sv) == 0);
	CHECK(fd_nonblock(t.sv[0]) == 0 && fd_nonblock(t.sv[1]) == 0);
	msgbuf_init(&t.w, t.sv[0], caps[take(&s, 1) % 7]);
	msgbuf_init(&t.r, t.sv[1], 0);
	while (s.off < s.n && ops++ < 64) {
		if (take(&s, 1) % 4 == 0)
			rt_flush(&t);
		else
			rt_compose(&t, &s);
	}
	rt_flush(&t);
	if (!t.dead) {
		/* Every frame back, nothing left over. */
		CHECK(t.head == t.nsent);
		CHECK(msg_get(&t.r, &m) == 0);
		CHECK(t.r.roff == t.r.rlen);
	}
	msgbuf_clear(&t.w);
	msgbuf_clear(&t.r);
	close(t.sv[0]);
	close(t.sv[1]);
	free(t.sent);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t	i;

	big = malloc(MSG_PAYLOAD_MAX + BIG_SLACK);
	CHECK(big != NULL);
	for (i = 0; i < MSG_PAYLOAD_MAX + BIG_SLACK; i++)
		big[i] = (uint8_t)(i * 31 + (i >> 9));
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ref	*ref;
	size_t		 nref;
	int		 end;

	end = ref_decode(data, size, &ref, &nref);
	direct(data, size, ref, nref, end);
	socketed(data, size, ref, nref, end);
	free(ref);
	roundtrip(data, size);
	return (0);
}
