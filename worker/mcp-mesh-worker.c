/*
 * mcp-mesh-worker: started by mcp-mesh, one per peer, with its socketpair
 * on descriptor 3.  No arguments and no environment are read: the
 * configuration arrives over the socket (see mesh-proto.h).
 */
#include "worker.h"

int
main(int argc, char *argv[])
{
	return (worker_main());
}
