/*
 * Downstream legacy sessions: the stdio client, or one HTTP session each
 * (initialize, then Mcp-Session-Id).  A session is an origin: the calls
 * its client makes belong to it.  The list is kept in order of use, least
 * recently used first, so a front-end at its cap can find the session to
 * evict at once; ids are looked up through a tree.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mesh.h"
#include "xmalloc.h"

struct session_node {
	RB_ENTRY(session_node)	 node;
	struct session		*s;
};

static int	session_cmp(struct session_node *, struct session_node *);
RB_HEAD(session_tree, session_node);
RB_GENERATE_STATIC(session_tree, session_node, node, session_cmp);

static struct sessions		 sessions = TAILQ_HEAD_INITIALIZER(sessions);
static struct session_tree	 session_ids = RB_INITIALIZER(&session_ids);
static unsigned			 nsessions;

static int
session_cmp(struct session_node *a, struct session_node *b)
{
	return (strcmp(a->s->id, b->s->id));
}

/* 128 random bits as hex: unguessable, visible ASCII as the spec asks. */
static void
session_mint_id(char *id)
{
	uint8_t		raw[SESSION_ID_LEN / 2];
	size_t		i;

	arc4random_buf(raw, sizeof(raw));
	for (i = 0; i < sizeof(raw); i++)
		snprintf(id + i * 2, 3, "%02x", raw[i]);
}

struct session *
session_new(int is_stdio)
{
	struct session		*s;
	struct session_node	*n;

	s = xcalloc(1, sizeof(*s));
	s->is_stdio = is_stdio;
	session_mint_id(s->id);
	if (is_stdio)
		origin_init(&s->origin, ORIGIN_SESSION, "stdio");
	else
		origin_init(&s->origin, ORIGIN_SESSION, "session %.8s", s->id);
	s->origin.session = s;
	s->log_level = -1;
	s->last_active_ms = now_ms();
	n = xcalloc(1, sizeof(*n));
	n->s = s;
	RB_INSERT(session_tree, &session_ids, n);
	TAILQ_INSERT_TAIL(&sessions, s, entry);
	nsessions++;
	log_debug("%s: new", s->origin.name);
	return (s);
}

static struct session_node *
session_node_find(const char *id)
{
	struct session		 key;
	struct session_node	 nkey;

	if (strlen(id) != SESSION_ID_LEN)
		return (NULL);
	strlcpy(key.id, id, sizeof(key.id));
	nkey.s = &key;
	return (RB_FIND(session_tree, &session_ids, &nkey));
}

struct session *
session_find(const char *id)
{
	struct session_node	*n;

	if (id == NULL || (n = session_node_find(id)) == NULL)
		return (NULL);
	return (n->s);
}

void
session_free(struct session *s)
{
	struct session_node	*n;

	if ((n = session_node_find(s->id)) != NULL) {
		RB_REMOVE(session_tree, &session_ids, n);
		free(n);
	}
	TAILQ_REMOVE(&sessions, s, entry);
	nsessions--;
	/* Calls still on their way to this session are answered now. */
	origin_end(&s->origin, "the session ended before the answer");
	mcp_resources_session_gone(s);
	if (s->initialized)
		relay_session_caps(s->client_caps, -1);
	json_object_put(s->client_info);
	json_object_put(s->client_caps);
	log_debug("%s: freed", s->origin.name);
	free(s);
}

void
session_free_all(void)
{
	struct session	*s;

	while ((s = TAILQ_FIRST(&sessions)) != NULL)
		session_free(s);
}

unsigned
session_count(void)
{
	return (nsessions);
}

/* Used now: to the end of the list, where the most recent are. */
void
session_touch(struct session *s)
{
	s->last_active_ms = now_ms();
	if (TAILQ_NEXT(s, entry) != NULL) {
		TAILQ_REMOVE(&sessions, s, entry);
		TAILQ_INSERT_TAIL(&sessions, s, entry);
	}
}

struct session *
session_lru(void)
{
	return (TAILQ_FIRST(&sessions));
}

struct session *
session_next(struct session *s)
{
	return (TAILQ_NEXT(s, entry));
}

/* A server-initiated notification to every session that can take it. */
void
session_broadcast(const char *json, size_t len)
{
	struct session	*s, *next;

	/* A push may end a session (a stream closed): the next is kept. */
	for (s = TAILQ_FIRST(&sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->initialized && s->push != NULL)
			s->push(s, json, len);
	}
}
