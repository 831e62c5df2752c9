/*
 * Worker processes: fork + exec with a fixed descriptor contract (the
 * socketpair on WORKER_FD, /dev/null on stdin and stdout, a pipe on
 * stderr whose lines the supervisor logs, nothing else), an empty
 * environment (configuration goes over the socket, so nothing shows in
 * ps or /proc/PID/environ, and no http_proxy or LD_PRELOAD reaches the
 * worker), and reaping on SIGCHLD from the loop.
 *
 * Workers come from the zygote (worker/zygote.c) unless --worker-exec:
 * the zygote is exec'd once with that contract and forks each worker,
 * handed the same descriptors over a SOCK_SEQPACKET socket.  The
 * supervisor is a child subreaper, so those workers, grandchildren of the
 * zygote, become its children and are reaped here like exec'd ones.  If
 * the zygote fails or dies, workers are exec'd from then on.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "fdpass.h"
#include "log.h"
#include "mesh-proto.h"
#include "mesh.h"

static struct event	*ev_sigchld;
static pid_t		 zygote_pid = -1;
static int		 zygote_fd = -1;	/* SOCK_SEQPACKET to it */

static void	 proc_zygote_start(const char *);
static void	 proc_zygote_lost(const char *);

/*
 * The only variables a worker is given: the sanitizer runtimes' own, so a
 * sanitizer build's tests can set them.  Nothing the worker reads.
 */
static const char *proc_env_keep[] = {
	"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
};
#define PROC_ENV_MAX	(sizeof(proc_env_keep) / sizeof(*proc_env_keep) + 1)

static void
proc_sigchld(evutil_socket_t sig, short events, void *arg)
{
	pid_t	pid;
	int	status;

	/* Reap everything: one signal may stand for many deaths. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == zygote_pid) {
			zygote_pid = -1;
			proc_zygote_lost("it exited");
		} else {
			cgroup_worker_gone(pid);
			worker_exited(pid, status);
		}
	}
}

void
proc_init(void)
{
	ev_sigchld = evsignal_new(ev_base, SIGCHLD, proc_sigchld, NULL);
	if (ev_sigchld == NULL || evsignal_add(ev_sigchld, NULL) == -1)
		fatalx("proc_init: SIGCHLD event");
	/* The zygote's grandchildren, our workers, are re-parented to us. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		log_warn("PR_SET_CHILD_SUBREAPER: workers are exec'd");
	else if (!conf.worker_exec)
		proc_zygote_start(conf.worker_path);
}

/* The zygote exits on end of file: reap it, or kill it after a while. */
static void
proc_zygote_stop(void)
{
	struct timespec	 ts = { 0, 1000000 };
	int		 ms, status;

	if (zygote_fd != -1) {
		close(zygote_fd);
		zygote_fd = -1;
	}
	if (zygote_pid == -1)
		return;
	for (ms = 0; waitpid(zygote_pid, &status, WNOHANG) == 0; ms++) {
		if (ms == WORKER_STOP_TIMEOUT_MS) {
			kill(zygote_pid, SIGKILL);
			waitpid(zygote_pid, &status, 0);
			break;
		}
		nanosleep(&ts, NULL);
	}
	zygote_pid = -1;
}

void
proc_shutdown(void)
{
	proc_zygote_stop();
	if (ev_sigchld != NULL) {
		event_free(ev_sigchld);
		ev_sigchld = NULL;
	}
}

/* "KEY=value" strings of environ whose KEY is in proc_env_keep. */
static void
proc_worker_env(char *envp[PROC_ENV_MAX])
{
	extern char	**environ;
	char		**e;
	size_t		 i, klen, n = 0;

	for (e = environ; *e != NULL && n < PROC_ENV_MAX - 1; e++) {
		for (i = 0; i < PROC_ENV_MAX - 1; i++) {
			klen = strlen(proc_env_keep[i]);
			if (strncmp(*e, proc_env_keep[i], klen) == 0 &&
			    (*e)[klen] == '=') {
				envp[n++] = *e;
				break;
			}
		}
	}
	envp[n] = NULL;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static __dead void
proc_exec_child(const char *path, const char *arg, int fd, int errfd,
    char **envp)
{
	int		 null, sig;
	sigset_t	 set;
	char		*argv[] = { (char *)"mcp-mesh-worker", (char *)arg, NULL };
	static const char msg[] = "mcp-mesh: cannot exec the worker\n";

	if ((null = open("/dev/null", O_RDWR)) == -1)
		_exit(71);
	if (dup2(null, STDIN_FILENO) == -1 || dup2(null, STDOUT_FILENO) == -1 ||
	    dup2(errfd, STDERR_FILENO) == -1)
		_exit(71);
	if (fd != WORKER_FD) {
		if (dup2(fd, WORKER_FD) == -1)
			_exit(71);
	} else if (fcntl(fd, F_SETFD, 0) == -1)
		_exit(71);
	closefrom(WORKER_FD + 1);
	/* Start clean: no blocked signal, every disposition the default. */
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	execve(path, argv, envp);
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(127);
}

/*
 * fork and exec PATH [ARG] with FD as its WORKER_FD and ERRFD as its
 * stderr; both are ours still, to close.
 */
static pid_t
proc_fork_exec(const char *path, const char *arg, int fd, int errfd)
{
	char	*envp[PROC_ENV_MAX];
	pid_t	 pid;

	/* Built before fork: the child may only make async-signal-safe calls. */
	proc_worker_env(envp);
	if ((pid = fork()) == 0) {
		/* Its end of the socket is blocking until it decides otherwise. */
		fcntl(fd, F_SETFL, 0);
		proc_exec_child(path, arg, fd, errfd, envp);
		/* NOTREACHED */
	}
	return (pid);
}

/* A socketpair for the worker (sp[1] its end) and its stderr pipe. */
static int
proc_channels(const char *who, int type, int sp[2], int ep[2])
{
	int	saved;

	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("%s: socketpair", who);
		return (-1);
	}
	if (pipe2(ep, O_CLOEXEC) == -1 || fd_nonblock(ep[0]) == -1) {
		saved = errno;	/* EMFILE: the caller retries soon */
		log_warn("%s: stderr pipe", who);
		close(sp[0]);
		close(sp[1]);
		errno = saved;
		return (-1);
	}
	return (0);
}

static void
proc_zygote_start(const char *path)
{
	int	zs[2], ep[2];
	pid_t	pid;

	if (proc_channels("zygote", SOCK_SEQPACKET, zs, ep) == -1)
		return;
	pid = proc_fork_exec(path, "zygote", zs[1], ep[1]);
	close(zs[1]);
	close(ep[1]);
	if (pid == -1) {
		log_warn("zygote: fork; workers are exec'd");
		close(zs[0]);
		close(ep[0]);
		return;
	}
	zygote_pid = pid;
	zygote_fd = zs[0];
	stderr_relay_start("zygote", ep[0]);
	log_debug("zygote: pid %d", (int)pid);
}

/* The zygote failed: workers are exec'd from now on. */
static void
proc_zygote_lost(const char *why)
{
	if (zygote_fd == -1)
		return;
	log_warnx("zygote: %s; workers are exec'd from now on", why);
	close(zygote_fd);
	zygote_fd = -1;
	if (zygote_pid != -1)
		kill(zygote_pid, SIGKILL);	/* reaped by proc_sigchld */
}

/*
 * Wait for the zygote's answer, restarting after signals; 1 with the
 * pid, 0 when it said it could not fork, -1 on timeout, EOF or garbage.
 */
static int
proc_zygote_answer(pid_t *pidp)
{
	struct pollfd	 pfd;
	uint64_t	 deadline = now_ms() + PROC_ZYGOTE_TIMEOUT_MS, now;
	int32_t		 pid;
	ssize_t		 n;
	int		 r;

	pfd.fd = zygote_fd;
	pfd.events = POLLIN;
	for (;;) {
		if ((now = now_ms()) >= deadline)
			return (-1);
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r == 1)
			break;
		if (r == 0 || errno != EINTR)
			return (-1);
	}
	/* MSG_TRUNC: the datagram's real length, to refuse a longer one. */
	n = recv(zygote_fd, &pid, sizeof(pid), MSG_TRUNC | MSG_DONTWAIT);
	if (n != sizeof(pid))
		return (-1);
	if (pid == -1)
		return (0);
	if (pid <= 0)
		return (-1);
	*pidp = pid;
	return (1);
}

/*
 * Hand FD and ERRFD to the zygote.  Returns the new worker's pid; 0 when
 * the zygote could not fork (nothing was started: the descriptors may be
 * used again); -1 when it is lost, after which a worker may or may not
 * hold the descriptors, so they must not be given to another.
 */
static pid_t
proc_zygote_spawn(int fd, int errfd)
{
	pid_t	pid = 0;
	int	fds[2] = { fd, errfd };

	/* The worker's end is blocking until it decides otherwise. */
	fcntl(fd, F_SETFL, 0);
	if (fdpass_send(zygote_fd, 'S', fds, 2, MSG_DONTWAIT) == -1) {
		proc_zygote_lost("cannot send it a request");
		return (0);	/* it has not got the descriptors */
	}
	/* The zygote is ours and quick: a short blocking wait is fine. */
	switch (proc_zygote_answer(&pid)) {
	case 1:
		return (pid);
	case 0:
		log_warnx("zygote: it could not fork; this worker is exec'd");
		return (0);
	default:
		proc_zygote_lost("no new worker from it");
		return (-1);
	}
}

/* A socketpair and a stderr pipe for a worker (or the zygote). */
static int
proc_worker_channels(const char *peer_name, int sp[2], int ep[2])
{
	return (proc_channels(peer_name, SOCK_STREAM | SOCK_NONBLOCK, sp, ep));
}

static void
proc_close4(int sp[2], int ep[2])
{
	close(sp[0]);
	close(sp[1]);
	close(ep[0]);
	close(ep[1]);
}

/*
 * Spawn one worker: forked by the zygote, or exec'd (--worker-exec, no
 * zygote, or EXEC set: the peer's last worker crashed on a signal, and
 * one forked from the zygote would share its stack canary and pointer
 * guard, letting a gateway guess them crash by crash).  Returns its pid
 * and our end of the socketpair in *fd (non-blocking, close-on-exec) and
 * of its stderr pipe in *errfd, or -1.
 */
pid_t
proc_spawn_worker(const char *path, const char *peer_name, int exec,
    int *fd, int *errfd)
{
	int	sp[2], ep[2], saved;
	pid_t	pid = 0;

	if (proc_worker_channels(peer_name, sp, ep) == -1)
		return (-1);
	if (zygote_fd != -1 && !exec &&
	    (pid = proc_zygote_spawn(sp[1], ep[1])) == -1) {
		/* A worker may hold these now: new ones for the exec'd one. */
		proc_close4(sp, ep);
		if (proc_worker_channels(peer_name, sp, ep) == -1)
			return (-1);
		pid = 0;
	}
	if (pid == 0 && (pid = proc_fork_exec(path, NULL, sp[1], ep[1])) ==
	    -1)
		log_warn("peer %s: fork", peer_name);
	saved = errno;
	close(sp[1]);
	close(ep[1]);
	if (pid == -1) {
		close(sp[0]);
		close(ep[0]);
		errno = saved;
		return (-1);
	}
	*fd = sp[0];
	*errfd = ep[0];
	return (pid);
}
