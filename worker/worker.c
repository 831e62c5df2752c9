/*
 * The worker's life: HELLO, CONFIG, set-up, sandbox, then one loop that
 * waits on the supervisor's socket (WORKER_FD, sup.c) and the upstream's
 * descriptors together.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <grp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <json-c/json.h>

#include "jsonrpc.h"
#include "mesh-proto.h"
#include "msg.h"
#include "sandbox.h"
#include "util.h"
#include "worker.h"
#include "xmalloc.h"

/* Every descriptor a worker may hold, the supervisor's socket included. */
#define WORKER_POLL_MAX		(WORKER_NOFILE_MAX + 1)

struct worker_config	 worker_conf;
pid_t			 worker_ppid;

static const char *worker_conf_str(struct json_object *, const char *,
		    size_t, int);
static long	 worker_conf_int(struct json_object *, const char *, long,
		    long, long);
static void	 worker_configure(void);
static void	 worker_drop_privileges(void);

/* Free everything (leak checkers watch clean exits) and go. */
__dead void
worker_exit(int status)
{
	if (worker_conf.transport != NULL)
		worker_conf.transport->free();
	sup_close();
	free(worker_conf.name);
	free(worker_conf.url);
	free(worker_conf.node_name);
	free(worker_conf.mesh_version);
	free(worker_conf.client_caps);
	memset(&worker_conf, 0, sizeof(worker_conf));
	exit(status);
}

/* A string member; NULL (and the caller fails) if missing or bad. */
static const char *
worker_conf_str(struct json_object *o, const char *key, size_t max,
    int required)
{
	struct json_object	*v;
	const char		*s;

	if (!json_object_object_get_ex(o, key, &v))
		return (required ? NULL : "");
	if (!json_object_is_type(v, json_type_string))
		return (NULL);
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) > max ||
	    strlen(s) != (size_t)json_object_get_string_len(v))
		return (NULL);
	return (s);
}

/* An integer member in [min, max]; def if missing, -1 if bad. */
static long
worker_conf_int(struct json_object *o, const char *key, long def, long min,
    long max)
{
	struct json_object	*v;
	int64_t			 n;

	if (!json_object_object_get_ex(o, key, &v))
		return (def);
	if (!json_object_is_type(v, json_type_int))
		return (-1);
	n = json_object_get_int64(v);
	if (n < min || n > max)
		return (-1);
	return ((long)n);
}

/* The numbers of CONFIG; -1 where one is bad (worker_conf_check()). */
static void
worker_conf_numbers(struct json_object *o)
{
	struct json_object	*v;

	/* A day is already absurd for one call. */
	worker_conf.request_timeout_ms = worker_conf_int(o, "request_timeout_ms",
	    REQUEST_TIMEOUT_MS, 1, 24 * 3600 * 1000);
	worker_conf.connect_timeout_ms = worker_conf_int(o, "connect_timeout_ms",
	    UPSTREAM_CONNECT_TIMEOUT_MS, 1, 24 * 3600 * 1000);
	worker_conf.response_max = worker_conf_int(o, "response_max",
	    UPSTREAM_RESPONSE_MAX, UPSTREAM_RESPONSE_MIN, UPSTREAM_RESPONSE_CAP);
	worker_conf.memory_mb = worker_conf_int(o, "memory_mb",
	    WORKER_MEMORY_MB, 0, WORKER_MEMORY_MB_CAP);
	/* -2: absent (keep ours); -1 stays "bad". */
	worker_conf.uid = worker_conf_int(o, "uid", -2, 1, UINT32_MAX - 1);
	worker_conf.gid = worker_conf_int(o, "gid", -2, 1, UINT32_MAX - 1);
	if (json_object_object_get_ex(o, "sandbox_debug", &v))
		worker_conf.sandbox_debug = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "verbose", &v))
		worker_conf.verbose = json_object_get_int(v) != 0;
}

/*
 * "transport": only "streamable-http" today, and what an absent one
 * means.  NULL, and the name (escaped) in bad, for any other.
 */
static const struct transport_ops *
worker_conf_transport(const char *name, char *bad, size_t len)
{
	const struct transport_ops	*tp;

	if (*name == '\0')
		name = transport_streamable_http.name;
	if ((tp = transport_find(name)) == NULL)
		log_escape(bad, len, name, strlen(name));
	return (tp);
}

/* What CONFIG said that cannot be: the worker fails EX_CONFIG. */
static void
worker_conf_check(int badname, const char *badtransport)
{
	if (badname)
		sup_fail(EX_CONFIG, "bad peer name in CONFIG");
	if (worker_conf.transport == NULL)
		sup_fail(EX_CONFIG, "unknown transport \"%s\" in CONFIG (this "
		    "worker speaks %s)", badtransport,
		    transport_streamable_http.name);
	if (strncasecmp(worker_conf.url, "http://", 7) != 0 &&
	    strncasecmp(worker_conf.url, "https://", 8) != 0)
		sup_fail(EX_CONFIG, "URL must be http:// or https://");
	if (worker_conf.request_timeout_ms == -1 ||
	    worker_conf.connect_timeout_ms == -1)
		sup_fail(EX_CONFIG, "bad timeout in CONFIG");
	if (worker_conf.response_max == -1 || worker_conf.memory_mb == -1 ||
	    worker_conf.uid == -1 || worker_conf.gid == -1 ||
	    (worker_conf.uid == -2) != (worker_conf.gid == -2))
		sup_fail(EX_CONFIG, "bad limit or user in CONFIG");
}

static int
worker_name_valid(const char *name)
{
	size_t	i;

	for (i = 0; name[i] != '\0'; i++)
		if (!islower((unsigned char)name[i]) &&
		    !isdigit((unsigned char)name[i]) && name[i] != '-')
			return (0);
	return (1);
}

/*
 * "client_capabilities": what the clients the mesh relays to can do, to
 * be declared to the gateway; kept as text until the handshake.  A bad
 * one is no capability at all.
 */
static void
worker_conf_caps(struct json_object *o)
{
	struct json_object	*v;

	if (json_object_object_get_ex(o, "client_capabilities", &v) &&
	    json_object_is_type(v, json_type_object))
		worker_conf.client_caps = xstrdup(json_object_to_json_string_ext(
		    v, JSON_C_TO_STRING_PLAIN));
}

/* CONFIG is the answer to HELLO and the only source of configuration. */
static void
worker_configure(void)
{
	struct json_object	*o;
	struct msg		 m;
	const char		*why, *name, *url, *node, *ver, *tname;
	char			 proc[16 + PEER_NAME_MAX], badtp[64];
	int			 badname;

	sup_config(&m);
	if ((o = jsonrpc_parse(m.data, m.hdr.len, JSON_DEPTH_MAX, &why)) ==
	    NULL || !json_object_is_type(o, json_type_object))
		sup_fail(EX_CONFIG, "CONFIG is not a JSON object: %s",
		    o == NULL ? why : "wrong type");
	name = worker_conf_str(o, "name", PEER_NAME_MAX, 1);
	url = worker_conf_str(o, "url", PEER_URL_MAX, 1);
	node = worker_conf_str(o, "node_name", NODE_NAME_MAX, 0);
	ver = worker_conf_str(o, "mesh_version", 32, 0);
	tname = worker_conf_str(o, "transport", 32, 0);
	if (name == NULL || *name == '\0' || url == NULL || node == NULL ||
	    ver == NULL || tname == NULL) {
		json_object_put(o);
		sup_fail(EX_CONFIG, "CONFIG lacks name or url, or has a bad "
		    "string");
	}
	badname = !worker_name_valid(name);
	worker_conf.transport = worker_conf_transport(tname, badtp,
	    sizeof(badtp));
	worker_conf.name = xstrdup(badname ? "peer" : name);
	worker_conf.url = xstrdup(url);
	worker_conf.node_name = xstrdup(node);
	worker_conf.mesh_version = xstrdup(*ver != '\0' ? ver : PACKAGE_VERSION);
	worker_conf_numbers(o);
	worker_conf_caps(o);
	json_object_put(o);
	worker_conf_check(badname, badtp);
	log_init(worker_conf.verbose);
	snprintf(proc, sizeof(proc), "worker:%s", worker_conf.name);
	log_procinit(proc);
	sup_log_start();
}

/*
 * Started by a supervisor running as root: become the user it names
 * before anything else happens (set-up included: the resolver talks to
 * the network).  Without a user in CONFIG a root worker refuses to run.
 */
static void
worker_drop_privileges(void)
{
	gid_t	gid = (gid_t)worker_conf.gid;
	uid_t	uid = (uid_t)worker_conf.uid;

	if (worker_conf.uid == -2) {
		if (geteuid() == 0 || getuid() == 0)
			sup_fail(EX_CONFIG, "running as root and CONFIG "
			    "names no user to become");
		return;
	}
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		sup_fail(EX_NOPERM, "cannot become uid %lu gid %lu: %s",
		    (unsigned long)uid, (unsigned long)gid, strerror(errno));
	/* Be sure there is no way back. */
	if (setuid(0) != -1 || geteuid() == 0)
		sup_fail(EX_SOFTWARE, "could get root back after dropping it");
}

/*
 * One loop for the whole life of the worker: the supervisor's socket
 * and the transport's descriptors in one poll().
 */
__dead void
worker_loop(void)
{
	const struct transport_ops	*tp = worker_conf.transport;
	struct pollfd			 pfd[WORKER_POLL_MAX];
	int				 i, n;

	for (;;) {
		sup_pollfd(&pfd[0]);
		n = tp->fds(pfd + 1, WORKER_POLL_MAX - 1);
		if (poll(pfd, n + 1, tp->timeout()) == -1) {
			if (errno != EINTR)
				sup_fail(EX_OSERR, "poll: %s", strerror(errno));
			for (i = 0; i <= n; i++)
				pfd[i].revents = 0;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			sup_read();
		tp->run(pfd + 1, n);
		sandbox_report();
		sup_write();
	}
}

/*
 * Everything before the loop; the sandbox goes up last, before the first
 * byte from the gateway.  tests/sandbox/ runs this too, then tries what
 * the sandbox must refuse.
 */
void
worker_setup(void)
{
	struct sandbox_policy	pol;

	worker_ppid = getppid();
	/*
	 * The supervisor closed the rest already; be sure, and do it now:
	 * curl_multi_init() opens its own wake-up descriptors, so it cannot
	 * wait for the sandbox.
	 */
	closefrom(WORKER_FD + 1);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	log_init(0);
	log_procinit("worker");
	if (fcntl(WORKER_FD, F_GETFD) == -1) {
		log_warn("descriptor %d (the supervisor's socket)", WORKER_FD);
		exit(EX_SOFTWARE);
	}
	if (fd_nonblock(WORKER_FD) == -1 || fd_cloexec(WORKER_FD, 1) == -1) {
		log_warn("descriptor %d", WORKER_FD);
		exit(EX_SOFTWARE);
	}
	sup_init();
	sup_hello();
	worker_configure();
	worker_drop_privileges();
	worker_conf.transport->init();
	memset(&pol, 0, sizeof(pol));
	pol.transport = worker_conf.transport->kind;
	worker_conf.transport->policy(&pol);
	pol.memory_bytes = (uint64_t)worker_conf.memory_mb * 1024 * 1024;
	pol.debug = worker_conf.sandbox_debug;
	sandbox_enter(&pol);
}

/* After the sandbox: the first byte to the gateway. */
void
worker_start(void)
{
	worker_conf.transport->start();
}

int
worker_main(void)
{
	worker_setup();
	worker_start();
	worker_loop();
}
