#include "engine/schedule.h"

#include <math.h>
#include <stdint.h>

void xp_sched_init(xp_sched *s, double interval, double phase, double now)
{
    s->interval = interval > 0 ? interval : 1;
    if (!(phase >= 0 && phase < 1))
        phase = 0;
    s->anchor = now + s->interval * (0.5 + phase);
    s->next = now;
}

/* The first grid point strictly after t. */
static double grid_after(const xp_sched *s, double t)
{
    if (t < s->anchor)
        return s->anchor;
    double k = floor((t - s->anchor) / s->interval) + 1;
    double g = s->anchor + k * s->interval;
    /* Rounding can land g a hair at or before t: the grid point after it is meant. */
    while (g <= t)
        g += s->interval;
    return g;
}

xp_sched_action xp_sched_step(xp_sched *s, xp_breaker *b, double now, xp_transition *t)
{
    *t = XP_T_NONE;
    int tick = now >= s->next;
    double due = xp_breaker_due_at(b); /* 0: no trial off the grid */
    int trial = due > 0 && now >= due;
    if (!tick && !trial)
        return XP_SCHED_WAIT;
    if (tick)
        s->next = grid_after(s, now);
    return xp_breaker_allow(b, now, t) ? XP_SCHED_PROBE : XP_SCHED_REJECTED;
}

void xp_sched_done(xp_sched *s, double end)
{
    if (s->next <= end)
        s->next = grid_after(s, end);
}

double xp_sched_wake(const xp_sched *s, const xp_breaker *b)
{
    double w = s->next;
    double due = xp_breaker_due_at(b);
    if (due > 0 && due < w)
        w = due;
    return w;
}

double xp_sched_phase(const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)name; p && *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    /* FNV's high bits barely move between names that differ in their last character
     * (r1, r2, ...): mix them all in (murmur3's finalizer) before taking the top ones. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    /* The top 53 bits as a fraction: exactly representable, always < 1. */
    return (double)(h >> 11) / 9007199254740992.0;
}
