/*
 * The mesh's own pagination cursors, for the lists it merges (tools,
 * prompts, resources, templates).  A cursor is "<kind><gen>.<offset>.<mac>":
 * the list it was cut from (a kind letter and the list's generation,
 * bumped by every change) and where the next page starts, with a MAC
 * that binds it to the session it was given to.  So a cursor from another
 * session, another list, or from before the list changed is a clear
 * error instead of a page that skips or repeats entries.
 *
 * The MAC is keyed FNV-1a: it catches mistakes and stale cursors, which
 * is all it is for.  A forged cursor could only ask for a page of a list
 * the session may read in full anyway.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh.h"

static uint8_t	cursor_key[16];
static int	cursor_keyed;

static uint64_t
cursor_fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char	*c = p;
	size_t			 i;

	for (i = 0; i < len; i++) {
		h ^= c[i];
		h *= 0x100000001b3ULL;
	}
	return (h);
}

static uint32_t
cursor_mac(const struct origin *o, char kind, unsigned gen, unsigned off)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	const char	*who = o->session != NULL ? o->session->id : o->name;

	if (!cursor_keyed) {
		arc4random_buf(cursor_key, sizeof(cursor_key));
		cursor_keyed = 1;
	}
	h = cursor_fnv(h, cursor_key, sizeof(cursor_key));
	h = cursor_fnv(h, &kind, sizeof(kind));
	h = cursor_fnv(h, &gen, sizeof(gen));
	h = cursor_fnv(h, &off, sizeof(off));
	h = cursor_fnv(h, who, strlen(who) + 1);
	return ((uint32_t)(h >> 32));
}

/* The cursor of the page at off of list (kind, gen), for o. */
void
cursor_make(const struct origin *o, char kind, unsigned gen, unsigned off,
    char *out, size_t len)
{
	snprintf(out, len, "%c%u.%u.%08x", kind, gen, off,
	    cursor_mac(o, kind, gen, off));
}

/* 0 and *off when cur is o's for list (kind, gen) as it is now, else -1. */
int
cursor_parse(const struct origin *o, char kind, unsigned gen, const char *cur,
    unsigned *off)
{
	unsigned	g, mac;
	char		k, tail;

	if (sscanf(cur, "%c%u.%u.%8x%c", &k, &g, off, &mac, &tail) != 4)
		return (-1);
	if (k != kind || g != gen || mac != cursor_mac(o, kind, gen, *off))
		return (-1);
	return (0);
}
