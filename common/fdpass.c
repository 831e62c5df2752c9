/*
 * Descriptor passing: see fdpass.h.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fdpass.h"

union fdpass_cbuf {
	struct cmsghdr	hdr;
	char		buf[CMSG_SPACE(FDPASS_MAX * sizeof(int))];
};

static void
fdpass_msg(struct msghdr *msg, struct iovec *iov, char *op,
    union fdpass_cbuf *cbuf, int nfds)
{
	memset(msg, 0, sizeof(*msg));
	memset(cbuf, 0, sizeof(*cbuf));
	iov->iov_base = op;
	iov->iov_len = 1;
	msg->msg_iov = iov;
	msg->msg_iovlen = 1;
	msg->msg_control = cbuf->buf;
	msg->msg_controllen = CMSG_SPACE(nfds * sizeof(int));
}

int
fdpass_send(int sock, char op, const int *fds, int nfds, int flags)
{
	union fdpass_cbuf	 cbuf;
	struct msghdr		 msg;
	struct cmsghdr		*cmsg;
	struct iovec		 iov;

	if (nfds < 1 || nfds > FDPASS_MAX) {
		errno = EINVAL;
		return (-1);
	}
	fdpass_msg(&msg, &iov, &op, &cbuf, nfds);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
	return (sendmsg(sock, &msg, flags | MSG_NOSIGNAL) == 1 ? 0 : -1);
}

/* Close whatever descriptors a refused message carried. */
static void
fdpass_drop(struct msghdr *msg)
{
	struct cmsghdr	*cmsg;
	int		 fd;
	size_t		 i, n;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			close(fd);
		}
	}
}

int
fdpass_recv(int sock, char *op, int *fds, int nfds)
{
	union fdpass_cbuf	 cbuf;
	struct msghdr		 msg;
	struct cmsghdr		*cmsg;
	struct iovec		 iov;
	ssize_t			 n;

	if (nfds < 1 || nfds > FDPASS_MAX) {
		errno = EINVAL;
		return (-1);
	}
	fdpass_msg(&msg, &iov, op, &cbuf, FDPASS_MAX);
	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) == -1 &&
	    errno == EINTR)
		;
	if (n <= 0)
		return (n == 0 ? 0 : -1);
	cmsg = CMSG_FIRSTHDR(&msg);
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || cmsg == NULL ||
	    cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
	    cmsg->cmsg_len != CMSG_LEN(nfds * sizeof(int))) {
		fdpass_drop(&msg);
		errno = EBADMSG;
		return (-1);
	}
	memcpy(fds, CMSG_DATA(cmsg), nfds * sizeof(int));
	return (1);
}
