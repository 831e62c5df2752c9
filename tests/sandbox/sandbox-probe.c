/*
 * sandbox-probe: a worker that, once sandboxed, tries what the sandbox
 * must refuse.  It is the real worker up to the sandbox (worker_setup():
 * HELLO, CONFIG over the socketpair, privileges dropped, libcurl set up,
 * every layer applied), started by the real mcp-mesh through
 * --worker-path.  The peer's name says what to try:
 *
 *	exec	execve(/bin/true)		must kill it (SIGSYS)
 *	fork	fork()				must kill it (SIGSYS)
 *	write	open a new file for writing	must fail (EACCES)
 *	read	open /etc/passwd for reading	must fail (Landlock)
 *	connect	TCP connect to the port in the URL's query "?port=N",
 *		not the peer's			must fail (Landlock ABI 4)
 *	tfo	the same with a TCP Fast Open sendto, which passes
 *		Landlock's connect check	must kill it (SIGSYS)
 *	udp	a UDP socket (Landlock limits TCP only)
 *						must kill it (SIGSYS)
 *	sigio	F_SETOWN on its socket, to aim SIGIO elsewhere
 *						must kill it (SIGSYS)
 *	stderr	write lines to stderr: a forged log line, control bytes,
 *		then more than WORKER_STDERR_MAX bytes, and fail
 *	addr	TCP connect to the peer's port on 127.0.0.2, not the
 *		peer's address	must fail (EPERM: the cgroup's connect hook)
 *	mem	allocate and touch "?mib=N" MiB, 1 MiB at a time
 *					must kill it (SIGKILL: memory.max);
 *					refused (ENOMEM): RLIMIT_AS came first
 *	spin	burn CPU for "?ms=N" ms, then report how much it got
 *					(cpu.max: about half of it)
 *	ok	nothing: serve as a worker	(the probe itself works)
 *
 * A refusal is reported as FAIL "probe NAME: refused: <errno text>" with
 * EX_CONFIG (permanent, so the supervisor does not restart it); an act
 * that went through is reported as "probe NAME: NOT REFUSED".  An act
 * killed by the filter reports nothing: the supervisor sees SIGSYS.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "mesh-proto.h"
#include "sandbox.h"
#include "transport.h"
#include "worker.h"
#include "integration/logtext.h"

#define PROBE_FILE	"/tmp/mcp-mesh-sandbox-probe"	/* .PID appended */
#define PROBE_MIB	(1024 * 1024)

static __dead void
probe_result(const char *act, int rv)
{
	if (rv == -1)
		sup_fail(EX_CONFIG, PROBE_REFUSED, act, strerror(errno));
	sup_fail(EX_CONFIG, PROBE_NOT_REFUSED, act);
}

static int
probe_fork(void)
{
	pid_t	pid;

	if ((pid = fork()) == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return (pid == -1 ? -1 : 0);
}

static int
probe_exec(void)
{
	char	*argv[] = { (char *)"true", NULL };
	char	*envp[] = { NULL };

	return (execve("/bin/true", argv, envp));
}

static int
probe_write(void)
{
	char	path[64];
	int	fd;

	snprintf(path, sizeof(path), "%s.%ld", PROBE_FILE, (long)getpid());
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return (-1);
	close(fd);
	unlink(path);
	return (0);
}

static int
probe_read(void)
{
	int	fd;

	if ((fd = open("/etc/passwd", O_RDONLY)) == -1)
		return (-1);
	close(fd);
	return (0);
}

/* N of "?key=N" in the URL. */
static long long
probe_query(const char *key, long long max)
{
	char		 k[32];
	const char	*q, *errstr;
	long long	 v;

	snprintf(k, sizeof(k), "?%s=", key);
	if ((q = strstr(worker_conf.url, k)) == NULL)
		sup_fail(EX_CONFIG, "probe: no %sN in the URL", k);
	v = strtonum(q + strlen(k), 1, max, &errstr);
	if (errstr != NULL)
		sup_fail(EX_CONFIG, "probe: %s %s", key, errstr);
	return (v);
}

/* The port in the URL's "?port=N": one that is not the peer's. */
static void
probe_other(struct sockaddr_in *sin)
{
	long long	port = probe_query("port", 65535);

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static int
probe_connect(void)
{
	struct sockaddr_in	 sin;
	int			 fd, r;

	probe_other(&sin);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return (r);
}

static int
probe_tfo(void)
{
	struct sockaddr_in	 sin;
	int			 fd;
	ssize_t			 n;

	probe_other(&sin);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	n = sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&sin,
	    sizeof(sin));
	close(fd);
	return (n == -1 ? -1 : 0);
}

static int
probe_udp(void)
{
	struct sockaddr_in	 sin;
	int			 fd;
	ssize_t			 n;

	probe_other(&sin);
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		return (-1);
	n = sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return (n == -1 ? -1 : 0);
}

static int
probe_sigio(void)
{
	return (fcntl(WORKER_FD, F_SETOWN, (int)getppid()));
}

static int
probe_stderr(void)
{
	static char	flood[WORKER_STDERR_MAX + 4096];

	dprintf(STDERR_FILENO, "mcp-mesh: peer ok: ready (forged)\n");
	dprintf(STDERR_FILENO, "bell\a and escape\033[31m\n");
	memset(flood, 'f', sizeof(flood));
	(void)!write(STDERR_FILENO, flood, sizeof(flood));
	errno = EIO;
	return (-1);
}

/* The peer's port, another loopback address (lo answers all of 127/8). */
static int
probe_addr(void)
{
	struct sandbox_policy	 pol;
	struct sockaddr_in	 sin;
	int			 fd, r;

	/* The port the sandbox leaves the worker: its transport's. */
	memset(&pol, 0, sizeof(pol));
	worker_conf.transport->policy(&pol);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(pol.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return (r);
}

/* Touched, so that it is resident: memory.max counts pages, not maps. */
static int
probe_mem(void)
{
	long long	 i, mib = probe_query("mib", 1024 * 1024);
	char		*p;

	for (i = 0; i < mib; i++) {
		if ((p = mmap(NULL, PROBE_MIB, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
			return (-1);
		memset(p, 'm', PROBE_MIB);
	}
	return (0);
}

/* Never refused: it reports the CPU it got in the wall time it spun. */
static int
probe_spin(void)
{
	struct timespec		 t0, t;
	long long		 ms = probe_query("ms", 60000), el;
	volatile unsigned	 x = 0;
	int			 i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (i = 0; i < 100000; i++)
			x += (unsigned)i;
		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000;
	} while (el < ms);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	sup_fail(EX_CONFIG, PROBE_SPIN,
	    (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000, el);
}

static const struct {
	const char	*name;
	int		(*fn)(void);
} probes[] = {
	{ "exec",	probe_exec },
	{ "fork",	probe_fork },
	{ "write",	probe_write },
	{ "read",	probe_read },
	{ "connect",	probe_connect },
	{ "tfo",	probe_tfo },
	{ "udp",	probe_udp },
	{ "sigio",	probe_sigio },
	{ "stderr",	probe_stderr },
	{ "addr",	probe_addr },
	{ "mem",	probe_mem },
	{ "spin",	probe_spin },
};

int
main(int argc, char *argv[])
{
	size_t	i;

	if (argc == 2 && strcmp(argv[1], "zygote") == 0)
		zygote_main(argv[1]);	/* returns in each new worker */
	worker_setup();
	for (i = 0; i < sizeof(probes) / sizeof(*probes); i++)
		if (strcmp(worker_conf.name, probes[i].name) == 0)
			probe_result(probes[i].name, probes[i].fn());
	worker_start();
	worker_loop();
}
