/*
 * Worker processes: fork + exec with a fixed descriptor contract (the
 * socketpair on WORKER_FD, /dev/null on stdin and stdout, a pipe on
 * stderr whose lines the supervisor logs, nothing else), an empty
 * environment (configuration goes over the socket, so nothing shows in
 * ps or /proc/PID/environ, and no http_proxy or LD_PRELOAD reaches the
 * worker), and reaping on SIGCHLD from the loop.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "mesh-proto.h"
#include "mesh.h"

static struct event	*ev_sigchld;

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
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		worker_exited(pid, status);
}

void
proc_init(void)
{
	ev_sigchld = evsignal_new(ev_base, SIGCHLD, proc_sigchld, NULL);
	if (ev_sigchld == NULL || evsignal_add(ev_sigchld, NULL) == -1)
		fatalx("proc_init: SIGCHLD event");
}

void
proc_shutdown(void)
{
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
proc_exec_child(const char *path, int fd, int errfd, char **envp)
{
	int		 null;
	sigset_t	 set;
	char		*argv[] = { (char *)"mcp-mesh-worker", NULL };
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
	/* libevent blocks nothing, but be sure the worker starts clean. */
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	execve(path, argv, envp);
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(127);
}

/*
 * Spawn one worker.  Returns its pid and our end of the socketpair in *fd
 * (non-blocking, close-on-exec), or -1.
 */
pid_t
proc_spawn_worker(const char *path, const char *peer_name, int *fd,
    int *errfd)
{
	char	*envp[PROC_ENV_MAX];
	int	 sp[2], ep[2];
	pid_t	 pid;

	/* Built before fork: the child may only make async-signal-safe calls. */
	proc_worker_env(envp);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sp) == -1) {
		log_warn("peer %s: socketpair", peer_name);
		return (-1);
	}
	/* Its stderr: a pipe we read (worker-stderr.c), never our own. */
	if (pipe2(ep, O_CLOEXEC) == -1 || fd_nonblock(ep[0]) == -1) {
		log_warn("peer %s: stderr pipe", peer_name);
		close(sp[0]);
		close(sp[1]);
		return (-1);
	}
	switch (pid = fork()) {
	case -1:
		log_warn("peer %s: fork", peer_name);
		close(sp[0]);
		close(sp[1]);
		close(ep[0]);
		close(ep[1]);
		return (-1);
	case 0:
		close(sp[0]);
		/* The worker's end is blocking until it decides otherwise. */
		fcntl(sp[1], F_SETFL, 0);
		proc_exec_child(path, sp[1], ep[1], envp);
		/* NOTREACHED */
	}
	close(sp[1]);
	close(ep[1]);
	*fd = sp[0];
	*errfd = ep[0];
	return (pid);
}
