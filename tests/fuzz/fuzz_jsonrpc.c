/*
 * libFuzzer target: the bounded JSON parser and the JSON-RPC envelope
 * check (common/jsonrpc.c), the first code every client's and every
 * worker's message meets.
 *
 * What is accepted must be NUL-free, valid UTF-8 text; the check's verdict
 * must agree with the accessors; the compact serialisation must hold no
 * raw newline (the stdio front-end frames by lines), must parse back to an
 * equal object with the same verdict, and must be a fixed point; a parse
 * that succeeds under a smaller depth limit succeeds under the full one;
 * and the builders, fed the parsed id, method and params, produce
 * envelopes the check accepts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jsonrpc.h"
#include "mesh-limits.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

/* RFC 3629, written apart from jsonrpc.c's own check on purpose. */
static int
utf8_ok(const uint8_t *p, size_t n)
{
	size_t		i = 0, k, need;
	uint32_t	c;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			need = 1;
			c = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			need = 2;
			c = p[i] & 0x0f;
		} else if ((p[i] & 0xf8) == 0xf0) {
			need = 3;
			c = p[i] & 0x07;
		} else
			return (0);
		if (n - i - 1 < need)
			return (0);
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return (0);
			c = c << 6 | (p[i + k] & 0x3f);
		}
		if ((need == 1 && c < 0x80) || (need == 2 && c < 0x800) ||
		    (need == 3 && c < 0x10000) || c > 0x10ffff ||
		    (c >= 0xd800 && c <= 0xdfff))
			return (0);
		i += need + 1;
	}
	return (1);
}

static int
has(struct json_object *o, const char *key)
{
	return (json_object_object_get_ex(o, key, NULL));
}

/* The verdict against the accessors and the envelope's rules. */
static void
check_kind(struct json_object *o, enum jsonrpc_kind kind, const char *why)
{
	struct json_object	*id, *params, *v;
	const char		*method;

	if (kind == JSONRPC_INVALID) {
		CHECK(why != NULL && *why != '\0');
		return;
	}
	CHECK(json_object_is_type(o, json_type_object));
	CHECK(json_object_object_get_ex(o, "jsonrpc", &v) &&
	    json_object_is_type(v, json_type_string));
	method = jsonrpc_method(o);
	id = jsonrpc_id(o);
	params = jsonrpc_params(o);
	switch (kind) {
	case JSONRPC_REQUEST:
	case JSONRPC_NOTIFICATION:
		CHECK(method != NULL);
		CHECK(!has(o, "result") && !has(o, "error"));
		CHECK(params == NULL ||
		    json_object_is_type(params, json_type_object) ||
		    json_object_is_type(params, json_type_array));
		if (kind == JSONRPC_NOTIFICATION) {
			CHECK(!has(o, "id"));
			break;
		}
		CHECK(id != NULL);
		CHECK(json_object_is_type(id, json_type_string) ||
		    json_object_is_type(id, json_type_int));
		break;
	case JSONRPC_RESPONSE:
		CHECK(method == NULL && !has(o, "method"));
		CHECK(has(o, "id"));
		CHECK(has(o, "result") != has(o, "error"));
		if (has(o, "result"))
			CHECK(id != NULL);
		break;
	default:
		CHECK(0);
	}
}

/* Serialise: compact, one line, no NUL; the caller re-parses it. */
static const char *
serialise(struct json_object *o, size_t *len)
{
	const char	*s;

	s = jsonrpc_string(o, len);
	CHECK(s != NULL);
	CHECK(s[*len] == '\0' && strlen(s) == *len);
	CHECK(memchr(s, '\n', *len) == NULL && memchr(s, '\r', *len) == NULL);
	return (s);
}

/* Builders fed what was parsed must give valid envelopes. */
static void
builders(struct json_object *o, enum jsonrpc_kind kind)
{
	struct json_object	*b, *params, *id;
	const char		*why;

	if (kind != JSONRPC_REQUEST && kind != JSONRPC_NOTIFICATION)
		return;
	id = jsonrpc_id(o);
	params = jsonrpc_params(o);
	if (kind == JSONRPC_REQUEST) {
		b = jsonrpc_result(id, NULL);
		CHECK(jsonrpc_check(b, &why) == JSONRPC_RESPONSE);
		json_object_put(b);
		b = jsonrpc_error(id, JSONRPC_INTERNAL_ERROR, "x", NULL);
		CHECK(jsonrpc_check(b, &why) == JSONRPC_RESPONSE);
		json_object_put(b);
		b = jsonrpc_request(id, jsonrpc_method(o),
		    params != NULL ? json_object_get(params) : NULL);
		CHECK(jsonrpc_check(b, &why) == JSONRPC_REQUEST);
		json_object_put(b);
	} else {
		b = jsonrpc_notification(jsonrpc_method(o),
		    params != NULL ? json_object_get(params) : NULL);
		CHECK(jsonrpc_check(b, &why) == JSONRPC_NOTIFICATION);
		json_object_put(b);
	}
	/* A null id is what an unparsable request is answered with. */
	b = jsonrpc_error(NULL, JSONRPC_PARSE_ERROR, "y", NULL);
	CHECK(jsonrpc_check(b, &why) == JSONRPC_RESPONSE);
	json_object_put(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object	*o, *o2, *o3;
	enum jsonrpc_kind	 kind, kind2;
	const char		*why = NULL, *why2 = NULL, *s, *s2;
	size_t			 len, len2;
	int			 depth;

	o = jsonrpc_parse((const char *)data, size, JSON_DEPTH_MAX, &why);
	/* A shallower limit never accepts what the full one refuses. */
	depth = 1 + (int)(size % 8);
	o3 = jsonrpc_parse((const char *)data, size, depth, &why2);
	if (o == NULL) {
		CHECK(why != NULL && *why != '\0');
		CHECK(o3 == NULL);
		return (0);
	}
	CHECK(memchr(data, '\0', size) == NULL);
	CHECK(utf8_ok(data, size));
	if (o3 != NULL) {
		CHECK(json_object_equal(o, o3));
		json_object_put(o3);
	}

	why = NULL;
	kind = jsonrpc_check(o, &why);
	check_kind(o, kind, why);
	builders(o, kind);

	s = serialise(o, &len);
	why2 = NULL;
	o2 = jsonrpc_parse(s, len, JSON_DEPTH_MAX, &why2);
	if (o2 == NULL) {
		fprintf(stderr, "re-parse failed: %s\n%.*s\n", why2,
		    (int)len, s);
		CHECK(0);
	}
	CHECK(json_object_equal(o, o2));
	kind2 = jsonrpc_check(o2, &why2);
	CHECK(kind2 == kind);
	s2 = serialise(o2, &len2);
	CHECK(len2 == len && memcmp(s, s2, len) == 0);

	json_object_put(o2);
	json_object_put(o);
	return (0);
}
