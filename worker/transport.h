/*
 * How the worker reaches the MCP server it bridges: the seam between the
 * worker's loop and channel to the supervisor (worker.c, sup.c) and the
 * upstream.  One table of operations per kind, chosen by CONFIG's
 * "transport" (absent: streamable-http).  Streamable HTTP over libcurl
 * (worker/upstream.h) is the only one today; a stdio server, started
 * before the sandbox and spoken to over pipes, would be a second table
 * and a second sandbox policy.
 *
 * The loop polls what fds() gives it next to the supervisor's socket, as
 * long as timeout() allows, then calls run() with the same descriptors
 * and what poll() said of them.  Nothing else of the transport's may
 * block.
 */
#ifndef MESH_TRANSPORT_H
#define MESH_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

enum transport_kind {
	TRANSPORT_STREAMABLE_HTTP,
};

struct pollfd;
struct sandbox_policy;

struct transport_ops {
	const char		*name;		/* as in CONFIG */
	enum transport_kind	 kind;
	/* Before the sandbox: whatever needs the resolver or files. */
	void			(*init)(void);
	/* What the sandbox must leave it (the gateway's port). */
	void			(*policy)(struct sandbox_policy *);
	/* After the sandbox: the handshake, which ends in READY or FAIL. */
	void			(*start)(void);
	int			(*ready)(void);	/* READY was sent */
	/* Descriptors to poll, at most max; ms the loop may sleep (-1). */
	int			(*fds)(struct pollfd *, int max);
	int			(*timeout)(void);
	/* After poll(): the descriptors fds() gave, with their revents. */
	void			(*run)(struct pollfd *, int n);
	/* MSG_REQUEST, MSG_NOTIFY_DOWN, MSG_CANCEL. */
	void			(*request)(uint64_t id, const char *, size_t);
	void			(*notify)(const char *, size_t);
	void			(*cancel)(uint64_t id);
	/* MSG_SRESPONSE: a client's answer to a request of the gateway's. */
	void			(*answer)(const char *, size_t);
	/* MSG_CAPS: the client capabilities to declare upstream. */
	void			(*caps)(const char *, size_t);
	/* MSG_SHUTDOWN: end the session politely, in bounded time. */
	void			(*shutdown)(void);
	void			(*free)(void);	/* everything, at exit */
};

/* transport.c: NULL when no transport has that name. */
const struct transport_ops *transport_find(const char *name);

/* multi.c */
extern const struct transport_ops transport_streamable_http;

#endif
