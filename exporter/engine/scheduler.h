/* One thread that knows when every dependency probes next, and hands due probes to the
 * elastic worker pool.
 *
 * The dependencies wait in a min-heap keyed by their next wake-up (engine/schedule.h
 * decides what a wake-up means); the thread sleeps on the monotonic clock until the
 * earliest, pops everything due, and either counts a rejected tick (OPEN) or submits the
 * probe to the pool. A dependency with a probe in flight is out of the heap: it goes back,
 * re-armed past the probe's end, when the probe is recorded. So memory and threads follow
 * the probes in flight, a frozen backend holds one worker per hung probe, and nobody's
 * schedule waits on anybody's backend.
 *
 * Locks: `mu` guards the heap and the scheduling fields of every dependency (sched, due,
 * heap_index, busy, retired). It is taken before a dependency's `mu` (to read its breaker)
 * and before the pool's lock, never the other way round, and never across I/O. */
#ifndef XP_SCHEDULER_H
#define XP_SCHEDULER_H

#include <pthread.h>
#include <stddef.h>

#include "engine/dep.h"
#include "engine/pool.h"

/* A heap entry: the dependency and its key, side by side (see scheduler.c). */
typedef struct xp_sched_slot {
    double due;
    xp_dep *d;
} xp_sched_slot;

typedef struct xp_scheduler {
    pthread_mutex_t mu; /* see above */
    pthread_cond_t cv;  /* the earliest wake-up moved earlier, or stop */
    xp_sched_slot *heap;
    size_t n, cap;
    int stopping;
    int running;   /* the thread was started and not yet joined */
    int pool_live; /* the pool was started and may not be destroyed yet */
    pthread_t thread;
    xp_pool pool;
    /* Tests drive the heap without thread or pool: due probes go to this callback (called
     * with mu held: it only notes the dependency), and the test calls xp_scheduler_done()
     * for it later. NULL in the exporter. */
    void (*dispatch)(xp_dep *d, void *arg);
    void *dispatch_arg;
    unsigned long dispatched, rejected; /* totals, for tests and measurements */
} xp_scheduler;

/* Warm workers, the cap on probes in flight, and how long a surplus worker idles before it
 * exits. See docs/architecture.md, "Engine", for the measurements behind them. */
#define XP_POOL_WARM 4
#define XP_POOL_CAP 1024
#define XP_POOL_IDLE_SECONDS 10.0

int xp_scheduler_init(xp_scheduler *s);
/* Starts the thread and the pool. 0 = ok; else err says why. */
int xp_scheduler_start(xp_scheduler *s, char *err, size_t errlen);
/* Makes room in the heap for n dependencies, so add() cannot fail afterwards. 0 = ok. */
int xp_scheduler_reserve(xp_scheduler *s, size_t n);
/* New dependencies: the first probe of each is due at `now`. Takes deps[i] when mask is
 * NULL or mask[i] == want; all under one lock, so a start of 10,000 does not fight the
 * thread dispatching the first of them. Needs room (reserve). */
void xp_scheduler_add(xp_scheduler *s, xp_dep *const *deps, size_t n, const unsigned char *mask,
                      unsigned char want, double now);
/* Dependencies the runtime lets go (same selection): each probe in flight is cancelled, and
 * each dependency is freed once no probe of it is queued or running (at once when idle). */
void xp_scheduler_retire(xp_scheduler *s, xp_dep *const *deps, size_t n,
                         const unsigned char *mask, unsigned char want);
/* The breaker of d changed outside a probe (a run-time mode): recompute its wake-up. */
void xp_scheduler_reschedule(xp_scheduler *s, xp_dep *d);
/* Handles everything due at `now` and returns the next wake-up (INFINITY when none). */
double xp_scheduler_run_due(xp_scheduler *s, double now);
/* Runs what was dispatched for d (its probe, or the end of its run-time mode) on the calling
 * thread, then xp_scheduler_done(). What the pool's workers run; tests call it for what
 * their dispatch callback noted. */
void xp_scheduler_job(xp_scheduler *s, xp_dep *d);
/* A dispatched probe of d has been recorded and ended at `end`: back to the heap (or freed,
 * if retired meanwhile). */
void xp_scheduler_done(xp_scheduler *s, xp_dep *d, double end);
/* Stops the thread and the pool, cancelling what runs: every dependency still owned by the
 * caller gets its stop flag from the caller. Waits until `deadline` (monotonic) for running
 * probes; returns how many were still running (their dependencies stay busy and must not
 * be freed). */
size_t xp_scheduler_stop(xp_scheduler *s, double deadline);
void xp_scheduler_destroy(xp_scheduler *s); /* after a stop that returned 0 */

#endif
