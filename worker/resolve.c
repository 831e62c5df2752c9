/*
 * The gateway's address, settled before the sandbox goes up: its port
 * (Landlock allows connects to it alone) and, when the URL names a host
 * rather than an address, that host resolved now.  After the sandbox
 * there is no resolver (no thread, no /etc/resolv.conf, no port 53);
 * libcurl gets the answer as a CURLOPT_RESOLVE entry.  A worker that can
 * no longer connect exits and its successor resolves again (call.c), so
 * a gateway that moved is found.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <curl/curl.h>

#include "log.h"
#include "upstream.h"

static void	 resolve_line(const char *, const char *, struct addrinfo *,
		    char *, size_t);
static void	 resolve_host(CURLU *);

/* "host:port:addr,addr" for CURLOPT_RESOLVE, from getaddrinfo(). */
static void
resolve_line(const char *host, const char *port, struct addrinfo *res,
    char *line, size_t len)
{
	struct addrinfo	*ai;
	char		 a[INET6_ADDRSTRLEN];
	const void	*p;
	int		 n = 0;

	snprintf(line, len, "%s:%s:", host, port);
	for (ai = res; ai != NULL && n < UPSTREAM_ADDRS_MAX; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			p = &((struct sockaddr_in *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6)
			p = &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(ai->ai_family, p, a, sizeof(a)) == NULL)
			continue;
		if (n++ > 0)
			strlcat(line, ",", len);
		if (ai->ai_family == AF_INET6)
			strlcat(line, "[", len);
		strlcat(line, a, len);
		if (ai->ai_family == AF_INET6)
			strlcat(line, "]", len);
	}
}

/* The port, and the host's addresses pinned when it is a name. */
static void
resolve_host(CURLU *u)
{
	struct addrinfo	 hints, *res;
	struct in6_addr	 a6;
	char		*host = NULL, *port = NULL;
	char		 line[PEER_URL_MAX + UPSTREAM_ADDRS_MAX *
			    (INET6_ADDRSTRLEN + 3)];
	const char	*errstr;
	int		 e;

	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK)
		sup_fail(EX_CONFIG, "the URL has no host or port");
	xs.port = strtonum(port, 1, 65535, &errstr);
	if (errstr != NULL) {
		curl_free(host);
		curl_free(port);
		sup_fail(EX_CONFIG, "bad port in the URL");
	}
	if (host[0] != '[' && inet_pton(AF_INET6, host, &a6) != 1 &&
	    inet_pton(AF_INET, host, &a6) != 1) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
			snprintf(line, sizeof(line), "cannot resolve %s: %s",
			    host, gai_strerror(e));
			curl_free(host);
			curl_free(port);
			sup_fail(EX_TEMPFAIL, "%s", line);
		}
		resolve_line(host, port, res, line, sizeof(line));
		freeaddrinfo(res);
		xs.resolve = curl_slist_append(NULL, line);
		log_debug("resolved: %s", line);
	}
	curl_free(host);
	curl_free(port);
}

/*
 * The configured URL: its host pinned, its port noted, and the URL as
 * reasons and logs show it (xs.url), never with a user or password.
 */
void
resolve_url(const char *url)
{
	CURLU	*u;
	char	*s = NULL;

	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		sup_fail(EX_CONFIG, "bad URL");
	}
	resolve_host(u);
	if (curl_url_set(u, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		sup_fail(EX_CONFIG, "bad URL");
	}
	strlcpy(xs.url, s, sizeof(xs.url));
	curl_free(s);
	curl_url_cleanup(u);
}
