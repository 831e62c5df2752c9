/* Names, URLs and UUIDs of peers (see peerspec.h). */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mesh-limits.h"
#include "peerspec.h"

int
peer_name_valid(const char *name)
{
	size_t	i, len = strlen(name);

	if (len == 0 || len > PEER_NAME_MAX)
		return (0);
	for (i = 0; i < len; i++) {
		if (!islower((unsigned char)name[i]) &&
		    !isdigit((unsigned char)name[i]) && name[i] != '-')
			return (0);
	}
	return (1);
}

int
peer_url_valid(const char *url)
{
	const char	*p;

	if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return (0);
	if (strlen(url) > PEER_URL_MAX || *p == '\0' || *p == '/')
		return (0);
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return (0);
	return (1);
}

/*
 * A name for a bridge given only as a URL: its host and port, with every
 * other character turned into '-', e.g. http://127.0.0.1:4000/mcp gives
 * "127-0-0-1-4000".
 */
void
peer_name_from_url(const char *url, char *name, size_t len)
{
	const char	*p = strstr(url, "://") + 3, *at;
	size_t		 o = 0;

	/* Not the userinfo: a password would become part of tool names. */
	if ((at = memrchr(p, '@', strcspn(p, "/"))) != NULL)
		p = at + 1;

	for (; *p != '\0' && *p != '/' && o + 1 < len; p++) {
		if (isalnum((unsigned char)*p))
			name[o++] = tolower((unsigned char)*p);
		else if (o > 0 && name[o - 1] != '-')
			name[o++] = '-';
	}
	while (o > 0 && name[o - 1] == '-')
		o--;
	name[o] = '\0';
	if (o == 0)
		strlcpy(name, "peer", len);
}

int
uuid_valid(const char *s)
{
	size_t	i;

	if (strlen(s) != UUID_LEN)
		return (0);
	for (i = 0; i < UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return (0);
		} else if (!isxdigit((unsigned char)s[i]))
			return (0);
	}
	return (1);
}

void
uuid_make(char *out)
{
	uint8_t	u[16];

	arc4random_buf(u, sizeof(u));
	u[6] = (u[6] & 0x0f) | 0x40;	/* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	snprintf(out, UUID_LEN + 1,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5],
	    u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}
