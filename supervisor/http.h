/*
 * The Streamable HTTP front-end's own header, shared by its files:
 *	http.c		the libmicrohttpd daemon on the libevent loop,
 *			connections, deadlines, the caps on connections and
 *			on answer bytes held
 *	http-check.c	header policy (Origin, Host, Accept, Content-Type)
 *	http-session.c	HTTP sessions: create, end, sweep, evict
 *	http-post.c	POST: one request, a batch, initialize; answers as
 *			JSON, or as SSE events once a message comes first
 *	http-stream.c	SSE responses: the GET stream, a POST's events
 */
#ifndef MESH_HTTP_H
#define MESH_HTTP_H

#include <microhttpd.h>

#include "buf.h"

#define HTTP_PATH		"/mcp"
#define HTTP_ALLOW		"GET, POST, DELETE"
#define HTTP_SESSION_HEADER	"Mcp-Session-Id"
#define HTTP_VERSION_HEADER	"MCP-Protocol-Version"
#define HTTP_VERSION_ECHO_MAX	32	/* bytes of a bad version quoted back */

struct hconn;

/* One event of the GET stream, kept to be sent again (Last-Event-ID). */
struct hevent {
	TAILQ_ENTRY(hevent)	 entry;
	uint64_t		 id;
	size_t			 len;
	char			 json[];
};
TAILQ_HEAD(hevents, hevent);

/* Our side of one HTTP session: who is waiting on it. */
struct hsess {
	struct session		*s;
	TAILQ_HEAD(, hconn)	 conns;		/* POSTs waiting for answers */
	struct hconn		*stream;	/* the GET stream, or NULL */
	uint64_t		 last_event;	/* id of its newest event */
	struct hevents		 replay;	/* the last ones, oldest first */
	unsigned		 nreplay;
	size_t			 replay_bytes;
};

/* One request of a POST (one of a batch) that is owed an answer. */
struct hslot {
	struct hconn		*hc;
	struct call		*call;		/* answer outstanding */
	struct json_object	*id;		/* the request's, for errors */
	char			*answer;	/* its text, once in (JSON mode) */
	size_t			 len;
	int			 answered;	/* (or cancelled: answer NULL) */
};

enum hstate {
	HS_IDLE = 0,	/* between requests: no complete request */
	HS_BODY,	/* POST: headers fine, collecting the body */
	HS_WAIT,	/* POST: dispatched, answers outstanding, nothing sent */
	HS_EVENTS,	/* an SSE response is open (a POST's, or the GET stream) */
	HS_DONE,	/* response queued */
};

/* The current request; zeroed when it completes. */
struct hreq {
	enum hstate		 state;
	struct hsess		*hs;		/* session bound, or NULL */
	int			 bound;		/* on hs->conns */
	int			 ended;		/* session deleted meanwhile */
	int			 init;		/* initialize: the session is new */
	int			 batch;
	int			 too_large;	/* body over HTTP_BODY_MAX */
	int			 sse;		/* POST answered as events */
	int			 queued;	/* its SSE response is queued */
	struct hslot		 one;		/* a single request */
	struct hslot		*slots;		/* &one, or a batch's */
	unsigned		 nslots;
	unsigned		 nwait;		/* slots unanswered */
	size_t			 answered;	/* bytes of answers so far */
};

struct hconn {
	TAILQ_ENTRY(hconn)	 entry;		/* in hs->conns while waiting */
	TAILQ_ENTRY(hconn)	 centry;	/* every connection, oldest first */
	TAILQ_ENTRY(hconn)	 hentry;	/* holding answer bytes */
	struct MHD_Connection	*conn;
	int			 fd;
	struct event		*deadline;	/* request must be in by then */
	struct event		*watch;		/* hang-up, edge-triggered */
	struct event		*keepalive;	/* GET stream comments */
	int			 suspended;
	int			 gone;		/* client left: close, answer nothing */
	int			 hup;		/* the watch saw the hang-up */
	int			 refused;	/* over the cap: answered 503 */
	int			 closing;	/* shut down by us */
	size_t			 held;		/* answer bytes we hold for it */
	int			 holding;	/* on the holders' list */
	struct buf		 body;		/* a POST body */
	struct buf		 out;		/* SSE events not yet taken */
	struct hreq		 r;
};

/* http.c */
extern int		 http_loopback;
void			 http_suspend(struct hconn *);
void			 http_resume(struct hconn *);
void			 http_arm_deadline(struct hconn *, uint64_t ms);
void			 http_hold(struct hconn *, size_t);
void			 http_unhold(struct hconn *, size_t);
size_t			 http_held_total(void);
void			 http_close_conn(struct hconn *, const char *why);
enum MHD_Result		 http_send(struct hconn *, unsigned status, char *text,
			    size_t len, const char *hname, const char *hvalue);
enum MHD_Result		 http_send_json(struct hconn *, unsigned status,
			    struct json_object *, const char *, const char *);
enum MHD_Result		 http_error(struct hconn *, unsigned status, int code,
			    const char *, ...)
			    __attribute__((format(printf, 4, 5)));
enum MHD_Result		 http_empty_reply(struct hconn *, unsigned status);

/* http-check.c */
int			 http_local_hostport(const char *);
int			 http_origin_ok(const char *);
int			 http_accepts_value(const char *accept, int json);
int			 http_is_json_value(const char *ctype);
int			 http_forbidden(struct MHD_Connection *, int loopback);
int			 http_accepts(struct MHD_Connection *, int json);
int			 http_is_json(struct MHD_Connection *);
int			 http_content_length_conflict(struct MHD_Connection *);

/* http-session.c */
struct hsess		*http_session_new(void);
void			 http_session_end(struct hsess *);
struct session		*http_session(struct hconn *, enum MHD_Result *);
int			 http_session_room(void);
void			 http_session_sweep(void);
void			 http_session_end_all(void);
unsigned		 http_session_count(void);

/* http-post.c */
enum MHD_Result		 http_post_begin(struct hconn *);
enum MHD_Result		 http_post_data(struct hconn *, const char *, size_t *);
enum MHD_Result		 http_post(struct hconn *);
enum MHD_Result		 http_post_resumed(struct hconn *);
void			 http_abandon_all(struct hconn *);
void			 http_forget(struct hconn *);
void			 http_req_clear(struct hconn *);

/* http-stream.c */
void			 http_sse_event(struct hconn *, const char *, size_t);
enum MHD_Result		 http_events_open(struct hconn *, const char *sid);
enum MHD_Result		 http_get(struct hconn *);
void			 http_stream_close(struct hconn *);
void			 http_events_wake(struct hconn *);
void			 http_replay_free(struct hsess *);
void			 http_push(struct session *, const char *, size_t);
enum MHD_Result		 http_delete(struct hconn *);

#endif
