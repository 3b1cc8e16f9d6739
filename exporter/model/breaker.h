/* The circuit breaker of one dependency (SPEC section 5): pure state, no I/O, no clock and no
 * randomness of its own. Every call takes `now` in monotonic seconds, so tests drive it with a
 * fake clock, and the jitter draws come from an injectable source, so tests are exact.
 *
 * Two objects make one breaker: xp_breaker, a plain value that a scrape copies whole under the
 * dependency's lock (it holds the window's sums, never a pointer to own), and xp_window, the
 * per-outcome storage behind the rates, which only the probing thread touches. Functions that
 * may change the window take both. */
#ifndef XP_BREAKER_H
#define XP_BREAKER_H

#include <stdint.h>

#include "model/mode.h"
#include "model/window.h"

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

/* Results of circuit_breaker_calls_total, in the metric's order. SUCCESS, FAILURE and IGNORED
 * (a failure whose reason is in ignore_reasons) are also what xp_breaker_record takes. */
enum { XP_CALL_SUCCESS, XP_CALL_FAILURE, XP_CALL_REJECTED, XP_CALL_IGNORED, XP_CALL_COUNT };

/* Why the breaker last moved to OPEN, for the transition's log line and event. */
typedef enum {
    XP_TRIP_NONE,
    XP_TRIP_CONSECUTIVE,  /* failure_threshold consecutive failures */
    XP_TRIP_FAILURE_RATE, /* failure_rate >= failure_rate_threshold */
    XP_TRIP_SLOW_RATE,    /* slow_call_rate >= slow_call_rate_threshold */
    XP_TRIP_TRIAL,        /* a failed trial in HALF_OPEN */
    XP_TRIP_SLOW_TRIAL,   /* a slow trial in HALF_OPEN, with a slow threshold set */
    XP_TRIP_FORCED        /* mode forced_open */
} xp_trip;

/* Every setting of one breaker, as SPEC section 4 names them. 0 means "unset" for every
 * field; xp_breaker_init() puts the default in its place:
 *   failure_threshold 0 -> 1 (the config's default of 3 is the loader's), half_open_requests
 *   0 -> 1, window_calls 0 -> 20, minimum_calls 0 -> 10, recovery_backoff 0 -> 1 (fixed wait),
 *   max_recovery_timeout 0 -> 10 x recovery_timeout.
 * Shares (the two rate thresholds, recovery_jitter) are fractions in (0, 1], not percents:
 * 50% is 0.5. An unset rate threshold trips nothing; an unset jitter draws nothing.
 * slow_call_duration: the SPEC's default is the dependency's latency_budget, which the breaker
 * does not know: whoever fills this struct writes latency_budget when the key is unset. Left
 * at 0, no success counts as slow. */
typedef struct xp_breaker_cfg {
    unsigned failure_threshold;
    double recovery_timeout; /* seconds */
    unsigned half_open_requests;
    unsigned window_calls;           /* count window: the last N recorded probes */
    double window_time;              /* seconds; > 0 makes a time window instead */
    unsigned minimum_calls;          /* no rate below this many outcomes in the window */
    double failure_rate_threshold;   /* share */
    double slow_call_duration;       /* seconds; a success longer than this is slow */
    double slow_call_rate_threshold; /* share */
    double recovery_backoff;         /* factor per reopening since CLOSED */
    double max_recovery_timeout;     /* seconds: cap of the multiplied wait */
    double recovery_jitter;          /* share: each wait drawn in [1-j, 1+j] times */
    xp_mode mode;                    /* the mode at start */
} xp_breaker_cfg;

/* A uniform draw in [0, 1]; `state` is the source's own. */
typedef double (*xp_random_fn)(void *state);

typedef struct xp_breaker {
    xp_breaker_cfg cfg; /* defaults resolved */

    xp_breaker_state state;
    xp_mode mode; /* in force */
    unsigned consecutive_failures;
    unsigned half_open_successes;
    unsigned openings;  /* moves to OPEN since the breaker was last CLOSED: the n of backoff */
    int trial_due;      /* HALF_OPEN entered by leaving forced_open: probe at once */
    double due_at;      /* when trial_due was set */
    double opened_at;   /* monotonic time of the last move to OPEN */
    double recovery_wait; /* the wait drawn for this OPEN period, seconds */
    xp_trip last_trip;
    xp_window_counts win; /* the window's sums, mirrored after every change */
    uint64_t calls[XP_CALL_COUNT];
    uint64_t transitions[XP_T_COUNT];

    /* The jitter source: random(random_state) when random is set, else the built-in
     * generator on rng (seeded by xp_breaker_seed; a fixed seed otherwise). */
    xp_random_fn random;
    void *random_state;
    uint64_t rng;
} xp_breaker;

/* Sets up b and its window w from cfg. Returns 0, or -1 when out of memory (nothing to free).
 * w must be released with xp_window_free(). */
int xp_breaker_init(xp_breaker *b, xp_window *w, const xp_breaker_cfg *cfg);
/* Seeds the built-in jitter source. Breakers that open together must not draw alike, so
 * each gets its own seed (e.g. its name hashed with the start time). */
void xp_breaker_seed(xp_breaker *b, uint64_t seed);
/* Replaces the jitter source (tests: a scripted sequence of draws). */
void xp_breaker_set_random(xp_breaker *b, xp_random_fn fn, void *state);

/* At a tick: may a probe run now? While OPEN (auto) before the drawn wait, or forced_open:
 * no, and the tick counts as rejected. Once the wait has passed: moves to HALF_OPEN (reported
 * in *t) and yes. CLOSED and HALF_OPEN: yes. */
int xp_breaker_allow(xp_breaker *b, double now, xp_transition *t);
/* The outcome of a probe: result is XP_CALL_SUCCESS, XP_CALL_FAILURE or XP_CALL_IGNORED (a
 * failure whose reason is ignored: counted, nothing else changes); duration in seconds tells
 * a slow success. Reports a transition in *t, if any. */
void xp_breaker_record(xp_breaker *b, xp_window *w, int result, double duration, double now,
                       xp_transition *t);
/* Puts mode m in force at now. The transitions it causes, in order, go to t[0..]; returns
 * their number (0-2: leaving forced_open for disabled passes through HALF_OPEN). */
int xp_breaker_set_mode(xp_breaker *b, xp_window *w, xp_mode m, double now, xp_transition t[2]);

/* When OPEN (auto): seconds until the trial probe (>= 0), from the wait actually drawn;
 * otherwise 0 (forced_open schedules no trial). */
double xp_breaker_recovery_seconds(const xp_breaker *b, double now);
/* When OPEN (auto): the monotonic time at which allow() will say yes; otherwise 0. */
double xp_breaker_recovery_at(const xp_breaker *b);
/* When a probe is due off the tick grid: the trial at recovery_at(), or the trial at once
 * after leaving forced_open (the time that happened); 0 when none. */
double xp_breaker_due_at(const xp_breaker *b);
/* failures / outcomes in the window, or -1 while it holds fewer than minimum_calls. */
double xp_breaker_failure_rate(const xp_breaker *b);
double xp_breaker_slow_call_rate(const xp_breaker *b);

const char *xp_breaker_state_name(xp_breaker_state s); /* closed, open, half_open */
void xp_transition_names(xp_transition t, const char **from, const char **to);
const char *xp_trip_name(xp_trip c); /* "" for NONE, else e.g. "failure_rate" */

#endif
