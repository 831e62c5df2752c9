/*
 * A strict, non-allocating JSON scanner, and the canonical response shape
 * that lets the supervisor forward a worker's answer without rebuilding
 * it.
 *
 * Why: every tools/call answer used to be parsed by the worker, parsed
 * again by the supervisor (a worker may lie), given the client's id and
 * printed anew.  The worker now sends a result response as
 *
 *	{"jsonrpc":"2.0","id":N,"result":V}
 *
 * with V the gateway's own bytes.  The supervisor checks that shape to
 * the byte, checks V with this scanner (RFC 8259 grammar, so the bytes it
 * forwards are valid JSON as they stand) and with the bounded json-c
 * parser, then splices the client's id in front of V.  Anything else
 * takes the old path, which parses, checks and rebuilds (and kills a
 * worker that sent something invalid).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jsonrpc.h"
#include "jsonscan.h"
#include "log.h"
#include "mesh-limits.h"
#include "xmalloc.h"

#define JSONSCAN_HEAD_MAX	64	/* canonical head with a 20-digit id */

enum jsonscan_state {
	JS_VALUE,	/* a value is due */
	JS_KEY,		/* a member's key is due */
	JS_AFTER,	/* a value ended: ',' or the container's end is due */
};

struct jsonrpc_raw {
	char	*text;
	size_t	 len;
};

static size_t	jsonscan_ws(const unsigned char *, size_t, size_t);
static size_t	jsonscan_string(const unsigned char *, size_t);
static size_t	jsonscan_number(const unsigned char *, size_t);
static size_t	jsonscan_literal(const unsigned char *, size_t);
static int	jsonscan_head(char *, size_t, uint64_t);
static int	jsonscan_member(const unsigned char *, size_t, size_t *,
		    const unsigned char **, size_t *, size_t *);

/* RFC 8259 whitespace only (json-c also takes \f and \v). */
static size_t
jsonscan_ws(const unsigned char *p, size_t len, size_t i)
{
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' ||
	    p[i] == '\r'))
		i++;
	return (i);
}

/* A string at p[0] == '"': its length with both quotes, or 0. */
static size_t
jsonscan_string(const unsigned char *p, size_t len)
{
	size_t		i, k;
	unsigned char	c;

	for (i = 1; i < len; i++) {
		if (p[i] == '"')
			return (i + 1);
		if (p[i] < 0x20)
			return (0);	/* raw control character */
		if (p[i] != '\\')
			continue;
		if (++i == len)
			return (0);
		switch (p[i]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			break;
		case 'u':
			if (len - i <= 4)
				return (0);
			for (k = 1; k <= 4; k++) {
				c = p[i + k];
				if (!((c >= '0' && c <= '9') ||
				    (c >= 'a' && c <= 'f') ||
				    (c >= 'A' && c <= 'F')))
					return (0);
			}
			i += 4;
			break;
		default:
			return (0);
		}
	}
	return (0);
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?: its length, or 0. */
static size_t
jsonscan_number(const unsigned char *p, size_t len)
{
	size_t	i = 0, d;

#define DIGITS() do {							\
	for (d = i; i < len && p[i] >= '0' && p[i] <= '9'; i++)		\
		;							\
} while (0)
	if (i < len && p[i] == '-')
		i++;
	if (i < len && p[i] == '0')
		i++;
	else {
		DIGITS();
		if (i == d)
			return (0);
	}
	if (i < len && p[i] == '.') {
		i++;
		DIGITS();
		if (i == d)
			return (0);
	}
	if (i < len && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < len && (p[i] == '+' || p[i] == '-'))
			i++;
		DIGITS();
		if (i == d)
			return (0);
	}
#undef DIGITS
	return (i);
}

static size_t
jsonscan_literal(const unsigned char *p, size_t len)
{
	static const char	*lits[] = { "true", "false", "null" };
	size_t			 i, n;

	for (i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		n = strlen(lits[i]);
		if (len >= n && memcmp(p, lits[i], n) == 0)
			return (n);
	}
	return (0);
}

size_t
jsonrpc_scan(const char *buf, size_t len, int maxdepth)
{
	const unsigned char	*p = (const unsigned char *)buf;
	enum jsonscan_state	 st = JS_VALUE;
	char			 stack[JSON_DEPTH_MAX];
	int			 depth = 0;
	size_t			 i = 0, n;

	if (maxdepth > JSON_DEPTH_MAX)
		maxdepth = JSON_DEPTH_MAX;
	if (len == 0 || jsonscan_ws(p, 1, 0) == 1)
		return (0);
	for (;;) {
		if (st == JS_AFTER && depth == 0)
			return (i);	/* space after it is not its own */
		i = jsonscan_ws(p, len, i);
		if (i == len)
			return (0);
		if (st == JS_AFTER) {
			if (p[i] == (stack[depth - 1] == '{' ? '}' : ']'))
				depth--;
			else if (p[i] == ',')
				st = stack[depth - 1] == '{' ? JS_KEY : JS_VALUE;
			else
				return (0);
			i++;
			continue;
		}
		if (st == JS_KEY) {
			if (p[i] != '"' || (n = jsonscan_string(p + i,
			    len - i)) == 0)
				return (0);
			i = jsonscan_ws(p, len, i + n);
			if (i == len || p[i] != ':')
				return (0);
			i++;
			st = JS_VALUE;
			continue;
		}
		/* A value. */
		if (p[i] == '{' || p[i] == '[') {
			if (depth == maxdepth)
				return (0);
			stack[depth++] = p[i];
			i = jsonscan_ws(p, len, i + 1);
			if (i < len &&
			    p[i] == (stack[depth - 1] == '{' ? '}' : ']')) {
				depth--;	/* empty */
				i++;
				st = JS_AFTER;
			} else
				st = stack[depth - 1] == '{' ? JS_KEY : JS_VALUE;
			continue;
		}
		if (p[i] == '"')
			n = jsonscan_string(p + i, len - i);
		else if (p[i] == '-' || (p[i] >= '0' && p[i] <= '9'))
			n = jsonscan_number(p + i, len - i);
		else
			n = jsonscan_literal(p + i, len - i);
		if (n == 0)
			return (0);
		i += n;
		st = JS_AFTER;
	}
}

/* {"jsonrpc":"2.0","id":N,"result": into buf; its length. */
static int
jsonscan_head(char *buf, size_t size, uint64_t id)
{
	return (snprintf(buf, size, "%s%llu,\"result\":", JSONRPC_CANON_HEAD,
	    (unsigned long long)id));
}

int
jsonrpc_canon_result(const char *buf, size_t len, uint64_t id, size_t *voff)
{
	char	head[JSONSCAN_HEAD_MAX];
	size_t	hlen, vlen;

	hlen = (size_t)jsonscan_head(head, sizeof(head), id);
	if (len < hlen + 2 || memcmp(buf, head, hlen) != 0 ||
	    buf[len - 1] != '}')
		return (-1);
	vlen = len - hlen - 1;
	/* Exactly one value, nothing around it: no member can hide there. */
	if (jsonrpc_scan(buf + hlen, vlen, JSON_DEPTH_MAX - 1) != vlen ||
	    !jsonrpc_utf8_ok(buf + hlen, vlen))
		return (-1);
	*voff = hlen;
	return (0);
}

/*
 * One member of an object at p[*i] (a key): the key's bytes with quotes,
 * the value's offset and length; *i moves past the value.
 */
static int
jsonscan_member(const unsigned char *p, size_t len, size_t *i,
    const unsigned char **key, size_t *klen, size_t *vlen)
{
	size_t	n;

	if (*i == len || p[*i] != '"' ||
	    (n = jsonscan_string(p + *i, len - *i)) == 0)
		return (-1);
	*key = p + *i;
	*klen = n;
	*i = jsonscan_ws(p, len, *i + n);
	if (*i == len || p[*i] != ':')
		return (-1);
	*i = jsonscan_ws(p, len, *i + 1);
	if ((*vlen = jsonrpc_scan((const char *)p + *i, len - *i,
	    JSON_DEPTH_MAX - 1)) == 0)
		return (-1);
	return (0);
}

#define KEY_IS(k, kl, s)	((kl) == sizeof(s) - 1 && memcmp(k, s, kl) == 0)

size_t
jsonrpc_canon_make(const char *buf, size_t len, uint64_t id, char **out)
{
	const unsigned char	*p = (const unsigned char *)buf, *key;
	const unsigned char	*res = NULL;
	char			 head[JSONSCAN_HEAD_MAX], idtext[24];
	size_t			 i, klen, vlen, rlen = 0, hlen;
	int			 seen = 0, bit;

	snprintf(idtext, sizeof(idtext), "%llu", (unsigned long long)id);
	i = jsonscan_ws(p, len, 0);
	if (i == len || p[i] != '{')
		return (0);
	for (i++;;) {
		i = jsonscan_ws(p, len, i);
		if (jsonscan_member(p, len, &i, &key, &klen, &vlen) == -1)
			return (0);
		if (KEY_IS(key, klen, "\"jsonrpc\"") && vlen == 5 &&
		    memcmp(p + i, "\"2.0\"", 5) == 0)
			bit = 1;
		else if (KEY_IS(key, klen, "\"id\"") &&
		    vlen == strlen(idtext) && memcmp(p + i, idtext, vlen) == 0)
			bit = 2;
		else if (KEY_IS(key, klen, "\"result\"")) {
			bit = 4;
			res = p + i;
			rlen = vlen;
		} else
			return (0);	/* anything else: the slow path */
		if (seen & bit)
			return (0);	/* a key twice */
		seen |= bit;
		i = jsonscan_ws(p, len, i + vlen);
		if (i < len && p[i] == ',') {
			i++;
			continue;
		}
		if (i == len || p[i] != '}')
			return (0);
		break;
	}
	if (seen != 7 || jsonscan_ws(p, len, i + 1) != len ||
	    !jsonrpc_utf8_ok((const char *)res, rlen))
		return (0);
	hlen = (size_t)jsonscan_head(head, sizeof(head), id);
	*out = xmalloc(hlen + rlen + 1);
	memcpy(*out, head, hlen);
	memcpy(*out + hlen, res, rlen);
	(*out)[hlen + rlen] = '}';
	return (hlen + rlen + 1);
}

/* --- a response whose text is already made ------------------------------- */

static int
jsonrpc_raw_print(struct json_object *o, struct printbuf *pb, int level,
    int flags)
{
	struct jsonrpc_raw	*r = json_object_get_userdata(o);

	return (printbuf_memappend(pb, r->text, r->len));
}

static void
jsonrpc_raw_delete(struct json_object *o, void *arg)
{
	struct jsonrpc_raw	*r = arg;

	free(r->text);
	free(r);
}

struct json_object *
jsonrpc_result_raw(struct json_object *id, const char *result, size_t len)
{
	struct json_object	*o;
	struct jsonrpc_raw	*r;
	const char		*idt;
	size_t			 hlen, ilen;
	char			*t;

	idt = id != NULL ? json_object_to_json_string_length(id,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &ilen) :
	    "null";
	if (id == NULL)
		ilen = 4;
	hlen = sizeof(JSONRPC_CANON_HEAD) - 1;
	t = xmalloc(hlen + ilen + sizeof(",\"result\":") - 1 + len + 1);
	r = xcalloc(1, sizeof(*r));
	r->text = t;
	memcpy(t, JSONRPC_CANON_HEAD, hlen);
	t += hlen;
	memcpy(t, idt, ilen);
	t += ilen;
	memcpy(t, ",\"result\":", sizeof(",\"result\":") - 1);
	t += sizeof(",\"result\":") - 1;
	memcpy(t, result, len);
	t += len;
	*t++ = '}';
	r->len = t - r->text;
	if ((o = json_object_new_object()) == NULL)
		fatalx("%s: json_object_new_object", __func__);
	json_object_set_serializer(o, jsonrpc_raw_print, r, jsonrpc_raw_delete);
	return (o);
}
