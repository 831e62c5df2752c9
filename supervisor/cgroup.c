/*
 * A cgroup (v2) per worker, where the supervisor is given a subtree
 * (systemd's Delegate=yes, or root).  A worker's cgroup holds it to
 * named limits (memory.max, memory.swap.max, pids.max, cpu.max), carries
 * the connect hook of cgroup-bpf.c when its gateway is given by address,
 * and is where its CPU and memory are read for status.  Without cgroups
 * everything works as before; each missing piece is logged once, here at
 * start, and ARCHITECTURE.md ("The worker's sandbox") lists them.
 *
 * Layout.  Our cgroup is the "0::PATH" line of /proc/self/cgroup, under
 * the cgroup2 mount of /proc/self/mountinfo (/sys/fs/cgroup, or
 * /sys/fs/cgroup/unified on a hybrid host).  Alone in it, it was given to
 * us: we move into OWN/supervisor, because the kernel passes controllers
 * down only from a cgroup without processes of its own, and workers go in
 * OWN/worker-PEER-N.  Shared with others (a login session, a container's
 * root), it is not ours to rearrange: workers go in
 * OWN/mcp-mesh-PID/worker-PEER-N, which gets what OWN already passes down.
 * Under systemd only a cgroup marked delegated is touched at all.
 *
 * Order.  A worker is put in its cgroup right after it is spawned, before
 * the supervisor reads its HELLO and so before CONFIG, with the limits and
 * the hook already on the cgroup: until CONFIG it has no socket, and a
 * socket belongs to the cgroup it was made in.  A worker that cannot be
 * confined as announced at start is killed (and restarted), never run
 * with less.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "mesh.h"
#include "xmalloc.h"

#define CG_FILE_MAX	4096	/* bytes of a control file we read */
#define CG_SUPERVISOR	"supervisor"	/* our leaf in a delegated cgroup */
#define CG_NAME_TRIES	16	/* worker-PEER-N names tried (EEXIST) */
#define CG_EXIT_WAIT_MS	1000	/* at exit, for emptied cgroups to go */

#define CG_MEMORY	0x01
#define CG_CPU		0x02
#define CG_PIDS		0x04

static const struct {
	unsigned	 bit;
	const char	*name;
	const char	*gap;	/* what goes unenforced without it */
} cg_controllers[] = {
	{ CG_MEMORY,	"memory",	"memory.max not enforced, workers' "
	    "memory not shown (RLIMIT_AS only)" },
	{ CG_CPU,	"cpu",		"cpu.max not enforced: a worker may "
	    "use a whole CPU" },
	{ CG_PIDS,	"pids",		"pids.max not enforced (RLIMIT_NPROC "
	    "only)" },
};
#define CG_NCONTROLLERS	(sizeof(cg_controllers) / sizeof(cg_controllers[0]))

/* One worker's cgroup, TOP/name; kept until its rmdir succeeded. */
struct cgworker {
	TAILQ_ENTRY(cgworker)	 entry;
	pid_t			 pid;		/* 0 once reaped */
	int			 tries;		/* rmdir attempts after EBUSY */
	char			 peer[PEER_NAME_MAX + 1];
	char			 name[PEER_NAME_MAX + 24]; /* worker-PEER-N */
	char			 connect[INET6_ADDRSTRLEN + 8]; /* hook's, or "" */
};
static TAILQ_HEAD(, cgworker)	cgworkers = TAILQ_HEAD_INITIALIZER(cgworkers);

static struct {
	int		 on;		/* workers get cgroups */
	int		 ownfd;		/* our cgroup at start */
	int		 topfd;		/* where the workers' cgroups go */
	char		 top[PATH_MAX];	/* its path in the hierarchy */
	char		 topdir[PATH_MAX];	/* ... and in the filesystem */
	char		 made[32];	/* OWN/made, ours to remove; or "" */
	unsigned	 ctl;		/* CG_* in force for workers */
	int		 bpf;		/* the connect hook can be attached */
	unsigned	 seq;		/* N of the next worker-PEER-N */
	struct event	*retry;		/* rmdir of cgroups not yet empty */
} cg = { .ownfd = -1, .topfd = -1 };

static int	 cg_rmdir(struct cgworker *);
static void	 cg_retry_arm(void);

/* --- control files ------------------------------------------------------- */

/* A control file's text in buf, NUL-terminated; its length or -1. */
static ssize_t
cg_read(int dirfd, const char *file, char *buf, size_t len)
{
	ssize_t	n = 0, total = 0;
	int	fd, saved;

	if ((fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	while ((size_t)total < len - 1 &&
	    (n = read(fd, buf + total, len - 1 - (size_t)total)) > 0)
		total += n;
	saved = errno;
	close(fd);
	if (n == -1) {
		errno = saved;
		return (-1);
	}
	buf[total] = '\0';
	return (total);
}

/* One write, as the kernel takes a control file's value. */
static int
cg_write(int dirfd, const char *file, const char *s)
{
	size_t	len = strlen(s);
	ssize_t	n;
	int	fd, saved;

	if ((fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC)) == -1)
		return (-1);
	n = write(fd, s, len);
	saved = errno;
	close(fd);
	if (n == (ssize_t)len)
		return (0);
	errno = n == -1 ? saved : EIO;
	return (-1);
}

static int
cg_number(const char *s, uint64_t *v)
{
	char	*end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	if (end == s || errno != 0 || (*end != '\0' && *end != '\n' &&
	    *end != ' '))
		return (-1);
	return (0);
}

/* A file holding one number (memory.current); -1 when absent or "max". */
static int
cg_value(int dirfd, const char *file, uint64_t *v)
{
	char	buf[64];

	if (cg_read(dirfd, file, buf, sizeof(buf)) == -1)
		return (-1);
	return (cg_number(buf, v));
}

/* KEY's number in a flat-keyed file (cpu.stat, memory.events). */
static int
cg_keyed(int dirfd, const char *file, const char *key, uint64_t *v)
{
	char	 buf[CG_FILE_MAX], *line, *p;
	size_t	 klen = strlen(key);

	if (cg_read(dirfd, file, buf, sizeof(buf)) == -1)
		return (-1);
	for (p = buf; (line = strsep(&p, "\n")) != NULL; )
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return (cg_number(line + klen + 1, v));
	return (-1);
}

/* Is word in a space-separated list (cgroup.controllers)? */
static int
cg_listed(const char *list, const char *word)
{
	size_t		 n = strlen(word);
	const char	*p;

	for (p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return (1);
	return (0);
}

/* --- where we are -------------------------------------------------------- */

/*
 * Our cgroup v2 path ("0::PATH" in /proc/self/cgroup); with v1, a
 * "N:memory,...:PATH" line naming ctl sets *v1 (for the log: the
 * controller is there, on the other hierarchy).
 */
static int
cg_own_path(char *path, size_t len, const char *ctl, int *v1)
{
	FILE	*f;
	char	 line[PATH_MAX + 64], *list, *end;
	int	 found = 0;

	*v1 = 0;
	if ((f = fopen("/proc/self/cgroup", "re")) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0::", 3) == 0) {
			strlcpy(path, line + 3, len);
			found = 1;
		} else if (ctl != NULL && (list = strchr(line, ':')) != NULL &&
		    (end = strchr(++list, ':')) != NULL) {
			*end = '\0';
			for (end = list; *end != '\0'; end++)
				if (*end == ',')
					*end = ' ';
			*v1 |= cg_listed(list, ctl);
		}
	}
	fclose(f);
	return (found ? 0 : -1);
}

/* mountinfo escapes blanks and backslashes as \ooo. */
static void
cg_unescape(char *s)
{
	char	*d = s;

	for (; *s != '\0'; s++, d++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else
			*d = *s;
	}
	*d = '\0';
}

/*
 * The directory of cgroup path own: under a cgroup2 mount whose root
 * (field 4 of mountinfo) contains it.  "ID PARENT MAJ:MIN ROOT POINT
 * OPTIONS [TAGS...] - TYPE SOURCE SUPER".
 */
static int
cg_mount_dir(const char *own, char *dir, size_t len)
{
	FILE		*f;
	char		 line[2 * PATH_MAX], *p, *sep, *fld[5];
	const char	*rel;
	size_t		 rlen;
	int		 i, found = 0;

	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return (-1);
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if ((sep = strstr(line, " - ")) == NULL ||
		    strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		for (p = line, i = 0; i < 5; i++)
			if ((fld[i] = strsep(&p, " ")) == NULL)
				break;
		if (i < 5)
			continue;
		cg_unescape(fld[3]);
		cg_unescape(fld[4]);
		rlen = strlen(fld[3]);
		if (strcmp(fld[3], "/") == 0)
			rel = own;
		else if (strncmp(own, fld[3], rlen) == 0 &&
		    (own[rlen] == '/' || own[rlen] == '\0'))
			rel = own + rlen;
		else
			continue;
		if (strcmp(rel, "/") == 0)
			rel = "";
		found = (size_t)snprintf(dir, len, "%s%s", fld[4], rel) < len;
	}
	fclose(f);
	return (found ? 0 : -1);
}

/* Nobody but us in the cgroup (its cgroup.procs is our pid alone)? */
static int
cg_alone(int dirfd)
{
	char	buf[64], mine[32];

	snprintf(mine, sizeof(mine), "%d\n", (int)getpid());
	/* A bigger file has other pids: the buffer need not hold it. */
	return (cg_read(dirfd, "cgroup.procs", buf, sizeof(buf)) != -1 &&
	    strcmp(buf, mine) == 0);
}

/* Is own a systemd unit's cgroup (".../NAME.service" or ".scope")? */
static int
cg_unit(const char *own)
{
	const char	*base = strrchr(own, '/');
	size_t		 n;

	base = base != NULL ? base + 1 : own;
	n = strlen(base);
	return ((n > 8 && strcmp(base + n - 8, ".service") == 0) ||
	    (n > 6 && strcmp(base + n - 6, ".scope") == 0));
}

/*
 * Was the cgroup given to us?  A systemd unit's cgroup without
 * Delegate=yes is systemd's alone, whatever our rights (systemd would
 * undo what we enabled there).  systemd marks what it delegates with an
 * extended attribute, which only root may read in the trusted namespace,
 * and chowns it to the unit's user if that is not root.  Anywhere else
 * (INVOCATION_ID may also be inherited by a container or a test run
 * from a unit), being able to write there is what counts: root, or a
 * cgroup chown'd to us.
 */
static int
cg_delegated(const char *own, const char *dir)
{
	static const char *const xattrs[] = {
		"trusted.delegate", "user.delegate",
	};
	struct stat	st;
	char		v[8];
	size_t		i;

	if (getenv("INVOCATION_ID") == NULL || !cg_unit(own))
		return (1);
	for (i = 0; i < sizeof(xattrs) / sizeof(xattrs[0]); i++)
		if (getxattr(dir, xattrs[i], v, sizeof(v)) == 1 && v[0] == '1')
			return (1);
	return (geteuid() != 0 && stat(dir, &st) == 0 &&
	    st.st_uid == geteuid());
}

static void
cg_no_cgroups(const char *why, const char *what)
{
	log_info("cgroup: %s%s%s: workers get no cgroup (no memory.max, "
	    "cpu.max, pids.max, connect hook, or their CPU and memory in "
	    "status)", why, what != NULL ? ": " : "", what != NULL ? what : "");
}

/* In a cgroup given to us: move into OWN/supervisor; workers go in OWN. */
static int
cg_top_delegated(const char *own, const char *dir)
{
	char	pid[32];
	int	fd;

	if (mkdirat(cg.ownfd, CG_SUPERVISOR, 0755) == -1 && errno != EEXIST)
		return (-1);
	if ((fd = openat(cg.ownfd, CG_SUPERVISOR, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return (-1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (cg_write(fd, "cgroup.procs", pid) == -1) {
		close(fd);
		return (-1);
	}
	close(fd);
	log_debug("cgroup: moved into %s/%s", dir, CG_SUPERVISOR);
	if ((cg.topfd = dup(cg.ownfd)) == -1)
		return (-1);
	fd_cloexec(cg.topfd, 1);
	strlcpy(cg.top, strcmp(own, "/") == 0 ? "" : own, sizeof(cg.top));
	strlcpy(cg.topdir, dir, sizeof(cg.topdir));
	return (0);
}

/*
 * In a cgroup we share: OWN/mcp-mesh-PID holds the workers, and we stay
 * where we are.  Moving others' processes is not ours to do, and OWN's
 * controllers are passed to children only while OWN has no processes.
 */
static int
cg_top_shared(const char *own, const char *dir)
{
	snprintf(cg.made, sizeof(cg.made), "mcp-mesh-%d", (int)getpid());
	if (mkdirat(cg.ownfd, cg.made, 0755) == -1) {
		cg.made[0] = '\0';
		return (-1);
	}
	if ((cg.topfd = openat(cg.ownfd, cg.made, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return (-1);
	if ((size_t)snprintf(cg.top, sizeof(cg.top), "%s/%s",
	    strcmp(own, "/") == 0 ? "" : own, cg.made) >= sizeof(cg.top) ||
	    (size_t)snprintf(cg.topdir, sizeof(cg.topdir), "%s/%s", dir,
	    cg.made) >= sizeof(cg.topdir)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/*
 * Enable memory, cpu and pids for the workers' cgroups, each on its own
 * (one refused must not cost the others), and log once what is missing.
 */
static void
cg_enable_controllers(void)
{
	char	 avail[CG_FILE_MAX], on[CG_FILE_MAX], own[PATH_MAX], ctl[16];
	size_t	 i;
	int	 v1;

	if (cg_read(cg.topfd, "cgroup.controllers", avail, sizeof(avail)) == -1)
		avail[0] = '\0';
	for (i = 0; i < CG_NCONTROLLERS; i++) {
		if (!cg_listed(avail, cg_controllers[i].name))
			continue;
		snprintf(ctl, sizeof(ctl), "+%s", cg_controllers[i].name);
		if (cg_write(cg.topfd, "cgroup.subtree_control", ctl) == -1)
			log_info("cgroup: cannot enable %s in %s: %s: %s",
			    cg_controllers[i].name, cg.topdir, strerror(errno),
			    cg_controllers[i].gap);
	}
	if (cg_read(cg.topfd, "cgroup.subtree_control", on, sizeof(on)) == -1)
		on[0] = '\0';
	for (i = 0; i < CG_NCONTROLLERS; i++) {
		if (cg_listed(on, cg_controllers[i].name)) {
			cg.ctl |= cg_controllers[i].bit;
			continue;
		}
		if (cg_listed(avail, cg_controllers[i].name))
			continue;	/* its refusal was logged above */
		cg_own_path(own, sizeof(own), cg_controllers[i].name, &v1);
		log_info("cgroup: no %s controller for %s%s: %s",
		    cg_controllers[i].name, cg.topdir, v1 ? " (it is on a "
		    "cgroup v1 hierarchy)" : "", cg_controllers[i].gap);
	}
}

static void
cg_probe_bpf(void)
{
	const char	*what;

	if (cgroup_bpf_probe(cg.topfd, &what) == 0) {
		cg.bpf = 1;
		return;
	}
	log_info("cgroup: no connect hook (%s: %s): a worker may reach its "
	    "gateway's port on any host", what, strerror(errno));
}

void
cgroup_init(void)
{
	char	own[PATH_MAX], dir[PATH_MAX];
	int	v1, r;

	if (cg_own_path(own, sizeof(own), NULL, &v1) == -1) {
		cg_no_cgroups("no cgroup v2 hierarchy", NULL);
		return;
	}
	if (cg_mount_dir(own, dir, sizeof(dir)) == -1) {
		cg_no_cgroups("cgroup v2 is not mounted", NULL);
		return;
	}
	if (!cg_delegated(own, dir)) {
		cg_no_cgroups("the systemd unit's cgroup is not delegated",
		    "set Delegate=yes");
		return;
	}
	if ((cg.ownfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		cg_no_cgroups(dir, strerror(errno));
		return;
	}
	if (strcmp(own, "/") != 0 && cg_alone(cg.ownfd))
		r = cg_top_delegated(own, dir);
	else
		r = cg_top_shared(own, dir);
	if (r == -1) {
		cg_no_cgroups(dir, strerror(errno));
		cgroup_shutdown();
		return;
	}
	cg_enable_controllers();
	cg_probe_bpf();
	cg.on = 1;
	log_info("cgroup: a cgroup per worker in %s (memory.max %s, cpu.max "
	    "%s, pids.max %s, connect hook %s)", cg.topdir,
	    cg.ctl & CG_MEMORY ? "on" : "off", cg.ctl & CG_CPU ? "on" : "off",
	    cg.ctl & CG_PIDS ? "on" : "off", cg.bpf ? "on" : "off");
}

/* --- the gateway's address ------------------------------------------------ */

/*
 * The host and port of an http(s) URL, as libcurl reads them in the
 * worker: "scheme://[user[:password]@]host[:port][/...]", host an IPv4
 * address, "[IPv6]" or a name.  gw->family is 0 for a name, and for
 * whatever libcurl might read as an address but inet_pton() does not
 * ("127.1", octal, hex, a zone): such a peer gets no hook rather than
 * one aimed at another host than the worker's.  -1 when no host and
 * port can be found.
 */
int
cgroup_gateway_parse(const char *url, struct cgroup_gateway *gw)
{
	char		 host[PEER_URL_MAX + 1], *at, *end, *colon;
	const char	*p, *errstr;
	size_t		 n;
	int		 tls;

	memset(gw, 0, sizeof(*gw));
	if (strncasecmp(url, "http://", 7) == 0)
		tls = 0;
	else if (strncasecmp(url, "https://", 8) == 0)
		tls = 1;
	else
		return (-1);
	p = url + (tls ? 8 : 7);
	n = strcspn(p, "/?#");
	if (n == 0 || n >= sizeof(host))
		return (-1);
	memcpy(host, p, n);
	host[n] = '\0';
	if ((at = strrchr(host, '@')) != NULL)
		memmove(host, at + 1, strlen(at + 1) + 1);
	gw->port = tls ? 443 : 80;
	if (host[0] == '[') {
		if ((end = strchr(host, ']')) == NULL)
			return (-1);
		*end++ = '\0';
		colon = *end == ':' ? end : NULL;
		if (*end != '\0' && colon == NULL)
			return (-1);
		memmove(host, host + 1, strlen(host + 1) + 1);
	} else if ((colon = strchr(host, ':')) != NULL)
		*colon = '\0';
	if (host[0] == '\0')
		return (-1);
	if (colon != NULL && colon[1] != '\0') {
		gw->port = (uint16_t)strtonum(colon + 1, 1, 65535, &errstr);
		if (errstr != NULL)
			return (-1);
	}
	if (inet_pton(AF_INET, host, gw->addr) == 1)
		gw->family = AF_INET;
	else if (inet_pton(AF_INET6, host, gw->addr) == 1)
		gw->family = AF_INET6;
	return (0);
}

/* "addr:port" or "[addr]:port", for status. */
static void
cg_gateway_str(const struct cgroup_gateway *gw, char *buf, size_t len)
{
	char	a[INET6_ADDRSTRLEN];

	inet_ntop(gw->family, gw->addr, a, sizeof(a));
	snprintf(buf, len, gw->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
	    (unsigned)gw->port);
}

/* At peer_add(): a gateway by name gets no hook (ARCHITECTURE.md). */
void
cgroup_peer_note(const char *peer, const char *url)
{
	struct cgroup_gateway	gw;

	if (!cg.on || !cg.bpf)
		return;
	if (cgroup_gateway_parse(url, &gw) == -1 || gw.family == 0)
		log_info("peer %s: its gateway is named, not given by address: "
		    "the connect hook does not limit its worker to one host",
		    peer);
}

/* --- one worker's cgroup -------------------------------------------------- */

static struct cgworker *
cg_find(pid_t pid)
{
	struct cgworker	*c;

	TAILQ_FOREACH(c, &cgworkers, entry)
		if (c->pid == pid)
			return (c);
	return (NULL);
}

/* TOP/worker-PEER-N, a new one; its descriptor, or -1. */
static int
cg_mkdir(struct cgworker *c)
{
	int	i, fd;

	for (i = 0; i < CG_NAME_TRIES; i++) {
		snprintf(c->name, sizeof(c->name), "worker-%s-%u", c->peer,
		    ++cg.seq);
		if (mkdirat(cg.topfd, c->name, 0755) == 0)
			break;
		if (errno != EEXIST)
			return (-1);
	}
	if (i == CG_NAME_TRIES)
		return (-1);
	if ((fd = openat(cg.topfd, c->name, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		unlinkat(cg.topfd, c->name, AT_REMOVEDIR);
	return (fd);
}

/* Write v to file; an optional file may be absent. */
static int
cg_set(struct cgworker *c, int fd, const char *file, const char *v,
    int optional)
{
	if (cg_write(fd, file, v) == 0 || (optional && errno == ENOENT))
		return (0);
	log_warn("peer %s: cgroup %s: %s %s", c->peer, c->name, file, v);
	return (-1);
}

/* The limits, before the worker is in: there is no moment without. */
static int
cg_limits(struct cgworker *c, int fd)
{
	char	v[64];

	if (cg.ctl & CG_MEMORY) {
		if (conf.worker_memory_mb == 0)
			strlcpy(v, "max", sizeof(v));
		else
			snprintf(v, sizeof(v), "%llu", (unsigned long long)
			    conf.worker_memory_mb * 1024 * 1024);
		/* No swap: memory.max would not bound it otherwise. */
		if (cg_set(c, fd, "memory.max", v, 0) == -1 ||
		    cg_set(c, fd, "memory.swap.max", "0", 1) == -1)
			return (-1);
	}
	if (cg.ctl & CG_PIDS) {
		snprintf(v, sizeof(v), "%d", WORKER_CGROUP_PIDS_MAX);
		if (cg_set(c, fd, "pids.max", v, 0) == -1)
			return (-1);
	}
	if (cg.ctl & CG_CPU) {
		snprintf(v, sizeof(v), "%d %d", WORKER_CGROUP_CPU_QUOTA_US,
		    WORKER_CGROUP_CPU_PERIOD_US);
		if (cg_set(c, fd, "cpu.max", v, 0) == -1)
			return (-1);
	}
	return (0);
}

static int
cg_hook(struct cgworker *c, int fd, const char *url)
{
	struct cgroup_gateway	 gw;
	const char		*what;

	if (!cg.bpf || cgroup_gateway_parse(url, &gw) == -1 || gw.family == 0)
		return (0);
	if (cgroup_bpf_attach(fd, &gw, &what) == -1) {
		log_warn("peer %s: cgroup %s: connect hook (%s)", c->peer,
		    c->name, what);
		return (-1);
	}
	cg_gateway_str(&gw, c->connect, sizeof(c->connect));
	return (0);
}

/* 0 when in, 1 when the worker is already gone, -1 on failure. */
static int
cg_enter(struct cgworker *c, int fd, pid_t pid)
{
	char	v[32];

	snprintf(v, sizeof(v), "%d", (int)pid);
	if (cg_write(fd, "cgroup.procs", v) == 0)
		return (0);
	if (errno == ESRCH)
		return (1);
	log_warn("peer %s: cgroup %s: cgroup.procs %s", c->peer, c->name, v);
	return (-1);
}

/*
 * Right after the spawn of pid, before its HELLO is read: its cgroup
 * with every limit and hook in force, then the worker in it.  -1 when it
 * could not be done: the caller kills the worker.
 */
int
cgroup_worker_add(pid_t pid, const char *peer, const char *url)
{
	struct cgworker	*c;
	int		 fd, r;

	if (!cg.on)
		return (0);
	c = xcalloc(1, sizeof(*c));
	strlcpy(c->peer, peer, sizeof(c->peer));
	if ((fd = cg_mkdir(c)) == -1) {
		log_warn("peer %s: cgroup in %s", peer, cg.topdir);
		free(c);
		return (-1);
	}
	if ((r = cg_limits(c, fd)) == 0 && (r = cg_hook(c, fd, url)) == 0)
		r = cg_enter(c, fd, pid);
	close(fd);
	if (r != 0) {
		unlinkat(cg.topfd, c->name, AT_REMOVEDIR);
		free(c);
		return (r == 1 ? 0 : -1);
	}
	c->pid = pid;
	TAILQ_INSERT_TAIL(&cgworkers, c, entry);
	log_debug("peer %s: worker %d in cgroup %s/%s%s%s", peer, (int)pid,
	    cg.top, c->name, c->connect[0] ? ", connect only to " : "",
	    c->connect);
	return (0);
}

/* Its memory.max killed it: say so, since its exit says only SIGKILL. */
static void
cg_report_oom(struct cgworker *c, pid_t pid)
{
	uint64_t	n;
	int		fd;

	if (!(cg.ctl & CG_MEMORY))
		return;
	if ((fd = openat(cg.topfd, c->name, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return;
	if (cg_keyed(fd, "memory.events", "oom_kill", &n) == 0 && n > 0)
		log_warnx("peer %s: worker %d went over its memory.max (%llu "
		    "MiB): killed by the kernel", c->peer, (int)pid,
		    (unsigned long long)conf.worker_memory_mb);
	close(fd);
}

/* From proc.c, once pid is reaped: its cgroup goes. */
void
cgroup_worker_gone(pid_t pid)
{
	struct cgworker	*c;

	if (pid <= 0 || (c = cg_find(pid)) == NULL)
		return;
	c->pid = 0;
	cg_report_oom(c, pid);
	if (cg_rmdir(c) == -1)
		cg_retry_arm();
}

/*
 * rmdir, or 0 with the entry freed.  EBUSY: something is still in it (a
 * reaped task may linger a moment, anything else is a worker's straggler
 * and is killed through cgroup.kill); tried again from a timer.
 */
static int
cg_rmdir(struct cgworker *c)
{
	int	fd;

	if (unlinkat(cg.topfd, c->name, AT_REMOVEDIR) == 0 || errno == ENOENT) {
		TAILQ_REMOVE(&cgworkers, c, entry);
		free(c);
		return (0);
	}
	if (errno != EBUSY || ++c->tries > CGROUP_RMDIR_TRIES) {
		log_warn("peer %s: cannot remove cgroup %s/%s", c->peer,
		    cg.topdir, c->name);
		TAILQ_REMOVE(&cgworkers, c, entry);
		free(c);
		return (0);
	}
	if ((fd = openat(cg.topfd, c->name, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1) {
		cg_write(fd, "cgroup.kill", "1");	/* absent before 5.14 */
		close(fd);
	}
	return (-1);
}

static void
cg_retry(evutil_socket_t fd, short events, void *arg)
{
	struct cgworker	*c, *next;
	int		 again = 0;

	TAILQ_FOREACH_SAFE(c, &cgworkers, entry, next)
		if (c->pid == 0 && cg_rmdir(c) == -1)
			again = 1;
	if (again)
		cg_retry_arm();
}

static void
cg_retry_arm(void)
{
	struct timeval	tv = ms_tv(CGROUP_RMDIR_RETRY_MS);

	if (cg.retry == NULL)
		cg.retry = evtimer_new(ev_base, cg_retry, NULL);
	if (!evtimer_pending(cg.retry, NULL))
		evtimer_add(cg.retry, &tv);
}

/* --- status -------------------------------------------------------------- */

static void
cg_json_add(struct json_object *o, const char *key, int fd, const char *file,
    const char *statkey)
{
	uint64_t	v;
	int		r;

	r = statkey != NULL ? cg_keyed(fd, file, statkey, &v) :
	    cg_value(fd, file, &v);
	if (r == 0)
		json_object_object_add(o, key,
		    json_object_new_int64((int64_t)v));
}

/* The cgroup of worker pid as peer_json() shows it; NULL when none. */
struct json_object *
cgroup_worker_json(pid_t pid)
{
	struct json_object	*o;
	struct cgworker		*c;
	char			 path[sizeof(cg.top) + sizeof(c->name) + 1];
	int			 fd;

	if (pid <= 0 || (c = cg_find(pid)) == NULL)
		return (NULL);
	if ((fd = openat(cg.topfd, c->name, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return (NULL);
	o = json_object_new_object();
	snprintf(path, sizeof(path), "%s/%s", cg.top, c->name);
	json_object_object_add(o, "path", json_object_new_string(path));
	cg_json_add(o, "cpuUsec", fd, "cpu.stat", "usage_usec");
	cg_json_add(o, "cpuThrottled", fd, "cpu.stat", "nr_throttled");
	cg_json_add(o, "cpuThrottledUsec", fd, "cpu.stat", "throttled_usec");
	cg_json_add(o, "memoryBytes", fd, "memory.current", NULL);
	cg_json_add(o, "memoryPeakBytes", fd, "memory.peak", NULL);
	cg_json_add(o, "memoryMaxBytes", fd, "memory.max", NULL);
	cg_json_add(o, "pids", fd, "pids.current", NULL);
	cg_json_add(o, "pidsMax", fd, "pids.max", NULL);
	if (c->connect[0] != '\0')
		json_object_object_add(o, "connectOnly",
		    json_object_new_string(c->connect));
	close(fd);
	return (o);
}

/*
 * RLIMIT_AS for CONFIG.  Where memory.max holds a worker it is the cap
 * (resident memory, kernel memory included), and the address-space
 * limit, which also counts libraries and reservations never touched,
 * stays only as a backstop WORKER_CGROUP_AS_FACTOR times as large, so
 * that it does not bind first.
 */
uint64_t
cgroup_worker_as_mb(void)
{
	uint64_t	mb = conf.worker_memory_mb;

	if (!cg.on || !(cg.ctl & CG_MEMORY) || mb == 0)
		return (mb);
	mb *= WORKER_CGROUP_AS_FACTOR;
	return (mb > WORKER_MEMORY_MB_CAP ? WORKER_MEMORY_MB_CAP : mb);
}

/* --- exit --------------------------------------------------------------- */

/* Workers are reaped by now; what is left of their cgroups goes. */
void
cgroup_shutdown(void)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	struct cgworker	*c, *next;
	uint64_t	 deadline = now_ms() + CG_EXIT_WAIT_MS;

	while (!TAILQ_EMPTY(&cgworkers)) {
		TAILQ_FOREACH_SAFE(c, &cgworkers, entry, next) {
			c->pid = 0;
			if (now_ms() >= deadline)
				c->tries = CGROUP_RMDIR_TRIES;	/* last */
			cg_rmdir(c);
		}
		if (!TAILQ_EMPTY(&cgworkers))
			nanosleep(&ts, NULL);
	}
	if (cg.made[0] != '\0' && unlinkat(cg.ownfd, cg.made, AT_REMOVEDIR) ==
	    -1)
		log_warn("cgroup: cannot remove %s", cg.topdir);
	cg.made[0] = '\0';
	if (cg.retry != NULL)
		event_free(cg.retry);
	cg.retry = NULL;
	if (cg.topfd != -1)
		close(cg.topfd);
	if (cg.ownfd != -1)
		close(cg.ownfd);
	cg.topfd = cg.ownfd = -1;
	cg.on = 0;
}
