/*
 * JSON-RPC helpers: the bounded parser at its edges, envelope checks on
 * bad input, and the exact text the builders produce.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "jsonrpc.h"
#include "mesh-limits.h"

static struct json_object *
parse(const char *s, const char **why)
{
	return (jsonrpc_parse(s, strlen(s), JSON_DEPTH_MAX, why));
}

/* The parser refuses s, saying exactly want. */
static void
parse_fails(const char *s, size_t len, const char *want)
{
	struct json_object	*o;
	const char		*why = NULL;

	o = jsonrpc_parse(s, len, JSON_DEPTH_MAX, &why);
	cr_assert_null(o, "parsed: %.*s", (int)len, s);
	cr_assert_not_null(why, "refused without a reason: %.*s", (int)len,
	    s);
	cr_assert_str_eq(why, want, "%.*s: want \"%s\", got \"%s\"",
	    (int)len, s, want, why);
}

/* Parse, check and return the kind (and the reason when invalid). */
static enum jsonrpc_kind
kind(const char *s, const char **why)
{
	struct json_object	*o;
	enum jsonrpc_kind	 k;
	const char		*pwhy = NULL;

	o = parse(s, &pwhy);
	cr_assert_not_null(o, "%s: %s", s, pwhy);
	*why = NULL;
	k = jsonrpc_check(o, why);
	json_object_put(o);
	if (k == JSONRPC_INVALID)
		cr_assert_not_null(*why);
	return (k);
}

/* The parser takes s and the checker refuses it, saying exactly want. */
static void
invalid(const char *s, const char *want)
{
	const char	*why;

	cr_assert_eq(kind(s, &why), JSONRPC_INVALID, "accepted: %s", s);
	cr_assert_str_eq(why, want, "%s: want \"%s\", got \"%s\"", s, want,
	    why);
}

static char *
nested(int depth)
{
	char	*s;
	int	 i;

	s = malloc(2 * depth + 1);
	for (i = 0; i < depth; i++) {
		s[i] = '[';
		s[depth + i] = ']';
	}
	s[2 * depth] = '\0';
	return (s);
}

static void
assert_text(struct json_object *o, const char *want)
{
	const char	*s;
	size_t		 len;

	s = jsonrpc_string(o, &len);
	cr_assert_str_eq(s, want);
	cr_assert_eq(len, strlen(want));
	json_object_put(o);
}

Test(parse, plain_values)
{
	struct json_object	*o;
	const char		*why;

	o = parse("{\"a\":[1,2,{\"b\":null}]}", &why);
	cr_assert_not_null(o);
	json_object_put(o);
	/* A number ending the input has no terminator: still whole. */
	o = parse("123", &why);
	cr_assert_not_null(o);
	cr_assert_eq(json_object_get_int(o), 123);
	json_object_put(o);
	o = parse(" \r\n\t{}\n ", &why);
	cr_assert_not_null(o);
	json_object_put(o);
	o = jsonrpc_parse("{}xxxx", 2, JSON_DEPTH_MAX, &why);
	cr_assert_not_null(o, "len is honoured");
	json_object_put(o);
}

Test(parse, depth_edge)
{
	struct json_object	*o;
	const char		*why = NULL;
	char			*s;

	s = nested(JSON_DEPTH_MAX);
	o = parse(s, &why);
	cr_assert_not_null(o, "%s", why);
	json_object_put(o);
	free(s);

	s = nested(JSON_DEPTH_MAX + 1);
	parse_fails(s, strlen(s), "JSON nested too deeply");
	free(s);

	s = malloc(8 * (JSON_DEPTH_MAX + 1) + 1);
	s[0] = '\0';
	for (int i = 0; i <= JSON_DEPTH_MAX; i++)
		strcat(s, "{\"a\":");
	strcat(s, "1");
	for (int i = 0; i <= JSON_DEPTH_MAX; i++)
		strcat(s, "}");
	parse_fails(s, strlen(s), "JSON nested too deeply");
	free(s);
}

Test(parse, trailing_data)
{
	parse_fails("{} x", 4, "trailing data after JSON");
	parse_fails("{}{}", 4, "trailing data after JSON");
	parse_fails("[1] 2", 5, "trailing data after JSON");
	parse_fails("1 2", 3, "trailing data after JSON");
}

Test(parse, truncated)
{
	parse_fails("{\"a\":1", 6, "truncated JSON");
	parse_fails("[1,2", 4, "truncated JSON");
	parse_fails("\"abc", 4, "truncated JSON");
	parse_fails("", 0, "truncated JSON");
	parse_fails("   ", 3, "truncated JSON");
}

Test(parse, nul_byte)
{
	parse_fails("{\"a\":\"x\0y\"}", 11, "NUL byte in JSON");
	parse_fails("{}\0", 3, "NUL byte in JSON");
}

Test(parse, invalid_utf8)
{
	parse_fails("\"\xff\"", 3, "invalid UTF-8 in JSON");
	parse_fails("{\"a\":\"\xc3\x28\"}", 10, "invalid UTF-8 in JSON");
	/* surrogate, overlong twice, > U+10FFFF, cut short, cut at the end */
	parse_fails("\"\xed\xa0\x80\"", 5, "invalid UTF-8 in JSON");
	parse_fails("\"\xc0\xaf\"", 4, "invalid UTF-8 in JSON");
	parse_fails("\"\xe0\x80\xaf\"", 5, "invalid UTF-8 in JSON");
	parse_fails("\"\xf4\x90\x80\x80\"", 6, "invalid UTF-8 in JSON");
	parse_fails("\"\xe2\x82\"", 4, "invalid UTF-8 in JSON");
	parse_fails("\"\xe2\x82", 3, "invalid UTF-8 in JSON");
}

/* json-c's strict mode still takes {'a':1}, NaN and Infinity. */
Test(parse, strict)
{
	parse_fails("['a']", 5, "invalid JSON: unexpected character");
	parse_fails("[1,]", 4, "invalid JSON: unexpected character");
	parse_fails("{\"a\":1,}", 8, "invalid JSON: unexpected character");
	/* json-c stops at the 0 and waits for more: not the best words. */
	parse_fails("01", 2, "truncated JSON");
	parse_fails("TRUE", 4, "invalid JSON: boolean expected");
	parse_fails("/* c */ {}", 10, "invalid JSON: unexpected character");
	parse_fails("null", 4, "JSON text is null");
}

Test(parse, valid_utf8)
{
	struct json_object	*o;
	const char		*why;

	o = parse("\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"", &why);
	cr_assert_not_null(o, "%s", why);
	json_object_put(o);
}

Test(check, kinds)
{
	const char	*why;

	cr_assert_eq(kind("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
	    &why), JSONRPC_REQUEST);
	cr_assert_eq(kind("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"x\","
	    "\"params\":[1]}", &why), JSONRPC_REQUEST);
	/* The lowest id taken: INT64_MIN is refused (see id_range). */
	cr_assert_eq(kind("{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775807,"
	    "\"method\":\"x\",\"params\":{}}", &why), JSONRPC_REQUEST);
	cr_assert_eq(kind("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
	    "initialized\"}", &why), JSONRPC_NOTIFICATION);
	cr_assert_eq(kind("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
	    &why), JSONRPC_RESPONSE);
	cr_assert_eq(kind("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}",
	    &why), JSONRPC_RESPONSE);
	cr_assert_eq(kind("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"error\":"
	    "{\"code\":-32601,\"message\":\"no\",\"data\":[1]}}", &why),
	    JSONRPC_RESPONSE);
	/* A parse error answer has a null id. */
	cr_assert_eq(kind("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
	    "{\"code\":-32700,\"message\":\"Parse error\"}}", &why),
	    JSONRPC_RESPONSE);
}

Test(check, bad_envelopes)
{
	invalid("[]", "message is not an object");
	invalid("\"x\"", "message is not an object");
	invalid("{\"id\":1,\"method\":\"ping\"}", "jsonrpc is not \"2.0\"");
	invalid("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
	    "jsonrpc is not \"2.0\"");
	invalid("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}",
	    "jsonrpc is not \"2.0\"");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
	    "id is null");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",
	    "id is not an integer");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1.0,\"method\":\"ping\"}",
	    "id is not an integer");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1e3,\"method\":\"ping\"}",
	    "id is not an integer");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}",
	    "id must be a string or an integer");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}",
	    "id must be a string or an integer");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}",
	    "id must be a string or an integer");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":18446744073709551615,"
	    "\"method\":\"ping\"}", "id out of range");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}",
	    "method is not a string");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}",
	    "method is not a string");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\","
	    "\"params\":\"s\"}", "params is not an object or array");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\","
	    "\"params\":3}", "params is not an object or array");
	invalid("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":null}",
	    "params is not an object or array");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":"
	    "{\"code\":1,\"message\":\"m\"}}", "both result and error");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"m\"}}",
	    "error code missing or not an integer");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1.5,"
	    "\"message\":\"m\"}}", "error code missing or not an integer");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1}}",
	    "error message missing or not a string");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,"
	    "\"message\":2}}", "error message missing or not a string");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"bad\"}",
	    "error is not an object");
	invalid("{\"jsonrpc\":\"2.0\",\"result\":{}}", "response without id");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}",
	    "id is null");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1}", "no method, result or error");
	invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\","
	    "\"result\":{}}", "request with result or error");
}

Test(check, accessors)
{
	struct json_object	*o;
	const char		*why;

	o = parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"a\"}}", &why);
	cr_assert_eq(jsonrpc_check(o, &why), JSONRPC_REQUEST);
	cr_assert_str_eq(jsonrpc_method(o), "tools/call");
	cr_assert_eq(json_object_get_int(jsonrpc_id(o)), 7);
	cr_assert(json_object_is_type(jsonrpc_params(o), json_type_object));
	json_object_put(o);
	o = parse("{\"jsonrpc\":\"2.0\",\"method\":\"n\"}", &why);
	cr_assert_null(jsonrpc_id(o));
	cr_assert_null(jsonrpc_params(o));
	json_object_put(o);
}

Test(build, exact_text)
{
	struct json_object	*id, *r;

	id = json_object_new_int(1);
	r = json_object_new_object();
	json_object_object_add(r, "url", json_object_new_string("a/b"));
	assert_text(jsonrpc_result(id, r),
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"url\":\"a/b\"}}");
	json_object_put(id);

	id = json_object_new_string("x");
	assert_text(jsonrpc_error(id, JSONRPC_METHOD_NOT_FOUND,
	    "Method not found", NULL),
	    "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"error\":{\"code\":-32601,"
	    "\"message\":\"Method not found\"}}");
	assert_text(jsonrpc_error(id, JSONRPC_INTERNAL_ERROR, "e",
	    json_object_new_string("d")),
	    "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"error\":{\"code\":-32603,"
	    "\"message\":\"e\",\"data\":\"d\"}}");
	json_object_put(id);

	assert_text(jsonrpc_error(NULL, JSONRPC_PARSE_ERROR, "Parse error",
	    NULL),
	    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
	    "\"message\":\"Parse error\"}}");

	id = json_object_new_int64(5);
	assert_text(jsonrpc_request(id, "tools/list", NULL),
	    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\"}");
	assert_text(jsonrpc_request(id, "ping", json_object_new_object()),
	    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":{}}");
	json_object_put(id);

	assert_text(jsonrpc_notification("notifications/tools/list_changed",
	    NULL), "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/tools/list_changed\"}");
}

Test(build, mcp_error_result)
{
	assert_text(mcp_error_result("peer %s is %s", "a/b", "down"),
	    "{\"content\":[{\"type\":\"text\",\"text\":\"peer a/b is down\"}],"
	    "\"isError\":true}");
	assert_text(mcp_error_result("line\n\"q\""),
	    "{\"content\":[{\"type\":\"text\",\"text\":\"line\\n\\\"q\\\"\"}],"
	    "\"isError\":true}");
}

Test(build, round_trip_checks)
{
	struct json_object	*id, *o, *p;
	const char		*s, *why;
	size_t			 len;

	id = json_object_new_string("abc");
	o = jsonrpc_error(id, -1, "m", NULL);
	s = jsonrpc_string(o, &len);
	cr_assert_null(memchr(s, '\n', len));
	p = jsonrpc_parse(s, len, JSON_DEPTH_MAX, &why);
	cr_assert_not_null(p);
	cr_assert_eq(jsonrpc_check(p, &why), JSONRPC_RESPONSE);
	json_object_put(p);
	json_object_put(o);
	json_object_put(id);
}

/* What json-c's strict mode lets through must not pass on as invalid JSON. */
Test(parse, numbers_canonical)
{
	static const char	 text[] = "{\"v\":0.10,\"w\":1e5,\"x\":-2.50E-3}";
	struct json_object	*o;
	const char		*why, *s;
	size_t			 len;

	parse_fails("{\"v\":NaN}", 9, "invalid JSON: NaN or Infinity is not a "
	    "JSON number");
	parse_fails("[Infinity]", 10, "invalid JSON: NaN or Infinity is not a "
	    "JSON number");
	parse_fails("[-Infinity]", 11, "invalid JSON: NaN or Infinity is not a "
	    "JSON number");

	/* A trailing dot is reprinted canonically. */
	o = jsonrpc_parse("{\"v\":1.}", 8, JSON_DEPTH_MAX, &why);
	cr_assert_not_null(o, "%s", why);
	s = jsonrpc_string(o, &len);
	cr_assert_null(strstr(s, "1.}"), "%s", s);
	json_object_put(o);

	/* Valid number text is kept exactly as written. */
	o = jsonrpc_parse(text, strlen(text), JSON_DEPTH_MAX, &why);
	cr_assert_not_null(o, "%s", why);
	s = jsonrpc_string(o, &len);
	cr_assert_str_eq(s, text);
	json_object_put(o);
}

/*
 * An id outside int64 is refused on both sides, never answered with
 * another id: json-c clamps -99999999999999999999 to INT64_MIN silently,
 * so INT64_MIN itself is refused too; the largest ids either way pass.
 */
Test(check, id_range)
{
	static const char *out[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":99999999999999999999,\"method\":\"ping\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":9223372036854775808,\"method\":\"ping\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":-99999999999999999999,\"method\":\"ping\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775809,\"method\":\"ping\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775808,\"method\":\"ping\"}",
	};
	const char	*why;
	size_t		 i;

	for (i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		cr_assert_eq(kind(out[i], &why), JSONRPC_INVALID, "%s", out[i]);
		cr_assert_str_eq(why, "id out of range", "%s", out[i]);
	}
	cr_assert_eq(kind("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,"
	    "\"method\":\"ping\"}", &why), JSONRPC_REQUEST);
	cr_assert_eq(kind("{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775807,"
	    "\"method\":\"ping\"}", &why), JSONRPC_REQUEST);
}
