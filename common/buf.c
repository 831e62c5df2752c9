/* Growable byte buffers (see buf.h). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xmalloc.h"

#define BUF_MIN		4096	/* first allocation */

char *
buf_reserve(struct buf *b, size_t n)
{
	size_t	need;

	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n > b->cap && b->off > 0) {
		/* Reuse the consumed head before growing. */
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	need = b->len + n;
	if (need > b->cap) {
		if (b->cap == 0)
			b->cap = BUF_MIN;
		while (b->cap < need)
			b->cap *= 2;
		b->p = xreallocarray(b->p, 1, b->cap);
	}
	return (b->p + b->len);
}

void
buf_added(struct buf *b, size_t n)
{
	b->len += n;
}

void
buf_append(struct buf *b, const void *data, size_t n)
{
	if (n == 0)
		return;
	memcpy(buf_reserve(b, n), data, n);
	b->len += n;
}

void
buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void
buf_reset(struct buf *b)
{
	b->off = b->len = 0;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void
buf_trim(struct buf *b, size_t keep)
{
	if (buf_used(b) == 0 && b->cap > keep)
		buf_free(b);
}
