/*
 * What names a peer: its name (the prefix of its exposed tools), its URL
 * and its UUID, checked by one set of rules wherever they come from (the
 * command line, the peers file, a mesh tool, the worker's CONFIG).
 */
#ifndef MESH_PEERSPEC_H
#define MESH_PEERSPEC_H

#include <stddef.h>

#define UUID_LEN	36	/* 8-4-4-4-12 hex digits */

/* 1 to PEER_NAME_MAX characters of a-z, 0-9 and '-'. */
int	peer_name_valid(const char *);
/*
 * http:// or https:// (any case), at most PEER_URL_MAX bytes, a host,
 * and no space or control character (it goes into HTTP requests).
 */
int	peer_url_valid(const char *);
/*
 * A name for a peer given only as a URL: its host and port, with every
 * other character turned into '-' ("127-0-0-1-4000"), at most len - 1.
 */
void	peer_name_from_url(const char *url, char *name, size_t len);
/* An RFC 4122 UUID in its text form (any case). */
int	uuid_valid(const char *);
/* A new random (version 4) UUID, lower case, in out[UUID_LEN + 1]. */
void	uuid_make(char *out);

#endif
