/*
 * Calls and their origins.  Every request a client makes, and every call
 * the mesh makes of a peer for itself, is a call: it belongs to an origin
 * (a legacy session, one stateless exchange, the mesh itself) and leaves
 * through the reply operations its maker supplied: messages, then exactly
 * one answer, as JSON text.
 *
 * Exactly one: the first answer ends the call (done), later ones are a
 * bug of ours and are dropped with a warning; a cancelled or abandoned
 * call gets none.  A call is freed when it is done and nobody holds it
 * (mcp.c holds it while a handler runs, which may answer at once).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"
#include "log.h"
#include "mesh.h"
#include "xmalloc.h"

#define CALL_RESULT_MID	",\"result\":"

static unsigned	ncalls;

void
origin_init(struct origin *o, enum origin_kind kind, const char *fmt, ...)
{
	va_list	ap;

	memset(o, 0, sizeof(*o));
	o->kind = kind;
	TAILQ_INIT(&o->calls);
	va_start(ap, fmt);
	vsnprintf(o->name, sizeof(o->name), fmt, ap);
	va_end(ap);
}

void
origin_end(struct origin *o, const char *why)
{
	struct call	*c;

	relay_origin_gone(o);
	while ((c = TAILQ_FIRST(&o->calls)) != NULL) {
		/* Nobody will read the peer's answer: it may stop working. */
		router_unlink(c, 1);
		call_error(c, JSONRPC_INTERNAL_ERROR, "%s", why);
	}
}

/* notifications/cancelled names the client's id. */
struct call *
origin_find_call(struct origin *o, struct json_object *id)
{
	struct call	*c;

	TAILQ_FOREACH(c, &o->calls, oentry)
		if (json_object_equal(c->client_id, id))
			return (c);
	return (NULL);
}

unsigned
call_count(void)
{
	return (ncalls);
}

struct call *
call_new(struct origin *o, struct json_object *id, const struct reply_ops *ops,
    void *arg)
{
	struct call	*c;

	c = xcalloc(1, sizeof(*c));
	c->origin = o;
	c->ops = ops;
	c->arg = arg;
	c->client_id = json_object_get(id);
	c->refs = 1;		/* until done */
	c->started_us = now_us();
	TAILQ_INSERT_TAIL(&o->calls, c, oentry);
	o->ncalls++;
	ncalls++;
	return (c);
}

void
call_hold(struct call *c)
{
	c->refs++;
}

void
call_release(struct call *c)
{
	if (--c->refs > 0)
		return;
	json_object_put(c->client_id);
	json_object_put(c->req);
	json_object_put(c->progress_token);
	free(c);
}

int
call_done(const struct call *c)
{
	return (c->done);
}

/* Out of its origin and the router; the caller delivers or drops. */
static void
call_end(struct call *c, int cancel)
{
	c->done = 1;
	router_unlink(c, cancel);
	TAILQ_REMOVE(&c->origin->calls, c, oentry);
	c->origin->ncalls--;
	ncalls--;
}

void
call_answer(struct call *c, char *text, size_t len)
{
	if (c->done) {
		log_warnx("%s: a second answer to one call dropped",
		    c->origin->name);
		free(text);
		return;
	}
	call_end(c, 0);
	c->ops->answer(c->arg, text, len);
	call_release(c);
}

void
call_answer_json(struct call *c, struct json_object *resp)
{
	const char	*s;
	size_t		 len;

	s = jsonrpc_string(resp, &len);
	call_answer(c, xstrndup(s, len), len);
	json_object_put(resp);
}

void
call_result(struct call *c, struct json_object *result)
{
	call_answer_json(c, jsonrpc_result(c->client_id, result));
}

/*
 * {"jsonrpc":"2.0","id":<the client's>,"result":V}, V's bytes as they
 * are (the caller checked them): one copy, no tree.
 */
void
call_result_iov(struct call *c, const struct iovec *iov, int n)
{
	const char	*id = "null";
	size_t		 hlen = sizeof(JSONRPC_CANON_HEAD) - 1;
	size_t		 mlen = sizeof(CALL_RESULT_MID) - 1, ilen = 4, len, o;
	char		*t;
	int		 i;

	if (c->client_id != NULL)
		id = json_object_to_json_string_length(c->client_id,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		    &ilen);
	len = hlen + ilen + mlen + 1;
	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	t = xmalloc(len + 1);
	memcpy(t, JSONRPC_CANON_HEAD, hlen);
	memcpy(t + hlen, id, ilen);
	memcpy(t + hlen + ilen, CALL_RESULT_MID, mlen);
	o = hlen + ilen + mlen;
	for (i = 0; i < n; i++) {
		memcpy(t + o, iov[i].iov_base, iov[i].iov_len);
		o += iov[i].iov_len;
	}
	t[o++] = '}';
	t[o] = '\0';
	call_answer(c, t, len);
}

void
call_result_text(struct call *c, const char *v, size_t vlen)
{
	struct iovec	iov;

	iov.iov_base = (void *)v;
	iov.iov_len = vlen;
	call_result_iov(c, &iov, 1);
}

void
call_error(struct call *c, int code, const char *fmt, ...)
{
	va_list	ap;
	char	msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	call_answer_json(c, jsonrpc_error(c->client_id, code, msg, NULL));
}

/* A tools/call answered with an isError result the model can read. */
void
call_error_result(struct call *c, const char *fmt, ...)
{
	va_list	ap;
	char	text[1024];

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (c->plain_errors)
		call_error(c, JSONRPC_INTERNAL_ERROR, "%s", text);
	else
		call_result(c, mcp_error_result("%s", text));
}

void
call_message(struct call *c, const char *json, size_t len)
{
	if (!c->done && c->ops->message != NULL)
		c->ops->message(c->arg, json, len);
}

void
call_cancel(struct call *c)
{
	if (c->done)
		return;
	call_end(c, 1);
	c->ops->answer(c->arg, NULL, 0);
	call_release(c);
}

void
call_abandon(struct call *c)
{
	if (c->done)
		return;
	call_end(c, 1);
	call_release(c);
}

/* --- the mesh's own requests ---------------------------------------------- */

static struct origin	internal;
static int		internal_ready;

static void
call_internal_answer(void *arg, char *json, size_t len)
{
	const char	*what = arg;
	char		 esc[256];

	if (json != NULL && memmem(json, len, "\"error\"", 7) != NULL) {
		log_escape(esc, sizeof(esc), json, len);
		log_warnx("mesh: %s: %s", what, esc);
	}
	free(json);
}

static const struct reply_ops call_internal_ops = {
	NULL, call_internal_answer
};

void
call_internal(struct peer *p, const char *what, struct json_object *req)
{
	struct call	*c;

	if (!internal_ready) {
		origin_init(&internal, ORIGIN_INTERNAL, "mesh");
		internal_ready = 1;
	}
	/* what is a method name: static text that outlives the call. */
	c = call_new(&internal, NULL, &call_internal_ops, (void *)what);
	/* Its one reference is dropped when it is answered, even now. */
	router_route(c, p, what, NULL, req);
}

void
call_internal_end(void)
{
	if (internal_ready)
		origin_end(&internal, "the mesh is shutting down");
}
