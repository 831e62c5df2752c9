/*
 * The strict scanner and the canonical response shape: what a worker
 * makes of a gateway's answer, what the supervisor accepts to splice
 * (anything else takes the slow path, which parses, checks, and kills a
 * worker that lied), and the exact text spliced for the client.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "jsonrpc.h"
#include "jsonscan.h"
#include "mesh-limits.h"

static size_t
scan(const char *s)
{
	return (jsonrpc_scan(s, strlen(s), JSON_DEPTH_MAX));
}

Test(jsonscan, valid_values)
{
	static const char *ok[] = {
		"0", "-0", "1.5", "-12.5e+3", "1E9", "1e400", "true", "false",
		"null", "\"\"", "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\"",
		"[]", "{}", "[ 1 , [ ] , { } ]", "{\"a\" : {\"b\":[null]}}",
		"\"\xc3\xa9\"", "123456789012345678901234567890",
	};
	size_t	i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_assert_eq(scan(ok[i]), strlen(ok[i]), "%s", ok[i]);
	/* One value: what follows is the caller's business. */
	cr_assert_eq(scan("[1] x"), 3);
	cr_assert_eq(scan("{\"a\" : [ ] }  "), 12);
	cr_assert_eq(scan("1,2"), 1);
}

Test(jsonscan, invalid_values)
{
	static const char *bad[] = {
		"", " 1", "01", "-", "1.", ".5", "1e", "+1", "NaN", "Infinity",
		"-Infinity", "True", "nul", "'a'", "\"a", "\"\\x\"", "\"\\u12\"",
		"\"\\u12G4\"", "\"a\tb\"", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}",
		"{a:1}", "{\"a\":1,}", "{,}", "[1 2]", "[", "{", "/* c */ 1",
		"[1]\f", "\x0b" "1",
	};
	size_t	i;

	/* None is one whole value (some start with one: "01" with 0). */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert(scan(bad[i]) == 0 || scan(bad[i]) < strlen(bad[i]),
		    "accepted: %s", bad[i]);
	cr_assert_eq(jsonrpc_scan("\"a\0b\"", 5, JSON_DEPTH_MAX), 0);
	cr_assert_eq(jsonrpc_scan("1\0", 2, JSON_DEPTH_MAX), 1);
}

Test(jsonscan, depth)
{
	char	buf[2 * JSON_DEPTH_MAX + 3];
	int	d;

	for (d = 1; d <= JSON_DEPTH_MAX + 1; d++) {
		memset(buf, '[', d);
		memset(buf + d, ']', d);
		buf[2 * d] = '\0';
		cr_assert_eq(jsonrpc_scan(buf, 2 * d, JSON_DEPTH_MAX),
		    d <= JSON_DEPTH_MAX ? (size_t)(2 * d) : 0, "depth %d", d);
	}
	cr_assert_eq(jsonrpc_scan("[[1]]", 5, 1), 0);
	cr_assert_eq(jsonrpc_scan("[[1]]", 5, 2), 5);
}

/* What the worker sends for a gateway's answer (NULL: as received). */
static char *
make(const char *in, uint64_t id)
{
	char	*out = NULL;
	size_t	 n;

	if ((n = jsonrpc_canon_make(in, strlen(in), id, &out)) == 0)
		return (NULL);
	return (out);
}

static void
make_is(const char *in, uint64_t id, const char *want)
{
	char	*out = NULL;
	size_t	 n;

	n = jsonrpc_canon_make(in, strlen(in), id, &out);
	if (want == NULL) {
		cr_assert_eq(n, 0, "made canonical: %s", in);
		return;
	}
	cr_assert_neq(n, 0, "not made canonical: %s", in);
	cr_assert_eq(n, strlen(want));
	cr_assert(memcmp(out, want, n) == 0, "%.*s", (int)n, out);
	free(out);
}

Test(jsonscan, worker_makes_canonical)
{
	make_is("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"a\":1}}", 7,
	    "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"a\":1}}");
	/* Any order, any spacing; the result's bytes are kept as they are. */
	make_is(" {\r\n \"result\" : { \"a\" : [1, 2.50] } ,\"id\":7 ,"
	    "\"jsonrpc\":\"2.0\"}\n", 7,
	    "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{ \"a\" : [1, 2.50] }}");
	make_is("{\"jsonrpc\":\"2.0\",\"id\":18446744073709551615,"
	    "\"result\":null}", UINT64_MAX,
	    "{\"jsonrpc\":\"2.0\",\"id\":18446744073709551615,\"result\":null}");
}

Test(jsonscan, worker_leaves_the_rest_as_received)
{
	/* Errors, other ids, extra or repeated members, odd keys, bad text. */
	make_is("{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":1,"
	    "\"message\":\"x\"}}", 7, NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":{}}", 7, NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"id\":\"7\",\"result\":{}}", 7, NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"id\":7.0,\"result\":{}}", 7, NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"id\":07,\"result\":{}}", 7, NULL);
	make_is("{\"jsonrpc\":\"1.0\",\"id\":7,\"result\":{}}", 7, NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"id\":7}", 7, NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{},\"x\":1}", 7, NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{},\"result\":[]}", 7,
	    NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"id\":7,\"id\":7,\"result\":{}}", 7, NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"\\u0069d\":7,\"result\":{}}", 7, NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}} x", 7, NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":NaN}", 7, NULL);
	make_is("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"\xc0\xaf\"}", 7,
	    NULL);
	make_is("[{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}]", 7, NULL);
	make_is("", 7, NULL);
	cr_assert_null(make("{", 7));
}

static int
canon(const char *s, uint64_t id, size_t *voff)
{
	return (jsonrpc_canon_result(s, strlen(s), id, voff));
}

Test(jsonscan, supervisor_takes_exact_shape)
{
	const char	*s = "{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{\"x\":[1]}}";
	size_t		 voff = 0;

	cr_assert_eq(canon(s, 42, &voff), 0);
	cr_assert_str_eq(s + voff, "{\"x\":[1]}}");
	cr_assert_eq(canon("{\"jsonrpc\":\"2.0\",\"id\":18446744073709551615,"
	    "\"result\":1}", UINT64_MAX, &voff), 0);
}

/* A worker that lies or is merely different: the slow path judges it. */
Test(jsonscan, supervisor_sends_the_rest_the_slow_way)
{
	static const char *bad[] = {
		/* another request's id, or the id as a string */
		"{\"jsonrpc\":\"2.0\",\"id\":43,\"result\":{}}",
		"{\"jsonrpc\":\"2.0\",\"id\":\"42\",\"result\":{}}",
		/* a member smuggled after the result */
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{},\"id\":1}",
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{},\"error\":{}}",
		/* not quite the shape */
		"{\"jsonrpc\":\"2.0\", \"id\":42,\"result\":{}}",
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{} }",
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"error\":{\"code\":1,"
		    "\"message\":\"m\"}}",
		"{\"id\":42,\"jsonrpc\":\"2.0\",\"result\":{}}",
		/* invalid text where the value is */
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":}",
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":NaN}",
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":01}",
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{\"a\":1.}}",
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":\"\xed\xa0\x80\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{}",
		"{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":",
		"",
	};
	size_t	i, voff;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(canon(bad[i], 42, &voff), -1, "taken: %s", bad[i]);
	cr_assert_eq(jsonrpc_canon_result("{\"jsonrpc\":\"2.0\",\"id\":42,"
	    "\"result\":\"a\0\"}", 35, 42, &voff), -1);
}

static void
raw_is(struct json_object *id, const char *result, const char *want)
{
	struct json_object	*o, *arr;
	const char		*s;
	char			*both;
	size_t			 len;

	o = jsonrpc_result_raw(id, result, strlen(result));
	s = jsonrpc_string(o, &len);
	cr_assert_str_eq(s, want);
	cr_assert_eq(len, strlen(want));
	/* Inside a batch it prints the same. */
	arr = json_object_new_array();
	json_object_array_add(arr, o);
	if (asprintf(&both, "[%s]", want) == -1)
		cr_assert_fail("asprintf");
	cr_assert_str_eq(jsonrpc_string(arr, &len), both);
	free(both);
	json_object_put(arr);
}

Test(jsonscan, splice_client_ids)
{
	struct json_object	*id;

	id = json_object_new_string("a\"b\\c/\xc3\xa9\n");
	raw_is(id, "{\"x\":1}", "{\"jsonrpc\":\"2.0\",\"id\":"
	    "\"a\\\"b\\\\c/\xc3\xa9\\n\",\"result\":{\"x\":1}}");
	json_object_put(id);
	id = json_object_new_int64(INT64_MAX);
	raw_is(id, "[]", "{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,"
	    "\"result\":[]}");
	json_object_put(id);
	id = json_object_new_int64(INT64_MIN);
	raw_is(id, "0", "{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775808,"
	    "\"result\":0}");
	json_object_put(id);
	raw_is(NULL, "null", "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":null}");
}

/* The client's id as the client wrote it, after the bounded parser. */
Test(jsonscan, splice_parsed_ids)
{
	struct json_object	*req;
	const char		*why, *s = "{\"jsonrpc\":\"2.0\",\"id\":"
				    "\"\\u00e9\\ud83d\\ude00 \\\"x\\\"\","
				    "\"method\":\"m\"}";

	req = jsonrpc_parse(s, strlen(s), JSON_DEPTH_MAX, &why);
	cr_assert_not_null(req);
	raw_is(jsonrpc_id(req), "{}", "{\"jsonrpc\":\"2.0\",\"id\":"
	    "\"\xc3\xa9\xf0\x9f\x98\x80 \\\"x\\\"\",\"result\":{}}");
	json_object_put(req);
}
