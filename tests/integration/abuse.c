/*
 * Helpers of the load and abuse tests; see abuse.h.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <curl/curl.h>

#include "mesh-limits.h"
#include "integration/abuse.h"
#include "integration/logtext.h"

/* --- the healthy client -------------------------------------------------- */

/* A failure counted, the first one kept. */
#define bg_failed(b, ...) do {						\
	(b)->fail++;							\
	first_err((b)->firsterr, sizeof((b)->firsterr), __VA_ARGS__);	\
} while (0)

static void *
bg_main(void *arg)
{
	struct bg		*b = arg;
	struct mcp_client	 c;
	struct http_resp	 r;
	char			 args[96], want[64];
	const char		*text;
	uint64_t		 ms;
	int			 id;

	if (mcp_open(&c, b->url) == -1) {
		bg_failed(b, "background: MCP session to %s failed", b->url);
		return (NULL);
	}
	while (!atomic_load(&b->stop)) {
		id = c.nextid++;
		snprintf(want, sizeof(want), "healthy %d", id);
		snprintf(args, sizeof(args), "{\"text\":\"%s\"}", want);
		ms = mcp_call_id(&c, id, b->tool, args, ABUSE_HTTP_WAIT_MS, &r);
		if (ms > b->maxms)
			b->maxms = ms;
		text = tool_text(json_path(r.json, "result"));
		if (r.curlcode != 0 || r.status != 200 || r.json == NULL)
			bg_failed(b, "%s #%d: no answer after %llu ms (curl %d, "
			    "HTTP %ld): %.300s", b->tool, id,
			    (unsigned long long)ms, r.curlcode, r.status,
			    r.body ? r.body : "");
		else if (!answer_id_is(&r, id) || answer_is_error(&r) ||
		    text == NULL || strcmp(text, want) != 0)
			bg_failed(b, "%s #%d after %llu ms: %.500s", b->tool, id,
			    (unsigned long long)ms, r.body);
		else {
			b->ok++;
			if (b->nlat < BG_LAT_MAX)
				b->lat[b->nlat++] = (uint32_t)ms;
		}
		http_resp_free(&r);
		if (b->pause_ms > 0)
			harness_msleep(b->pause_ms);
	}
	mcp_close(&c);
	return (NULL);
}

void
bg_start(struct bg *b, const char *url, const char *tool, int pause_ms)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->url, sizeof(b->url), "%s", url);
	snprintf(b->tool, sizeof(b->tool), "%s", tool);
	b->pause_ms = pause_ms;
	b->lat = calloc(BG_LAT_MAX, sizeof(*b->lat));
	cr_assert_not_null(b->lat);
	atomic_store(&b->stop, 0);
	cr_assert_eq(pthread_create(&b->thread, NULL, bg_main, b), 0);
	b->running = 1;
}

void
bg_stop(struct bg *b)
{
	if (!b->running)
		return;
	atomic_store(&b->stop, 1);
	pthread_join(b->thread, NULL);
	b->running = 0;
	cr_log_info("%s in the background: %ld ok, %ld failed, p50 %u ms, "
	    "p99 %u ms, slowest %llu ms", b->tool, b->ok, b->fail,
	    bg_percentile(b, 50), bg_percentile(b, 99),
	    (unsigned long long)b->maxms);
}

static int
u32cmp(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x < y ? -1 : x > y);
}

uint32_t
bg_percentile(struct bg *b, int p)
{
	long	i;

	if (b->nlat == 0)
		return (UINT32_MAX);
	qsort(b->lat, (size_t)b->nlat, sizeof(*b->lat), u32cmp);
	i = (b->nlat - 1) * p / 100;
	return (b->lat[i]);
}

/* The worker pid of a ready peer, else -1; its state copied out. */
pid_t
peer_pid_state(struct mcp_client *c, const char *peer, char *state,
    size_t len)
{
	struct json_object	*info;
	const char		*s = NULL;
	pid_t			 pid;

	if (state != NULL && len > 0)
		state[0] = '\0';
	if ((info = node_info(c)) == NULL)
		return (-1);
	pid = node_peer_pid(info, peer, &s);
	if (s != NULL && state != NULL)
		snprintf(state, len, "%s", s);
	json_object_put(info);
	return (pid);
}

/* --- big calls ----------------------------------------------------------- */

char *
big_call_body(int id, const char *tool, size_t len, size_t *bodylen)
{
	char	 head[256];
	char	*body;
	size_t	 hlen, i;
	int	 n;

	n = snprintf(head, sizeof(head), "{\"jsonrpc\":\"2.0\",\"id\":%d,"
	    "\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
	    "\"arguments\":{\"text\":\"", id, tool);
	hlen = (size_t)n;
	body = malloc(hlen + len + 8);
	cr_assert_not_null(body);
	memcpy(body, head, hlen);
	/* The call's id first, so an answer to another call would show. */
	n = snprintf(body + hlen, 16, "%08d", id);
	for (i = (size_t)n; i < len; i++)
		body[hlen + i] = 'a' + (char)(i % 26);
	memcpy(body + hlen + len, "\"}}}", 5);
	*bodylen = hlen + len + 4;
	return (body);
}

int
big_text_ok(const char *text, size_t len)
{
	size_t	 i;

	if (text == NULL || strlen(text) != len)
		return (0);
	for (i = 8; i < len; i++)
		if (text[i] != 'a' + (char)(i % 26))
			return (0);
	return (1);
}

/* --- HTTP without parsing the answer -------------------------------------- */

struct rawx {
	CURL			*h;
	struct curl_slist	*hdrs;
	struct http_resp	*r;
	size_t			 cap;
};

static size_t
rawx_body(char *ptr, size_t sz, size_t nmemb, void *arg)
{
	struct rawx	*x = arg;
	size_t		 n = sz * nmemb;

	if (x->r->len + n + 1 > x->cap) {
		while (x->r->len + n + 1 > x->cap)
			x->cap = x->cap ? x->cap * 2 : 65536;
		if ((x->r->body = realloc(x->r->body, x->cap)) == NULL)
			abort();
	}
	memcpy(x->r->body + x->r->len, ptr, n);
	x->r->len += n;
	x->r->body[x->r->len] = '\0';
	return (n);
}

void
http_perform_raw(struct http_req *q, struct http_resp *r, int n)
{
	http_perform_paced(q, r, n, n, 0);
}

/*
 * The same, started step at a time every step_ms: a thousand connects
 * at once overflow the server's listen backlog, and a dropped SYN is
 * retried only after a second.
 */
void
http_perform_paced(struct http_req *q, struct http_resp *r, int n, int step,
    int step_ms)
{
	CURLM		*m;
	CURLMsg		*msg;
	struct rawx	*x, *xp;
	uint64_t	 next = 0;
	int		 i, j, running, left, added = 0;

	x = calloc((size_t)n, sizeof(*x));
	if (x == NULL || (m = curl_multi_init()) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		x[i].r = &r[i];
		x[i].h = curl_easy_init();
		curl_easy_setopt(x[i].h, CURLOPT_URL, q[i].url);
		curl_easy_setopt(x[i].h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(x[i].h, CURLOPT_NOPROXY, "*");
		curl_easy_setopt(x[i].h, CURLOPT_TIMEOUT_MS,
		    q[i].timeout_ms > 0 ? q[i].timeout_ms : 10000L);
		curl_easy_setopt(x[i].h, CURLOPT_WRITEFUNCTION, rawx_body);
		curl_easy_setopt(x[i].h, CURLOPT_WRITEDATA, &x[i]);
		curl_easy_setopt(x[i].h, CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(x[i].h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(q[i].bodylen > 0 ? q[i].bodylen :
		    strlen(q[i].body)));
		curl_easy_setopt(x[i].h, CURLOPT_POSTFIELDS, q[i].body);
		for (j = 0; j < 16 && q[i].headers[j] != NULL; j++)
			x[i].hdrs = curl_slist_append(x[i].hdrs,
			    q[i].headers[j]);
		curl_easy_setopt(x[i].h, CURLOPT_HTTPHEADER, x[i].hdrs);
		curl_easy_setopt(x[i].h, CURLOPT_PRIVATE, &x[i]);
	}
	do {
		if (added < n && now_ms() >= next) {
			for (i = 0; i < step && added < n; i++)
				curl_multi_add_handle(m, x[added++].h);
			next = now_ms() + (uint64_t)step_ms;
		}
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&xp);
			xp->r->curlcode = (int)msg->data.result;
		}
		if (running > 0 || added < n)
			curl_multi_poll(m, NULL, 0, added < n ? step_ms : 100,
			    NULL);
	} while (running > 0 || added < n);
	for (i = 0; i < n; i++) {
		curl_easy_getinfo(x[i].h, CURLINFO_RESPONSE_CODE, &r[i].status);
		curl_multi_remove_handle(m, x[i].h);
		curl_slist_free_all(x[i].hdrs);
		curl_easy_cleanup(x[i].h);
	}
	curl_multi_cleanup(m);
	free(x);
}

/* --- raw TCP ------------------------------------------------------------- */

int
tcp_connect(int port)
{
	return (tcp_connect_rcvbuf(port, 0));
}

int
tcp_connect_rcvbuf(int port, int rcvbuf)
{
	struct sockaddr_in	sin;
	int			fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	/* Before connect: the window offered is set from it. */
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

char *
tcp_read_all(int fd, int timeout_ms, size_t *lenp)
{
	struct pollfd	 pfd;
	uint64_t	 deadline = now_ms() + (uint64_t)timeout_ms;
	char		*buf = NULL;
	size_t		 len = 0, cap = 0;
	ssize_t		 n;
	int64_t		 left;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			cr_assert_not_null(buf);
		}
		left = (int64_t)(deadline - now_ms());
		if (left <= 0)
			break;
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

/* --- /proc ---------------------------------------------------------------- */

long
proc_hwm_kb(pid_t pid)
{
	char	line[256];

	if (proc_file_line(pid, "status", "VmHWM:", line, sizeof(line)) ==
	    NULL)
		return (-1);
	return (strtol(line + 6, NULL, 10));
}

/* The peak RSS starts again from the current RSS (Linux 4.0). */
int
proc_hwm_reset(pid_t pid)
{
	char	path[64];
	int	fd, ok;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	if ((fd = open(path, O_WRONLY)) == -1)
		return (-1);
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return (ok ? 0 : -1);
}

uint64_t
proc_cpu_ms(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	FILE			*f;
	unsigned long long	 ut = 0, st = 0;
	long			 hz = sysconf(_SC_CLK_TCK);
	int			 i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return (0);
	/* Fields after the name: state is 3, utime 14, stime 15. */
	for (i = 3; i <= 14 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p, " %llu %llu", &ut, &st) != 2)
		return (0);
	return ((ut + st) * 1000 / (unsigned long long)(hz > 0 ? hz : 100));
}

int
proc_nofile(pid_t pid, long *soft, long *hard)
{
	char	line[256];

	if (proc_file_line(pid, "limits", "Max open files", line,
	    sizeof(line)) == NULL)
		return (-1);
	return (sscanf(line + strlen("Max open files"), " %ld %ld", soft,
	    hard) == 2 ? 0 : -1);
}

/* --- programs -------------------------------------------------------------- */

/*
 * f: a gateway NAME (with --tools TOOLS unless NULL), a mesh bridging it,
 * the peer ready, a session.
 */
void
one_peer(struct fixture *f, const char *name, const char *tools)
{
	fixture_init(f);
	if (tools != NULL)
		fixture_peer_gateway(f, name, "--tools", tools, NULL);
	else
		fixture_peer_gateway(f, name, NULL);
	harness_asan_small_quarantine();
	/* Whole lists in one answer (no pages): the worst case. */
	fixture_start(f, 0, "--page-size", "0", NULL);
	f->c.wait_ms = ABUSE_HTTP_WAIT_MS;
}

/* The connection cap the mesh logged ("listening on ... (N connections)"). */
int
mesh_conn_cap(struct proc *mesh)
{
	char	*line, *p;
	int	 cap = HTTP_CONNECTIONS_MAX;

	line = proc_log_find(mesh, LOG_HTTP_LISTENING);
	cr_assert_not_null(line, "no \"%s\" in the log", LOG_HTTP_LISTENING);
	if ((p = strstr(line, "(")) != NULL)
		cap = atoi(p + 1);
	free(line);
	return (cap);
}

void
nofile_raise(void)
{
	struct rlimit	rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

