/*
 * The worker's upstream over Streamable HTTP: the MCP client of one
 * gateway (legacy era, 2024-11-05 to 2025-11-25) on one libcurl multi
 * handle.  Internal to worker/; the rest of the worker sees it only
 * through its transport_ops (transport.h).
 *
 *	xfer.c		easy handles: pool, queues, callbacks, what an HTTP
 *			answer is and why a transfer failed (as a sysexit)
 *	multi.c		the multi handle in the worker's loop; the closing
 *			DELETE
 *	resolve.c	the gateway's port and pinned addresses
 *	client.c	the upstream session: handshake, re-initialize, the
 *			GET stream, our own requests, the gateway's requests
 *	listing.c	what the worker lists of its gateway (tools), as READY
 *			and TOOLS; re-lists after list_changed, paced
 *	call.c		the supervisor's requests: relay, cancel, answers
 *	lister.c	a paged list put together (pure)
 *	pace.c		a minimum interval between re-lists (pure)
 *
 * A transfer (struct xfer) is in at most one queue at a time: the pool
 * (idle), pending (to be added to the multi handle: adding from inside a
 * libcurl callback is refused), waiting (held by its session while that
 * is being initialized again) or running.  Requests from the supervisor
 * are also in a tree by id (call.c), for MSG_CANCEL and duplicates.
 *
 * Nothing here trusts the gateway: bodies and events are bounded by the
 * peer's response cap, every JSON text goes through jsonrpc_parse() and
 * jsonrpc_check(), and every request gets exactly one answer (RESPONSE
 * or CALLFAIL) unless the supervisor cancelled it.
 */
#ifndef MESH_UPSTREAM_H
#define MESH_UPSTREAM_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "mesh-limits.h"
#include "sse.h"
#include "worker.h"

enum xfer_kind {
	XFER_CALL,		/* a request from the supervisor */
	XFER_POST,		/* notification or answer: no result wanted */
	XFER_INIT,		/* initialize */
	XFER_INITIALIZED,	/* notifications/initialized */
	XFER_LIST,		/* one page of a list (tools/list) */
	XFER_GET,		/* the standalone GET stream */
};

enum xfer_body {
	BODY_NONE,		/* no body byte yet */
	BODY_JSON,
	BODY_SSE,
	BODY_ERROR,		/* HTTP status not 2xx: keep a snippet */
};

struct xbuf {
	char		*p;
	size_t		 len;
	size_t		 cap;
};

TAILQ_HEAD(xferq, xfer);

/* The headers of one session, shared by the transfers that use them. */
struct up_hdrs {
	int			 refs;
	struct curl_slist	*list;
};

/*
 * One MCP session with the gateway.  A worker has one today; the sampling
 * relay will want one per downstream session, and the stateless era
 * (2026-07-28) none at all, so nothing reads it but through a transfer's
 * x->session.
 */
struct up_session {
	char			 id[UPSTREAM_SESSION_ID_MAX + 1]; /* "": none */
	char			 newid[UPSTREAM_SESSION_ID_MAX + 1]; /* from
						   initialize's answer */
	char			 version[16];	/* negotiated */
	unsigned		 gen;		/* bumped by each initialize */
	int			 reinit;	/* initializing again after 404 */
	uint64_t		 deadline;	/* of its running handshake */
	struct up_hdrs		*hdrs;
	struct json_object	*init;		/* initialize result */
	struct xferq		 waiting;	/* held until initialized again */
	struct xfer		*get;		/* its GET stream */
	int			 get_off;	/* 405: no GET stream */
	uint64_t		 get_retry_at;
};

/* A paged list: what to ask for, where its items are, their cap. */
struct list_kind {
	const char	*method;	/* "tools/list" */
	const char	*key;		/* "tools": the result's array */
	size_t		 max;		/* items taken, the rest ignored */
	size_t		 pages_max;	/* pages followed */
};

struct lister {
	const struct list_kind	*kind;
	int			 running;
	struct json_object	*items;		/* so far */
	char			**cursors;	/* followed, to see a loop */
	size_t			 ncursors;
};

/* At most one run per interval, the asks meanwhile folded into it. */
struct pace {
	uint64_t	 interval;	/* ms between two starts */
	uint64_t	 last;		/* when the last run started */
	int		 started;	/* last is set */
	int		 pending;	/* asked for since */
	unsigned	 asks;		/* how often */
};

enum lister_step {
	LISTER_NEXT,		/* ask for the next page */
	LISTER_DONE,		/* lister_take() */
	LISTER_BAD,		/* not a page of this list: the list is over */
};

struct xfer {
	RB_ENTRY(xfer)		 node;
	TAILQ_ENTRY(xfer)	 entry;
	struct xferq		*queue;
	CURL			*easy;
	struct up_session	*session;
	enum xfer_kind		 kind;
	enum xfer_body		 body_kind;
	/* One SSE "message" event; the transfer's end. */
	void			(*message)(struct xfer *, const char *, size_t);
	void			(*done)(struct xfer *, CURLcode);
	void			*arg;		/* its owner's */
	uint64_t		 id;		/* XFER_CALL: the supervisor's */
	char			 rid[32];	/* our own requests' id */
	long			 status;
	int			 answered;
	int			 reinits;
	int			 resumes;	/* in a row, nothing new */
	int			 resumed;	/* ever: the first is at once */
	uint64_t		 resume_at;	/* reconnect then (call.c) */
	char			 lastid[UPSTREAM_EVENT_ID_MAX + 1];
	int			 had_session;	/* posted with a session id */
	int			 paused;	/* its write callback said so */
	unsigned		 gen;		/* of the session, when posted */
	CURLcode		 rc;		/* how it ended (queue done) */
	struct up_hdrs		*hdrs;
	struct curl_slist	*own_hdrs;	/* XFER_GET */
	struct json_object	*result;	/* handshake answer via SSE */
	struct xbuf		 body;		/* what we POST */
	struct xbuf		 resp;		/* JSON body or error snippet */
	struct sse		 sse;
	char			 reason[WORKER_REASON_MAX];
	char			 errbuf[CURL_ERROR_SIZE];
};

/* What every transfer shares: the multi handle, the gateway, the queues. */
struct xfer_state {
	CURLM			*multi;
	char			 url[PEER_URL_MAX + 1];	/* without user:pass */
	uint16_t		 port;		/* the gateway's, for Landlock */
	struct curl_slist	*resolve;	/* pinned addresses, if a name */
	struct xferq		 pool, pending, running, done;
	size_t			 npool;
	size_t			 npaused;	/* running, paused */
};

/* multi.c: the transport's table is transport_streamable_http */

/* xfer.c */
extern struct xfer_state	 xs;
void		 xbuf_set(struct xbuf *, const char *, size_t);
struct up_hdrs	*xfer_hdrs_new(const struct up_session *);
void		 xfer_hdrs_unref(struct up_hdrs *);
void		 xq_move(struct xfer *, struct xferq *);
struct xfer	*xfer_get(struct up_session *, enum xfer_kind);
void		 xfer_put(struct xfer *);
long		 xfer_timeout(const struct xfer *);
void		 xfer_post(struct xfer *, long);
void		 xfer_stream(struct xfer *);
void		 xfer_reconnect(struct xfer *, const char *lastid);
void		 xfer_detach(struct xfer *);
void		 xfer_unpaused(struct xfer *);
void		 xfer_resume(void);
void		 xfer_free_queue(struct xferq *);
size_t		 xfer_discard(char *, size_t, size_t, void *);
/* An Mcp-Session-Id header line: the id's length, 0 if not one, -1 bad. */
int		 xfer_session_id(const char *, size_t, char *, size_t);
int		 xfer_outcome(struct xfer *, CURLcode, char *, size_t);

/* resolve.c */
void		 resolve_url(const char *);

/* client.c */
void		 upstream_start(void);
int		 upstream_ready(void);
struct xfer	*client_request(struct up_session *, const char *,
		    struct json_object *, enum xfer_kind,
		    void (*)(struct xfer *, CURLcode));
struct json_object *client_answer(struct xfer *, CURLcode, int *, char *,
		    size_t);
void		 client_fail(struct xfer *, int, const char *);
void		 client_ready(struct up_session *);
int		 client_timeout(uint64_t now);
void		 client_run(uint64_t now);
void		 client_post_text(struct up_session *, const char *, size_t);
void		 client_answer_gateway(const char *, size_t);
void		 client_caps(const char *, size_t);
void		 client_server_request(uint64_t, struct up_session *,
		    struct json_object *, const char *, size_t);
void		 client_reinit(struct up_session *);
struct up_session *client_session(void);
void		 client_free(void);

/* listing.c */
void		 listing_start(struct up_session *);
int		 listing_changed(struct up_session *, const char *method);
void		 listing_failed(struct xfer *, const char *);
int		 listing_timeout(uint64_t);
void		 listing_run(struct up_session *, uint64_t);
void		 listing_free(void);

/* lister.c */
void		 lister_begin(struct lister *);
enum lister_step lister_page(struct lister *, struct json_object *,
		    const char **, char *, size_t);
struct json_object *lister_take(struct lister *);
void		 lister_free(struct lister *);

/* pace.c */
void		 pace_ask(struct pace *);
void		 pace_started(struct pace *, uint64_t);
int		 pace_wait(const struct pace *, uint64_t);
int		 pace_take(struct pace *, uint64_t);

/* call.c */
void		 call_request(uint64_t id, const char *, size_t);
void		 call_notify(const char *, size_t);
void		 call_cancel(uint64_t id);
void		 call_abort(struct xfer *, const char *);
void		 call_free(void);
int		 call_timeout(uint64_t now);
void		 call_run(uint64_t now);

#endif
