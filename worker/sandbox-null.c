/*
 * Built without libseccomp: no system-call filter.  The other layers
 * (limits, no_new_privs, Landlock) still apply; the worker says so once.
 */
#include "sandbox.h"
#include "worker.h"

int
sandbox_seccomp(int debug)
{
	log_info("sandbox: built without libseccomp, no system-call filter");
	return (0);
}

void
sandbox_seccomp_report(void)
{
}
