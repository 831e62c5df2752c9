/*
 * Logging through the mesh: logging/setLevel per session, and the peers'
 * notifications/message relayed to the sessions that asked, with the
 * peer named in "logger" ("factory", or "factory/<its own logger>").
 *
 * A message that came on a call's stream goes to that call's client; one
 * that came outside any call (the peer's GET stream) to every session
 * whose level lets it through.  A session that never set a level gets
 * LOG_DEFAULT_LEVEL and above.  The peers are asked for the most verbose
 * level any session wants (and asked again when a worker starts anew),
 * since a peer sends nothing below the level it was given.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "mesh.h"

/* RFC 5424 severities, as MCP names them: the index is the severity. */
static const char *mcp_log_levels[] = {
	"emergency", "alert", "critical", "error", "warning", "notice",
	"info", "debug"
};
#define NLOG_LEVELS	(sizeof(mcp_log_levels) / sizeof(mcp_log_levels[0]))

static int	mcp_log_upstream = -1;	/* the level peers were asked for */

static int
mcp_log_level(const char *name)
{
	size_t	i;

	if (name == NULL)
		return (-1);
	for (i = 0; i < NLOG_LEVELS; i++)
		if (strcmp(name, mcp_log_levels[i]) == 0)
			return ((int)i);
	return (-1);
}

static int
mcp_log_wanted(const struct session *s, int level)
{
	int	min = s->log_level >= 0 ? s->log_level : LOG_DEFAULT_LEVEL;

	return (level <= min);
}

static void
mcp_log_ask(struct peer *p, int level)
{
	struct json_object	*params, *req;

	if (!peer_ready(p) || p->capabilities == NULL ||
	    !json_object_object_get_ex(p->capabilities, "logging", NULL))
		return;
	params = json_object_new_object();
	json_object_object_add(params, "level",
	    json_object_new_string(mcp_log_levels[level]));
	req = jsonrpc_request(NULL, "logging/setLevel", params);
	call_internal(p, "logging/setLevel", req);
	json_object_put(req);
}

/* The most verbose level a session wants, asked of every peer. */
static void
mcp_log_update(void)
{
	struct session	*s;
	struct peer	*p;
	int		 want = -1;

	for (s = session_lru(); s != NULL; s = session_next(s))
		if (s->log_level > want)
			want = s->log_level;
	if (want == -1 || want == mcp_log_upstream)
		return;
	mcp_log_upstream = want;
	TAILQ_FOREACH(p, &peers, entry)
		mcp_log_ask(p, want);
}

void
mcp_logging_set_level(struct call *c, struct json_object *req)
{
	struct session	*s = c->origin->session;
	const char	*name;
	int		 level;

	name = jsonrpc_get_str(jsonrpc_params(req), "level");
	if ((level = mcp_log_level(name)) == -1) {
		call_error(c, JSONRPC_INVALID_PARAMS, "logging/setLevel: "
		    "params.level must be one of debug, info, notice, warning, "
		    "error, critical, alert, emergency");
		return;
	}
	if (s != NULL)
		s->log_level = level;
	mcp_log_update();
	call_result(c, json_object_new_object());
}

/* A worker started anew: it is asked for the level again. */
void
mcp_logging_peer_ready(struct peer *p)
{
	if (mcp_log_upstream >= 0)
		mcp_log_ask(p, mcp_log_upstream);
}

/*
 * notifications/message from p (n, changed here), for call c or for
 * every session (c NULL).
 */
void
mcp_logging_relay(struct peer *p, struct call *c, struct json_object *n)
{
	struct json_object	*params = jsonrpc_params(n);
	struct session		*s, *next;
	const char		*logger, *json;
	char			 name[PEER_NAME_MAX + 1 + 128 + 1];
	size_t			 len;
	int			 level;

	if (params == NULL || (level = mcp_log_level(jsonrpc_get_str(params,
	    "level"))) == -1)
		return;
	if ((logger = jsonrpc_get_str(params, "logger")) != NULL)
		snprintf(name, sizeof(name), "%s/%.128s", p->name, logger);
	else
		strlcpy(name, p->name, sizeof(name));
	json_object_object_add(params, "logger", json_object_new_string(name));
	json = jsonrpc_string(n, &len);
	if (c != NULL) {
		if (c->origin->session == NULL ||
		    mcp_log_wanted(c->origin->session, level))
			call_message(c, json, len);
		return;
	}
	for (s = session_lru(); s != NULL; s = next) {
		next = session_next(s);
		if (s->initialized && s->push != NULL && mcp_log_wanted(s, level))
			s->push(s, json, len);
	}
}
