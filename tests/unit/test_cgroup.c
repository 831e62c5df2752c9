/*
 * The gateway's address as the supervisor reads it from a URL for the
 * connect hook (cgroup.c): an address only when the URL plainly gives
 * one, as libcurl in the worker will connect to it; anything else is a
 * name (no hook, rather than one aimed at another host) or refused.
 */
#include <sys/socket.h>

#include <arpa/inet.h>

#include <string.h>

#include <criterion/criterion.h>

#include "supervisor/mesh.h"

/* cgroup.c uses these of mcp-mesh.c. */
struct mesh_config	 conf;
struct event_base	*ev_base;

static void
expect_addr(const char *url, int family, const char *addr, unsigned port)
{
	struct cgroup_gateway	gw;
	unsigned char		want[16];

	cr_assert_eq(cgroup_gateway_parse(url, &gw), 0, "%s refused", url);
	cr_assert_eq(gw.family, family, "%s: family %d", url, gw.family);
	cr_assert_eq(gw.port, port, "%s: port %u", url, (unsigned)gw.port);
	if (family == 0)
		return;
	cr_assert_eq(inet_pton(family, addr, want), 1);
	cr_assert(memcmp(gw.addr, want, family == AF_INET ? 4 : 16) == 0,
	    "%s: another address", url);
}

Test(cgroup, literal_addresses)
{
	expect_addr("http://127.0.0.1:8080/mcp", AF_INET, "127.0.0.1", 8080);
	expect_addr("https://10.0.0.5/mcp", AF_INET, "10.0.0.5", 443);
	expect_addr("HTTP://192.0.2.200", AF_INET, "192.0.2.200", 80);
	expect_addr("http://192.0.2.1?x=1", AF_INET, "192.0.2.1", 80);
	expect_addr("http://192.0.2.1:/mcp", AF_INET, "192.0.2.1", 80);
	expect_addr("http://user:p%40ss@192.0.2.1:81/", AF_INET, "192.0.2.1",
	    81);
	expect_addr("http://a@b@192.0.2.1:82#f", AF_INET, "192.0.2.1", 82);
	expect_addr("http://[::1]:9000/x", AF_INET6, "::1", 9000);
	expect_addr("https://[2001:db8::1]/", AF_INET6, "2001:db8::1", 443);
}

/* Names, and what only looks like an address to libcurl: no hook. */
Test(cgroup, names_get_no_address)
{
	expect_addr("http://localhost:8080/mcp", 0, NULL, 8080);
	expect_addr("https://gateway.example/mcp", 0, NULL, 443);
	expect_addr("http://127.1/", 0, NULL, 80);
	expect_addr("http://0x7f.0.0.1/", 0, NULL, 80);
	expect_addr("http://010.0.0.1/", 0, NULL, 80);
	expect_addr("http://[fe80::1%25eth0]:80/", 0, NULL, 80);
}

Test(cgroup, bad_urls_are_refused)
{
	struct cgroup_gateway	gw;
	static const char *const bad[] = {
		"ftp://192.0.2.1/", "http://", "http:///mcp", "http://:80/",
		"http://192.0.2.1:0/", "http://192.0.2.1:65536/",
		"http://192.0.2.1:8x/", "http://[::1/", "http://[::1]x/",
		"http://user@/",
	};
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(cgroup_gateway_parse(bad[i], &gw), -1,
		    "%s accepted", bad[i]);
}
