/*
 * The worker's life: HELLO, CONFIG, set-up, sandbox, then one loop that
 * waits on the supervisor's socket (WORKER_FD) and libcurl's sockets
 * together.  Everything from the supervisor goes through one dispatch
 * table; anything not in it, or not allowed yet, ends the worker with
 * EX_SOFTWARE (the supervisor is confused or lying; we do not guess).
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <grp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <json-c/json.h>

#include "jsonrpc.h"
#include "mesh-proto.h"
#include "msg.h"
#include "sandbox.h"
#include "util.h"
#include "worker.h"
#include "xmalloc.h"

struct worker_config	 worker_conf;
pid_t			 worker_ppid;

static struct msgbuf	 worker_mb;
static int		 worker_overflow;	/* a LOG did not fit */

struct worker_handler {
	uint16_t	 type;
	int		 after_ready;	/* refused before READY */
	void		(*fn)(struct msg *);
};

static void	 worker_loghook(int, const char *);
static void	 worker_hello(void);
static const char *worker_conf_str(struct json_object *, const char *,
		    size_t, int);
static long	 worker_conf_int(struct json_object *, const char *, long,
		    long, long);
static void	 worker_configure(void);
static void	 worker_drop_privileges(void);
static void	 worker_read(void);
static void	 worker_dispatch_supervisor(struct msg *);
static void	 worker_msg_request(struct msg *);
static void	 worker_msg_notify(struct msg *);
static void	 worker_msg_cancel(struct msg *);
static void	 worker_msg_ping(struct msg *);
static void	 worker_msg_shutdown(struct msg *);

static const struct worker_handler worker_handlers[] = {
	{ MSG_REQUEST,		1, worker_msg_request },
	{ MSG_NOTIFY_DOWN,	1, worker_msg_notify },
	{ MSG_CANCEL,		1, worker_msg_cancel },
	{ MSG_PING,		0, worker_msg_ping },
	{ MSG_SHUTDOWN,		0, worker_msg_shutdown },
};

/*
 * At any exit, fatal() included (out of memory under RLIMIT_AS): the
 * last LOG lines say why, so send what is queued, best effort.
 */
static void
worker_flush(void)
{
	if (worker_mb.fd == WORKER_FD && msg_queued(&worker_mb) > 0)
		msg_write(&worker_mb);
}

/* Free everything (leak checkers watch clean exits) and go. */
__dead void
worker_exit(int status)
{
	upstream_free();
	worker_flush();
	log_sethook(NULL);
	msgbuf_clear(&worker_mb);
	free(worker_conf.name);
	free(worker_conf.url);
	free(worker_conf.node_name);
	free(worker_conf.mesh_version);
	memset(&worker_conf, 0, sizeof(worker_conf));
	exit(status);
}

/*
 * Queue one message for the supervisor.  A full queue means it stopped
 * reading: nothing sensible is left to do.
 */
void
worker_send(uint16_t type, uint64_t id, const void *buf, size_t len)
{
	if (msg_compose(&worker_mb, type, 0, id, buf, len) == 0)
		return;
	log_sethook(NULL);	/* to stderr: the socket is the problem */
	log_warn("message %u for the supervisor", type);
	worker_exit(EX_SOFTWARE);
}

void
worker_send_reason(uint16_t type, uint64_t id, const char *reason)
{
	struct json_object	*o;
	const char		*s;
	size_t			 len;

	o = json_object_new_object();
	json_object_object_add(o, "reason", json_object_new_string(reason));
	s = jsonrpc_string(o, &len);
	worker_send(type, id, s, len);
	json_object_put(o);
}

/* Tell the supervisor why we cannot go on, then exit with that status. */
__dead void
worker_fail(int status, const char *fmt, ...)
{
	struct json_object	*o;
	va_list			 ap;
	char			 reason[WORKER_REASON_MAX];
	const char		*s;
	size_t			 len;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_debug("failing: %s", reason);
	o = json_object_new_object();
	json_object_object_add(o, "reason", json_object_new_string(reason));
	json_object_object_add(o, "exit", json_object_new_int(status));
	s = jsonrpc_string(o, &len);
	if (msg_compose(&worker_mb, MSG_FAIL, 0, 0, s, len) == 0)
		msg_send_blocking(&worker_mb);
	json_object_put(o);
	worker_exit(status);
}

/*
 * fatal() is about to exit (out of memory under RLIMIT_AS, most likely):
 * its line also goes as FAIL, sent at once, so the supervisor gives it as
 * the cause to every request in flight.  The text is built on the stack;
 * bytes that are not printable ASCII become '?' so the JSON is valid
 * whatever the line.  Queueing it may itself fail for want of memory
 * (that fatal() finds worker_in_hook set and only exits).
 */
static void
worker_fatal_reason(const char *line)
{
	char	buf[WORKER_LOG_LINE_MAX + 64];
	size_t	o, i;
	int	n;

	o = strlcpy(buf, "{\"reason\":\"", sizeof(buf));
	for (i = 0; line[i] != '\0' && o + 32 < sizeof(buf); i++) {
		if (line[i] == '"' || line[i] == '\\')
			buf[o++] = '\\';
		buf[o++] = (line[i] >= ' ' && line[i] < 0x7f) ? line[i] : '?';
	}
	n = snprintf(buf + o, sizeof(buf) - o, "\",\"exit\":1}");
	if (msg_compose(&worker_mb, MSG_FAIL, 0, 0, buf, o + (size_t)n) == 0)
		msg_send_blocking(&worker_mb);
}

/* Every log line goes to the supervisor as LOG: "<digit><text>". */
static void
worker_loghook(int level, const char *line)
{
	static int	worker_in_hook;
	char		buf[WORKER_LOG_LINE_MAX];
	size_t		len;

	if (worker_in_hook)
		return;		/* fatal() from inside: just let it exit */
	worker_in_hook = 1;
	if (level < 0 || level > 7)
		level = LOG_LVL_WARNING;
	buf[0] = '0' + level;
	len = strlcpy(buf + 1, line, sizeof(buf) - 1);
	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	if (msg_compose(&worker_mb, MSG_LOG, 0, 0, buf, len + 1) == -1)
		worker_overflow = 1;	/* no logging from here */
	if (level == LOG_LVL_ERR)	/* only fatal() logs at this level */
		worker_fatal_reason(line);
	worker_in_hook = 0;
}

static void
worker_hello(void)
{
	char	buf[64];
	int	n;

	n = snprintf(buf, sizeof(buf), "{\"version\":%d,\"pid\":%ld}",
	    MESH_PROTO_VERSION, (long)getpid());
	if (msg_compose(&worker_mb, MSG_HELLO, 0, 0, buf, (size_t)n) == -1 ||
	    msg_send_blocking(&worker_mb) == -1) {
		log_warn("HELLO");
		worker_exit(EX_SOFTWARE);
	}
}

/* A string member; NULL (and the caller fails) if missing or bad. */
static const char *
worker_conf_str(struct json_object *o, const char *key, size_t max,
    int required)
{
	struct json_object	*v;
	const char		*s;

	if (!json_object_object_get_ex(o, key, &v))
		return (required ? NULL : "");
	if (!json_object_is_type(v, json_type_string))
		return (NULL);
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) > max ||
	    strlen(s) != (size_t)json_object_get_string_len(v))
		return (NULL);
	return (s);
}

/* An integer member in [min, max]; def if missing, -1 if bad. */
static long
worker_conf_int(struct json_object *o, const char *key, long def, long min,
    long max)
{
	struct json_object	*v;
	int64_t			 n;

	if (!json_object_object_get_ex(o, key, &v))
		return (def);
	if (!json_object_is_type(v, json_type_int))
		return (-1);
	n = json_object_get_int64(v);
	if (n < min || n > max)
		return (-1);
	return ((long)n);
}

/* CONFIG is the answer to HELLO and the only source of configuration. */
static void
worker_configure(void)
{
	struct json_object	*o, *v;
	struct msg		 m;
	const char		*why, *name, *url, *node, *ver;
	char			 proc[16 + PEER_NAME_MAX];
	size_t			 i;
	int			 badname;

	if (msg_recv_blocking(&worker_mb, &m, WORKER_CONFIG_TIMEOUT_MS) != 1) {
		log_warn("no CONFIG from the supervisor");
		worker_exit(EX_SOFTWARE);
	}
	if (m.hdr.type != MSG_CONFIG) {
		log_warnx("message %u instead of CONFIG", m.hdr.type);
		worker_exit(EX_SOFTWARE);
	}
	if ((o = jsonrpc_parse(m.data, m.hdr.len, JSON_DEPTH_MAX, &why)) ==
	    NULL || !json_object_is_type(o, json_type_object))
		worker_fail(EX_CONFIG, "CONFIG is not a JSON object: %s",
		    o == NULL ? why : "wrong type");
	name = worker_conf_str(o, "name", PEER_NAME_MAX, 1);
	url = worker_conf_str(o, "url", PEER_URL_MAX, 1);
	node = worker_conf_str(o, "node_name", NODE_NAME_MAX, 0);
	ver = worker_conf_str(o, "mesh_version", 32, 0);
	if (name == NULL || *name == '\0' || url == NULL || node == NULL ||
	    ver == NULL) {
		json_object_put(o);
		worker_fail(EX_CONFIG, "CONFIG lacks name or url, or has a bad "
		    "string");
	}
	for (i = 0; name[i] != '\0'; i++)
		if (!islower((unsigned char)name[i]) &&
		    !isdigit((unsigned char)name[i]) && name[i] != '-')
			break;
	badname = name[i] != '\0';
	worker_conf.name = xstrdup(badname ? "peer" : name);
	worker_conf.url = xstrdup(url);
	worker_conf.node_name = xstrdup(node);
	worker_conf.mesh_version = xstrdup(*ver != '\0' ? ver : PACKAGE_VERSION);
	/* A day is already absurd for one call. */
	worker_conf.request_timeout_ms = worker_conf_int(o, "request_timeout_ms",
	    REQUEST_TIMEOUT_MS, 1, 24 * 3600 * 1000);
	worker_conf.connect_timeout_ms = worker_conf_int(o, "connect_timeout_ms",
	    UPSTREAM_CONNECT_TIMEOUT_MS, 1, 24 * 3600 * 1000);
	worker_conf.response_max = worker_conf_int(o, "response_max",
	    UPSTREAM_RESPONSE_MAX, UPSTREAM_RESPONSE_MIN, UPSTREAM_RESPONSE_CAP);
	worker_conf.memory_mb = worker_conf_int(o, "memory_mb",
	    WORKER_MEMORY_MB, 0, WORKER_MEMORY_MB_CAP);
	/* -2: absent (keep ours); -1 stays "bad". */
	worker_conf.uid = worker_conf_int(o, "uid", -2, 1, UINT32_MAX - 1);
	worker_conf.gid = worker_conf_int(o, "gid", -2, 1, UINT32_MAX - 1);
	if (json_object_object_get_ex(o, "sandbox_debug", &v))
		worker_conf.sandbox_debug = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "verbose", &v))
		worker_conf.verbose = json_object_get_int(v) != 0;
	json_object_put(o);

	if (badname)
		worker_fail(EX_CONFIG, "bad peer name in CONFIG");
	if (strncasecmp(worker_conf.url, "http://", 7) != 0 &&
	    strncasecmp(worker_conf.url, "https://", 8) != 0)
		worker_fail(EX_CONFIG, "URL must be http:// or https://");
	if (worker_conf.request_timeout_ms == -1 ||
	    worker_conf.connect_timeout_ms == -1)
		worker_fail(EX_CONFIG, "bad timeout in CONFIG");
	if (worker_conf.response_max == -1 || worker_conf.memory_mb == -1 ||
	    worker_conf.uid == -1 || worker_conf.gid == -1 ||
	    (worker_conf.uid == -2) != (worker_conf.gid == -2))
		worker_fail(EX_CONFIG, "bad limit or user in CONFIG");
	log_init(worker_conf.verbose);
	snprintf(proc, sizeof(proc), "worker:%s", worker_conf.name);
	log_procinit(proc);
	log_sethook(worker_loghook);
}

/*
 * Started by a supervisor running as root: become the user it names
 * before anything else happens (set-up included: the resolver talks to
 * the network).  Without a user in CONFIG a root worker refuses to run.
 */
static void
worker_drop_privileges(void)
{
	gid_t	gid = (gid_t)worker_conf.gid;
	uid_t	uid = (uid_t)worker_conf.uid;

	if (worker_conf.uid == -2) {
		if (geteuid() == 0 || getuid() == 0)
			worker_fail(EX_CONFIG, "running as root and CONFIG "
			    "names no user to become");
		return;
	}
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		worker_fail(EX_NOPERM, "cannot become uid %lu gid %lu: %s",
		    (unsigned long)uid, (unsigned long)gid, strerror(errno));
	/* Be sure there is no way back. */
	if (setuid(0) != -1 || geteuid() == 0)
		worker_fail(EX_SOFTWARE, "could get root back after dropping it");
}

static void
worker_msg_request(struct msg *m)
{
	if (m->hdr.len == 0 || m->hdr.id == 0) {
		log_warnx("REQUEST without payload or id");
		worker_exit(EX_SOFTWARE);
	}
	upstream_request(m->hdr.id, m->data, m->hdr.len);
}

static void
worker_msg_notify(struct msg *m)
{
	if (m->hdr.len == 0) {
		log_warnx("NOTIFY_DOWN without payload");
		worker_exit(EX_SOFTWARE);
	}
	upstream_notify(m->data, m->hdr.len);
}

static void
worker_msg_cancel(struct msg *m)
{
	upstream_cancel(m->hdr.id);
}

static void
worker_msg_ping(struct msg *m)
{
	worker_send(MSG_PONG, m->hdr.id, NULL, 0);
}

static void
worker_msg_shutdown(struct msg *m)
{
	log_debug("shutting down");
	upstream_shutdown();
	worker_exit(EX_OK);
}

static void
worker_dispatch_supervisor(struct msg *m)
{
	size_t	i;

	for (i = 0; i < sizeof(worker_handlers) / sizeof(*worker_handlers);
	    i++) {
		if (worker_handlers[i].type != m->hdr.type)
			continue;
		if (worker_handlers[i].after_ready && !upstream_ready())
			break;
		worker_handlers[i].fn(m);
		return;
	}
	log_warnx("unexpected message %u from the supervisor%s", m->hdr.type,
	    i < sizeof(worker_handlers) / sizeof(*worker_handlers) ?
	    " before READY" : "");
	worker_exit(EX_SOFTWARE);
}

static void
worker_read(void)
{
	struct msg	m;
	long		n;
	int		r;

	if ((n = msg_read(&worker_mb)) == 0)
		worker_exit(EX_OK);	/* the supervisor is gone */
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		worker_exit(EX_OK);
	}
	while ((r = msg_get(&worker_mb, &m)) == 1)
		worker_dispatch_supervisor(&m);
	if (r == -1) {
		log_warn("malformed frame from the supervisor");
		worker_exit(EX_SOFTWARE);
	}
}

__dead void
worker_loop(void)
{
	struct curl_waitfd	 wfd;
	CURLMcode		 mc;
	int			 n;

	for (;;) {
		if (worker_overflow) {
			log_sethook(NULL);
			log_warnx("supervisor is not reading: exiting");
			worker_exit(EX_SOFTWARE);
		}
		wfd.fd = WORKER_FD;
		wfd.events = CURL_WAIT_POLLIN;
		wfd.revents = 0;
		if (msg_queued(&worker_mb) > 0)
			wfd.events |= CURL_WAIT_POLLOUT;
		mc = curl_multi_poll(upstream_multi(), &wfd, 1,
		    upstream_timeout(), &n);
		if (mc != CURLM_OK)
			worker_fail(EX_SOFTWARE, "curl_multi_poll: %s",
			    curl_multi_strerror(mc));
		if (wfd.revents & CURL_WAIT_POLLIN)
			worker_read();
		upstream_run();
		sandbox_report();
		/* Write at once: waiting for POLLOUT costs a loop turn. */
		if (msg_queued(&worker_mb) > 0 && msg_write(&worker_mb) == -1)
			worker_exit(EX_OK);	/* EPIPE: supervisor gone */
	}
}

/*
 * Everything before the loop; the sandbox goes up last, before the first
 * byte from the gateway.  tests/sandbox/ runs this too, then tries what
 * the sandbox must refuse.
 */
void
worker_setup(void)
{
	struct sandbox_policy	pol;

	worker_ppid = getppid();
	/*
	 * The supervisor closed the rest already; be sure, and do it now:
	 * curl_multi_init() opens its own wake-up descriptors, so it cannot
	 * wait for the sandbox.
	 */
	closefrom(WORKER_FD + 1);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	log_init(0);
	log_procinit("worker");
	if (fcntl(WORKER_FD, F_GETFD) == -1) {
		log_warn("descriptor %d (the supervisor's socket)", WORKER_FD);
		exit(EX_SOFTWARE);
	}
	if (fd_nonblock(WORKER_FD) == -1 || fd_cloexec(WORKER_FD, 1) == -1) {
		log_warn("descriptor %d", WORKER_FD);
		exit(EX_SOFTWARE);
	}
	msgbuf_init(&worker_mb, WORKER_FD, MSG_QUEUE_MAX);
	atexit(worker_flush);
	worker_hello();
	worker_configure();
	worker_drop_privileges();
	upstream_init();
	memset(&pol, 0, sizeof(pol));
	pol.port = upstream_port();
	pol.memory_bytes = (uint64_t)worker_conf.memory_mb * 1024 * 1024;
	pol.debug = worker_conf.sandbox_debug;
	sandbox_enter(&pol);
}

int
worker_main(void)
{
	worker_setup();
	upstream_start();
	worker_loop();
}
