#ifndef MESH_UTIL_H
#define MESH_UTIL_H

#include <stdint.h>

int		 fd_nonblock(int fd);
int		 fd_blocking(int fd);
int		 fd_cloexec(int fd, int on);
uint64_t	 now_ms(void);		/* CLOCK_MONOTONIC */
uint64_t	 now_us(void);
const char	*exit_reason(int status, char *buf, int len); /* from waitpid */
const char	*sysexit_name(int code);

#endif
