/* When a dependency probes: pure code, no clock of its own, no threads (SPEC section 5).
 *
 * A dependency probes once at start, then on a fixed grid of its interval. The grid is
 * shifted by a phase in [0, 1) of the interval (engine/scheduler.c takes it from a hash of
 * the name), so ten thousand dependencies with the same interval spread over it instead of
 * probing in the same millisecond; the second probe comes between half and one and a half
 * intervals after the first. A tick while OPEN is rejected; the HALF_OPEN trial runs at once
 * when the breaker says it is due (xp_breaker_due_at: the end of the wait it drew, with its
 * backoff and jitter, or at once after leaving forced_open), between ticks; a probe that
 * overran skips the ticks it missed (no burst after a stall). Every time is monotonic seconds, so a wall-clock jump changes
 * nothing. */
#ifndef XP_SCHEDULE_H
#define XP_SCHEDULE_H

#include "model/breaker.h"

typedef struct xp_sched {
    double interval; /* seconds, > 0 */
    double anchor;   /* a point of the grid; the grid is anchor + k * interval */
    double next;     /* the next tick: the start at first, then a grid point */
} xp_sched;

typedef enum {
    XP_SCHED_WAIT,     /* nothing due yet (an early wake): wait until xp_sched_wake() */
    XP_SCHED_PROBE,    /* run a probe now (a tick, or the trial at the end of recovery) */
    XP_SCHED_REJECTED, /* a tick while OPEN: counted as rejected, no probe */
} xp_sched_action;

/* First tick at `now`; later ticks on the grid anchor + k * interval, anchor =
 * now + interval * (0.5 + phase). */
void xp_sched_init(xp_sched *s, double interval, double phase, double now);

/* What to do at `now`. A tick moves the grid past `now` and asks the breaker (which may go
 * HALF_OPEN, reported in *t, or count the tick as rejected); between ticks only a due trial
 * acts. Call it with the breaker's lock held. */
xp_sched_action xp_sched_step(xp_sched *s, xp_breaker *b, double now, xp_transition *t);

/* After a probe that ended at `end`: the ticks it overran are skipped, never made up. */
void xp_sched_done(xp_sched *s, double end);

/* The next time xp_sched_step has something to do: the next tick, or the breaker's due
 * trial (xp_breaker_due_at) if that comes first. */
double xp_sched_wake(const xp_sched *s, const xp_breaker *b);

/* A phase in [0, 1) from a hash of the name: the same dependency keeps its place in the
 * interval across restarts and reloads. */
double xp_sched_phase(const char *name);

#endif
