/*
 * The HTTP front-end's header policy.  The rules are pure functions of
 * header values (tests/unit/test_http_check.c calls them); the wrappers
 * below read the values of one request from libmicrohttpd.
 *
 *	Origin	always one of ours when present (DNS rebinding)
 *	Host	localhost, 127.0.0.1 or [::1] when bound to loopback
 *	Accept	text/event-stream, and application/json for a POST
 *	Content-Type	application/json, parameters allowed
 *	Content-Length	at most one value (a request smuggled past a proxy
 *			that reads the other one must not reach us)
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mesh.h"
#include "http.h"

/* localhost, 127.0.0.1 or [::1], with an optional port: nothing else. */
int
http_local_hostport(const char *p)
{
	static const char	*hosts[] = { "localhost", "127.0.0.1", "[::1]" };
	size_t			 i, n;

	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		n = strlen(hosts[i]);
		if (strncasecmp(p, hosts[i], n) != 0)
			continue;
		p += n;
		if (*p == '\0')
			return (1);
		if (*p++ != ':' || *p == '\0')
			return (0);
		for (n = 0; p[n] != '\0'; n++) {
			if (p[n] < '0' || p[n] > '9' || n == 5)
				return (0);
		}
		return (strtol(p, NULL, 10) <= 65535);
	}
	return (0);
}

int
http_origin_ok(const char *o)
{
	if (strncasecmp(o, "http://", 7) == 0)
		return (http_local_hostport(o + 7));
	if (strncasecmp(o, "https://", 8) == 0)
		return (http_local_hostport(o + 8));
	return (0);
}

int
http_accepts_value(const char *a, int json)
{
	if (a == NULL || strcasestr(a, "text/event-stream") == NULL)
		return (0);
	return (!json || strcasestr(a, "application/json") != NULL);
}

/* application/json, parameters allowed. */
int
http_is_json_value(const char *ct)
{
	size_t	n = sizeof("application/json") - 1;

	if (ct == NULL)
		return (0);
	ct += strspn(ct, " \t");
	if (strncasecmp(ct, "application/json", n) != 0)
		return (0);
	ct += n;
	return (*ct == '\0' || *ct == ';' || *ct == ' ' || *ct == '\t');
}

static const char *
http_header(struct MHD_Connection *conn, const char *name)
{
	return (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name));
}

/* Origin always, Host when bound to loopback: DNS rebinding. */
int
http_forbidden(struct MHD_Connection *conn, int loopback)
{
	const char	*v;

	if ((v = http_header(conn, MHD_HTTP_HEADER_ORIGIN)) != NULL &&
	    !http_origin_ok(v))
		return (1);
	if (!loopback)
		return (0);
	v = http_header(conn, MHD_HTTP_HEADER_HOST);
	return (v != NULL && !http_local_hostport(v));
}

int
http_accepts(struct MHD_Connection *conn, int json)
{
	return (http_accepts_value(http_header(conn, MHD_HTTP_HEADER_ACCEPT),
	    json));
}

int
http_is_json(struct MHD_Connection *conn)
{
	return (http_is_json_value(http_header(conn,
	    MHD_HTTP_HEADER_CONTENT_TYPE)));
}

struct http_cl {
	const char	*first;
	int		 conflict;
};

static enum MHD_Result
http_cl_each(void *arg, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct http_cl	*cl = arg;

	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return (MHD_YES);
	if (cl->first == NULL)
		cl->first = value != NULL ? value : "";
	else if (value == NULL || strcmp(cl->first, value) != 0)
		cl->conflict = 1;
	return (MHD_YES);
}

/* Two Content-Length headers that differ (libmicrohttpd takes them). */
int
http_content_length_conflict(struct MHD_Connection *conn)
{
	struct http_cl	cl = { NULL, 0 };

	MHD_get_connection_values(conn, MHD_HEADER_KIND, http_cl_each, &cl);
	return (cl.conflict);
}
