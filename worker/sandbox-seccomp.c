/*
 * The sandbox with libseccomp.  For now a deny-list of what a worker that
 * only talks HTTP never needs and an attacker who took over libcurl or
 * json-c would want first: running programs, new processes, debugging
 * other processes, namespaces, kernel modules, BPF, keyrings.  Default
 * allow, so it cannot break libcurl or its TLS library; the measured
 * allow-list (default kill, EACCES for opens, a trap mode that names the
 * system call) replaces it with the fault-isolation work.
 */
#include <errno.h>
#include <sched.h>
#include <sysexits.h>

#include <seccomp.h>

#include "sandbox.h"
#include "worker.h"

/* Killed: nothing legitimate in the worker does these. */
static const int sandbox_kill[] = {
	SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(ptrace),
	SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
	SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root),
	SCMP_SYS(chroot), SCMP_SYS(init_module), SCMP_SYS(finit_module),
	SCMP_SYS(delete_module), SCMP_SYS(kexec_load), SCMP_SYS(bpf),
	SCMP_SYS(setns), SCMP_SYS(unshare), SCMP_SYS(keyctl),
	SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(userfaultfd),
	SCMP_SYS(perf_event_open), SCMP_SYS(open_by_handle_at),
	SCMP_SYS(fork), SCMP_SYS(vfork),
};

/*
 * LeakSanitizer stops the world at exit with a tracer: ptrace and a
 * clone without CLONE_THREAD.  Sanitizer builds keep those two.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER	1
#else
#define SANDBOX_SANITIZER	0
#endif

static int
sandbox_rules(scmp_filter_ctx ctx)
{
	size_t	i;

	for (i = 0; i < sizeof(sandbox_kill) / sizeof(*sandbox_kill); i++) {
		if (SANDBOX_SANITIZER && sandbox_kill[i] == SCMP_SYS(ptrace))
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS,
		    sandbox_kill[i], 0) < 0)
			return (-1);
	}
	if (SANDBOX_SANITIZER)
		return (0);
	/*
	 * Threads (libcurl's resolver) yes, processes no.  clone3 hides its
	 * flags in memory where a filter cannot look: ENOSYS makes the C
	 * library fall back to clone, whose flags we can check.
	 */
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
	    0) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)) < 0)
		return (-1);
	return (0);
}

void
sandbox_enter(void)
{
	scmp_filter_ctx	ctx;

	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL)
		worker_fail(EX_OSERR, "seccomp_init failed");
	if (sandbox_rules(ctx) == -1 || seccomp_load(ctx) < 0) {
		seccomp_release(ctx);
		worker_fail(EX_OSERR, "cannot load the seccomp filter");
	}
	seccomp_release(ctx);
	log_debug("seccomp deny-list loaded; the allow-list and Landlock "
	    "come with fault isolation");
}
