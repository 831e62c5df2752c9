/*
 * The supervisor's side of a worker, the process behind one peer: its
 * life as a state machine (stopped, starting, ready, backoff, failed,
 * stopping), liveness pings, and restarts with exponential backoff.  What
 * comes over its socketpair is worker-msg.c's.
 *
 * Which deaths count toward FAILED: a crash signal (a gateway may have
 * found a bug), a protocol violation (a worker that lies), and a worker
 * that stopped answering while running.  Not counted: network trouble
 * (its exit status says so), a SIGKILL or SIGSTOP from outside (the kill
 * after a missed ping of a stopped worker included), a worker that
 * stopped reading its socket.  A failed peer is retried after
 * --failed-retry: it never stays dead for good.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "mesh-proto.h"
#include "mesh.h"
#include "xmalloc.h"

static TAILQ_HEAD(, worker)	workers = TAILQ_HEAD_INITIALIZER(workers);

const char *
worker_state_name(enum worker_state s)
{
	static const char *names[] = { "stopped", "starting", "ready",
	    "backoff", "failed", "stopping" };

	return ((unsigned)s < sizeof(names) / sizeof(names[0]) ?
	    names[s] : "?");
}

void
worker_set_state(struct worker *w, enum worker_state s)
{
	enum worker_state	old = w->state;

	if (old == s)
		return;
	log_debug("peer %s: %s -> %s", w->peer->name, worker_state_name(old),
	    worker_state_name(s));
	w->state = s;
	/*
	 * A first start failed: calls parked for it may go.  (One that
	 * succeeded wakes them once its tools are in: worker_msg_ready.)
	 */
	if (old == WS_STARTING && s != WS_READY)
		router_wake_parked(0);
}

struct worker *
worker_new(struct peer *p)
{
	struct worker	*w;

	w = xcalloc(1, sizeof(*w));
	w->peer = p;
	w->fd = -1;
	w->log_tokens = WORKER_LOG_BURST;
	TAILQ_INSERT_TAIL(&workers, w, entry);
	return (w);
}

enum worker_state
worker_state(const struct worker *w)
{
	return (w->state);
}

const char *
worker_cause(const struct worker *w)
{
	return (w->cause);
}

int
worker_is_ready(const struct worker *w)
{
	return (w->state == WS_READY && w->fd != -1);
}

int
worker_ever_ready(const struct worker *w)
{
	return (w->ever_ready);
}

int
worker_alive(const struct worker *w)
{
	return (w->pid > 0 && !w->reaped);
}

pid_t
worker_pid(const struct worker *w)
{
	return (w->pid);
}

unsigned
worker_restarts(const struct worker *w)
{
	return (w->restarts);
}

size_t
worker_queued(const struct worker *w)
{
	return (w->fd == -1 ? 0 : msg_queued(&w->mb));
}

/* --- life and death ------------------------------------------------------ */

static void	 worker_timer(evutil_socket_t, short, void *);

void
worker_timer_arm(struct worker *w, uint64_t ms)
{
	struct timeval	tv = ms_tv(ms);

	if (w->timer == NULL)
		w->timer = evtimer_new(ev_base, worker_timer, w);
	evtimer_add(w->timer, &tv);
}

static void
worker_reset(struct worker *w)
{
	w->hello = w->eof = w->reaped = w->killed = w->violation = 0;
	w->crash = w->permanent = 0;
	w->ping_sent_ms = 0;
	w->log_dropped = 0;
	w->log_dropped_bytes = 0;
	w->log_over = w->read_paused = 0;
	if (w->read_timer != NULL)
		evtimer_del(w->read_timer);
	free(w->tools_pending);
	w->tools_pending = NULL;
}

void
worker_start(struct worker *w)
{
	int	fd, errfd;
	pid_t	pid;

	worker_reset(w);
	if ((pid = proc_spawn_worker(conf.worker_path, w->peer->name,
	    w->fresh_layout, &fd, &errfd)) == -1) {
		/* Out of descriptors passes: try again soon, not in 30 s. */
		w->backoff.delay_ms = errno == EMFILE || errno == ENFILE ?
		    WORKER_SPAWN_RETRY_MS : WORKER_BACKOFF_MAX_MS;
		snprintf(w->cause, sizeof(w->cause), "could not start a "
		    "worker: %s", strerror(errno));
		w->pid = 0;
		worker_set_state(w, WS_BACKOFF);
		worker_timer_arm(w, w->backoff.delay_ms);
		return;
	}
	worker_attach(w, pid, fd, errfd);
	/* Before CONFIG: until then it has no socket (see cgroup.c). */
	if (cgroup_worker_add(pid, w->peer->name, w->peer->url) == -1)
		worker_kill(w, "could not put the worker in its cgroup");
}

/*
 * A worker process on our end of its socketpair (and of its stderr pipe,
 * or -1): from here it is supervised.  Tests attach a socket they speak
 * the worker's side of themselves.
 */
void
worker_attach(struct worker *w, pid_t pid, int fd, int errfd)
{
	struct peer	*p = w->peer;
	char		 who[PEER_NAME_MAX + 8];

	worker_reset(w);
	w->pid = pid;
	w->fd = fd;
	snprintf(who, sizeof(who), "peer %s", p->name);
	if (errfd != -1)
		stderr_relay_start(who, errfd);
	msgbuf_init(&w->mb, fd, WORKER_DOWNQUEUE_MAX);
	if (w->ev == NULL)
		w->ev = event_new(ev_base, fd, EV_READ | EV_PERSIST, worker_io,
		    w);
	else
		event_assign(w->ev, ev_base, fd, EV_READ | EV_PERSIST,
		    worker_io, w);
	event_add(w->ev, NULL);
	worker_set_state(w, WS_STARTING);
	worker_timer_arm(w, WORKER_READY_TIMEOUT_MS);
	log_debug("peer %s: worker pid %d for %s", p->name, (int)pid, p->url);
}

static void
worker_vkill(struct worker *w, const char *fmt, va_list ap)
{
	vsnprintf(w->cause, sizeof(w->cause), fmt, ap);
	log_warnx("peer %s: killing worker %d: %s", w->peer->name, (int)w->pid,
	    w->cause);
	if (worker_alive(w))
		kill(w->pid, SIGKILL);
	w->eof = 1;
	w->killed = 1;
	worker_finish(w);
}

/* Kill a worker at once; its calls are answered on its socket's close. */
void
worker_kill(struct worker *w, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	worker_vkill(w, fmt, ap);
	va_end(ap);
}

/* A worker that lied about a call: killed, and its death is a crash. */
void
worker_violation(struct worker *w, const char *fmt, ...)
{
	va_list	ap;

	w->violation = 1;
	va_start(ap, fmt);
	worker_vkill(w, fmt, ap);
	va_end(ap);
}

/* The socket is gone: close it, answer every call on it. */
static void
worker_close(struct worker *w)
{
	if (w->fd == -1)
		return;
	if (w->cause[0] == '\0')
		strlcpy(w->cause, "its worker stopped", sizeof(w->cause));
	event_del(w->ev);
	close(w->fd);
	w->fd = -1;
	msgbuf_clear(&w->mb);
	worker_log_report(w);
	router_fail_all(w->peer, w->cause);
	relay_peer_gone(w->peer);
}

/*
 * Give up on the peer for now: its tools leave the list, and it is tried
 * again after --failed-retry, in case what broke it was fixed.
 */
static void
worker_give_up(struct worker *w)
{
	worker_set_state(w, WS_FAILED);
	peer_clear_tools(w->peer);
	memset(&w->backoff, 0, sizeof(w->backoff));
	log_info("peer %s: retried in %llu s", w->peer->name,
	    (unsigned long long)conf.failed_retry_ms / 1000);
	worker_timer_arm(w, conf.failed_retry_ms);
}

uint64_t
backoff_next(struct backoff *b, uint64_t now, uint64_t ready_since_ms,
    int crash)
{
	int	stable;

	/* Ready long enough, or the window passed: crashes are forgiven. */
	stable = ready_since_ms != 0 && now - ready_since_ms >= WORKER_STABLE_MS;
	if (stable || now - b->window_start_ms > WORKER_FAIL_WINDOW_MS) {
		b->failures = 0;
		b->window_start_ms = now;
	}
	if (crash && ++b->failures >= WORKER_FAIL_MAX)
		return (0);
	/* Exponential: fast first restart, doubling up to the cap. */
	if (stable || b->delay_ms == 0)
		b->delay_ms = WORKER_BACKOFF_MIN_MS;
	else if ((b->delay_ms *= 2) > WORKER_BACKOFF_MAX_MS)
		b->delay_ms = WORKER_BACKOFF_MAX_MS;
	return (b->delay_ms);
}

static void
worker_schedule_restart(struct worker *w)
{
	uint64_t	delay;

	delay = backoff_next(&w->backoff, now_ms(), w->ready_since_ms,
	    w->crash);
	w->ready_since_ms = 0;
	if (delay == 0) {
		log_warnx("peer %s: %u crashes in %d s: failed (last: %s)",
		    w->peer->name, w->backoff.failures,
		    WORKER_FAIL_WINDOW_MS / 1000, w->cause);
		worker_give_up(w);
		return;
	}
	w->restarts++;
	worker_set_state(w, WS_BACKOFF);
	log_info("peer %s: restarting in %llu ms", w->peer->name,
	    (unsigned long long)delay);
	worker_timer_arm(w, delay);
}

/*
 * Both the socket's EOF and the reaping must have happened before the
 * worker is done with (ntpd's race): calls are answered on EOF, the
 * restart decided once the exit status says why.
 */
void
worker_finish(struct worker *w)
{
	worker_close(w);
	if (!w->reaped) {
		/* A worker that closed its socket but lives on is killed. */
		worker_timer_arm(w, WORKER_STOP_TIMEOUT_MS);
		return;
	}
	if (w->tools_timer != NULL)
		evtimer_del(w->tools_timer);
	if (w->peer->removed) {
		/* Freed from the loop: callers up the stack still hold w. */
		worker_set_state(w, WS_STOPPED);
		worker_timer_arm(w, 0);
		return;
	}
	if (w->state == WS_STOPPING || w->state == WS_STOPPED) {
		worker_set_state(w, WS_STOPPED);
		if (w->restart) {
			w->restart = 0;
			worker_start(w);
		}
		return;
	}
	if (w->permanent) {
		log_warnx("peer %s: failed: %s (permanent; fix the "
		    "configuration)", w->peer->name, w->cause);
		worker_give_up(w);
		return;
	}
	worker_schedule_restart(w);
}

/*
 * Signals a gateway could cause: a stack smash (SIGABRT), a wild pointer,
 * the sandbox.  SIGKILL, SIGTERM or SIGSTOP from outside tell an attacker
 * nothing, and are no fault of the peer.
 */
static int
worker_signal_is_crash(int sig)
{
	switch (sig) {
	case SIGSEGV:
	case SIGBUS:
	case SIGILL:
	case SIGFPE:
	case SIGABRT:
	case SIGTRAP:
	case SIGSYS:
		return (1);
	default:
		return (0);
	}
}

/* Does this death count toward FAILED (see the top of this file)? */
static int
worker_death_is_crash(const struct worker *w, int status)
{
	if (w->killed)
		return (w->violation || w->crash);
	if (WIFSIGNALED(status))
		return (worker_signal_is_crash(WTERMSIG(status)));
	switch (WEXITSTATUS(status)) {
	case EX_UNAVAILABLE:
	case EX_TEMPFAIL:
	case EX_PROTOCOL:
		return (0);
	default:
		return (1);
	}
}

static struct worker *
worker_by_pid(pid_t pid)
{
	struct worker	*w;

	TAILQ_FOREACH(w, &workers, entry)
		if (w->pid == pid && !w->reaped)
			return (w);
	return (NULL);
}

void
worker_exited(pid_t pid, int status)
{
	struct worker	*w;
	char		 why[128];

	if ((w = worker_by_pid(pid)) == NULL)
		return;
	w->reaped = 1;
	exit_reason(status, why, sizeof(why));
	w->crash = worker_death_is_crash(w, status);
	/* A crash signal: its successor is exec'd (see proc_spawn_worker()). */
	w->fresh_layout = WIFSIGNALED(status) &&
	    worker_signal_is_crash(WTERMSIG(status));
	w->permanent = WIFEXITED(status) &&
	    (WEXITSTATUS(status) == EX_CONFIG || WEXITSTATUS(status) == EX_NOPERM);
	if (w->state != WS_STOPPING) {
		if (w->cause[0] == '\0' || (!w->killed && !WIFEXITED(status)))
			strlcpy(w->cause, why, sizeof(w->cause));
		log_warnx("peer %s: worker %d %s%s%s", w->peer->name, (int)pid,
		    why, w->cause[0] && strcmp(w->cause, why) ? ": " : "",
		    strcmp(w->cause, why) ? w->cause : "");
	}
	if (!w->eof) {
		/* Its socket may still hold answers: read them first. */
		worker_read(w);
		if (w->eof)
			return;		/* finished (and maybe freed) */
		w->eof = 1;
	}
	worker_finish(w);
}

/* Is the process stopped (SIGSTOP, a debugger)?  From /proc/PID/stat. */
static int
worker_is_stopped(pid_t pid)
{
	char	 path[64], buf[256], *p;
	FILE	*f;
	int	 stopped = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL && p[1] == ' ')
		stopped = p[2] == 'T' || p[2] == 't';
	fclose(f);
	return (stopped);
}

/*
 * Liveness: a PING every WORKER_PING_INTERVAL_MS; the timer is then armed
 * for the PONG's deadline, so a hung worker is killed WORKER_PING_TIMEOUT_MS
 * after the ping it did not answer.  A worker that does not read its
 * socket for WORKER_STALL_MS while messages wait is killed too.
 */
static void
worker_ping(struct worker *w)
{
	uint64_t	now = now_ms();

	worker_log_report(w);
	if (w->ping_sent_ms != 0) {
		/* Stopped from outside is not the peer's fault. */
		w->crash = !worker_is_stopped(w->pid);
		worker_kill(w, "worker missed its ping deadline (%d ms)%s",
		    WORKER_PING_TIMEOUT_MS, w->crash ? "" : ": it was stopped");
		return;
	}
	if (msg_queued(&w->mb) > 0 && now - w->write_ms >= WORKER_STALL_MS) {
		worker_kill(w, "worker read nothing for %d ms with %zu bytes "
		    "waiting", WORKER_STALL_MS, msg_queued(&w->mb));
		return;
	}
	w->ping_seq++;
	w->ping_sent_ms = now;
	if (worker_send(w, MSG_PING, w->ping_seq, NULL, 0) == 0)
		worker_timer_arm(w, WORKER_PING_TIMEOUT_MS);
}

static void
worker_timer(evutil_socket_t fd, short events, void *arg)
{
	struct worker	*w = arg;

	if (w->peer->removed && w->fd == -1 && !worker_alive(w)) {
		peer_worker_gone(w->peer);	/* frees w */
		return;
	}
	if (w->fd == -1 && worker_alive(w)) {
		/* Socket closed, process still there: make sure it goes. */
		kill(w->pid, SIGKILL);
		return;
	}
	switch (w->state) {
	case WS_STARTING:
		w->crash = !worker_is_stopped(w->pid);
		worker_kill(w, "worker not ready after %d ms%s",
		    WORKER_READY_TIMEOUT_MS, w->crash ? "" : ": it was stopped");
		break;
	case WS_READY:
		worker_ping(w);
		break;
	case WS_BACKOFF:
	case WS_FAILED:
		worker_start(w);
		break;
	case WS_STOPPING:
		if (worker_alive(w))
			kill(w->pid, SIGKILL);
		break;
	default:
		break;
	}
}

/* Ask the worker to go; SIGKILL after WORKER_STOP_TIMEOUT_MS. */
void
worker_stop(struct worker *w, const char *why)
{
	if (w->fd != -1 && !w->reaped) {
		worker_set_state(w, WS_STOPPING);
		strlcpy(w->cause, why, sizeof(w->cause));
		worker_send(w, MSG_SHUTDOWN, 0, NULL, 0);
		worker_timer_arm(w, WORKER_STOP_TIMEOUT_MS);
		return;
	}
	if (worker_alive(w)) {
		/* Socket already closed: only the reaping is missing. */
		worker_set_state(w, WS_STOPPING);
		kill(w->pid, SIGKILL);
		return;
	}
	if (w->timer != NULL)
		evtimer_del(w->timer);
	worker_set_state(w, WS_STOPPED);
}

/* A new worker for the peer (its URL changed): the old one goes first. */
void
worker_restart(struct worker *w, const char *why)
{
	if (worker_alive(w)) {
		w->restart = 1;
		worker_stop(w, why);
		return;
	}
	if (w->timer != NULL)
		evtimer_del(w->timer);
	worker_start(w);
}

/* At exit, or once a removed peer's worker is gone. */
void
worker_free(struct worker *w)
{
	if (worker_alive(w)) {
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
		w->reaped = 1;
	}
	TAILQ_REMOVE(&workers, w, entry);
	if (w->fd != -1) {
		event_del(w->ev);
		close(w->fd);
		msgbuf_clear(&w->mb);
	}
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->timer != NULL)
		event_free(w->timer);
	if (w->tools_timer != NULL)
		event_free(w->tools_timer);
	if (w->read_timer != NULL)
		event_free(w->read_timer);
	free(w->tools_pending);
	free(w);
}
