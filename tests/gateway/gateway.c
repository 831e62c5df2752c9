/*
 * mcp-test-gateway: a small, fast MCP server over Streamable HTTP (legacy
 * era, 2024-11-05 .. 2025-11-25) for the integration tests, the README
 * demo and the benchmark, where it is the "direct" baseline.
 *
 * libmicrohttpd runs a small pool of epoll threads.  Nothing ever blocks
 * a thread: a delayed answer suspends its connection and a timer thread
 * resumes it when due, both for answers that wait before the headers
 * (slow, hang) and for bodies that are paced (trickle, SSE).
 *
 * Misbehaviour for the fault-isolation tests is one row of modes[]: a
 * function answering tools/call and/or one building the tools table.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>

#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define MCP_PATH		"/mcp"
#define PAGE_SIZE		50	/* tools per tools/list page */
#define BODY_MAX		(4 * 1024 * 1024)
#define JSON_DEPTH		64
#define CONN_LIMIT		4096
#define CONN_TIMEOUT_S		60	/* idle keep-alive connection */
#define LISTEN_BACKLOG		1024
#define THREADS_DEFAULT		2
#define SESSION_BUCKETS		4096
#define SESSIONS_MAX		100000
#define SESSION_ID_BYTES	16	/* random bytes, hex in the header */
#define SLOW_MS_MAX		600000
#define ECHO_MAX		(64 * 1024 * 1024)	/* text * repeat */
#define HANG_MS			(60 * 60 * 1000) /* then the connection drops */
#define KEEPALIVE_MS		10000	/* ':' comments on the GET stream */
#define TRICKLE_MS		1000	/* per byte */
#define HUGE_SIZE		((uint64_t)64 * 1024 * 1024)
#define DEEP_LEVELS		10000
#define FLOOD_COUNT		10000
#define NFLOOD_SIZE		((uint64_t)64 * 1024 * 1024)	/* notify-flood */
#define NFLOOD_EVENT		256	/* bytes of one of its events */
#define STORM_MS		6000	/* list-storm: list_changed this long */
#define BAD_BULK_TOOLS		5000
#define BAD_LONG_NAME		200
#define EXTRA_TOOLS_MAX		100000
#define READER_BLOCK		(32 * 1024)
#define JSON_FLAGS \
	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char *const versions[] = {	/* newest first */
	"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05",
};
#define NVERSIONS	(sizeof(versions) / sizeof(versions[0]))

struct req;
struct call;
typedef struct json_object *(*tool_fn)(struct call *, struct json_object *);
typedef enum MHD_Result (*mode_call_fn)(struct MHD_Connection *,
	    struct req *, struct json_object *);

struct tool {
	char			*name;		/* NULL: listed, no name */
	tool_fn			 fn;
	struct json_object	*def;		/* as listed */
};

typedef enum MHD_Result (*mode_list_fn)(struct MHD_Connection *,
	    struct req *, struct json_object *);
typedef enum MHD_Result (*mode_get_fn)(struct MHD_Connection *);

struct mode {
	const char	*name;
	const char	*what;
	mode_call_fn	 call;		/* answers every tools/call, or NULL */
	void		(*tools)(void);	/* builds tools[], or NULL */
};

/* What a mode may change besides: tools/list and the GET stream. */
struct mode_hooks {
	const char	*name;		/* the mode's */
	mode_list_fn	 list;		/* answers every tools/list, or NULL */
	mode_get_fn	 get;		/* the GET stream's body, or NULL */
};

/* One session: the id travels in Mcp-Session-Id. */
struct session {
	char		 id[SESSION_ID_BYTES * 2 + 1];
	const char	*version;
	struct session	*next;
};

enum req_state {
	REQ_NEW = 0,
	REQ_DEFERRED,		/* suspended, answer in body/status */
	REQ_HANG,		/* suspended, never answered */
};

/* One HTTP request (MHD's req_cls). */
struct req {
	char		*body;
	size_t		 len;
	size_t		 cap;
	int		 too_big;
	enum req_state	 state;
	char		*answer;	/* REQ_DEFERRED */
	unsigned int	 status;
};

/* A tools/call in progress. */
struct call {
	const char	*name;
	uint64_t	 delay_ms;
};

/* A body handed out by a content reader, possibly paced and/or cut. */
struct seg {
	size_t		 end;		/* offset one past this segment */
	uint64_t	 due;		/* not sent before (monotonic ms) */
};

struct pstream {
	struct MHD_Connection *conn;
	char		*buf;
	size_t		 len;
	struct seg	*segs;
	size_t		 nsegs;
	size_t		 cur;
	int		 cut;		/* close after buf: "reset" */
	int		 keepalive;	/* endless GET stream */
	uint64_t	 next;		/* next keepalive */
};

/* The 64 MiB body, generated on the fly. */
struct huge {
	char		*head;
	size_t		 headlen;
	uint64_t	 total;
};

struct timer_ent {
	uint64_t		 due;
	struct MHD_Connection	*conn;
	struct timer_ent	*next;
};

/* Configuration, fixed before the daemon starts. */
static const char	*srv_name = "test-gateway";
static int		 use_sse;
static const struct mode *mode;
static struct mode_hooks hooks;
static int		 loopback = 1;

/* Tools and the pre-serialised tools/list pages. */
static struct tool	*tools;
static size_t		 ntools;
static size_t		 tools_cap;
static char		**pages;
static size_t		 npages;

static pthread_mutex_t	 sess_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct session	*sess_tab[SESSION_BUCKETS];
static size_t		 nsessions;

static pthread_mutex_t	 timer_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 timer_cv;
static struct timer_ent	*timer_head;
static int		 timer_stopping;
static atomic_int	 stopping;
static atomic_uint_fast64_t event_seq;
static atomic_uint_fast64_t lists_served;	/* tools/list answered */
static atomic_uint_fast64_t storm_changes;	/* list-storm: list_changed sent */
static atomic_uint_fast64_t storm_until;	/* its end; 0: not begun */

static struct MHD_Response *resp_202;

static volatile sig_atomic_t got_signal;

static const char *
id_str(struct json_object *id)
{
	return (id == NULL ? "null" : json_object_to_json_string_ext(id,
	    JSON_FLAGS));
}

static int
contains_ci(const char *hay, const char *needle)
{
	size_t	 n = strlen(needle);

	for (; hay != NULL && *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return (1);
	return (0);
}

/* ---- timers: resume suspended connections when due */

/*
 * Called right after MHD_suspend_connection(), from MHD's thread.  When
 * shutting down the connection is resumed at once, so that no
 * connection is left suspended for MHD_stop_daemon().
 */
static void
timer_add(struct MHD_Connection *conn, uint64_t due)
{
	struct timer_ent	*t, **pp;

	pthread_mutex_lock(&timer_mtx);
	if (timer_stopping) {
		pthread_mutex_unlock(&timer_mtx);
		MHD_resume_connection(conn);
		return;
	}
	t = xmalloc(sizeof(*t));
	t->due = due;
	t->conn = conn;
	for (pp = &timer_head; *pp != NULL && (*pp)->due <= due;
	    pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	if (timer_head == t)
		pthread_cond_signal(&timer_cv);
	pthread_mutex_unlock(&timer_mtx);
}

static void *
timer_main(void *arg)
{
	struct timer_ent	*t;
	struct timespec		 ts;
	uint64_t		 now;

	pthread_mutex_lock(&timer_mtx);
	for (;;) {
		t = timer_head;
		now = now_ms();
		if (t != NULL && (timer_stopping || t->due <= now)) {
			timer_head = t->next;
			/* MHD takes its own locks: not under ours. */
			pthread_mutex_unlock(&timer_mtx);
			MHD_resume_connection(t->conn);
			free(t);
			pthread_mutex_lock(&timer_mtx);
			continue;
		}
		if (timer_stopping)
			break;
		if (t == NULL) {
			pthread_cond_wait(&timer_cv, &timer_mtx);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (t->due - now) / 1000;
		ts.tv_nsec += ((t->due - now) % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&timer_cv, &timer_mtx, &ts);
	}
	pthread_mutex_unlock(&timer_mtx);
	return (NULL);
}

static void
timer_start(pthread_t *thr)
{
	pthread_condattr_t	 attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&timer_cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(thr, NULL, timer_main, NULL) != 0)
		fatalx("pthread_create");
}

/* Resume everything still suspended; later suspends resume at once. */
static void
timer_stop(pthread_t thr)
{
	pthread_mutex_lock(&timer_mtx);
	timer_stopping = 1;
	pthread_cond_signal(&timer_cv);
	pthread_mutex_unlock(&timer_mtx);
	pthread_join(thr, NULL);
}

/* ---- sessions */

static unsigned int
sess_hash(const char *id)
{
	unsigned int	 h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return (h % SESSION_BUCKETS);
}

/* Mints a session; fills id.  Returns -1 when full. */
static int
sess_new(const char *version, char *id, size_t idlen)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 rnd[SESSION_ID_BYTES];
	struct session		*s;
	unsigned int		 h;
	size_t			 i;

	arc4random_buf(rnd, sizeof(rnd));
	s = xcalloc(1, sizeof(*s));
	for (i = 0; i < sizeof(rnd); i++) {
		s->id[2 * i] = hex[rnd[i] >> 4];
		s->id[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	s->version = version;
	strlcpy(id, s->id, idlen);
	h = sess_hash(s->id);
	pthread_mutex_lock(&sess_mtx);
	if (nsessions >= SESSIONS_MAX) {
		pthread_mutex_unlock(&sess_mtx);
		free(s);
		return (-1);
	}
	s->next = sess_tab[h];
	sess_tab[h] = s;
	nsessions++;
	pthread_mutex_unlock(&sess_mtx);
	return (0);
}

/* Call with sess_mtx held. */
static struct session **
sess_find_locked(const char *id)
{
	struct session	**pp;

	for (pp = &sess_tab[sess_hash(id)]; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0)
			return (pp);
	return (NULL);
}

static int
sess_exists(const char *id)
{
	int	 found;

	pthread_mutex_lock(&sess_mtx);
	found = sess_find_locked(id) != NULL;
	pthread_mutex_unlock(&sess_mtx);
	return (found);
}

static int
sess_delete(const char *id)
{
	struct session	**pp, *s = NULL;

	pthread_mutex_lock(&sess_mtx);
	if ((pp = sess_find_locked(id)) != NULL) {
		s = *pp;
		*pp = s->next;
		nsessions--;
	}
	pthread_mutex_unlock(&sess_mtx);
	free(s);
	return (s != NULL);
}

static size_t
sess_clear(void)
{
	struct session	*s;
	size_t		 i, n;

	pthread_mutex_lock(&sess_mtx);
	n = nsessions;
	for (i = 0; i < SESSION_BUCKETS; i++) {
		while ((s = sess_tab[i]) != NULL) {
			sess_tab[i] = s->next;
			free(s);
		}
	}
	nsessions = 0;
	pthread_mutex_unlock(&sess_mtx);
	return (n);
}

/* ---- tools */

static struct json_object *
text_result(const char *text, int is_error)
{
	struct json_object	*res, *content, *item;

	item = json_object_new_object();
	json_object_object_add(item, "type", json_object_new_string("text"));
	json_object_object_add(item, "text", json_object_new_string(text));
	content = json_object_new_array();
	json_object_array_add(content, item);
	res = json_object_new_object();
	json_object_object_add(res, "content", content);
	if (is_error)
		json_object_object_add(res, "isError",
		    json_object_new_boolean(1));
	return (res);
}

static const char *
arg_string(struct json_object *args, const char *key)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(args, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return (NULL);
	return (json_object_get_string(v));
}

static int
arg_number(struct json_object *args, const char *key, struct json_object **v)
{
	return (json_object_object_get_ex(args, key, v) &&
	    (json_object_is_type(*v, json_type_int) ||
	    json_object_is_type(*v, json_type_double)));
}

/* echo: the text, "repeat" times (a big answer from a small request). */
static struct json_object *
tool_echo(struct call *c, struct json_object *args)
{
	struct json_object	*v, *res;
	const char		*text;
	char			*buf;
	size_t			 len, i;
	int64_t			 n = 1;

	if ((text = arg_string(args, "text")) == NULL)
		return (text_result("echo: 'text' must be a string", 1));
	if (json_object_object_get_ex(args, "repeat", &v) &&
	    (!json_object_is_type(v, json_type_int) ||
	    (n = json_object_get_int64(v)) < 1 ||
	    (uint64_t)n * strlen(text) > ECHO_MAX))
		return (text_result("echo: 'repeat' must be an integer from 1, "
		    "the answer at most 64 MiB", 1));
	if (n == 1)
		return (text_result(text, 0));
	len = strlen(text);
	buf = xmalloc(len * n + 1);
	for (i = 0; i < (size_t)n; i++)
		memcpy(buf + i * len, text, len);
	buf[len * n] = '\0';
	res = text_result(buf, 0);
	free(buf);
	return (res);
}

static struct json_object *
tool_add(struct call *c, struct json_object *args)
{
	struct json_object	*a, *b, *sum, *res, *sc;
	int64_t			 ia, ib;

	if (!arg_number(args, "a", &a) || !arg_number(args, "b", &b))
		return (text_result("add: 'a' and 'b' must be numbers", 1));
	ia = json_object_get_int64(a);
	ib = json_object_get_int64(b);
	/* Integers stay integers unless the sum would overflow. */
	if (json_object_is_type(a, json_type_int) &&
	    json_object_is_type(b, json_type_int) &&
	    !(ib > 0 && ia > INT64_MAX - ib) &&
	    !(ib < 0 && ia < INT64_MIN - ib))
		sum = json_object_new_int64(ia + ib);
	else
		sum = json_object_new_double(json_object_get_double(a) +
		    json_object_get_double(b));
	res = text_result(json_object_to_json_string_ext(sum, JSON_FLAGS), 0);
	sc = json_object_new_object();
	json_object_object_add(sc, "sum", sum);
	json_object_object_add(res, "structuredContent", sc);
	return (res);
}

static struct json_object *
tool_slow(struct call *c, struct json_object *args)
{
	struct json_object	*v;
	char			 buf[64];
	int64_t			 ms;

	if (!json_object_object_get_ex(args, "ms", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    (ms = json_object_get_int64(v)) < 0 || ms > SLOW_MS_MAX)
		return (text_result("slow: 'ms' must be an integer in "
		    "0..600000", 1));
	c->delay_ms = (uint64_t)ms;
	snprintf(buf, sizeof(buf), "slept %" PRId64 " ms", ms);
	return (text_result(buf, 0));
}

static struct json_object *
tool_fail(struct call *c, struct json_object *args)
{
	const char	*msg;

	if ((msg = arg_string(args, "message")) == NULL)
		msg = "failed on purpose";
	return (text_result(msg, 1));
}

static struct json_object *
tool_forget(struct call *c, struct json_object *args)
{
	char	 buf[64];

	snprintf(buf, sizeof(buf), "forgot %zu sessions", sess_clear());
	return (text_result(buf, 0));
}

/* tool_NNNN and the bulk of bad-tools: echo, or say who answered. */
static struct json_object *
tool_extra(struct call *c, struct json_object *args)
{
	const char	*text;
	char		*buf;
	struct json_object *res;

	if ((text = arg_string(args, "text")) != NULL)
		return (text_result(text, 0));
	xasprintf(&buf, "%s ok", c->name);
	res = text_result(buf, 0);
	free(buf);
	return (res);
}

static const struct {
	const char	*name;
	const char	*desc;
	const char	*input;
	const char	*output;
	tool_fn		 fn;
} builtins[] = {
	{ "echo", "Echo the text argument back as text content.",
	    "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":"
	    "\"string\",\"description\":\"Text to echo\"},\"repeat\":{"
	    "\"type\":\"integer\",\"minimum\":1,\"description\":\"How "
	    "many times (default 1)\"}},\"required\":[\"text\"]}", NULL,
	    tool_echo },
	{ "add", "Add two numbers; the sum comes back as text and as "
	    "structuredContent {sum}.",
	    "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"},"
	    "\"b\":{\"type\":\"number\"}},\"required\":[\"a\",\"b\"]}",
	    "{\"type\":\"object\",\"properties\":{\"sum\":{\"type\":"
	    "\"number\"}},\"required\":[\"sum\"]}", tool_add },
	{ "slow", "Answer after ms milliseconds, without blocking other "
	    "requests.",
	    "{\"type\":\"object\",\"properties\":{\"ms\":{\"type\":"
	    "\"integer\",\"minimum\":0,\"maximum\":600000}},\"required\":"
	    "[\"ms\"]}", NULL, tool_slow },
	{ "fail", "Return a tool error (isError) carrying message.",
	    "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":"
	    "\"string\"}}}", NULL, tool_fail },
	{ "forget_sessions", "Drop every session: the next request with an "
	    "old Mcp-Session-Id gets 404 and must re-initialize.",
	    "{\"type\":\"object\",\"properties\":{}}", NULL, tool_forget },
};

static const char *extra_schema =
    "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}}}";

static struct json_object *
parse_const(const char *s)
{
	struct json_object	*o;

	if ((o = json_tokener_parse(s)) == NULL)
		fatalx("bad built-in JSON: %s", s);
	return (o);
}

/* Appends a tool; schema NULL leaves inputSchema out, "" makes it null. */
static void
tool_add_def(const char *name, const char *desc, const char *input,
    const char *output, tool_fn fn)
{
	struct tool		*t;
	struct json_object	*def;

	if (ntools == tools_cap) {
		tools_cap = tools_cap == 0 ? 64 : tools_cap * 2;
		tools = xreallocarray(tools, tools_cap, sizeof(*tools));
	}
	t = &tools[ntools++];
	t->name = name == NULL ? NULL : xstrdup(name);
	t->fn = fn;
	def = json_object_new_object();
	if (name != NULL)
		json_object_object_add(def, "name",
		    json_object_new_string(name));
	json_object_object_add(def, "description",
	    json_object_new_string(desc));
	if (input != NULL)
		json_object_object_add(def, "inputSchema",
		    *input == '\0' ? NULL : parse_const(input));
	if (output != NULL)
		json_object_object_add(def, "outputSchema",
		    parse_const(output));
	t->def = def;
}

static void
tools_builtin(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		tool_add_def(builtins[i].name, builtins[i].desc,
		    builtins[i].input, builtins[i].output, builtins[i].fn);
}

static void
tools_extra(unsigned int n)
{
	char		 name[32], desc[64];
	unsigned int	 i;

	for (i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), "tool_%04u", i);
		snprintf(desc, sizeof(desc), "Extra echo tool %u.", i);
		tool_add_def(name, desc, extra_schema, NULL, tool_extra);
	}
}

/* bad-tools: what a careless or hostile server might list. */
static void
tools_bad(void)
{
	char		 name[BAD_LONG_NAME + 1];
	unsigned int	 i;

	tool_add_def("bad name", "Space in the name.", extra_schema, NULL,
	    tool_extra);
	tool_add_def("bad,comma", "Comma in the name.", extra_schema, NULL,
	    tool_extra);
	tool_add_def("dotted.name", "Dot: valid MCP, invalid for LLM APIs.",
	    extra_schema, NULL, tool_extra);
	tool_add_def("dup", "First of two tools named dup.", extra_schema,
	    NULL, tool_extra);
	tool_add_def("dup", "Second of two tools named dup.", extra_schema,
	    NULL, tool_extra);
	memset(name, 'l', BAD_LONG_NAME);
	name[BAD_LONG_NAME] = '\0';
	tool_add_def(name, "A 200-character name.", extra_schema, NULL,
	    tool_extra);
	tool_add_def(NULL, "A tool without a name.", extra_schema, NULL,
	    tool_extra);
	tool_add_def("", "An empty name.", extra_schema, NULL, tool_extra);
	tool_add_def("t\xc3\xb6\xc3\xb6l", "Non-ASCII name.", extra_schema,
	    NULL, tool_extra);
	tool_add_def("no_schema", "No inputSchema at all.", NULL, NULL,
	    tool_extra);
	tool_add_def("null_schema", "inputSchema is null.", "", NULL,
	    tool_extra);
	for (i = 0; i < BAD_BULK_TOOLS; i++) {
		snprintf(name, sizeof(name), "bulk_%04u", i);
		tool_add_def(name, "Bulk tool.", extra_schema, NULL,
		    tool_extra);
	}
}

static struct tool *
tool_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < ntools; i++)
		if (tools[i].name != NULL && strcmp(tools[i].name, name) == 0)
			return (&tools[i]);
	return (NULL);
}

/* tools/list pages, serialised once; the cursor is "page-<index>". */
static void
pages_build(void)
{
	struct json_object	*page, *arr;
	char			 cursor[32];
	size_t			 i, p;

	npages = ntools == 0 ? 1 : (ntools + PAGE_SIZE - 1) / PAGE_SIZE;
	pages = xcalloc(npages, sizeof(*pages));
	for (p = 0; p < npages; p++) {
		page = json_object_new_object();
		arr = json_object_new_array();
		for (i = p * PAGE_SIZE; i < ntools && i < (p + 1) * PAGE_SIZE;
		    i++)
			json_object_array_add(arr,
			    json_object_get(tools[i].def));
		json_object_object_add(page, "tools", arr);
		if (p + 1 < npages) {
			snprintf(cursor, sizeof(cursor), "page-%zu", p + 1);
			json_object_object_add(page, "nextCursor",
			    json_object_new_string(cursor));
		}
		pages[p] = xstrdup(json_object_to_json_string_ext(page,
		    JSON_FLAGS));
		json_object_put(page);
	}
}

static void
tools_free(void)
{
	size_t	 i;

	for (i = 0; i < ntools; i++) {
		free(tools[i].name);
		json_object_put(tools[i].def);
	}
	free(tools);
	for (i = 0; i < npages; i++)
		free(pages[i]);
	free(pages);
}

/* ---- responses */

static enum MHD_Result
queue(struct MHD_Connection *conn, unsigned int status,
    struct MHD_Response *resp, const char *ctype, const char *sid)
{
	enum MHD_Result	 rv;

	if (resp == NULL)
		return (MHD_NO);
	if (ctype != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    ctype);
	if (ctype != NULL && strcmp(ctype, "text/event-stream") == 0) {
		MHD_add_response_header(resp, "Cache-Control", "no-cache");
		MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	}
	if (sid != NULL)
		MHD_add_response_header(resp, "Mcp-Session-Id", sid);
	rv = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return (rv);
}

/* body is malloc'ed and handed over. */
static enum MHD_Result
queue_buf(struct MHD_Connection *conn, unsigned int status, char *body,
    size_t len, const char *ctype, const char *sid)
{
	struct MHD_Response	*resp;

	resp = MHD_create_response_from_buffer(len, body,
	    MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		free(body);
	return (queue(conn, status, resp, ctype, sid));
}

static enum MHD_Result
queue_text(struct MHD_Connection *conn, unsigned int status,
    const char *text, const char *ctype)
{
	return (queue_buf(conn, status, xstrdup(text), strlen(text), ctype,
	    NULL));
}

static char *
rpc_error(struct json_object *id, int code, const char *msg)
{
	struct json_object	*o, *err;
	char			*s;

	err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", json_object_new_string(msg));
	o = json_object_new_object();
	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(o, "error", err);
	s = xstrdup(json_object_to_json_string_ext(o, JSON_FLAGS));
	json_object_put(o);
	return (s);
}

/* A transport-level error: always plain JSON, whatever --sse says. */
static enum MHD_Result
http_error(struct MHD_Connection *conn, unsigned int status,
    struct json_object *id, int code, const char *msg)
{
	char	*s = rpc_error(id, code, msg);

	return (queue_buf(conn, status, s, strlen(s), "application/json",
	    NULL));
}

static char *
rpc_result(struct json_object *id, const char *result)
{
	char	*s;

	xasprintf(&s, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}",
	    id_str(id), result);
	return (s);
}

/* ---- content readers */

static ssize_t
pstream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	static const char	 ka[] = ": keepalive\n\n";
	struct pstream		*ps = cls;
	uint64_t		 now, due;
	size_t			 n;

	if (atomic_load(&stopping))
		return (ps->keepalive ? MHD_CONTENT_READER_END_OF_STREAM :
		    MHD_CONTENT_READER_END_WITH_ERROR);
	now = now_ms();
	if (ps->keepalive) {
		if (now >= ps->next && max >= sizeof(ka) - 1) {
			ps->next = now + KEEPALIVE_MS;
			memcpy(buf, ka, sizeof(ka) - 1);
			return (sizeof(ka) - 1);
		}
		due = ps->next;
	} else {
		while (ps->cur < ps->nsegs && ps->segs[ps->cur].end <= pos)
			ps->cur++;
		if (pos >= ps->len || ps->cur == ps->nsegs)
			return (ps->cut ? MHD_CONTENT_READER_END_WITH_ERROR :
			    MHD_CONTENT_READER_END_OF_STREAM);
		if ((due = ps->segs[ps->cur].due) <= now) {
			n = ps->segs[ps->cur].end - pos;
			if (n > max)
				n = max;
			memcpy(buf, ps->buf + pos, n);
			return (n);
		}
	}
	/* Not due yet: sleep without holding MHD's thread. */
	MHD_suspend_connection(ps->conn);
	timer_add(ps->conn, due);
	return (0);
}

static void
pstream_free(void *cls)
{
	struct pstream	*ps = cls;

	free(ps->buf);
	free(ps->segs);
	free(ps);
}

static struct pstream *
pstream_new(struct MHD_Connection *conn, char *buf, size_t len,
    size_t nsegs)
{
	struct pstream	*ps;

	ps = xcalloc(1, sizeof(*ps));
	ps->conn = conn;
	ps->buf = buf;
	ps->len = len;
	ps->nsegs = nsegs;
	ps->segs = xcalloc(nsegs == 0 ? 1 : nsegs, sizeof(*ps->segs));
	return (ps);
}

/* size: Content-Length, or MHD_SIZE_UNKNOWN for chunked. */
static enum MHD_Result
queue_pstream(struct MHD_Connection *conn, unsigned int status,
    struct pstream *ps, uint64_t size, const char *ctype, const char *sid)
{
	struct MHD_Response	*resp;

	resp = MHD_create_response_from_callback(size, READER_BLOCK,
	    pstream_read, ps, pstream_free);
	if (resp == NULL)
		pstream_free(ps);
	return (queue(conn, status, resp, ctype, sid));
}

/*
 * Answer one request (msg: a whole JSON-RPC response, handed over).
 * With --sse it goes out as an SSE stream: a priming event, a progress
 * notification when a token was given, then the message, which waits
 * delay_ms.  Plain JSON instead suspends the request for delay_ms.
 */
static enum MHD_Result
answer(struct MHD_Connection *conn, struct req *r, char *msg,
    struct json_object *token, uint64_t delay_ms, const char *sid)
{
	struct pstream	*ps;
	char		*sse, *prog = NULL;
	size_t		 pre;

	if (!use_sse) {
		if (delay_ms == 0)
			return (queue_buf(conn, MHD_HTTP_OK, msg, strlen(msg),
			    "application/json", sid));
		r->state = REQ_DEFERRED;
		r->answer = msg;
		r->status = MHD_HTTP_OK;
		MHD_suspend_connection(conn);
		timer_add(conn, now_ms() + delay_ms);
		return (MHD_YES);
	}
	if (token != NULL)
		xasprintf(&prog, "event: message\ndata: {\"jsonrpc\":\"2.0\","
		    "\"method\":\"notifications/progress\",\"params\":"
		    "{\"progressToken\":%s,\"progress\":1,\"total\":2}}\n\n",
		    id_str(token));
	xasprintf(&sse, "id: %" PRIuFAST64 "\ndata: \n\n%s",
	    atomic_fetch_add(&event_seq, 1) + 1, prog ? prog : "");
	pre = strlen(sse);
	free(prog);
	prog = sse;
	xasprintf(&sse, "%sevent: message\ndata: %s\n\n", prog, msg);
	free(prog);
	free(msg);
	if (delay_ms == 0)
		return (queue_buf(conn, MHD_HTTP_OK, sse, strlen(sse),
		    "text/event-stream", sid));
	ps = pstream_new(conn, sse, strlen(sse), 2);
	ps->segs[0].end = pre;
	ps->segs[1].end = ps->len;
	ps->segs[1].due = now_ms() + delay_ms;
	return (queue_pstream(conn, MHD_HTTP_OK, ps, MHD_SIZE_UNKNOWN,
	    "text/event-stream", sid));
}

static enum MHD_Result
answer_error(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, int code, const char *msg)
{
	return (answer(conn, r, rpc_error(id, code, msg), NULL, 0, NULL));
}

/* ---- misbehaviour modes */

static char *
mode_body(struct json_object *id, const char *text)
{
	struct json_object	*res = text_result(text, 0);
	char			*s;

	s = rpc_result(id, json_object_to_json_string_ext(res, JSON_FLAGS));
	json_object_put(res);
	return (s);
}

static enum MHD_Result
mode_hang(struct MHD_Connection *conn, struct req *r, struct json_object *id)
{
	r->state = REQ_HANG;
	MHD_suspend_connection(conn);
	timer_add(conn, now_ms() + HANG_MS);
	return (MHD_YES);
}

static enum MHD_Result
mode_trickle(struct MHD_Connection *conn, struct req *r,
    struct json_object *id)
{
	struct pstream	*ps;
	char		*body = mode_body(id, "trickled");
	size_t		 i, len = strlen(body);
	uint64_t	 now = now_ms();

	ps = pstream_new(conn, body, len, len);
	for (i = 0; i < len; i++) {
		ps->segs[i].end = i + 1;
		ps->segs[i].due = now + i * TRICKLE_MS;
	}
	return (queue_pstream(conn, MHD_HTTP_OK, ps, len, "application/json",
	    NULL));
}

static enum MHD_Result
mode_garbage(struct MHD_Connection *conn, struct req *r,
    struct json_object *id)
{
	return (queue_text(conn, MHD_HTTP_OK, "this is {not \"json at all",
	    "application/json"));
}

static ssize_t
huge_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	static const char	 tail[] = "\"}]}}";
	struct huge		*h = cls;
	size_t			 n = 0, k;
	uint64_t		 fill_end = h->total - (sizeof(tail) - 1);

	if (atomic_load(&stopping))
		return (MHD_CONTENT_READER_END_WITH_ERROR);
	while (n < max && pos < h->total) {
		if (pos < h->headlen) {
			k = h->headlen - pos;
			if (k > max - n)
				k = max - n;
			memcpy(buf + n, h->head + pos, k);
		} else if (pos < fill_end) {
			k = fill_end - pos > max - n ? max - n :
			    (size_t)(fill_end - pos);
			memset(buf + n, 'x', k);
		} else {
			k = h->total - pos;
			if (k > max - n)
				k = max - n;
			memcpy(buf + n, tail + (pos - fill_end), k);
		}
		n += k;
		pos += k;
	}
	return (n);
}

static void
huge_free(void *cls)
{
	struct huge	*h = cls;

	free(h->head);
	free(h);
}

static enum MHD_Result
mode_huge(struct MHD_Connection *conn, struct req *r, struct json_object *id)
{
	struct MHD_Response	*resp;
	struct huge		*h;

	h = xcalloc(1, sizeof(*h));
	xasprintf(&h->head, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":"
	    "{\"content\":[{\"type\":\"text\",\"text\":\"", id_str(id));
	h->headlen = strlen(h->head);
	h->total = HUGE_SIZE;
	resp = MHD_create_response_from_callback(h->total, READER_BLOCK,
	    huge_read, h, huge_free);
	if (resp == NULL)
		huge_free(h);
	return (queue(conn, MHD_HTTP_OK, resp, "application/json", NULL));
}

static enum MHD_Result
mode_deep(struct MHD_Connection *conn, struct req *r, struct json_object *id)
{
	char	*head, *body;
	size_t	 hl, len;

	xasprintf(&head, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":"
	    "{\"content\":[{\"type\":\"text\",\"text\":\"deep\"}],"
	    "\"structuredContent\":{\"deep\":", id_str(id));
	hl = strlen(head);
	len = hl + 2 * DEEP_LEVELS + 3;
	body = xmalloc(len + 1);
	memcpy(body, head, hl);
	memset(body + hl, '[', DEEP_LEVELS);
	memset(body + hl + DEEP_LEVELS, ']', DEEP_LEVELS);
	memcpy(body + hl + 2 * DEEP_LEVELS, "}}}", 4);
	free(head);
	return (queue_buf(conn, MHD_HTTP_OK, body, len, "application/json",
	    NULL));
}

static enum MHD_Result
mode_wrong_id(struct MHD_Connection *conn, struct req *r,
    struct json_object *id)
{
	struct json_object	*other;
	char			*s, *body;
	enum MHD_Result		 rv;

	if (json_object_is_type(id, json_type_int))
		other = json_object_new_int64(json_object_get_int64(id) +
		    1000000);
	else {
		xasprintf(&s, "wrong-%s", json_object_get_string(id));
		other = json_object_new_string(s);
		free(s);
	}
	body = mode_body(other, "wrong id");
	rv = queue_buf(conn, MHD_HTTP_OK, body, strlen(body),
	    "application/json", NULL);
	json_object_put(other);
	return (rv);
}

static enum MHD_Result
mode_not_jsonrpc(struct MHD_Connection *conn, struct req *r,
    struct json_object *id)
{
	return (queue_text(conn, MHD_HTTP_OK, "{\"hello\":1}",
	    "application/json"));
}

/* Content-Length promises twice the bytes; half are sent, then close. */
static enum MHD_Result
mode_reset(struct MHD_Connection *conn, struct req *r,
    struct json_object *id)
{
	struct pstream	*ps;
	char		*body = mode_body(id, "this answer is cut short");
	size_t		 len = strlen(body);

	ps = pstream_new(conn, body, len / 2, 1);
	ps->segs[0].end = len / 2;
	ps->cut = 1;
	return (queue_pstream(conn, MHD_HTTP_OK, ps, len * 2,
	    "application/json", NULL));
}

static enum MHD_Result
mode_bad_utf8(struct MHD_Connection *conn, struct req *r,
    struct json_object *id)
{
	char	*body;

	/* Stray continuation, overlong '/', lone surrogate, escaped NUL. */
	xasprintf(&body, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":"
	    "{\"content\":[{\"type\":\"text\",\"text\":\"bad \xff\xfe "
	    "\xc0\xaf \xed\xa0\x80 nul:\\u0000 end\"}]}}", id_str(id));
	return (queue_buf(conn, MHD_HTTP_OK, body, strlen(body),
	    "application/json", NULL));
}

static enum MHD_Result
mode_sse_garbage(struct MHD_Connection *conn, struct req *r,
    struct json_object *id)
{
	return (queue_text(conn, MHD_HTTP_OK,
	    "this line is not a field\n"
	    "data: {not json\n\n"
	    ": a comment\n"
	    "event: message\ndata: [1,2\n\n"
	    "\x01\x02\x7f binary\n"
	    "id\n"
	    "retry: soon\n\n"
	    "data: {\"jsonrpc\":\"2.0\"}\n\n"
	    "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/bogus\"}\n\n"
	    "event: message\n"
	    "data: \xff\xfe\n\n", "text/event-stream"));
}

static enum MHD_Result
mode_flood(struct MHD_Connection *conn, struct req *r, struct json_object *id)
{
	static const char	 fmt[] = "event: message\ndata: {\"jsonrpc\":"
	    "\"2.0\",\"method\":\"notifications/message\",\"params\":"
	    "{\"level\":\"info\",\"logger\":\"flood\",\"data\":\"flood %d\"}}"
	    "\n\n";
	char			*msg, *buf;
	size_t			 len = 0, cap, mlen;
	int			 i, n;

	msg = mode_body(id, "after the flood");
	mlen = strlen(msg);
	cap = FLOOD_COUNT * (sizeof(fmt) + 8) + mlen + 64;
	buf = xmalloc(cap);
	for (i = 0; i < FLOOD_COUNT; i++) {
		n = snprintf(buf + len, cap - len, fmt, i);
		len += n;
	}
	n = snprintf(buf + len, cap - len, "event: message\ndata: %s\n\n",
	    msg);
	len += n;
	free(msg);
	return (queue_buf(conn, MHD_HTTP_OK, buf, len, "text/event-stream",
	    NULL));
}

static enum MHD_Result
mode_http500(struct MHD_Connection *conn, struct req *r,
    struct json_object *id)
{
	return (queue_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
	    "<html><head><title>500 Internal Server Error</title></head>"
	    "<body><h1>Internal Server Error</h1></body></html>\n",
	    "text/html"));
}

/* notify-flood: NFLOOD_SIZE of notifications/message, then the answer. */
struct nflood {
	char		 event[NFLOOD_EVENT + 1];
	char		*tail;		/* the response event */
	size_t		 taillen;
	uint64_t	 total;
};

static ssize_t
nflood_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct nflood	*f = cls;
	size_t		 n = 0, k, off;

	if (atomic_load(&stopping))
		return (MHD_CONTENT_READER_END_WITH_ERROR);
	if (pos >= f->total)
		return (MHD_CONTENT_READER_END_OF_STREAM);
	while (n < max && pos < f->total) {
		if (pos < NFLOOD_SIZE) {
			off = pos % NFLOOD_EVENT;
			k = NFLOOD_EVENT - off;
			if (k > NFLOOD_SIZE - pos)
				k = NFLOOD_SIZE - pos;
			if (k > max - n)
				k = max - n;
			memcpy(buf + n, f->event + off, k);
		} else {
			off = pos - NFLOOD_SIZE;
			k = f->taillen - off;
			if (k > max - n)
				k = max - n;
			memcpy(buf + n, f->tail + off, k);
		}
		n += k;
		pos += k;
	}
	return (n);
}

static void
nflood_free(void *cls)
{
	struct nflood	*f = cls;

	free(f->tail);
	free(f);
}

static enum MHD_Result
mode_notify_flood(struct MHD_Connection *conn, struct req *r,
    struct json_object *id)
{
	static const char	 head[] = "event: message\ndata: {\"jsonrpc\":"
	    "\"2.0\",\"method\":\"notifications/message\",\"params\":"
	    "{\"level\":\"info\",\"logger\":\"flood\",\"data\":\"";
	static const char	 end[] = "\"}}\n\n";
	struct MHD_Response	*resp;
	struct nflood		*f;
	char			*msg;
	size_t			 hl = sizeof(head) - 1, el = sizeof(end) - 1;

	f = xcalloc(1, sizeof(*f));
	memcpy(f->event, head, hl);
	memset(f->event + hl, 'x', NFLOOD_EVENT - hl - el);
	memcpy(f->event + NFLOOD_EVENT - el, end, el);
	msg = mode_body(id, "after the notification flood");
	xasprintf(&f->tail, "event: message\ndata: %s\n\n", msg);
	free(msg);
	f->taillen = strlen(f->tail);
	f->total = NFLOOD_SIZE + f->taillen;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READER_BLOCK,
	    nflood_read, f, nflood_free);
	if (resp == NULL)
		nflood_free(f);
	return (queue(conn, MHD_HTTP_OK, resp, "text/event-stream", NULL));
}

/*
 * list-storm: for STORM_MS from the first GET stream on, every GET
 * stream carries notifications/tools/list_changed as fast as the client
 * reads; then keepalives.  The tool list has one more tool, gen_N, N the
 * list_changed sent so far; list_count tells how many tools/list were
 * answered.
 */
static int
storming(void)
{
	uint64_t	 until = atomic_load(&storm_until);

	return (until != 0 && now_ms() < until);
}

static ssize_t
storm_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	static const char	 ev[] = "event: message\ndata: {\"jsonrpc\":"
	    "\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n";
	size_t			 n = 0;

	if (!atomic_load(&stopping) && storming()) {
		for (; n + sizeof(ev) - 1 <= max; n += sizeof(ev) - 1) {
			memcpy(buf + n, ev, sizeof(ev) - 1);
			atomic_fetch_add(&storm_changes, 1);
		}
		if (n > 0)
			return (n);
	}
	return (pstream_read(cls, pos, buf, max));
}

static enum MHD_Result
storm_get(struct MHD_Connection *conn)
{
	struct MHD_Response	*resp;
	struct pstream		*ps;
	uint_fast64_t		 zero = 0;

	atomic_compare_exchange_strong(&storm_until, &zero,
	    now_ms() + STORM_MS);
	ps = pstream_new(conn, NULL, 0, 0);
	ps->keepalive = 1;	/* after the storm */
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READER_BLOCK,
	    storm_read, ps, pstream_free);
	if (resp == NULL)
		pstream_free(ps);
	return (queue(conn, MHD_HTTP_OK, resp, "text/event-stream", NULL));
}

/* The one page of tools (the mode has few), gen_N first. */
static enum MHD_Result
storm_list(struct MHD_Connection *conn, struct req *r, struct json_object *id)
{
	static const char	 lead[] = "{\"tools\":[";
	const char		*rest;
	char			*res, *msg;

	if (npages != 1 || strncmp(pages[0], lead, sizeof(lead) - 1) != 0)
		fatalx("list-storm: one tools/list page expected");
	rest = pages[0] + sizeof(lead) - 1;
	xasprintf(&res, "%s{\"name\":\"gen_%" PRIuFAST64 "\",\"description\":"
	    "\"The storm's generation.\",\"inputSchema\":{\"type\":"
	    "\"object\"}}%s%s", lead, (uint_fast64_t)atomic_load(&storm_changes),
	    *rest == ']' ? "" : ",", rest);
	msg = rpc_result(id, res);
	free(res);
	return (answer(conn, r, msg, NULL, 0, NULL));
}

static struct json_object *
tool_list_count(struct call *c, struct json_object *args)
{
	struct json_object	*res, *sc;
	uint_fast64_t		 lists = atomic_load(&lists_served);
	uint_fast64_t		 changes = atomic_load(&storm_changes);
	char			 buf[128];
	int			 on = storming();

	snprintf(buf, sizeof(buf), "lists %" PRIuFAST64 " changes %"
	    PRIuFAST64 " storming %d", lists, changes, on);
	res = text_result(buf, 0);
	sc = json_object_new_object();
	json_object_object_add(sc, "lists", json_object_new_int64(lists));
	json_object_object_add(sc, "changes", json_object_new_int64(changes));
	json_object_object_add(sc, "storming", json_object_new_boolean(on));
	json_object_object_add(res, "structuredContent", sc);
	return (res);
}

static void
tools_storm(void)
{
	tool_add_def("list_count", "tools/list requests answered, "
	    "list_changed sent, whether the storm is on.",
	    "{\"type\":\"object\",\"properties\":{}}", NULL, tool_list_count);
}

static const struct mode modes[] = {
	{ "normal", "behave", NULL, NULL },
	{ "hang", "tools/call is never answered", mode_hang, NULL },
	{ "trickle", "tools/call answered one byte per second", mode_trickle,
	    NULL },
	{ "garbage", "tools/call: 200 application/json, not JSON",
	    mode_garbage, NULL },
	{ "huge", "tools/call: a valid 64 MiB JSON answer", mode_huge, NULL },
	{ "deep", "tools/call: an answer nested 10,000 levels", mode_deep,
	    NULL },
	{ "wrong-id", "tools/call: answered with another id", mode_wrong_id,
	    NULL },
	{ "not-jsonrpc", "tools/call: 200 {\"hello\":1}", mode_not_jsonrpc,
	    NULL },
	{ "reset", "tools/call: connection closed mid-body", mode_reset,
	    NULL },
	{ "bad-utf8", "tools/call: invalid UTF-8 and \\u0000 in the text",
	    mode_bad_utf8, NULL },
	{ "sse-garbage", "tools/call: an SSE stream of garbage, no answer",
	    mode_sse_garbage, NULL },
	{ "flood", "tools/call: 10,000 notifications before the answer",
	    mode_flood, NULL },
	{ "http500", "tools/call: 500 with an HTML body", mode_http500, NULL },
	{ "bad-tools", "tools/list: bad, duplicate, long, missing names and "
	    "5,000 tools", NULL, tools_bad },
	{ "notify-flood", "tools/call: 64 MiB of notifications/message over "
	    "SSE, then the answer", mode_notify_flood, NULL },
	{ "list-storm", "GET streams: list_changed without pause for 6 s; "
	    "tool gen_N, tool list_count", NULL, tools_storm },
};

static const struct mode_hooks mode_hooks[] = {
	{ "list-storm", storm_list, storm_get },
};

static void
mode_hooks_find(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(mode_hooks) / sizeof(mode_hooks[0]); i++)
		if (strcmp(mode_hooks[i].name, mode->name) == 0)
			hooks = mode_hooks[i];
}

/* ---- MCP methods */

static const char *
version_supported(const char *v)
{
	size_t	 i;

	for (i = 0; v != NULL && i < NVERSIONS; i++)
		if (strcmp(v, versions[i]) == 0)
			return (versions[i]);
	return (NULL);
}

static enum MHD_Result
do_initialize(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *params)
{
	struct json_object	*v;
	const char		*version = NULL;
	char			 sid[SESSION_ID_BYTES * 2 + 1];
	char			*res, *msg;

	if (json_object_object_get_ex(params, "protocolVersion", &v))
		version = version_supported(json_object_get_string(v));
	if (version == NULL)
		version = versions[0];
	if (sess_new(version, sid, sizeof(sid)) == -1)
		return (http_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
		    -32000, "Too many sessions"));
	v = json_object_new_string(srv_name);
	xasprintf(&res, "{\"protocolVersion\":\"%s\",\"capabilities\":"
	    "{\"tools\":{\"listChanged\":true}},\"serverInfo\":{\"name\":%s,"
	    "\"version\":\"%s\"}}", version,
	    json_object_to_json_string_ext(v, JSON_FLAGS), PACKAGE_VERSION);
	json_object_put(v);
	msg = rpc_result(id, res);
	free(res);
	return (answer(conn, r, msg, NULL, 0, sid));
}

static enum MHD_Result
do_tools_list(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *params)
{
	struct json_object	*c;
	const char		*cursor;
	char			*end;
	unsigned long		 p = 0;

	atomic_fetch_add(&lists_served, 1);
	if (hooks.list != NULL)
		return (hooks.list(conn, r, id));
	if (json_object_object_get_ex(params, "cursor", &c) &&
	    !json_object_is_type(c, json_type_null)) {
		cursor = json_object_get_string(c);
		if (!json_object_is_type(c, json_type_string) ||
		    strncmp(cursor, "page-", 5) != 0 ||
		    cursor[5] < '0' || cursor[5] > '9' ||
		    (p = strtoul(cursor + 5, &end, 10)) >= npages ||
		    *end != '\0')
			return (answer_error(conn, r, id,
			    -32602, "Invalid cursor"));
	}
	return (answer(conn, r, rpc_result(id, pages[p]), NULL, 0, NULL));
}

static enum MHD_Result
do_tools_call(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *params)
{
	struct json_object	*n, *args = NULL, *meta, *token = NULL, *res;
	struct tool		*t;
	struct call		 c;
	char			*msg, *s;

	if (mode->call != NULL)
		return (mode->call(conn, r, id));
	if (!json_object_object_get_ex(params, "name", &n) ||
	    !json_object_is_type(n, json_type_string))
		return (answer_error(conn, r, id, -32602,
		    "tools/call: 'name' must be a string"));
	memset(&c, 0, sizeof(c));
	c.name = json_object_get_string(n);
	if ((t = tool_find(c.name)) == NULL) {
		xasprintf(&s, "Unknown tool: %s", c.name);
		msg = rpc_error(id, -32602, s);
		free(s);
		return (answer(conn, r, msg, NULL, 0, NULL));
	}
	/* A missing "arguments" is {} (the conformance suite sends none). */
	if (json_object_object_get_ex(params, "arguments", &args) &&
	    !json_object_is_type(args, json_type_object) &&
	    !json_object_is_type(args, json_type_null))
		return (answer_error(conn, r, id, -32602,
		    "tools/call: 'arguments' must be an object"));
	if (json_object_object_get_ex(params, "_meta", &meta))
		json_object_object_get_ex(meta, "progressToken", &token);
	res = t->fn(&c, args);
	msg = rpc_result(id, json_object_to_json_string_ext(res, JSON_FLAGS));
	json_object_put(res);
	return (answer(conn, r, msg, token, c.delay_ms, NULL));
}

/* ---- HTTP */

static const char *
header(struct MHD_Connection *conn, const char *name)
{
	return (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name));
}

/* The host part of a Host or Origin authority is a loopback name. */
static int
host_is_loopback(const char *h, size_t len)
{
	static const char *const names[] = { "127.0.0.1", "localhost",
	    "[::1]" };
	size_t		 i, n;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = strlen(names[i]);
		if (len >= n && strncasecmp(h, names[i], n) == 0 &&
		    (len == n || h[n] == ':'))
			return (1);
	}
	return (0);
}

/* DNS rebinding: on loopback, Host and Origin must name loopback. */
static int
origin_ok(struct MHD_Connection *conn)
{
	const char	*h, *o, *p;

	if (!loopback)
		return (1);
	if ((h = header(conn, MHD_HTTP_HEADER_HOST)) != NULL &&
	    !host_is_loopback(h, strlen(h)))
		return (0);
	if ((o = header(conn, "Origin")) == NULL)
		return (1);
	if ((p = strstr(o, "://")) == NULL)
		return (0);
	p += 3;
	return (host_is_loopback(p, strcspn(p, "/")));
}

/*
 * The session named in the request: NULL after an answer was queued
 * (400 missing, 404 unknown), *rv holding the result.
 */
static const char *
session_check(struct MHD_Connection *conn, enum MHD_Result *rv)
{
	const char	*sid, *v;

	if ((sid = header(conn, "Mcp-Session-Id")) == NULL) {
		*rv = http_error(conn, MHD_HTTP_BAD_REQUEST, NULL, -32000,
		    "Bad Request: Mcp-Session-Id header is required");
		return (NULL);
	}
	if (!sess_exists(sid)) {
		*rv = http_error(conn, MHD_HTTP_NOT_FOUND, NULL, -32001,
		    "Session not found");
		return (NULL);
	}
	if ((v = header(conn, "MCP-Protocol-Version")) != NULL &&
	    version_supported(v) == NULL) {
		*rv = http_error(conn, MHD_HTTP_BAD_REQUEST, NULL, -32000,
		    "Bad Request: Unsupported protocol version");
		return (NULL);
	}
	return (sid);
}

static struct json_object *
parse_body(struct req *r)
{
	struct json_tokener	*tok;
	struct json_object	*o;
	size_t			 off;

	if ((tok = json_tokener_new_ex(JSON_DEPTH)) == NULL)
		fatalx("json_tokener_new_ex");
	o = json_tokener_parse_ex(tok, r->body == NULL ? "" : r->body,
	    (int)r->len);
	off = json_tokener_get_parse_end(tok);
	if (o != NULL && json_tokener_get_error(tok) == json_tokener_success)
		for (; off < r->len; off++)
			if (strchr(" \t\r\n", r->body[off]) == NULL) {
				json_object_put(o);
				o = NULL;
				break;
			}
	if (json_tokener_get_error(tok) != json_tokener_success &&
	    o != NULL) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return (o);
}

enum kind { K_INVALID, K_REQUEST, K_NOTIFICATION, K_RESPONSE };

static enum kind
classify(struct json_object *msg, struct json_object **id,
    const char **method, struct json_object **params)
{
	struct json_object	*v;
	int			 has_id;

	*id = NULL;
	*method = NULL;
	*params = NULL;
	if (!json_object_is_type(msg, json_type_object) ||
	    !json_object_object_get_ex(msg, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0)
		return (K_INVALID);
	has_id = json_object_object_get_ex(msg, "id", id);
	if (has_id && !json_object_is_type(*id, json_type_string) &&
	    !json_object_is_type(*id, json_type_int))
		return (K_INVALID);
	if (json_object_object_get_ex(msg, "params", params) &&
	    !json_object_is_type(*params, json_type_object) &&
	    !json_object_is_type(*params, json_type_array))
		return (K_INVALID);
	if (json_object_object_get_ex(msg, "method", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return (K_INVALID);
		*method = json_object_get_string(v);
		return (has_id ? K_REQUEST : K_NOTIFICATION);
	}
	if (has_id && (json_object_object_get_ex(msg, "result", &v) ^
	    json_object_object_get_ex(msg, "error", &v)))
		return (K_RESPONSE);
	return (K_INVALID);
}

static enum MHD_Result
dispatch(struct MHD_Connection *conn, struct req *r, struct json_object *id,
    const char *method, struct json_object *params)
{
	if (strcmp(method, "tools/call") == 0)
		return (do_tools_call(conn, r, id, params));
	if (strcmp(method, "tools/list") == 0)
		return (do_tools_list(conn, r, id, params));
	if (strcmp(method, "ping") == 0)
		return (answer(conn, r, rpc_result(id, "{}"), NULL, 0, NULL));
	return (answer_error(conn, r, id, -32601, "Method not found"));
}

static enum MHD_Result
do_post_msg(struct MHD_Connection *conn, struct req *r,
    struct json_object *msg)
{
	struct json_object	*id, *params;
	const char		*method;
	enum kind		 k;
	enum MHD_Result		 rv;

	if (json_object_is_type(msg, json_type_array))
		return (http_error(conn, MHD_HTTP_BAD_REQUEST, NULL, -32600,
		    "Invalid Request: batches are not supported"));
	if ((k = classify(msg, &id, &method, &params)) == K_INVALID)
		return (http_error(conn, MHD_HTTP_BAD_REQUEST, NULL, -32600,
		    "Invalid Request"));
	if (k == K_REQUEST && strcmp(method, "initialize") == 0) {
		if (header(conn, "Mcp-Session-Id") != NULL &&
		    sess_exists(header(conn, "Mcp-Session-Id")))
			return (http_error(conn, MHD_HTTP_BAD_REQUEST, id,
			    -32600, "Invalid Request: Server already "
			    "initialized"));
		return (do_initialize(conn, r, id, params));
	}
	if (session_check(conn, &rv) == NULL)
		return (rv);
	if (k != K_REQUEST) {
		MHD_queue_response(conn, MHD_HTTP_ACCEPTED, resp_202);
		return (MHD_YES);
	}
	return (dispatch(conn, r, id, method, params));
}

static enum MHD_Result
do_post(struct MHD_Connection *conn, struct req *r)
{
	struct json_object	*msg;
	const char		*h;
	enum MHD_Result		 rv;

	h = header(conn, MHD_HTTP_HEADER_ACCEPT);
	if (!contains_ci(h, "application/json") ||
	    !contains_ci(h, "text/event-stream"))
		return (http_error(conn, MHD_HTTP_NOT_ACCEPTABLE, NULL, -32000,
		    "Not Acceptable: Client must accept both application/json "
		    "and text/event-stream"));
	h = header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (h == NULL || strncasecmp(h, "application/json", 16) != 0)
		return (http_error(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
		    -32000, "Unsupported Media Type: Content-Type must be "
		    "application/json"));
	if (r->too_big)
		return (http_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
		    -32600, "Request body too large"));
	if ((msg = parse_body(r)) == NULL)
		return (http_error(conn, MHD_HTTP_BAD_REQUEST, NULL, -32700,
		    "Parse error"));
	rv = do_post_msg(conn, r, msg);
	json_object_put(msg);
	return (rv);
}

/*
 * GET: a standalone SSE stream carrying keepalive comments.  Several per
 * session are allowed (the SDK answers 409 to a second one): a stream
 * suspended between comments does not see its client leave, so it would
 * block a reconnection for up to KEEPALIVE_MS.
 */
static enum MHD_Result
do_get(struct MHD_Connection *conn, struct req *r)
{
	struct pstream	*ps;
	enum MHD_Result	 rv;

	if (!contains_ci(header(conn, MHD_HTTP_HEADER_ACCEPT),
	    "text/event-stream"))
		return (http_error(conn, MHD_HTTP_NOT_ACCEPTABLE, NULL, -32000,
		    "Not Acceptable: Client must accept text/event-stream"));
	if (session_check(conn, &rv) == NULL)
		return (rv);
	if (hooks.get != NULL)
		return (hooks.get(conn));
	ps = pstream_new(conn, NULL, 0, 0);
	ps->keepalive = 1;		/* first comment at once: headers out */
	return (queue_pstream(conn, MHD_HTTP_OK, ps, MHD_SIZE_UNKNOWN,
	    "text/event-stream", NULL));
}

static enum MHD_Result
do_delete(struct MHD_Connection *conn)
{
	const char	*sid;
	enum MHD_Result	 rv;

	if ((sid = session_check(conn, &rv)) == NULL)
		return (rv);
	sess_delete(sid);
	return (queue_text(conn, MHD_HTTP_OK, "", NULL));
}

static enum MHD_Result
route(struct MHD_Connection *conn, struct req *r, const char *url,
    const char *method)
{
	struct MHD_Response	*resp;

	if (strcmp(url, MCP_PATH) != 0)
		return (queue_text(conn, MHD_HTTP_NOT_FOUND, "Not Found\n",
		    "text/plain"));
	if (!origin_ok(conn))
		return (http_error(conn, MHD_HTTP_FORBIDDEN, NULL, -32000,
		    "Forbidden: Host or Origin not allowed"));
	if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
		return (do_post(conn, r));
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
		return (do_get(conn, r));
	if (strcmp(method, MHD_HTTP_METHOD_DELETE) == 0)
		return (do_delete(conn));
	resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
	if (resp != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    "GET, POST, DELETE");
	return (queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp, NULL, NULL));
}

static void
body_append(struct req *r, const char *data, size_t len)
{
	if (r->too_big || len > BODY_MAX - r->len) {
		r->too_big = 1;		/* read and drop the rest */
		return;
	}
	if (r->len + len > r->cap) {
		r->cap = r->cap == 0 ? 1024 : r->cap;
		while (r->cap < r->len + len)
			r->cap *= 2;
		r->body = xreallocarray(r->body, 1, r->cap);
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **req_cls)
{
	struct req	*r = *req_cls;
	char		*msg;

	if (r == NULL) {
		*req_cls = xcalloc(1, sizeof(*r));
		return (MHD_YES);
	}
	if (*upload_size > 0) {
		body_append(r, upload, *upload_size);
		*upload_size = 0;
		return (MHD_YES);
	}
	switch (r->state) {
	case REQ_NEW:
		return (route(conn, r, url, method));
	case REQ_DEFERRED:
		if (atomic_load(&stopping))
			return (MHD_NO);
		msg = r->answer;
		r->answer = NULL;
		r->state = REQ_NEW;
		return (queue_buf(conn, r->status, msg, strlen(msg),
		    "application/json", NULL));
	case REQ_HANG:
		return (MHD_NO);	/* drop the connection */
	}
	return (MHD_NO);
}

static void
completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode code)
{
	struct req	*r = *req_cls;

	if (r == NULL)
		return;
	free(r->body);
	free(r->answer);
	free(r);
	*req_cls = NULL;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char	 buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("microhttpd: %s", buf);
}

/* ---- main */

static void
on_signal(int sig)
{
	got_signal = sig;
}

static __dead void
usage(void)
{
	size_t	 i;

	fprintf(stderr, "usage: mcp-test-gateway [-v] [--port N] [--name NAME] "
	    "[--tools N] [--sse]\n\t[--mode MODE] [--listen ADDR] "
	    "[--threads N] [--exit-on-stdin-eof]\nmodes:\n");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(stderr, "\t%-12s %s\n", modes[i].name, modes[i].what);
	exit(2);
}

static long
num_arg(const char *s, long min, long max, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max)
		fatalx("%s: bad value '%s'", what, s);
	return (v);
}

static const struct mode *
mode_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(modes[i].name, name) == 0)
			return (&modes[i]);
	return (NULL);
}

/* Fills ss from ADDR (v4 or v6) and port; returns MHD_USE_IPv6 or 0. */
static unsigned int
listen_addr(const char *addr, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		loopback = (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
		return (0);
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		loopback = IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
		return (MHD_USE_IPv6);
	}
	fatalx("--listen: not an IP address: %s", addr);
}

/* Many benchmark clients: take every descriptor we are allowed. */
static void
nofile_raise(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * A pool of epoll threads measured fastest (see README.md).  A single
 * epoll thread without a pool stalls keep-alive connections beyond ~500
 * clients in libmicrohttpd 0.9.75, so one thread uses poll(2) instead.
 */
static unsigned int
daemon_flags(unsigned int threads)
{
	unsigned int	 f;

	f = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_TURBO | MHD_USE_ERROR_LOG;
	return (f | (threads > 1 ? MHD_USE_EPOLL : MHD_USE_POLL));
}

/* Sleeps until SIGTERM/SIGINT, or stdin's EOF when asked to watch it. */
static void
wait_for_end(int watch_stdin, const sigset_t *unblocked)
{
	struct pollfd	 pfd;
	char		 buf[512];
	ssize_t		 n;

	pfd.fd = STDIN_FILENO;
	pfd.events = POLLIN;
	while (!got_signal) {
		if (ppoll(&pfd, watch_stdin ? 1 : 0, NULL, unblocked) == -1) {
			if (errno == EINTR)
				continue;
			fatal("ppoll");
		}
		if (pfd.revents != 0) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n == 0 || (n == -1 && errno != EINTR &&
			    errno != EAGAIN)) {
				log_info("stdin closed, exiting");
				return;
			}
		}
	}
	log_info("signal %d, exiting", (int)got_signal);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ "tools", required_argument, NULL, 't' },
		{ "sse", no_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "listen", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 'T' },
		{ "exit-on-stdin-eof", no_argument, NULL, 'e' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_storage	 ss;
	struct sigaction	 sa;
	sigset_t		 block, old;
	struct MHD_Daemon	*d;
	const union MHD_DaemonInfo *info;
	const char		*addr = "127.0.0.1";
	unsigned int		 flags, extra = 0, threads = THREADS_DEFAULT;
	int			 ch, port = 0, watch_stdin = 0, verbose = 0;
	pthread_t		 timer;

	log_init(1);
	log_procinit("test-gateway");
	mode = &modes[0];
	while ((ch = getopt_long(argc, argv, "v", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			port = num_arg(optarg, 0, 65535, "--port");
			break;
		case 'n':
			srv_name = optarg;
			break;
		case 't':
			extra = num_arg(optarg, 0, EXTRA_TOOLS_MAX, "--tools");
			break;
		case 's':
			use_sse = 1;
			break;
		case 'm':
			if ((mode = mode_find(optarg)) == NULL)
				usage();
			break;
		case 'l':
			addr = optarg;
			break;
		case 'T':
			threads = num_arg(optarg, 1, 64, "--threads");
			break;
		case 'e':
			watch_stdin = 1;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	log_setverbose(verbose);
	flags = listen_addr(addr, port, &ss);

	mode_hooks_find();
	tools_builtin();
	if (mode->tools != NULL)
		mode->tools();
	tools_extra(extra);
	pages_build();
	resp_202 = MHD_create_response_from_buffer(0, "",
	    MHD_RESPMEM_PERSISTENT);

	/* Signals only reach the main thread, inside ppoll(). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);

	nofile_raise();
	timer_start(&timer);
	flags |= daemon_flags(threads);
	d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handler, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONN_TIMEOUT_S,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)LISTEN_BACKLOG,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_END);
	if (d == NULL)
		fatalx("cannot listen on %s port %d", addr, port);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("port %u\n", info == NULL ? (unsigned int)port :
	    (unsigned int)info->port);
	fflush(stdout);
	log_info("%s listening on %s, mode %s, %zu tools%s", srv_name, addr,
	    mode->name, ntools, use_sse ? ", SSE answers" : "");

	wait_for_end(watch_stdin, &old);

	atomic_store(&stopping, 1);
	timer_stop(timer);
	MHD_stop_daemon(d);
	MHD_destroy_response(resp_202);
	sess_clear();
	tools_free();
	return (0);
}
