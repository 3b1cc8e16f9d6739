#include "model/breaker.h"

#include <string.h>

void xp_breaker_init(xp_breaker *b, unsigned failure_threshold, double recovery_timeout,
                     unsigned half_open_requests)
{
    memset(b, 0, sizeof(*b));
    b->failure_threshold = failure_threshold ? failure_threshold : 1;
    b->recovery_timeout = recovery_timeout;
    b->half_open_requests = half_open_requests ? half_open_requests : 1;
    b->state = XP_CLOSED;
}

static xp_transition move(xp_breaker *b, xp_breaker_state to, double now)
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
    if (to == XP_OPEN)
        b->opened_at = now;
    b->half_open_successes = 0;
    return t;
}

int xp_breaker_allow(xp_breaker *b, double now, xp_transition *t)
{
    *t = XP_T_NONE;
    if (b->state != XP_OPEN)
        return 1;
    if (now >= b->opened_at + b->recovery_timeout) {
        *t = move(b, XP_HALF_OPEN, now);
        return 1;
    }
    b->calls[XP_CALL_REJECTED]++;
    return 0;
}

void xp_breaker_record(xp_breaker *b, int success, double now, xp_transition *t)
{
    *t = XP_T_NONE;
    b->calls[success ? XP_CALL_SUCCESS : XP_CALL_FAILURE]++;
    if (success) {
        if (b->state == XP_CLOSED) {
            b->consecutive_failures = 0;
        } else if (b->state == XP_HALF_OPEN) {
            if (++b->half_open_successes >= b->half_open_requests) {
                *t = move(b, XP_CLOSED, now);
                b->consecutive_failures = 0;
            }
        }
        return;
    }
    /* Counting goes on while OPEN and HALF_OPEN: it tells how long the outage has lasted. */
    b->consecutive_failures++;
    if (b->state == XP_CLOSED && b->consecutive_failures >= b->failure_threshold)
        *t = move(b, XP_OPEN, now);
    else if (b->state == XP_HALF_OPEN)
        *t = move(b, XP_OPEN, now);
}

double xp_breaker_recovery_at(const xp_breaker *b)
{
    return b->state == XP_OPEN ? b->opened_at + b->recovery_timeout : 0;
}

double xp_breaker_recovery_seconds(const xp_breaker *b, double now)
{
    if (b->state != XP_OPEN)
        return 0;
    double left = b->opened_at + b->recovery_timeout - now;
    return left > 0 ? left : 0;
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
