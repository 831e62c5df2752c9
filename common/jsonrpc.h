/*
 * JSON-RPC 2.0 helpers on json-c: bounded parsing, envelope checks, and
 * builders for results and errors.
 */
#ifndef MESH_JSONRPC_H
#define MESH_JSONRPC_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

/* JSON-RPC and MCP error codes. */
#define JSONRPC_PARSE_ERROR		-32700
#define JSONRPC_INVALID_REQUEST		-32600
#define JSONRPC_METHOD_NOT_FOUND	-32601
#define JSONRPC_INVALID_PARAMS		-32602
#define JSONRPC_INTERNAL_ERROR		-32603
#define MCP_SESSION_NOT_FOUND		-32001	/* SDK v1, with HTTP 404 */
#define MCP_BAD_REQUEST			-32000	/* SDK v1 transport errors */
#define MCP_RESOURCE_NOT_FOUND		-32002	/* resources/read: no such URI */

enum jsonrpc_kind {
	JSONRPC_INVALID = 0,
	JSONRPC_REQUEST,	/* method + id */
	JSONRPC_NOTIFICATION,	/* method, no id */
	JSONRPC_RESPONSE,	/* id + result|error */
};

/*
 * Parse exactly one JSON text of len bytes (no NUL needed) with nesting
 * at most maxdepth.  Trailing non-space bytes are an error.  Returns a
 * new object or NULL with *why set to a static description.
 */
struct json_object *jsonrpc_parse(const char *buf, size_t len, int maxdepth,
	    const char **why);

/*
 * Check the JSON-RPC 2.0 envelope of one message (not a batch).
 * "jsonrpc" must be "2.0"; id, when present, a string or an integer
 * (never null for requests, fractional numbers refused); method a string;
 * params, when present, an object or array; a response has exactly one of
 * result and error, error being {code:int, message:string, data?}.
 * Returns the kind, or JSONRPC_INVALID with *why set.
 */
enum jsonrpc_kind jsonrpc_check(struct json_object *msg, const char **why);

/* Accessors on a checked message (borrowed references). */
const char	    *jsonrpc_method(struct json_object *msg);
/*
 * The string member key of object o, or NULL when it is missing, not a
 * string, or holds a NUL (a C string would be cut short there).
 */
const char	    *jsonrpc_get_str(struct json_object *o, const char *key);
struct json_object  *jsonrpc_id(struct json_object *msg);
struct json_object  *jsonrpc_params(struct json_object *msg);

/* Builders: new objects; id is borrowed (taken with json_object_get). */
struct json_object *jsonrpc_result(struct json_object *id,
	    struct json_object *result /* owned */);
struct json_object *jsonrpc_error(struct json_object *id, int code,
	    const char *message, struct json_object *data /* owned, or NULL */);
struct json_object *jsonrpc_request(struct json_object *id, const char *method,
	    struct json_object *params /* owned, or NULL */);
struct json_object *jsonrpc_notification(const char *method,
	    struct json_object *params /* owned, or NULL */);

/* A tools/call result carrying a text error for the model: isError true. */
struct json_object *mcp_error_result(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/* RFC 3629 UTF-8 (no overlong forms, surrogates, or over U+10FFFF). */
int		 jsonrpc_utf8_ok(const char *buf, size_t len);

/* Compact serialisation (no newlines: safe for stdio framing). */
const char *jsonrpc_string(struct json_object *msg, size_t *len);

#endif
