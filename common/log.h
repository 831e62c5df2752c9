#ifndef MESH_LOG_H
#define MESH_LOG_H

#include <stdarg.h>
#include <stddef.h>

#ifndef __dead
#define __dead __attribute__((__noreturn__))
#endif

/* Syslog-style levels, as sent in LOG messages from workers. */
#define LOG_LVL_ERR	3
#define LOG_LVL_WARNING	4
#define LOG_LVL_INFO	6
#define LOG_LVL_DEBUG	7

void	log_init(int verbose);
void	log_procinit(const char *name);
void	log_setverbose(int verbose);
int	log_getverbose(void);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_emit(int level, const char *, ...) __attribute__((format(printf, 2, 3)));
__dead void fatal(const char *, ...) __attribute__((format(printf, 1, 2)));
__dead void fatalx(const char *, ...) __attribute__((format(printf, 1, 2)));

/*
 * Hook for the worker: instead of writing to stderr, hand each formatted
 * line to fn (the worker sends it to the supervisor as a LOG message).
 */
void	log_sethook(void (*fn)(int level, const char *line));

/* Escape untrusted text for logging: at most dstlen-1 bytes, always NUL. */
const char *log_escape(char *dst, size_t dstlen, const char *src, size_t srclen);

#endif
