/*
 * mcp-mesh-worker: started by mcp-mesh, one per peer, with its socketpair
 * on descriptor 3; or, with the one argument "zygote", as the process
 * that forks the workers (zygote.c).  No other argument and no
 * environment is read: a worker's configuration arrives over its socket
 * (see mesh-proto.h).
 */
#include <string.h>

#include "worker.h"

int
main(int argc, char *argv[])
{
	if (argc == 2 && strcmp(argv[1], "zygote") == 0)
		zygote_main(argv[1]);	/* returns in each new worker */
	return (worker_main());
}
