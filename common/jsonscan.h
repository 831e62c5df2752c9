/*
 * A strict RFC 8259 scanner that allocates nothing, and the canonical
 * response shape {"jsonrpc":"2.0","id":N,"result":V} a worker relays a
 * result in (see ARCHITECTURE.md, "Message flow").
 */
#ifndef MESH_JSONSCAN_H
#define MESH_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

#define JSONRPC_CANON_HEAD	"{\"jsonrpc\":\"2.0\",\"id\":"

/*
 * The length of the one JSON value at the start of buf (no leading
 * space), nested at most maxdepth deep, or 0 if buf does not start with
 * a valid value.  Allocates nothing; UTF-8 is not checked here.
 */
size_t		 jsonrpc_scan(const char *buf, size_t len, int maxdepth);

/*
 * Worker: buf is the gateway's answer to request id.  If it is a result
 * response for id with nothing but jsonrpc, id and result, each once, put
 * it in canonical shape (V byte for byte) in a new *out and return its
 * length; otherwise 0 (send it as received).
 */
size_t		 jsonrpc_canon_make(const char *buf, size_t len, uint64_t id,
		    char **out);

/*
 * Supervisor: 0 and the offset of V if buf is exactly the canonical
 * result response for id with V one valid JSON value in valid UTF-8
 * (V ends one byte before buf's end), else -1.
 */
int		 jsonrpc_canon_result(const char *buf, size_t len, uint64_t id,
		    size_t *voff);

/*
 * A response {"jsonrpc":"2.0","id":<id>,"result":<result>} whose text is
 * made now from result's bytes (checked by the caller): a json-c object
 * that prints as that text and has no members of its own.
 */
struct json_object *jsonrpc_result_raw(struct json_object *id,
		    const char *result, size_t len);

#endif
