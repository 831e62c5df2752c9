/*
 * Workers' stderr: a pipe per worker (and one for the zygote) whose lines
 * the supervisor logs as "peer NAME: stderr: ..." ("zygote: stderr: ...").  Three reasons.  A worker's stderr must not
 * be a file (RLIMIT_FSIZE 0 makes every write to one fail, and that would
 * silence a crash, a sanitizer report or the sandbox debug trap).  What a
 * worker writes there is untrusted: it is escaped and cut into bounded
 * lines like its LOG messages, so it cannot forge the supervisor's own
 * log lines.  And a worker that floods it costs at most
 * WORKER_STDERR_MAX bytes of log before it is ignored.
 *
 * A relay lives until its pipe's end of file, independently of the peer,
 * so a dead worker's last words are read even after it was replaced.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "mesh.h"
#include "xmalloc.h"

struct stderr_relay {
	TAILQ_ENTRY(stderr_relay) entry;
	char		 who[PEER_NAME_MAX + 8];	/* "peer NAME", "zygote" */
	int		 fd;
	struct event	*ev;
	size_t		 total;		/* bytes taken from this worker */
	size_t		 len;		/* of a line not yet ended */
	char		 line[WORKER_LOG_LINE_MAX];
};
TAILQ_HEAD(stderr_relays, stderr_relay);

static struct stderr_relays	relays = TAILQ_HEAD_INITIALIZER(relays);

static void
relay_emit(struct stderr_relay *r)
{
	char	esc[WORKER_LOG_LINE_MAX * 4 + 1];

	if (r->len == 0)
		return;
	log_escape(esc, sizeof(esc), r->line, r->len);
	log_warnx("%s: stderr: %s", r->who, esc);
	r->len = 0;
}

/* Split what was read into lines; a line too long is cut. */
static void
relay_take(struct stderr_relay *r, const char *buf, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			relay_emit(r);
			continue;
		}
		r->line[r->len++] = buf[i];
		if (r->len == sizeof(r->line))
			relay_emit(r);
	}
}

static void
relay_free(struct stderr_relay *r)
{
	relay_emit(r);
	TAILQ_REMOVE(&relays, r, entry);
	event_free(r->ev);
	close(r->fd);
	free(r);
}

static void
relay_read(evutil_socket_t fd, short events, void *arg)
{
	struct stderr_relay	*r = arg;
	char			 buf[4096];
	ssize_t			 n;

	while ((n = read(r->fd, buf, sizeof(buf))) > 0) {
		if (r->total < WORKER_STDERR_MAX) {
			if ((size_t)n > WORKER_STDERR_MAX - r->total)
				n = WORKER_STDERR_MAX - r->total;
			relay_take(r, buf, n);
			if ((r->total += n) == WORKER_STDERR_MAX) {
				relay_emit(r);
				log_warnx("%s: stderr: more than %d bytes, "
				    "the rest is ignored", r->who,
				    WORKER_STDERR_MAX);
			}
		}
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		relay_free(r);
}

/*
 * Watch fd, the read end of a new worker's stderr, now ours; its lines
 * are logged as "WHO: stderr: ...".
 */
void
stderr_relay_start(const char *who, int fd)
{
	struct stderr_relay	*r;

	r = xcalloc(1, sizeof(*r));
	strlcpy(r->who, who, sizeof(r->who));
	r->fd = fd;
	if ((r->ev = event_new(ev_base, fd, EV_READ | EV_PERSIST, relay_read,
	    r)) == NULL || event_add(r->ev, NULL) == -1)
		fatalx("stderr relay: event");
	TAILQ_INSERT_TAIL(&relays, r, entry);
}

/* At exit: what is already in the pipes is logged, then all is freed. */
void
stderr_relay_free_all(void)
{
	struct stderr_relay	*r;

	while ((r = TAILQ_FIRST(&relays)) != NULL) {
		relay_read(r->fd, EV_READ, r);
		if (TAILQ_FIRST(&relays) == r)
			relay_free(r);
	}
}
