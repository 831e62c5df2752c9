/*
 * loadgen: the load generator of `make bench`.
 *
 * A raw HTTP/1.1 client on plain sockets (blocking for the one-connection
 * modes, nonblocking + epoll for the many-connection ones).  It is not
 * libcurl on purpose: the worker of the mesh uses libcurl, and a client
 * that cost as much per call as the thing it measures would measure
 * itself.  Every connection has its own MCP session, opened before the
 * clock starts (or, with --shared-session, every connection uses the one
 * session that the first opened: the shape of a client like wrk or of a
 * pool of connections behind one MCP client); request bytes are formatted
 * once; a response is parsed only as far as needed (status,
 * Content-Length or chunked framing, and a substring check that the
 * JSON-RPC result is not an error).
 *
 * Modes (one JSON object on stdout per run, flat, for bench.sh):
 *	latency      one connection, sequential calls; p50/p90/p99/max
 *	throughput   N connections for D ms, closed loop; calls/s, the
 *	             CPU time of --watch processes during the window, and
 *	             the TCP connections opened meanwhile (/proc/net/snmp)
 *	             (--shared-session: the N connections share one session)
 *	list         tools/list (following nextCursor), timed per full list
 *	recovery     N connections over several tools; SIGKILLs --kill-pid
 *	             at --kill-at-ms; per-tool errors and time to recover
 *	floor-http   keep-alive HTTP round trip to a minimal in-process
 *	             server (a forked child): the physical cost of a hop
 *	floor-socketpair  round trip of a small frame between two processes
 *	             over an AF_UNIX socketpair
 *	stamp        copies stdin to stdout, each line prefixed by the
 *	             wall-clock time it arrived (to time log lines)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	1	/* memmem, strcasestr, vasprintf, CPU_SET */
#endif

#include <sys/epoll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define PROTOCOL_VERSION	"2025-11-25"
#define DEFAULT_ARGS		"{\"text\":\"hello\"}"
#define MAX_TARGETS		256
#define MAX_WATCH		16
#define MAX_CONNS		4096
#define SESSION_MAX		128
#define READ_CHUNK		(16 * 1024)	/* free space kept before read */
#define EPOLL_BATCH		128
#define DRAIN_MS		3000	/* wait for in-flight calls after window */
#define ERROR_BACKOFF_MS	1	/* pause after an error: no hot loop */
#define RECONNECT_BACKOFF_MS	10
#define SOCKETPAIR_SIZE		64	/* 16-byte frame header + small JSON */
#define NSEC_PER_USEC		1000ULL
#define NSEC_PER_MSEC		1000000ULL
#define NSEC_PER_SEC		1000000000ULL

enum resp_state {
	RESP_BAD = -1,
	RESP_MORE = 0,
	RESP_DONE = 1,
};

struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

/* Parse state of one HTTP response in a connection's input buffer. */
struct resp {
	size_t	 hdr_len;	/* 0 until the header block is complete */
	int	 status;
	long	 clen;		/* -1: not given */
	int	 chunked;
	int	 sse;
	size_t	 cpos;		/* chunked: offset of the next size line */
	size_t	 msg_len;	/* RESP_DONE: bytes of the input it used */
	struct buf body;	/* chunked: the decoded body */
	char	 session[SESSION_MAX];
};

struct lat {
	uint64_t *v;
	size_t	  n;
	size_t	  cap;
};

/* What a stream of calls to one tool saw (recovery mode). */
struct tstat {
	uint64_t ok;
	uint64_t errors;
	uint64_t last_ok;	/* completion time of the last success */
	uint64_t max_gap;	/* longest time between two successes */
	uint64_t recovered;	/* first success started after the kill */
};

enum conn_state {
	C_WAIT = 0,	/* until wake_at, then send */
	C_BUSY,		/* request written (or being written), reading */
};

struct conn {
	int		 fd;
	int		 target;
	enum conn_state	 state;
	char		*req;
	size_t		 reqlen;
	size_t		 sent;
	int		 want_out;	/* EPOLLOUT registered */
	struct buf	 in;
	struct resp	 r;
	uint64_t	 t_start;
	uint64_t	 wake_at;
	char		 session[SESSION_MAX];
};

static struct {
	struct sockaddr_in sa;
	char		 hostport[80];
	char		 path[256];
	const char	*method;
	const char	*args;
	const char	*targets[MAX_TARGETS];
	int		 ntargets;
	pid_t		 watch[MAX_WATCH];
	int		 nwatch;
	long		 n;
	long		 warmup;
	int		 conns;
	long		 duration_ms;
	long		 warmup_ms;
	pid_t		 kill_pid;
	long		 kill_at_ms;
	int		 size;
	int		 cpu_self;	/* floors: pin this process, -1: no */
	int		 cpu_peer;	/* floors: pin the echoing child */
	int		 shared_session; /* every connection, one MCP session */
	const char	*label;		/* "mode" of the latency report */
} opt = {
	.label = "latency",
	.method = "tools/call",
	.args = DEFAULT_ARGS,
	.n = 1000,
	.warmup = 100,
	.conns = 1,
	.duration_ms = 2000,
	.warmup_ms = 200,
	.kill_at_ms = 1000,
	.size = SOCKETPAIR_SIZE,
	.cpu_self = -1,
	.cpu_peer = -1,
};

/* --- time, memory, small helpers ---------------------------------------- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec);
}

static double
cpu_self_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		err(1, "realloc");
	return (p);
}

static char *
xasprintf(size_t *lenp, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		err(1, "vasprintf");
	if (lenp != NULL)
		*lenp = (size_t)n;
	return (s);
}

static void
buf_reserve(struct buf *b, size_t extra)
{
	size_t cap;

	if (b->cap - b->len >= extra)
		return;
	cap = b->cap ? b->cap : READ_CHUNK;
	while (cap - b->len < extra)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

static void
buf_add(struct buf *b, const void *d, size_t n)
{
	buf_reserve(b, n + 1);
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

/* Drop the first n bytes (a response just handled). */
static void
buf_consume(struct buf *b, size_t n)
{
	if (n < b->len)
		memmove(b->p, b->p + n, b->len - n);
	b->len -= n < b->len ? n : b->len;
}

static void
lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = ns;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* Nearest-rank percentile, in microseconds; the array must be sorted. */
static double
pct_us(const struct lat *l, double q)
{
	size_t i;

	if (l->n == 0)
		return (-1);
	i = (size_t)(q * (double)l->n + 0.999999);
	i = i == 0 ? 0 : i - 1;
	if (i >= l->n)
		i = l->n - 1;
	return ((double)l->v[i] / NSEC_PER_USEC);
}

static double
mean_us(const struct lat *l)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < l->n; i++)
		sum += (double)l->v[i];
	return (l->n ? sum / (double)l->n / NSEC_PER_USEC : -1);
}

/*
 * The common part of every latency report: "p50_us":...,"max_us":...
 * Each set of samples is reported once; its memory goes with it.
 */
static void
print_lat(struct lat *l)
{
	qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
	printf("\"samples\":%zu,\"min_us\":%.1f,\"mean_us\":%.1f,"
	    "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f",
	    l->n, pct_us(l, 0), mean_us(l), pct_us(l, 0.50), pct_us(l, 0.90),
	    pct_us(l, 0.99), pct_us(l, 1.0));
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* --- /proc of the watched processes ------------------------------------ */

/* utime + stime of a whole process (all its threads), in microseconds. */
static double
proc_cpu_us(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long ut, st;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	p = fgets(line, sizeof(line), f);
	fclose(f);
	/* The command name may hold spaces: fields count from its ')'. */
	if (p == NULL || (p = strrchr(line, ')')) == NULL)
		return (-1);
	n = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%lu %lu", &ut, &st);
	if (n != 2)
		return (-1);
	return ((double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK));
}

static long
proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return (kb);
}

/*
 * TCP connections opened (connect) in this network namespace so far:
 * Tcp ActiveOpens of /proc/net/snmp, or -1.  Over a window in which the
 * load generator opens none it counts the connections that the mesh's
 * worker opens to the gateway (and whatever else runs on the machine).
 */
static long
tcp_active_opens(void)
{
	char head[512], vals[512], *h, *v, *hs, *vs;
	long n = -1;
	FILE *f;

	if ((f = fopen("/proc/net/snmp", "r")) == NULL)
		return (-1);
	while (fgets(head, sizeof(head), f) != NULL) {
		if (strncmp(head, "Tcp:", 4) != 0)
			continue;
		if (fgets(vals, sizeof(vals), f) == NULL)
			break;
		h = strtok_r(head, " \n", &hs);
		v = strtok_r(vals, " \n", &vs);
		while (h != NULL && v != NULL) {
			if (strcmp(h, "ActiveOpens") == 0) {
				n = strtol(v, NULL, 10);
				break;
			}
			h = strtok_r(NULL, " \n", &hs);
			v = strtok_r(NULL, " \n", &vs);
		}
		break;
	}
	fclose(f);
	return (n);
}

/* The CPU time of every watched process (each in each[]), summed. */
static double
watch_cpu_us(double *each)
{
	double sum = 0, c;
	int i;

	for (i = 0; i < opt.nwatch; i++) {
		if ((c = proc_cpu_us(opt.watch[i])) < 0)
			c = 0;
		each[i] = c;
		sum += c;
	}
	return (sum);
}

/* --- URL, requests ------------------------------------------------------- */

static void
parse_url(const char *url)
{
	char host[64];
	const char *p, *q;
	unsigned long port;
	size_t n;

	if (strncmp(url, "http://", 7) != 0)
		errx(2, "%s: only http:// URLs", url);
	p = url + 7;
	if ((q = strchr(p, ':')) == NULL || (n = (size_t)(q - p)) >= sizeof(host))
		errx(2, "%s: want http://HOST:PORT/PATH", url);
	memcpy(host, p, n);
	host[n] = '\0';
	port = strtoul(q + 1, (char **)&p, 10);
	if (port == 0 || port > 65535)
		errx(2, "%s: bad port", url);
	snprintf(opt.path, sizeof(opt.path), "%s", *p == '/' ? p : "/");
	snprintf(opt.hostport, sizeof(opt.hostport), "%s:%lu", host, port);
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	opt.sa.sin_family = AF_INET;
	opt.sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &opt.sa.sin_addr) != 1)
		errx(2, "%s: host must be an IPv4 address", url);
}

/* A whole POST, formatted once and sent as is for every call. */
static char *
req_format(const char *session, const char *body, size_t *lenp)
{
	char sid[SESSION_MAX + 32] = "";

	if (session != NULL && *session != '\0')
		snprintf(sid, sizeof(sid), "Mcp-Session-Id: %s\r\n"
		    "MCP-Protocol-Version: " PROTOCOL_VERSION "\r\n", session);
	return (xasprintf(lenp, "POST %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Accept: application/json, text/event-stream\r\n"
	    "Content-Type: application/json\r\n"
	    "%s"
	    "Content-Length: %zu\r\n"
	    "\r\n%s", opt.path, opt.hostport, sid, strlen(body), body));
}

/* The JSON-RPC body of the measured call. */
static char *
call_body(const char *tool)
{
	if (strcmp(opt.method, "tools/call") == 0)
		return (xasprintf(NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,"
		    "\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
		    "\"arguments\":%s}}", tool, opt.args));
	return (xasprintf(NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,"
	    "\"method\":\"%s\",\"params\":{}}", opt.method));
}

/* --- HTTP response parsing ----------------------------------------------- */

static void
resp_reset(struct resp *r)
{
	struct buf body = r->body;

	memset(r, 0, sizeof(*r));
	body.len = 0;
	r->body = body;
	r->clen = -1;
}

static int
hdr_is(const char *line, size_t n, const char *name)
{
	size_t k = strlen(name);

	return (n > k && strncasecmp(line, name, k) == 0 && line[k] == ':');
}

/* Value of a header line, without leading blanks, in a NUL-ended copy. */
static void
hdr_value(const char *line, size_t n, char *out, size_t outsz)
{
	const char *v = memchr(line, ':', n);
	size_t k;

	for (v++; v < line + n && (*v == ' ' || *v == '\t'); v++)
		;
	k = (size_t)(line + n - v);
	if (k >= outsz)
		k = outsz - 1;
	memcpy(out, v, k);
	out[k] = '\0';
}

static void
resp_header_line(struct resp *r, const char *line, size_t n)
{
	char v[SESSION_MAX];

	if (hdr_is(line, n, "content-length")) {
		hdr_value(line, n, v, sizeof(v));
		r->clen = strtol(v, NULL, 10);
	} else if (hdr_is(line, n, "transfer-encoding")) {
		hdr_value(line, n, v, sizeof(v));
		r->chunked = strcasestr(v, "chunked") != NULL;
	} else if (hdr_is(line, n, "content-type")) {
		hdr_value(line, n, v, sizeof(v));
		r->sse = strcasestr(v, "text/event-stream") != NULL;
	} else if (hdr_is(line, n, "mcp-session-id"))
		hdr_value(line, n, r->session, sizeof(r->session));
}

static int
resp_headers(struct resp *r, const struct buf *in)
{
	const char *p, *end, *eol;

	if (in->len < 4 ||
	    (end = memmem(in->p, in->len, "\r\n\r\n", 4)) == NULL)
		return (RESP_MORE);
	r->hdr_len = (size_t)(end - in->p) + 4;
	if (in->len < 12 || strncmp(in->p, "HTTP/1.", 7) != 0)
		return (RESP_BAD);
	r->status = atoi(in->p + 9);
	p = memchr(in->p, '\n', r->hdr_len);
	for (p++; p < end; p = eol + 2) {
		eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		resp_header_line(r, p, (size_t)(eol - p));
	}
	r->cpos = r->hdr_len;
	return (RESP_MORE);
}

/* End of a chunked body: the trailer block after the last chunk. */
static int
chunked_end(struct resp *r, const struct buf *in, size_t off)
{
	const char *e;

	if (in->len - off >= 2 && memcmp(in->p + off, "\r\n", 2) == 0) {
		r->msg_len = off + 2;
		return (RESP_DONE);
	}
	if ((e = memmem(in->p + off, in->len - off, "\r\n\r\n", 4)) == NULL)
		return (RESP_MORE);
	r->msg_len = (size_t)(e + 4 - in->p);
	return (RESP_DONE);
}

/* Decode the complete chunks received so far into r->body. */
static int
chunked_step(struct resp *r, const struct buf *in)
{
	const char *line, *crlf;
	char *endp;
	unsigned long size;
	size_t data;

	for (;;) {
		line = in->p + r->cpos;
		crlf = memmem(line, in->len - r->cpos, "\r\n", 2);
		if (crlf == NULL)
			return (RESP_MORE);
		size = strtoul(line, &endp, 16);
		if (endp == line)
			return (RESP_BAD);
		data = (size_t)(crlf + 2 - in->p);
		if (size == 0)
			return (chunked_end(r, in, data));
		if (in->len < data + size + 2)
			return (RESP_MORE);
		buf_add(&r->body, in->p + data, size);
		r->cpos = data + size + 2;
	}
}

/* One step of parsing; eof: the peer closed (ends an unframed body). */
static int
resp_step(struct resp *r, const struct buf *in, int eof)
{
	int rv;

	if (r->hdr_len == 0 && (rv = resp_headers(r, in)) != RESP_MORE)
		return (rv);
	if (r->hdr_len == 0)
		return (eof ? RESP_BAD : RESP_MORE);
	if (r->status == 204 || r->status == 304 || r->status / 100 == 1) {
		r->msg_len = r->hdr_len;
		return (RESP_DONE);
	}
	if (r->chunked)
		return (chunked_step(r, in));
	if (r->clen >= 0) {
		if (in->len < r->hdr_len + (size_t)r->clen)
			return (RESP_MORE);
		r->msg_len = r->hdr_len + (size_t)r->clen;
		return (RESP_DONE);
	}
	if (!eof)
		return (RESP_MORE);
	r->msg_len = in->len;
	return (RESP_DONE);
}

static const char *
resp_body(const struct resp *r, const struct buf *in, size_t *lenp)
{
	if (r->chunked) {
		*lenp = r->body.len;
		return (r->body.p ? r->body.p : "");
	}
	*lenp = r->msg_len - r->hdr_len;
	return (in->p + r->hdr_len);
}

/*
 * A call succeeded: HTTP 200 and a JSON-RPC result that is not a tool
 * error.  Substrings, not a parser: this runs for every call, and the
 * bench controls the arguments so no text can fake them.
 */
static int
resp_ok(const struct resp *r, const struct buf *in)
{
	const char *b;
	size_t n;

	if (r->status != 200)
		return (0);
	b = resp_body(r, in, &n);
	return (memmem(b, n, "\"result\"", 8) != NULL &&
	    memmem(b, n, "\"isError\":true", 14) == NULL &&
	    memmem(b, n, "\"isError\": true", 15) == NULL);
}

static struct json_object *
json_parse_len(const char *p, size_t n)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (n > INT_MAX || (tok = json_tokener_new()) == NULL)
		return (NULL);
	o = json_tokener_parse_ex(tok, p, (int)n);
	json_tokener_free(tok);
	return (o);
}

/* The JSON text of a response: the body, or the data of an SSE event. */
static struct json_object *
resp_json(const struct resp *r, const struct buf *in)
{
	struct buf data = { 0 };
	struct json_object *o;
	const char *b, *p, *e, *end;
	size_t n;

	b = resp_body(r, in, &n);
	if (!r->sse)
		return (json_parse_len(b, n));
	for (p = b, end = b + n; p < end; p = e + 1) {
		if ((e = memchr(p, '\n', (size_t)(end - p))) == NULL)
			e = end;
		if (e - p >= 5 && strncmp(p, "data:", 5) == 0)
			buf_add(&data, p + 5, (size_t)(e - p - 5));
	}
	o = data.len ? json_parse_len(data.p, data.len) : NULL;
	free(data.p);
	return (o);
}

/* --- blocking client (setup, and the one-connection modes) -------------- */

static int
tcp_connect(void)
{
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	/* Requests are one write each: never wait for Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&opt.sa, sizeof(opt.sa)) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += w;
		n -= (size_t)w;
	}
	return (0);
}

/*
 * Send one request and read its whole response (blocking).  The caller
 * reads r and in, then calls rt_done().
 */
static int
roundtrip(int fd, const char *req, size_t len, struct buf *in,
    struct resp *r)
{
	ssize_t n;
	int rv = RESP_MORE;

	resp_reset(r);
	if (write_all(fd, req, len) == -1)
		return (-1);
	while ((rv = resp_step(r, in, 0)) == RESP_MORE) {
		buf_reserve(in, READ_CHUNK);
		n = read(fd, in->p + in->len, in->cap - in->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			rv = n == 0 ? resp_step(r, in, 1) : RESP_BAD;
			break;
		}
		in->len += (size_t)n;
	}
	return (rv == RESP_DONE ? 0 : -1);
}

static void
rt_done(struct buf *in, struct resp *r)
{
	buf_consume(in, r->msg_len);
	resp_reset(r);
}

/* initialize + notifications/initialized; fills session (may stay ""). */
static int
session_open(int fd, char *session)
{
	static const char init[] = "{\"jsonrpc\":\"2.0\",\"id\":0,"
	    "\"method\":\"initialize\",\"params\":{\"protocolVersion\":\""
	    PROTOCOL_VERSION "\",\"capabilities\":{},\"clientInfo\":"
	    "{\"name\":\"mcp-mesh-loadgen\",\"version\":\"1\"}}}";
	static const char note[] = "{\"jsonrpc\":\"2.0\","
	    "\"method\":\"notifications/initialized\"}";
	struct buf in = { 0 };
	struct resp r = { 0 };
	char *req;
	size_t len;
	int rv = -1;

	req = req_format(NULL, init, &len);
	if (roundtrip(fd, req, len, &in, &r) == -1 || r.status != 200)
		goto out;
	snprintf(session, SESSION_MAX, "%s", r.session);
	rt_done(&in, &r);
	free(req);
	req = req_format(session, note, &len);
	if (roundtrip(fd, req, len, &in, &r) == -1 || r.status / 100 != 2)
		goto out;
	rv = 0;
out:
	free(req);
	free(in.p);
	free(r.body.p);
	return (rv);
}

static int
client_open(char *session)
{
	int fd;

	if ((fd = tcp_connect()) == -1)
		err(1, "connect %s", opt.hostport);
	if (session_open(fd, session) == -1)
		errx(1, "%s: MCP initialize failed", opt.hostport);
	return (fd);
}

/*
 * Pinning shows the two costs a hop can have: both ends on one CPU (the
 * wakeup is a context switch) or on two (it is an inter-processor
 * interrupt, and in a VM an exit to the hypervisor).  Unpinned, the
 * scheduler picks, as it does for the mesh.
 */
static void
pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == -1)
		warn("sched_setaffinity %d", cpu);
}

static void
print_pins(void)
{
	printf("\"cpu_self\":%d,\"cpu_peer\":%d,", opt.cpu_self, opt.cpu_peer);
}

/* --- mode latency --------------------------------------------------------- */

static void
run_latency(void)
{
	char session[SESSION_MAX], *req, *body;
	struct buf in = { 0 };
	struct resp r = { 0 };
	struct lat l = { 0 };
	uint64_t t0, t1;
	unsigned long errors = 0;
	size_t len;
	double c0;
	long i;
	int fd;

	pin(opt.cpu_self);
	fd = client_open(session);
	body = call_body(opt.targets[0]);
	req = req_format(session, body, &len);
	c0 = cpu_self_us();
	for (i = 0; i < opt.warmup + opt.n; i++) {
		t0 = now_ns();
		if (roundtrip(fd, req, len, &in, &r) == -1) {
			/* The server dropped us: count it, reconnect. */
			errors++;
			close(fd);
			fd = client_open(session);
			free(req);
			req = req_format(session, body, &len);
			in.len = 0;
			continue;
		}
		t1 = now_ns();
		if (!resp_ok(&r, &in))
			errors++;
		else if (i >= opt.warmup)
			lat_add(&l, t1 - t0);
		rt_done(&in, &r);
	}
	printf("{\"mode\":\"%s\",", opt.label);
	if (opt.cpu_self >= 0 || opt.cpu_peer >= 0)
		print_pins();
	printf("\"method\":\"%s\",\"tool\":\"%s\","
	    "\"errors\":%lu,\"client_cpu_us_per_call\":%.2f,", opt.method,
	    opt.targets[0], errors,
	    (cpu_self_us() - c0) / (double)(opt.warmup + opt.n));
	print_lat(&l);
	printf("}\n");
	close(fd);
}

/* --- mode list: tools/list, following nextCursor ------------------------ */

/* The cursor of the next page, or NULL; found without parsing. */
static char *
next_cursor(const char *b, size_t n)
{
	const char *p, *q;

	if ((p = memmem(b, n, "\"nextCursor\"", 12)) == NULL)
		return (NULL);
	p += 12;
	while (p < b + n && (*p == ' ' || *p == ':'))
		p++;
	if (p >= b + n || *p != '"')
		return (NULL);
	p++;
	if ((q = memchr(p, '"', (size_t)(b + n - p))) == NULL)
		return (NULL);
	return (strndup(p, (size_t)(q - p)));
}

static char *
list_req(const char *session, const char *cursor, size_t *lenp)
{
	char *body, *req;

	if (cursor == NULL)
		body = xasprintf(NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,"
		    "\"method\":\"tools/list\",\"params\":{}}");
	else
		body = xasprintf(NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,"
		    "\"method\":\"tools/list\",\"params\":{\"cursor\":\"%s\"}}",
		    cursor);
	req = req_format(session, body, lenp);
	free(body);
	return (req);
}

static size_t
count_tools(const struct resp *r, const struct buf *in)
{
	struct json_object *o, *res, *tools;
	size_t n = 0;

	if ((o = resp_json(r, in)) == NULL)
		return (0);
	if (json_object_object_get_ex(o, "result", &res) &&
	    json_object_object_get_ex(res, "tools", &tools))
		n = json_object_array_length(tools);
	json_object_put(o);
	return (n);
}

/*
 * One whole listing.  count: also parse each page and count the tools
 * (only on the untimed validation pass: parsing is the client's cost).
 */
static int
list_once(int fd, const char *session, size_t *tools, size_t *pages,
    size_t *bytes, int count)
{
	struct buf in = { 0 };
	struct resp r = { 0 };
	char *cursor = NULL, *req;
	size_t len, blen = 0;
	int rv = 0;

	*tools = *pages = *bytes = 0;
	do {
		req = list_req(session, cursor, &len);
		free(cursor);
		cursor = NULL;
		if (roundtrip(fd, req, len, &in, &r) == -1 ||
		    !resp_ok(&r, &in)) {
			rv = -1;
			free(req);
			break;
		}
		free(req);
		cursor = next_cursor(resp_body(&r, &in, &blen), blen);
		*bytes += blen;
		(*pages)++;
		if (count)
			*tools += count_tools(&r, &in);
		rt_done(&in, &r);
	} while (cursor != NULL);
	free(in.p);
	free(r.body.p);
	return (rv);
}

static void
run_list(void)
{
	char session[SESSION_MAX];
	struct lat l = { 0 };
	size_t tools, pages, bytes, t2, p2, b2;
	unsigned long errors = 0;
	uint64_t t0;
	long i;
	int fd;

	fd = client_open(session);
	if (list_once(fd, session, &tools, &pages, &bytes, 1) == -1)
		errx(1, "tools/list failed");
	for (i = 0; i < opt.warmup + opt.n; i++) {
		t0 = now_ns();
		if (list_once(fd, session, &t2, &p2, &b2, 0) == -1) {
			errors++;
			continue;
		}
		if (i >= opt.warmup)
			lat_add(&l, now_ns() - t0);
	}
	printf("{\"mode\":\"list\",\"tools\":%zu,\"pages\":%zu,\"bytes\":%zu,"
	    "\"errors\":%lu,", tools, pages, bytes, errors);
	print_lat(&l);
	printf("}\n");
	close(fd);
}

/* --- the closed-loop engine (throughput, recovery) ---------------------- */

static int		 epfd = -1;
static struct conn	*conns;
static struct tstat	 tstats[MAX_TARGETS];

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		err(1, "fcntl");
}

static void
ep_ctl(int op, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(epfd, op, c->fd, &ev) == -1)
		err(1, "epoll_ctl");
}

static void
conn_setup(struct conn *c, int i)
{
	char *body;
	int fd;

	c->target = i % opt.ntargets;
	if (opt.shared_session && i > 0) {
		/* The first connection's session, on a connection of its own. */
		memcpy(c->session, conns[0].session, sizeof(c->session));
		if ((fd = tcp_connect()) == -1)
			err(1, "connect %s", opt.hostport);
	} else
		fd = client_open(c->session);
	body = call_body(opt.targets[c->target]);
	c->req = req_format(c->session, body, &c->reqlen);
	free(body);
	set_nonblock(fd);
	c->fd = fd;
	resp_reset(&c->r);
	ep_ctl(EPOLL_CTL_ADD, c, EPOLLIN);
}

/* After the server dropped the connection: reconnect, same session. */
static void
conn_reopen(struct conn *c, uint64_t now)
{
	int fd;

	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->in.len = 0;
	c->want_out = 0;
	resp_reset(&c->r);
	c->state = C_WAIT;
	c->wake_at = now + RECONNECT_BACKOFF_MS * NSEC_PER_MSEC;
	if ((fd = tcp_connect()) == -1) {
		/* Keep a placeholder descriptor: retried at wake_at. */
		c->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return;
	}
	set_nonblock(fd);
	c->fd = fd;
	ep_ctl(EPOLL_CTL_ADD, c, EPOLLIN);
}

/* Write what the socket takes; EPOLLOUT only while some is left. */
static int
conn_write(struct conn *c)
{
	ssize_t w;

	while (c->sent < c->reqlen) {
		w = write(c->fd, c->req + c->sent, c->reqlen - c->sent);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			break;
		if (w == -1)
			return (-1);
		c->sent += (size_t)w;
	}
	if ((c->sent < c->reqlen) != c->want_out) {
		c->want_out = !c->want_out;
		ep_ctl(EPOLL_CTL_MOD, c, EPOLLIN | (c->want_out ? EPOLLOUT : 0));
	}
	return (0);
}

static int
conn_send(struct conn *c, uint64_t now)
{
	c->state = C_BUSY;
	c->sent = 0;
	c->t_start = now;
	return (conn_write(c));
}

/* Read; returns RESP_DONE with a parsed response, RESP_MORE, RESP_BAD. */
static int
conn_read(struct conn *c)
{
	ssize_t n;
	size_t avail;
	int rv, eof = 0;

	for (;;) {
		buf_reserve(&c->in, READ_CHUNK);
		avail = c->in.cap - c->in.len;
		n = read(c->fd, c->in.p + c->in.len, avail);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			eof = 1;
			break;
		}
		c->in.len += (size_t)n;
		/* A short read emptied the socket: save a read(2). */
		if ((size_t)n < avail)
			break;
	}
	rv = resp_step(&c->r, &c->in, eof);
	return (rv == RESP_MORE && eof ? RESP_BAD : rv);
}

struct window {
	uint64_t start;		/* measurement window */
	uint64_t end;
	uint64_t kill_at;	/* 0: no kill */
	uint64_t killed;	/* when it was sent */
	struct lat lat;
	uint64_t ok;
	uint64_t errors;
	uint64_t total;		/* all completions, warm-up included */
};

static void
account(struct window *w, struct conn *c, int ok, uint64_t now)
{
	struct tstat *t = &tstats[c->target];

	w->total++;
	if (now < w->start || now > w->end)
		return;
	if (!ok) {
		w->errors++;
		t->errors++;
		return;
	}
	w->ok++;
	t->ok++;
	lat_add(&w->lat, now - c->t_start);
	if (now - t->last_ok > t->max_gap)
		t->max_gap = now - t->last_ok;
	t->last_ok = now;
	if (w->killed && !t->recovered && c->t_start >= w->killed)
		t->recovered = now;
}

/* A response arrived or the connection failed: record, go again. */
static void
conn_complete(struct window *w, struct conn *c, int rv, uint64_t now)
{
	int ok = rv == RESP_DONE && resp_ok(&c->r, &c->in);

	account(w, c, ok, now);
	if (rv != RESP_DONE) {
		conn_reopen(c, now);
		return;
	}
	buf_consume(&c->in, c->r.msg_len);
	resp_reset(&c->r);
	if (!ok) {
		c->state = C_WAIT;
		c->wake_at = now + ERROR_BACKOFF_MS * NSEC_PER_MSEC;
		return;
	}
	if (now < w->end && conn_send(c, now) == -1)
		conn_reopen(c, now);
	else if (now >= w->end)
		c->state = C_WAIT;
}

static void
conn_event(struct window *w, struct conn *c, uint32_t ev)
{
	int rv;

	if (c->state != C_BUSY)
		return;
	if ((ev & EPOLLOUT) && conn_write(c) == -1) {
		conn_complete(w, c, RESP_BAD, now_ns());
		return;
	}
	if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0)
		return;
	if ((rv = conn_read(c)) != RESP_MORE)
		conn_complete(w, c, rv, now_ns());
}

/* Waiting connections whose time has come; the next deadline. */
static uint64_t
wake_due(struct window *w, uint64_t now, int *busy)
{
	uint64_t next = w->end + DRAIN_MS * NSEC_PER_MSEC;
	struct conn *c;
	int i;

	*busy = 0;
	for (i = 0; i < opt.conns; i++) {
		c = &conns[i];
		if (c->state == C_WAIT && now < w->end && c->wake_at <= now &&
		    conn_send(c, now) == -1)
			conn_reopen(c, now);
		if (c->state == C_BUSY)
			(*busy)++;
		else if (now < w->end && c->wake_at < next)
			next = c->wake_at;
	}
	if (w->kill_at && !w->killed && w->kill_at < next)
		next = w->kill_at;
	if (now < w->end && w->end < next)
		next = w->end;
	return (next);
}

static void
maybe_kill(struct window *w, uint64_t now)
{
	if (w->kill_at == 0 || w->killed || now < w->kill_at)
		return;
	if (kill(opt.kill_pid, SIGKILL) == -1)
		warn("kill %d", (int)opt.kill_pid);
	w->killed = now_ns();
}

/* Time to the deadline in ms for epoll_wait, rounded up. */
static int
ms_until(uint64_t t, uint64_t now)
{
	if (t <= now)
		return (0);
	return ((int)((t - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC));
}

struct mid {		/* what the watched processes did in the window */
	double	 cpu0, cpu1;
	double	 each0[MAX_WATCH], each1[MAX_WATCH];
	double	 self0, self1;
	long	 opens0, opens1;	/* TCP connections opened */
	long	 rss[MAX_WATCH];	/* VmRSS of each, mid-window */
	int	 started;
	int	 sampled;
	int	 ended;
};

static void
sample(struct window *w, struct mid *m, uint64_t now)
{
	int i;

	if (!m->started && now >= w->start) {
		m->started = 1;
		m->cpu0 = watch_cpu_us(m->each0);
		m->self0 = cpu_self_us();
		m->opens0 = tcp_active_opens();
	}
	if (!m->sampled && now >= w->start + (w->end - w->start) / 2) {
		m->sampled = 1;
		for (i = 0; i < opt.nwatch; i++)
			m->rss[i] = proc_rss_kb(opt.watch[i]);
	}
	if (!m->ended && now >= w->end) {
		m->ended = 1;
		m->cpu1 = watch_cpu_us(m->each1);
		m->self1 = cpu_self_us();
		m->opens1 = tcp_active_opens();
	}
}

static void
engine(struct window *w, struct mid *m)
{
	struct epoll_event evs[EPOLL_BATCH];
	uint64_t now, next, drain_end;
	int i, n, busy;

	now = now_ns();
	drain_end = w->end + DRAIN_MS * NSEC_PER_MSEC;
	for (i = 0; i < opt.conns; i++)
		if (conn_send(&conns[i], now) == -1)
			conn_reopen(&conns[i], now);
	for (;;) {
		now = now_ns();
		sample(w, m, now);
		maybe_kill(w, now);
		next = wake_due(w, now, &busy);
		if ((now >= w->end && busy == 0) || now >= drain_end)
			break;
		if (!m->started && w->start < next)
			next = w->start;
		if (!m->sampled && w->start + (w->end - w->start) / 2 < next)
			next = w->start + (w->end - w->start) / 2;
		n = epoll_wait(epfd, evs, EPOLL_BATCH, ms_until(next, now));
		if (n == -1 && errno != EINTR)
			err(1, "epoll_wait");
		for (i = 0; i < n; i++)
			conn_event(w, evs[i].data.ptr, evs[i].events);
	}
}

static void
engine_setup(struct window *w)
{
	uint64_t now;
	int i;

	if (opt.conns < 1 || opt.conns > MAX_CONNS)
		errx(2, "--conns: 1..%d", MAX_CONNS);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(1, "epoll_create1");
	conns = calloc((size_t)opt.conns, sizeof(*conns));
	if (conns == NULL)
		err(1, "calloc");
	for (i = 0; i < opt.conns; i++)
		conn_setup(&conns[i], i);
	now = now_ns();
	w->start = now + (uint64_t)opt.warmup_ms * NSEC_PER_MSEC;
	w->end = w->start + (uint64_t)opt.duration_ms * NSEC_PER_MSEC;
	for (i = 0; i < MAX_TARGETS; i++)
		tstats[i].last_ok = w->start;
}

static void
run_throughput(void)
{
	struct window w = { 0 };
	struct mid m = { 0 };
	double secs, wcpu;
	int i;

	engine_setup(&w);
	engine(&w, &m);
	secs = (double)(w.end - w.start) / NSEC_PER_SEC;
	wcpu = m.cpu1 - m.cpu0;
	printf("{\"mode\":\"throughput\",\"conns\":%d,\"sessions\":%d,"
	    "\"window_s\":%.3f,"
	    "\"calls\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"total_calls\":%"
	    PRIu64 ",\"calls_per_s\":%.1f,\"client_cpu_us_per_call\":%.2f,"
	    "\"watch_cpu_us\":%.0f,\"watch_cpu_us_per_call\":%.2f,",
	    opt.conns, opt.shared_session ? 1 : opt.conns, secs, w.ok,
	    w.errors, w.total, (double)w.ok / secs,
	    w.ok ? (m.self1 - m.self0) / (double)w.ok : -1, wcpu,
	    w.ok ? wcpu / (double)w.ok : -1);
	/* Per 1000 calls; our own reconnects (after errors) are in it too. */
	printf("\"tcp_opens_per_kcall\":%.2f,", w.ok && m.opens0 >= 0 &&
	    m.opens1 >= 0 ? (double)(m.opens1 - m.opens0) * 1000 /
	    (double)w.ok : -1);
	for (i = 0; i < opt.nwatch; i++)
		printf("\"watch%d_rss_kb\":%ld,\"watch%d_cpu_us_per_call\":%.2f,",
		    i, m.rss[i], i, w.ok ? (m.each1[i] - m.each0[i]) /
		    (double)w.ok : -1);
	print_lat(&w.lat);
	printf("}\n");
}

static double
ms_since(uint64_t t, uint64_t since)
{
	if (t == 0 || since == 0)
		return (-1);
	return ((double)(t - since) / NSEC_PER_MSEC);
}

/*
 * Target 0 is the tool of the peer whose worker is killed; the others
 * must not notice.  recover_ms: from the SIGKILL to the first success of
 * a call sent after it (so it was served by the new worker).
 */
static void
run_recovery(void)
{
	struct window w = { 0 };
	struct mid m = { 0 };
	uint64_t ocalls = 0, oerr = 0, ogap = 0;
	int i;

	if (opt.ntargets < 2)
		errx(2, "recovery: give the killed peer's tool and others");
	engine_setup(&w);
	if (opt.kill_pid > 0)
		w.kill_at = w.start + (uint64_t)opt.kill_at_ms * NSEC_PER_MSEC;
	engine(&w, &m);
	for (i = 1; i < opt.ntargets; i++) {
		ocalls += tstats[i].ok + tstats[i].errors;
		oerr += tstats[i].errors;
		if (tstats[i].max_gap > ogap)
			ogap = tstats[i].max_gap;
	}
	printf("{\"mode\":\"recovery\",\"conns\":%d,\"targets\":%d,"
	    "\"killed_pid\":%d,\"kill_ms\":%.1f,\"killed_calls\":%" PRIu64
	    ",\"killed_errors\":%" PRIu64 ",\"killed_recover_ms\":%.2f,"
	    "\"killed_max_gap_ms\":%.2f,\"others_calls\":%" PRIu64
	    ",\"others_errors\":%" PRIu64 ",\"others_max_gap_ms\":%.2f}\n",
	    opt.conns, opt.ntargets, (int)opt.kill_pid,
	    ms_since(w.killed, w.start), tstats[0].ok + tstats[0].errors,
	    tstats[0].errors, ms_since(tstats[0].recovered, w.killed),
	    (double)tstats[0].max_gap / NSEC_PER_MSEC, ocalls, oerr,
	    (double)ogap / NSEC_PER_MSEC);
}

/* --- floors: the physical cost of the mesh's hops ----------------------- */

static int
read_full(int fd, char *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		if ((r = read(fd, p, n)) == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return (-1);
		p += r;
		n -= (size_t)r;
	}
	return (0);
}

static void
socketpair_echo(int fd)
{
	char *b = xrealloc(NULL, (size_t)opt.size);

	while (read_full(fd, b, (size_t)opt.size) == 0)
		if (write_all(fd, b, (size_t)opt.size) == -1)
			break;
	_exit(0);
}

static void
run_floor_socketpair(void)
{
	struct lat l = { 0 };
	char *b;
	uint64_t t0;
	pid_t pid;
	long i;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		err(1, "socketpair");
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		close(sv[0]);
		pin(opt.cpu_peer);
		socketpair_echo(sv[1]);
	}
	pin(opt.cpu_self);
	close(sv[1]);
	b = calloc(1, (size_t)opt.size);
	for (i = 0; i < opt.warmup + opt.n; i++) {
		t0 = now_ns();
		if (write_all(sv[0], b, (size_t)opt.size) == -1 ||
		    read_full(sv[0], b, (size_t)opt.size) == -1)
			errx(1, "socketpair echo died");
		if (i >= opt.warmup)
			lat_add(&l, now_ns() - t0);
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	printf("{\"mode\":\"floor-socketpair\",\"size\":%d,", opt.size);
	print_pins();
	print_lat(&l);
	printf("}\n");
}

/* Bytes of the first complete request in the buffer, or 0. */
static size_t
req_complete(const struct buf *in)
{
	const char *hend, *h;
	size_t need;

	if (in->len == 0 ||
	    (hend = memmem(in->p, in->len, "\r\n\r\n", 4)) == NULL)
		return (0);
	need = (size_t)(hend + 4 - in->p);
	h = memmem(in->p, need, "\r\nContent-Length:", 17);
	if (h != NULL)
		need += (size_t)strtoul(h + 17, NULL, 10);
	return (in->len >= need ? need : 0);
}

/* The least an HTTP/1.1 server can do: answer every POST with a result. */
static void
floor_serve(int lfd)
{
	static const char ans[] = "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/json\r\nContent-Length: 36\r\n\r\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
	struct buf in = { 0 };
	size_t need;
	ssize_t n;
	int fd, one = 1;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(1);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (;;) {
		if ((need = req_complete(&in)) == 0) {
			buf_reserve(&in, READ_CHUNK);
			if ((n = read(fd, in.p + in.len, in.cap - in.len)) <= 0)
				_exit(0);
			in.len += (size_t)n;
			continue;
		}
		buf_consume(&in, need);
		if (write_all(fd, ans, sizeof(ans) - 1) == -1)
			_exit(0);
	}
}

static void
run_floor_http(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	char url[64];
	pid_t pid;
	int lfd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 1) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) == -1)
		err(1, "listen");
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		pin(opt.cpu_peer);
		floor_serve(lfd);
	}
	pin(opt.cpu_self);
	close(lfd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/mcp",
	    ntohs(sa.sin_port));
	parse_url(url);
	opt.method = "ping";
	opt.label = "floor-http";
	opt.targets[0] = "floor";
	opt.ntargets = 1;
	run_latency();
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* --- mode stamp ------------------------------------------------------------ */

static void
run_stamp(void)
{
	struct timespec ts;
	char line[8192];

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		clock_gettime(CLOCK_REALTIME, &ts);
		printf("%lld.%06ld %s", (long long)ts.tv_sec,
		    ts.tv_nsec / 1000, line);
	}
}

/* --- main -------------------------------------------------------------------- */

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen latency|throughput|list|recovery --url URL "
	    "[--tool NAME]...\n"
	    "           [--method M] [--args JSON] [--n N] [--warmup N] "
	    "[--conns C]\n"
	    "           [--duration-ms D] [--warmup-ms W] [--watch PID]...\n"
	    "           [--kill-pid PID] [--kill-at-ms T] [--shared-session]\n"
	    "       loadgen floor-http|floor-socketpair [--n N] [--size B] "
	    "[--cpus A,B]\n"
	    "       loadgen stamp\n");
	exit(2);
}

static long
num(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		errx(2, "%s: not a number in %ld..%ld", s, min, max);
	return (v);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "tool", required_argument, NULL, 't' },
		{ "method", required_argument, NULL, 'm' },
		{ "args", required_argument, NULL, 'a' },
		{ "n", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "conns", required_argument, NULL, 'c' },
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "warmup-ms", required_argument, NULL, 'W' },
		{ "watch", required_argument, NULL, 'p' },
		{ "kill-pid", required_argument, NULL, 'k' },
		{ "kill-at-ms", required_argument, NULL, 'K' },
		{ "size", required_argument, NULL, 's' },
		{ "cpus", required_argument, NULL, 'C' },
		{ "shared-session", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'u':
			parse_url(optarg);
			break;
		case 't':
			if (opt.ntargets == MAX_TARGETS)
				errx(2, "too many --tool");
			opt.targets[opt.ntargets++] = optarg;
			break;
		case 'm':
			opt.method = optarg;
			break;
		case 'a':
			opt.args = optarg;
			break;
		case 'n':
			opt.n = num(optarg, 1, LONG_MAX);
			break;
		case 'w':
			opt.warmup = num(optarg, 0, LONG_MAX);
			break;
		case 'c':
			opt.conns = (int)num(optarg, 1, MAX_CONNS);
			break;
		case 'd':
			opt.duration_ms = num(optarg, 1, LONG_MAX);
			break;
		case 'W':
			opt.warmup_ms = num(optarg, 0, LONG_MAX);
			break;
		case 'p':
			if (opt.nwatch == MAX_WATCH)
				errx(2, "too many --watch");
			opt.watch[opt.nwatch++] = (pid_t)num(optarg, 1, INT_MAX);
			break;
		case 'k':
			opt.kill_pid = (pid_t)num(optarg, 1, INT_MAX);
			break;
		case 'K':
			opt.kill_at_ms = num(optarg, 0, LONG_MAX);
			break;
		case 's':
			opt.size = (int)num(optarg, 1, 1 << 20);
			break;
		case 'S':
			opt.shared_session = 1;
			break;
		case 'C':
			if (sscanf(optarg, "%d,%d", &opt.cpu_self,
			    &opt.cpu_peer) != 2)
				errx(2, "--cpus SELF,PEER");
			break;
		default:
			usage();
		}
	}
	if (opt.ntargets == 0)
		opt.targets[opt.ntargets++] = "echo";
}

int
main(int argc, char **argv)
{
	const char *mode;

	if (argc < 2)
		usage();
	mode = argv[1];
	parse_args(argc - 1, argv + 1);
	/* A server closing on us must be an error count, not our death. */
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(mode, "stamp") == 0)
		run_stamp();
	else if (strcmp(mode, "floor-socketpair") == 0)
		run_floor_socketpair();
	else if (strcmp(mode, "floor-http") == 0)
		run_floor_http();
	else if (opt.sa.sin_family != AF_INET)
		errx(2, "--url is required");
	else if (strcmp(mode, "latency") == 0)
		run_latency();
	else if (strcmp(mode, "list") == 0)
		run_list();
	else if (strcmp(mode, "throughput") == 0)
		run_throughput();
	else if (strcmp(mode, "recovery") == 0)
		run_recovery();
	else
		usage();
	return (0);
}
