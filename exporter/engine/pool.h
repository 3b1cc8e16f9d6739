/* An elastic pool of worker threads for blocking jobs (probes).
 *
 * Jobs wait in one FIFO queue; an awake worker takes the next job as soon as it finishes
 * one, so a burst of quick probes costs one thread wake-up, not one each. The submitter
 * (the scheduler) calls xp_pool_kick() once per round: it wakes a worker when none is awake,
 * and when jobs have waited longer than `lag` (the awake workers are busy, maybe blocked on
 * a frozen backend) it wakes or starts more, up to `cap`, at most doubling the awake workers
 * per round. So a job never waits behind a blocked probe for more than about `lag`, and
 * threads follow the probes in flight: idle workers wait in a stack, the last to go idle is
 * woken first, and those beyond `warm` that stay idle for `idle_seconds` exit.
 *
 * Jobs are intrusive (an xp_pool_job inside the caller's struct): submitting never
 * allocates, so it cannot fail. */
#ifndef XP_POOL_H
#define XP_POOL_H

#include <pthread.h>
#include <stddef.h>

typedef struct xp_pool_job {
    struct xp_pool_job *next; /* the pool's queue link */
    void (*run)(struct xp_pool_job *job);
    void *owner;      /* for run(): whatever the submitter needs to find */
    double queued_at; /* monotonic */
} xp_pool_job;

struct xp_pool_worker;

typedef struct xp_pool {
    pthread_mutex_t mu;  /* guards every field below, and each worker's record */
    pthread_cond_t gone; /* a worker exited */
    xp_pool_job *head, *tail;
    size_t queued;
    struct xp_pool_worker *idle_top; /* idle workers, the last one to go idle on top */
    struct xp_pool_worker *exited;   /* retired workers not yet joined */
    size_t threads; /* workers alive */
    size_t idle;    /* workers waiting for a wake-up */
    size_t waking;  /* workers woken or started that have not looked at the queue yet */
    size_t busy;    /* workers running a job */
    size_t peak;    /* most workers alive at once */
    size_t warm, cap;
    double idle_seconds;
    size_t stack_size;
    int stopping;
    unsigned long started_total; /* threads ever started, for tests and measurements */
    unsigned long wakes_total;   /* wake-ups and starts handed out by kick */
    unsigned long spawn_failures;
} xp_pool;

/* 0 = ok. Starts `warm` workers at once; fails only when not even one can start. */
int xp_pool_init(xp_pool *p, size_t warm, size_t cap, double idle_seconds);
/* Queues the job (at `now`, monotonic); nothing runs it until the next kick or until an
 * awake worker finishes its job. */
void xp_pool_submit(xp_pool *p, xp_pool_job *job, double now);
/* Makes sure queued jobs get workers (see above). Returns when it should be called again at
 * the latest: INFINITY with nothing queued. */
double xp_pool_kick(xp_pool *p, double now, double lag);
/* Refuses new work, hands back the jobs not yet started (linked through ->next), and waits
 * until `deadline` (xp_clock_mono() time) for the running ones. Returns the number of workers
 * still running a job at the deadline (left to process exit; the pool must then not be
 * destroyed). */
size_t xp_pool_stop(xp_pool *p, double deadline, xp_pool_job **unstarted);
void xp_pool_destroy(xp_pool *p); /* after a stop that returned 0 */

typedef struct xp_pool_stats {
    size_t threads, idle, busy, queued, peak;
    unsigned long started_total, wakes_total, spawn_failures;
} xp_pool_stats;
void xp_pool_stats_get(xp_pool *p, xp_pool_stats *out);

#endif
