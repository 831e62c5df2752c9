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
 * Descriptors above WORKER_FD when the sandbox goes up: the inherited ones
 * were closed first thing (closefrom), so these are set-up's own, which
 * should be libcurl's wake-up pair (or eventfd) and nothing else.  More
 * means set-up leaked one (a resolver's socket to nscd, say) that would
 * stay usable inside the sandbox.  Scanned up to the descriptor limit in
 * force (at most SANDBOX_FD_SCAN_MAX), before it is lowered.
 */
#define SANDBOX_SETUP_FDS_MAX	4
#define SANDBOX_FD_SCAN_MAX	65536

static void
sandbox_check_fds(void)
{
	struct rlimit	rl;
	rlim_t		top = SANDBOX_FD_SCAN_MAX;
	int		fd, n = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < top)
		top = rl.rlim_cur;
	for (fd = WORKER_FD + 1; (rlim_t)fd < top; fd++)
		if (fcntl(fd, F_GETFD) != -1 && ++n > SANDBOX_SETUP_FDS_MAX)
			sup_fail(EX_SOFTWARE, "descriptor %d open when the "
			    "sandbox went up (set-up leaked one)", fd);
}

static void
sandbox_rlimit(int resource, const char *name, rlim_t value)
{
	struct rlimit	rl = { value, value };

	if (setrlimit(resource, &rl) == -1)
		sup_fail(EX_OSERR, "setrlimit %s %llu: %s", name,
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
		sup_fail(EX_OSERR, "PR_SET_NO_NEW_PRIVS: %s",
		    strerror(errno));
	/* After the credentials changed: a change clears the setting. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		sup_fail(EX_OSERR, "PR_SET_PDEATHSIG: %s", strerror(errno));
	/*
	 * Not dumpable: no process of the same user (a sibling worker, when
	 * the supervisor is not root and all share its user) may trace us or
	 * read our memory or /proc files.  Dropping root already did this;
	 * LeakSanitizer's tracer is such a process, so sanitizer builds
	 * stay dumpable.
	 */
	if (prctl(PR_SET_DUMPABLE, SANDBOX_SANITIZER, 0, 0, 0) == -1)
		sup_fail(EX_OSERR, "PR_SET_DUMPABLE: %s", strerror(errno));
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
