/*
 * JSON-RPC 2.0 on json-c.  Everything parsed here may come from an
 * untrusted client or worker: parsing is strict, depth-bounded, UTF-8
 * checked, and must consume the whole input.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/json_visit.h>

#include "jsonrpc.h"
#include "xmalloc.h"

static int	jsonrpc_only_space(const char *, size_t);
static int	jsonrpc_utf8_valid(const unsigned char *, size_t);
static int	jsonrpc_check_id(struct json_object *, int, const char **);
static int	jsonrpc_check_error(struct json_object *, const char **);
static enum jsonrpc_kind jsonrpc_invalid(const char **, const char *);

static int
jsonrpc_only_space(const char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' &&
		    p[i] != '\r')
			return (0);
	}
	return (1);
}

/*
 * RFC 3629 UTF-8: json-c's own check lets overlong forms, surrogates and
 * code points over U+10FFFF through.
 */
static int
jsonrpc_utf8_valid(const unsigned char *p, size_t len)
{
	size_t		i = 0, n, k;
	unsigned	c, min;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			n = 1;
			min = 0x80;
			c = p[i] & 0x1f;
		} else if ((p[i] & 0xf0) == 0xe0) {
			n = 2;
			min = 0x800;
			c = p[i] & 0x0f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			n = 3;
			min = 0x10000;
			c = p[i] & 0x07;
		} else
			return (0);
		if (len - i <= n)
			return (0);
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return (0);
			c = (c << 6) | (p[i + k] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return (0);
		i += n + 1;
	}
	return (1);
}

int
jsonrpc_utf8_ok(const char *buf, size_t len)
{
	return (jsonrpc_utf8_valid((const unsigned char *)buf, len));
}

/* RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
jsonrpc_number_text_ok(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return (0);
	if (*s == '.') {
		if (*++s < '0' || *s > '9')
			return (0);
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		if (*++s == '+' || *s == '-')
			s++;
		if (*s < '0' || *s > '9')
			return (0);
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return (*s == '\0');
}

static int
jsonrpc_visit_number(struct json_object *o, int flags, struct json_object *parent,
    const char *key, size_t *index, void *arg)
{
	if (flags == JSON_C_VISIT_SECOND || !json_object_is_type(o, json_type_double))
		return (JSON_C_VISIT_RETURN_CONTINUE);
	/*
	 * json-c keeps a double's source text and prints it back verbatim;
	 * its strict mode still takes NaN, Infinity, "1." or "02.5".  Valid
	 * text (even 1e400, which overflows a double) passes on exactly as
	 * written; NaN and Infinity are refused; other invalid text is
	 * reprinted in canonical form, so nothing invalid is passed on.
	 */
	if (jsonrpc_number_text_ok(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN)))
		return (JSON_C_VISIT_RETURN_CONTINUE);
	if (!isfinite(json_object_get_double(o)))
		return (JSON_C_VISIT_RETURN_ERROR);
	json_object_set_serializer(o, NULL, NULL, NULL);
	return (JSON_C_VISIT_RETURN_CONTINUE);
}

/* Returns -1 if the tree holds a NaN or an infinity. */
static int
jsonrpc_check_numbers(struct json_object *obj)
{
	return (json_c_visit(obj, 0, jsonrpc_visit_number, NULL) == -1 ? -1 : 0);
}

/*
 * The tokener of the last depth asked for, reset instead of freed: a new
 * one callocs its depth stack and buffer, which was a tenth of the
 * supervisor's instructions per call.  Per thread, as json-c tokeners are
 * not shared; a thread's last one is freed when the thread ends.
 */
static __thread struct json_tokener	*jsonrpc_tok;
static __thread int			 jsonrpc_tok_depth;
static pthread_key_t			 jsonrpc_tok_key;
static pthread_once_t			 jsonrpc_tok_once = PTHREAD_ONCE_INIT;

static void
jsonrpc_tok_free(void *tok)
{
	json_tokener_free(tok);
	jsonrpc_tok = NULL;
}

static void
jsonrpc_tok_init(void)
{
	if (pthread_key_create(&jsonrpc_tok_key, jsonrpc_tok_free) != 0)
		abort();
}

static struct json_tokener *
jsonrpc_tokener(int maxdepth)
{
	if (jsonrpc_tok != NULL && jsonrpc_tok_depth == maxdepth) {
		json_tokener_reset(jsonrpc_tok);
		return (jsonrpc_tok);
	}
	pthread_once(&jsonrpc_tok_once, jsonrpc_tok_init);
	if (jsonrpc_tok != NULL)
		json_tokener_free(jsonrpc_tok);
	jsonrpc_tok = json_tokener_new_ex(maxdepth);
	jsonrpc_tok_depth = maxdepth;
	pthread_setspecific(jsonrpc_tok_key, jsonrpc_tok);
	return (jsonrpc_tok);
}

struct json_object *
jsonrpc_parse(const char *buf, size_t len, int maxdepth, const char **why)
{
	struct json_tokener	*tok;
	struct json_object	*obj;
	enum json_tokener_error	 err;
	size_t			 end;

	/* json-c takes an int length, and would stop at a NUL silently. */
	if (len >= INT32_MAX) {
		*why = "JSON too large";
		return (NULL);
	}
	if (memchr(buf, '\0', len) != NULL) {
		*why = "NUL byte in JSON";
		return (NULL);
	}
	if (!jsonrpc_utf8_valid((const unsigned char *)buf, len)) {
		*why = "invalid UTF-8 in JSON";
		return (NULL);
	}
	if ((tok = jsonrpc_tokener(maxdepth)) == NULL) {
		*why = "out of memory";
		return (NULL);
	}
	/* Trailing bytes are checked below, to say what was wrong. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_ALLOW_TRAILING_CHARS | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	err = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (obj == NULL && err == json_tokener_continue) {
		/* End of input: a NUL ends a number that ends the text. */
		obj = json_tokener_parse_ex(tok, "", 1);
		err = json_tokener_get_error(tok);
		end = len;
	}

	if (obj == NULL) {
		if (err == json_tokener_success)
			*why = "JSON text is null";
		else if (err == json_tokener_error_depth)
			*why = "JSON nested too deeply";
		else if (err == json_tokener_continue ||
		    err == json_tokener_error_parse_eof)
			*why = "truncated JSON";
		else {
			/* json-c's own words ("null expected") need context. */
			static __thread char	 msg[128];

			snprintf(msg, sizeof(msg), "invalid JSON: %s",
			    json_tokener_error_desc(err));
			*why = msg;
		}
		return (NULL);
	}
	if (end < len && !jsonrpc_only_space(buf + end, len - end)) {
		json_object_put(obj);
		*why = "trailing data after JSON";
		return (NULL);
	}
	if (jsonrpc_check_numbers(obj) == -1) {
		json_object_put(obj);
		*why = "invalid JSON: NaN or Infinity is not a JSON number";
		return (NULL);
	}
	return (obj);
}

static enum jsonrpc_kind
jsonrpc_invalid(const char **why, const char *msg)
{
	*why = msg;
	return (JSONRPC_INVALID);
}

/* An id is a string or an integer; null only where allow_null says. */
static int
jsonrpc_check_id(struct json_object *id, int allow_null, const char **why)
{
	if (id == NULL) {
		if (allow_null)
			return (0);
		*why = "id is null";
		return (-1);
	}
	switch (json_object_get_type(id)) {
	case json_type_string:
		return (0);
	case json_type_int:
		/*
		 * json-c keeps uint64 here too: refuse what int64 cannot hold.
		 * Below the range it clamps to INT64_MIN without a trace, so
		 * INT64_MIN itself is refused: an answer must carry the very
		 * id that was asked, and that one may have been another.
		 */
		if ((json_object_get_int64(id) == INT64_MAX &&
		    json_object_get_uint64(id) != (uint64_t)INT64_MAX) ||
		    json_object_get_int64(id) == INT64_MIN) {
			*why = "id out of range";
			return (-1);
		}
		return (0);
	case json_type_double:
		*why = "id is not an integer";
		return (-1);
	default:
		*why = "id must be a string or an integer";
		return (-1);
	}
}

static int
jsonrpc_check_error(struct json_object *err, const char **why)
{
	struct json_object	*v;

	if (!json_object_is_type(err, json_type_object)) {
		*why = "error is not an object";
		return (-1);
	}
	if (!json_object_object_get_ex(err, "code", &v) ||
	    !json_object_is_type(v, json_type_int)) {
		*why = "error code missing or not an integer";
		return (-1);
	}
	if (!json_object_object_get_ex(err, "message", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		*why = "error message missing or not a string";
		return (-1);
	}
	return (0);
}

enum jsonrpc_kind
jsonrpc_check(struct json_object *msg, const char **why)
{
	struct json_object	*v, *id, *result, *error, *method;
	int			 has_id, has_result, has_error;

	if (!json_object_is_type(msg, json_type_object))
		return (jsonrpc_invalid(why, "message is not an object"));
	if (!json_object_object_get_ex(msg, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0)
		return (jsonrpc_invalid(why, "jsonrpc is not \"2.0\""));

	has_id = json_object_object_get_ex(msg, "id", &id);
	has_result = json_object_object_get_ex(msg, "result", &result);
	has_error = json_object_object_get_ex(msg, "error", &error);

	if (json_object_object_get_ex(msg, "method", &method)) {
		if (!json_object_is_type(method, json_type_string))
			return (jsonrpc_invalid(why, "method is not a string"));
		if (has_result || has_error)
			return (jsonrpc_invalid(why,
			    "request with result or error"));
		if (json_object_object_get_ex(msg, "params", &v) &&
		    !json_object_is_type(v, json_type_object) &&
		    !json_object_is_type(v, json_type_array))
			return (jsonrpc_invalid(why,
			    "params is not an object or array"));
		if (!has_id)
			return (JSONRPC_NOTIFICATION);
		if (jsonrpc_check_id(id, 0, why) == -1)
			return (JSONRPC_INVALID);
		return (JSONRPC_REQUEST);
	}

	if (has_result && has_error)
		return (jsonrpc_invalid(why, "both result and error"));
	if (!has_result && !has_error)
		return (jsonrpc_invalid(why, "no method, result or error"));
	if (!has_id)
		return (jsonrpc_invalid(why, "response without id"));
	/* An error answering an unparsable request has a null id. */
	if (jsonrpc_check_id(id, has_error, why) == -1)
		return (JSONRPC_INVALID);
	if (has_error && jsonrpc_check_error(error, why) == -1)
		return (JSONRPC_INVALID);
	return (JSONRPC_RESPONSE);
}

const char *
jsonrpc_method(struct json_object *msg)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(msg, "method", &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

const char *
jsonrpc_get_str(struct json_object *o, const char *key)
{
	struct json_object	*v;
	const char		*s;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return (NULL);
	return (s);
}

struct json_object *
jsonrpc_id(struct json_object *msg)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(msg, "id", &v))
		return (NULL);
	return (v);
}

struct json_object *
jsonrpc_params(struct json_object *msg)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(msg, "params", &v))
		return (NULL);
	return (v);
}

/* A new envelope with "jsonrpc" and, when given, the borrowed id. */
static struct json_object *
jsonrpc_envelope(struct json_object *id, int with_id)
{
	struct json_object	*o;

	if ((o = json_object_new_object()) == NULL)
		return (NULL);
	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	if (with_id)
		json_object_object_add(o, "id", json_object_get(id));
	return (o);
}

struct json_object *
jsonrpc_result(struct json_object *id, struct json_object *result)
{
	struct json_object	*o;

	o = jsonrpc_envelope(id, 1);
	json_object_object_add(o, "result",
	    result != NULL ? result : json_object_new_object());
	return (o);
}

struct json_object *
jsonrpc_error(struct json_object *id, int code, const char *message,
    struct json_object *data)
{
	struct json_object	*o, *e;

	e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_int(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	if (data != NULL)
		json_object_object_add(e, "data", data);
	o = jsonrpc_envelope(id, 1);
	json_object_object_add(o, "error", e);
	return (o);
}

struct json_object *
jsonrpc_request(struct json_object *id, const char *method,
    struct json_object *params)
{
	struct json_object	*o;

	o = jsonrpc_envelope(id, 1);
	json_object_object_add(o, "method", json_object_new_string(method));
	if (params != NULL)
		json_object_object_add(o, "params", params);
	return (o);
}

struct json_object *
jsonrpc_notification(const char *method, struct json_object *params)
{
	struct json_object	*o;

	o = jsonrpc_envelope(NULL, 0);
	json_object_object_add(o, "method", json_object_new_string(method));
	if (params != NULL)
		json_object_object_add(o, "params", params);
	return (o);
}

struct json_object *
mcp_error_result(const char *fmt, ...)
{
	struct json_object	*o, *content, *text;
	va_list			 ap;
	char			*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (msg == NULL)
		msg = xstrdup("internal error");

	text = json_object_new_object();
	json_object_object_add(text, "type", json_object_new_string("text"));
	json_object_object_add(text, "text", json_object_new_string(msg));
	free(msg);
	content = json_object_new_array();
	json_object_array_add(content, text);
	o = json_object_new_object();
	json_object_object_add(o, "content", content);
	json_object_object_add(o, "isError", json_object_new_boolean(1));
	return (o);
}

const char *
jsonrpc_string(struct json_object *msg, size_t *len)
{
	const char	*s;

	s = json_object_to_json_string_length(msg,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
	return (s);
}
