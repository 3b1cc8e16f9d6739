#include "model/breaker.h"

#include <math.h>
#include <string.h>

/* A rate within this of its threshold reaches it, as scores do with theirs (section 5): a
 * threshold typed as 30% must trip at 3 of 10 whatever the rounding of either side. */
#define XP_RATE_EPS 1e-9

static void resolve(xp_breaker_cfg *c)
{
    if (!c->failure_threshold)
        c->failure_threshold = 1;
    if (!c->half_open_requests)
        c->half_open_requests = 1;
    if (!c->window_calls)
        c->window_calls = 20;
    if (!c->minimum_calls)
        c->minimum_calls = 10;
    if (!(c->recovery_backoff > 0))
        c->recovery_backoff = 1;
    if (!(c->max_recovery_timeout > 0))
        c->max_recovery_timeout = 10 * c->recovery_timeout;
    if (!(c->recovery_jitter > 0))
        c->recovery_jitter = 0;
    if (c->recovery_jitter > 1)
        c->recovery_jitter = 1;
    if ((unsigned)c->mode >= XP_MODE_COUNT)
        c->mode = XP_MODE_AUTO;
}

int xp_breaker_init(xp_breaker *b, xp_window *w, const xp_breaker_cfg *cfg)
{
    memset(b, 0, sizeof(*b));
    b->cfg = *cfg;
    resolve(&b->cfg);
    if (xp_window_init(w, b->cfg.window_calls, b->cfg.window_time) != 0)
        return -1;
    b->state = XP_CLOSED;
    b->rng = 0x9e3779b97f4a7c15u;
    /* The mode of the config holds from the start: nothing moved, so nothing is counted. */
    b->mode = b->cfg.mode;
    if (b->mode == XP_MODE_FORCED_OPEN) {
        b->state = XP_OPEN;
        b->last_trip = XP_TRIP_FORCED;
    }
    return 0;
}

void xp_breaker_seed(xp_breaker *b, uint64_t seed)
{
    b->rng = seed;
}

void xp_breaker_set_random(xp_breaker *b, xp_random_fn fn, void *state)
{
    b->random = fn;
    b->random_state = state;
}

/* splitmix64: a full-period 64-bit generator in four lines, good enough to spread waits. */
static double builtin_draw(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

/* The wait of the n-th opening since CLOSED: min(rt * backoff^(n-1), max) * U[1-j, 1+j]. */
static double draw_wait(xp_breaker *b)
{
    const xp_breaker_cfg *c = &b->cfg;
    double n = b->openings ? b->openings : 1;
    double wait = c->recovery_timeout * pow(c->recovery_backoff, n - 1);
    if (!(wait <= c->max_recovery_timeout)) /* also an overflow to inf */
        wait = c->max_recovery_timeout;
    if (c->recovery_jitter > 0) {
        double u = b->random ? b->random(b->random_state) : builtin_draw(&b->rng);
        if (!(u >= 0))
            u = 0;
        if (u > 1)
            u = 1;
        wait *= 1 - c->recovery_jitter + 2 * c->recovery_jitter * u;
    }
    return wait;
}

/* w may be NULL for moves that cannot close the breaker. */
static xp_transition move(xp_breaker *b, xp_window *w, xp_breaker_state to, double now)
{
    xp_transition t = XP_T_NONE;
    if (b->state == XP_CLOSED && to == XP_OPEN)
        t = XP_T_CLOSED_OPEN;
    else if (b->state == XP_OPEN && to == XP_HALF_OPEN)
        t = XP_T_OPEN_HALF_OPEN;
    else if (b->state == XP_HALF_OPEN && to == XP_CLOSED)
        t = XP_T_HALF_OPEN_CLOSED;
    else if (b->state == XP_HALF_OPEN && to == XP_OPEN)
        t = XP_T_HALF_OPEN_OPEN;
    if (t == XP_T_NONE)
        return t;
    b->state = to;
    b->transitions[t]++;
    b->half_open_successes = 0;
    b->trial_due = 0;
    if (to == XP_OPEN) {
        b->opened_at = now;
        b->openings++;
        /* forced_open schedules no trial: leaving the mode is what ends it. */
        b->recovery_wait = b->mode == XP_MODE_FORCED_OPEN ? 0 : draw_wait(b);
    } else if (to == XP_CLOSED) {
        /* A fresh start: the backoff and the window begin again. */
        b->consecutive_failures = 0;
        b->openings = 0;
        b->recovery_wait = 0;
        if (w)
            xp_window_clear(w);
        memset(&b->win, 0, sizeof(b->win));
    }
    return t;
}

int xp_breaker_allow(xp_breaker *b, double now, xp_transition *t)
{
    *t = XP_T_NONE;
    if (b->state == XP_HALF_OPEN)
        b->trial_due = 0;
    if (b->state != XP_OPEN)
        return 1;
    if (b->mode != XP_MODE_FORCED_OPEN && now >= b->opened_at + b->recovery_wait) {
        *t = move(b, NULL, XP_HALF_OPEN, now);
        return 1;
    }
    b->calls[XP_CALL_REJECTED]++;
    return 0;
}

static double rate(const xp_breaker *b, uint32_t part)
{
    if (b->win.calls == 0 || b->win.calls < b->cfg.minimum_calls)
        return -1;
    return (double)part / b->win.calls;
}

double xp_breaker_failure_rate(const xp_breaker *b)
{
    return rate(b, b->win.failures);
}

double xp_breaker_slow_call_rate(const xp_breaker *b)
{
    return rate(b, b->win.slow);
}

static int reaches(double r, double threshold)
{
    return threshold > 0 && r >= 0 && r + XP_RATE_EPS >= threshold;
}

/* CLOSED: record the outcome, then trip on whichever rule comes first. */
static xp_transition record_closed(xp_breaker *b, xp_window *w, int result, int slow,
                                   double now)
{
    if (result == XP_CALL_SUCCESS)
        b->consecutive_failures = 0;
    else
        b->consecutive_failures++;
    xp_window_add(w, result == XP_CALL_FAILURE ? XP_OUTCOME_FAILURE
                     : slow                   ? XP_OUTCOME_SLOW
                                              : XP_OUTCOME_SUCCESS,
                  now);
    b->win = w->n;
    if (b->mode == XP_MODE_DISABLED)
        return XP_T_NONE; /* pinned: counts everything, trips on nothing */
    xp_trip why = XP_TRIP_NONE;
    if (result == XP_CALL_FAILURE && b->consecutive_failures >= b->cfg.failure_threshold)
        why = XP_TRIP_CONSECUTIVE;
    else if (reaches(xp_breaker_failure_rate(b), b->cfg.failure_rate_threshold))
        why = XP_TRIP_FAILURE_RATE;
    else if (reaches(xp_breaker_slow_call_rate(b), b->cfg.slow_call_rate_threshold))
        why = XP_TRIP_SLOW_RATE;
    if (why == XP_TRIP_NONE)
        return XP_T_NONE;
    b->last_trip = why;
    return move(b, w, XP_OPEN, now);
}

void xp_breaker_record(xp_breaker *b, xp_window *w, int result, double duration, double now,
                       xp_transition *t)
{
    *t = XP_T_NONE;
    if (result != XP_CALL_SUCCESS && result != XP_CALL_IGNORED)
        result = XP_CALL_FAILURE;
    b->calls[result]++;
    if (b->state == XP_CLOSED) {
        /* Keep the rates current even when nothing enters the window. */
        xp_window_expire(w, now);
        b->win = w->n;
    }
    /* An ignored failure neither trips nor resets, and stays out of the window. */
    if (result == XP_CALL_IGNORED)
        return;
    int slow = result == XP_CALL_SUCCESS && b->cfg.slow_call_duration > 0 &&
               duration > b->cfg.slow_call_duration;

    switch (b->state) {
    case XP_CLOSED:
        *t = record_closed(b, w, result, slow, now);
        return;
    case XP_HALF_OPEN:
        if (result == XP_CALL_SUCCESS && !(slow && b->cfg.slow_call_rate_threshold > 0)) {
            if (++b->half_open_successes >= b->cfg.half_open_requests)
                *t = move(b, w, XP_CLOSED, now);
            return;
        }
        /* A failed trial, or a slow one when slowness can trip: reopen, wait longer. A slow
         * success is no failed probe, so consecutive_failures does not move for it. */
        if (result == XP_CALL_FAILURE)
            b->consecutive_failures++;
        b->last_trip = result == XP_CALL_FAILURE ? XP_TRIP_TRIAL : XP_TRIP_SLOW_TRIAL;
        *t = move(b, w, XP_OPEN, now);
        return;
    case XP_OPEN:
        /* Only a probe that was under way when forced_open came in lands here: it counts as
         * a call and, failing, in consecutive_failures (which keeps counting while OPEN). */
        if (result == XP_CALL_FAILURE)
            b->consecutive_failures++;
        return;
    }
}

int xp_breaker_set_mode(xp_breaker *b, xp_window *w, xp_mode m, double now, xp_transition t[2])
{
    int n = 0;
    if ((unsigned)m >= XP_MODE_COUNT || m == b->mode)
        return 0;
    xp_mode was = b->mode;
    b->mode = m;
    if (m == XP_MODE_FORCED_OPEN) {
        /* An auto OPEN simply stops waiting for its trial; the others move. */
        if (b->state != XP_OPEN) {
            b->last_trip = XP_TRIP_FORCED;
            t[n++] = move(b, w, XP_OPEN, now);
        }
        b->recovery_wait = 0;
        return n;
    }
    if (was == XP_MODE_FORCED_OPEN && b->state == XP_OPEN) {
        /* A backend still down must not read healthy: a trial decides, and it runs now. */
        t[n++] = move(b, w, XP_HALF_OPEN, now);
        b->trial_due = 1;
        b->due_at = now;
    }
    if (m == XP_MODE_DISABLED) {
        /* Pinned CLOSED, by the path the metric knows: open -> half_open -> closed. */
        if (b->state == XP_OPEN)
            t[n++] = move(b, w, XP_HALF_OPEN, now);
        if (b->state == XP_HALF_OPEN)
            t[n++] = move(b, w, XP_CLOSED, now);
    }
    return n;
}

double xp_breaker_recovery_at(const xp_breaker *b)
{
    if (b->state != XP_OPEN || b->mode == XP_MODE_FORCED_OPEN)
        return 0;
    return b->opened_at + b->recovery_wait;
}

double xp_breaker_recovery_seconds(const xp_breaker *b, double now)
{
    if (b->state != XP_OPEN || b->mode == XP_MODE_FORCED_OPEN)
        return 0;
    double left = b->opened_at + b->recovery_wait - now;
    return left > 0 ? left : 0;
}

double xp_breaker_due_at(const xp_breaker *b)
{
    if (b->state == XP_HALF_OPEN && b->trial_due)
        return b->due_at;
    return xp_breaker_recovery_at(b);
}

const char *xp_breaker_state_name(xp_breaker_state s)
{
    switch (s) {
    case XP_CLOSED:
        return "closed";
    case XP_OPEN:
        return "open";
    case XP_HALF_OPEN:
        return "half_open";
    }
    return "closed";
}

void xp_transition_names(xp_transition t, const char **from, const char **to)
{
    static const char *const names[XP_T_COUNT][2] = {
        {"closed", "open"}, {"open", "half_open"}, {"half_open", "closed"}, {"half_open", "open"}};
    if (t < 0 || t >= XP_T_COUNT) {
        *from = *to = "";
        return;
    }
    *from = names[t][0];
    *to = names[t][1];
}

const char *xp_trip_name(xp_trip c)
{
    static const char *const names[] = {"",      "consecutive_failures", "failure_rate",
                                        "slow_call_rate", "trial_failed", "slow_trial",
                                        "forced_open"};
    return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "";
}
