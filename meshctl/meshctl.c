/*
 * meshctl: control a running mcp-mesh over its UNIX control socket.
 *
 * This build has the command parser; the supervisor's control socket and
 * the request/reply protocol arrive with the meshctl issue.  Until then
 * meshctl checks the socket and says plainly that it cannot be reached.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "parser.h"

#define MESHCTL_SOCKET_DEFAULT	"/run/mcp-mesh/control.sock"

static int
control_connect(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		fprintf(stderr, "meshctl: socket path too long: %s\n", path);
		return (-1);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "meshctl: cannot reach mcp-mesh at %s: %s\n",
		    path, strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

int
main(int argc, char **argv)
{
	struct meshctl_cmd	 cmd;
	const char		*sock = getenv("MESHCTL_SOCKET");
	int			 ch, fd;

	if (sock == NULL)
		sock = MESHCTL_SOCKET_DEFAULT;
	while ((ch = getopt(argc, argv, "s:")) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		default:
			parse_usage();
			return (EX_USAGE);
		}
	}
	if (parse_command(argc - optind, argv + optind, &cmd) == -1)
		return (EX_USAGE);
	if ((fd = control_connect(sock)) == -1)
		return (EX_UNAVAILABLE);
	fprintf(stderr, "meshctl: this mcp-mesh has no control protocol yet\n");
	close(fd);
	return (EX_UNAVAILABLE);
}
