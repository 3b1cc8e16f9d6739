/* An elastic pool of worker threads for blocking jobs (probes).
 *
 * A few workers stay warm; a job goes straight to the worker that went idle last, and when
 * none is idle a new one starts, up to `cap`; a worker idle for `idle_seconds` beyond the
 * warm ones exits. So memory
 * follows the jobs in flight, not the jobs there could be, and a job that blocks until its
 * deadline (a frozen backend) holds one worker while the others go on. Past the cap, jobs
 * wait in FIFO order for the next free worker.
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
    void *owner; /* for run(): whatever the submitter needs to find */
} xp_pool_job;

struct xp_pool_worker;

typedef struct xp_pool {
    pthread_mutex_t mu;  /* guards every field below, and each worker's hand-over slot */
    pthread_cond_t gone; /* a worker exited */
    xp_pool_job *head, *tail; /* jobs no worker could take yet */
    struct xp_pool_worker *idle_top; /* idle workers, the last one to go idle on top */
    size_t queued;
    size_t threads; /* workers alive */
    size_t idle;    /* workers waiting for a job */
    size_t busy;    /* workers running a job */
    size_t peak;    /* most workers alive at once */
    size_t warm, cap;
    double idle_seconds;
    size_t stack_size;
    int stopping;
    struct xp_pool_worker *exited; /* retired workers not yet joined */
    unsigned long started_total; /* threads ever started, for tests and measurements */
    unsigned long spawn_failures;
} xp_pool;

/* 0 = ok. Starts `warm` workers at once; fails only when not even one can start. */
int xp_pool_init(xp_pool *p, size_t warm, size_t cap, double idle_seconds);
/* Queues the job; starts a worker when none is idle and the cap allows. */
void xp_pool_submit(xp_pool *p, xp_pool_job *job);
/* Refuses new work, hands back the jobs not yet started (linked through ->next), and waits
 * until `deadline` (xp_clock_mono() time) for the running ones. Returns the number of workers
 * still running a job at the deadline (left to process exit; the pool must then not be
 * destroyed). */
size_t xp_pool_stop(xp_pool *p, double deadline, xp_pool_job **unstarted);
void xp_pool_destroy(xp_pool *p); /* after a stop that returned 0 */

typedef struct xp_pool_stats {
    size_t threads, idle, busy, queued, peak;
    unsigned long started_total, spawn_failures;
} xp_pool_stats;
void xp_pool_stats_get(xp_pool *p, xp_pool_stats *out);

#endif
