/*
 * The worker's channel to the supervisor (WORKER_FD): framed messages
 * both ways, the dispatch table of what the supervisor may send, and the
 * log hook that turns every log line into a LOG message.  Anything from
 * the supervisor that is not in the table, or not allowed yet, ends the
 * worker with EX_SOFTWARE (the supervisor is confused or lying; we do
 * not guess).
 *
 * Named sup_* so that worker_* means one thing in the tree: the
 * supervisor's view of a worker (supervisor/worker.c).
 */
#include <sys/types.h>

#include <errno.h>
#include <poll.h>
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
#include "util.h"
#include "worker.h"

struct sup_handler {
	uint16_t	 type;
	int		 after_ready;	/* refused before READY */
	void		(*fn)(struct msg *);
};

/* See WORKER_UPQUEUE_MAX: one producer's worst case fits above HIGH. */
_Static_assert(WORKER_UPQUEUE_SLACK >= 3 * UPSTREAM_WRITE_MAX +
    2 * (WORKER_REASON_MAX + MSG_HDR_SIZE) + WORKER_LOG_LINE_MAX +
    MSG_BUF_KEEP, "WORKER_UPQUEUE_SLACK too small");
_Static_assert(MSG_HDR_SIZE == 16, "WORKER_UPQUEUE_MAX counts a header");
_Static_assert(WORKER_UPQUEUE_LOW < WORKER_UPQUEUE_HIGH, "no hysteresis");

static struct msgbuf	 sup_mb;
static int		 sup_overflow;	/* a LOG did not fit */
static int		 sup_full;	/* above HIGH, not yet below LOW */
static uint64_t		 sup_full_since;
static unsigned long	 sup_dropped;	/* log lines, while full */

static void	 sup_flush(void);
static void	 sup_fatal_reason(const char *);
static void	 sup_loghook(int, const char *);
static void	 sup_dispatch(struct msg *);
static void	 sup_request(struct msg *);
static void	 sup_notify(struct msg *);
static void	 sup_cancel(struct msg *);
static void	 sup_sresponse(struct msg *);
static void	 sup_caps(struct msg *);
static void	 sup_ping(struct msg *);
static void	 sup_shutdown(struct msg *);

static const struct sup_handler sup_handlers[] = {
	{ MSG_REQUEST,		1, sup_request },
	{ MSG_NOTIFY_DOWN,	1, sup_notify },
	{ MSG_CANCEL,		1, sup_cancel },
	{ MSG_SRESPONSE,	1, sup_sresponse },
	{ MSG_CAPS,		0, sup_caps },
	{ MSG_PING,		0, sup_ping },
	{ MSG_SHUTDOWN,		0, sup_shutdown },
};

void
sup_init(void)
{
	msgbuf_init(&sup_mb, WORKER_FD, WORKER_UPQUEUE_MAX);
	atexit(sup_flush);
}

/*
 * At any exit, fatal() included (out of memory under RLIMIT_AS): the
 * last LOG lines say why, so send what is queued, best effort.
 */
static void
sup_flush(void)
{
	if (sup_mb.fd == WORKER_FD && msg_queued(&sup_mb) > 0)
		msg_write(&sup_mb);
}

/* At exit: what is queued goes, then the buffers. */
void
sup_close(void)
{
	sup_flush();
	log_sethook(NULL);
	msgbuf_clear(&sup_mb);
}

/*
 * Queue one message for the supervisor.  The queue's cap is never reached
 * by well-formed traffic (WORKER_UPQUEUE_MAX): a full one is a bug.
 */
void
sup_send(uint16_t type, uint64_t id, const void *buf, size_t len)
{
	if (msg_compose(&sup_mb, type, 0, id, buf, len) == 0)
		return;
	log_sethook(NULL);	/* to stderr: the socket is the problem */
	log_warn("message %u for the supervisor", type);
	worker_exit(EX_SOFTWARE);
}

void
sup_send_reason(uint16_t type, uint64_t id, const char *reason)
{
	struct json_object	*o;
	const char		*s;
	size_t			 len;

	o = json_object_new_object();
	json_object_object_add(o, "reason", json_object_new_string(reason));
	s = jsonrpc_string(o, &len);
	sup_send(type, id, s, len);
	json_object_put(o);
}

/* Tell the supervisor why we cannot go on, then exit with that status. */
__dead void
sup_fail(int status, const char *fmt, ...)
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
	if (msg_compose(&sup_mb, MSG_FAIL, 0, 0, s, len) == 0)
		msg_send_blocking(&sup_mb);
	json_object_put(o);
	worker_exit(status);
}

/*
 * fatal() is about to exit (out of memory under RLIMIT_AS, most likely):
 * its line also goes as FAIL, sent at once, so the supervisor gives it as
 * the cause to every request in flight.  The text is built on the stack;
 * bytes that are not printable ASCII become '?' so the JSON is valid
 * whatever the line.  Queueing it may itself fail for want of memory
 * (that fatal() finds sup_in_hook set and only exits).
 */
static void
sup_fatal_reason(const char *line)
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
	if (msg_compose(&sup_mb, MSG_FAIL, 0, 0, buf, o + (size_t)n) == 0)
		msg_send_blocking(&sup_mb);
}

/* Every log line goes to the supervisor as LOG: "<digit><text>". */
static void
sup_loghook(int level, const char *line)
{
	static int	sup_in_hook;
	char		buf[WORKER_LOG_LINE_MAX];
	size_t		len;

	if (sup_in_hook)
		return;		/* fatal() from inside: just let it exit */
	/* Best effort while the supervisor is slow; fatal()'s line goes. */
	if (level != LOG_LVL_ERR && msg_queued(&sup_mb) > WORKER_UPQUEUE_HIGH) {
		sup_dropped++;
		return;
	}
	sup_in_hook = 1;
	if (level < 0 || level > 7)
		level = LOG_LVL_WARNING;
	buf[0] = '0' + level;
	len = strlcpy(buf + 1, line, sizeof(buf) - 1);
	if (len > sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	if (msg_compose(&sup_mb, MSG_LOG, 0, 0, buf, len + 1) == -1)
		sup_overflow = 1;	/* no logging from here */
	if (level == LOG_LVL_ERR)	/* only fatal() logs at this level */
		sup_fatal_reason(line);
	sup_in_hook = 0;
}

/* From CONFIG on, log lines go to the supervisor. */
void
sup_log_start(void)
{
	log_sethook(sup_loghook);
}

void
sup_hello(void)
{
	char	buf[64];
	int	n;

	n = snprintf(buf, sizeof(buf), "{\"version\":%d,\"pid\":%ld}",
	    MESH_PROTO_VERSION, (long)getpid());
	if (msg_compose(&sup_mb, MSG_HELLO, 0, 0, buf, (size_t)n) == -1 ||
	    msg_send_blocking(&sup_mb) == -1) {
		log_warn("HELLO");
		worker_exit(EX_SOFTWARE);
	}
}

/* The answer to HELLO; anything else, or nothing in time, ends us. */
void
sup_config(struct msg *m)
{
	if (msg_recv_blocking(&sup_mb, m, WORKER_CONFIG_TIMEOUT_MS) != 1) {
		log_warn("no CONFIG from the supervisor");
		worker_exit(EX_SOFTWARE);
	}
	if (m->hdr.type != MSG_CONFIG) {
		log_warnx("message %u instead of CONFIG", m->hdr.type);
		worker_exit(EX_SOFTWARE);
	}
}

static void
sup_request(struct msg *m)
{
	if (m->hdr.len == 0 || m->hdr.id == 0) {
		log_warnx("REQUEST without payload or id");
		worker_exit(EX_SOFTWARE);
	}
	worker_conf.transport->request(m->hdr.id, m->data, m->hdr.len);
}

static void
sup_notify(struct msg *m)
{
	if (m->hdr.len == 0) {
		log_warnx("NOTIFY_DOWN without payload");
		worker_exit(EX_SOFTWARE);
	}
	worker_conf.transport->notify(m->data, m->hdr.len);
}

static void
sup_cancel(struct msg *m)
{
	worker_conf.transport->cancel(m->hdr.id);
}

/* A client's answer to a request of the gateway's, for the gateway. */
static void
sup_sresponse(struct msg *m)
{
	if (m->hdr.len == 0) {
		log_warnx("SRESPONSE without payload");
		worker_exit(EX_SOFTWARE);
	}
	worker_conf.transport->answer(m->data, m->hdr.len);
}

/* What clients can do now: the next handshake declares it. */
static void
sup_caps(struct msg *m)
{
	worker_conf.transport->caps(m->data, m->hdr.len);
}

static void
sup_ping(struct msg *m)
{
	sup_send(MSG_PONG, m->hdr.id, NULL, 0);
}

static void
sup_shutdown(struct msg *m)
{
	log_debug("shutting down");
	worker_conf.transport->shutdown();
	worker_exit(EX_OK);
}

static void
sup_dispatch(struct msg *m)
{
	size_t	i;

	for (i = 0; i < sizeof(sup_handlers) / sizeof(*sup_handlers); i++) {
		if (sup_handlers[i].type != m->hdr.type)
			continue;
		if (sup_handlers[i].after_ready &&
		    !worker_conf.transport->ready())
			break;
		sup_handlers[i].fn(m);
		return;
	}
	log_warnx("unexpected message %u from the supervisor%s", m->hdr.type,
	    i < sizeof(sup_handlers) / sizeof(*sup_handlers) ?
	    " before READY" : "");
	worker_exit(EX_SOFTWARE);
}

void
sup_read(void)
{
	struct msg	m;
	long		n;
	int		r;

	if ((n = msg_read(&sup_mb)) == 0)
		worker_exit(EX_OK);	/* the supervisor is gone */
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		worker_exit(EX_OK);
	}
	while ((r = msg_get(&sup_mb, &m)) == 1)
		sup_dispatch(&m);
	if (r == -1) {
		log_warn("malformed frame from the supervisor");
		worker_exit(EX_SOFTWARE);
	}
}

/*
 * Is the supervisor behind?  Above WORKER_UPQUEUE_HIGH queued bytes,
 * and until they are below WORKER_UPQUEUE_LOW, nothing more is read (the
 * gateway nor the supervisor's socket) that could add to the queue.
 */
int
sup_congested(void)
{
	size_t		q = msg_queued(&sup_mb);
	unsigned long	n;

	if (!sup_full && q > WORKER_UPQUEUE_HIGH) {
		sup_full = 1;
		sup_full_since = now_ms();
	} else if (sup_full && q < WORKER_UPQUEUE_LOW) {
		sup_full = 0;
		n = sup_dropped;
		sup_dropped = 0;
		log_debug("the supervisor read slowly: %llu ms without "
		    "reading the gateway", (unsigned long long)(now_ms() -
		    sup_full_since));
		if (n > 0)
			log_warnx("%lu log lines dropped while the supervisor "
			    "read slowly", n);
	}
	return (sup_full);
}

/* The supervisor's socket, for the loop's poll(). */
void
sup_pollfd(struct pollfd *pfd)
{
	pfd->fd = WORKER_FD;
	pfd->events = (sup_congested() ? 0 : POLLIN) |
	    (msg_queued(&sup_mb) > 0 ? POLLOUT : 0);
	pfd->revents = 0;
}

size_t
sup_queued(void)
{
	return (msg_queued(&sup_mb));
}

/* Write what the socket takes; a LOG that did not fit ends us. */
void
sup_write(void)
{
	if (sup_overflow) {
		log_sethook(NULL);
		log_warnx("supervisor is not reading: exiting");
		worker_exit(EX_SOFTWARE);
	}
	/* Write at once: waiting for POLLOUT costs a loop turn. */
	if (msg_queued(&sup_mb) > 0 && msg_write(&sup_mb) == -1)
		worker_exit(EX_OK);	/* EPIPE: supervisor gone */
}
