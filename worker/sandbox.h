/*
 * The worker's sandbox.  sandbox_enter() is called once, after set-up
 * (configuration read, privileges dropped, curl_global_init, the multi
 * handle and its wake-up pair created, the peer's address resolved) and
 * before the first byte from the gateway is read.  It applies, in this
 * order, each layer relying on the ones before it:
 *
 *	1. descriptors: every inherited one but 0-2 and WORKER_FD is closed
 *	   (worker_main() already did; sandbox.c checks none came back);
 *	2. resource limits: no new processes, no file growth, no core,
 *	   WORKER_NOFILE_MAX descriptors, the configured address space;
 *	3. no_new_privs;
 *	4. the parent-death signal, then the parent re-checked;
 *	5. Landlock (sandbox-landlock.c) where the kernel has it: the
 *	   filesystem read-only and only where TLS reads, TCP connect only
 *	   to the peer's port, no signals or abstract sockets outside;
 *	6. the seccomp allow-list (sandbox-seccomp.c, or sandbox-null.c when
 *	   built without libseccomp): default kill.
 *
 * Every layer the kernel or the build lacks is logged once and skipped:
 * the worker still runs.  ARCHITECTURE.md ("Sandbox") lists what a worker
 * may and may not do.
 */
#ifndef MESH_SANDBOX_H
#define MESH_SANDBOX_H

#include <stdint.h>

#include "transport.h"

/*
 * What the worker needs: its transport decides (a stdio upstream will
 * want its pipes, not TCP).
 */
struct sandbox_policy {
	enum transport_kind transport;
	uint16_t	 port;		/* the only TCP port it may connect to */
	uint64_t	 memory_bytes;	/* RLIMIT_AS; 0: none (sanitizers) */
	int		 debug;		/* trap and report instead of kill */
};

/* sandbox.c */
void	 sandbox_enter(const struct sandbox_policy *);
/* In the loop: log what debug mode saw since the last call. */
void	 sandbox_report(void);

/* sandbox-landlock.c: 1 applied, 0 not offered by the kernel. */
int	 sandbox_landlock(uint16_t port);

/* sandbox-seccomp.c / sandbox-null.c: 1 loaded, 0 not built in. */
int	 sandbox_seccomp(int debug);
void	 sandbox_seccomp_report(void);

/*
 * Sanitizer runtimes need what the worker itself never does: LeakSanitizer
 * stops the world at exit with a tracer (clone without CLONE_THREAD,
 * ptrace) and reads /proc; AddressSanitizer reserves terabytes of address
 * space.  Sanitizer builds relax exactly those and nothing else.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER	1
#endif
#endif
#ifndef SANDBOX_SANITIZER
#define SANDBOX_SANITIZER	0
#endif

#endif
