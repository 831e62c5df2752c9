/*
 * Restart delays of a worker (backoff_next() in worker.c, a pure
 * function): the first restart after WORKER_BACKOFF_MIN_MS, doubling up
 * to WORKER_BACKOFF_MAX_MS; back to the minimum after WORKER_STABLE_MS of
 * readiness; WORKER_FAIL_MAX crashes within WORKER_FAIL_WINDOW_MS give up
 * (0); other deaths never do.  Each limit at its edge.
 */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "supervisor/mesh.h"

/* worker.c's neighbours want the supervisor's globals (mcp-mesh.c). */
struct event_base	*ev_base;
struct mesh_config	 conf;

/* Any time well past the first window: the clock is monotonic. */
#define T0	(10ULL * 1000 * 1000)

static struct backoff	b;

static void
setup(void)
{
	memset(&b, 0, sizeof(b));
}

TestSuite(backoff, .init = setup);

Test(backoff, first_delay_is_the_minimum)
{
	cr_assert_eq(backoff_next(&b, T0, 0, 0), WORKER_BACKOFF_MIN_MS);
	setup();
	cr_assert_eq(backoff_next(&b, T0, 0, 1), WORKER_BACKOFF_MIN_MS);
}

Test(backoff, delay_doubles_up_to_the_maximum)
{
	uint64_t	want = WORKER_BACKOFF_MIN_MS, got, now = T0;
	int		i;

	for (i = 0; i < 40; i++) {
		got = backoff_next(&b, now, 0, 0);
		cr_assert_eq(got, want, "restart %d: %llu ms, want %llu", i,
		    (unsigned long long)got, (unsigned long long)want);
		now += got;
		want *= 2;
		if (want > WORKER_BACKOFF_MAX_MS)
			want = WORKER_BACKOFF_MAX_MS;
	}
	cr_assert_eq(got, WORKER_BACKOFF_MAX_MS);
}

Test(backoff, the_maximum_is_reached_exactly_once_capped)
{
	uint64_t	prev = 0, got;

	/* 50, 100, ... 25600, then 30000 (not 51200), then 30000. */
	while ((got = backoff_next(&b, T0, 0, 0)) < WORKER_BACKOFF_MAX_MS) {
		cr_assert_eq(got, prev == 0 ? WORKER_BACKOFF_MIN_MS : prev * 2);
		prev = got;
	}
	cr_assert_eq(got, WORKER_BACKOFF_MAX_MS);
	cr_assert_gt(prev * 2, (uint64_t)WORKER_BACKOFF_MAX_MS);
	cr_assert_eq(backoff_next(&b, T0, 0, 0), WORKER_BACKOFF_MAX_MS);
}

Test(backoff, readiness_of_the_stable_time_resets_the_delay)
{
	uint64_t	now = T0;
	int		i;

	for (i = 0; i < 5; i++)
		backoff_next(&b, now, 0, 0);
	cr_assert_eq(b.delay_ms, WORKER_BACKOFF_MIN_MS << 4);
	now += 100000;
	cr_assert_eq(backoff_next(&b, now, now - WORKER_STABLE_MS, 0),
	    WORKER_BACKOFF_MIN_MS);
	cr_assert_eq(backoff_next(&b, now, 0, 0), WORKER_BACKOFF_MIN_MS * 2);
}

Test(backoff, readiness_just_short_of_the_stable_time_keeps_doubling)
{
	uint64_t	now = T0;
	int		i;

	for (i = 0; i < 5; i++)
		backoff_next(&b, now, 0, 0);
	now += 100000;
	cr_assert_eq(backoff_next(&b, now, now - WORKER_STABLE_MS + 1, 0),
	    WORKER_BACKOFF_MIN_MS << 5);
}

Test(backoff, never_ready_is_never_stable)
{
	int	i;

	for (i = 0; i < 3; i++)
		backoff_next(&b, T0 + i * WORKER_STABLE_MS * 2ULL, 0, 0);
	cr_assert_eq(b.delay_ms, WORKER_BACKOFF_MIN_MS * 4);
}

Test(backoff, crashes_up_to_one_below_the_limit_are_restarted)
{
	uint64_t	now = T0;
	int		i;

	for (i = 1; i < WORKER_FAIL_MAX; i++) {
		cr_assert_neq(backoff_next(&b, now, 0, 1), 0, "crash %d", i);
		now += 1000;
	}
	cr_assert_eq(b.failures, WORKER_FAIL_MAX - 1);
}

Test(backoff, the_limit_of_crashes_in_the_window_gives_up)
{
	int	i;

	for (i = 1; i < WORKER_FAIL_MAX; i++)
		cr_assert_neq(backoff_next(&b, T0 + i, 0, 1), 0);
	/* The window opened at T0 + 1; the last crash at its very edge. */
	cr_assert_eq(backoff_next(&b, T0 + 1 + WORKER_FAIL_WINDOW_MS, 0, 1),
	    0);
	cr_assert_eq(b.failures, WORKER_FAIL_MAX);
}

Test(backoff, a_crash_just_past_the_window_starts_a_new_one)
{
	int	i;

	for (i = 1; i < WORKER_FAIL_MAX; i++)
		cr_assert_neq(backoff_next(&b, T0 + i, 0, 1), 0);
	cr_assert_neq(backoff_next(&b, T0 + 1 + WORKER_FAIL_WINDOW_MS + 1, 0,
	    1), 0);
	cr_assert_eq(b.failures, 1);
	cr_assert_eq(b.window_start_ms, T0 + 1 + WORKER_FAIL_WINDOW_MS + 1);
}

Test(backoff, stable_readiness_forgives_crashes)
{
	uint64_t	now = T0;
	int		i;

	for (i = 1; i < WORKER_FAIL_MAX; i++)
		cr_assert_neq(backoff_next(&b, now + i, 0, 1), 0);
	now += 1000;
	/* Ready for the stable time, then a crash: the count starts again. */
	cr_assert_eq(backoff_next(&b, now, now - WORKER_STABLE_MS, 1),
	    WORKER_BACKOFF_MIN_MS);
	cr_assert_eq(b.failures, 1);
	for (i = 2; i < WORKER_FAIL_MAX; i++)
		cr_assert_neq(backoff_next(&b, now + i, 0, 1), 0);
	cr_assert_eq(backoff_next(&b, now + WORKER_FAIL_MAX, 0, 1), 0);
}

Test(backoff, deaths_that_are_not_crashes_never_give_up)
{
	uint64_t	now = T0, got;
	int		i;

	for (i = 0; i < 10 * WORKER_FAIL_MAX; i++) {
		got = backoff_next(&b, now + i, 0, 0);
		cr_assert_neq(got, 0, "death %d", i);
	}
	cr_assert_eq(b.failures, 0);
}

Test(backoff, deaths_that_are_not_crashes_do_not_count)
{
	int	i;

	for (i = 1; i < WORKER_FAIL_MAX; i++) {
		cr_assert_neq(backoff_next(&b, T0 + 2 * i, 0, 1), 0);
		cr_assert_neq(backoff_next(&b, T0 + 2 * i + 1, 0, 0), 0);
	}
	cr_assert_eq(b.failures, WORKER_FAIL_MAX - 1);
	cr_assert_eq(backoff_next(&b, T0 + 1000, 0, 1), 0);
}

Test(backoff, crashes_double_the_delay_like_other_deaths)
{
	cr_assert_eq(backoff_next(&b, T0, 0, 1), WORKER_BACKOFF_MIN_MS);
	cr_assert_eq(backoff_next(&b, T0 + 1, 0, 0), WORKER_BACKOFF_MIN_MS * 2);
	cr_assert_eq(backoff_next(&b, T0 + 2, 0, 1), WORKER_BACKOFF_MIN_MS * 4);
}
