/*
 * The MCP protocol versions mcp-mesh speaks, newest first, each with its
 * era.  One table for both sides: the supervisor answers clients from it
 * and the worker offers gateways its newest legacy version, so a new
 * revision is one row here.
 */
#ifndef MESH_MCP_VERSION_H
#define MESH_MCP_VERSION_H

#include <stddef.h>

/*
 * Legacy: initialize, then a session (Mcp-Session-Id over HTTP).
 * Stateless (2026-07-28): every request carries its version and the
 * client's capabilities in _meta; no session.  Masks, so a method can
 * say in which eras it exists.
 */
enum mcp_era {
	MCP_ERA_LEGACY		= 0x1,
	MCP_ERA_STATELESS	= 0x2,
};
#define MCP_ERA_ALL		(MCP_ERA_LEGACY | MCP_ERA_STATELESS)

/* What changed between revisions that the mesh must know about. */
#define MCP_VF_BATCH		0x01	/* JSON-RPC batches (2025-03-26 only) */
#define MCP_VF_STRUCTURED	0x02	/* structuredContent, outputSchema */
#define MCP_VF_ELICITATION	0x04	/* elicitation/create */
#define MCP_VF_SSE_PRIMING	0x08	/* an SSE stream may open with an
					   event of an id and no data */

#define MCP_VERSION_LEN_MAX	16	/* "YYYY-MM-DD" and room */
/* An HTTP request without MCP-Protocol-Version: the spec says assume this. */
#define MCP_VERSION_HTTP_DEFAULT "2025-03-26"

struct mcp_version {
	const char	*name;		/* "2025-11-25" */
	enum mcp_era	 era;
	unsigned	 flags;		/* MCP_VF_* */
};

/* Newest first, ended by a row whose name is NULL. */
extern const struct mcp_version mcp_version_table[];

/*
 * The row for the len bytes at s (no NUL needed; a NUL inside never
 * matches), or NULL when mcp-mesh does not speak that version.
 */
const struct mcp_version *mcp_version_find(const char *s, size_t len);
/* The newest version of an era, or NULL. */
const struct mcp_version *mcp_version_newest(enum mcp_era);

#endif
