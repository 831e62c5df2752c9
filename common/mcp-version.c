/* The MCP protocol versions mcp-mesh speaks (see mcp-version.h). */
#include <string.h>

#include "mcp-version.h"

const struct mcp_version mcp_version_table[] = {
	{ "2025-11-25", MCP_ERA_LEGACY, MCP_VF_STRUCTURED | MCP_VF_ELICITATION |
	    MCP_VF_SSE_PRIMING },
	{ "2025-06-18", MCP_ERA_LEGACY, MCP_VF_STRUCTURED | MCP_VF_ELICITATION },
	{ "2025-03-26", MCP_ERA_LEGACY, MCP_VF_BATCH },
	{ "2024-11-05", MCP_ERA_LEGACY, 0 },
	{ NULL, 0, 0 }
};

const struct mcp_version *
mcp_version_find(const char *s, size_t len)
{
	const struct mcp_version	*v;

	for (v = mcp_version_table; v->name != NULL; v++)
		if (strlen(v->name) == len && memcmp(v->name, s, len) == 0)
			return (v);
	return (NULL);
}

const struct mcp_version *
mcp_version_newest(enum mcp_era era)
{
	const struct mcp_version	*v;

	for (v = mcp_version_table; v->name != NULL; v++)
		if (v->era & era)
			return (v);
	return (NULL);
}
