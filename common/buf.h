/*
 * A growable byte buffer with a consumed head: request bodies, stream
 * output, lines read from a descriptor.  Grows by doubling, reuses the
 * consumed head before growing, dies on out of memory (xmalloc).
 */
#ifndef MESH_BUF_H
#define MESH_BUF_H

#include <stddef.h>

struct buf {
	char	*p;
	size_t	 off;		/* consumed */
	size_t	 len;		/* filled */
	size_t	 cap;
};

void	 buf_append(struct buf *, const void *, size_t);
/* Room for at least n more bytes at buf_end(); the caller fills them. */
char	*buf_reserve(struct buf *, size_t n);
void	 buf_added(struct buf *, size_t n);	/* n bytes written at the end */
void	 buf_consume(struct buf *, size_t n);	/* n bytes off the head */
void	 buf_reset(struct buf *);		/* empty, memory kept */
void	 buf_free(struct buf *);
/* Empty and holding more than keep bytes: the memory goes back. */
void	 buf_trim(struct buf *, size_t keep);

static inline size_t
buf_used(const struct buf *b)
{
	return (b->len - b->off);
}

static inline char *
buf_data(const struct buf *b)
{
	return (b->p + b->off);
}

#endif
