/*
 * Incremental text/event-stream parser, after the WHATWG HTML "server-sent
 * events" parsing rules: CR, LF and CRLF all end a line (a CRLF may be
 * split across two feeds), a UTF-8 BOM at the very start is skipped,
 * lines starting with ':' are comments, a field without a colon has an
 * empty value, one space after the colon is stripped, retry: takes ASCII
 * digits only, an id containing NUL is ignored, and an empty line
 * dispatches the event unless its data is empty (MCP servers send such
 * "priming" events, "id: X" and an empty "data:", to hand out an id
 * before anything else).
 *
 * Every buffer is bounded by the maximum given to sse_init() (plus
 * SSE_LINE_SLACK for a line), since the stream comes from a peer we do
 * not trust.
 */
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "xmalloc.h"

#define SSE_F_ERROR	0x1	/* over a limit or stopped: sticky */
#define SSE_F_CR	0x2	/* last byte was CR: skip one LF */
#define SSE_F_BOMDONE	0x4	/* past the optional BOM */

#define SSE_BUF_MIN	256
#define SSE_RETRY_MAX	(24L * 3600 * 1000)	/* a day, in ms */

static const char sse_bom[] = "\xef\xbb\xbf";

static void	 sse_buf_reserve(struct sse_buf *, size_t);
static void	 sse_buf_set(struct sse_buf *, const char *, size_t);
static int	 sse_dispatch(struct sse *);
static void	 sse_field(struct sse *, const char *, size_t, const char *,
		    size_t);
static int	 sse_line(struct sse *, const char *, size_t);
static int	 sse_bytes(struct sse *, const char *, size_t);

void
sse_init(struct sse *s, size_t max, sse_cb cb, void *arg)
{
	memset(s, 0, sizeof(*s));
	s->cb = cb;
	s->arg = arg;
	s->max = max;
	s->retry = -1;
}

void
sse_reset(struct sse *s)
{
	s->flags = 0;
	s->bom = 0;
	s->retry = -1;
	s->line.len = s->data.len = s->type.len = s->id.len = 0;
}

void
sse_free(struct sse *s)
{
	free(s->line.p);
	free(s->data.p);
	free(s->type.p);
	free(s->id.p);
	memset(s, 0, sizeof(*s));
}

long
sse_retry(const struct sse *s)
{
	return (s->retry);
}

const char *
sse_lastid(const struct sse *s)
{
	return (s->id.len == 0 ? "" : s->id.p);
}

int
sse_failed(const struct sse *s)
{
	return ((s->flags & SSE_F_ERROR) != 0);
}

/* Room for len bytes and a NUL. */
static void
sse_buf_reserve(struct sse_buf *b, size_t len)
{
	size_t	cap;

	if (len + 1 <= b->cap)
		return;
	cap = b->cap == 0 ? SSE_BUF_MIN : b->cap;
	while (cap < len + 1)
		cap *= 2;
	b->p = xreallocarray(b->p, 1, cap);
	b->cap = cap;
}

static void
sse_buf_set(struct sse_buf *b, const char *p, size_t len)
{
	sse_buf_reserve(b, len);
	memcpy(b->p, p, len);
	b->p[len] = '\0';
	b->len = len;
}

static int
sse_dispatch(struct sse *s)
{
	const char	*type = "message";
	int		 rv;

	/*
	 * Unlike a browser we drop an event whose data is empty even when a
	 * "data:" line was there: MCP servers prime streams that way, and
	 * an empty text is no JSON-RPC message anyway.
	 */
	if (s->data.len <= 1) {
		s->data.len = 0;
		s->type.len = 0;
		return (0);
	}
	s->data.len--;		/* the '\n' after the last data line */
	s->data.p[s->data.len] = '\0';
	if (s->type.len != 0)
		type = s->type.p;
	rv = s->cb(s->arg, type, s->data.p, s->data.len, sse_lastid(s));
	s->data.len = 0;
	s->type.len = 0;
	return (rv == 0 ? 0 : -1);
}

static void
sse_field(struct sse *s, const char *name, size_t nlen, const char *v,
    size_t vlen)
{
	size_t	i;
	long	n = 0;

	if (nlen == 5 && memcmp(name, "event", 5) == 0)
		sse_buf_set(&s->type, v, vlen);
	else if (nlen == 2 && memcmp(name, "id", 2) == 0) {
		/* An id with NUL would break Last-Event-ID: ignored. */
		if (memchr(v, '\0', vlen) == NULL)
			sse_buf_set(&s->id, v, vlen);
	} else if (nlen == 5 && memcmp(name, "retry", 5) == 0) {
		if (vlen == 0)
			return;
		for (i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return;
			if (n > SSE_RETRY_MAX / 10)
				return;		/* absurd: ignored */
			n = n * 10 + (v[i] - '0');
		}
		s->retry = n;
	}
}

/* One complete line, without its end-of-line. */
static int
sse_line(struct sse *s, const char *line, size_t len)
{
	const char	*colon, *v;
	size_t		 nlen, vlen;

	if (len == 0)
		return (sse_dispatch(s));
	if (line[0] == ':')
		return (0);
	if ((colon = memchr(line, ':', len)) == NULL) {
		nlen = len;
		v = line + len;
		vlen = 0;
	} else {
		nlen = colon - line;
		v = colon + 1;
		vlen = len - nlen - 1;
		if (vlen > 0 && *v == ' ') {
			v++;
			vlen--;
		}
	}
	if (nlen == 4 && memcmp(line, "data", 4) == 0) {
		/* data.len counts the '\n' that will join the lines. */
		if (s->data.len + vlen > s->max)
			return (-1);
		sse_buf_reserve(&s->data, s->data.len + vlen + 1);
		memcpy(s->data.p + s->data.len, v, vlen);
		s->data.len += vlen;
		s->data.p[s->data.len++] = '\n';
		return (0);
	}
	sse_field(s, line, nlen, v, vlen);
	return (0);
}

/* Content bytes, past the BOM. */
static int
sse_bytes(struct sse *s, const char *buf, size_t len)
{
	const char	*lf, *cr, *eol;
	size_t		 n;
	int		 rv;

	while (len > 0) {
		if (s->flags & SSE_F_CR) {
			s->flags &= ~SSE_F_CR;
			if (*buf == '\n') {
				buf++;
				len--;
				continue;
			}
		}
		lf = memchr(buf, '\n', len);
		cr = memchr(buf, '\r', lf != NULL ? (size_t)(lf - buf) : len);
		eol = cr != NULL ? cr : lf;
		n = eol != NULL ? (size_t)(eol - buf) : len;
		if (s->line.len + n > s->max + SSE_LINE_SLACK)
			return (-1);
		if (eol == NULL) {
			sse_buf_reserve(&s->line, s->line.len + n);
			memcpy(s->line.p + s->line.len, buf, n);
			s->line.len += n;
			return (0);
		}
		if (*eol == '\r')
			s->flags |= SSE_F_CR;
		if (s->line.len == 0)	/* the common case: no copy */
			rv = sse_line(s, buf, n);
		else {
			sse_buf_reserve(&s->line, s->line.len + n);
			memcpy(s->line.p + s->line.len, buf, n);
			rv = sse_line(s, s->line.p, s->line.len + n);
			s->line.len = 0;
		}
		if (rv == -1)
			return (-1);
		buf += n + 1;
		len -= n + 1;
	}
	return (0);
}

int
sse_feed(struct sse *s, const char *buf, size_t len)
{
	size_t	matched;

	if (s->flags & SSE_F_ERROR)
		return (-1);
	while (!(s->flags & SSE_F_BOMDONE) && len > 0) {
		if (*buf == sse_bom[s->bom]) {
			buf++;
			len--;
			if (++s->bom == sizeof(sse_bom) - 1)
				s->flags |= SSE_F_BOMDONE;
			continue;
		}
		/* Not a BOM after all: what matched is content. */
		s->flags |= SSE_F_BOMDONE;
		matched = s->bom;
		if (matched > 0 && sse_bytes(s, sse_bom, matched) == -1)
			goto fail;
	}
	if (sse_bytes(s, buf, len) == -1)
		goto fail;
	return (0);
fail:
	s->flags |= SSE_F_ERROR;
	return (-1);
}
