/* The circuit breaker of one dependency: pure state, no I/O, no clock of its own. Every
 * call takes `now` in monotonic seconds, so tests drive it with a fake clock. */
#ifndef XP_BREAKER_H
#define XP_BREAKER_H

#include <stdint.h>

typedef enum { XP_CLOSED = 0, XP_OPEN = 1, XP_HALF_OPEN = 2 } xp_breaker_state;

/* The four transitions a breaker can make; their order is the metric's. */
typedef enum {
    XP_T_CLOSED_OPEN,
    XP_T_OPEN_HALF_OPEN,
    XP_T_HALF_OPEN_CLOSED,
    XP_T_HALF_OPEN_OPEN,
    XP_T_COUNT,
    XP_T_NONE = -1
} xp_transition;

enum { XP_CALL_SUCCESS, XP_CALL_FAILURE, XP_CALL_REJECTED, XP_CALL_COUNT };

typedef struct xp_breaker {
    unsigned failure_threshold;
    double recovery_timeout;
    unsigned half_open_requests;

    xp_breaker_state state;
    unsigned consecutive_failures;
    unsigned half_open_successes;
    double opened_at; /* monotonic time of the last move to OPEN */
    uint64_t calls[XP_CALL_COUNT];
    uint64_t transitions[XP_T_COUNT];
} xp_breaker;

void xp_breaker_init(xp_breaker *b, unsigned failure_threshold, double recovery_timeout,
                     unsigned half_open_requests);
/* At a tick: may a probe run now? While OPEN before recovery_timeout: no, and the tick counts
 * as rejected. Once recovery_timeout has passed: moves to HALF_OPEN (reported in *t) and yes. */
int xp_breaker_allow(xp_breaker *b, double now, xp_transition *t);
/* The outcome of a probe that allow() let run. Reports a transition in *t, if any. */
void xp_breaker_record(xp_breaker *b, int success, double now, xp_transition *t);
/* When OPEN: seconds until the trial probe (>= 0); otherwise 0. */
double xp_breaker_recovery_seconds(const xp_breaker *b, double now);
/* When OPEN: the monotonic time at which allow() will say yes; otherwise 0. */
double xp_breaker_recovery_at(const xp_breaker *b);

const char *xp_breaker_state_name(xp_breaker_state s); /* closed, open, half_open */
void xp_transition_names(xp_transition t, const char **from, const char **to);

#endif
