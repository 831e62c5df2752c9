/*
 * Descriptor passing over a UNIX socket (SCM_RIGHTS): one byte of
 * operation and a fixed number of descriptors, used between the
 * supervisor and the zygote (supervisor/proc.c, worker/zygote.c).
 */
#ifndef MESH_FDPASS_H
#define MESH_FDPASS_H

#define FDPASS_MAX	2	/* descriptors in one message */

/* 0, or -1 with errno.  flags: as for sendmsg(2). */
int	fdpass_send(int sock, char op, const int *fds, int nfds, int flags);
/*
 * 1 with *op and exactly nfds descriptors (close-on-exec), 0 on end of
 * file, -1 on error or a message of another shape (errno EBADMSG; any
 * descriptors it carried are closed).
 */
int	fdpass_recv(int sock, char *op, int *fds, int nfds);

#endif
