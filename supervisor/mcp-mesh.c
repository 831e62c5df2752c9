/*
 * mcp-mesh: the supervisor.  One libevent loop owns the front-ends (stdio,
 * Streamable HTTP), the peers and their workers.  It never daemonizes:
 * systemd and stdio clients both want it in the foreground.
 */
#include <sys/resource.h>

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "mesh.h"

struct event_base	*ev_base;
struct mesh_config	 conf;

static struct event	*ev_sigterm, *ev_sigint, *ev_sighup, *ev_shutdown;
static struct event	*ev_exitwait;
static int		 exit_status;
static int		 shutting_down;

/*
 * libevent speaks through our log, never stdout.  Its warnings are debug:
 * the expected one is epoll refusing a regular file as stdin or stdout.
 */
static void
mesh_event_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_ERR)
		log_warnx("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

static void
mesh_sigterm(evutil_socket_t sig, short events, void *arg)
{
	log_info("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	mesh_shutdown(0);
}

/*
 * SIGHUP: the peers file again.  A broken file is refused whole, naming
 * its line, and the running directory stays in force.
 */
static void
mesh_sighup(evutil_socket_t sig, short events, void *arg)
{
	struct directory	next;
	char			err[PATH_MAX + 256];

	log_info("SIGHUP: reading %s again", conf.peers_path);
	if (directory_load(&next, conf.peers_path, err, sizeof(err)) == -1) {
		log_warnx("reload refused, the directory stays as it was: %s",
		    err);
		directory_clear(&next);
		return;
	}
	directory_move(&directory, &next);
	log_info("directory %s: %u entries", directory.path, directory.n);
	peer_reresolve_all();
}

/* Wait for every worker to go, then leave the loop. */
static void
mesh_exitwait(evutil_socket_t fd, short events, void *arg)
{
	struct timeval	tv = { 0, 20 * 1000 };

	if (peer_all_stopped())
		event_base_loopbreak(ev_base);
	else
		evtimer_add(ev_exitwait, &tv);
}

static void
mesh_shutdown_now(evutil_socket_t fd, short events, void *arg)
{
	/* Front-ends first: their requests are answered as sessions go. */
	if (conf.http)
		http_stop();
	if (conf.stdio)
		stdio_stop();
	session_free_all();
	call_internal_end();
	peer_stop_all();
	mesh_exitwait(-1, 0, NULL);
}

/*
 * Deferred to the loop: a shutdown asked for deep inside a callback must
 * not free what that callback still uses.
 */
void
mesh_shutdown(int status)
{
	if (shutting_down)
		return;
	shutting_down = 1;
	exit_status = status;
	event_active(ev_shutdown, EV_TIMEOUT, 0);
}

static void
mesh_setup_peers(void)
{
	struct bridge_spec	*b;

	TAILQ_FOREACH(b, &conf.bridges, entry) {
		peer_add(b);
		log_info("peer %s: %s %s", b->name, b->bridged ? "bridging" :
		    "connecting to", b->url);
	}
}

/*
 * Descriptors: the soft limit goes up to the hard one (systemd leaves it
 * at 1024), and HTTP connections get what peers do not need, so that
 * idle connections can never starve a worker's respawn.
 */
static unsigned
mesh_fd_budget(void)
{
	struct rlimit	rl;
	rlim_t		reserve, room;

	reserve = FD_RESERVE_BASE + (rlim_t)FD_PER_PEER * (npeers +
	    FD_PEERS_ROOM);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		fatal("getrlimit");
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("raising the descriptor limit");
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	room = rl.rlim_cur > reserve ? rl.rlim_cur - reserve : 0;
	if (room < HTTP_CONNECTIONS_MAX + HTTP_CONNECTIONS_SPARE) {
		room = room > HTTP_CONNECTIONS_SPARE ?
		    room - HTTP_CONNECTIONS_SPARE : 1;
		log_warnx("descriptor limit %llu: %llu kept for peers, so "
		    "%llu HTTP connections at most (raise LimitNOFILE)",
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)reserve, (unsigned long long)room);
		return ((unsigned)room);
	}
	return (HTTP_CONNECTIONS_MAX);
}

static void
mesh_cleanup_config(void)
{
	config_clear(&conf);
	directory_clear(&directory);
}

static void
mesh_cleanup(void)
{
	peer_free_all();
	cgroup_shutdown();
	stderr_relay_free_all();
	toolmap_clear();
	mcp_shutdown();
	proc_shutdown();
	event_free(ev_sigterm);
	event_free(ev_sigint);
	event_free(ev_sighup);
	event_free(ev_shutdown);
	event_free(ev_exitwait);
	event_base_free(ev_base);
	mesh_cleanup_config();
}

static unsigned
peer_args_count(void)
{
	struct bridge_spec	*b;
	unsigned		 n = 0;

	TAILQ_FOREACH(b, &conf.bridges, entry)
		n++;
	return (n);
}

int
main(int argc, char **argv)
{
	char	err[PATH_MAX + 256];
	int	r;

	log_init(0);
	log_procinit("mcp-mesh");
	if ((r = config_parse_args(&conf, argc, argv)) != 0) {
		mesh_cleanup_config();
		return (r == 1 ? 0 : 1);
	}
	log_setverbose(conf.verbose);
	if (node_init(&conf, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		mesh_cleanup_config();
		return (1);
	}
	if (access(conf.worker_path, X_OK) == -1)
		fatal("worker program %s", conf.worker_path);
	if (conf.check_only) {
		fprintf(stderr, "configuration OK (%u peers, %u entries in %s)\n",
		    peer_args_count(), directory.n, conf.peers_path);
		mesh_cleanup_config();
		return (0);
	}
	conf.started_ms = now_ms();
	mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD);
	signal(SIGPIPE, SIG_IGN);
	/* Workers must not talk to systemd in our name. */
	unsetenv("NOTIFY_SOCKET");

	event_set_log_callback(mesh_event_log);
	if ((ev_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	ev_sigterm = evsignal_new(ev_base, SIGTERM, mesh_sigterm, NULL);
	ev_sigint = evsignal_new(ev_base, SIGINT, mesh_sigterm, NULL);
	ev_sighup = evsignal_new(ev_base, SIGHUP, mesh_sighup, NULL);
	evsignal_add(ev_sigterm, NULL);
	evsignal_add(ev_sigint, NULL);
	evsignal_add(ev_sighup, NULL);
	ev_shutdown = event_new(ev_base, -1, 0, mesh_shutdown_now, NULL);
	ev_exitwait = evtimer_new(ev_base, mesh_exitwait, NULL);
	/* Before the zygote is started: we may move to another cgroup. */
	cgroup_init();
	proc_init();
	toolmap_init();
	toolmap_set_node(conf.node_id);
	meshtools_register();
	mesh_setup_peers();

	if (conf.http && http_start(conf.listen, conf.port,
	    mesh_fd_budget()) == -1)
		fatalx("cannot serve HTTP on %s:%d", conf.listen, conf.port);
	if (conf.stdio && stdio_start() == -1)
		fatalx("cannot serve stdio");
	log_info("node %s (%s) version %s: %u peers", conf.name, conf.node_id,
	    MESH_VERSION, npeers);
	peer_start_all();

	event_base_dispatch(ev_base);
	mesh_cleanup();
	log_info("exited");
	return (exit_status);
}
