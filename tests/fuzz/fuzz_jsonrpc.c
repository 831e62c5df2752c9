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
#include "fuzz.h"

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

/*
 * RFC 8259 JSON text, by a validator of our own: what the mesh accepts and
 * what it sends on must be JSON, not json-c's superset (NaN, Infinity).
 * Returns the nesting depth, or -1.
 */
struct jv {
	const uint8_t	*p;
	size_t		 n, i;
	int		 depth, max;
};

static void
jv_ws(struct jv *v)
{
	while (v->i < v->n && (v->p[v->i] == ' ' || v->p[v->i] == '\t' ||
	    v->p[v->i] == '\n' || v->p[v->i] == '\r'))
		v->i++;
}

static int
jv_lit(struct jv *v, const char *lit)
{
	size_t	l = strlen(lit);

	if (v->n - v->i < l || memcmp(v->p + v->i, lit, l) != 0)
		return (-1);
	v->i += l;
	return (0);
}

static int
jv_digits(struct jv *v)
{
	size_t	start = v->i;

	while (v->i < v->n && v->p[v->i] >= '0' && v->p[v->i] <= '9')
		v->i++;
	return (v->i > start ? 0 : -1);
}

static int
jv_number(struct jv *v)
{
	if (v->i < v->n && v->p[v->i] == '-')
		v->i++;
	if (v->i < v->n && v->p[v->i] == '0')
		v->i++;
	else if (jv_digits(v) == -1)
		return (-1);
	if (v->i < v->n && v->p[v->i] == '.') {
		v->i++;
		if (jv_digits(v) == -1)
			return (-1);
	}
	if (v->i < v->n && (v->p[v->i] == 'e' || v->p[v->i] == 'E')) {
		v->i++;
		if (v->i < v->n && (v->p[v->i] == '+' || v->p[v->i] == '-'))
			v->i++;
		if (jv_digits(v) == -1)
			return (-1);
	}
	return (0);
}

static int
jv_string(struct jv *v)
{
	int	k;

	if (v->i >= v->n || v->p[v->i] != '"')
		return (-1);
	for (v->i++; v->i < v->n; v->i++) {
		if (v->p[v->i] == '"') {
			v->i++;
			return (0);
		}
		if (v->p[v->i] < 0x20)
			return (-1);
		if (v->p[v->i] != '\\')
			continue;
		if (++v->i >= v->n)
			return (-1);
		if (strchr("\"\\/bfnrt", v->p[v->i]) != NULL &&
		    v->p[v->i] != '\0')
			continue;
		if (v->p[v->i] != 'u')
			return (-1);
		for (k = 0; k < 4; k++) {
			if (++v->i >= v->n || strchr("0123456789abcdefABCDEF",
			    v->p[v->i]) == NULL || v->p[v->i] == '\0')
				return (-1);
		}
	}
	return (-1);
}

static int
jv_value(struct jv *v)
{
	int	first;

	jv_ws(v);
	if (v->i >= v->n)
		return (-1);
	switch (v->p[v->i]) {
	case '{':
	case '[':
		if (++v->depth > v->max)
			v->max = v->depth;
		if (v->depth > 1000)
			return (-1);
		first = v->p[v->i++];
		jv_ws(v);
		if (v->i < v->n && v->p[v->i] == (first == '{' ? '}' : ']')) {
			v->i++;
			v->depth--;
			return (0);
		}
		for (;;) {
			if (first == '{') {
				jv_ws(v);
				if (jv_string(v) == -1)
					return (-1);
				jv_ws(v);
				if (v->i >= v->n || v->p[v->i++] != ':')
					return (-1);
			}
			if (jv_value(v) == -1)
				return (-1);
			jv_ws(v);
			if (v->i >= v->n)
				return (-1);
			if (v->p[v->i] == ',') {
				v->i++;
				continue;
			}
			if (v->p[v->i++] != (first == '{' ? '}' : ']'))
				return (-1);
			v->depth--;
			return (0);
		}
	case '"':
		return (jv_string(v));
	case 't':
		return (jv_lit(v, "true"));
	case 'f':
		return (jv_lit(v, "false"));
	case 'n':
		return (jv_lit(v, "null"));
	default:
		return (jv_number(v));
	}
}

static int
json_valid(const uint8_t *p, size_t n)
{
	struct jv	v = { p, n, 0, 0, 0 };

	if (jv_value(&v) == -1)
		return (-1);
	jv_ws(&v);
	return (v.i == n ? v.max : -1);
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
	/* Refusing plain JSON would be an interoperability bug too. */
	if (o == NULL && memchr(data, '\0', size) == NULL &&
	    utf8_ok(data, size) && (depth = json_valid(data, size)) != -1 &&
	    depth < JSON_DEPTH_MAX && strcmp(why, "JSON text is null") != 0) {
		fprintf(stderr, "JSON refused (%s): %.*s\n", why,
		    (int)(size < 200 ? size : 200), (const char *)data);
		CHECK(0);
	}
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
	/*
	 * json-c takes a little more than JSON ("00", raw tabs in strings):
	 * harmless while what is sent on, the serialisation, is JSON.
	 */
	s = serialise(o, &len);
	if (json_valid((const uint8_t *)s, len) == -1) {
		fprintf(stderr, "sent on, but not JSON: %.200s\n", s);
		CHECK(0);
	}
	if (o3 != NULL) {
		CHECK(json_object_equal(o, o3));
		json_object_put(o3);
	}

	why = NULL;
	kind = jsonrpc_check(o, &why);
	check_kind(o, kind, why);
	builders(o, kind);

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
