/*
 * Integration test harness: processes, log files, libcurl, MCP sessions.
 * See harness.h.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "harness.h"
#include "logtext.h"

#define STOP_GRACE_MS	3000	/* SIGTERM, then SIGKILL */
#define POLL_STEP_MS	10	/* longest pause of a polling loop */
#define ARGV_MAX	64

int			 harness_passed;
static struct proc	*procs[HARNESS_PROCS_MAX];
static int		 nprocs;
static char		 tmpdir[64];

static void	 trace(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static char	*file_slurp(const char *, size_t *);
static int	 line_matches(const char *, size_t, const char *);
static void	 proc_reap_nohang(struct proc *);
static void	 reap_strays(void);
static void	 tmpdir_empty(void);

/* --- time and files ----------------------------------------------------- */

void
harness_msleep(int ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * One pause of a polling loop: 1 ms first, doubling to POLL_STEP_MS, so
 * that what comes quickly (a port, an exit) is seen quickly, and what
 * takes long is not polled for too often.
 */
static void
poll_pause(int *step)
{
	if (*step <= 0)
		*step = 1;
	harness_msleep(*step);
	if ((*step *= 2) > POLL_STEP_MS)
		*step = POLL_STEP_MS;
}

/* With MESH_TEST_TRACE set: timestamped harness events on stderr. */
static void
trace(const char *fmt, ...)
{
	static uint64_t	 t0;
	va_list		 ap;

	if (getenv("MESH_TEST_TRACE") == NULL)
		return;
	if (t0 == 0)
		t0 = now_ms();
	fprintf(stderr, "[%6llu ms] ", (unsigned long long)(now_ms() -
	    t0));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static char *
file_slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 len = 0, cap = 0, n;

	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			if ((buf = realloc(buf, cap + 1)) == NULL)
				abort();
		}
		if ((n = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	fclose(f);
	if (buf == NULL)
		buf = calloc(1, 1);
	buf[len] = '\0';
	*lenp = len;
	return (buf);
}

const char *
harness_bin(const char *envname)
{
	const char	*v;

	if ((v = getenv(envname)) == NULL || *v == '\0') {
		fprintf(stderr, "harness: %s is not set (run through make "
		    "check)\n", envname);
		return (NULL);
	}
	return (v);
}

/* --- set-up and teardown -------------------------------------------------- */

void
harness_setup(void)
{
	const char	*worker;

	harness_passed = 0;
	nprocs = 0;
	trace("setup");
	signal(SIGPIPE, SIG_IGN);
	/* Orphaned grandchildren (workers of a dead mesh) come back here. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		perror("harness: PR_SET_CHILD_SUBREAPER");
	strcpy(tmpdir, "/tmp/mesh-it.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("harness: mkdtemp");
		abort();
	}
	if ((worker = getenv("MESH_WORKER_BIN")) != NULL)
		setenv("MCP_MESH_WORKER", worker, 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
harness_teardown(void)
{
	int	 i, dump;

	dump = !harness_passed || getenv("MESH_TEST_VERBOSE") != NULL;
	/* Last started first: the mesh goes before its gateways. */
	for (i = nprocs - 1; i >= 0; i--)
		proc_stop(procs[i]);
	reap_strays();
	for (i = 0; i < nprocs; i++) {
		if (dump)
			proc_dump(procs[i], stderr);
		unlink(procs[i]->logpath);
		line_close(&procs[i]->io);
		free(procs[i]);
		procs[i] = NULL;
	}
	nprocs = 0;
	tmpdir_empty();
	rmdir(tmpdir);
	trace("teardown done");
	curl_global_cleanup();
}

/*
 * End of a test body: stop every process, then look at how each one ended
 * and at its log.  Returns NULL when all is well, else what went wrong: a
 * process that needed SIGKILL, or a sanitizer report (AddressSanitizer,
 * LeakSanitizer at exit, UBSan runtime errors) in a log.
 */
const char *
harness_finish(void)
{
	static const char	*reports[] = { "ERROR: AddressSanitizer",
	    "ERROR: LeakSanitizer", "runtime error:", NULL };
	static char		 why[256];
	struct proc		*p;
	char			*buf;
	size_t			 len;
	int			 i, j;

	for (i = nprocs - 1; i >= 0; i--)
		proc_stop(procs[i]);
	for (i = 0; i < nprocs; i++) {
		p = procs[i];
		if (p->killed) {
			snprintf(why, sizeof(why), "%s (pid %d) did not exit "
			    "within %d ms of SIGTERM", p->name, (int)p->pid,
			    STOP_GRACE_MS);
			return (why);
		}
		if ((buf = file_slurp(p->logpath, &len)) == NULL)
			continue;
		for (j = 0; reports[j] != NULL; j++) {
			if (strstr(buf, reports[j]) != NULL) {
				snprintf(why, sizeof(why), "%s (pid %d): \"%s\" "
				    "in its log %s", p->name, (int)p->pid,
				    reports[j], p->logpath);
				free(buf);
				return (why);
			}
		}
		free(buf);
	}
	return (NULL);
}

/* What a test left in its directory (a UNIX socket, say) goes. */
static void
tmpdir_empty(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[sizeof(tmpdir) + 260];

	if ((d = opendir(tmpdir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

/* Kill and reap whatever child is left (orphans adopted as subreaper). */
static void
reap_strays(void)
{
	pid_t	 kids[64];
	int	 i, n, status;

	n = proc_children(getpid(), kids, 64);
	for (i = 0; i < n; i++) {
		fprintf(stderr, "harness: killing stray process %d\n",
		    (int)kids[i]);
		kill(kids[i], SIGKILL);
	}
	while (waitpid(-1, &status, WNOHANG) > 0)
		;
	for (i = 0; i < n; i++)
		waitpid(kids[i], &status, 0);
}

/* --- processes --------------------------------------------------------- */

struct proc *
proc_spawn(const char *name, int flags, char *const argv[])
{
	struct proc	*p;
	int		 in[2] = { -1, -1 }, out[2] = { -1, -1 }, logfd, nullfd;
	pid_t		 parent = getpid();

	if (nprocs == HARNESS_PROCS_MAX)
		return (NULL);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		abort();
	strncpy(p->name, name, sizeof(p->name) - 1);
	snprintf(p->logpath, sizeof(p->logpath), "%s/%d-%s.log", tmpdir,
	    nprocs, name);
	line_init(&p->io, -1, -1);
	if ((logfd = open(p->logpath, O_WRONLY | O_CREAT | O_TRUNC |
	    O_APPEND | O_CLOEXEC, 0600)) == -1 ||
	    (nullfd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    ((flags & PROC_STDIN_PIPE) && pipe2(in, O_CLOEXEC) == -1) ||
	    ((flags & PROC_STDOUT_PIPE) && pipe2(out, O_CLOEXEC) == -1)) {
		perror("harness: spawn");
		abort();
	}
	switch ((p->pid = fork())) {
	case -1:
		perror("harness: fork");
		abort();
	case 0:
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		dup2(in[0] != -1 ? in[0] : nullfd, STDIN_FILENO);
		dup2(out[1] != -1 ? out[1] : logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		execv(argv[0], argv);
		dprintf(STDERR_FILENO, "harness: exec %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	setpgid(p->pid, p->pid);
	close(logfd);
	close(nullfd);
	if (in[0] != -1) {
		close(in[0]);
		p->io.wfd = in[1];
	}
	if (out[1] != -1) {
		close(out[1]);
		p->io.rfd = out[0];
	}
	procs[nprocs++] = p;
	trace("spawned %s pid %d", p->name, (int)p->pid);
	return (p);
}

void
proc_close_stdin(struct proc *p)
{
	line_close_write(&p->io);
}

/* A needle starting with '^' matches at the start of a line only. */
static int
line_matches(const char *line, size_t len, const char *needle)
{
	size_t	 nlen, i;

	if (*needle == '^') {
		nlen = strlen(needle + 1);
		return (len >= nlen && memcmp(line, needle + 1, nlen) == 0);
	}
	nlen = strlen(needle);
	for (i = 0; i + nlen <= len; i++)
		if (memcmp(line + i, needle, nlen) == 0)
			return (1);
	return (0);
}

/* The first complete line of p's log matching needle (to free), or NULL. */
char *
proc_log_find(struct proc *p, const char *needle)
{
	char	*buf, *line, *nl, *found = NULL;
	size_t	 len;

	if ((buf = file_slurp(p->logpath, &len)) == NULL)
		return (NULL);
	for (line = buf; found == NULL && (nl = memchr(line, '\n',
	    len - (size_t)(line - buf))) != NULL; line = nl + 1)
		if (line_matches(line, (size_t)(nl - line), needle))
			found = strndup(line, (size_t)(nl - line));
	free(buf);
	return (found);
}

/* How many complete lines of p's log match needle now; -1 if unreadable. */
int
proc_log_count(struct proc *p, const char *needle)
{
	char	*buf, *line, *nl;
	size_t	 len;
	int	 n = 0;

	if ((buf = file_slurp(p->logpath, &len)) == NULL)
		return (-1);
	for (line = buf; (nl = memchr(line, '\n', len - (size_t)(line -
	    buf))) != NULL; line = nl + 1)
		if (line_matches(line, (size_t)(nl - line), needle))
			n++;
	free(buf);
	return (n);
}

/*
 * Wait until at least n lines of p's log match needle: their count, or
 * -1 after timeout_ms, or once p has exited with fewer.
 */
int
proc_wait_log_count(struct proc *p, const char *needle, int n,
    int timeout_ms)
{
	uint64_t	 deadline = now_ms() + (uint64_t)timeout_ms;
	int		 got, last, step = 0;

	for (;;) {
		last = !proc_alive(p);
		if ((got = proc_log_count(p, needle)) >= n)
			return (got);
		if (last || now_ms() >= deadline)
			return (-1);
		poll_pause(&step);
	}
}

/*
 * Wait until a line of p's log matches one of needles (NULL-terminated):
 * that line (to free), or NULL after timeout_ms, or once p has exited
 * without one.  Quiet: for lines that must not come, as for those that
 * must.
 */
char *
proc_wait_log_any(struct proc *p, const char *const needles[],
    int timeout_ms)
{
	uint64_t	 deadline = now_ms() + (uint64_t)timeout_ms;
	char		*found;
	int		 i, last, step = 0;

	for (;;) {
		last = !proc_alive(p);
		for (i = 0; needles[i] != NULL; i++)
			if ((found = proc_log_find(p, needles[i])) != NULL)
				return (found);
		if (last || now_ms() >= deadline)
			return (NULL);
		poll_pause(&step);
	}
}

/*
 * Wait until the log file of p has a complete line matching needle.
 * Returns that line (to free), or NULL on timeout or when p has exited
 * without writing it.
 */
char *
proc_wait_log(struct proc *p, const char *needle, int timeout_ms)
{
	uint64_t	 deadline = now_ms() + (uint64_t)timeout_ms;
	char		*found;
	int		 last = 0, step = 0;

	for (;;) {
		if (!proc_alive(p))
			last = 1;
		if ((found = proc_log_find(p, needle)) != NULL) {
			trace("%s: \"%s\"", p->name, found);
			return (found);
		}
		if (last || now_ms() >= deadline) {
			fprintf(stderr, "harness: %s: no log line \"%s\" "
			    "after %d ms%s\n", p->name, needle, timeout_ms,
			    last ? " (process exited)" : "");
			return (NULL);
		}
		poll_pause(&step);
	}
}

static void
proc_reap_nohang(struct proc *p)
{
	int	 status;

	if (!p->reaped && waitpid(p->pid, &status, WNOHANG) == p->pid) {
		p->reaped = 1;
		p->status = status;
	}
}

int
proc_alive(struct proc *p)
{
	proc_reap_nohang(p);
	return (!p->reaped);
}

/* Wait for p to exit: 0 when it did (p->status set), -1 on timeout. */
int
proc_wait_exit(struct proc *p, int timeout_ms)
{
	uint64_t	 deadline = now_ms() + (uint64_t)timeout_ms;
	int		 step = 0;

	for (;;) {
		if (!proc_alive(p))
			return (0);
		if (now_ms() >= deadline)
			return (-1);
		poll_pause(&step);
	}
}

/* Close stdin, SIGTERM the process group, SIGKILL it after a grace time. */
void
proc_stop(struct proc *p)
{
	if (p->stopped)
		return;
	p->stopped = 1;
	proc_close_stdin(p);
	trace("stopping %s", p->name);
	if (proc_alive(p)) {
		kill(-p->pid, SIGTERM);
		kill(p->pid, SIGTERM);
		if (proc_wait_exit(p, STOP_GRACE_MS) == -1) {
			fprintf(stderr, "harness: %s (pid %d) ignored SIGTERM\n",
			    p->name, (int)p->pid);
			p->killed = 1;
			kill(-p->pid, SIGKILL);
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &p->status, 0);
			p->reaped = 1;
		}
	}
	/* Anything left in its group (workers) goes too. */
	kill(-p->pid, SIGKILL);
	trace("stopped %s", p->name);
}

void
proc_dump(struct proc *p, FILE *out)
{
	char	*buf;
	size_t	 len;

	fprintf(out, "----- %s (pid %d) log: %s -----\n", p->name, (int)p->pid,
	    p->logpath);
	if ((buf = file_slurp(p->logpath, &len)) != NULL) {
		/* The end is what matters; keep the dump bounded. */
		if (len > 16384)
			fprintf(out, "[... %zu bytes ...]\n%s", len - 16384,
			    buf + len - 16384);
		else
			fputs(buf, out);
		free(buf);
	}
	fprintf(out, "----- end of %s -----\n", p->name);
}

/* Live processes whose parent is parent, but those named skip (/proc). */
static int
children_but(pid_t parent, const char *skip, pid_t *out, int max)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[300], buf[512], *rp, *lp;
	FILE		*f;
	int		 n = 0, ppid;
	char		 state;

	if ((d = opendir("/proc")) == NULL)
		return (0);
	while (n < max && (de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (lp = strchr(buf, '(')) != NULL &&
		    (rp = strrchr(buf, ')')) != NULL &&
		    sscanf(rp + 1, " %c %d", &state, &ppid) == 2 &&
		    ppid == (int)parent && state != 'Z' &&
		    (skip == NULL || (size_t)(rp - lp - 1) != strlen(skip) ||
		    strncmp(lp + 1, skip, rp - lp - 1) != 0))
			out[n++] = (pid_t)atoi(de->d_name);
		fclose(f);
	}
	closedir(d);
	return (n);
}

/* Live processes whose parent is parent (from /proc). */
int
proc_children(pid_t parent, pid_t *out, int max)
{
	return (children_but(parent, NULL, out, max));
}

/* /proc/PID/cmdline with its NULs as spaces, trailing ones dropped. */
void
proc_cmdline(pid_t pid, char *buf, size_t len)
{
	char	 path[64];
	FILE	*f;
	size_t	 n, i;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
}

/* Whether PID was started with the argument "zygote" (its last one). */
static int
is_zygote(pid_t pid)
{
	char	buf[256];
	size_t	n;

	proc_cmdline(pid, buf, sizeof(buf));
	n = strlen(buf);
	return (n >= 7 && strcmp(buf + n - 7, " zygote") == 0);
}

/*
 * A mesh's workers: its children but the zygote (by argument: its name
 * is set only once it runs) and anything else (a zygote's child in
 * between, re-parented when the zygote died).
 */
int
mesh_workers(pid_t mesh, pid_t *out, int max)
{
	pid_t	kids[64];
	int	i, n, k = 0;

	n = children_but(mesh, "mcp-mesh-zygote", kids, 64);
	for (i = 0; i < n && k < max; i++)
		if (!is_zygote(kids[i]))
			out[k++] = kids[i];
	return (k);
}

/* A mesh's zygote, or -1. */
pid_t
mesh_zygote(pid_t mesh)
{
	pid_t	kids[64];
	int	i, n;

	n = proc_children(mesh, kids, 64);
	for (i = 0; i < n; i++)
		if (is_zygote(kids[i]))
			return (kids[i]);
	return (-1);
}

/* Wait until pid no longer runs (gone, or a zombie, reaped if ours). */
int
pid_gone(pid_t pid, int timeout_ms)
{
	uint64_t	 deadline = now_ms() + (uint64_t)timeout_ms;
	char		 path[64], buf[512], *rp, state;
	FILE		*f;
	int		 status, running, step = 0;

	for (;;) {
		waitpid(pid, &status, WNOHANG);
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		running = 0;
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(buf, sizeof(buf), f) != NULL &&
			    (rp = strrchr(buf, ')')) != NULL &&
			    sscanf(rp + 1, " %c", &state) == 1 &&
			    state != 'Z' && state != 'X')
				running = 1;
			fclose(f);
		}
		if (!running)
			return (1);
		if (now_ms() >= deadline)
			return (0);
		poll_pause(&step);
	}
}

/* --- newline-delimited messages over a pair of descriptors ------------ */

void
line_init(struct lineconn *lc, int rfd, int wfd)
{
	memset(lc, 0, sizeof(*lc));
	lc->rfd = rfd;
	lc->wfd = wfd;
}

/* Every byte of buf, or -1 (the write side closed, or write(2) failed). */
int
line_write(struct lineconn *lc, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if (lc->wfd == -1)
			return (-1);
		if ((n = write(lc->wfd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* msg and a newline, in one write(2). */
int
line_send(struct lineconn *lc, const char *msg)
{
	char	*buf;
	int	 rc;

	if (asprintf(&buf, "%s\n", msg) == -1)
		abort();
	rc = line_write(lc, buf, strlen(buf));
	free(buf);
	return (rc);
}

/*
 * The next line, without its newline (to free); NULL on timeout, or at
 * the end of the input (lc->eof set; an unfinished last line is lost).
 */
char *
line_read(struct lineconn *lc, int timeout_ms)
{
	struct pollfd	 pfd;
	uint64_t	 deadline = now_ms() + (uint64_t)timeout_ms;
	char		*nl, *line;
	size_t		 n;
	ssize_t		 r;
	int64_t		 left;

	for (;;) {
		if (lc->buf != NULL &&
		    (nl = memchr(lc->buf, '\n', lc->len)) != NULL) {
			n = (size_t)(nl - lc->buf);
			if ((line = strndup(lc->buf, n)) == NULL)
				abort();
			memmove(lc->buf, nl + 1, lc->len - n - 1);
			lc->len -= n + 1;
			return (line);
		}
		left = (int64_t)(deadline - now_ms());
		if (lc->rfd == -1 || lc->eof || left <= 0)
			return (NULL);
		pfd.fd = lc->rfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if ((lc->buf = realloc(lc->buf, lc->len + 65536)) == NULL)
			abort();
		r = read(lc->rfd, lc->buf + lc->len, 65536);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			lc->eof = 1;
			return (NULL);
		}
		lc->len += (size_t)r;
	}
}

/* No more writing: shutdown(2) a socket both sides share, else close. */
void
line_close_write(struct lineconn *lc)
{
	if (lc->wfd == -1)
		return;
	if (lc->wfd == lc->rfd)
		shutdown(lc->wfd, SHUT_WR);
	else
		close(lc->wfd);
	lc->wfd = -1;
}

void
line_close(struct lineconn *lc)
{
	if (lc->wfd != -1 && lc->wfd != lc->rfd)
		close(lc->wfd);
	if (lc->rfd != -1)
		close(lc->rfd);
	free(lc->buf);
	line_init(lc, -1, -1);
}

/* {"jsonrpc":"2.0","id":ID,"method":METHOD[,"params":PARAMS]}, to free. */
char *
rpc_text(int64_t id, const char *method, const char *params)
{
	char	*s;

	if (asprintf(&s, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"%s\""
	    "%s%s}", (long long)id, method, params != NULL ? ",\"params\":" :
	    "", params != NULL ? params : "") == -1)
		abort();
	return (s);
}

/* --- UNIX sockets -------------------------------------------------------- */

static int
unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlcpy(sun->sun_path, path, sizeof(sun->sun_path)) >=
	    sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/*
 * A stream socket connected to path; while nothing is there or nothing
 * listens yet (a daemon starting up), tried again until timeout_ms.
 * -1 with errno from the last try.
 */
int
unix_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un	 sun;
	uint64_t		 deadline = now_ms() + (uint64_t)timeout_ms;
	int			 s, e, step = 0;

	if (unix_addr(path, &sun) == -1)
		return (-1);
	for (;;) {
		if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
			return (-1);
		if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return (s);
		e = errno;
		close(s);
		if ((e != ENOENT && e != ECONNREFUSED && e != EINTR) ||
		    now_ms() >= deadline) {
			errno = e;
			return (-1);
		}
		poll_pause(&step);
	}
}

/* A listening stream socket at path (replacing a stale one), or -1. */
int
unix_listen(const char *path)
{
	struct sockaddr_un	 sun;
	int			 s;

	if (unix_addr(path, &sun) == -1)
		return (-1);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	unlink(path);
	if (bind(s, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(s, 16) == -1) {
		close(s);
		return (-1);
	}
	return (s);
}

/* The test's own temporary directory (removed at teardown: empty it). */
const char *
harness_tmpdir(void)
{
	return (tmpdir);
}

/* --- the programs under test ---------------------------------------------- */

struct args {
	char	*v[ARGV_MAX];
	int	 c;
};

static void
args_add(struct args *a, const char *arg)
{
	if (a->c < ARGV_MAX - 1)
		a->v[a->c++] = (char *)arg;
	a->v[a->c] = NULL;
}

static void
args_addv(struct args *a, va_list ap)
{
	const char	*arg;

	while ((arg = va_arg(ap, const char *)) != NULL)
		args_add(a, arg);
}

static int
parse_port(const char *s)
{
	long	 v;
	char	*end;

	v = strtol(s, &end, 10);
	if (end == s || v <= 0 || v > 65535)
		return (-1);
	return ((int)v);
}

/*
 * Start mcp-test-gateway --port 0 --name name --exit-on-stdin-eof, then
 * the extra arguments (NULL-terminated).  Its stdin stays open: it exits
 * on EOF, so it cannot outlive us.  *port is where it listens.
 */
struct proc *
gateway_startv(const char *name, int *port, const char *const argv[])
{
	struct args	 a = { .c = 0 };
	struct proc	*p;
	const char	*bin;
	char		*line;
	int		 i;

	*port = -1;
	if ((bin = harness_bin("MESH_GATEWAY_BIN")) == NULL)
		return (NULL);
	args_add(&a, bin);
	args_add(&a, "--port");
	args_add(&a, "0");
	args_add(&a, "--name");
	args_add(&a, name);
	args_add(&a, "--exit-on-stdin-eof");
	for (i = 0; argv != NULL && argv[i] != NULL; i++)
		args_add(&a, argv[i]);
	if ((p = proc_spawn(name, PROC_STDIN_PIPE, a.v)) == NULL)
		return (NULL);
	if ((line = proc_wait_log(p, "^port ", HARNESS_READY_MS)) == NULL)
		return (NULL);
	*port = parse_port(line + 5);
	free(line);
	return (*port == -1 ? NULL : p);
}

struct proc *
gateway_start(const char *name, int *port, ...)
{
	struct args	 a = { .c = 0 };
	va_list		 ap;

	va_start(ap, port);
	args_addv(&a, ap);
	va_end(ap);
	return (gateway_startv(name, port, (const char *const *)a.v));
}

/*
 * Start mcp-mesh [-v] --worker-path W, then --port 0 (port != NULL: wait
 * for "http: listening on" and parse the port) or --stdio (port NULL: its
 * stdin and stdout are pipes), then argv (NULL-terminated).
 */
struct proc *
mesh_startv(int *port, const char *const argv[])
{
	static const char	 tag[] = LOG_HTTP_LISTENING;
	struct args		 a = { .c = 0 };
	struct proc		*p;
	const char		*bin, *worker;
	char			*line;
	int			 i;

	if (port != NULL)
		*port = -1;
	if ((bin = harness_bin("MESH_BIN")) == NULL ||
	    (worker = harness_bin("MESH_WORKER_BIN")) == NULL)
		return (NULL);
	args_add(&a, bin);
	if (getenv("MESH_TEST_VERBOSE") != NULL)
		args_add(&a, "-v");
	args_add(&a, "--worker-path");
	args_add(&a, worker);
	if (port != NULL) {
		args_add(&a, "--port");
		args_add(&a, "0");
	} else
		args_add(&a, "--stdio");
	for (i = 0; argv != NULL && argv[i] != NULL; i++)
		args_add(&a, argv[i]);
	if (port == NULL)
		return (proc_spawn("mesh-stdio", PROC_STDIN_PIPE |
		    PROC_STDOUT_PIPE, a.v));
	if ((p = proc_spawn("mesh", 0, a.v)) == NULL)
		return (NULL);
	if ((line = proc_wait_log(p, tag, HARNESS_READY_MS)) == NULL)
		return (NULL);
	*port = parse_port(strstr(line, tag) + sizeof(tag) - 1);
	free(line);
	return (*port == -1 ? NULL : p);
}

/* mcp-mesh over HTTP with the extra arguments (NULL-terminated). */
struct proc *
mesh_start(int *port, ...)
{
	struct args	 a = { .c = 0 };
	va_list		 ap;

	va_start(ap, port);
	args_addv(&a, ap);
	va_end(ap);
	return (mesh_startv(port, (const char *const *)a.v));
}

/* mcp-mesh --stdio with the extra arguments (NULL-terminated). */
struct proc *
mesh_start_stdio(const char *arg, ...)
{
	struct args	 a = { .c = 0 };
	va_list		 ap;

	if (arg != NULL) {
		args_add(&a, arg);
		va_start(ap, arg);
		args_addv(&a, ap);
		va_end(ap);
	}
	return (mesh_startv(NULL, (const char *const *)a.v));
}

/* 0 once the mesh logged "peer NAME: ready". */
int
mesh_wait_peer(struct proc *p, const char *peer)
{
	char	 needle[128], *line;

	snprintf(needle, sizeof(needle), LOG_PEER_READY, peer);
	if ((line = proc_wait_log(p, needle, HARNESS_READY_MS)) == NULL)
		return (-1);
	free(line);
	return (0);
}

/* A port of 127.0.0.1 where nothing listens (bound, then closed). */
int
closed_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			s, port;

	if ((s = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(s, (struct sockaddr *)&sin, &len) == -1) {
		close(s);
		return (-1);
	}
	port = ntohs(sin.sin_port);
	close(s);
	return (port);
}

void
url_of(int port, char *buf, size_t len)
{
	snprintf(buf, len, "http://127.0.0.1:%d/mcp", port);
}

/* --- HTTP -------------------------------------------------------------- */

struct xfer {
	CURL			*h;
	struct curl_slist	*hdrs;
	struct http_resp	*r;
	size_t			 cap;
};

static size_t
http_body_cb(char *ptr, size_t sz, size_t nmemb, void *arg)
{
	struct xfer	*x = arg;
	size_t		 n = sz * nmemb;

	if (x->r->len + n + 1 > x->cap) {
		while (x->r->len + n + 1 > x->cap)
			x->cap = x->cap ? x->cap * 2 : 8192;
		if ((x->r->body = realloc(x->r->body, x->cap)) == NULL)
			abort();
	}
	memcpy(x->r->body + x->r->len, ptr, n);
	x->r->len += n;
	x->r->body[x->r->len] = '\0';
	return (n);
}

static char *
header_value(const char *line, size_t len, const char *name)
{
	size_t	 nlen = strlen(name);
	const char *v, *end = line + len;

	if (len <= nlen || strncasecmp(line, name, nlen) != 0 ||
	    line[nlen] != ':')
		return (NULL);
	for (v = line + nlen + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
	    end[-1] == ' '))
		end--;
	return (strndup(v, (size_t)(end - v)));
}

static void
header_keep(char **slot, char *v)
{
	if (v == NULL)
		return;
	free(*slot);
	*slot = v;
}

static size_t
http_header_cb(char *buf, size_t sz, size_t nmemb, void *arg)
{
	struct xfer	*x = arg;
	size_t		 n = sz * nmemb;

	header_keep(&x->r->session, header_value(buf, n, "Mcp-Session-Id"));
	header_keep(&x->r->ctype, header_value(buf, n, "Content-Type"));
	header_keep(&x->r->allow, header_value(buf, n, "Allow"));
	return (n);
}

/* Keep the JSON-RPC response of an SSE body (data: lines of events). */
static struct json_object *
sse_response(const char *body)
{
	struct json_object	*msg, *found = NULL;
	const char		*p = body, *nl, *v;
	char			*data = NULL;
	size_t			 dlen = 0, llen, vlen;

	for (;; p = nl + 1) {
		nl = strchr(p, '\n');
		llen = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (llen > 0 && p[llen - 1] == '\r')
			llen--;
		if (llen == 0 || nl == NULL) {
			if (data != NULL) {
				msg = json_tokener_parse(data);
				if (msg != NULL &&
				    json_object_object_get_ex(msg, "id",
				    NULL) &&
				    (json_object_object_get_ex(msg, "result",
				    NULL) || json_object_object_get_ex(msg,
				    "error", NULL))) {
					json_object_put(found);
					found = msg;
				} else
					json_object_put(msg);
				free(data);
				data = NULL;
				dlen = 0;
			}
			if (nl == NULL)
				break;
			continue;
		}
		if (llen >= 5 && strncmp(p, "data:", 5) == 0) {
			v = p + 5;
			vlen = llen - 5;
			if (vlen > 0 && *v == ' ') {
				v++;
				vlen--;
			}
			if ((data = realloc(data, dlen + vlen + 2)) == NULL)
				abort();
			if (dlen > 0)
				data[dlen++] = '\n';
			memcpy(data + dlen, v, vlen);
			dlen += vlen;
			data[dlen] = '\0';
		}
	}
	free(data);
	return (found);
}

static void
xfer_init(struct xfer *x, struct http_req *q, struct http_resp *r)
{
	int	 i;

	memset(r, 0, sizeof(*r));
	memset(x, 0, sizeof(*x));
	x->r = r;
	if ((x->h = curl_easy_init()) == NULL)
		abort();
	curl_easy_setopt(x->h, CURLOPT_URL, q->url);
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS,
	    q->timeout_ms > 0 ? q->timeout_ms : 10000L);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, http_body_cb);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	/* A fresh connection per request: sessions are not connections. */
	curl_easy_setopt(x->h, CURLOPT_FORBID_REUSE, 1L);
	if (q->method != NULL && strcmp(q->method, "GET") == 0)
		curl_easy_setopt(x->h, CURLOPT_HTTPGET, 1L);
	else if (q->method != NULL && strcmp(q->method, "POST") != 0)
		curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, q->method);
	if (q->body != NULL || q->method == NULL ||
	    strcmp(q->method, "POST") == 0) {
		curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(q->body == NULL ? 0 : q->bodylen > 0 ?
		    q->bodylen : strlen(q->body)));
		curl_easy_setopt(x->h, CURLOPT_POSTFIELDS,
		    q->body != NULL ? q->body : "");
	}
	for (i = 0; i < 16 && q->headers[i] != NULL; i++)
		x->hdrs = curl_slist_append(x->hdrs, q->headers[i]);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
}

static void
xfer_done(struct xfer *x)
{
	struct http_resp	*r = x->r;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body != NULL && r->len > 0) {
		if (r->ctype != NULL &&
		    strstr(r->ctype, "text/event-stream") != NULL)
			r->json = sse_response(r->body);
		else
			r->json = json_tokener_parse(r->body);
	}
	curl_slist_free_all(x->hdrs);
	curl_easy_cleanup(x->h);
}

/* Run n requests at once (one curl multi); every resp is filled. */
void
http_perform(struct http_req *q, struct http_resp *r, int n)
{
	CURLM		*m;
	CURLMsg		*msg;
	struct xfer	*x, *xp;
	int		 i, running, left;

	if ((x = calloc((size_t)n, sizeof(*x))) == NULL ||
	    (m = curl_multi_init()) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		xfer_init(&x[i], &q[i], &r[i]);
		curl_easy_setopt(x[i].h, CURLOPT_PRIVATE, &x[i]);
		curl_multi_add_handle(m, x[i].h);
	}
	do {
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&xp);
			xp->r->curlcode = (int)msg->data.result;
		}
		if (running > 0)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	} while (running > 0);
	for (i = 0; i < n; i++) {
		curl_multi_remove_handle(m, x[i].h);
		xfer_done(&x[i]);
	}
	curl_multi_cleanup(m);
	free(x);
}

void
http_do(struct http_req *q, struct http_resp *r)
{
	http_perform(q, r, 1);
}

void
http_resp_free(struct http_resp *r)
{
	free(r->body);
	free(r->session);
	free(r->ctype);
	free(r->allow);
	json_object_put(r->json);
	memset(r, 0, sizeof(*r));
}

int
http_error_code(struct http_resp *r)
{
	int64_t	 code;

	if (json_path_int(r->json, "error.code", &code) == -1)
		return (0);
	return ((int)code);
}

const char *
http_error_message(struct http_resp *r)
{
	const char	*m = json_path_str(r->json, "error.message");

	return (m != NULL ? m : "");
}

/* --- MCP sessions -------------------------------------------------------- */

void
mcp_headers(struct mcp_client *c, struct http_req *q, struct mcp_hdrbuf *b)
{
	int	 i = 0;

	q->headers[i++] = MCP_ACCEPT;
	q->headers[i++] = MCP_CTYPE;
	if (c->session != NULL) {
		snprintf(b->sid, sizeof(b->sid), "Mcp-Session-Id: %s",
		    c->session);
		q->headers[i++] = b->sid;
	}
	snprintf(b->version, sizeof(b->version), "MCP-Protocol-Version: %s",
	    c->version[0] != '\0' ? c->version : MCP_VERSION);
	q->headers[i++] = b->version;
	q->headers[i] = NULL;
}

/*
 * initialize at protocol version (the version the mesh answers is kept
 * in c->version), keep the session id, notifications/initialized.
 */
int
mcp_open_version(struct mcp_client *c, const char *url,
    const char *version)
{
	struct http_req		 q;
	struct http_resp	 r;
	const char		*v;
	struct mcp_hdrbuf	 hb;
	char			 body[512];
	int			 ok;

	memset(c, 0, sizeof(*c));
	snprintf(c->url, sizeof(c->url), "%s", url);
	c->nextid = 1;
	snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":"
	    "\"initialize\",\"params\":{\"protocolVersion\":\"%s\","
	    "\"capabilities\":{},\"clientInfo\":{\"name\":\"mesh-it\","
	    "\"version\":\"1.0\"}}}", version);
	memset(&q, 0, sizeof(q));
	q.url = c->url;
	q.body = body;
	q.headers[0] = MCP_ACCEPT;
	q.headers[1] = MCP_CTYPE;
	http_do(&q, &r);
	v = json_path_str(r.json, "result.protocolVersion");
	ok = r.status == 200 && r.session != NULL && v != NULL;
	if (!ok)
		fprintf(stderr, "mcp_open %s: initialize %s: curl %d, HTTP "
		    "%ld, session %s, body %.500s\n", url, version,
		    r.curlcode, r.status, r.session ? r.session : "(none)",
		    r.body ? r.body : "");
	else {
		c->session = strdup(r.session);
		snprintf(c->version, sizeof(c->version), "%s", v);
	}
	http_resp_free(&r);
	if (!ok)
		return (-1);
	memset(&q, 0, sizeof(q));
	q.url = c->url;
	q.body = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
	mcp_headers(c, &q, &hb);
	http_do(&q, &r);
	ok = r.status == 202;
	if (!ok)
		fprintf(stderr, "mcp_open %s: notifications/initialized: HTTP "
		    "%ld (want 202), body %.500s\n", url, r.status,
		    r.body ? r.body : "");
	http_resp_free(&r);
	return (ok ? 0 : -1);
}

/* The same at MCP_VERSION. */
int
mcp_open(struct mcp_client *c, const char *url)
{
	return (mcp_open_version(c, url, MCP_VERSION));
}

/* DELETE the session; forget it. */
void
mcp_close(struct mcp_client *c)
{
	struct http_req		 q;
	struct http_resp	 r;
	struct mcp_hdrbuf	 hb;

	if (c->session != NULL) {
		memset(&q, 0, sizeof(q));
		q.url = c->url;
		q.method = "DELETE";
		mcp_headers(c, &q, &hb);
		q.timeout_ms = 3000;
		http_do(&q, &r);
		http_resp_free(&r);
	}
	free(c->session);
	c->session = NULL;
}

/* One request in the session; returns r->json (the response message). */
struct json_object *
mcp_request(struct mcp_client *c, const char *method, const char *params,
    struct http_resp *r)
{
	struct http_req	 q;
	struct mcp_hdrbuf hb;
	char		*body;

	body = rpc_text(c->nextid++, method, params);
	memset(&q, 0, sizeof(q));
	q.url = c->url;
	q.body = body;
	mcp_headers(c, &q, &hb);
	http_do(&q, r);
	free(body);
	if (r->status != 200 || r->json == NULL)
		fprintf(stderr, "mcp_request %s: curl %d, HTTP %ld, body "
		    "%.500s\n", method, r->curlcode, r->status,
		    r->body ? r->body : "");
	return (r->json);
}

/* tools/call; returns the result object (borrowed from r) or NULL. */
struct json_object *
mcp_call_tool(struct mcp_client *c, const char *tool, const char *args,
    struct http_resp *r)
{
	char	*params;

	if (asprintf(&params, "{\"name\":\"%s\",\"arguments\":%s}", tool,
	    args != NULL ? args : "{}") == -1)
		abort();
	mcp_request(c, "tools/call", params, r);
	free(params);
	return (json_path(r->json, "result"));
}

/* Every tool of every page (nextCursor followed); a new array or NULL. */
struct json_object *
mcp_list_tools(struct mcp_client *c)
{
	struct json_object	*all, *tools, *cur, *o;
	struct http_resp	 r;
	char			*params = NULL;
	const char		*cursor;
	size_t			 i;
	int			 pages;

	all = json_object_new_array();
	for (pages = 0; pages < 100; pages++) {
		mcp_request(c, "tools/list", params, &r);
		free(params);
		params = NULL;
		tools = json_path(r.json, "result.tools");
		if (tools == NULL ||
		    !json_object_is_type(tools, json_type_array)) {
			http_resp_free(&r);
			json_object_put(all);
			return (NULL);
		}
		for (i = 0; i < json_object_array_length(tools); i++) {
			cur = json_object_array_get_idx(tools, i);
			json_object_array_add(all, json_object_get(cur));
		}
		cursor = json_path_str(r.json, "result.nextCursor");
		if (cursor != NULL) {
			o = json_object_new_object();
			json_object_object_add(o, "cursor",
			    json_object_new_string(cursor));
			params = strdup(json_object_to_json_string_ext(o,
			    JSON_C_TO_STRING_PLAIN));
			json_object_put(o);
		}
		http_resp_free(&r);
		if (params == NULL)
			return (all);
	}
	free(params);
	json_object_put(all);
	return (NULL);
}

/* --- JSON ----------------------------------------------------------------- */

/* "a.b.0.c": object keys and array indexes. */
struct json_object *
json_path(struct json_object *o, const char *path)
{
	char		 seg[128];
	const char	*p = path, *dot;
	size_t		 n;

	while (o != NULL && *p != '\0') {
		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(seg))
			return (NULL);
		memcpy(seg, p, n);
		seg[n] = '\0';
		if (json_object_is_type(o, json_type_array) &&
		    isdigit((unsigned char)seg[0])) {
			o = json_object_array_get_idx(o, (size_t)atoi(seg));
		} else if (json_object_is_type(o, json_type_object)) {
			if (!json_object_object_get_ex(o, seg, &o))
				return (NULL);
		} else
			return (NULL);
		p += n;
		if (*p == '.')
			p++;
	}
	return (o);
}

const char *
json_path_str(struct json_object *o, const char *path)
{
	o = json_path(o, path);
	if (o == NULL || !json_object_is_type(o, json_type_string))
		return (NULL);
	return (json_object_get_string(o));
}

int
json_path_int(struct json_object *o, const char *path, int64_t *out)
{
	o = json_path(o, path);
	if (o == NULL || !json_object_is_type(o, json_type_int))
		return (-1);
	*out = json_object_get_int64(o);
	return (0);
}

/* The message's id is the integer want, or null for want < 0. */
int
rpc_id_is(struct json_object *msg, int64_t want)
{
	struct json_object	*id;

	if (msg == NULL || !json_object_object_get_ex(msg, "id", &id))
		return (0);
	if (want < 0)
		return (id == NULL);
	return (id != NULL && json_object_is_type(id, json_type_int) &&
	    json_object_get_int64(id) == want);
}

/* The text of the first content block of a tools/call result. */
const char *
tool_text(struct json_object *result)
{
	return (json_path_str(result, "content.0.text"));
}

int
tools_has(struct json_object *tools, const char *name)
{
	size_t		 i;
	const char	*n;

	if (tools == NULL)
		return (0);
	for (i = 0; i < json_object_array_length(tools); i++) {
		n = json_path_str(json_object_array_get_idx(tools, i), "name");
		if (n != NULL && strcmp(n, name) == 0)
			return (1);
	}
	return (0);
}

/* --- /proc and sanitizer helpers for the fault and chaos tests --------- */

int
proc_fd_count(pid_t pid)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

/* The line of /proc/PID/FILE that starts with key, in buf; NULL if none. */
char *
proc_file_line(pid_t pid, const char *file, const char *key, char *buf,
    size_t len)
{
	char	 path[64];
	FILE	*f;
	char	*line = NULL;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	while (fgets(buf, len, f) != NULL)
		if (strncmp(buf, key, strlen(key)) == 0) {
			line = buf;
			break;
		}
	fclose(f);
	return (line);
}

/*
 * The directory of pid's cgroup v2: its "0::PATH" under the cgroup2
 * mount, in buf; NULL when it has none.
 */
char *
proc_cgroup_dir(pid_t pid, char *buf, size_t len)
{
	char	 line[1024], m[2048], root[512], mnt[512], *path;
	FILE	*f;
	int	 found = 0;

	if (proc_file_line(pid, "cgroup", "0::", line, sizeof(line)) == NULL)
		return (NULL);
	line[strcspn(line, "\n")] = '\0';
	path = line + 3;
	if ((f = fopen("/proc/self/mountinfo", "r")) == NULL)
		return (NULL);
	while (!found && fgets(m, sizeof(m), f) != NULL)
		found = strstr(m, " - cgroup2 ") != NULL &&
		    sscanf(m, "%*s %*s %*s %511s %511s", root, mnt) == 2 &&
		    strcmp(root, "/") == 0;
	fclose(f);
	if (!found)
		return (NULL);
	snprintf(buf, len, "%s%s", mnt, strcmp(path, "/") == 0 ? "" : path);
	return (buf);
}

/* VmRSS of pid in kB, or -1. */
long
proc_rss_kb(pid_t pid)
{
	char	line[256];

	if (proc_file_line(pid, "status", "VmRSS:", line, sizeof(line)) ==
	    NULL)
		return (-1);
	return (strtol(line + 6, NULL, 10));
}

/*
 * Under AddressSanitizer the freed-memory quarantine (256 MiB by default)
 * would be the growth measured: the programs under test get a small one.
 */
void
harness_asan_small_quarantine(void)
{
#ifdef __SANITIZE_ADDRESS__
	const char	*old = getenv("ASAN_OPTIONS");
	char		 buf[1024];

	if (old != NULL && strstr(old, "quarantine_size_mb") != NULL)
		return;
	snprintf(buf, sizeof(buf), "%s%s" HARNESS_ASAN_QUARANTINE, old ? old : "",
	    old && *old ? ":" : "");
	setenv("ASAN_OPTIONS", buf, 1);
#endif
}

/*
 * Where the first mapping of /proc/PID/maps naming what (a library)
 * starts; 0 when none (or unreadable).
 */
unsigned long
proc_map_base(pid_t pid, const char *what)
{
	char		 path[64], line[512];
	unsigned long	 base = 0;
	FILE		*f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, what) != NULL) {
			base = strtoul(line, NULL, 16);
			break;
		}
	fclose(f);
	return (base);
}

/* Memory growth allowed: larger when pid runs with AddressSanitizer. */
long
proc_rss_slack_kb(pid_t pid)
{
	if (proc_map_base(pid, "libasan") != 0)
		return (HARNESS_RSS_SLACK_ASAN_KB);
	return (HARNESS_RSS_SLACK_KB);
}

/* --- one tools/call with a chosen id ------------------------------------- */

/*
 * A tools/call of tool with args and id in session c, as a request for
 * http_do or http_perform (several at once); the body is returned, to
 * free once it ran.
 */
char *
mcp_tool_req(struct mcp_client *c, struct http_req *q, struct mcp_hdrbuf *hb,
    int id, const char *tool, const char *args, long wait_ms)
{
	char	*params, *body;

	if (asprintf(&params, "{\"name\":\"%s\",\"arguments\":%s}", tool,
	    args != NULL ? args : "{}") == -1)
		abort();
	body = rpc_text(id, "tools/call", params);
	free(params);
	memset(q, 0, sizeof(*q));
	q->url = c->url;
	q->body = body;
	q->timeout_ms = wait_ms;
	mcp_headers(c, q, hb);
	return (body);
}

/*
 * tools/call tool args with id in session c, the client waiting at most
 * wait_ms.  Returns the time to the answer in ms; *r is filled.
 */
uint64_t
mcp_call_id(struct mcp_client *c, int id, const char *tool, const char *args,
    long wait_ms, struct http_resp *r)
{
	struct http_req		 q;
	struct mcp_hdrbuf	 hb;
	char			*body;
	uint64_t		 t0;

	body = mcp_tool_req(c, &q, &hb, id, tool, args, wait_ms);
	t0 = now_ms();
	http_do(&q, r);
	free(body);
	return (now_ms() - t0);
}

/* A request with the headers given (NULL-terminated), in no session. */
void
http_raw(const char *method, const char *url, const char *body,
    const char *const *hdrs, struct http_resp *r)
{
	struct http_req	 q;
	int		 i;

	memset(&q, 0, sizeof(q));
	q.method = method;
	q.url = url;
	q.body = body;
	for (i = 0; hdrs != NULL && hdrs[i] != NULL && i < 15; i++)
		q.headers[i] = hdrs[i];
	http_do(&q, r);
}

/* A request in session c: its usual headers, and extra when not NULL. */
void
mcp_in_session(struct mcp_client *c, const char *method, const char *body,
    const char *extra, struct http_resp *r)
{
	struct http_req		 q;
	struct mcp_hdrbuf	 hb;
	int			 i;

	memset(&q, 0, sizeof(q));
	q.method = method;
	q.url = c->url;
	q.body = body;
	mcp_headers(c, &q, &hb);
	for (i = 0; q.headers[i] != NULL; i++)
		;
	q.headers[i] = extra;
	http_do(&q, r);
}

/* --- answers ------------------------------------------------------------- */

/* The text of an answer: a result's first text, or error.message. */
const char *
answer_text(struct http_resp *r)
{
	const char	*s;

	if ((s = tool_text(json_path(r->json, "result"))) != NULL)
		return (s);
	if ((s = json_path_str(r->json, "error.message")) != NULL)
		return (s);
	return ("");
}

int
answer_id_is(struct http_resp *r, int id)
{
	return (rpc_id_is(r->json, id));
}

/* A JSON-RPC error, or a result with isError. */
int
answer_is_error(struct http_resp *r)
{
	if (json_path(r->json, "error") != NULL)
		return (1);
	return (json_object_get_boolean(json_path(r->json, "result.isError")));
}

/* "peer x: could not ...: " : a message whose cause is empty. */
int
cause_empty(const char *text)
{
	size_t	 n = strlen(text);

	while (n > 0 && text[n - 1] == ' ')
		n--;
	return (n == 0 || text[n - 1] == ':');
}

/* Keep the first of several errors: buf is written only while empty. */
void
first_err(char *buf, size_t len, const char *fmt, ...)
{
	va_list	 ap;

	if (buf[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/*
 * Call tool with {"text": text} in session c until it answers text (a
 * peer starting again), at most limit_ms: the ms it took, or -1.
 */
int64_t
wait_echo(struct mcp_client *c, const char *tool, const char *text,
    int limit_ms)
{
	struct http_resp	 r;
	struct json_object	*o;
	uint64_t		 t0 = now_ms();
	char			*args;
	int			 id, ok;

	o = json_object_new_object();
	json_object_object_add(o, "text", json_object_new_string(text));
	if ((args = strdup(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN))) == NULL)
		abort();
	json_object_put(o);
	for (;;) {
		id = c->nextid++;
		mcp_call_id(c, id, tool, args, c->wait_ms, &r);
		ok = r.status == 200 && answer_id_is(&r, id) &&
		    !answer_is_error(&r) && strcmp(answer_text(&r), text) == 0;
		http_resp_free(&r);
		if (ok || now_ms() - t0 >= (uint64_t)limit_ms)
			break;
		harness_msleep(SERVE_POLL_MS);
	}
	free(args);
	return (ok ? (int64_t)(now_ms() - t0) : -1);
}

/* --- mesh_node_info ------------------------------------------------------ */

/* The structuredContent of a mesh_node_info answer (to put), or NULL. */
struct json_object *
node_info_of(struct http_resp *r)
{
	struct json_object	*sc;

	if ((sc = json_path(r->json, "result.structuredContent")) != NULL)
		json_object_get(sc);
	return (sc);
}

/* mesh_node_info in session c: its structuredContent (to put), or NULL. */
struct json_object *
node_info(struct mcp_client *c)
{
	struct http_resp	 r;
	struct json_object	*sc;

	mcp_call_id(c, c->nextid++, "mesh_node_info", "{}", c->wait_ms, &r);
	sc = node_info_of(&r);
	http_resp_free(&r);
	return (sc);
}

/* The peers[] entry of peer in a node_info object (borrowed), or NULL. */
struct json_object *
node_peer(struct json_object *info, const char *peer)
{
	struct json_object	*peers, *p;
	const char		*n;
	size_t			 i;

	peers = json_path(info, "peers");
	if (peers == NULL || !json_object_is_type(peers, json_type_array))
		return (NULL);
	for (i = 0; i < json_object_array_length(peers); i++) {
		p = json_object_array_get_idx(peers, i);
		if ((n = json_path_str(p, "name")) != NULL &&
		    strcmp(n, peer) == 0)
			return (p);
	}
	return (NULL);
}

/*
 * The worker pid of peer in a node_info object when the peer is ready,
 * else -1; its state (borrowed, NULL if none) in *state.
 */
pid_t
node_peer_pid(struct json_object *info, const char *peer, const char **state)
{
	struct json_object	*p;
	const char		*s = NULL;
	int64_t			 pid = -1;

	if ((p = node_peer(info, peer)) != NULL &&
	    ((s = json_path_str(p, "state")) == NULL ||
	    strcmp(s, "ready") != 0 || json_path_int(p, "pid", &pid) == -1))
		pid = -1;
	if (state != NULL)
		*state = s;
	return ((pid_t)pid);
}

/* The worker pid of a ready peer (mesh_node_info in c), else -1. */
pid_t
peer_pid(struct mcp_client *c, const char *peer)
{
	struct json_object	*info;
	pid_t			 pid;

	if ((info = node_info(c)) == NULL)
		return (-1);
	pid = node_peer_pid(info, peer, NULL);
	json_object_put(info);
	return (pid);
}

/* pid is a live worker of mesh (its child, named mcp-mesh-worker). */
int
mesh_is_worker(pid_t mesh, pid_t pid)
{
	pid_t	 kids[64];
	char	 comm[64];
	int	 i, n;

	n = mesh_workers(mesh, kids, 64);
	for (i = 0; i < n; i++)
		if (kids[i] == pid)
			break;
	if (i == n || proc_file_line(pid, "comm", "mcp-mesh-worker", comm,
	    sizeof(comm)) == NULL)
		return (0);
	return (1);
}
