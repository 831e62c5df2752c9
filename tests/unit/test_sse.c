/*
 * The SSE parser: line ends, fields, comments, BOM, priming events, the
 * size limit at its edge, and that feeding byte by byte gives exactly
 * what feeding everything at once gives.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../worker/sse.h"
#include "mesh-limits.h"

#define EV_MAX	16

struct rec {
	int	 n;
	char	*type[EV_MAX];
	char	*data[EV_MAX];
	size_t	 len[EV_MAX];
	char	*id[EV_MAX];
	int	 stop_at;	/* callback returns -1 on this event (1-based) */
};

static int
rec_cb(void *arg, const char *type, const char *data, size_t len,
    const char *id)
{
	struct rec	*r = arg;

	cr_assert_eq(data[len], '\0');
	if (r->n < EV_MAX) {
		r->type[r->n] = strdup(type);
		r->data[r->n] = malloc(len + 1);
		memcpy(r->data[r->n], data, len + 1);
		r->len[r->n] = len;
		r->id[r->n] = strdup(id);
	}
	r->n++;
	return (r->n == r->stop_at ? -1 : 0);
}

static void
rec_free(struct rec *r)
{
	int	i;

	for (i = 0; i < r->n && i < EV_MAX; i++) {
		free(r->type[i]);
		free(r->data[i]);
		free(r->id[i]);
	}
	memset(r, 0, sizeof(*r));
}

/* Feed s in pieces of step bytes (0: all at once). */
static int
feed(struct sse *p, const char *s, size_t len, size_t step)
{
	size_t	off, n;

	if (step == 0)
		return (sse_feed(p, s, len));
	for (off = 0; off < len; off += n) {
		n = len - off < step ? len - off : step;
		if (sse_feed(p, s + off, n) == -1)
			return (-1);
	}
	return (0);
}

static void
parse(const char *s, size_t step, struct rec *r)
{
	struct sse	p;

	sse_init(&p, UPSTREAM_RESPONSE_MAX, rec_cb, r);
	cr_assert_eq(feed(&p, s, strlen(s), step), 0);
	sse_free(&p);
}

static void
expect(struct rec *r, int i, const char *type, const char *data,
    const char *id)
{
	cr_assert_lt(i, r->n);
	cr_assert_str_eq(r->type[i], type);
	cr_assert_str_eq(r->data[i], data);
	cr_assert_str_eq(r->id[i], id);
}

Test(sse, simple_event)
{
	struct rec	r = { 0 };

	parse("data: {\"a\":1}\n\n", 0, &r);
	cr_assert_eq(r.n, 1);
	expect(&r, 0, "message", "{\"a\":1}", "");
	rec_free(&r);
}

Test(sse, line_ends_lf_cr_crlf)
{
	struct rec	r = { 0 };

	parse("data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n", 0, &r);
	cr_assert_eq(r.n, 4);
	expect(&r, 0, "message", "a", "");
	expect(&r, 1, "message", "b", "");
	expect(&r, 2, "message", "c", "");
	expect(&r, 3, "message", "d", "");
	rec_free(&r);
}

Test(sse, crlf_split_across_feeds)
{
	struct sse	p;
	struct rec	r = { 0 };

	sse_init(&p, 1024, rec_cb, &r);
	cr_assert_eq(sse_feed(&p, "data: x\r", 8), 0);
	cr_assert_eq(sse_feed(&p, "\n", 1), 0);
	cr_assert_eq(r.n, 0);		/* one line end, not two */
	cr_assert_eq(sse_feed(&p, "\r", 1), 0);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(sse_feed(&p, "\ndata: y\n\n", 10), 0);
	cr_assert_eq(r.n, 2);
	expect(&r, 0, "message", "x", "");
	expect(&r, 1, "message", "y", "");
	sse_free(&p);
	rec_free(&r);
}

Test(sse, multiline_data_joined)
{
	struct rec	r = { 0 };

	parse("data: one\ndata:two\ndata:  three\ndata\n\n", 0, &r);
	cr_assert_eq(r.n, 1);
	expect(&r, 0, "message", "one\ntwo\n three\n", "");
	rec_free(&r);
}

Test(sse, comments_and_unknown_fields)
{
	struct rec	r = { 0 };

	parse(": keep-alive\n:\nfoo: bar\ndata: x\n: mid\n\n", 0, &r);
	cr_assert_eq(r.n, 1);
	expect(&r, 0, "message", "x", "");
	rec_free(&r);
}

Test(sse, event_type_and_reset)
{
	struct rec	r = { 0 };

	parse("event: ping\ndata: 1\n\ndata: 2\n\n", 0, &r);
	cr_assert_eq(r.n, 2);
	expect(&r, 0, "ping", "1", "");
	expect(&r, 1, "message", "2", "");
	rec_free(&r);
}

Test(sse, priming_event_not_dispatched_but_id_kept)
{
	struct rec	r = { 0 };

	parse("id: 42\ndata: \n\nevent: x\n\ndata: y\n\n", 0, &r);
	cr_assert_eq(r.n, 1);
	expect(&r, 0, "message", "y", "42");
	rec_free(&r);
}

Test(sse, empty_data_not_dispatched)
{
	struct rec	r = { 0 };

	parse("id: 7\n\nretry: 10\n\ndata: z\n\n", 0, &r);
	cr_assert_eq(r.n, 1);
	expect(&r, 0, "message", "z", "7");
	rec_free(&r);
}

Test(sse, id_with_nul_ignored)
{
	struct sse	p;
	struct rec	r = { 0 };
	static const char s[] = "id: ok\n\nid: a\0b\ndata: d\n\n";

	sse_init(&p, 1024, rec_cb, &r);
	cr_assert_eq(sse_feed(&p, s, sizeof(s) - 1), 0);
	cr_assert_eq(r.n, 1);
	expect(&r, 0, "message", "d", "ok");
	cr_assert_str_eq(sse_lastid(&p), "ok");
	sse_free(&p);
	rec_free(&r);
}

Test(sse, retry_digits_only)
{
	struct sse	p;
	struct rec	r = { 0 };

	sse_init(&p, 1024, rec_cb, &r);
	cr_assert_eq(sse_retry(&p), -1);
	cr_assert_eq(sse_feed(&p, "retry: 1500\n", 12), 0);
	cr_assert_eq(sse_retry(&p), 1500);
	cr_assert_eq(sse_feed(&p, "retry: 12a\nretry: -1\nretry:\n", 28), 0);
	cr_assert_eq(sse_retry(&p), 1500);
	cr_assert_eq(sse_feed(&p, "retry:3000\n", 11), 0);
	cr_assert_eq(sse_retry(&p), 3000);
	sse_free(&p);
	rec_free(&r);
}

Test(sse, field_without_colon)
{
	struct rec	r = { 0 };

	parse("data\ndata\n\nevent\ndata: x\n\n", 0, &r);
	cr_assert_eq(r.n, 2);
	expect(&r, 0, "message", "\n", "");
	expect(&r, 1, "message", "x", "");	/* empty event = message */
	rec_free(&r);
}

Test(sse, only_one_space_stripped)
{
	struct rec	r = { 0 };

	parse("data:\t x\ndata:   y\n\n", 0, &r);
	cr_assert_eq(r.n, 1);
	expect(&r, 0, "message", "\t x\n  y", "");
	rec_free(&r);
}

Test(sse, bom_at_start_only)
{
	struct rec	r = { 0 };

	parse("\xef\xbb\xbf" "data: a\n\n", 0, &r);
	cr_assert_eq(r.n, 1);
	expect(&r, 0, "message", "a", "");
	rec_free(&r);
	parse("\xef\xbb\xbf" "data: a\n\n", 1, &r);	/* BOM split */
	cr_assert_eq(r.n, 1);
	expect(&r, 0, "message", "a", "");
	rec_free(&r);
	/* A second BOM is content: a field named "\xef\xbb\xbf" "data". */
	parse("\xef\xbb\xbf\xef\xbb\xbf" "data: a\n\ndata: b\n\n", 0, &r);
	cr_assert_eq(r.n, 1);
	expect(&r, 0, "message", "b", "");
	rec_free(&r);
}

Test(sse, partial_bom_is_content)
{
	struct rec	r = { 0 };

	/* "\xef" then "data": the field name is "\xef" "data", ignored. */
	parse("\xef" "data: a\n\ndata: b\n\n", 1, &r);
	cr_assert_eq(r.n, 1);
	expect(&r, 0, "message", "b", "");
	rec_free(&r);
}

Test(sse, incomplete_event_at_end_not_dispatched)
{
	struct rec	r = { 0 };

	parse("data: a\n\ndata: b\n", 0, &r);
	cr_assert_eq(r.n, 1);
	rec_free(&r);
}

Test(sse, callback_can_stop)
{
	struct sse	p;
	struct rec	r = { 0 };

	r.stop_at = 1;
	sse_init(&p, 1024, rec_cb, &r);
	cr_assert_eq(sse_feed(&p, "data: a\n\ndata: b\n\n", 18), -1);
	cr_assert_eq(r.n, 1);
	cr_assert(sse_failed(&p));
	cr_assert_eq(sse_feed(&p, "data: c\n\n", 9), -1);	/* sticky */
	sse_reset(&p);
	r.stop_at = 0;
	cr_assert_eq(sse_feed(&p, "data: c\n\n", 9), 0);
	cr_assert_eq(r.n, 2);
	sse_free(&p);
	rec_free(&r);
}

/* The same stream fed in every piece size gives the same events. */
Test(sse, byte_by_byte_equivalence)
{
	static const char s[] =
	    "\xef\xbb\xbf: comment\r\nid: 1\r\nevent: message\r\n"
	    "data: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":1}\r\n\r\n"
	    "data:x\r\rid\rdata: y\n\nretry: 5\ndata: z\r\n\n:end\n";
	struct rec	all = { 0 }, r = { 0 };
	size_t		step;
	int		i;

	parse(s, 0, &all);
	cr_assert_eq(all.n, 4);
	expect(&all, 0, "message", "{\"jsonrpc\":\"2.0\",\n\"id\":1}", "1");
	expect(&all, 1, "message", "x", "1");
	expect(&all, 2, "message", "y", "");	/* "id" alone clears it */
	expect(&all, 3, "message", "z", "");
	for (step = 1; step < sizeof(s); step++) {
		parse(s, step, &r);
		cr_assert_eq(r.n, all.n, "step %zu", step);
		for (i = 0; i < r.n; i++)
			expect(&r, i, all.type[i], all.data[i], all.id[i]);
		rec_free(&r);
	}
	rec_free(&all);
}

static char *
big_event(size_t datalen, size_t *len)
{
	char	*s;

	s = malloc(datalen + 16);
	memcpy(s, "data: ", 6);
	memset(s + 6, 'x', datalen);
	memcpy(s + 6 + datalen, "\n\n", 2);
	*len = datalen + 8;
	return (s);
}

Test(sse, size_limit_edge)
{
	struct sse	p;
	struct rec	r = { 0 };
	char		*s;
	size_t		 len;

	sse_init(&p, UPSTREAM_RESPONSE_MAX, rec_cb, &r);
	s = big_event(UPSTREAM_RESPONSE_MAX, &len);
	cr_assert_eq(sse_feed(&p, s, len), 0);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.len[0], (size_t)UPSTREAM_RESPONSE_MAX);
	free(s);
	rec_free(&r);

	sse_reset(&p);
	s = big_event(UPSTREAM_RESPONSE_MAX + 1, &len);
	cr_assert_eq(feed(&p, s, len, 4096), -1);
	cr_assert_eq(r.n, 0);
	cr_assert(sse_failed(&p));
	free(s);
	sse_free(&p);
}

Test(sse, size_limit_counts_joined_lines)
{
	struct sse	p;
	struct rec	r = { 0 };

	/* "ab\ncd" is 5 bytes: max 5 passes, max 4 fails. */
	sse_init(&p, 5, rec_cb, &r);
	cr_assert_eq(sse_feed(&p, "data: ab\ndata: cd\n\n", 19), 0);
	cr_assert_eq(r.n, 1);
	sse_free(&p);
	rec_free(&r);
	sse_init(&p, 4, rec_cb, &r);
	cr_assert_eq(sse_feed(&p, "data: ab\ndata: cd\n\n", 19), -1);
	cr_assert_eq(r.n, 0);
	sse_free(&p);
}

Test(sse, long_comment_line_is_bounded)
{
	struct sse	p;
	struct rec	r = { 0 };
	char		buf[64];

	sse_init(&p, 16, rec_cb, &r);
	memset(buf, 'c', sizeof(buf));
	buf[0] = ':';
	cr_assert_eq(sse_feed(&p, buf, sizeof(buf)), -1);
	sse_free(&p);
}
