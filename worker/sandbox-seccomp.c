/*
 * The system-call allow-list, with libseccomp.  Default: kill the process
 * (SIGSYS, which the supervisor names a sandbox violation).  The list is
 * what a worker was measured to do against real gateways (the test suite,
 * the benchmark, the demo; normal and sanitizer builds) in debug mode:
 * there the default is a trap whose handler notes the call and fails it
 * with ENOSYS, and the loop logs the name (sandbox_seccomp_report()).
 * Run `mcp-mesh --sandbox-debug -v` to see what a new libcurl or C
 * library wants before adding it here.
 *
 * Some calls are allowed with their arguments checked: no executable
 * memory is mapped after start-up, files are opened only for reading
 * (else EACCES: Landlock then limits where), sockets are TCP over IP
 * only and never sent on with Fast Open, fcntl cannot aim SIGIO, signals
 * and limit queries go only to ourselves, and clone makes threads, never
 * processes.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <ucontext.h>
#include <unistd.h>

#include <seccomp.h>

#include "sandbox.h"
#include "worker.h"

/* Numbers noted in debug mode; above it a number is reported as one. */
#define SANDBOX_NR_MAX	1024

static const int sandbox_allow[] = {
	/* descriptors and sockets already open */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(close), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(lseek),
	SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(connect), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(recvfrom),
	SCMP_SYS(recvmsg), SCMP_SYS(shutdown),
	/* memory */
	SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(brk), SCMP_SYS(madvise),
	/* time, randomness, identity */
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(gettimeofday), SCMP_SYS(getrandom), SCMP_SYS(getpid),
	SCMP_SYS(gettid), SCMP_SYS(getppid), SCMP_SYS(getuid),
	SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(uname), SCMP_SYS(sysinfo),
	/* signals and threads of our own */
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack), SCMP_SYS(futex),
	SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
};

static volatile sig_atomic_t	sandbox_trapped;
static volatile unsigned char	sandbox_seen[SANDBOX_NR_MAX / 8 + 1];
static unsigned char		sandbox_told[SANDBOX_NR_MAX / 8 + 1];

/* One rule with at most one argument checked (cmp NULL: none). */
static int
sandbox_rule(scmp_filter_ctx ctx, uint32_t action, int nr,
    const struct scmp_arg_cmp *cmp)
{
	return (seccomp_rule_add_array(ctx, action, nr, cmp != NULL, cmp) < 0);
}

/*
 * open and openat: allowed when no flag asks for writing; each writing
 * flag is its own EACCES rule (a filter compares masks for equality, so
 * "any of them" is several rules), and a write is refused, not a crash.
 */
static int
sandbox_rules_open(scmp_filter_ctx ctx, int nr, unsigned arg)
{
	static const scmp_datum_t flags[] = {
		O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND,
		O_TMPFILE & ~O_DIRECTORY,
	};
	struct scmp_arg_cmp	 c;
	scmp_datum_t		 all = 0;
	size_t			 i;
	int			 r = 0;

	for (i = 0; i < sizeof(flags) / sizeof(*flags); i++) {
		all |= flags[i];
		c = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, flags[i], flags[i]);
		r |= sandbox_rule(ctx, SCMP_ACT_ERRNO(EACCES), nr, &c);
	}
	c = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, all, 0);
	r |= sandbox_rule(ctx, SCMP_ACT_ALLOW, nr, &c);
	return (r);
}

/* One rule with up to three arguments checked, all of them to match. */
static int
sandbox_rule_n(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n,
    const struct scmp_arg_cmp *cmp)
{
	return (seccomp_rule_add_array(ctx, action, nr, n, cmp) < 0);
}

/*
 * socket: TCP over IPv4 or IPv6, nothing else.  Landlock's port rules
 * cover TCP only, so UDP, SCTP or MPTCP would reach any port.  The type
 * may carry SOCK_NONBLOCK and SOCK_CLOEXEC; a filter compares whole
 * values, so each combination is a rule.
 */
static int
sandbox_rules_socket(scmp_filter_ctx ctx)
{
	static const scmp_datum_t fams[] = { AF_INET, AF_INET6 };
	static const scmp_datum_t types[] = {
		SOCK_STREAM, SOCK_STREAM | SOCK_NONBLOCK,
		SOCK_STREAM | SOCK_CLOEXEC,
		SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	};
	static const scmp_datum_t protos[] = { 0, IPPROTO_TCP };
	struct scmp_arg_cmp	 c[3];
	size_t			 f, t, p;
	int			 r = 0;

	for (f = 0; f < sizeof(fams) / sizeof(*fams); f++)
		for (t = 0; t < sizeof(types) / sizeof(*types); t++)
			for (p = 0; p < sizeof(protos) / sizeof(*protos); p++) {
				c[0] = SCMP_A0(SCMP_CMP_EQ, fams[f]);
				c[1] = SCMP_A1(SCMP_CMP_EQ, types[t]);
				c[2] = SCMP_A2(SCMP_CMP_EQ, protos[p]);
				r |= sandbox_rule_n(ctx, SCMP_ACT_ALLOW,
				    SCMP_SYS(socket), 3, c);
			}
	return (r);
}

/*
 * fcntl: descriptor and status flags only.  F_SETOWN with O_ASYNC would
 * aim SIGIO at any process of our user (Landlock's signal scope, ABI 6,
 * stops that only on newer kernels).
 */
static int
sandbox_rules_fcntl(scmp_filter_ctx ctx)
{
	static const scmp_datum_t cmds[] = {
		F_GETFD, F_SETFD, F_GETFL, F_SETFL,
	};
	struct scmp_arg_cmp	 c;
	size_t			 i;
	int			 r = 0;

	for (i = 0; i < sizeof(cmds) / sizeof(*cmds); i++) {
		c = SCMP_A1(SCMP_CMP_EQ, cmds[i]);
		r |= sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), &c);
	}
	return (r);
}

/*
 * sendto and sendmsg without MSG_FASTOPEN: a TCP Fast Open send connects
 * without passing Landlock's connect check, to any port.
 */
static int
sandbox_rules_send(scmp_filter_ctx ctx)
{
	const struct scmp_arg_cmp c_to = SCMP_A3(SCMP_CMP_MASKED_EQ,
	    MSG_FASTOPEN, 0);
	const struct scmp_arg_cmp c_msg = SCMP_A2(SCMP_CMP_MASKED_EQ,
	    MSG_FASTOPEN, 0);

	return (sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), &c_to) |
	    sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmsg), &c_msg));
}

/* Calls allowed with an argument checked. */
static int
sandbox_rules_checked(scmp_filter_ctx ctx)
{
	const scmp_datum_t pid = (scmp_datum_t)getpid();
	const struct scmp_arg_cmp c_noexec_prot =
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	const struct scmp_arg_cmp c_self = SCMP_A0(SCMP_CMP_EQ, pid);
	const struct scmp_arg_cmp c_get_self[2] = {
		SCMP_A0(SCMP_CMP_EQ, 0), SCMP_A2(SCMP_CMP_EQ, 0) };
	const struct scmp_arg_cmp c_get_pid[2] = {
		SCMP_A0(SCMP_CMP_EQ, pid), SCMP_A2(SCMP_CMP_EQ, 0) };
	const struct scmp_arg_cmp c_thread =
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
	const struct scmp_arg_cmp c_sharevm =
	    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM | CLONE_VFORK, CLONE_VM);
	int	r = 0;

	r |= sandbox_rules_open(ctx, SCMP_SYS(openat), 2);
	r |= sandbox_rules_open(ctx, SCMP_SYS(open), 1);
	r |= sandbox_rules_socket(ctx);
	r |= sandbox_rules_fcntl(ctx);
	r |= sandbox_rules_send(ctx);
	/* Memory: never executable after start-up. */
	r |= sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), &c_noexec_prot);
	r |= sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect),
	    &c_noexec_prot);
	/* Signals: to ourselves only (abort(), raise()). */
	r |= sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), &c_self);
	r |= sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), &c_self);
	/* Our own limits may be read, not set. */
	r |= sandbox_rule_n(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2,
	    c_get_self);
	r |= sandbox_rule_n(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 2,
	    c_get_pid);
	/*
	 * clone3 keeps its flags in memory a filter cannot read: ENOSYS
	 * makes the C library fall back to clone, whose flags it can.
	 * Threads only (and RLIMIT_NPROC 0 refuses even those); the
	 * sanitizers' stop-the-world tracer shares our memory but is no
	 * thread, so those builds allow a clone that shares it.
	 */
	r |= sandbox_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), NULL);
	r |= sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone),
	    SANDBOX_SANITIZER ? &c_sharevm : &c_thread);
	return (r != 0 ? -1 : 0);
}

/* What the sanitizer runtimes do at exit (leak check) and on reports. */
#if SANDBOX_SANITIZER
static const int sandbox_allow_sanitizer[] = {
	SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(prctl),
	SCMP_SYS(getdents), SCMP_SYS(getdents64), SCMP_SYS(readlink),
	SCMP_SYS(sched_getparam), SCMP_SYS(getpgid), SCMP_SYS(getsid),
};
#endif

static int
sandbox_rules(scmp_filter_ctx ctx)
{
	size_t	i;

	for (i = 0; i < sizeof(sandbox_allow) / sizeof(*sandbox_allow); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_allow[i],
		    0) < 0)
			return (-1);
#if SANDBOX_SANITIZER
	for (i = 0; i < sizeof(sandbox_allow_sanitizer) /
	    sizeof(*sandbox_allow_sanitizer); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
		    sandbox_allow_sanitizer[i], 0) < 0)
			return (-1);
	/* A report asks whether stderr is a terminal (isatty). */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, TCGETS)) < 0)
		return (-1);
#endif
	return (sandbox_rules_checked(ctx));
}

/*
 * Debug mode's SIGSYS handler: note the number, fail the call with
 * ENOSYS and go on.  Only async-signal-safe work here; the name is looked
 * up and logged later from the loop.
 */
static void
sandbox_trap(int sig, siginfo_t *si, void *ctx)
{
	static const char msg[] = "mcp-mesh-worker: sandbox debug: trapped "
			    "system call ";
	ucontext_t	*uc = ctx;
	int		 nr = si->si_syscall, saved = errno;
	char		 num[8];
	size_t		 i = sizeof(num);

	if (nr < 0 || nr >= SANDBOX_NR_MAX)
		nr = SANDBOX_NR_MAX;
	/*
	 * Also on stderr now, by number: the loop may never log it (a call
	 * made at exit, or by a sanitizer runtime's own thread).
	 */
	num[--i] = '\n';
	do {
		num[--i] = '0' + nr % 10;
	} while ((nr /= 10) > 0 && i > 0);
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)!write(STDERR_FILENO, num + i, sizeof(num) - i);
	errno = saved;
	nr = si->si_syscall;
	if (nr < 0 || nr >= SANDBOX_NR_MAX)
		nr = SANDBOX_NR_MAX;
	sandbox_seen[nr / 8] |= 1U << (nr % 8);
	sandbox_trapped = 1;
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__aarch64__)
	uc->uc_mcontext.regs[0] = -ENOSYS;
#else
#error "--sandbox-debug: set the return register of a trapped call here"
#endif
}

static void
sandbox_trap_install(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_trap;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1)
		sup_fail(EX_OSERR, "sigaction SIGSYS: %s", strerror(errno));
}

int
sandbox_seccomp(int debug)
{
	scmp_filter_ctx	ctx;

	if (debug)
		sandbox_trap_install();
	if ((ctx = seccomp_init(debug ? SCMP_ACT_TRAP :
	    SCMP_ACT_KILL_PROCESS)) == NULL)
		sup_fail(EX_OSERR, "seccomp_init failed");
	if (sandbox_rules(ctx) == -1 || seccomp_load(ctx) < 0) {
		seccomp_release(ctx);
		sup_fail(EX_OSERR, "cannot load the seccomp filter");
	}
	seccomp_release(ctx);
	return (1);
}

void
sandbox_seccomp_report(void)
{
	char	*name;
	int	 nr;

	if (!sandbox_trapped)
		return;
	sandbox_trapped = 0;
	for (nr = 0; nr <= SANDBOX_NR_MAX; nr++) {
		if (!(sandbox_seen[nr / 8] & (1U << (nr % 8))) ||
		    (sandbox_told[nr / 8] & (1U << (nr % 8))))
			continue;
		sandbox_told[nr / 8] |= 1U << (nr % 8);
		if (nr == SANDBOX_NR_MAX) {
			log_warnx("sandbox debug: a system call numbered %d or "
			    "more was trapped", SANDBOX_NR_MAX);
			continue;
		}
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		log_warnx("sandbox debug: system call %s (%d) is not on the "
		    "allow-list", name != NULL ? name : "?", nr);
		free(name);
	}
}
