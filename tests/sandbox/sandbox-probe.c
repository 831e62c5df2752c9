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
 *	ok	nothing: serve as a worker	(the probe itself works)
 *
 * A refusal is reported as FAIL "probe NAME: refused: <errno text>" with
 * EX_CONFIG (permanent, so the supervisor does not restart it); an act
 * that went through is reported as "probe NAME: NOT REFUSED".  An act
 * killed by the filter reports nothing: the supervisor sees SIGSYS.
 */
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
#include <unistd.h>

#include "mesh-proto.h"
#include "worker.h"
#include "integration/logtext.h"

#define PROBE_FILE	"/tmp/mcp-mesh-sandbox-probe"	/* .PID appended */

static __dead void
probe_result(const char *act, int rv)
{
	if (rv == -1)
		worker_fail(EX_CONFIG, PROBE_REFUSED, act, strerror(errno));
	worker_fail(EX_CONFIG, PROBE_NOT_REFUSED, act);
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

/* The port in the URL's "?port=N": one that is not the peer's. */
static void
probe_other(struct sockaddr_in *sin)
{
	const char	*q, *errstr;
	long long	 port;

	if ((q = strstr(worker_conf.url, "?port=")) == NULL)
		worker_fail(EX_CONFIG, "probe: no ?port=N in the URL");
	port = strtonum(q + 6, 1, 65535, &errstr);
	if (errstr != NULL)
		worker_fail(EX_CONFIG, "probe: port %s", errstr);
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
	upstream_start();
	worker_loop();
}
