/*
 * Downstream sessions (session.c): ids of 32 lowercase hex characters,
 * unique; lookups by id (NULL, wrong length, unknown, freed); the order
 * of use (session_touch() moves a session to the end, session_lru()
 * gives the least recently used, session_next() walks on); counts; a
 * session's calls answered with an error when it is freed; broadcasts
 * to initialized sessions only, safe when a push ends its session.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "supervisor/mesh.h"

/* The supervisor's globals, as mcp-mesh.c has them. */
struct event_base	*ev_base;
struct mesh_config	 conf;

static void
teardown(void)
{
	session_free_all();
}

TestSuite(session, .fini = teardown);

/* --- ids and lookups ----------------------------------------------------- */

Test(session, ids_are_32_lowercase_hex_characters)
{
	struct session	*s;
	size_t		 i;

	s = session_new(0);
	cr_assert_eq(strlen(s->id), SESSION_ID_LEN);
	cr_assert_eq(SESSION_ID_LEN, 32);
	for (i = 0; i < SESSION_ID_LEN; i++)
		cr_assert(strchr("0123456789abcdef", s->id[i]) != NULL,
		    "%s", s->id);
}

Test(session, ids_are_unique)
{
	struct session	*s[256];
	int		 i, j;

	for (i = 0; i < 256; i++)
		s[i] = session_new(0);
	for (i = 0; i < 256; i++)
		for (j = i + 1; j < 256; j++)
			cr_assert_str_neq(s[i]->id, s[j]->id);
	cr_assert_eq(session_count(), 256);
}

Test(session, origins_are_named_for_logs)
{
	struct session	*s, *t;
	char		 want[ORIGIN_NAME_MAX];

	s = session_new(1);
	t = session_new(0);
	cr_assert_str_eq(s->origin.name, "stdio");
	cr_assert(s->is_stdio);
	snprintf(want, sizeof(want), "session %.8s", t->id);
	cr_assert_str_eq(t->origin.name, want);
	cr_assert_eq(t->origin.kind, ORIGIN_SESSION);
	cr_assert_eq(t->origin.session, t);
	cr_assert(TAILQ_EMPTY(&t->origin.calls));
}

Test(session, find_by_id)
{
	struct session	*s, *t;
	char		 id[SESSION_ID_LEN + 1];

	s = session_new(0);
	t = session_new(0);
	cr_assert_eq(session_find(s->id), s);
	cr_assert_eq(session_find(t->id), t);
	/* A copy is found: ids are compared, not pointers. */
	strlcpy(id, s->id, sizeof(id));
	cr_assert_eq(session_find(id), s);
}

Test(session, find_refuses_wrong_lengths_and_unknown_ids)
{
	struct session	*s;
	char		 id[SESSION_ID_LEN + 2];

	s = session_new(0);
	cr_assert_null(session_find(NULL));
	cr_assert_null(session_find(""));
	/* One character short, one too many: never a prefix match. */
	strlcpy(id, s->id, sizeof(id));
	id[SESSION_ID_LEN - 1] = '\0';
	cr_assert_null(session_find(id));
	strlcpy(id, s->id, sizeof(id));
	strlcat(id, "0", sizeof(id));
	cr_assert_null(session_find(id));
	/* The right length, another id. */
	strlcpy(id, s->id, sizeof(id));
	id[0] = id[0] == 'f' ? '0' : 'f';
	cr_assert_null(session_find(id));
	/* Upper case is another id. */
	memset(id, 'A', SESSION_ID_LEN);
	id[SESSION_ID_LEN] = '\0';
	cr_assert_null(session_find(id));
}

Test(session, a_freed_session_is_not_found)
{
	struct session	*s, *t;
	char		 id[SESSION_ID_LEN + 1];

	s = session_new(0);
	t = session_new(0);
	strlcpy(id, s->id, sizeof(id));
	session_free(s);
	cr_assert_null(session_find(id));
	cr_assert_eq(session_find(t->id), t);
	cr_assert_eq(session_count(), 1);
}

/* --- order of use -------------------------------------------------------- */

/* The sessions from the least recently used on. */
static void
assert_order(struct session **want, int n)
{
	struct session	*s;
	int		 i = 0;

	for (s = session_lru(); s != NULL; s = session_next(s)) {
		cr_assert_lt(i, n, "more sessions than %d", n);
		cr_assert_eq(s, want[i], "position %d", i);
		i++;
	}
	cr_assert_eq(i, n);
}

Test(session, new_sessions_are_the_most_recent)
{
	struct session	*s[3];
	int		 i;

	cr_assert_null(session_lru());
	for (i = 0; i < 3; i++)
		s[i] = session_new(0);
	assert_order(s, 3);
}

Test(session, touch_moves_to_the_end)
{
	struct session	*s[3], *want[3];
	int		 i;

	for (i = 0; i < 3; i++)
		s[i] = session_new(0);
	session_touch(s[0]);
	want[0] = s[1];
	want[1] = s[2];
	want[2] = s[0];
	assert_order(want, 3);
	cr_assert_eq(session_lru(), s[1]);
	session_touch(s[2]);
	want[1] = s[0];
	want[2] = s[2];
	assert_order(want, 3);
	/* The most recent, touched again, stays. */
	session_touch(s[2]);
	assert_order(want, 3);
}

Test(session, touch_records_the_time)
{
	struct session	*s;

	s = session_new(0);
	s->last_active_ms = 0;
	session_touch(s);
	cr_assert_geq(s->last_active_ms, now_ms() - 1000);
	cr_assert_leq(s->last_active_ms, now_ms());
}

Test(session, freeing_the_lru_gives_the_next)
{
	struct session	*s[3], *want[2];
	int		 i;

	for (i = 0; i < 3; i++)
		s[i] = session_new(0);
	session_touch(s[0]);
	session_free(session_lru());
	want[0] = s[2];
	want[1] = s[0];
	assert_order(want, 2);
	cr_assert_eq(session_count(), 2);
}

Test(session, free_all_empties_the_list)
{
	int	i;

	for (i = 0; i < 5; i++)
		session_new(i == 0);
	cr_assert_eq(session_count(), 5);
	session_free_all();
	cr_assert_eq(session_count(), 0);
	cr_assert_null(session_lru());
}

/* --- calls of a session -------------------------------------------------- */

struct rec {
	int	 answers;
	char	*answer;
};

static void
rec_answer(void *arg, char *json, size_t len)
{
	struct rec	*r = arg;

	r->answers++;
	free(r->answer);
	r->answer = json;
	cr_assert(json == NULL || strlen(json) == len);
}

static const struct reply_ops rec_ops = { NULL, rec_answer };

Test(session, free_answers_the_calls_of_the_session)
{
	struct session		*s, *t;
	struct json_object	*id1, *id2;
	struct rec		 r1 = { 0 }, r2 = { 0 }, r3 = { 0 };

	s = session_new(0);
	t = session_new(0);
	id1 = json_object_new_int(1);
	id2 = json_object_new_string("two");
	call_new(&s->origin, id1, &rec_ops, &r1);
	call_new(&s->origin, id2, &rec_ops, &r2);
	call_new(&t->origin, id1, &rec_ops, &r3);
	json_object_put(id1);
	json_object_put(id2);
	cr_assert_eq(s->origin.ncalls, 2);
	cr_assert_eq(call_count(), 3);

	session_free(s);
	cr_assert_eq(r1.answers, 1);
	cr_assert_str_eq(r1.answer, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":"
	    "{\"code\":-32603,\"message\":\"the session ended before the "
	    "answer\"}}");
	cr_assert_eq(r2.answers, 1);
	cr_assert_str_eq(r2.answer, "{\"jsonrpc\":\"2.0\",\"id\":\"two\","
	    "\"error\":{\"code\":-32603,\"message\":\"the session ended "
	    "before the answer\"}}");
	/* Another session's call is untouched. */
	cr_assert_eq(r3.answers, 0);
	cr_assert_eq(call_count(), 1);
	cr_assert_eq(t->origin.ncalls, 1);

	session_free(t);
	cr_assert_eq(r3.answers, 1);
	cr_assert_eq(call_count(), 0);
	free(r1.answer);
	free(r2.answer);
	free(r3.answer);
}

Test(session, an_answered_call_is_not_answered_again_at_free)
{
	struct session		*s;
	struct call		*c;
	struct json_object	*id;
	struct rec		 r = { 0 };

	s = session_new(0);
	id = json_object_new_int(9);
	c = call_new(&s->origin, id, &rec_ops, &r);
	json_object_put(id);
	call_result(c, json_object_new_object());
	cr_assert_eq(r.answers, 1);
	cr_assert_str_eq(r.answer, "{\"jsonrpc\":\"2.0\",\"id\":9,"
	    "\"result\":{}}");
	cr_assert_eq(s->origin.ncalls, 0);
	session_free(s);
	cr_assert_eq(r.answers, 1);
	free(r.answer);
}

/* --- broadcasts ---------------------------------------------------------- */

static int	pushes[4];

static void
push_count(struct session *s, const char *json, size_t len)
{
	cr_assert_str_eq(json, "{\"n\":1}");
	cr_assert_eq(len, 7);
	pushes[s->is_stdio]++;
}

/* A push that ends its session, as a closed stream does. */
static void
push_free(struct session *s, const char *json, size_t len)
{
	pushes[2]++;
	session_free(s);
}

Test(session, broadcast_reaches_initialized_sessions_with_a_push)
{
	struct session	*a, *b, *c, *d;

	a = session_new(1);
	b = session_new(0);
	c = session_new(0);
	d = session_new(0);
	a->initialized = b->initialized = d->initialized = 1;
	a->push = b->push = c->push = push_count;
	/* d has no push (no GET stream): skipped. */
	session_broadcast("{\"n\":1}", 7);
	cr_assert_eq(pushes[1], 1);	/* a, stdio */
	cr_assert_eq(pushes[0], 1);	/* b; c is not initialized */
}

Test(session, broadcast_survives_a_push_that_frees_its_session)
{
	struct session	*a, *b, *c;

	a = session_new(0);
	b = session_new(0);
	c = session_new(0);
	a->initialized = b->initialized = c->initialized = 1;
	a->push = push_count;
	b->push = push_free;
	c->push = push_count;
	session_broadcast("{\"n\":1}", 7);
	cr_assert_eq(pushes[0], 2);
	cr_assert_eq(pushes[2], 1);
	cr_assert_eq(session_count(), 2);
	cr_assert_eq(session_lru(), a);
	cr_assert_eq(session_next(a), c);
}
