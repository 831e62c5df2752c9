/*
 * The connect hook of a worker's cgroup: two BPF_PROG_TYPE_CGROUP_SOCK_ADDR
 * programs, one for BPF_CGROUP_INET4_CONNECT and one for INET6_CONNECT,
 * that let connect() through only for a TCP socket and the gateway's
 * address and port.  Anything else returns 0, which the kernel turns into
 * EPERM.  The programs are a dozen instructions, assembled here and loaded
 * with the bpf(2) system call: no libbpf, no compiler, no object file.
 *
 * Why this and not Landlock alone: Landlock's TCP rule (ABI 4) knows ports,
 * not addresses, so a worker taken over could reach the gateway's port on
 * any host.  The hook runs in the kernel's connect path after Landlock's
 * check, for every socket created in the cgroup, whatever the worker does.
 * It needs CAP_BPF and CAP_NET_ADMIN (or root); where the supervisor lacks
 * them the probe at start says so once and workers go without.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>

#include <linux/bpf.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mesh.h"

#define CGROUP_BPF_INSNS_MAX	32	/* the longest program is 21 */
#define CGROUP_BPF_PROBE	"bpf-probe"	/* cgroup made for the probe */

/* Registers of the BPF machine: r0 result, r1 the context. */
#define R0	0
#define R1	1
#define R2	2
#define R3	3

struct bpf_prog {
	struct bpf_insn	 insn[CGROUP_BPF_INSNS_MAX];
	int		 n;
	int		 deny[CGROUP_BPF_INSNS_MAX];	/* jumps to patch */
	int		 ndeny;
};

static const struct {
	enum bpf_attach_type	 type;
	int			 family;
	const char		*name;
} cgroup_bpf_hooks[] = {
	{ BPF_CGROUP_INET4_CONNECT,	AF_INET,	"inet4 connect" },
	{ BPF_CGROUP_INET6_CONNECT,	AF_INET6,	"inet6 connect" },
};
#define CGROUP_BPF_NHOOKS	(sizeof(cgroup_bpf_hooks) / \
				    sizeof(cgroup_bpf_hooks[0]))

static long
cgroup_bpf(int cmd, union bpf_attr *attr)
{
	return (syscall(SYS_bpf, cmd, attr, sizeof(*attr)));
}

static void
bpf_emit(struct bpf_prog *p, uint8_t code, uint8_t dst, uint8_t src,
    int16_t off, int32_t imm)
{
	struct bpf_insn	*i = &p->insn[p->n++];

	memset(i, 0, sizeof(*i));
	i->code = code;
	i->dst_reg = dst;
	i->src_reg = src;
	i->off = off;
	i->imm = imm;
}

/*
 * r2 = the 32-bit field of struct bpf_sock_addr at off; then unless it
 * equals v, go to deny.  v goes through r3 by a 32-bit move, which
 * zero-extends: an immediate compared directly would be sign-extended to
 * 64 bits and never match an address with its top bit set.
 */
static void
bpf_require(struct bpf_prog *p, size_t off, uint32_t v)
{
	bpf_emit(p, BPF_LDX | BPF_MEM | BPF_W, R2, R1, (int16_t)off, 0);
	bpf_emit(p, BPF_ALU | BPF_MOV | BPF_K, R3, 0, 0, (int32_t)v);
	p->deny[p->ndeny++] = p->n;
	bpf_emit(p, BPF_JMP | BPF_JNE | BPF_X, R2, R3, 0, 0);
}

/* return v */
static void
bpf_return(struct bpf_prog *p, int32_t v)
{
	bpf_emit(p, BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, v);
	bpf_emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/* "return 1", then the deny label every bpf_require() jumps to. */
static void
bpf_finish(struct bpf_prog *p)
{
	int	i, deny;

	bpf_return(p, 1);
	deny = p->n;
	bpf_return(p, 0);
	for (i = 0; i < p->ndeny; i++)
		p->insn[p->deny[i]].off = (int16_t)(deny - (p->deny[i] + 1));
}

/*
 * The program of one hook: for the gateway's family, TCP to its address
 * and port only; for the other family, nothing at all.  The ctx fields
 * hold the address and port in network order, as the sockaddr does, so
 * they are compared with the bytes as they are in memory.
 */
static void
bpf_build(struct bpf_prog *p, int family, const struct cgroup_gateway *gw)
{
	uint32_t	w;
	int		i;

	memset(p, 0, sizeof(*p));
	if (family != gw->family) {
		bpf_return(p, 0);
		return;
	}
	bpf_require(p, offsetof(struct bpf_sock_addr, user_family),
	    (uint32_t)family);
	bpf_require(p, offsetof(struct bpf_sock_addr, type), SOCK_STREAM);
	bpf_require(p, offsetof(struct bpf_sock_addr, user_port),
	    htons(gw->port));
	if (family == AF_INET) {
		memcpy(&w, gw->addr, 4);
		bpf_require(p, offsetof(struct bpf_sock_addr, user_ip4), w);
	} else {
		for (i = 0; i < 4; i++) {
			memcpy(&w, gw->addr + 4 * i, 4);
			bpf_require(p, offsetof(struct bpf_sock_addr,
			    user_ip6) + 4 * i, w);
		}
	}
	bpf_finish(p);
}

static int
bpf_load(const struct bpf_prog *p, enum bpf_attach_type type)
{
	union bpf_attr	attr;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
	attr.expected_attach_type = type;
	attr.insns = (uint64_t)(uintptr_t)p->insn;
	attr.insn_cnt = (uint32_t)p->n;
	/* Only GPL-only helpers need a GPL license; these call none. */
	attr.license = (uint64_t)(uintptr_t)"BSD";
	return ((int)cgroup_bpf(BPF_PROG_LOAD, &attr));
}

/*
 * Attached without BPF_F_ALLOW_OVERRIDE or BPF_F_ALLOW_MULTI: nothing can
 * be attached below to replace it.  The cgroup holds the program from
 * here; it goes when the cgroup is removed.
 */
static int
bpf_attach(int dirfd, int progfd, enum bpf_attach_type type)
{
	union bpf_attr	attr;

	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)dirfd;
	attr.attach_bpf_fd = (uint32_t)progfd;
	attr.attach_type = type;
	return ((int)cgroup_bpf(BPF_PROG_ATTACH, &attr));
}

/* Both hooks on the cgroup open as dirfd; -1 with errno and *what. */
int
cgroup_bpf_attach(int dirfd, const struct cgroup_gateway *gw,
    const char **what)
{
	struct bpf_prog	 prog;
	size_t		 i;
	int		 fd, r, saved;

	for (i = 0; i < CGROUP_BPF_NHOOKS; i++) {
		*what = cgroup_bpf_hooks[i].name;
		bpf_build(&prog, cgroup_bpf_hooks[i].family, gw);
		if ((fd = bpf_load(&prog, cgroup_bpf_hooks[i].type)) == -1)
			return (-1);
		r = bpf_attach(dirfd, fd, cgroup_bpf_hooks[i].type);
		saved = errno;
		close(fd);
		if (r == -1) {
			errno = saved;
			return (-1);
		}
	}
	return (0);
}

/*
 * Can hooks be loaded and attached here?  Tried for real, on a cgroup of
 * its own under dirfd (removed after), so that neither the supervisor's
 * nor a worker's cgroup is touched.  0, or -1 with errno and *what.
 */
int
cgroup_bpf_probe(int dirfd, const char **what)
{
	struct cgroup_gateway	 gw;
	int			 fd, r, saved;

	memset(&gw, 0, sizeof(gw));
	gw.family = AF_INET;
	gw.port = 1;
	*what = "mkdir " CGROUP_BPF_PROBE;
	if (mkdirat(dirfd, CGROUP_BPF_PROBE, 0755) == -1 && errno != EEXIST)
		return (-1);
	if ((fd = openat(dirfd, CGROUP_BPF_PROBE, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		saved = errno;
		unlinkat(dirfd, CGROUP_BPF_PROBE, AT_REMOVEDIR);
		errno = saved;
		return (-1);
	}
	r = cgroup_bpf_attach(fd, &gw, what);
	saved = errno;
	close(fd);
	if (unlinkat(dirfd, CGROUP_BPF_PROBE, AT_REMOVEDIR) == -1)
		log_warn("cgroup: rmdir %s", CGROUP_BPF_PROBE);
	errno = saved;
	return (r);
}
