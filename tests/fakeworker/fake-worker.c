/*
 * fake-worker: a program that speaks the worker's side of the
 * supervisor <-> worker protocol (common/mesh-proto.h) without libcurl,
 * a gateway or a sandbox, and misbehaves on purpose.  mcp-mesh runs it
 * with --worker-exec --worker-path PATH: fd 3 is its socketpair, stdin
 * and stdout /dev/null, stderr a pipe the mesh logs as
 * "peer NAME: stderr: ...".
 *
 * HELLO {"version":1,"pid":N}, CONFIG, READY with its tools, then PONG
 * for every PING and an answer for every REQUEST (tools/call of "echo"
 * echoes arguments.text; anything else is -32601).  What it does beyond
 * that is its peer's name from CONFIG, the longest of these that begins
 * it (so "good", "good-2" and "goodb" behave alike):
 *
 *	good		nothing more
 *	big		every tools/call answered with a text of BIG_BYTES
 *			(3.5 MB) bytes, whatever the arguments; like a worker
 *			with flow control, it makes answers only while less
 *			than BIG_QUEUE bytes wait for the supervisor
 *	logflood	LOG frames, as fast as the supervisor reads them
 *			(warnings and debug lines, one after the other)
 *	toolstorm	a TOOLS message of STORM_TOOLS (10,000) tools every
 *			STORM_EVERY_MS (2 ms), as long as the previous one
 *			was taken; READY carries the same list
 *	progress	every tools/call gets notifications/progress every
 *			PROGRESS_EVERY_MS (100 ms) and never an answer; a
 *			CANCEL ends it and is said on stderr ("cancel N")
 *	crash-early	SIGSEGV before READY (right after CONFIG, which
 *			names it)
 *	crash		SIGSEGV right after READY
 *
 * The peer's URL carries parameters in its query: "while=PATH" makes the
 * misbehaviour conditional on PATH existing (when it does not, the
 * worker is "good"), e.g. --bridge crash=http://127.0.0.1:9/?while=/tmp/x.
 *
 * A crash resets the signal's disposition with the raw system call
 * first: a sanitizer's handler would otherwise turn it into a report,
 * which the tests count as a failure.  Exits are _exit() (no leak check
 * of a process the tests kill at any moment).
 */
#include <sys/types.h>
#include <sys/syscall.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "mesh-limits.h"
#include "mesh-proto.h"
#include "msg.h"
#include "util.h"

#define BIG_BYTES		(3500 * 1000)
#define BIG_QUEUE		(8 * 1024 * 1024)
#define BIG_PENDING_MAX		4096
#define STORM_TOOLS		10000
#define STORM_EVERY_MS		2
#define PROGRESS_EVERY_MS	100
#define PROGRESS_MAX		256	/* calls kept in progress */
#define FLOOD_LINE		"flooding the supervisor's log with lines that " \
				"say nothing at all, as fast as it reads them"
#define FLOOD_BATCH		512	/* LOG frames queued at once */
#define QUEUE_LOW		(256 * 1024)	/* queue more below this */

enum mode { M_GOOD, M_BIG, M_LOGFLOOD, M_TOOLSTORM, M_PROGRESS,
    M_CRASH_EARLY, M_CRASH };

static const struct {
	const char	*prefix;
	enum mode	 mode;
} modes[] = {
	{ "crash-early", M_CRASH_EARLY },	/* before "crash" */
	{ "crash", M_CRASH },
	{ "good", M_GOOD },
	{ "big", M_BIG },
	{ "logflood", M_LOGFLOOD },
	{ "toolstorm", M_TOOLSTORM },
	{ "progress", M_PROGRESS },
};

static struct msgbuf	 mb;
static enum mode	 mode = M_GOOD;
static char		 name[PEER_NAME_MAX + 1];
static char		*storm_text;	/* {"tools":[...]} */
static size_t		 storm_len;
static char		*big_tail;	/* ,"result":{...}} of big answers */
static size_t		 big_tail_len;
static uint64_t		 big_pending[BIG_PENDING_MAX];	/* not answered yet */
static int		 nbig_pending;

static struct {
	uint64_t	id;
	uint64_t	next_ms;
	int		n;
} progress[PROGRESS_MAX];
static int		 nprogress;

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "fake-worker %s: %s: %s\n", name, what,
	    strerror(errno));
	_exit(70);
}

/* SIGSEGV with the default action, whatever a sanitizer installed. */
static void __attribute__((noreturn))
crash(void)
{
	struct {
		void		*handler;
		unsigned long	 flags;
		void		*restorer;
		uint64_t	 mask;
	} sa;

	memset(&sa, 0, sizeof(sa));	/* SIG_DFL */
	syscall(SYS_rt_sigaction, SIGSEGV, &sa, NULL, sizeof(sa.mask));
	kill(getpid(), SIGSEGV);
	_exit(71);
}

static void
send_msg(uint16_t type, uint64_t id, const char *data, size_t len)
{
	if (msg_compose(&mb, type, 0, id, data, len) == -1)
		die("queue a message");
}

static void
send_json(uint16_t type, uint64_t id, struct json_object *o)
{
	size_t		 len;
	const char	*s;

	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	send_msg(type, id, s, len);
	json_object_put(o);
}

static void
flush_blocking(void)
{
	if (msg_send_blocking(&mb) == -1)
		_exit(0);	/* the supervisor is gone */
}

/* --- what it offers ------------------------------------------------------- */

static struct json_object *
tool_def(const char *tname, const char *desc)
{
	struct json_object	*t, *schema, *props, *text;

	t = json_object_new_object();
	json_object_object_add(t, "name", json_object_new_string(tname));
	json_object_object_add(t, "description", json_object_new_string(desc));
	schema = json_object_new_object();
	json_object_object_add(schema, "type",
	    json_object_new_string("object"));
	props = json_object_new_object();
	text = json_object_new_object();
	json_object_object_add(text, "type", json_object_new_string("string"));
	json_object_object_add(props, "text", text);
	json_object_object_add(schema, "properties", props);
	json_object_object_add(t, "inputSchema", schema);
	return (t);
}

static void
storm_build(void)
{
	struct json_object	*o, *tools;
	char			 tname[32];
	const char		*s;
	size_t			 len;
	int			 i;

	o = json_object_new_object();
	tools = json_object_new_array();
	for (i = 0; i < STORM_TOOLS; i++) {
		snprintf(tname, sizeof(tname), "storm_%05d", i);
		json_object_array_add(tools, tool_def(tname, "one of a storm "
		    "of tools, listed again and again"));
	}
	json_object_object_add(o, "tools", tools);
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	storm_text = strndup(s, len);
	storm_len = len;
	json_object_put(o);
}

static void
big_build(void)
{
	static const char head[] = ",\"result\":{\"content\":[{\"type\":"
	    "\"text\",\"text\":\"";
	static const char tail[] = "\"}]}}";
	size_t	o = 0, i;

	big_tail_len = sizeof(head) - 1 + BIG_BYTES + sizeof(tail) - 1;
	big_tail = malloc(big_tail_len);
	if (big_tail == NULL)
		die("malloc");
	memcpy(big_tail, head, sizeof(head) - 1);
	o = sizeof(head) - 1;
	for (i = 0; i < BIG_BYTES; i++)
		big_tail[o + i] = 'a' + (char)(i % 26);
	o += BIG_BYTES;
	memcpy(big_tail + o, tail, sizeof(tail) - 1);
}

static void
send_ready(void)
{
	struct json_object	*o, *info, *caps, *tools, *t;

	if (mode == M_TOOLSTORM) {
		/* The storm's list is READY's too: built once, sent as text. */
		char	*ready;
		int	 n;

		n = asprintf(&ready, "{\"protocolVersion\":\"2025-06-18\","
		    "\"serverInfo\":{\"name\":\"fake-worker\",\"version\":\"1\"},"
		    "\"capabilities\":{\"tools\":{\"listChanged\":true}},%.*s",
		    (int)(storm_len - 1), storm_text + 1);
		if (n == -1)
			die("asprintf");
		send_msg(MSG_READY, 0, ready, (size_t)n);
		free(ready);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "protocolVersion",
	    json_object_new_string("2025-06-18"));
	info = json_object_new_object();
	json_object_object_add(info, "name",
	    json_object_new_string("fake-worker"));
	json_object_object_add(info, "version", json_object_new_string("1"));
	json_object_object_add(o, "serverInfo", info);
	caps = json_object_new_object();
	json_object_object_add(caps, "tools", json_object_new_object());
	json_object_object_add(o, "capabilities", caps);
	tools = json_object_new_array();
	t = tool_def("echo", "Echo the text argument back.");
	json_object_array_add(tools, t);
	if (mode == M_PROGRESS)
		json_object_array_add(tools, tool_def("work", "Report progress "
		    "for ever, never finish."));
	json_object_object_add(o, "tools", tools);
	send_json(MSG_READY, 0, o);
}

/* --- the conversation ----------------------------------------------------- */

/* CONFIG: the peer's name and URL say what to do. */
static void
configure(void)
{
	struct json_object	*o, *v;
	struct msg		 m;
	const char		*url = "", *q;
	char			 path[512], *text;
	size_t			 i, n, best = 0;
	struct stat		 st;

	if (msg_recv_blocking(&mb, &m, 5000) != 1 || m.hdr.type != MSG_CONFIG)
		die("no CONFIG");
	if ((text = strndup(m.data, m.hdr.len)) == NULL ||
	    (o = json_tokener_parse(text)) == NULL)
		die("CONFIG");
	free(text);
	if (json_object_object_get_ex(o, "name", &v))
		snprintf(name, sizeof(name), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "url", &v))
		url = json_object_get_string(v);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		n = strlen(modes[i].prefix);
		if (n > best && strncmp(name, modes[i].prefix, n) == 0) {
			mode = modes[i].mode;
			best = n;
		}
	}
	if ((q = strstr(url, "while=")) != NULL) {
		q += 6;
		n = strcspn(q, "&");
		snprintf(path, sizeof(path), "%.*s", (int)n, q);
		if (stat(path, &st) == -1)
			mode = M_GOOD;
	}
	json_object_put(o);
}

/* tools/call echo: arguments.text back as text content. */
static void
answer_echo(uint64_t id, struct json_object *req)
{
	struct json_object	*params, *args, *text, *resp, *res, *content, *c;
	const char		*s = "";

	if (json_object_object_get_ex(req, "params", &params) &&
	    json_object_object_get_ex(params, "arguments", &args) &&
	    json_object_object_get_ex(args, "text", &text))
		s = json_object_get_string(text);
	resp = json_object_new_object();
	json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(resp, "id", json_object_new_int64((int64_t)id));
	res = json_object_new_object();
	content = json_object_new_array();
	c = json_object_new_object();
	json_object_object_add(c, "type", json_object_new_string("text"));
	json_object_object_add(c, "text", json_object_new_string(s));
	json_object_array_add(content, c);
	json_object_object_add(res, "content", content);
	json_object_object_add(resp, "result", res);
	send_json(MSG_RESPONSE, id, resp);
}

static void
answer_error(uint64_t id, int code, const char *message)
{
	char	buf[256];
	int	n;

	n = snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\",\"id\":%llu,"
	    "\"error\":{\"code\":%d,\"message\":\"%s\"}}",
	    (unsigned long long)id, code, message);
	send_msg(MSG_RESPONSE, id, buf, (size_t)n);
}

static void
answer_big(uint64_t id)
{
	char	head[64];
	int	n;

	n = snprintf(head, sizeof(head), "{\"jsonrpc\":\"2.0\",\"id\":%llu",
	    (unsigned long long)id);
	if (msg_compose2(&mb, MSG_RESPONSE, 0, id, head, (size_t)n, big_tail,
	    big_tail_len) == -1)
		die("queue a big answer");
}

static void
progress_start(uint64_t id)
{
	if (nprogress == PROGRESS_MAX) {
		answer_error(id, -32603, "too many calls in progress");
		return;
	}
	progress[nprogress].id = id;
	progress[nprogress].next_ms = now_ms();
	progress[nprogress].n = 0;
	nprogress++;
}

static void
progress_cancel(uint64_t id)
{
	int	i;

	for (i = 0; i < nprogress; i++) {
		if (progress[i].id != id)
			continue;
		fprintf(stderr, "cancel %llu after %d progress notifications\n",
		    (unsigned long long)id, progress[i].n);
		progress[i] = progress[--nprogress];
		return;
	}
}

/* Progress that is due; the ms until the next one. */
static int
progress_tick(void)
{
	char		 buf[256];
	uint64_t	 now = now_ms(), next = UINT64_MAX;
	int		 i, n;

	for (i = 0; i < nprogress; i++) {
		if (progress[i].next_ms <= now) {
			progress[i].n++;
			n = snprintf(buf, sizeof(buf), "{\"jsonrpc\":\"2.0\","
			    "\"method\":\"notifications/progress\",\"params\":"
			    "{\"progressToken\":%llu,\"progress\":%d}}",
			    (unsigned long long)progress[i].id, progress[i].n);
			send_msg(MSG_NOTIFY_UP, progress[i].id, buf, (size_t)n);
			progress[i].next_ms = now + PROGRESS_EVERY_MS;
		}
		if (progress[i].next_ms < next)
			next = progress[i].next_ms;
	}
	return (next == UINT64_MAX ? -1 : (int)(next - now));
}

static void
request(struct msg *m)
{
	struct json_object	*req, *v, *params;
	const char		*method = "", *tool = "";
	char			*text;

	if ((text = strndup(m->data, m->hdr.len)) == NULL)
		die("strndup");
	req = json_tokener_parse(text);
	free(text);
	if (req == NULL) {
		answer_error(m->hdr.id, -32700, "parse error");
		return;
	}
	if (json_object_object_get_ex(req, "method", &v))
		method = json_object_get_string(v);
	if (json_object_object_get_ex(req, "params", &params) &&
	    json_object_object_get_ex(params, "name", &v))
		tool = json_object_get_string(v);
	if (strcmp(method, "tools/call") != 0)
		answer_error(m->hdr.id, -32601, "Method not found");
	else if (mode == M_BIG) {
		if (nbig_pending == BIG_PENDING_MAX)
			answer_error(m->hdr.id, -32603, "too many calls");
		else
			big_pending[nbig_pending++] = m->hdr.id;
	}
	else if (mode == M_PROGRESS)
		progress_start(m->hdr.id);
	else if (strcmp(tool, "echo") == 0)
		answer_echo(m->hdr.id, req);
	else
		answer_error(m->hdr.id, -32602, "Unknown tool");
	json_object_put(req);
}

static void
dispatch(struct msg *m)
{
	switch (m->hdr.type) {
	case MSG_PING:
		send_msg(MSG_PONG, m->hdr.id, NULL, 0);
		break;
	case MSG_REQUEST:
		request(m);
		break;
	case MSG_CANCEL:
		progress_cancel(m->hdr.id);
		break;
	case MSG_NOTIFY_DOWN:
		break;
	case MSG_SHUTDOWN:
		flush_blocking();
		_exit(0);
	default:
		fprintf(stderr, "fake-worker %s: message %u?\n", name,
		    m->hdr.type);
		_exit(70);
	}
}

/* Queue what this mode sends of its own accord; ms until it wants more. */
static int
misbehave(uint64_t *last_storm)
{
	char		 line[sizeof(FLOOD_LINE) + 1];
	uint64_t	 now;
	int		 i, wait = -1;

	switch (mode) {
	case M_LOGFLOOD:
		if (msg_queued(&mb) < QUEUE_LOW) {
			memcpy(line + 1, FLOOD_LINE, sizeof(FLOOD_LINE) - 1);
			/* Warnings, and debug lines a mesh without -v drops. */
			for (i = 0; i < FLOOD_BATCH; i++) {
				line[0] = i % 2 ? '7' : '4';
				send_msg(MSG_LOG, 0, line, sizeof(line) - 1);
			}
		}
		wait = 0;
		break;
	case M_TOOLSTORM:
		now = now_ms();
		if (now - *last_storm >= STORM_EVERY_MS &&
		    msg_queued(&mb) < storm_len) {
			send_msg(MSG_LISTS, 0, storm_text, storm_len);
			*last_storm = now;
		}
		wait = STORM_EVERY_MS;
		break;
	case M_PROGRESS:
		wait = progress_tick();
		break;
	case M_BIG:
		for (i = 0; i < nbig_pending && msg_queued(&mb) < BIG_QUEUE; i++)
			answer_big(big_pending[i]);
		memmove(big_pending, big_pending + i, (size_t)(nbig_pending - i) *
		    sizeof(*big_pending));
		nbig_pending -= i;
		break;
	default:
		break;
	}
	return (wait);
}

int
main(void)
{
	struct pollfd	 pfd;
	struct msg	 m;
	uint64_t	 last_storm = 0;
	char		 hello[64];
	long		 n;
	int		 r, wait;

	signal(SIGPIPE, SIG_IGN);
	/* No cap of its own: what it queues is what the test asked for. */
	msgbuf_init(&mb, WORKER_FD, (size_t)1 << 31);
	n = snprintf(hello, sizeof(hello), "{\"version\":%d,\"pid\":%ld}",
	    MESH_PROTO_VERSION, (long)getpid());
	send_msg(MSG_HELLO, 0, hello, (size_t)n);
	flush_blocking();
	configure();
	if (mode == M_CRASH_EARLY)
		crash();
	if (mode == M_TOOLSTORM)
		storm_build();
	if (mode == M_BIG)
		big_build();
	send_ready();
	flush_blocking();
	if (mode == M_CRASH)
		crash();
	if (fd_nonblock(WORKER_FD) == -1)
		die("O_NONBLOCK");
	for (;;) {
		wait = misbehave(&last_storm);
		pfd.fd = WORKER_FD;
		pfd.events = POLLIN | (msg_queued(&mb) > 0 ? POLLOUT : 0);
		if (wait == 0 && msg_queued(&mb) >= QUEUE_LOW)
			wait = -1;	/* flooding: wait for the reader */
		if ((r = poll(&pfd, 1, wait)) == -1 && errno != EINTR)
			die("poll");
		if (r <= 0)
			continue;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = msg_read(&mb);
			if (n == 0)
				_exit(0);	/* the supervisor is gone */
			if (n == -1 && errno != EAGAIN && errno != EINTR)
				_exit(0);
			while ((r = msg_get(&mb, &m)) == 1)
				dispatch(&m);
			if (r == -1)
				die("malformed frame");
		}
		if (msg_queued(&mb) > 0 && msg_write(&mb) == -1)
			_exit(0);
	}
}
