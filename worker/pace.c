/*
 * A minimum interval between the starts of two runs of one thing (a
 * re-list after list_changed), however often it is asked for: the asks
 * made meanwhile become one run when the interval has passed, and an
 * ask is never lost, so the last change is always seen.  Pure (the time
 * is given), so its arithmetic is unit-tested.
 */
#include <limits.h>

#include "upstream.h"

/* Something changed: a run is wanted. */
void
pace_ask(struct pace *p)
{
	p->pending = 1;
	p->asks++;
}

/* A run started at now without being asked for (the first listing). */
void
pace_started(struct pace *p, uint64_t now)
{
	p->last = now;
	p->started = 1;
}

/* ms until the pending run may start: -1 when none is pending. */
int
pace_wait(const struct pace *p, uint64_t now)
{
	uint64_t	at;

	if (!p->pending)
		return (-1);
	if (!p->started)
		return (0);
	at = p->last + p->interval;
	if (now >= at)
		return (0);
	return (at - now < INT_MAX ? (int)(at - now) : INT_MAX);
}

/*
 * The pending run, if it may start at now: 1, and it counts as started
 * (the asks so far are in it).
 */
int
pace_take(struct pace *p, uint64_t now)
{
	if (pace_wait(p, now) != 0)
		return (0);
	p->pending = 0;
	p->asks = 0;
	pace_started(p, now);
	return (1);
}
