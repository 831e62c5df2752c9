/*
 * Command line.  Every option of the contract (the seed README) that this
 * build implements is here; bad values are refused with a message naming
 * the option, before anything starts.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mesh.h"
#include "peerspec.h"
#include "xmalloc.h"

enum {
	OPT_STDIO = 256,
	OPT_PORT,
	OPT_LISTEN,
	OPT_NAME,
	OPT_BRIDGE,
	OPT_PEER,
	OPT_ALLOW_PEER,
	OPT_MESH_TOOLS,
	OPT_WORKER_PATH,
	OPT_TIMEOUT,
	OPT_MAX_RESPONSE,
	OPT_PEER_TIMEOUT,
	OPT_PEER_MAX_RESPONSE,
	OPT_PREFIX,
	OPT_WORKER_MEMORY,
	OPT_WORKER_USER,
	OPT_SANDBOX_DEBUG,
	OPT_WORKER_EXEC,
	OPT_FAILED_RETRY,
	OPT_PAGE_SIZE,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option longopts[] = {
	{ "stdio",	 no_argument,		NULL, OPT_STDIO },
	{ "port",	 required_argument,	NULL, OPT_PORT },
	{ "listen",	 required_argument,	NULL, OPT_LISTEN },
	{ "name",	 required_argument,	NULL, OPT_NAME },
	{ "bridge",	 required_argument,	NULL, OPT_BRIDGE },
	{ "peer",	 required_argument,	NULL, OPT_PEER },
	{ "allow-peer",	 required_argument,	NULL, OPT_ALLOW_PEER },
	{ "mesh-tools",	 required_argument,	NULL, OPT_MESH_TOOLS },
	{ "worker-path", required_argument,	NULL, OPT_WORKER_PATH },
	{ "timeout",	 required_argument,	NULL, OPT_TIMEOUT },
	{ "max-response", required_argument,	NULL, OPT_MAX_RESPONSE },
	{ "peer-timeout", required_argument,	NULL, OPT_PEER_TIMEOUT },
	{ "peer-max-response", required_argument, NULL, OPT_PEER_MAX_RESPONSE },
	{ "prefix",	 required_argument,	NULL, OPT_PREFIX },
	{ "worker-memory", required_argument,	NULL, OPT_WORKER_MEMORY },
	{ "worker-user", required_argument,	NULL, OPT_WORKER_USER },
	{ "sandbox-debug", no_argument,		NULL, OPT_SANDBOX_DEBUG },
	{ "worker-exec", no_argument,		NULL, OPT_WORKER_EXEC },
	{ "failed-retry", required_argument,	NULL, OPT_FAILED_RETRY },
	{ "page-size",	 required_argument,	NULL, OPT_PAGE_SIZE },
	{ "help",	 no_argument,		NULL, OPT_HELP },
	{ "version",	 no_argument,		NULL, OPT_VERSION },
	{ NULL,		 0,			NULL, 0 }
};

void
config_usage(void)
{
	fprintf(stderr,
	    "usage: mcp-mesh [-nv] [--stdio] [--port port] [--listen address]\n"
	    "                [--name name] [--bridge spec]... [--peer spec]...\n"
	    "                [--allow-peer pattern]... [--mesh-tools all|read|none]\n"
	    "                [--timeout ms]\n"
	    "                [--max-response size] [--peer-timeout name=ms]...\n"
	    "                [--peer-max-response name=size]... [--prefix name=p]...\n"
	    "                [--worker-memory MiB] [--worker-user user]\n"
	    "                [--sandbox-debug] [--worker-exec]\n"
	    "                [--failed-retry ms] [--worker-path path]\n"
	    "                [--page-size n]\n"
	    "  --stdio           serve MCP on stdin/stdout (HTTP only with --port)\n"
	    "  --port N          Streamable HTTP port (default %d; 0: any free port)\n"
	    "  --listen ADDR     HTTP address (default 127.0.0.1)\n"
	    "  --name NAME       this node's name (default: the host name)\n"
	    "  --bridge SPEC     bridge a peer, its tools re-exported with its\n"
	    "                    name as prefix: NAME=URL, URL, or the UUID or\n"
	    "                    name of a peers-file entry (repeatable)\n"
	    "  --peer SPEC       connect to a peer without bridging it (reached\n"
	    "                    through mesh_call_peer), SPEC as above\n"
	    "  --allow-peer PAT  mesh_add_peer may connect to URLs matching the\n"
	    "                    shell pattern PAT, not only peers-file entries\n"
	    "  --mesh-tools M    mesh tools offered: all, read (listing and\n"
	    "                    lookup only) or none (default all)\n"
	    "  --timeout MS      deadline of one bridged call (default %d)\n"
	    "  --max-response N  bytes of one answer from a peer, K/M suffix\n"
	    "                    (default %d)\n"
	    "  --peer-timeout NAME=MS, --peer-max-response NAME=N\n"
	    "                    the same for one peer\n"
	    "  --prefix NAME=P   P_ before a bridged peer's names instead of\n"
	    "                    NAME_; empty: its names as they are\n"
	    "  --worker-memory M address space of a worker, MiB (default %d;\n"
	    "                    0: no limit)\n"
	    "  --worker-user U   user workers run as when started as root\n"
	    "                    (default %s)\n"
	    "  --sandbox-debug   report system calls outside the workers'\n"
	    "                    allow-list instead of killing the worker\n"
	    "  --worker-exec     exec each worker (own address-space layout)\n"
	    "                    instead of forking it from the zygote\n"
	    "  --failed-retry MS a failed peer is tried again after MS\n"
	    "                    (default %d)\n"
	    "  --worker-path P   worker program (default %s/mcp-mesh-worker)\n"
	    "  --page-size N     tools and prompts a page of tools/list and\n"
	    "                    prompts/list (default %d; 0: all in one)\n"
	    "  -n                check the configuration and exit\n"
	    "  -v                verbose (debug) logging\n",
	    HTTP_PORT_DEFAULT, REQUEST_TIMEOUT_MS, UPSTREAM_RESPONSE_MAX,
	    WORKER_MEMORY_MB, WORKER_USER_DEFAULT, WORKER_FAILED_RETRY_MS,
	    LIBEXECDIR, LIST_PAGE_DEFAULT);
}

/* SPEC is name=URL or URL.  Returns 0, or -1 with a reason in err. */
int
bridge_spec_parse(const char *spec, struct bridge_spec *b, char *err,
    size_t errlen)
{
	const char	*eq = strchr(spec, '=');
	const char	*url = spec;

	memset(b, 0, sizeof(*b));
	/* A URL alone may hold '=' (a query); a name may start with "http". */
	if (eq != NULL && strncmp(spec, "http://", 7) != 0 &&
	    strncmp(spec, "https://", 8) != 0) {
		if ((size_t)(eq - spec) > PEER_NAME_MAX) {
			snprintf(err, errlen, "peer name longer than %d characters",
			    PEER_NAME_MAX);
			return (-1);
		}
		memcpy(b->name, spec, eq - spec);
		url = eq + 1;
		if (!peer_name_valid(b->name)) {
			snprintf(err, errlen, "peer name \"%s\" must be 1-%d "
			    "characters of a-z, 0-9 and -", b->name, PEER_NAME_MAX);
			return (-1);
		}
	}
	if (!peer_url_valid(url)) {
		snprintf(err, errlen, "\"%s\" is not an http:// or https:// URL "
		    "(of at most %d characters)", url, PEER_URL_MAX);
		return (-1);
	}
	strlcpy(b->url, url, sizeof(b->url));
	b->bridged = 1;
	if (b->name[0] == '\0')
		peer_name_from_url(url, b->name, sizeof(b->name));
	return (0);
}

/* --bridge and --peer: resolved once the directory is read. */
static int
config_add_peer_arg(struct mesh_config *c, const char *opt, const char *spec,
    int bridged)
{
	struct peer_arg	*a;
	size_t		 len = strlen(spec);

	if (len == 0 || len > PEER_URL_MAX + PEER_NAME_MAX + 1) {
		log_warnx("%s: a URL, a UUID or a name (at most %d bytes)",
		    opt, PEER_URL_MAX + PEER_NAME_MAX + 1);
		return (-1);
	}
	a = xcalloc(1, sizeof(*a) + len + 1);
	a->opt = opt;
	a->bridged = bridged;
	memcpy(a->spec, spec, len + 1);
	TAILQ_INSERT_TAIL(&c->peer_args, a, entry);
	return (0);
}

/* One --bridge or --peer SPEC: name=URL, URL, UUID or name. */
static int
config_resolve_peer(struct mesh_config *c, struct peer_arg *a)
{
	struct bridge_spec	*b, *o;
	char			 err[PATH_MAX + 256];

	b = xcalloc(1, sizeof(*b));
	if (directory_resolve(&directory, a->spec, b, err, sizeof(err)) == -1) {
		log_warnx("%s %s: %s", a->opt, a->spec, err);
		free(b);
		return (-1);
	}
	b->bridged = a->bridged;
	strlcpy(b->spec, a->spec, sizeof(b->spec));
	TAILQ_FOREACH(o, &c->bridges, entry) {
		if (strcmp(o->name, b->name) == 0) {
			log_warnx("%s %s: peer name \"%s\" given twice",
			    a->opt, a->spec, b->name);
			free(b);
			return (-1);
		}
	}
	TAILQ_INSERT_TAIL(&c->bridges, b, entry);
	return (0);
}

/* The data directory and the peers file, then every peer's SPEC. */
static int
config_resolve_peers(struct mesh_config *c)
{
	struct peer_arg	*a;
	const char	*p = getenv("MCP_MESH_PEERS");
	char		 err[PATH_MAX + 256];
	int		 n = 0;

	if (node_data_dir(c->data_dir, sizeof(c->data_dir)) == -1) {
		log_warnx("no data directory: set MCP_MESH_DATA_DIR or HOME");
		return (-1);
	}
	if (p != NULL && *p != '\0')
		strlcpy(c->peers_path, p, sizeof(c->peers_path));
	else if (snprintf(c->peers_path, sizeof(c->peers_path), "%s/peers",
	    c->data_dir) >= (int)sizeof(c->peers_path)) {
		log_warnx("%s/peers: path too long", c->data_dir);
		return (-1);
	}
	if (directory_load(&directory, c->peers_path, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		return (-1);
	}
	TAILQ_FOREACH(a, &c->peer_args, entry) {
		if (++n > PEERS_MAX) {
			log_warnx("more than %d peers", PEERS_MAX);
			return (-1);
		}
		if (config_resolve_peer(c, a) == -1)
			return (-1);
	}
	return (0);
}

static int
config_allow_peer(struct mesh_config *c, const char *pattern)
{
	struct allow_pattern	*ap;
	size_t			 len = strlen(pattern);

	if (len == 0 || len > PEER_URL_MAX) {
		log_warnx("--allow-peer: a URL pattern of 1 to %d bytes",
		    PEER_URL_MAX);
		return (-1);
	}
	ap = xcalloc(1, sizeof(*ap) + len + 1);
	memcpy(ap->pattern, pattern, len + 1);
	TAILQ_INSERT_TAIL(&c->allow_peers, ap, entry);
	return (0);
}

static int
config_mesh_tools(struct mesh_config *c, const char *arg)
{
	if (strcmp(arg, "all") == 0)
		c->mesh_tools = MESH_TOOLS_ALL;
	else if (strcmp(arg, "read") == 0)
		c->mesh_tools = MESH_TOOLS_READ;
	else if (strcmp(arg, "none") == 0)
		c->mesh_tools = MESH_TOOLS_NONE;
	else {
		log_warnx("--mesh-tools %s: all, read or none", arg);
		return (-1);
	}
	return (0);
}

static void
config_defaults(struct mesh_config *c)
{
	const char	*w;

	memset(c, 0, sizeof(*c));
	TAILQ_INIT(&c->bridges);
	TAILQ_INIT(&c->peer_args);
	TAILQ_INIT(&c->peer_options);
	TAILQ_INIT(&c->allow_peers);
	c->mesh_tools = MESH_TOOLS_ALL;
	c->port = -1;
	strlcpy(c->listen, "127.0.0.1", sizeof(c->listen));
	c->request_timeout_ms = REQUEST_TIMEOUT_MS;
	c->response_max = UPSTREAM_RESPONSE_MAX;
	c->worker_memory_mb = WORKER_MEMORY_MB;
	c->failed_retry_ms = WORKER_FAILED_RETRY_MS;
	c->page_size = LIST_PAGE_DEFAULT;
	strlcpy(c->worker_user, WORKER_USER_DEFAULT, sizeof(c->worker_user));
	c->worker_uid = c->worker_gid = -1;
	if ((w = getenv("MCP_MESH_WORKER")) != NULL && *w != '\0')
		strlcpy(c->worker_path, w, sizeof(c->worker_path));
	else
		snprintf(c->worker_path, sizeof(c->worker_path),
		    "%s/mcp-mesh-worker", LIBEXECDIR);
	uuid_make(c->node_id);
}

/*
 * A byte count with an optional K or M (binary) suffix, within the caps
 * a worker accepts.
 */
int
config_size(const char *opt, const char *arg, uint64_t *out)
{
	char			*end;
	unsigned long long	 n, mult = 1;

	if (!isdigit((unsigned char)*arg))
		goto bad;
	errno = 0;
	n = strtoull(arg, &end, 10);
	if (errno != 0)
		goto bad;
	if (*end == 'K' || *end == 'k')
		mult = 1024;
	else if (*end == 'M' || *end == 'm')
		mult = 1024 * 1024;
	if (mult != 1)
		end++;
	/* Compared before multiplying: no wrap-around to a small value. */
	if (*end != '\0' || n > UPSTREAM_RESPONSE_CAP / mult ||
	    n * mult < UPSTREAM_RESPONSE_MIN)
		goto bad;
	*out = n * mult;
	return (0);
bad:
	log_warnx("%s %s: a size from %d to %d bytes (K and M suffixes "
	    "allowed)", opt, arg, UPSTREAM_RESPONSE_MIN, UPSTREAM_RESPONSE_CAP);
	return (-1);
}

/*
 * --peer-timeout NAME=MS and --peer-max-response NAME=SIZE: kept until
 * every --bridge is known (options may come in any order).
 */
static int
config_peer_option(struct mesh_config *c, int ch, const char *arg)
{
	struct peer_option	*po;
	const char		*eq = strchr(arg, '=');
	const char		*opt = ch == OPT_PEER_TIMEOUT ? "--peer-timeout" :
				    ch == OPT_PREFIX ? "--prefix" :
				    "--peer-max-response";
	const char		*errstr;

	if (eq == NULL || eq == arg || (size_t)(eq - arg) > PEER_NAME_MAX) {
		log_warnx("%s %s: NAME=VALUE with a peer name", opt, arg);
		return (-1);
	}
	po = xcalloc(1, sizeof(*po));
	po->opt = opt;
	memcpy(po->peer, arg, eq - arg);
	if (ch == OPT_PEER_TIMEOUT) {
		po->timeout_ms = strtonum(eq + 1, REQUEST_TIMEOUT_MIN_MS,
		    REQUEST_TIMEOUT_MAX_MS, &errstr);
		if (errstr != NULL) {
			log_warnx("%s %s: %s (%d-%d ms)", opt, arg, errstr,
			    REQUEST_TIMEOUT_MIN_MS, REQUEST_TIMEOUT_MAX_MS);
			free(po);
			return (-1);
		}
	} else if (ch == OPT_PREFIX) {
		/* Empty: the peer's names as they are (a transparent peer). */
		if (eq[1] != '\0' && !peer_name_valid(eq + 1)) {
			log_warnx("%s %s: a prefix is empty or 1-%d of a-z, "
			    "0-9 and -", opt, arg, PEER_NAME_MAX);
			free(po);
			return (-1);
		}
		po->has_prefix = 1;
		strlcpy(po->prefix, eq + 1, sizeof(po->prefix));
	} else if (config_size(opt, eq + 1, &po->response_max) == -1) {
		free(po);
		return (-1);
	}
	TAILQ_INSERT_TAIL(&c->peer_options, po, entry);
	return (0);
}

/* Per-peer values over the global ones; each must name a peer. */
static int
config_apply_peer_options(struct mesh_config *c)
{
	struct bridge_spec	*b;
	struct peer_option	*po;

	TAILQ_FOREACH(b, &c->bridges, entry) {
		b->timeout_ms = c->request_timeout_ms;
		b->response_max = c->response_max;
	}
	TAILQ_FOREACH(po, &c->peer_options, entry) {
		TAILQ_FOREACH(b, &c->bridges, entry)
			if (strcmp(b->name, po->peer) == 0)
				break;
		if (b == NULL) {
			log_warnx("%s: no peer is named \"%s\"",
			    po->opt, po->peer);
			return (-1);
		}
		if (po->timeout_ms != 0)
			b->timeout_ms = po->timeout_ms;
		if (po->response_max != 0)
			b->response_max = po->response_max;
		if (po->has_prefix) {
			b->has_prefix = 1;
			strlcpy(b->prefix, po->prefix, sizeof(b->prefix));
		}
	}
	return (0);
}

/*
 * Started as root, workers become --worker-user: looked up once here,
 * as the lookup may read files a worker cannot.  Root itself is refused.
 */
static int
config_worker_user(struct mesh_config *c)
{
	struct passwd	*pw;

	if (geteuid() != 0)
		return (0);
	if ((pw = getpwnam(c->worker_user)) == NULL) {
		log_warnx("--worker-user %s: no such user (workers never run "
		    "as root)", c->worker_user);
		return (-1);
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		log_warnx("--worker-user %s: uid or gid 0; workers never run "
		    "as root", c->worker_user);
		return (-1);
	}
	c->worker_uid = pw->pw_uid;
	c->worker_gid = pw->pw_gid;
	return (0);
}

static int
config_option(struct mesh_config *c, int ch, const char *arg)
{
	const char	*errstr;

	switch (ch) {
	case OPT_STDIO:
		c->stdio = 1;
		break;
	case OPT_PORT:
		c->port = strtonum(arg, 0, 65535, &errstr);
		if (errstr != NULL) {
			log_warnx("--port %s: %s (0-65535)", arg, errstr);
			return (-1);
		}
		break;
	case OPT_LISTEN:
		if (strlcpy(c->listen, arg, sizeof(c->listen)) >=
		    sizeof(c->listen)) {
			log_warnx("--listen %s: too long", arg);
			return (-1);
		}
		break;
	case OPT_NAME:
		if (*arg == '\0' || strlen(arg) > NODE_NAME_MAX) {
			log_warnx("--name: 1 to %d characters", NODE_NAME_MAX);
			return (-1);
		}
		strlcpy(c->name, arg, sizeof(c->name));
		break;
	case OPT_BRIDGE:
		return (config_add_peer_arg(c, "--bridge", arg, 1));
	case OPT_PEER:
		return (config_add_peer_arg(c, "--peer", arg, 0));
	case OPT_ALLOW_PEER:
		return (config_allow_peer(c, arg));
	case OPT_MESH_TOOLS:
		return (config_mesh_tools(c, arg));
	case OPT_WORKER_PATH:
		if (strlcpy(c->worker_path, arg, sizeof(c->worker_path)) >=
		    sizeof(c->worker_path)) {
			log_warnx("--worker-path: too long");
			return (-1);
		}
		break;
	case OPT_TIMEOUT:
		c->request_timeout_ms = strtonum(arg, REQUEST_TIMEOUT_MIN_MS,
		    REQUEST_TIMEOUT_MAX_MS, &errstr);
		if (errstr != NULL) {
			log_warnx("--timeout %s: %s (%d-%d ms)", arg, errstr,
			    REQUEST_TIMEOUT_MIN_MS, REQUEST_TIMEOUT_MAX_MS);
			return (-1);
		}
		break;
	case OPT_MAX_RESPONSE:
		return (config_size("--max-response", arg, &c->response_max));
	case OPT_PEER_TIMEOUT:
	case OPT_PEER_MAX_RESPONSE:
	case OPT_PREFIX:
		return (config_peer_option(c, ch, arg));
	case OPT_WORKER_MEMORY:
		c->worker_memory_mb = strtonum(arg, 0, WORKER_MEMORY_MB_CAP,
		    &errstr);
		if (errstr != NULL) {
			log_warnx("--worker-memory %s: %s (0-%d MiB)", arg,
			    errstr, WORKER_MEMORY_MB_CAP);
			return (-1);
		}
		break;
	case OPT_WORKER_USER:
		if (*arg == '\0' || strlcpy(c->worker_user, arg,
		    sizeof(c->worker_user)) >= sizeof(c->worker_user)) {
			log_warnx("--worker-user: 1 to %zu characters",
			    sizeof(c->worker_user) - 1);
			return (-1);
		}
		break;
	case OPT_SANDBOX_DEBUG:
		c->sandbox_debug = 1;
		break;
	case OPT_WORKER_EXEC:
		c->worker_exec = 1;
		break;
	case OPT_FAILED_RETRY:
		c->failed_retry_ms = strtonum(arg, WORKER_FAILED_RETRY_MIN_MS,
		    REQUEST_TIMEOUT_MAX_MS, &errstr);
		if (errstr != NULL) {
			log_warnx("--failed-retry %s: %s (%d-%d ms)", arg,
			    errstr, WORKER_FAILED_RETRY_MIN_MS,
			    REQUEST_TIMEOUT_MAX_MS);
			return (-1);
		}
		break;
	case OPT_PAGE_SIZE:
		c->page_size = strtonum(arg, 0, LIST_PAGE_MAX, &errstr);
		if (errstr != NULL) {
			log_warnx("--page-size %s: %s (0-%d)", arg, errstr,
			    LIST_PAGE_MAX);
			return (-1);
		}
		break;
	case 'n':
		c->check_only = 1;
		break;
	case 'v':
		c->verbose++;
		break;
	default:
		return (-1);
	}
	return (0);
}

/* Returns 0, 1 when the program should exit 0 (help, version), -1 on error. */
int
config_parse_args(struct mesh_config *c, int argc, char **argv)
{
	int	ch;

	config_defaults(c);
	while ((ch = getopt_long(argc, argv, "nv", longopts, NULL)) != -1) {
		if (ch == OPT_HELP) {
			config_usage();
			return (1);
		}
		if (ch == OPT_VERSION) {
			printf("mcp-mesh %s\n", MESH_VERSION);
			return (1);
		}
		if (config_option(c, ch, optarg) == -1) {
			if (ch == '?')
				config_usage();
			return (-1);
		}
	}
	if (optind < argc) {
		log_warnx("unexpected argument \"%s\"", argv[optind]);
		return (-1);
	}
	/* stdio mode serves HTTP only when asked for a port. */
	c->http = !c->stdio || c->port != -1;
	if (c->port == -1)
		c->port = HTTP_PORT_DEFAULT;
	if (config_resolve_peers(c) == -1 ||
	    config_apply_peer_options(c) == -1 || config_worker_user(c) == -1)
		return (-1);
	return (0);
}

void
config_clear(struct mesh_config *c)
{
	struct bridge_spec	*b;
	struct peer_option	*po;
	struct peer_arg		*a;
	struct allow_pattern	*ap;

	while ((b = TAILQ_FIRST(&c->bridges)) != NULL) {
		TAILQ_REMOVE(&c->bridges, b, entry);
		free(b);
	}
	while ((po = TAILQ_FIRST(&c->peer_options)) != NULL) {
		TAILQ_REMOVE(&c->peer_options, po, entry);
		free(po);
	}
	while ((a = TAILQ_FIRST(&c->peer_args)) != NULL) {
		TAILQ_REMOVE(&c->peer_args, a, entry);
		free(a);
	}
	while ((ap = TAILQ_FIRST(&c->allow_peers)) != NULL) {
		TAILQ_REMOVE(&c->allow_peers, ap, entry);
		free(ap);
	}
}
