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
 *
 * Beyond tools (off with --tools-only): resources, templates, prompts,
 * completions, logging, subscriptions with events on the GET stream, and
 * tools that stream (log, progress) or ask the client (sample, elicit,
 * roots); see "resources, prompts, completions" below and README.md.
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
#define CLIENT_TIMEOUT_MS	10000	/* sample, elicit, roots: the client's answer */
#define CLIENT_TIMEOUT_MAX	3600000
#define LOG_COUNT_MAX		10000	/* log: messages of one call */
#define PROGRESS_STEPS_MAX	1000
#define PROGRESS_MS_MAX		60000
#define EVQ_MAX			10000	/* GET-stream events waiting, all sessions */
#define EXTRA_RESOURCES_MAX	100000
#define EXTRA_PROMPTS_MAX	100000
#define COMPLETION_MAX		100	/* values of one completion/complete */
#define CLIENT_SAMPLING		0x1	/* capabilities a client declared */
#define CLIENT_ELICITATION	0x2
#define CLIENT_ROOTS		0x4
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
	unsigned int	 caps;		/* CLIENT_* the client declared */
	int		 log_level;	/* logging/setLevel: index in levels[] */
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

struct live;

struct timer_ent {
	uint64_t		 due;
	struct MHD_Connection	*conn;
	struct live		*live;	/* its live stream, or NULL */
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

/* The MCP surface beyond tools (see "resources, prompts, ..." below). */
static int		 tools_only;	/* --tools-only: tools, nothing else */
static char		*uri_prefix;	/* --uri-prefix, default test://NAME/ */
static unsigned int	 client_timeout_ms = CLIENT_TIMEOUT_MS;

static void		 live_unarmed(struct live *);

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
	t->live = NULL;
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
			if (t->live != NULL)
				live_unarmed(t->live);
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

/*
 * ---- resources, prompts, completions, logging, progress, and requests
 * to the client
 *
 * Everything here is off with --tools-only.  Streams that wait (the GET
 * stream, progress, a request to the client awaiting its answer) are
 * "live": a content reader that asks its step function for more bytes,
 * under timer_mtx, and otherwise suspends its connection with a timer
 * entry; live_kick() moves that entry to now, so whatever feeds a stream
 * wakes it at once.  Only the timer thread resumes connections, once per
 * entry, so a connection is never resumed twice or after it is gone.
 */

static const char *const log_levels[] = {	/* least severe first */
	"debug", "info", "notice", "warning", "error", "critical", "alert",
	"emergency",
};
#define NLOG_LEVELS	(sizeof(log_levels) / sizeof(log_levels[0]))

struct live;
typedef void (*live_step_fn)(struct live *, uint64_t);

struct srvreq;

struct live {
	struct MHD_Connection	*conn;
	char			*buf;		/* made, not yet handed to MHD */
	size_t			 len;
	size_t			 cap;
	uint64_t		 base;		/* stream offset of buf[0] */
	int			 done;		/* nothing more after buf */
	uint64_t		 due;		/* when step wants to be asked */
	live_step_fn		 step;		/* under timer_mtx */
	struct timer_ent	*entry;		/* while suspended */
	char			*call_id;	/* the call's JSON-RPC id, as text */
	/* GET stream */
	int			 is_get;
	char			 sid[SESSION_ID_BYTES * 2 + 1];
	uint64_t		 next_ka;
	struct live		*gprev, *gnext;
	/* progress */
	char			*token;		/* progressToken as text, or NULL */
	unsigned int		 steps, sent, ms;
	uint64_t		 t0;
	/* a request to the client */
	struct srvreq		*sr;
	uint64_t		 deadline;
};

/* A request we sent to the client, waiting for its response. */
struct srvreq {
	int64_t			 id;
	char			 sid[SESSION_ID_BYTES * 2 + 1];
	const char		*method;
	char			*response;	/* the client's, whole */
	struct live		*live;
	struct srvreq		*next;
};

/* An event for a session's GET stream. */
struct evq_ent {
	char			 sid[SESSION_ID_BYTES * 2 + 1];
	char			*text;		/* a whole SSE event */
	struct evq_ent		*next;
};

struct subscription {
	char			 sid[SESSION_ID_BYTES * 2 + 1];
	char			*uri;
	struct subscription	*next;
};

/* All under timer_mtx. */
static struct live		*get_streams;
static struct srvreq		*srvreqs;
static struct evq_ent		*evq_head, *evq_tail;
static size_t			 evq_len;
static struct subscription	*subs;
static int64_t			 srvreq_seq;

struct resource {
	char		*uri;
	char		*name;
	char		*desc;
	const char	*mime;
	char		*text;		/* or NULL: blob */
	const char	*blob;		/* base64 */
	int		 watched;	/* text made from the version */
};

struct prompt_arg {
	const char	*name;
	const char	*desc;
	int		 required;
};

struct prompt {
	char			*name;
	char			*desc;
	const struct prompt_arg	*args;
	size_t			 nargs;
	int			 kind;		/* PROMPT_* */
};

enum { PROMPT_SIMPLE, PROMPT_GREET, PROMPT_RESOURCE, PROMPT_EXTRA };

/* Pre-serialised pages of one list (resources, templates, prompts). */
struct plist {
	char		**pages;
	size_t		 npages;
};

static struct resource	*resources;
static size_t		 nresources;
static char		*template_uri;		/* PREFIX items/{id} */
static struct prompt	*prompts;
static size_t		 nprompts;
static struct plist	 res_pages, tmpl_pages, prompt_pages;
static atomic_uint	 watched_version = 1;

static const char blob_b64[] = "AAECAwQFBgcICQoLDA0ODw==";	/* 0x00..0x0f */

static const struct prompt_arg greet_args[] = {
	{ "name", "Who to greet (completion: alice, bob, carol, dave)", 1 },
	{ "style", "How (completion: casual, cheerful, formal, friendly, "
	    "funny)", 0 },
};
static const struct prompt_arg resource_args[] = {
	{ "uri", "A resource of this gateway, embedded in the message", 1 },
};
static const struct prompt_arg extra_args[] = {
	{ "text", "Text to put in the message", 0 },
};

static const char *const complete_names[] = { "alice", "bob", "carol",
    "dave" };
static const char *const complete_styles[] = { "casual", "cheerful",
    "formal", "friendly", "funny" };
static const char *const complete_ids[] = { "apple", "apricot", "banana",
    "blueberry", "cherry" };

/* ---- live streams */

static void
live_append(struct live *l, const char *s, size_t n)
{
	if (l->len + n > l->cap) {
		l->cap = l->cap == 0 ? 1024 : l->cap;
		while (l->cap < l->len + n)
			l->cap *= 2;
		l->buf = xreallocarray(l->buf, 1, l->cap);
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/* One SSE event "message" carrying msg. */
static void
live_event(struct live *l, const char *msg)
{
	static const char	 head[] = "event: message\ndata: ";

	live_append(l, head, sizeof(head) - 1);
	live_append(l, msg, strlen(msg));
	live_append(l, "\n\n", 2);
}

static void
live_priming(struct live *l)
{
	char	 buf[64];

	snprintf(buf, sizeof(buf), "id: %" PRIuFAST64 "\ndata: \n\n",
	    atomic_fetch_add(&event_seq, 1) + 1);
	live_append(l, buf, strlen(buf));
}

/* The timer thread took l's entry (timer_mtx held). */
static void
live_unarmed(struct live *l)
{
	l->entry = NULL;
}

static void
timer_unlink_locked(struct timer_ent *t)
{
	struct timer_ent	**pp;

	for (pp = &timer_head; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			return;
		}
}

static void
timer_insert_locked(struct timer_ent *t)
{
	struct timer_ent	**pp;

	for (pp = &timer_head; *pp != NULL && (*pp)->due <= t->due;
	    pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	if (timer_head == t)
		pthread_cond_signal(&timer_cv);
}

/* Wake l now if it sleeps (timer_mtx held). */
static void
live_kick(struct live *l)
{
	struct timer_ent	*t = l->entry;

	if (t == NULL)
		return;		/* awake: it asks its step before sleeping */
	timer_unlink_locked(t);
	t->due = 0;
	timer_insert_locked(t);
}

static ssize_t
live_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct live		*l = cls;
	struct timer_ent	*t;
	size_t			 n;

	pthread_mutex_lock(&timer_mtx);
	if (pos > l->base) {		/* MHD has sent these */
		n = pos - l->base;
		if (n > l->len)
			n = l->len;
		memmove(l->buf, l->buf + n, l->len - n);
		l->len -= n;
		l->base += n;
	}
	if (l->len == 0 && !l->done && !timer_stopping &&
	    !atomic_load(&stopping))
		l->step(l, now_ms());
	if (l->len > 0) {
		n = l->len < max ? l->len : max;
		memcpy(out, l->buf, n);
		pthread_mutex_unlock(&timer_mtx);
		return (n);
	}
	if (l->done || timer_stopping || atomic_load(&stopping)) {
		n = l->done || l->is_get;
		pthread_mutex_unlock(&timer_mtx);
		return (n ? MHD_CONTENT_READER_END_OF_STREAM :
		    MHD_CONTENT_READER_END_WITH_ERROR);
	}
	/* Nothing yet: sleep until due or kicked. */
	MHD_suspend_connection(l->conn);
	t = xmalloc(sizeof(*t));
	t->due = l->due;
	t->conn = l->conn;
	t->live = l;
	l->entry = t;
	timer_insert_locked(t);
	pthread_mutex_unlock(&timer_mtx);
	return (0);
}

static void
srvreq_unlink_locked(struct srvreq *sr)
{
	struct srvreq	**pp;

	for (pp = &srvreqs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == sr) {
			*pp = sr->next;
			break;
		}
	free(sr->response);
	free(sr);
}

static void
live_free(void *cls)
{
	struct live	*l = cls;

	pthread_mutex_lock(&timer_mtx);
	if (l->entry != NULL) {		/* not expected: MHD stops after us */
		timer_unlink_locked(l->entry);
		free(l->entry);
	}
	if (l->is_get) {
		if (l->gprev != NULL)
			l->gprev->gnext = l->gnext;
		else
			get_streams = l->gnext;
		if (l->gnext != NULL)
			l->gnext->gprev = l->gprev;
	}
	if (l->sr != NULL)
		srvreq_unlink_locked(l->sr);
	pthread_mutex_unlock(&timer_mtx);
	free(l->buf);
	free(l->call_id);
	free(l->token);
	free(l);
}

static struct live *
live_new(struct MHD_Connection *conn, live_step_fn step,
    struct json_object *id)
{
	struct live	*l;

	l = xcalloc(1, sizeof(*l));
	l->conn = conn;
	l->step = step;
	if (id != NULL)
		l->call_id = xstrdup(id_str(id));
	return (l);
}

static enum MHD_Result
queue_live(struct MHD_Connection *conn, struct live *l)
{
	struct MHD_Response	*resp;

	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
	    READER_BLOCK, live_read, l, live_free);
	if (resp == NULL) {
		live_free(l);
		return (MHD_NO);
	}
	return (queue(conn, MHD_HTTP_OK, resp, "text/event-stream", NULL));
}

/* The call's answer as the last event (res is consumed); then the end. */
static void
live_finish(struct live *l, struct json_object *res)
{
	char	*msg;

	xasprintf(&msg, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}",
	    l->call_id, json_object_to_json_string_ext(res, JSON_FLAGS));
	json_object_put(res);
	live_event(l, msg);
	free(msg);
	l->done = 1;
}

/* ---- the GET stream: keepalives and the session's events */

static void
evq_push_locked(const char *sid, const char *msg)
{
	struct evq_ent	*e;
	struct live	*l;

	if (evq_len >= EVQ_MAX && (e = evq_head) != NULL) {
		evq_head = e->next;	/* the oldest goes */
		if (evq_head == NULL)
			evq_tail = NULL;
		evq_len--;
		free(e->text);
		free(e);
	}
	e = xcalloc(1, sizeof(*e));
	strlcpy(e->sid, sid, sizeof(e->sid));
	xasprintf(&e->text, "event: message\ndata: %s\n\n", msg);
	if (evq_tail != NULL)
		evq_tail->next = e;
	else
		evq_head = e;
	evq_tail = e;
	evq_len++;
	for (l = get_streams; l != NULL; l = l->gnext)
		if (strcmp(l->sid, sid) == 0)
			live_kick(l);
}

static void
get_step(struct live *l, uint64_t now)
{
	struct evq_ent	*e, *prev = NULL, *next;

	for (e = evq_head; e != NULL; e = next) {
		next = e->next;
		if (strcmp(e->sid, l->sid) != 0) {
			prev = e;
			continue;
		}
		if (prev != NULL)
			prev->next = next;
		else
			evq_head = next;
		if (evq_tail == e)
			evq_tail = prev;
		evq_len--;
		live_append(l, e->text, strlen(e->text));
		free(e->text);
		free(e);
		if (l->len >= READER_BLOCK)
			break;
	}
	if (l->len > 0)
		return;
	if (now >= l->next_ka) {
		live_append(l, ": keepalive\n\n", 13);
		l->next_ka = now + KEEPALIVE_MS;
		return;
	}
	l->due = l->next_ka;
}

static enum MHD_Result
get_live(struct MHD_Connection *conn, const char *sid)
{
	struct live	*l;

	l = live_new(conn, get_step, NULL);
	l->is_get = 1;
	strlcpy(l->sid, sid, sizeof(l->sid));
	pthread_mutex_lock(&timer_mtx);
	l->gnext = get_streams;
	if (get_streams != NULL)
		get_streams->gprev = l;
	get_streams = l;
	pthread_mutex_unlock(&timer_mtx);
	return (queue_live(conn, l));
}

/* Every session now known, for events to all. */
static char **
sess_ids(size_t *n)
{
	struct session	*s;
	char		**ids;
	size_t		 i, k = 0;

	pthread_mutex_lock(&sess_mtx);
	ids = xcalloc(nsessions + 1, sizeof(*ids));
	for (i = 0; i < SESSION_BUCKETS; i++)
		for (s = sess_tab[i]; s != NULL; s = s->next)
			ids[k++] = xstrdup(s->id);
	pthread_mutex_unlock(&sess_mtx);
	*n = k;
	return (ids);
}

/* ---- per-session state: what the client declared, its log level */

static void
sess_set_caps(const char *sid, unsigned int caps)
{
	struct session	**pp;

	pthread_mutex_lock(&sess_mtx);
	if ((pp = sess_find_locked(sid)) != NULL)
		(*pp)->caps = caps;
	pthread_mutex_unlock(&sess_mtx);
}

/* -1: no such session. */
static int
sess_get(const char *sid, unsigned int *caps, int *level)
{
	struct session	**pp;
	int		 found = 0;

	pthread_mutex_lock(&sess_mtx);
	if (sid != NULL && (pp = sess_find_locked(sid)) != NULL) {
		if (caps != NULL)
			*caps = (*pp)->caps;
		if (level != NULL)
			*level = (*pp)->log_level;
		found = 1;
	}
	pthread_mutex_unlock(&sess_mtx);
	return (found ? 0 : -1);
}

static unsigned int
client_caps(struct json_object *params)
{
	struct json_object	*c, *v;
	unsigned int		 caps = 0;

	if (!json_object_object_get_ex(params, "capabilities", &c) ||
	    !json_object_is_type(c, json_type_object))
		return (0);
	if (json_object_object_get_ex(c, "sampling", &v))
		caps |= CLIENT_SAMPLING;
	if (json_object_object_get_ex(c, "elicitation", &v))
		caps |= CLIENT_ELICITATION;
	if (json_object_object_get_ex(c, "roots", &v))
		caps |= CLIENT_ROOTS;
	return (caps);
}

static int
log_level_find(const char *name)
{
	size_t	 i;

	for (i = 0; name != NULL && i < NLOG_LEVELS; i++)
		if (strcmp(name, log_levels[i]) == 0)
			return ((int)i);
	return (-1);
}

static const char *
req_sid(struct MHD_Connection *conn)
{
	return (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Mcp-Session-Id"));
}

/* ---- resources and prompts: the tables, the pages */

static void
resource_add(const char *rel, const char *name, const char *desc,
    const char *mime, const char *text, const char *blob, int watched)
{
	struct resource	*r;

	resources = xreallocarray(resources, nresources + 1,
	    sizeof(*resources));
	r = &resources[nresources++];
	xasprintf(&r->uri, "%s%s", uri_prefix, rel);
	r->name = xstrdup(name);
	r->desc = xstrdup(desc);
	r->mime = mime;
	r->text = text == NULL ? NULL : xstrdup(text);
	r->blob = blob;
	r->watched = watched;
}

static void
prompt_add(const char *name, const char *desc, const struct prompt_arg *args,
    size_t nargs, int kind)
{
	struct prompt	*p;

	prompts = xreallocarray(prompts, nprompts + 1, sizeof(*prompts));
	p = &prompts[nprompts++];
	p->name = xstrdup(name);
	p->desc = xstrdup(desc);
	p->args = args;
	p->nargs = nargs;
	p->kind = kind;
}

/* Pages of PAGE_SIZE items under key; the cursor is "page-<index>". */
static void
plist_build(struct plist *pl, const char *key, struct json_object **items,
    size_t n)
{
	struct json_object	*page, *arr;
	char			 cursor[32];
	size_t			 i, p;

	pl->npages = n == 0 ? 1 : (n + PAGE_SIZE - 1) / PAGE_SIZE;
	pl->pages = xcalloc(pl->npages, sizeof(*pl->pages));
	for (p = 0; p < pl->npages; p++) {
		page = json_object_new_object();
		arr = json_object_new_array();
		for (i = p * PAGE_SIZE; i < n && i < (p + 1) * PAGE_SIZE; i++)
			json_object_array_add(arr, json_object_get(items[i]));
		json_object_object_add(page, key, arr);
		if (p + 1 < pl->npages) {
			snprintf(cursor, sizeof(cursor), "page-%zu", p + 1);
			json_object_object_add(page, "nextCursor",
			    json_object_new_string(cursor));
		}
		pl->pages[p] = xstrdup(json_object_to_json_string_ext(page,
		    JSON_FLAGS));
		json_object_put(page);
	}
}

static void
plist_free(struct plist *pl)
{
	size_t	 i;

	for (i = 0; i < pl->npages; i++)
		free(pl->pages[i]);
	free(pl->pages);
}

static struct json_object *
jstr(const char *s)
{
	return (json_object_new_string(s));
}

static void
surface_build(unsigned int extra_res, unsigned int extra_prompts)
{
	struct json_object	**items, *o, *args, *a;
	char			 rel[32], name[32], desc[96], *text;
	size_t			 i, k, n;

	if (uri_prefix == NULL)
		xasprintf(&uri_prefix, "test://%s/", srv_name);
	xasprintf(&text, "Hello from %s.", srv_name);
	resource_add("text", "text", "A text resource.", "text/plain", text,
	    NULL, 0);
	free(text);
	resource_add("binary", "binary", "A binary resource: bytes 0x00 to "
	    "0x0f.", "application/octet-stream", NULL, blob_b64, 0);
	resource_add("watched", "watched", "Its text names a version that "
	    "the tool touch_resource increments.", "text/plain", "", NULL, 1);
	for (i = 1; i <= extra_res; i++) {
		snprintf(rel, sizeof(rel), "res/%04zu", i);
		snprintf(name, sizeof(name), "res_%04zu", i);
		snprintf(desc, sizeof(desc), "Extra resource %zu.", i);
		xasprintf(&text, "resource %zu of %s", i, srv_name);
		resource_add(rel, name, desc, "text/plain", text, NULL, 0);
		free(text);
	}
	xasprintf(&template_uri, "%sitems/{id}", uri_prefix);

	prompt_add("simple", "A prompt without arguments.", NULL, 0,
	    PROMPT_SIMPLE);
	prompt_add("greet", "A greeting for name, in a style.", greet_args,
	    2, PROMPT_GREET);
	prompt_add("with_resource", "A message embedding the resource at "
	    "uri.", resource_args, 1, PROMPT_RESOURCE);
	for (i = 1; i <= extra_prompts; i++) {
		snprintf(name, sizeof(name), "prompt_%04zu", i);
		snprintf(desc, sizeof(desc), "Extra prompt %zu.", i);
		prompt_add(name, desc, extra_args, 1, PROMPT_EXTRA);
	}

	n = nresources > nprompts ? nresources : nprompts;
	items = xcalloc(n + 1, sizeof(*items));
	for (i = 0; i < nresources; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "uri", jstr(resources[i].uri));
		json_object_object_add(o, "name", jstr(resources[i].name));
		json_object_object_add(o, "description",
		    jstr(resources[i].desc));
		json_object_object_add(o, "mimeType", jstr(resources[i].mime));
		items[i] = o;
	}
	plist_build(&res_pages, "resources", items, nresources);
	for (i = 0; i < nresources; i++)
		json_object_put(items[i]);

	o = json_object_new_object();
	json_object_object_add(o, "uriTemplate", jstr(template_uri));
	json_object_object_add(o, "name", jstr("item"));
	json_object_object_add(o, "description", jstr("An item by id "
	    "(completion of id: apple, apricot, banana, blueberry, cherry)."));
	json_object_object_add(o, "mimeType", jstr("text/plain"));
	items[0] = o;
	plist_build(&tmpl_pages, "resourceTemplates", items, 1);
	json_object_put(o);

	for (i = 0; i < nprompts; i++) {
		o = json_object_new_object();
		json_object_object_add(o, "name", jstr(prompts[i].name));
		json_object_object_add(o, "description",
		    jstr(prompts[i].desc));
		args = json_object_new_array();
		for (k = 0; k < prompts[i].nargs; k++) {
			a = json_object_new_object();
			json_object_object_add(a, "name",
			    jstr(prompts[i].args[k].name));
			json_object_object_add(a, "description",
			    jstr(prompts[i].args[k].desc));
			json_object_object_add(a, "required",
			    json_object_new_boolean(prompts[i].args[k].required));
			json_object_array_add(args, a);
		}
		json_object_object_add(o, "arguments", args);
		items[i] = o;
	}
	plist_build(&prompt_pages, "prompts", items, nprompts);
	for (i = 0; i < nprompts; i++)
		json_object_put(items[i]);
	free(items);
}

static void
surface_free(void)
{
	size_t	 i;

	for (i = 0; i < nresources; i++) {
		free(resources[i].uri);
		free(resources[i].name);
		free(resources[i].desc);
		free(resources[i].text);
	}
	free(resources);
	for (i = 0; i < nprompts; i++) {
		free(prompts[i].name);
		free(prompts[i].desc);
	}
	free(prompts);
	plist_free(&res_pages);
	plist_free(&tmpl_pages);
	plist_free(&prompt_pages);
	free(template_uri);
	free(uri_prefix);
}

/* The contents item of uri: a resource, or the template's; NULL if none. */
static struct json_object *
resource_contents(const char *uri)
{
	struct json_object	*c;
	const char		*id;
	char			*text = NULL;
	size_t			 i, plen = strlen(template_uri) -
				    strlen("{id}");

	for (i = 0; i < nresources; i++)
		if (strcmp(resources[i].uri, uri) == 0)
			break;
	if (i < nresources) {
		c = json_object_new_object();
		json_object_object_add(c, "uri", jstr(uri));
		json_object_object_add(c, "mimeType", jstr(resources[i].mime));
		if (resources[i].blob != NULL) {
			json_object_object_add(c, "blob",
			    jstr(resources[i].blob));
			return (c);
		}
		if (resources[i].watched)
			xasprintf(&text, "watched resource of %s, version %u",
			    srv_name, atomic_load(&watched_version));
		json_object_object_add(c, "text", jstr(text != NULL ? text :
		    resources[i].text));
		free(text);
		return (c);
	}
	if (strncmp(uri, template_uri, plen) != 0)
		return (NULL);
	id = uri + plen;
	if (*id == '\0' || strspn(id, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(id))
		return (NULL);
	c = json_object_new_object();
	json_object_object_add(c, "uri", jstr(uri));
	json_object_object_add(c, "mimeType", jstr("text/plain"));
	xasprintf(&text, "item %s of %s", id, srv_name);
	json_object_object_add(c, "text", jstr(text));
	free(text);
	return (c);
}

static struct prompt *
prompt_find(const char *name)
{
	size_t	 i;

	for (i = 0; name != NULL && i < nprompts; i++)
		if (strcmp(prompts[i].name, name) == 0)
			return (&prompts[i]);
	return (NULL);
}

/* ---- methods */

static char *
result_of(struct json_object *id, struct json_object *res)
{
	char	*msg;

	msg = rpc_result(id, json_object_to_json_string_ext(res, JSON_FLAGS));
	json_object_put(res);
	return (msg);
}

static enum MHD_Result
answer_obj(struct MHD_Connection *conn, struct req *r, struct json_object *id,
    struct json_object *res)
{
	return (answer(conn, r, result_of(id, res), NULL, 0, NULL));
}

/* The page the request's cursor names, or -32602. */
static enum MHD_Result
do_plist(struct MHD_Connection *conn, struct req *r, struct json_object *id,
    struct json_object *params, const struct plist *pl)
{
	struct json_object	*c;
	const char		*cursor;
	char			*end;
	unsigned long		 p = 0;

	if (json_object_object_get_ex(params, "cursor", &c) &&
	    !json_object_is_type(c, json_type_null)) {
		cursor = json_object_get_string(c);
		if (!json_object_is_type(c, json_type_string) ||
		    strncmp(cursor, "page-", 5) != 0 ||
		    cursor[5] < '0' || cursor[5] > '9' ||
		    (p = strtoul(cursor + 5, &end, 10)) >= pl->npages ||
		    *end != '\0')
			return (answer_error(conn, r, id,
			    -32602, "Invalid cursor"));
	}
	return (answer(conn, r, rpc_result(id, pl->pages[p]), NULL, 0, NULL));
}

static enum MHD_Result
answer_error_data(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, int code, const char *text,
    struct json_object *data)
{
	struct json_object	*o, *err;
	char			*s;

	err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", jstr(text));
	json_object_object_add(err, "data", data);
	o = json_object_new_object();
	json_object_object_add(o, "jsonrpc", jstr("2.0"));
	json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(o, "error", err);
	s = xstrdup(json_object_to_json_string_ext(o, JSON_FLAGS));
	json_object_put(o);
	return (answer(conn, r, s, NULL, 0, NULL));
}

static enum MHD_Result
do_resources_read(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *params)
{
	struct json_object	*u, *c, *res, *arr, *data;
	const char		*uri;

	if (!json_object_object_get_ex(params, "uri", &u) ||
	    !json_object_is_type(u, json_type_string))
		return (answer_error(conn, r, id, -32602,
		    "resources/read: 'uri' must be a string"));
	uri = json_object_get_string(u);
	if ((c = resource_contents(uri)) == NULL) {
		data = json_object_new_object();
		json_object_object_add(data, "uri", jstr(uri));
		return (answer_error_data(conn, r, id, -32002,
		    "Resource not found", data));
	}
	arr = json_object_new_array();
	json_object_array_add(arr, c);
	res = json_object_new_object();
	json_object_object_add(res, "contents", arr);
	return (answer_obj(conn, r, id, res));
}

static enum MHD_Result
do_subscribe(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *params, int on)
{
	struct json_object	*u;
	struct subscription	**pp, *s;
	const char		*uri, *sid = req_sid(conn);

	if (!json_object_object_get_ex(params, "uri", &u) ||
	    !json_object_is_type(u, json_type_string))
		return (answer_error(conn, r, id, -32602,
		    "resources/subscribe: 'uri' must be a string"));
	uri = json_object_get_string(u);
	pthread_mutex_lock(&timer_mtx);
	for (pp = &subs; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->sid, sid) == 0 &&
		    strcmp((*pp)->uri, uri) == 0)
			break;
	if (on && *pp == NULL) {
		s = xcalloc(1, sizeof(*s));
		strlcpy(s->sid, sid, sizeof(s->sid));
		s->uri = xstrdup(uri);
		s->next = subs;
		subs = s;
	} else if (!on && (s = *pp) != NULL) {
		*pp = s->next;
		free(s->uri);
		free(s);
	}
	pthread_mutex_unlock(&timer_mtx);
	return (answer(conn, r, rpc_result(id, "{}"), NULL, 0, NULL));
}

static void
subs_free(void)
{
	struct subscription	*s;
	struct evq_ent		*e;

	while ((s = subs) != NULL) {
		subs = s->next;
		free(s->uri);
		free(s);
	}
	while ((e = evq_head) != NULL) {
		evq_head = e->next;
		free(e->text);
		free(e);
	}
	evq_tail = NULL;
	evq_len = 0;
}

/* The string argument key of a prompt, or NULL. */
static const char *
prompt_arg(struct json_object *args, const char *key)
{
	return (args == NULL ? NULL : arg_string(args, key));
}

static struct json_object *
message(const char *role, struct json_object *content)
{
	struct json_object	*m = json_object_new_object();

	json_object_object_add(m, "role", jstr(role));
	json_object_object_add(m, "content", content);
	return (m);
}

static struct json_object *
text_content(const char *text)
{
	struct json_object	*c = json_object_new_object();

	json_object_object_add(c, "type", jstr("text"));
	json_object_object_add(c, "text", jstr(text));
	return (c);
}

static enum MHD_Result
do_prompts_get(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *params)
{
	struct json_object	*n, *args = NULL, *msgs, *res, *c, *rc;
	struct prompt		*p;
	const char		*a, *b;
	char			*text = NULL, *err;
	size_t			 i;
	enum MHD_Result		 rv;

	if (!json_object_object_get_ex(params, "name", &n) ||
	    !json_object_is_type(n, json_type_string))
		return (answer_error(conn, r, id, -32602,
		    "prompts/get: 'name' must be a string"));
	if ((p = prompt_find(json_object_get_string(n))) == NULL) {
		xasprintf(&err, "Unknown prompt: %s", json_object_get_string(n));
		rv = answer_error(conn, r, id, -32602, err);
		free(err);
		return (rv);
	}
	if (json_object_object_get_ex(params, "arguments", &args) &&
	    !json_object_is_type(args, json_type_object) &&
	    !json_object_is_type(args, json_type_null))
		return (answer_error(conn, r, id, -32602,
		    "prompts/get: 'arguments' must be an object"));
	for (i = 0; i < p->nargs; i++)
		if (p->args[i].required &&
		    prompt_arg(args, p->args[i].name) == NULL) {
			xasprintf(&err, "prompts/get %s: argument '%s' is "
			    "required", p->name, p->args[i].name);
			rv = answer_error(conn, r, id, -32602, err);
			free(err);
			return (rv);
		}
	msgs = json_object_new_array();
	switch (p->kind) {
	case PROMPT_SIMPLE:
		xasprintf(&text, "Say hello to %s.", srv_name);
		json_object_array_add(msgs, message("user",
		    text_content(text)));
		break;
	case PROMPT_GREET:
		a = prompt_arg(args, "name");
		if ((b = prompt_arg(args, "style")) == NULL)
			b = "friendly";
		xasprintf(&text, "Greet %s in a %s way.", a, b);
		json_object_array_add(msgs, message("user",
		    text_content(text)));
		break;
	case PROMPT_RESOURCE:
		a = prompt_arg(args, "uri");
		if ((rc = resource_contents(a)) == NULL) {
			json_object_put(msgs);
			xasprintf(&err, "prompts/get %s: no resource %s",
			    p->name, a);
			rv = answer_error(conn, r, id, -32602, err);
			free(err);
			return (rv);
		}
		c = json_object_new_object();
		json_object_object_add(c, "type", jstr("resource"));
		json_object_object_add(c, "resource", rc);
		json_object_array_add(msgs, message("user", c));
		json_object_array_add(msgs, message("user",
		    text_content("Summarise the resource above.")));
		break;
	default:
		a = prompt_arg(args, "text");
		xasprintf(&text, "%s: %s", p->name, a != NULL ? a : "no text");
		json_object_array_add(msgs, message("user",
		    text_content(text)));
		break;
	}
	free(text);
	res = json_object_new_object();
	json_object_object_add(res, "description", jstr(p->desc));
	json_object_object_add(res, "messages", msgs);
	return (answer_obj(conn, r, id, res));
}

static enum MHD_Result
do_complete(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *params)
{
	struct json_object	*ref, *arg, *t, *v, *vals, *comp, *res;
	const char		*type, *aname, *value = "";
	const char *const	*cands = NULL;
	size_t			 ncands = 0, i, n = 0;

	if (!json_object_object_get_ex(params, "ref", &ref) ||
	    !json_object_object_get_ex(ref, "type", &t) ||
	    !json_object_object_get_ex(params, "argument", &arg) ||
	    (aname = arg_string(arg, "name")) == NULL)
		return (answer_error(conn, r, id, -32602, "completion/complete:"
		    " 'ref' {type} and 'argument' {name, value} are required"));
	if (json_object_object_get_ex(arg, "value", &v) &&
	    json_object_is_type(v, json_type_string))
		value = json_object_get_string(v);
	type = json_object_get_string(t);
	if (strcmp(type, "ref/prompt") == 0) {
		if (prompt_find(arg_string(ref, "name")) == NULL)
			return (answer_error(conn, r, id, -32602,
			    "completion/complete: no such prompt"));
		if (strcmp(arg_string(ref, "name"), "greet") == 0 &&
		    strcmp(aname, "name") == 0) {
			cands = complete_names;
			ncands = sizeof(complete_names) / sizeof(cands[0]);
		} else if (strcmp(arg_string(ref, "name"), "greet") == 0 &&
		    strcmp(aname, "style") == 0) {
			cands = complete_styles;
			ncands = sizeof(complete_styles) / sizeof(cands[0]);
		}
	} else if (strcmp(type, "ref/resource") == 0) {
		if (arg_string(ref, "uri") == NULL ||
		    strcmp(arg_string(ref, "uri"), template_uri) != 0)
			return (answer_error(conn, r, id, -32602,
			    "completion/complete: no such resource template"));
		if (strcmp(aname, "id") == 0) {
			cands = complete_ids;
			ncands = sizeof(complete_ids) / sizeof(cands[0]);
		}
	} else
		return (answer_error(conn, r, id, -32602,
		    "completion/complete: unknown ref type"));
	vals = json_object_new_array();
	for (i = 0; i < ncands && n < COMPLETION_MAX; i++)
		if (strncmp(cands[i], value, strlen(value)) == 0) {
			json_object_array_add(vals, jstr(cands[i]));
			n++;
		}
	comp = json_object_new_object();
	json_object_object_add(comp, "values", vals);
	json_object_object_add(comp, "total", json_object_new_int64(n));
	json_object_object_add(comp, "hasMore", json_object_new_boolean(0));
	res = json_object_new_object();
	json_object_object_add(res, "completion", comp);
	return (answer_obj(conn, r, id, res));
}

static enum MHD_Result
do_set_level(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *params)
{
	struct session	**pp;
	const char	*sid = req_sid(conn);
	int		 level;

	if ((level = log_level_find(arg_string(params, "level"))) == -1)
		return (answer_error(conn, r, id, -32602,
		    "logging/setLevel: 'level' must be one of debug, info, "
		    "notice, warning, error, critical, alert, emergency"));
	pthread_mutex_lock(&sess_mtx);
	if ((pp = sess_find_locked(sid)) != NULL)
		(*pp)->log_level = level;
	pthread_mutex_unlock(&sess_mtx);
	return (answer(conn, r, rpc_result(id, "{}"), NULL, 0, NULL));
}

/* The new methods; -1: not one of them. */
static int
surface_dispatch(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, const char *method, struct json_object *params,
    enum MHD_Result *rv)
{
	if (tools_only)
		return (-1);
	if (strcmp(method, "resources/list") == 0)
		*rv = do_plist(conn, r, id, params, &res_pages);
	else if (strcmp(method, "resources/templates/list") == 0)
		*rv = do_plist(conn, r, id, params, &tmpl_pages);
	else if (strcmp(method, "resources/read") == 0)
		*rv = do_resources_read(conn, r, id, params);
	else if (strcmp(method, "resources/subscribe") == 0)
		*rv = do_subscribe(conn, r, id, params, 1);
	else if (strcmp(method, "resources/unsubscribe") == 0)
		*rv = do_subscribe(conn, r, id, params, 0);
	else if (strcmp(method, "prompts/list") == 0)
		*rv = do_plist(conn, r, id, params, &prompt_pages);
	else if (strcmp(method, "prompts/get") == 0)
		*rv = do_prompts_get(conn, r, id, params);
	else if (strcmp(method, "completion/complete") == 0)
		*rv = do_complete(conn, r, id, params);
	else if (strcmp(method, "logging/setLevel") == 0)
		*rv = do_set_level(conn, r, id, params);
	else
		return (-1);
	return (0);
}

/* A response from the client: to the request of ours it answers. */
static void
surface_response(struct MHD_Connection *conn, struct json_object *msg,
    struct json_object *id)
{
	struct srvreq	*sr;
	const char	*sid = req_sid(conn);

	if (!json_object_is_type(id, json_type_int) || sid == NULL)
		return;
	pthread_mutex_lock(&timer_mtx);
	for (sr = srvreqs; sr != NULL; sr = sr->next)
		if (sr->id == json_object_get_int64(id) &&
		    strcmp(sr->sid, sid) == 0 && sr->response == NULL) {
			sr->response = xstrdup(json_object_to_json_string_ext(
			    msg, JSON_FLAGS));
			if (sr->live != NULL)
				live_kick(sr->live);
			break;
		}
	pthread_mutex_unlock(&timer_mtx);
}

static void
surface_forget(const char *sid)
{
	struct subscription	**pp, *s;
	struct evq_ent		*e, *prev = NULL, *next;

	pthread_mutex_lock(&timer_mtx);
	for (pp = &subs; (s = *pp) != NULL; ) {
		if (strcmp(s->sid, sid) == 0) {
			*pp = s->next;
			free(s->uri);
			free(s);
		} else
			pp = &s->next;
	}
	for (e = evq_head; e != NULL; e = next) {
		next = e->next;
		if (strcmp(e->sid, sid) != 0) {
			prev = e;
			continue;
		}
		if (prev != NULL)
			prev->next = next;
		else
			evq_head = next;
		if (evq_tail == e)
			evq_tail = prev;
		evq_len--;
		free(e->text);
		free(e);
	}
	pthread_mutex_unlock(&timer_mtx);
}

/* ---- tools of the surface */

static char *
notification(const char *method, struct json_object *params)
{
	struct json_object	*o = json_object_new_object();
	char			*s;

	json_object_object_add(o, "jsonrpc", jstr("2.0"));
	json_object_object_add(o, "method", jstr(method));
	if (params != NULL)
		json_object_object_add(o, "params", params);
	s = xstrdup(json_object_to_json_string_ext(o, JSON_FLAGS));
	json_object_put(o);
	return (s);
}

/* touch_resource {uri}: notifications/resources/updated to subscribers. */
static struct json_object *
tool_touch(struct call *c, struct json_object *args)
{
	struct subscription	*s;
	struct json_object	*p;
	const char		*uri;
	char			*msg, buf[128];
	size_t			 i, n = 0;

	if ((uri = arg_string(args, "uri")) == NULL)
		return (text_result("touch_resource: 'uri' must be a string",
		    1));
	for (i = 0; i < nresources; i++)
		if (resources[i].watched && strcmp(resources[i].uri, uri) == 0)
			atomic_fetch_add(&watched_version, 1);
	p = json_object_new_object();
	json_object_object_add(p, "uri", jstr(uri));
	msg = notification("notifications/resources/updated", p);
	pthread_mutex_lock(&timer_mtx);
	for (s = subs; s != NULL; s = s->next)
		if (strcmp(s->uri, uri) == 0) {
			evq_push_locked(s->sid, msg);
			n++;
		}
	pthread_mutex_unlock(&timer_mtx);
	free(msg);
	snprintf(buf, sizeof(buf), "notified %zu subscription%s", n,
	    n == 1 ? "" : "s");
	return (text_result(buf, 0));
}

/* notify_list_changed {list}: list_changed on every session's GET stream. */
static struct json_object *
tool_list_changed(struct call *c, struct json_object *args)
{
	const char	*list;
	char		*method, *msg, **ids, buf[128];
	size_t		 i, n;

	if ((list = arg_string(args, "list")) == NULL ||
	    (strcmp(list, "tools") != 0 && strcmp(list, "resources") != 0 &&
	    strcmp(list, "prompts") != 0))
		return (text_result("notify_list_changed: 'list' must be "
		    "tools, resources or prompts", 1));
	xasprintf(&method, "notifications/%s/list_changed", list);
	msg = notification(method, NULL);
	ids = sess_ids(&n);
	pthread_mutex_lock(&timer_mtx);
	for (i = 0; i < n; i++)
		evq_push_locked(ids[i], msg);
	pthread_mutex_unlock(&timer_mtx);
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	free(msg);
	free(method);
	snprintf(buf, sizeof(buf), "%s list_changed to %zu session%s", list,
	    n, n == 1 ? "" : "s");
	return (text_result(buf, 0));
}

/* Listed like the others; never called (stream_tools answer them). */
static struct json_object *
tool_streamed(struct call *c, struct json_object *args)
{
	return (text_result("internal: a streamed tool without a handler", 1));
}

typedef enum MHD_Result (*stream_tool_fn)(struct MHD_Connection *,
	    struct req *, struct json_object *, struct json_object *,
	    struct json_object *);

static enum MHD_Result
answer_tool_error(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, const char *text)
{
	return (answer(conn, r, result_of(id, text_result(text, 1)), NULL, 0,
	    NULL));
}

/* An optional integer argument in [min, max]; -1 if bad. */
static int
arg_int(struct json_object *args, const char *key, int64_t def, int64_t min,
    int64_t max, int64_t *out)
{
	struct json_object	*v;

	*out = def;
	if (!json_object_object_get_ex(args, key, &v))
		return (0);
	if (!json_object_is_type(v, json_type_int) ||
	    (*out = json_object_get_int64(v)) < min || *out > max)
		return (-1);
	return (0);
}

static int
arg_bool(struct json_object *args, const char *key)
{
	struct json_object	*v;

	return (json_object_object_get_ex(args, key, &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v));
}

/* log {level, text, count}: notifications/message on the call's stream. */
static enum MHD_Result
stool_log(struct MHD_Connection *conn, struct req *r, struct json_object *id,
    struct json_object *args, struct json_object *token)
{
	struct live		 l;
	struct json_object	*p, *res;
	const char		*lname, *text;
	char			*msg, buf[160];
	int64_t			 count, i, sent = 0;
	int			 level, min = 0;

	memset(&l, 0, sizeof(l));
	if ((lname = arg_string(args, "level")) == NULL)
		lname = "info";
	if ((level = log_level_find(lname)) == -1)
		return (answer_tool_error(conn, r, id, "log: 'level' must be a "
		    "logging level (debug .. emergency)"));
	if ((text = arg_string(args, "text")) == NULL)
		text = "log message";
	if (arg_int(args, "count", 1, 0, LOG_COUNT_MAX, &count) == -1)
		return (answer_tool_error(conn, r, id, "log: 'count' must be an "
		    "integer in 0..10000"));
	sess_get(req_sid(conn), NULL, &min);
	live_priming(&l);
	for (i = 1; i <= count; i++) {
		if (level < min)
			continue;
		p = json_object_new_object();
		json_object_object_add(p, "level", jstr(log_levels[level]));
		json_object_object_add(p, "logger", jstr(srv_name));
		if (count == 1)
			json_object_object_add(p, "data", jstr(text));
		else {
			snprintf(buf, sizeof(buf), " (%" PRId64 "/%" PRId64 ")",
			    i, count);
			xasprintf(&msg, "%s%s", text, buf);
			json_object_object_add(p, "data", jstr(msg));
			free(msg);
		}
		msg = notification("notifications/message", p);
		live_event(&l, msg);
		free(msg);
		sent++;
	}
	snprintf(buf, sizeof(buf), "sent %" PRId64 " of %" PRId64 " messages "
	    "at %s (session level %s)", sent, count, log_levels[level],
	    log_levels[min]);
	res = text_result(buf, 0);
	msg = result_of(id, res);
	live_event(&l, msg);
	free(msg);
	return (queue_buf(conn, MHD_HTTP_OK, l.buf, l.len, "text/event-stream",
	    NULL));
}

static void
progress_step(struct live *l, uint64_t now)
{
	struct json_object	*p;
	char			*msg, buf[96];
	uint64_t		 due;

	for (;;) {
		if (l->sent == l->steps) {
			snprintf(buf, sizeof(buf), "%u steps of %u ms%s",
			    l->steps, l->ms, l->token != NULL ? "" :
			    " (no progressToken: no progress sent)");
			live_finish(l, text_result(buf, 0));
			return;
		}
		due = l->t0 + (uint64_t)(l->sent + 1) * l->ms;
		if (now < due) {
			l->due = due;
			return;
		}
		l->sent++;
		if (l->token == NULL)
			continue;
		p = json_object_new_object();
		json_object_object_add(p, "progressToken",
		    json_tokener_parse(l->token));
		json_object_object_add(p, "progress",
		    json_object_new_int64(l->sent));
		json_object_object_add(p, "total",
		    json_object_new_int64(l->steps));
		snprintf(buf, sizeof(buf), "step %u of %u", l->sent, l->steps);
		json_object_object_add(p, "message", jstr(buf));
		msg = notification("notifications/progress", p);
		live_event(l, msg);
		free(msg);
	}
}

/* progress {steps, ms}: a notifications/progress every ms, then the answer. */
static enum MHD_Result
stool_progress(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *args,
    struct json_object *token)
{
	struct live	*l;
	int64_t		 steps, ms;

	if (arg_int(args, "steps", 3, 0, PROGRESS_STEPS_MAX, &steps) == -1 ||
	    arg_int(args, "ms", 100, 0, PROGRESS_MS_MAX, &ms) == -1)
		return (answer_tool_error(conn, r, id, "progress: 'steps' must "
		    "be an integer in 0..1000, 'ms' in 0..60000"));
	l = live_new(conn, progress_step, id);
	l->steps = (unsigned int)steps;
	l->ms = (unsigned int)ms;
	l->t0 = now_ms();
	if (token != NULL)
		l->token = xstrdup(id_str(token));
	live_priming(l);
	return (queue_live(conn, l));
}

static void
srv_step(struct live *l, uint64_t now)
{
	struct srvreq		*sr = l->sr;
	struct json_object	*resp, *v, *res, *msg;
	char			*text, *note;

	if (sr->response != NULL) {
		resp = json_tokener_parse(sr->response);
		if (json_object_object_get_ex(resp, "result", &v)) {
			res = text_result(json_object_to_json_string_ext(v,
			    JSON_FLAGS), 0);
			if (json_object_is_type(v, json_type_object))
				json_object_object_add(res, "structuredContent",
				    json_object_get(v));
		} else {
			json_object_object_get_ex(resp, "error", &v);
			msg = NULL;
			json_object_object_get_ex(v, "message", &msg);
			xasprintf(&text, "the client refused %s: %s",
			    sr->method, msg != NULL ?
			    json_object_get_string(msg) :
			    json_object_to_json_string_ext(v, JSON_FLAGS));
			res = text_result(text, 1);
			free(text);
		}
		json_object_put(resp);
	} else if (now >= l->deadline) {
		/* Tell the client to stop, then answer. */
		v = json_object_new_object();
		json_object_object_add(v, "requestId",
		    json_object_new_int64(sr->id));
		json_object_object_add(v, "reason", jstr("timeout"));
		note = notification("notifications/cancelled", v);
		live_event(l, note);
		free(note);
		xasprintf(&text, "no answer to %s from the client within %"
		    PRIu64 " ms", sr->method, l->deadline - l->t0);
		res = text_result(text, 1);
		free(text);
	} else {
		l->due = l->deadline;
		return;
	}
	srvreq_unlink_locked(sr);
	l->sr = NULL;
	live_finish(l, res);
}

/*
 * A request to the client on the call's SSE stream (params consumed);
 * the call's answer is the client's answer.  A client that did not
 * declare cap is not asked unless force.
 */
static enum MHD_Result
srv_request(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *args, const char *method,
    struct json_object *params, unsigned int cap, const char *capname)
{
	struct json_object	*o;
	struct srvreq		*sr;
	struct live		*l;
	const char		*sid = req_sid(conn);
	unsigned int		 caps = 0;
	int64_t			 timeout;
	char			*text;
	enum MHD_Result		 rv;

	if (arg_int(args, "timeout_ms", client_timeout_ms, 10,
	    CLIENT_TIMEOUT_MAX, &timeout) == -1) {
		json_object_put(params);
		return (answer_tool_error(conn, r, id, "'timeout_ms' must be an "
		    "integer in 10..3600000"));
	}
	sess_get(sid, &caps, NULL);
	if ((caps & cap) == 0 && !arg_bool(args, "force")) {
		json_object_put(params);
		xasprintf(&text, "the client did not declare %s: %s not sent "
		    "(force: true sends it anyway)", capname, method);
		rv = answer_tool_error(conn, r, id, text);
		free(text);
		return (rv);
	}
	l = live_new(conn, srv_step, id);
	l->t0 = now_ms();
	l->deadline = l->t0 + (uint64_t)timeout;
	sr = xcalloc(1, sizeof(*sr));
	strlcpy(sr->sid, sid, sizeof(sr->sid));
	sr->method = method;
	sr->live = l;
	l->sr = sr;
	pthread_mutex_lock(&timer_mtx);
	sr->id = ++srvreq_seq;
	sr->next = srvreqs;
	srvreqs = sr;
	pthread_mutex_unlock(&timer_mtx);
	o = json_object_new_object();
	json_object_object_add(o, "jsonrpc", jstr("2.0"));
	json_object_object_add(o, "id", json_object_new_int64(sr->id));
	json_object_object_add(o, "method", jstr(method));
	if (params != NULL)
		json_object_object_add(o, "params", params);
	live_priming(l);
	live_event(l, json_object_to_json_string_ext(o, JSON_FLAGS));
	json_object_put(o);
	return (queue_live(conn, l));
}

/* sample {prompt, max_tokens?, force?, timeout_ms?} */
static enum MHD_Result
stool_sample(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *args,
    struct json_object *token)
{
	struct json_object	*p, *msgs, *m, *c;
	const char		*prompt;
	int64_t			 max;

	if ((prompt = arg_string(args, "prompt")) == NULL ||
	    arg_int(args, "max_tokens", 100, 1, 1000000, &max) == -1)
		return (answer_tool_error(conn, r, id, "sample: 'prompt' must "
		    "be a string, 'max_tokens' a positive integer"));
	c = json_object_new_object();
	json_object_object_add(c, "type", jstr("text"));
	json_object_object_add(c, "text", jstr(prompt));
	m = json_object_new_object();
	json_object_object_add(m, "role", jstr("user"));
	json_object_object_add(m, "content", c);
	msgs = json_object_new_array();
	json_object_array_add(msgs, m);
	p = json_object_new_object();
	json_object_object_add(p, "messages", msgs);
	json_object_object_add(p, "maxTokens", json_object_new_int64(max));
	return (srv_request(conn, r, id, args, "sampling/createMessage", p,
	    CLIENT_SAMPLING, "sampling"));
}

/* elicit {message, force?, timeout_ms?} */
static enum MHD_Result
stool_elicit(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *args,
    struct json_object *token)
{
	struct json_object	*p, *schema, *props, *ans, *req;
	const char		*message;

	if ((message = arg_string(args, "message")) == NULL)
		return (answer_tool_error(conn, r, id, "elicit: 'message' must "
		    "be a string"));
	ans = json_object_new_object();
	json_object_object_add(ans, "type", jstr("string"));
	json_object_object_add(ans, "description", jstr("Your answer"));
	props = json_object_new_object();
	json_object_object_add(props, "answer", ans);
	req = json_object_new_array();
	json_object_array_add(req, jstr("answer"));
	schema = json_object_new_object();
	json_object_object_add(schema, "type", jstr("object"));
	json_object_object_add(schema, "properties", props);
	json_object_object_add(schema, "required", req);
	p = json_object_new_object();
	json_object_object_add(p, "message", jstr(message));
	json_object_object_add(p, "requestedSchema", schema);
	return (srv_request(conn, r, id, args, "elicitation/create", p,
	    CLIENT_ELICITATION, "elicitation"));
}

/* roots {force?, timeout_ms?} */
static enum MHD_Result
stool_roots(struct MHD_Connection *conn, struct req *r,
    struct json_object *id, struct json_object *args,
    struct json_object *token)
{
	return (srv_request(conn, r, id, args, "roots/list", NULL,
	    CLIENT_ROOTS, "roots"));
}

static const struct {
	const char	*name;
	const char	*desc;
	const char	*input;
	tool_fn		 fn;		/* or NULL: stream */
	stream_tool_fn	 stream;
} surface_tools[] = {
	{ "touch_resource", "Send notifications/resources/updated for uri "
	    "to every session subscribed to it (the watched resource's "
	    "version goes up).",
	    "{\"type\":\"object\",\"properties\":{\"uri\":{\"type\":"
	    "\"string\"}},\"required\":[\"uri\"]}", tool_touch, NULL },
	{ "notify_list_changed", "Send notifications/<list>/list_changed on "
	    "every session's GET stream.",
	    "{\"type\":\"object\",\"properties\":{\"list\":{\"type\":"
	    "\"string\",\"enum\":[\"tools\",\"resources\",\"prompts\"]}},"
	    "\"required\":[\"list\"]}", tool_list_changed, NULL },
	{ "log", "Send count notifications/message at level on the call's "
	    "SSE stream (those below the session's logging/setLevel are not "
	    "sent), then answer.",
	    "{\"type\":\"object\",\"properties\":{\"level\":{\"type\":"
	    "\"string\",\"enum\":[\"debug\",\"info\",\"notice\",\"warning\","
	    "\"error\",\"critical\",\"alert\",\"emergency\"]},\"text\":{"
	    "\"type\":\"string\"},\"count\":{\"type\":\"integer\",\"minimum\":"
	    "0,\"maximum\":10000}}}", NULL, stool_log },
	{ "progress", "Every ms milliseconds send notifications/progress "
	    "(when the call has a progressToken), steps times, then answer.",
	    "{\"type\":\"object\",\"properties\":{\"steps\":{\"type\":"
	    "\"integer\",\"minimum\":0,\"maximum\":1000},\"ms\":{\"type\":"
	    "\"integer\",\"minimum\":0,\"maximum\":60000}}}", NULL,
	    stool_progress },
	{ "sample", "Ask the client sampling/createMessage with prompt; "
	    "answer with its answer (isError if it refuses or does not "
	    "answer within timeout_ms).",
	    "{\"type\":\"object\",\"properties\":{\"prompt\":{\"type\":"
	    "\"string\"},\"max_tokens\":{\"type\":\"integer\",\"minimum\":1},"
	    "\"force\":{\"type\":\"boolean\",\"description\":\"Ask even if "
	    "the client did not declare sampling\"},\"timeout_ms\":{\"type\":"
	    "\"integer\",\"minimum\":10}},\"required\":[\"prompt\"]}", NULL,
	    stool_sample },
	{ "elicit", "Ask the client elicitation/create with message and a "
	    "one-string form; answer with its answer (isError if it refuses "
	    "or does not answer within timeout_ms).",
	    "{\"type\":\"object\",\"properties\":{\"message\":{\"type\":"
	    "\"string\"},\"force\":{\"type\":\"boolean\"},\"timeout_ms\":{"
	    "\"type\":\"integer\",\"minimum\":10}},\"required\":[\"message\"]}",
	    NULL, stool_elicit },
	{ "roots", "Ask the client roots/list; answer with its answer "
	    "(isError if it refuses or does not answer within timeout_ms).",
	    "{\"type\":\"object\",\"properties\":{\"force\":{\"type\":"
	    "\"boolean\"},\"timeout_ms\":{\"type\":\"integer\",\"minimum\":"
	    "10}}}", NULL, stool_roots },
};
#define NSURFACE_TOOLS	(sizeof(surface_tools) / sizeof(surface_tools[0]))

static void
tools_surface(void)
{
	size_t	 i;

	for (i = 0; i < NSURFACE_TOOLS; i++)
		tool_add_def(surface_tools[i].name, surface_tools[i].desc,
		    surface_tools[i].input, NULL, surface_tools[i].fn != NULL ?
		    surface_tools[i].fn : tool_streamed);
}

static stream_tool_fn
stream_tool_find(const char *name)
{
	size_t	 i;

	if (tools_only)
		return (NULL);
	for (i = 0; i < NSURFACE_TOOLS; i++)
		if (surface_tools[i].stream != NULL &&
		    strcmp(surface_tools[i].name, name) == 0)
			return (surface_tools[i].stream);
	return (NULL);
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
	sess_set_caps(sid, client_caps(params));
	v = json_object_new_string(srv_name);
	xasprintf(&res, "{\"protocolVersion\":\"%s\",\"capabilities\":"
	    "{\"tools\":{\"listChanged\":true}%s},\"serverInfo\":{\"name\":%s,"
	    "\"version\":\"%s\"}}", version, tools_only ? "" :
	    ",\"resources\":{\"subscribe\":true,\"listChanged\":true},"
	    "\"prompts\":{\"listChanged\":true},\"completions\":{},"
	    "\"logging\":{}",
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
	stream_tool_fn		 st;
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
	if ((st = stream_tool_find(c.name)) != NULL)
		return (st(conn, r, id, args, token));
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
	enum MHD_Result	 rv;

	if (surface_dispatch(conn, r, id, method, params, &rv) == 0)
		return (rv);
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
		if (k == K_RESPONSE && !tools_only)
			surface_response(conn, msg, id);
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
	const char	*sid;
	enum MHD_Result	 rv;

	if (!contains_ci(header(conn, MHD_HTTP_HEADER_ACCEPT),
	    "text/event-stream"))
		return (http_error(conn, MHD_HTTP_NOT_ACCEPTABLE, NULL, -32000,
		    "Not Acceptable: Client must accept text/event-stream"));
	if ((sid = session_check(conn, &rv)) == NULL)
		return (rv);
	if (hooks.get != NULL)
		return (hooks.get(conn));
	if (!tools_only)	/* keepalives and the session's events */
		return (get_live(conn, sid));
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
	if (!tools_only)
		surface_forget(sid);
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
	    "[--threads N] [--exit-on-stdin-eof]\n\t[--resources N] "
	    "[--prompts N] [--uri-prefix PREFIX] [--client-timeout MS]\n\t"
	    "[--tools-only]\nmodes:\n");
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
		{ "resources", required_argument, NULL, 'R' },
		{ "prompts", required_argument, NULL, 'P' },
		{ "uri-prefix", required_argument, NULL, 'U' },
		{ "client-timeout", required_argument, NULL, 'C' },
		{ "tools-only", no_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_storage	 ss;
	struct sigaction	 sa;
	sigset_t		 block, old;
	struct MHD_Daemon	*d;
	const union MHD_DaemonInfo *info;
	const char		*addr = "127.0.0.1";
	unsigned int		 flags, extra = 0, threads = THREADS_DEFAULT;
	unsigned int		 extra_res = 0, extra_prompts = 0;
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
		case 'R':
			extra_res = num_arg(optarg, 0, EXTRA_RESOURCES_MAX,
			    "--resources");
			break;
		case 'P':
			extra_prompts = num_arg(optarg, 0, EXTRA_PROMPTS_MAX,
			    "--prompts");
			break;
		case 'U':
			free(uri_prefix);
			uri_prefix = xstrdup(optarg);
			break;
		case 'C':
			client_timeout_ms = num_arg(optarg, 10,
			    CLIENT_TIMEOUT_MAX, "--client-timeout");
			break;
		case 'O':
			tools_only = 1;
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
	if (!tools_only) {
		surface_build(extra_res, extra_prompts);
		tools_surface();
	}
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
	if (!tools_only)
		log_info("%zu resources under %s, %zu prompts", nresources,
		    uri_prefix, nprompts);

	wait_for_end(watch_stdin, &old);

	atomic_store(&stopping, 1);
	timer_stop(timer);
	MHD_stop_daemon(d);
	MHD_destroy_response(resp_202);
	sess_clear();
	tools_free();
	if (!tools_only)
		surface_free();
	subs_free();
	return (0);
}
