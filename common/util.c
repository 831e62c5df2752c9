/* Small helpers shared by every program: descriptors, clocks, exit causes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>

#include "util.h"

int
fd_nonblock(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, flags | O_NONBLOCK));
}

int
fd_blocking(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, flags & ~O_NONBLOCK));
}

int
fd_cloexec(int fd, int on)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFD)) == -1)
		return (-1);
	flags = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
	return (fcntl(fd, F_SETFD, flags));
}

uint64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

uint64_t
now_ms(void)
{
	return (now_us() / 1000);
}

struct timeval
ms_tv(uint64_t ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return (tv);
}

const char *
sysexit_name(int code)
{
	switch (code) {
	case EX_OK:		return ("ok");
	case EX_USAGE:		return ("usage error");
	case EX_DATAERR:	return ("data error");
	case EX_UNAVAILABLE:	return ("peer unavailable");
	case EX_SOFTWARE:	return ("internal error");
	case EX_OSERR:		return ("system error");
	case EX_TEMPFAIL:	return ("temporary failure");
	case EX_PROTOCOL:	return ("protocol error");
	case EX_NOPERM:		return ("permission denied by peer");
	case EX_CONFIG:		return ("configuration error");
	default:		return ("unknown exit code");
	}
}

/* Say why a child stopped, from its waitpid status; SIGSYS is the sandbox. */
const char *
exit_reason(int status, char *buf, int len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited %d (%s)", WEXITSTATUS(status),
		    sysexit_name(WEXITSTATUS(status)));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		snprintf(buf, len, "killed by SIGSYS (sandbox violation)");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by SIG%s%s", sigabbrev_np(WTERMSIG(status)) ?
		    sigabbrev_np(WTERMSIG(status)) : "?",
		    WCOREDUMP(status) ? " (core dumped)" : "");
	else
		snprintf(buf, len, "stopped (status %#x)", status);
	return (buf);
}
