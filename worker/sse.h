/*
 * An incremental text/event-stream parser (WHATWG "server-sent events"),
 * pure: no I/O, no JSON, no libcurl, so it can be unit-tested and fuzzed
 * on its own.  Bytes go in with sse_feed() in pieces of any size; every
 * dispatched event comes out through the callback.
 */
#ifndef MESH_SSE_H
#define MESH_SSE_H

#include <stddef.h>

/*
 * One dispatched event.  type is "message" unless an event: field said
 * otherwise; data is the data: lines joined with '\n', NUL-terminated
 * (datalen excludes the NUL); id is the last event id seen so far on the
 * stream ("" if none).  All three are valid only during the call.
 * Return 0 to go on, -1 to stop: sse_feed() then returns -1 too.
 */
typedef int (*sse_cb)(void *arg, const char *type, const char *data,
    size_t datalen, const char *id);

struct sse_buf {
	char		*p;
	size_t		 len;
	size_t		 cap;
};

struct sse {
	sse_cb		 cb;
	void		*arg;
	size_t		 max;		/* one event's data, in bytes */
	int		 flags;
	size_t		 bom;		/* BOM bytes matched at stream start */
	long		 retry;		/* last retry: value, or -1 */
	struct sse_buf	 line;		/* a line split across feeds */
	struct sse_buf	 data;
	struct sse_buf	 type;
	struct sse_buf	 id;
};

/* Bytes a line may exceed the event maximum by ("data: " and slack). */
#define SSE_LINE_SLACK	16

void	sse_init(struct sse *, size_t max, sse_cb, void *arg);
void	sse_reset(struct sse *);	/* new stream; keeps the buffers */
void	sse_free(struct sse *);

/*
 * Parse len more bytes.  Returns 0, or -1 when an event or a line is
 * over the maximum or the callback asked to stop; after -1 the parser
 * stays in its error state (every later call returns -1) until
 * sse_reset().
 */
int	sse_feed(struct sse *, const char *buf, size_t len);

/* The last valid retry: value (-1 if none) and last event id. */
long		 sse_retry(const struct sse *);
const char	*sse_lastid(const struct sse *);
int		 sse_failed(const struct sse *);

#endif
