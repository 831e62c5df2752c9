/*
 * Logging, ntpd-style, tuned for systemd: always stderr (stdout belongs to
 * the stdio front-end), with "<N>" syslog priority prefixes only when
 * JOURNAL_STREAM says stderr is the journal.  Untrusted text is escaped by
 * the caller with log_escape() before it reaches a format.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define LIBBSD_OPENBSD_VIS	/* strnvis() with OpenBSD argument order */
#include <vis.h>

#include "log.h"

#define LOG_LINE_MAX	4096

static int	 log_verbose;
static int	 log_journal;
static char	 log_proc[64] = "mcp-mesh";
static void	(*log_hook)(int, const char *);

static void	 vlog(int, const char *, va_list) __attribute__((format(printf, 2, 0)));

void
log_init(int verbose)
{
	log_verbose = verbose;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void
log_procinit(const char *name)
{
	if (name != NULL)
		strlcpy(log_proc, name, sizeof(log_proc));
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

int
log_getverbose(void)
{
	return (log_verbose);
}

void
log_sethook(void (*fn)(int, const char *))
{
	log_hook = fn;
}

static void
vlog(int level, const char *fmt, va_list ap)
{
	char	line[LOG_LINE_MAX];
	int	saved = errno;

	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_hook != NULL)
		log_hook(level, line);
	else if (log_journal)
		dprintf(STDERR_FILENO, "<%d>%s: %s\n", level, log_proc, line);
	else
		dprintf(STDERR_FILENO, "%s: %s\n", log_proc, line);
	errno = saved;
}

void
log_emit(int level, const char *fmt, ...)
{
	va_list	ap;

	if (level >= LOG_LVL_DEBUG && !log_verbose)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

static void
vlog_errno(int level, const char *fmt, va_list ap)
{
	char	msg[LOG_LINE_MAX];
	int	saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_emit(level, "%s: %s", msg, strerror(saved));
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog_errno(LOG_LVL_WARNING, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_LVL_DEBUG, fmt, ap);
	va_end(ap);
}

__dead void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog_errno(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

__dead void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

const char *
log_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t	i, o = 0;
	char	tmp[5];

	if (dstlen == 0)
		return (dst);
	for (i = 0; i < srclen && o + 1 < dstlen; i++) {
		/* Every byte becomes at most 4 characters (\ooo). */
		vis(tmp, (unsigned char)src[i], VIS_OCTAL | VIS_CSTYLE | VIS_TAB | VIS_NL,
		    i + 1 < srclen ? src[i + 1] : '\0');
		if (o + strlen(tmp) + 1 > dstlen)
			break;
		memcpy(dst + o, tmp, strlen(tmp));
		o += strlen(tmp);
	}
	dst[o] = '\0';
	return (dst);
}
