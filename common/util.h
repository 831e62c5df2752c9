#ifndef MESH_UTIL_H
#define MESH_UTIL_H

#include <sys/time.h>

#include <stdint.h>

int		 fd_nonblock(int fd);
int		 fd_blocking(int fd);
int		 fd_cloexec(int fd, int on);
uint64_t	 now_ms(void);		/* CLOCK_MONOTONIC */
uint64_t	 now_us(void);
struct timeval	 ms_tv(uint64_t ms);	/* for evtimer_add() */
const char	*exit_reason(int status, char *buf, int len); /* from waitpid */
const char	*sysexit_name(int code);

#endif
