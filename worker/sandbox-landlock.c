/*
 * Landlock: what the worker may reach by name and by port, whoever it
 * runs as.  The filesystem is refused but for reading where TLS looks
 * (CA bundles, OpenSSL's configuration); from ABI 4 a TCP connect is
 * allowed only to the peer's port and no TCP port may be bound; from
 * ABI 6 no signal reaches, and no abstract UNIX socket connects to,
 * anything outside the worker.  The ABI is asked at run time, so one
 * binary takes whatever the kernel offers; without Landlock the worker
 * says so and goes on with the other layers.
 *
 * Debian's <linux/landlock.h> may predate ABI 4, so the structures
 * used beyond it are declared here, as the kernel defines them.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "sandbox.h"
#include "worker.h"

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)	/* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)	/* ABI 5 */
#endif
#define LL_NET_BIND_TCP			(1ULL << 0)	/* ABI 4 */
#define LL_NET_CONNECT_TCP		(1ULL << 1)
#define LL_RULE_NET_PORT		2
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET	(1ULL << 0)	/* ABI 6 */
#define LL_SCOPE_SIGNAL			(1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; passed cut to the ABI's size. */
struct ll_ruleset_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;	/* ABI 4 */
	uint64_t	scoped;			/* ABI 6 */
};

struct ll_net_port_attr {
	uint64_t	allowed_access;
	uint64_t	port;
};

/* Read-only, beneath each of these; the ones missing are skipped. */
static const char *ll_read_paths[] = {
	"/etc/ssl",			/* CA bundle, openssl.cnf */
	"/usr/lib/ssl",			/* OpenSSL's directory (symlinks) */
	"/usr/share/ca-certificates",	/* where /etc/ssl/certs points */
	"/usr/local/share/ca-certificates",
	"/etc/pki",			/* other distributions */
#if SANDBOX_SANITIZER
	"/proc",			/* LeakSanitizer reads maps, tasks */
#endif
};

static int
ll_abi(void)
{
	long	abi;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	return (abi < 0 ? 0 : (int)abi);
}

static uint64_t
ll_fs_handled(int abi)
{
	uint64_t	fs;

	fs = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
	    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
	    LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
	    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
	    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
	    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
	    LANDLOCK_ACCESS_FS_MAKE_SYM;
	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return (fs);
}

static void
ll_add_path(int ruleset, const char *path)
{
	struct landlock_path_beneath_attr	 pb;
	int					 fd;

	if ((fd = open(path, O_PATH | O_CLOEXEC)) == -1)
		return;		/* not on this system */
	memset(&pb, 0, sizeof(pb));
	pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE |
	    LANDLOCK_ACCESS_FS_READ_DIR;
	pb.parent_fd = fd;
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
	    &pb, 0) == -1) {
		close(fd);
		sup_fail(EX_OSERR, "landlock_add_rule %s: %s", path,
		    strerror(errno));
	}
	close(fd);
}

static void
ll_add_port(int ruleset, uint16_t port)
{
	struct ll_net_port_attr	np;

	np.allowed_access = LL_NET_CONNECT_TCP;
	np.port = port;
	if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &np,
	    0) == -1)
		sup_fail(EX_OSERR, "landlock_add_rule port %u: %s",
		    (unsigned)port, strerror(errno));
}

int
sandbox_landlock(uint16_t port)
{
	struct ll_ruleset_attr	 attr;
	size_t			 size, i;
	int			 abi, ruleset;

	if ((abi = ll_abi()) == 0) {
		log_info("sandbox: the kernel offers no Landlock; the "
		    "filesystem and network are limited by seccomp only");
		return (0);
	}
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = ll_fs_handled(abi);
	size = sizeof(attr.handled_access_fs);
	if (abi >= 4) {
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		size += sizeof(attr.handled_access_net);
	} else
		log_info("sandbox: Landlock ABI %d cannot limit TCP ports "
		    "(4 can)", abi);
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
		size += sizeof(attr.scoped);
	}
	if ((ruleset = syscall(SYS_landlock_create_ruleset, &attr, size, 0)) ==
	    -1)
		sup_fail(EX_OSERR, "landlock_create_ruleset (ABI %d): %s",
		    abi, strerror(errno));
	for (i = 0; i < sizeof(ll_read_paths) / sizeof(*ll_read_paths); i++)
		ll_add_path(ruleset, ll_read_paths[i]);
	if (abi >= 4)
		ll_add_port(ruleset, port);
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) == -1) {
		close(ruleset);
		sup_fail(EX_OSERR, "landlock_restrict_self: %s",
		    strerror(errno));
	}
	close(ruleset);
	return (1);
}
