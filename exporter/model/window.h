/* The window of recorded probe outcomes behind a breaker's failure and slow-call rates (SPEC
 * section 5, "Rates"): the last N outcomes, or those of the last `window_time` seconds.
 *
 * It lives apart from the breaker on purpose: a scrape copies each dependency's breaker under
 * a lock (10,000 dependencies are a target), so the breaker keeps only the three sums of the
 * window (xp_window_counts) and the per-outcome storage stays here, touched only by the
 * thread that records probes.
 *
 * Exactness:
 * - count-based (window_time == 0): exact, the last window_calls outcomes. A ring of 2 bits
 *   per outcome on the heap: 5 bytes at the default 20, 250 KB at the largest count the
 *   config allows (1,000,000).
 * - time-based (window_time > 0): XP_WINDOW_BUCKETS buckets of window_time / 64 each,
 *   aligned on the clock (bucket k holds the outcomes recorded in [k*w, (k+1)*w)); the window
 *   is the current bucket and the 63 before it. So an outcome never counts longer than
 *   window_time, and counts at least 63/64 of it: it may leave up to window_time/64 early
 *   (4.7 s of a 5-minute window). 768 bytes whatever window_time and the probe rate are; an
 *   exact ring of timestamps would need window_time / interval entries, and the config bounds
 *   allow 30 days / 1 ms.
 * Outcomes leave a time window only when the window is touched (add or expire at `now`); the
 * breaker does that at every recorded probe, which in CLOSED is every tick. */
#ifndef XP_WINDOW_H
#define XP_WINDOW_H

#include <stdint.h>

#define XP_WINDOW_BUCKETS 64

typedef enum { XP_OUTCOME_SUCCESS, XP_OUTCOME_SLOW, XP_OUTCOME_FAILURE } xp_outcome;

/* The sums over the outcomes in the window. */
typedef struct xp_window_counts {
    uint32_t calls; /* outcomes of any kind */
    uint32_t failures;
    uint32_t slow;
} xp_window_counts;

typedef struct xp_window {
    unsigned size;      /* count-based: capacity in outcomes; 0 when time-based */
    double bucket_width; /* time-based: window_time / XP_WINDOW_BUCKETS; 0 when count-based */
    void *store;        /* count-based: 2-bit codes; time-based: the buckets */
    unsigned head;      /* count-based: next slot written (the oldest once full) */
    int64_t newest;     /* time-based: clock index of the newest bucket; INT64_MIN when empty */
    xp_window_counts n;
} xp_window;

/* window_time > 0 makes a time window (window_calls is then ignored), else a window of the
 * last window_calls outcomes (at least 1). Returns 0, or -1 when out of memory. */
int xp_window_init(xp_window *w, unsigned window_calls, double window_time);
void xp_window_free(xp_window *w);
/* Drops what is older than the window at `now`, then records o. */
void xp_window_add(xp_window *w, xp_outcome o, double now);
/* Drops what is older than the window at `now` (time windows; no-op for count windows). */
void xp_window_expire(xp_window *w, double now);
void xp_window_clear(xp_window *w);

#endif
