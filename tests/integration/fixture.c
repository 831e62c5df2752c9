/*
 * The part of the harness that asserts (Criterion): newline JSON-RPC
 * expectations.  See harness.h.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "harness.h"

/* --- newline-delimited JSON-RPC ------------------------------------------ */

void
line_expect_send(struct lineconn *lc, const char *msg)
{
	cr_assert_eq(line_send(lc, msg), 0, "could not write the line %.200s",
	    msg);
}

/*
 * One line, which must be one JSON-RPC 2.0 message (an object) on one
 * line.  Returns it (owned), or NULL at EOF or after timeout_ms.
 */
struct json_object *
line_expect_msg(struct lineconn *lc, int timeout_ms)
{
	struct json_object	*msg;
	const char		*v;
	char			*line;

	if ((line = line_read(lc, timeout_ms)) == NULL)
		return (NULL);
	msg = json_tokener_parse(line);
	cr_assert(msg != NULL && json_object_is_type(msg, json_type_object),
	    "line is not a JSON object: %s", line);
	v = json_path_str(msg, "jsonrpc");
	cr_assert(v != NULL && strcmp(v, "2.0") == 0,
	    "line is not JSON-RPC 2.0: %s", line);
	free(line);
	return (msg);
}

/*
 * The response with id (id < 0: a null id) within LINE_WAIT_MS; the
 * notifications before it are skipped, anything else fails.
 */
struct json_object *
line_expect_response(struct lineconn *lc, int64_t id)
{
	struct json_object	*msg;
	uint64_t		 deadline = now_ms() + LINE_WAIT_MS;
	int64_t			 left;

	for (;;) {
		left = (int64_t)(deadline - now_ms());
		cr_assert_gt(left, 0, "no response with id %lld in %d ms",
		    (long long)id, LINE_WAIT_MS);
		msg = line_expect_msg(lc, (int)left);
		cr_assert_not_null(msg, "%s waiting for id %lld", lc->eof ?
		    "end of input" : "silence", (long long)id);
		if (rpc_id_is(msg, id))
			return (msg);
		cr_assert_null(json_path(msg, "id"), "response with an "
		    "unexpected id: %s", json_object_to_json_string(msg));
		cr_assert_not_null(json_path_str(msg, "method"),
		    "unexpected message: %s", json_object_to_json_string(msg));
		json_object_put(msg);
	}
}

/* Request method (params NULL: none) with id; its response (owned). */
struct json_object *
line_rpc(struct lineconn *lc, int64_t id, const char *method,
    const char *params)
{
	char	*req = rpc_text(id, method, params);

	line_expect_send(lc, req);
	free(req);
	return (line_expect_response(lc, id));
}
