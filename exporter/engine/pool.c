#include "engine/pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

/* A worker's own record, so a worker that retires can be joined (and its stack reclaimed)
 * by whoever takes the pool lock next, instead of being detached: every thread the pool
 * started is accounted for, which is what the sanitizers and a clean shutdown want. */
typedef struct xp_pool_worker {
    pthread_t tid;
    xp_pool *pool;
    struct xp_pool_worker *next; /* on the pool's `exited` list once it has retired */
} worker;

/* 1 MiB: probes run libpq, hiredis and libcurl with OpenSSL, none of which needs more than
 * a few tens of KiB; the default (8 MiB) only costs address space, but a cap of 1024
 * workers would reserve 8 GiB of it. */
#define STACK_SIZE (1024 * 1024)

static struct timespec mono_ts(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec < 0)
        ts.tv_nsec = 0;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Joins the workers that have retired. Called with mu held: a retired worker no longer
 * needs mu, so the join only waits for its last few instructions. */
static void reap(xp_pool *p)
{
    while (p->exited) {
        worker *w = p->exited;
        p->exited = w->next;
        pthread_join(w->tid, NULL);
        free(w);
    }
}

static void *worker_main(void *arg)
{
    worker *self = arg;
    xp_pool *p = self->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        int timed_out = 0;
        while (!p->head && !p->stopping) {
            struct timespec ts = mono_ts(xp_clock_mono() + p->idle_seconds);
            p->idle++;
            int rc = pthread_cond_timedwait(&p->work, &p->mu, &ts);
            p->idle--;
            if (rc == ETIMEDOUT) {
                timed_out = 1;
                break;
            }
        }
        if (p->stopping || (!p->head && timed_out && p->threads > p->warm))
            break;
        if (!p->head)
            continue;
        xp_pool_job *job = p->head;
        p->head = job->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        job->next = NULL;
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        job->run(job);
        pthread_mutex_lock(&p->mu);
        p->busy--;
    }
    p->threads--;
    self->next = p->exited;
    p->exited = self;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Starts one worker; mu held. 0 = started. */
static int spawn(xp_pool *p)
{
    worker *w = calloc(1, sizeof(*w));
    if (!w)
        goto fail;
    w->pool = p;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) {
        free(w);
        goto fail;
    }
    (void)pthread_attr_setstacksize(&attr, p->stack_size); /* on failure: the default */
    int rc = pthread_create(&w->tid, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(w);
        goto fail;
    }
    p->threads++;
    p->started_total++;
    if (p->threads > p->peak)
        p->peak = p->threads;
    return 0;
fail:
    p->spawn_failures++;
    return -1;
}

int xp_pool_init(xp_pool *p, size_t warm, size_t cap, double idle_seconds)
{
    memset(p, 0, sizeof(*p));
    p->warm = warm ? warm : 1;
    p->cap = cap > p->warm ? cap : p->warm;
    p->idle_seconds = idle_seconds > 0 ? idle_seconds : 1;
    p->stack_size = STACK_SIZE;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        return -1;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        goto fail_mu;
    /* Idle timeouts on the monotonic clock: a wall-clock jump neither stalls nor kills
     * workers. */
    int ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&p->work, &ca) == 0;
    if (ok && pthread_cond_init(&p->gone, &ca) != 0) {
        pthread_cond_destroy(&p->work);
        ok = 0;
    }
    pthread_condattr_destroy(&ca);
    if (!ok)
        goto fail_mu;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->warm; i++)
        if (spawn(p) != 0)
            break;
    int started = p->threads > 0;
    pthread_mutex_unlock(&p->mu);
    if (!started) {
        pthread_cond_destroy(&p->gone);
        pthread_cond_destroy(&p->work);
        goto fail_mu;
    }
    return 0;
fail_mu:
    pthread_mutex_destroy(&p->mu);
    return -1;
}

void xp_pool_submit(xp_pool *p, xp_pool_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->mu);
    reap(p);
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->queued++;
    /* Every queued job needs a worker of its own now, or it waits behind a job that may
     * block until its deadline. If no worker can start (cap, or no memory for a thread),
     * it waits for the next free one: delayed, never lost. */
    if (p->queued > p->idle && p->threads < p->cap && !p->stopping)
        (void)spawn(p);
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

size_t xp_pool_stop(xp_pool *p, double deadline, xp_pool_job **unstarted)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    *unstarted = p->head;
    p->head = p->tail = NULL;
    p->queued = 0;
    pthread_cond_broadcast(&p->work);
    while (p->threads > 0) {
        struct timespec ts = mono_ts(deadline);
        if (pthread_cond_timedwait(&p->gone, &p->mu, &ts) == ETIMEDOUT)
            break;
    }
    reap(p);
    size_t left = p->threads;
    pthread_mutex_unlock(&p->mu);
    return left;
}

void xp_pool_destroy(xp_pool *p)
{
    pthread_cond_destroy(&p->gone);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
}

void xp_pool_stats_get(xp_pool *p, xp_pool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    out->threads = p->threads;
    out->idle = p->idle;
    out->busy = p->busy;
    out->queued = p->queued;
    out->peak = p->peak;
    out->started_total = p->started_total;
    out->spawn_failures = p->spawn_failures;
    pthread_mutex_unlock(&p->mu);
}
