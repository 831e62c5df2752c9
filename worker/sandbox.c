/*
 * The sandbox's layers that need no library: descriptors, resource
 * limits, no_new_privs and the parent-death signal, then Landlock and
 * seccomp in their own files.  See sandbox.h for the order and why.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "mesh-proto.h"
#include "sandbox.h"
#include "worker.h"

/*
 * Descriptors the worker holds when the sandbox goes up: stdio, its socket
 * and libcurl's wake-up pair.  One above that is a descriptor leaked from
 * set-up (or inherited): it would be usable from inside the sandbox.
 */
#define SANDBOX_FDS_AT_ENTRY	8

static void
sandbox_check_fds(void)
{
	int	fd;

	for (fd = SANDBOX_FDS_AT_ENTRY; fd < SANDBOX_FDS_AT_ENTRY + 64; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			worker_fail(EX_SOFTWARE, "descriptor %d open when the "
			    "sandbox went up", fd);
}

static void
sandbox_rlimit(int resource, const char *name, rlim_t value)
{
	struct rlimit	rl = { value, value };

	if (setrlimit(resource, &rl) == -1)
		worker_fail(EX_OSERR, "setrlimit %s %llu: %s", name,
		    (unsigned long long)value, strerror(errno));
}

/*
 * FSIZE 0: no file grows (SIGXFSZ is ignored, so a write fails instead
 * of killing us); NPROC 0: no process or thread is created, as the peer's
 * address was resolved before (no resolver thread); no core with the
 * gateway's data in it.  Root is not bound by NPROC, which is one reason
 * workers never run as root (see worker_drop_privileges()).
 */
static void
sandbox_rlimits(const struct sandbox_policy *pol)
{
	sandbox_rlimit(RLIMIT_FSIZE, "FSIZE", 0);
	sandbox_rlimit(RLIMIT_CORE, "CORE", 0);
	sandbox_rlimit(RLIMIT_NOFILE, "NOFILE", WORKER_NOFILE_MAX);
	if (!SANDBOX_SANITIZER)
		sandbox_rlimit(RLIMIT_NPROC, "NPROC", 0);
	if (pol->memory_bytes != 0 && !SANDBOX_SANITIZER)
		sandbox_rlimit(RLIMIT_AS, "AS", pol->memory_bytes);
}

static void
sandbox_prctl(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		worker_fail(EX_OSERR, "PR_SET_NO_NEW_PRIVS: %s",
		    strerror(errno));
	/* After the credentials changed: a change clears the setting. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		worker_fail(EX_OSERR, "PR_SET_PDEATHSIG: %s", strerror(errno));
	/*
	 * Dropping root made us non-dumpable, which keeps other processes of
	 * the worker user from tracing us; LeakSanitizer's tracer is one.
	 */
	if (SANDBOX_SANITIZER && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == -1)
		worker_fail(EX_OSERR, "PR_SET_DUMPABLE: %s", strerror(errno));
	/* The parent may have died before PDEATHSIG was armed. */
	if (getppid() != worker_ppid) {
		log_warnx("supervisor gone before the sandbox was set up");
		worker_exit(EX_OK);
	}
}

void
sandbox_enter(const struct sandbox_policy *pol)
{
	int	ll, sc;

	sandbox_check_fds();
	sandbox_rlimits(pol);
	sandbox_prctl();
	ll = sandbox_landlock(pol->port);
	sc = sandbox_seccomp(pol->debug);
	log_debug("sandbox: limits, no_new_privs, parent-death signal%s%s%s",
	    ll ? ", Landlock" : "", sc ? ", seccomp allow-list" : "",
	    pol->debug && sc ? " (debug: traps are reported, not killed)" : "");
}

void
sandbox_report(void)
{
	sandbox_seccomp_report();
}
