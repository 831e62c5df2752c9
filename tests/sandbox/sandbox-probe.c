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
 *	connect	TCP connect to the port in the URL's query "?connect=N",
 *		not the peer's			must fail (Landlock ABI 4)
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
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "worker.h"

#define PROBE_FILE	"/tmp/mcp-mesh-sandbox-probe"

static __dead void
probe_result(const char *act, int rv)
{
	if (rv == -1)
		worker_fail(EX_CONFIG, "probe %s: refused: %s", act,
		    strerror(errno));
	worker_fail(EX_CONFIG, "probe %s: NOT REFUSED", act);
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
	int	fd;

	if ((fd = open(PROBE_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return (-1);
	close(fd);
	unlink(PROBE_FILE);
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

static int
probe_connect(void)
{
	struct sockaddr_in	 sin;
	const char		*q;
	int			 fd, r, port;

	if ((q = strstr(worker_conf.url, "?connect=")) == NULL ||
	    (port = atoi(q + 9)) <= 0 || port > 65535)
		worker_fail(EX_CONFIG, "probe connect: no ?connect=PORT");
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return (r);
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
};

int
main(int argc, char *argv[])
{
	size_t	i;

	worker_setup();
	for (i = 0; i < sizeof(probes) / sizeof(*probes); i++)
		if (strcmp(worker_conf.name, probes[i].name) == 0)
			probe_result(probes[i].name, probes[i].fn());
	upstream_start();
	worker_loop();
}
