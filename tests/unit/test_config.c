/*
 * The command line (config.c): every option with good values and bad
 * ones, the exact message a bad one logs, the fields a good one sets;
 * --bridge specs (name=URL, a URL alone and the name derived from it,
 * the name rules at PEER_NAME_MAX, URL schemes, spaces and control
 * characters, PEER_URL_MAX); sizes with K and M suffixes at the caps
 * UPSTREAM_RESPONSE_MIN and UPSTREAM_RESPONSE_CAP and past 64 bits;
 * --peer-timeout and --peer-max-response for known and unknown peers;
 * duplicate peer names and PEERS_MAX.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "log.h"
#include "supervisor/mesh.h"

#define ARGS_MAX	(PEERS_MAX + 8)

static struct mesh_config	 c;
static char			 lastlog[4096];
static int			 nlogs;

static void
log_capture(int level, const char *line)
{
	strlcpy(lastlog, line, sizeof(lastlog));
	nlogs++;
}

static void
setup(void)
{
	memset(&c, 0, sizeof(c));
	TAILQ_INIT(&c.bridges);
	TAILQ_INIT(&c.peer_options);
	log_sethook(log_capture);
	opterr = 0;
	unsetenv("MCP_MESH_WORKER");
}

static void
teardown(void)
{
	config_clear(&c);
	log_sethook(NULL);
}

TestSuite(config, .init = setup, .fini = teardown);

/* The usage goes to stderr: kept out of the test's output. */
static void
setup_quiet(void)
{
	setup();
	cr_redirect_stderr();
	cr_redirect_stdout();
}

/* config_parse_args() on "mcp-mesh" and the arguments, NULL-terminated. */
static int
parse(const char *first, ...)
{
	static char	*argv[ARGS_MAX + 1];
	const char	*s;
	va_list		 ap;
	int		 argc = 0;

	config_clear(&c);
	lastlog[0] = '\0';
	nlogs = 0;
	optind = 0;
	argv[argc++] = (char *)"mcp-mesh";
	va_start(ap, first);
	for (s = first; s != NULL; s = va_arg(ap, const char *)) {
		cr_assert_lt(argc, ARGS_MAX);
		argv[argc++] = (char *)s;
	}
	va_end(ap);
	argv[argc] = NULL;
	return (config_parse_args(&c, argc, argv));
}

/* The option failed, and said exactly this. */
static void
assert_refused(int r, const char *msg)
{
	cr_assert_eq(r, -1, "accepted; wanted \"%s\"", msg);
	cr_assert_str_eq(lastlog, msg);
}

static struct bridge_spec *
bridge(int n)
{
	struct bridge_spec	*b;

	TAILQ_FOREACH(b, &c.bridges, entry)
		if (n-- == 0)
			return (b);
	return (NULL);
}

/* A string of n copies of ch; static, one at a time. */
static const char *
rep(int ch, size_t n)
{
	static char	s[8192];

	cr_assert_lt(n, sizeof(s));
	memset(s, ch, n);
	s[n] = '\0';
	return (s);
}

/* --- defaults and flags -------------------------------------------------- */

Test(config, no_arguments_give_the_defaults)
{
	cr_assert_eq(parse(NULL), 0);
	cr_assert_eq(nlogs, 0);
	cr_assert_eq(c.stdio, 0);
	cr_assert_eq(c.http, 1);
	cr_assert_eq(c.port, HTTP_PORT_DEFAULT);
	cr_assert_str_eq(c.listen, "127.0.0.1");
	/* The host name, filled in by node_init() after the parse. */
	cr_assert_str_eq(c.name, "");
	cr_assert_eq(c.request_timeout_ms, REQUEST_TIMEOUT_MS);
	cr_assert_eq(c.response_max, UPSTREAM_RESPONSE_MAX);
	cr_assert_eq(c.worker_memory_mb, WORKER_MEMORY_MB);
	cr_assert_eq(c.failed_retry_ms, WORKER_FAILED_RETRY_MS);
	cr_assert_str_eq(c.worker_user, WORKER_USER_DEFAULT);
	cr_assert_str_eq(c.worker_path, LIBEXECDIR "/mcp-mesh-worker");
	cr_assert_eq(c.verbose, 0);
	cr_assert_eq(c.check_only, 0);
	cr_assert_eq(c.sandbox_debug, 0);
	cr_assert_eq(c.worker_exec, 0);
	cr_assert(TAILQ_EMPTY(&c.bridges));
	cr_assert_eq(strlen(c.node_id), 36);
	cr_assert_eq(c.node_id[14], '4', "not a version 4 UUID: %s",
	    c.node_id);
}

Test(config, the_worker_path_comes_from_the_environment)
{
	setenv("MCP_MESH_WORKER", "/opt/w", 1);
	cr_assert_eq(parse(NULL), 0);
	cr_assert_str_eq(c.worker_path, "/opt/w");
	cr_assert_eq(parse("--worker-path", "/x/y", NULL), 0);
	cr_assert_str_eq(c.worker_path, "/x/y");
}

Test(config, flags_are_set)
{
	cr_assert_eq(parse("-n", "-v", "-v", "--sandbox-debug",
	    "--worker-exec", NULL), 0);
	cr_assert_eq(c.check_only, 1);
	cr_assert_eq(c.verbose, 2);
	cr_assert_eq(c.sandbox_debug, 1);
	cr_assert_eq(c.worker_exec, 1);
	cr_assert_eq(parse("-nvvv", NULL), 0);
	cr_assert_eq(c.check_only, 1);
	cr_assert_eq(c.verbose, 3);
}

Test(config, stdio_serves_http_only_with_a_port)
{
	cr_assert_eq(parse("--stdio", NULL), 0);
	cr_assert_eq(c.stdio, 1);
	cr_assert_eq(c.http, 0);
	cr_assert_eq(parse("--stdio", "--port", "8080", NULL), 0);
	cr_assert_eq(c.http, 1);
	cr_assert_eq(c.port, 8080);
	cr_assert_eq(parse("--port", "0", "--stdio", NULL), 0);
	cr_assert_eq(c.http, 1);
	cr_assert_eq(c.port, 0);
}

Test(config, help_prints_the_usage_and_asks_to_exit,
    .init = setup_quiet)
{
	char	buf[32];

	cr_assert_eq(parse("--help", NULL), 1);
	fflush(stderr);
	cr_assert_eq(fread(buf, 1, 16, cr_get_redirected_stderr()), 16);
	cr_assert_eq(memcmp(buf, "usage: mcp-mesh ", 16), 0);
}

Test(config, version_prints_it_and_asks_to_exit, .init = setup_quiet)
{
	cr_assert_eq(parse("--version", NULL), 1);
	fflush(stdout);
	cr_assert_stdout_eq_str("mcp-mesh " MESH_VERSION "\n");
}

Test(config, unknown_options_and_arguments_are_refused,
    .init = setup_quiet)
{
	cr_assert_eq(parse("--bogus", NULL), -1);
	cr_assert_eq(parse("-x", NULL), -1);
	cr_assert_eq(parse("--port", NULL), -1);
	assert_refused(parse("stray", NULL), "unexpected argument \"stray\"");
	assert_refused(parse("--stdio", "a", "b", NULL),
	    "unexpected argument \"a\"");
}

/* --- numbers ------------------------------------------------------------- */

Test(config, port_range)
{
	cr_assert_eq(parse("--port", "65535", NULL), 0);
	cr_assert_eq(c.port, 65535);
	cr_assert_eq(parse("--port", "1", NULL), 0);
	cr_assert_eq(c.port, 1);
	assert_refused(parse("--port", "65536", NULL),
	    "--port 65536: too large (0-65535)");
	assert_refused(parse("--port", "-1", NULL),
	    "--port -1: too small (0-65535)");
	assert_refused(parse("--port", "80x", NULL),
	    "--port 80x: invalid (0-65535)");
	assert_refused(parse("--port", "", NULL),
	    "--port : invalid (0-65535)");
}

Test(config, timeout_range)
{
	cr_assert_eq(parse("--timeout", "100", NULL), 0);
	cr_assert_eq(c.request_timeout_ms, REQUEST_TIMEOUT_MIN_MS);
	cr_assert_eq(parse("--timeout", "3600000", NULL), 0);
	cr_assert_eq(c.request_timeout_ms, REQUEST_TIMEOUT_MAX_MS);
	assert_refused(parse("--timeout", "99", NULL),
	    "--timeout 99: too small (100-3600000 ms)");
	assert_refused(parse("--timeout", "3600001", NULL),
	    "--timeout 3600001: too large (100-3600000 ms)");
	assert_refused(parse("--timeout", "1s", NULL),
	    "--timeout 1s: invalid (100-3600000 ms)");
}

Test(config, worker_memory_range)
{
	cr_assert_eq(parse("--worker-memory", "0", NULL), 0);
	cr_assert_eq(c.worker_memory_mb, 0);
	cr_assert_eq(parse("--worker-memory", "1048576", NULL), 0);
	cr_assert_eq(c.worker_memory_mb, WORKER_MEMORY_MB_CAP);
	assert_refused(parse("--worker-memory", "1048577", NULL),
	    "--worker-memory 1048577: too large (0-1048576 MiB)");
	assert_refused(parse("--worker-memory", "-1", NULL),
	    "--worker-memory -1: too small (0-1048576 MiB)");
}

Test(config, failed_retry_range)
{
	cr_assert_eq(parse("--failed-retry", "1000", NULL), 0);
	cr_assert_eq(c.failed_retry_ms, WORKER_FAILED_RETRY_MIN_MS);
	cr_assert_eq(parse("--failed-retry", "3600000", NULL), 0);
	cr_assert_eq(c.failed_retry_ms, REQUEST_TIMEOUT_MAX_MS);
	assert_refused(parse("--failed-retry", "999", NULL),
	    "--failed-retry 999: too small (1000-3600000 ms)");
	assert_refused(parse("--failed-retry", "3600001", NULL),
	    "--failed-retry 3600001: too large (1000-3600000 ms)");
	assert_refused(parse("--failed-retry", "soon", NULL),
	    "--failed-retry soon: invalid (1000-3600000 ms)");
}

Test(config, max_response_is_a_size)
{
	cr_assert_eq(parse("--max-response", "64K", NULL), 0);
	cr_assert_eq(c.response_max, 64 * 1024);
	assert_refused(parse("--max-response", "9M", NULL),
	    "--max-response 9M: a size from 4096 to 8388608 bytes (K and M "
	    "suffixes allowed)");
}

/* --- strings ------------------------------------------------------------- */

Test(config, name_length)
{
	cr_assert_eq(parse("--name", rep('n', NODE_NAME_MAX), NULL), 0);
	cr_assert_str_eq(c.name, rep('n', NODE_NAME_MAX));
	assert_refused(parse("--name", rep('n', NODE_NAME_MAX + 1), NULL),
	    "--name: 1 to 64 characters");
	assert_refused(parse("--name", "", NULL),
	    "--name: 1 to 64 characters");
}

Test(config, listen_length)
{
	char	msg[128];

	cr_assert_eq(parse("--listen", "::1", NULL), 0);
	cr_assert_str_eq(c.listen, "::1");
	cr_assert_eq(parse("--listen", rep('1', sizeof(c.listen) - 1), NULL),
	    0);
	cr_assert_eq(strlen(c.listen), sizeof(c.listen) - 1);
	snprintf(msg, sizeof(msg), "--listen %s: too long",
	    rep('1', sizeof(c.listen)));
	assert_refused(parse("--listen", rep('1', sizeof(c.listen)), NULL),
	    msg);
}

Test(config, worker_path_length)
{
	cr_assert_eq(parse("--worker-path",
	    rep('p', sizeof(c.worker_path) - 1), NULL), 0);
	cr_assert_eq(strlen(c.worker_path), sizeof(c.worker_path) - 1);
	assert_refused(parse("--worker-path", rep('p', sizeof(c.worker_path)),
	    NULL), "--worker-path: too long");
}

Test(config, worker_user_length)
{
	/* As root the user is looked up: only the lengths are tried here. */
	if (geteuid() != 0) {
		cr_assert_eq(parse("--worker-user",
		    rep('u', sizeof(c.worker_user) - 1), NULL), 0);
		cr_assert_eq(strlen(c.worker_user), sizeof(c.worker_user) - 1);
	}
	assert_refused(parse("--worker-user", rep('u', sizeof(c.worker_user)),
	    NULL), "--worker-user: 1 to 63 characters");
	assert_refused(parse("--worker-user", "", NULL),
	    "--worker-user: 1 to 63 characters");
}

Test(config, worker_user_as_root)
{
	if (geteuid() != 0)
		cr_skip_test("not root");
	cr_assert_eq(parse(NULL), 0);
	cr_assert_gt(c.worker_uid, 0);
	cr_assert_gt(c.worker_gid, 0);
	assert_refused(parse("--worker-user", "no-such-user-here", NULL),
	    "--worker-user no-such-user-here: no such user (workers never "
	    "run as root)");
	assert_refused(parse("--worker-user", "root", NULL),
	    "--worker-user root: uid or gid 0; workers never run as root");
}

/* --- bridges ------------------------------------------------------------- */

Test(config, bridges_keep_their_order_and_the_global_values)
{
	cr_assert_eq(parse("--bridge", "b=http://127.0.0.1:4001/mcp",
	    "--bridge", "a=https://example.com/mcp", "--timeout", "5000",
	    "--max-response", "1M", NULL), 0);
	cr_assert_str_eq(bridge(0)->name, "b");
	cr_assert_str_eq(bridge(0)->url, "http://127.0.0.1:4001/mcp");
	cr_assert_str_eq(bridge(1)->name, "a");
	cr_assert_null(bridge(2));
	/* --timeout after the --bridge still applies to it. */
	cr_assert_eq(bridge(0)->timeout_ms, 5000);
	cr_assert_eq(bridge(1)->timeout_ms, 5000);
	cr_assert_eq(bridge(0)->response_max, 1024 * 1024);
	cr_assert(bridge(0)->bridged);
}

Test(config, a_bad_bridge_is_refused_with_its_reason)
{
	assert_refused(parse("--bridge", "ftp://x", NULL),
	    "--bridge ftp://x: \"ftp://x\" is not an http:// or https:// URL "
	    "(of at most 2048 characters)");
	assert_refused(parse("--bridge", "A=http://x", NULL),
	    "--bridge A=http://x: peer name \"A\" must be 1-32 characters of "
	    "a-z, 0-9 and -");
}

Test(config, duplicate_peer_names_are_refused)
{
	assert_refused(parse("--bridge", "a=http://h1/mcp", "--bridge",
	    "a=http://h2/mcp", NULL),
	    "--bridge a=http://h2/mcp: peer name \"a\" given twice");
	/* A derived name collides the same way. */
	assert_refused(parse("--bridge", "h1=http://x/mcp", "--bridge",
	    "http://h1/other", NULL),
	    "--bridge http://h1/other: peer name \"h1\" given twice");
}

Test(config, at_most_peers_max_bridges)
{
	static char	specs[PEERS_MAX + 1][64];
	char		*argv[2 * (PEERS_MAX + 1) + 2];
	int		 i, n, argc;

	for (i = 0; i <= PEERS_MAX; i++)
		snprintf(specs[i], sizeof(specs[i]), "p%d=http://h/mcp", i);
	for (n = PEERS_MAX; n <= PEERS_MAX + 1; n++) {
		config_clear(&c);
		optind = 0;
		argc = 0;
		argv[argc++] = (char *)"mcp-mesh";
		for (i = 0; i < n; i++) {
			argv[argc++] = (char *)"--bridge";
			argv[argc++] = specs[i];
		}
		argv[argc] = NULL;
		if (n == PEERS_MAX)
			cr_assert_eq(config_parse_args(&c, argc, argv), 0);
		else
			assert_refused(config_parse_args(&c, argc, argv),
			    "more than 512 peers");
	}
}

/* --- per-peer options ---------------------------------------------------- */

Test(config, peer_options_apply_to_their_peer_in_any_order)
{
	cr_assert_eq(parse("--peer-timeout", "b=250", "--bridge",
	    "a=http://h/mcp", "--bridge", "b=http://h/mcp",
	    "--peer-max-response", "b=8K", "--timeout", "7000", NULL), 0);
	cr_assert_eq(bridge(0)->timeout_ms, 7000);
	cr_assert_eq(bridge(0)->response_max, UPSTREAM_RESPONSE_MAX);
	cr_assert_eq(bridge(1)->timeout_ms, 250);
	cr_assert_eq(bridge(1)->response_max, 8192);
}

Test(config, the_last_peer_option_wins)
{
	cr_assert_eq(parse("--bridge", "a=http://h/mcp", "--peer-timeout",
	    "a=200", "--peer-timeout", "a=300", NULL), 0);
	cr_assert_eq(bridge(0)->timeout_ms, 300);
}

Test(config, peer_options_naming_an_unknown_peer_are_refused)
{
	assert_refused(parse("--bridge", "a=http://h/mcp", "--peer-timeout",
	    "b=250", NULL),
	    "--peer-timeout: no peer is named \"b\"");
	assert_refused(parse("--peer-max-response", "zz=8K", NULL),
	    "--peer-max-response: no peer is named \"zz\"");
}

Test(config, peer_options_need_name_equals_value)
{
	char	arg[PEER_NAME_MAX + 8], msg[128];

	assert_refused(parse("--peer-timeout", "250", NULL),
	    "--peer-timeout 250: NAME=VALUE with a peer name");
	assert_refused(parse("--peer-timeout", "=250", NULL),
	    "--peer-timeout =250: NAME=VALUE with a peer name");
	assert_refused(parse("--peer-max-response", "8K", NULL),
	    "--peer-max-response 8K: NAME=VALUE with a peer name");
	/* A name of PEER_NAME_MAX is looked for; one longer is refused. */
	snprintf(arg, sizeof(arg), "%s=250", rep('a', PEER_NAME_MAX));
	snprintf(msg, sizeof(msg), "--peer-timeout: no peer is "
	    "named \"%s\"", rep('a', PEER_NAME_MAX));
	assert_refused(parse("--peer-timeout", arg, NULL), msg);
	snprintf(arg, sizeof(arg), "%s=250", rep('a', PEER_NAME_MAX + 1));
	snprintf(msg, sizeof(msg), "--peer-timeout %s: NAME=VALUE with a "
	    "peer name", arg);
	assert_refused(parse("--peer-timeout", arg, NULL), msg);
}

Test(config, peer_option_values_are_checked)
{
	assert_refused(parse("--bridge", "a=http://h/mcp", "--peer-timeout",
	    "a=99", NULL), "--peer-timeout a=99: too small (100-3600000 ms)");
	assert_refused(parse("--bridge", "a=http://h/mcp", "--peer-timeout",
	    "a=3600001", NULL),
	    "--peer-timeout a=3600001: too large (100-3600000 ms)");
	assert_refused(parse("--bridge", "a=http://h/mcp", "--peer-timeout",
	    "a=", NULL), "--peer-timeout a=: invalid (100-3600000 ms)");
	assert_refused(parse("--bridge", "a=http://h/mcp",
	    "--peer-max-response", "a=4095", NULL),
	    "--peer-max-response 4095: a size from 4096 to 8388608 bytes "
	    "(K and M suffixes allowed)");
}

/* --- bridge_spec_parse() ------------------------------------------------- */

static struct bridge_spec	bs;
static char			err[512];

static int
spec(const char *s)
{
	err[0] = '\0';
	return (bridge_spec_parse(s, &bs, err, sizeof(err)));
}

Test(bridge_spec, name_and_url)
{
	cr_assert_eq(spec("fs=http://127.0.0.1:4000/mcp"), 0);
	cr_assert_str_eq(bs.name, "fs");
	cr_assert_str_eq(bs.url, "http://127.0.0.1:4000/mcp");
	cr_assert_eq(bs.bridged, 1);
	cr_assert_eq(bs.timeout_ms, 0);
	cr_assert_eq(bs.response_max, 0);
	cr_assert_eq(spec("a-0=https://example.com/mcp?x=1"), 0);
	cr_assert_str_eq(bs.name, "a-0");
	cr_assert_str_eq(bs.url, "https://example.com/mcp?x=1");
}

Test(bridge_spec, a_name_may_start_with_http)
{
	cr_assert_eq(spec("httpbin=https://httpbin.example/mcp"), 0, "%s",
	    err);
	cr_assert_str_eq(bs.name, "httpbin");
	cr_assert_str_eq(bs.url, "https://httpbin.example/mcp");
	cr_assert_eq(spec("http-gw=http://h/mcp"), 0, "%s", err);
	cr_assert_str_eq(bs.name, "http-gw");
	cr_assert_eq(spec("https=http://h/mcp"), 0, "%s", err);
	cr_assert_str_eq(bs.name, "https");
}

Test(bridge_spec, a_url_alone_gets_its_host_and_port_as_name)
{
	cr_assert_eq(spec("http://127.0.0.1:4000/mcp"), 0);
	cr_assert_str_eq(bs.name, "127-0-0-1-4000");
	cr_assert_str_eq(bs.url, "http://127.0.0.1:4000/mcp");
	cr_assert_eq(spec("https://GW.Example.COM/mcp"), 0);
	cr_assert_str_eq(bs.name, "gw-example-com");
	cr_assert_eq(spec("http://[::1]:8080/mcp"), 0);
	cr_assert_str_eq(bs.name, "1-8080");
	cr_assert_eq(spec("http://h..x--y.:80"), 0);
	cr_assert_str_eq(bs.name, "h-x-y-80");
	/* An '=' in a bare URL is the URL's. */
	cr_assert_eq(spec("http://h/mcp?a=b"), 0);
	cr_assert_str_eq(bs.name, "h");
	cr_assert_str_eq(bs.url, "http://h/mcp?a=b");
}

Test(bridge_spec, a_derived_name_leaves_out_the_userinfo)
{
	cr_assert_eq(spec("http://alice:s3cret@gw.example/mcp"), 0);
	cr_assert_str_eq(bs.name, "gw-example");
	cr_assert_str_eq(bs.url, "http://alice:s3cret@gw.example/mcp");
	cr_assert_eq(spec("https://a@b@h:4000/mcp"), 0);
	cr_assert_str_eq(bs.name, "h-4000");
	/* An '@' in the path is the path's. */
	cr_assert_eq(spec("http://h:80/x@y"), 0);
	cr_assert_str_eq(bs.name, "h-80");
	cr_assert_eq(spec("http://u@/mcp"), 0);
	cr_assert_str_eq(bs.name, "peer");
}

/* A URL without a host is refused (common/peerspec.c); one whose host
 * gives no name characters is named "peer". */
Test(bridge_spec, a_url_with_no_host_is_refused)
{
	cr_assert_eq(spec("http:///mcp"), -1);
	cr_assert_eq(spec("http://[]/mcp"), 0);
	cr_assert_str_eq(bs.name, "peer");
}

Test(bridge_spec, a_derived_name_is_cut_at_peer_name_max)
{
	char	url[256];

	snprintf(url, sizeof(url), "http://%s.example/mcp",
	    rep('h', PEER_NAME_MAX + 10));
	cr_assert_eq(spec(url), 0);
	cr_assert_str_eq(bs.name, rep('h', PEER_NAME_MAX));
	/* Cut right after a separator: no '-' left at the end. */
	snprintf(url, sizeof(url), "http://%s.example/mcp",
	    rep('h', PEER_NAME_MAX - 1));
	cr_assert_eq(spec(url), 0);
	cr_assert_str_eq(bs.name, rep('h', PEER_NAME_MAX - 1));
}

Test(bridge_spec, names_at_and_past_peer_name_max)
{
	char	s[PEER_NAME_MAX + 32];

	snprintf(s, sizeof(s), "%s=http://h/mcp", rep('a', PEER_NAME_MAX));
	cr_assert_eq(spec(s), 0);
	cr_assert_str_eq(bs.name, rep('a', PEER_NAME_MAX));
	snprintf(s, sizeof(s), "%s=http://h/mcp", rep('a', PEER_NAME_MAX + 1));
	cr_assert_eq(spec(s), -1);
	cr_assert_str_eq(err, "peer name longer than 32 characters");
}

Test(bridge_spec, names_are_lowercase_digits_and_dashes)
{
	cr_assert_eq(spec("0-9-z=http://h/mcp"), 0);
	cr_assert_eq(spec("=http://h/mcp"), -1);
	cr_assert_str_eq(err, "peer name \"\" must be 1-32 characters of a-z, "
	    "0-9 and -");
	cr_assert_eq(spec("Fs=http://h/mcp"), -1);
	cr_assert_str_eq(err, "peer name \"Fs\" must be 1-32 characters of "
	    "a-z, 0-9 and -");
	cr_assert_eq(spec("a_b=http://h/mcp"), -1);
	cr_assert_eq(spec("a.b=http://h/mcp"), -1);
	cr_assert_eq(spec("a b=http://h/mcp"), -1);
	cr_assert_eq(spec("caf\xc3\xa9=http://h/mcp"), -1);
}

Test(bridge_spec, only_http_and_https_urls)
{
	cr_assert_eq(spec("a=https://h/mcp"), 0);
	cr_assert_eq(spec("a=ftp://h/mcp"), -1);
	cr_assert_str_eq(err, "\"ftp://h/mcp\" is not an http:// or https:// "
	    "URL (of at most 2048 characters)");
	/* The scheme in any case, as URLs have it (and the worker took). */
	cr_assert_eq(spec("a=HTTP://h/mcp"), 0);
	cr_assert_eq(spec("a=http:/h/mcp"), -1);
	cr_assert_eq(spec("a=h/mcp"), -1);
	cr_assert_eq(spec("a="), -1);
	cr_assert_str_eq(err, "\"\" is not an http:// or https:// URL (of at "
	    "most 2048 characters)");
	cr_assert_eq(spec("h:4000/mcp"), -1);
	cr_assert_eq(spec(""), -1);
}

Test(bridge_spec, no_spaces_or_control_characters_in_urls)
{
	cr_assert_eq(spec("a=http://h/m cp"), -1);
	cr_assert_eq(spec("a=http://h/m\tcp"), -1);
	cr_assert_eq(spec("a=http://h/m\r\nHost: x"), -1);
	cr_assert_eq(spec("a=http://h/m\x01"), -1);
	cr_assert_eq(spec("a=http://h/m\x1f"), -1);
	cr_assert_eq(spec("a=http://h/m\x7f"), -1);
	cr_assert_eq(spec("http://h/m cp"), -1);
	/* Bytes over 0x7f are left to libcurl. */
	cr_assert_eq(spec("a=http://h/caf\xc3\xa9"), 0);
}

Test(bridge_spec, urls_at_and_past_peer_url_max)
{
	static char	s[PEER_URL_MAX + 64];
	size_t		n = strlen("a=http://h/");

	snprintf(s, sizeof(s), "a=http://h/%s",
	    rep('x', PEER_URL_MAX - (n - 2)));
	cr_assert_eq(strlen(s + 2), PEER_URL_MAX);
	cr_assert_eq(spec(s), 0);
	cr_assert_str_eq(bs.url, s + 2);
	snprintf(s, sizeof(s), "a=http://h/%s",
	    rep('x', PEER_URL_MAX - (n - 2) + 1));
	cr_assert_eq(spec(s), -1);
	/* The same edge for a URL alone. */
	cr_assert_eq(spec(s + 2), -1);
	s[strlen(s) - 1] = '\0';
	cr_assert_eq(spec(s + 2), 0);
}

/* --- config_size() ------------------------------------------------------- */

#define SIZE_MSG(arg)	"--max-response " arg ": a size from 4096 to " \
			"8388608 bytes (K and M suffixes allowed)"

static uint64_t	sz;

static int
size(const char *arg)
{
	sz = 12345;
	lastlog[0] = '\0';
	return (config_size("--max-response", arg, &sz));
}

static void
assert_size(const char *arg, uint64_t want)
{
	cr_assert_eq(size(arg), 0, "%s refused", arg);
	cr_assert_eq(sz, want, "%s: %llu, want %llu", arg,
	    (unsigned long long)sz, (unsigned long long)want);
}

static void
assert_bad_size(const char *arg)
{
	char	msg[256];

	snprintf(msg, sizeof(msg), SIZE_MSG("%s"), arg);
	cr_assert_eq(size(arg), -1, "%s accepted as %llu", arg,
	    (unsigned long long)sz);
	cr_assert_eq(sz, 12345, "%s: written on failure", arg);
	cr_assert_str_eq(lastlog, msg);
}

TestSuite(size, .init = setup, .fini = teardown);

Test(size, plain_bytes_at_the_caps)
{
	assert_size("4096", UPSTREAM_RESPONSE_MIN);
	assert_size("8388608", UPSTREAM_RESPONSE_CAP);
	assert_size("004096", 4096);
	assert_bad_size("4095");
	assert_bad_size("8388609");
	assert_bad_size("0");
}

Test(size, kilobytes_at_the_caps)
{
	assert_size("4K", 4096);
	assert_size("4k", 4096);
	assert_size("8192K", UPSTREAM_RESPONSE_CAP);
	assert_bad_size("3K");
	assert_bad_size("8193K");
}

Test(size, megabytes_at_the_caps)
{
	assert_size("1M", 1024 * 1024);
	assert_size("8m", UPSTREAM_RESPONSE_CAP);
	assert_bad_size("9M");
	assert_bad_size("0M");
}

Test(size, huge_numbers_do_not_wrap_around)
{
	assert_bad_size("99999999999999999999M");
	assert_bad_size("99999999999999999999");
	assert_bad_size("18446744073709551615");
	assert_bad_size("18446744073709551615K");
	/* 2^44 MiB is 2^64 bytes: 0 after a multiplication that wraps. */
	assert_bad_size("17592186044416M");
	/* 2^54 KiB + 4 KiB wraps to 4096, an accepted size. */
	assert_bad_size("18014398509481988K");
}

Test(size, anything_but_digits_and_one_suffix_is_refused)
{
	assert_bad_size("");
	assert_bad_size("K");
	assert_bad_size("-4096");
	assert_bad_size("+4096");
	assert_bad_size(" 4096");
	assert_bad_size("4096 ");
	assert_bad_size("4KB");
	assert_bad_size("4KK");
	assert_bad_size("4G");
	assert_bad_size("0x1000");
	assert_bad_size("4096.0");
	assert_bad_size("1e4");
}
