/*
 * libFuzzer target: the worker's text/event-stream parser (worker/sse.c),
 * which parses whatever a peer sends.  The stream is fed to fresh parsers
 * whole, split at a fuzz-chosen point, byte by byte and in random pieces,
 * and once more to the first parser after sse_reset() (buffers kept): every
 * way must dispatch the same events, end in the same state, and agree with
 * a small reference parser that sees the whole input at once.  Every event
 * respects the size cap and is NUL-terminated.
 *
 * Input: a byte choosing the cap, two choosing the split point, one
 * choosing an event whose callback asks to stop (0: none), then the stream.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../worker/sse.h"
#include "fuzz.h"

#define REF_RETRY_MAX	(24L * 3600 * 1000)	/* as sse.c: a day */

struct event {
	char	*type;
	char	*data;
	size_t	 len;
	char	*id;
};

struct run {
	size_t		 max;
	int		 stop_at;	/* 1-based, 0: never */
	struct event	*ev;
	int		 n;
	int		 failed;
	long		 retry;
	char		*lastid;
};

static void
run_add(struct run *r, const char *type, const char *data, size_t len,
    const char *id)
{
	struct event	*e;

	r->ev = realloc(r->ev, (r->n + 1) * sizeof(*r->ev));
	CHECK(r->ev != NULL);
	e = &r->ev[r->n++];
	e->type = strdup(type);
	e->data = malloc(len + 1);
	CHECK(e->type != NULL && e->data != NULL);
	memcpy(e->data, data, len + 1);
	e->len = len;
	e->id = strdup(id);
	CHECK(e->id != NULL);
}

static void
run_free(struct run *r)
{
	int	i;

	for (i = 0; i < r->n; i++) {
		free(r->ev[i].type);
		free(r->ev[i].data);
		free(r->ev[i].id);
	}
	free(r->ev);
	free(r->lastid);
	memset(r, 0, sizeof(*r));
}

static int
cb(void *arg, const char *type, const char *data, size_t len, const char *id)
{
	struct run	*r = arg;

	/* The cap, the NUL, and no empty event (sse.c drops those). */
	CHECK(len <= r->max);
	CHECK(len >= 1);
	CHECK(data[len] == '\0');
	CHECK(type != NULL && id != NULL);
	run_add(r, type, data, len, id);
	return (r->n == r->stop_at ? -1 : 0);
}

static void
run_end(struct run *r, struct sse *p, int rv)
{
	int	n;

	r->failed = rv == -1;
	CHECK(r->failed == sse_failed(p));
	r->retry = sse_retry(p);
	r->lastid = strdup(sse_lastid(p));
	CHECK(r->lastid != NULL);
	/* Sticky: nothing more is taken once it failed. */
	if (r->failed) {
		n = r->n;
		CHECK(sse_feed(p, "data: x\n\n", 9) == -1);
		CHECK(r->n == n && sse_failed(p));
	}
}

static void
same(const struct run *a, const struct run *b)
{
	int	i;

	CHECK(a->n == b->n);
	for (i = 0; i < a->n; i++) {
		CHECK(strcmp(a->ev[i].type, b->ev[i].type) == 0);
		CHECK(a->ev[i].len == b->ev[i].len);
		CHECK(memcmp(a->ev[i].data, b->ev[i].data, a->ev[i].len) == 0);
		CHECK(strcmp(a->ev[i].id, b->ev[i].id) == 0);
	}
	CHECK(a->failed == b->failed);
	CHECK(a->retry == b->retry);
	CHECK(strcmp(a->lastid, b->lastid) == 0);
}

/* Feed in pieces; sizes[] cycles, 0 means everything that is left. */
static int
feed(struct sse *p, const char *buf, size_t len, const size_t *sizes,
    size_t nsizes)
{
	size_t	off = 0, n, k = 0;

	while (off < len) {
		n = sizes[k++ % nsizes];
		if (n == 0 || n > len - off)
			n = len - off;
		if (sse_feed(p, buf + off, n) == -1)
			return (-1);
		/* An empty piece must change nothing. */
		if (sse_feed(p, buf + off + n, 0) == -1)
			return (-1);
		off += n;
	}
	return (0);
}

static void
run_one(struct run *r, size_t max, int stop_at, const char *buf, size_t len,
    const size_t *sizes, size_t nsizes)
{
	struct sse	p;

	memset(r, 0, sizeof(*r));
	r->max = max;
	r->stop_at = stop_at;
	sse_init(&p, max, cb, r);
	run_end(r, &p, feed(&p, buf, len, sizes, nsizes));
	sse_free(&p);
}

/* --- the reference: whole input, straight from the rules in sse.c ------- */

struct ref {
	struct run	*r;
	size_t		 max;
	char		*data, *type, *id;
	size_t		 dlen, tlen, idlen;
	long		 retry;
};

/* Returns -1 to stop (over a limit, or the callback said so). */
static int
ref_line(struct ref *f, const char *l, size_t len)
{
	const char	*c, *v;
	size_t		 nlen, vlen, i;
	long		 n = 0;

	if (len == 0) {
		if (f->dlen <= 1) {
			f->dlen = f->tlen = 0;
			return (0);
		}
		f->data[f->dlen - 1] = '\0';
		f->type[f->tlen] = '\0';
		f->id[f->idlen] = '\0';
		if (cb(f->r, f->tlen != 0 ? f->type : "message", f->data,
		    f->dlen - 1, f->id) == -1)
			return (-1);
		f->dlen = f->tlen = 0;
		return (0);
	}
	if (l[0] == ':')
		return (0);
	if ((c = memchr(l, ':', len)) == NULL) {
		nlen = len;
		v = l + len;
		vlen = 0;
	} else {
		nlen = c - l;
		v = c + 1;
		vlen = len - nlen - 1;
		if (vlen > 0 && *v == ' ') {
			v++;
			vlen--;
		}
	}
	if (nlen == 4 && memcmp(l, "data", 4) == 0) {
		if (f->dlen + vlen > f->max)
			return (-1);
		memcpy(f->data + f->dlen, v, vlen);
		f->dlen += vlen;
		f->data[f->dlen++] = '\n';
	} else if (nlen == 5 && memcmp(l, "event", 5) == 0) {
		memcpy(f->type, v, vlen);
		f->tlen = vlen;
	} else if (nlen == 2 && memcmp(l, "id", 2) == 0) {
		if (memchr(v, '\0', vlen) == NULL) {
			memcpy(f->id, v, vlen);
			f->idlen = vlen;
		}
	} else if (nlen == 5 && memcmp(l, "retry", 5) == 0 && vlen > 0) {
		for (i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9' || n > REF_RETRY_MAX / 10)
				return (0);
			n = n * 10 + (v[i] - '0');
		}
		f->retry = n;
	}
	return (0);
}

static void
ref_run(struct run *r, size_t max, int stop_at, const char *buf, size_t len)
{
	struct ref	 f;
	size_t		 off = 0, e, lim = max + SSE_LINE_SLACK;
	int		 rv = 0;

	memset(r, 0, sizeof(*r));
	r->max = max;
	r->stop_at = stop_at;
	memset(&f, 0, sizeof(f));
	f.r = r;
	f.max = max;
	f.retry = -1;
	/* Every field fits in the input. */
	f.data = malloc(len + 2);
	f.type = malloc(len + 1);
	f.id = malloc(len + 1);
	CHECK(f.data != NULL && f.type != NULL && f.id != NULL);
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		off = 3;
	while (off < len) {
		for (e = off; e < len && buf[e] != '\r' && buf[e] != '\n'; e++)
			;
		/* Too long, whether it ended or not. */
		if (e - off > lim) {
			rv = -1;
			break;
		}
		if (e == len)
			break;		/* no end of line yet */
		if (ref_line(&f, buf + off, e - off) == -1) {
			rv = -1;
			break;
		}
		off = e + 1;
		if (buf[e] == '\r' && off < len && buf[off] == '\n')
			off++;
	}
	r->failed = rv == -1;
	r->retry = f.retry;
	f.id[f.idlen] = '\0';
	r->lastid = strdup(f.id);
	CHECK(r->lastid != NULL);
	free(f.data);
	free(f.type);
	free(f.id);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t	 caps[] = { 1, 2, 3, 8, 16, 64, 1000,
				    4 * 1024 * 1024 };
	static const size_t	 whole[] = { 0 }, bytes[] = { 1 };
	struct run		 a, b, c;
	struct sse		 p;
	const char		*buf;
	size_t			 len, max, split, sizes[2], rnd[16];
	uint64_t		 x;
	int			 stop_at, i;

	if (size < 4)
		return (0);
	max = caps[data[0] % 8];
	split = (size_t)data[1] << 8 | data[2];
	stop_at = data[3] % 8;
	buf = (const char *)data + 4;
	len = size - 4;
	if (len > 0)
		split %= len + 1;

	/* The reference, then the whole stream at once. */
	ref_run(&a, max, stop_at, buf, len);
	run_one(&b, max, stop_at, buf, len, whole, 1);
	same(&a, &b);
	run_free(&b);

	/* Split in two at the chosen point. */
	sizes[0] = split;
	sizes[1] = 0;
	run_one(&b, max, stop_at, buf, len, sizes, split == 0 ? 1 : 2);
	same(&a, &b);
	run_free(&b);

	/* Byte by byte: every line end, CRLF and BOM split. */
	run_one(&b, max, stop_at, buf, len, bytes, 1);
	same(&a, &b);
	run_free(&b);

	/* Pieces of 1 to 8 bytes, from the input itself. */
	x = 0x9e3779b97f4a7c15ULL ^ size;
	for (i = 0; i < 16; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		rnd[i] = 1 + x % 8;
	}
	run_one(&b, max, stop_at, buf, len, rnd, 16);
	same(&a, &b);
	run_free(&b);

	/* One parser, reset between two streams: nothing carries over. */
	memset(&c, 0, sizeof(c));
	c.max = max;
	c.stop_at = stop_at;
	sse_init(&p, max, cb, &c);
	(void)feed(&p, buf, len, bytes, 1);
	sse_reset(&p);
	CHECK(!sse_failed(&p) && sse_retry(&p) == -1 &&
	    *sse_lastid(&p) == '\0');
	run_free(&c);
	c.max = max;
	c.stop_at = stop_at;
	run_end(&c, &p, feed(&p, buf, len, whole, 1));
	same(&a, &c);
	sse_free(&p);
	run_free(&c);

	run_free(&a);
	return (0);
}
