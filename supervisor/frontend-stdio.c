/*
 * The stdio front-end: newline-delimited JSON-RPC on stdin and stdout
 * (lineconn.c), one legacy session.  stdout carries nothing but MCP
 * messages; logs go to stderr.  A line longer than STDIO_LINE_MAX is
 * answered with an error and skipped; a client that leaves more than
 * STDIO_OUT_QUEUE_MAX bytes of stdout unread is gone for good: the mesh
 * exits at once, without waiting on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "mesh.h"

static struct session	*stdio_session;
static struct lineconn	*stdio_lc;
static int		 stdio_overflowed;

static void
stdio_message(void *arg, const char *json, size_t len)
{
	lineconn_write(stdio_lc, json, len);
}

static void
stdio_answer(void *arg, char *json, size_t len)
{
	if (json == NULL)
		return;		/* cancelled: no answer is owed */
	lineconn_write(stdio_lc, json, len);
	free(json);
}

static const struct reply_ops stdio_ops = { stdio_message, stdio_answer };

static void
stdio_error(int code, const char *why)
{
	struct json_object	*err;
	const char		*s;
	size_t			 len;

	err = jsonrpc_error(NULL, code, why, NULL);
	s = jsonrpc_string(err, &len);
	lineconn_write(stdio_lc, s, len);
	json_object_put(err);
}

static void
stdio_push(struct session *s, const char *json, size_t len)
{
	lineconn_write(stdio_lc, json, len);
}

/* One line from the client (NULL: one over STDIO_LINE_MAX). */
static void
stdio_line(void *arg, const char *line, size_t len)
{
	struct json_object	*msg;
	enum jsonrpc_kind	 kind;
	const char		*why;
	char			 text[128];

	if (line == NULL) {
		snprintf(text, sizeof(text), "message longer than %d bytes",
		    STDIO_LINE_MAX);
		stdio_error(JSONRPC_PARSE_ERROR, text);
		return;
	}
	if ((msg = jsonrpc_parse(line, len, JSON_DEPTH_MAX, &why)) == NULL) {
		stdio_error(JSONRPC_PARSE_ERROR, why);
		return;
	}
	if (json_object_is_type(msg, json_type_array))
		stdio_error(JSONRPC_INVALID_REQUEST,
		    "batches are not supported on stdio");
	else if ((kind = jsonrpc_check(msg, &why)) == JSONRPC_INVALID)
		stdio_error(JSONRPC_INVALID_REQUEST, why);
	else
		mcp_handle(&stdio_session->origin, msg, kind, &stdio_ops, NULL);
	json_object_put(msg);
}

static void
stdio_eof(void *arg, int error)
{
	if (error)
		log_warnx("stdio: the client's descriptors failed, exiting");
	else
		log_info("stdio: end of input, exiting");
	mesh_shutdown(error);
}

static void
stdio_overflow(void *arg)
{
	log_warnx("stdio: client is not reading stdout (%d bytes queued): "
	    "exiting", STDIO_OUT_QUEUE_MAX);
	stdio_overflowed = 1;
	mesh_shutdown(1);
}

static const struct lineconn_ops stdio_lineops = {
	stdio_line, stdio_eof, stdio_overflow
};

int
stdio_start(void)
{
	stdio_session = session_new(1);
	stdio_session->push = stdio_push;
	stdio_lc = lineconn_new(STDIN_FILENO, STDOUT_FILENO, STDIO_LINE_MAX,
	    STDIO_OUT_QUEUE_MAX, &stdio_lineops, NULL);
	return (0);
}

void
stdio_stop(void)
{
	if (stdio_session == NULL)
		return;
	/* Its calls are answered (with errors) as it goes, then flushed. */
	session_free(stdio_session);
	stdio_session = NULL;
	lineconn_free(stdio_lc, stdio_overflowed ? 0 : STDIO_FLUSH_MS);
	stdio_lc = NULL;
}
