/*
 * The zygote: one worker process that the supervisor starts first and
 * that forks every other worker.  It loads and initializes what every
 * worker needs (libcurl, OpenSSL, the C library's allocator) once, so the
 * pages that work dirties (relocations of the ~36 libraries libcurl
 * pulls in, OpenSSL's tables) are shared copy-on-write by all workers
 * instead of copied into each: a worker's own memory drops from about
 * 1.4 MiB to about 0.1 MiB (BENCHMARKS.md).  The price: workers share the
 * zygote's address-space layout instead of each getting its own from
 * exec; `mcp-mesh --worker-exec` takes the other side of that trade.
 *
 * The zygote never sees a peer's configuration: it knows nothing worth
 * stealing.  It is not dumpable and has no_new_privs.  A worker whose
 * predecessor crashed on a signal is exec'd instead (proc.c): forked
 * ones share the zygote's stack canary and pointer guard, which a
 * gateway could otherwise guess crash by crash.  It talks only to the supervisor, on WORKER_FD, a
 * SOCK_SEQPACKET socket: each request is one byte with two descriptors
 * attached (the new worker's socketpair end and its stderr pipe); the
 * answer is the new worker's pid.  The worker is a grandchild: the child
 * in between exits at once, so the worker is re-parented to the
 * supervisor (a child subreaper), which reaps it and gets its exit
 * status as with fork and exec.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fdpass.h"
#include "mesh-proto.h"
#include "sandbox.h"
#include "worker.h"

/* A new worker waits this long to be re-parented to the supervisor. */
#define ZYGOTE_REPARENT_MS	2000

static pid_t	zygote_supervisor;
static char	*zygote_arg;		/* "zygote" in argv, for ps */

/* Receive one request: 1 with both descriptors, 0 on EOF, -1 on error. */
static int
zygote_recv(int *fd, int *errfd)
{
	char	op;
	int	fds[2], r;

	if ((r = fdpass_recv(WORKER_FD, &op, fds, 2)) != 1)
		return (r);
	if (op != 'S') {
		close(fds[0]);
		close(fds[1]);
		log_warnx("zygote: unknown request from the supervisor");
		return (-1);
	}
	*fd = fds[0];
	*errfd = fds[1];
	return (1);
}

static void
zygote_reply(pid_t pid)
{
	int32_t	v = (int32_t)pid;

	(void)!send(WORKER_FD, &v, sizeof(v), MSG_NOSIGNAL);
}

/*
 * In the new worker: take the descriptors of the exec contract (the
 * socketpair on WORKER_FD, stderr the pipe), wait to be the supervisor's
 * child, and go on as a freshly started worker.
 */
static void
zygote_become_worker(int fd, int errfd)
{
	struct timespec	 ts = { 0, 1000000 };
	int		 ms;

	if (dup2(errfd, STDERR_FILENO) == -1 || dup2(fd, WORKER_FD) == -1)
		_exit(EX_OSERR);
	close(fd);
	close(errfd);
	closefrom(WORKER_FD + 1);
	signal(SIGCHLD, SIG_DFL);
	/* ps shows "mcp-mesh-worker", not the zygote's argument. */
	prctl(PR_SET_NAME, "mcp-mesh-worker", 0, 0, 0);
	memset(zygote_arg, 0, strlen(zygote_arg));
	for (ms = 0; getppid() != zygote_supervisor; ms++) {
		if (ms == ZYGOTE_REPARENT_MS)
			_exit(EX_OSERR);
		nanosleep(&ts, NULL);
	}
}

/* One spawn: returns in the new worker only. */
static int
zygote_spawn(int fd, int errfd)
{
	pid_t	mid, pid;
	int	status;

	switch (mid = fork()) {
	case -1:
		log_warn("zygote: fork");
		close(fd);
		close(errfd);
		zygote_reply(-1);
		return (-1);
	case 0:
		/* The child in between: fork the worker, say its pid, go. */
		if ((pid = fork()) == 0) {
			zygote_become_worker(fd, errfd);
			return (0);
		}
		zygote_reply(pid);	/* -1 if that fork failed */
		_exit(0);
	}
	close(fd);
	close(errfd);
	while (waitpid(mid, &status, 0) == -1 && errno == EINTR)
		;
	return (-1);
}

/*
 * Run as the zygote (arg: its "zygote" in argv): returns only in a new
 * worker, whose main then goes on with worker_setup() as if it had just
 * been executed.
 */
void
zygote_main(char *arg)
{
	int	fd = -1, errfd = -1, r;

	zygote_arg = arg;
	zygote_supervisor = getppid();
	closefrom(WORKER_FD + 1);
	signal(SIGPIPE, SIG_IGN);
	log_init(0);
	log_procinit("zygote");
	prctl(PR_SET_NAME, "mcp-mesh-zygote", 0, 0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != zygote_supervisor)
		exit(EX_OSERR);
	/*
	 * Every worker is forked from this memory: no process of our user
	 * (a worker without Landlock and seccomp, say) may trace it or
	 * write it.  Workers become dumpable again only in sanitizer builds
	 * (sandbox.c), and setuid is not exec: no_new_privs does not stop
	 * them becoming --worker-user.
	 */
	if (prctl(PR_SET_DUMPABLE, SANDBOX_SANITIZER, 0, 0, 0) == -1 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		exit(EX_OSERR);
	/* What every worker would otherwise do for itself. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("zygote: curl_global_init failed");
	curl_multi_cleanup(curl_multi_init());
	malloc_trim(0);
	for (;;) {
		if ((r = zygote_recv(&fd, &errfd)) == 0)
			exit(0);	/* the supervisor is gone */
		if (r == -1)
			exit(EX_SOFTWARE);
		if (zygote_spawn(fd, errfd) == 0)
			return;
	}
}
