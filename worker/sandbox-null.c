/*
 * The sandbox without libseccomp: the resource limits, no_new_privs and
 * the parent-death signal set in worker.c are all there is.
 */
#include "sandbox.h"
#include "worker.h"

void
sandbox_enter(void)
{
	log_debug("built without libseccomp: no system-call filter");
}
