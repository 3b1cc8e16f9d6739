#include "engine/pool.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

/* A worker's own record. Idle workers wait on their own condition variable in a stack: the
 * worker that went idle last is woken first, its stack and cache still warm, and the ones at
 * the bottom stay idle long enough to time out and exit. (With one shared condition variable
 * every idle worker got woken in turn at a thousand probes a second, so none ever idled for
 * long and the pool never shrank: seen here, 1,028 workers kept for 10,000 dependencies that
 * need a handful.)
 *
 * A worker that exits is joined (and its stack reclaimed) by whoever takes the pool lock
 * next, rather than detached: every thread the pool started is accounted for. */
typedef struct xp_pool_worker {
    pthread_t tid;
    xp_pool *pool;
    pthread_cond_t wake;          /* woken by kick, or stop */
    int woken;                    /* counted in the pool's `waking` until it looks */
    struct xp_pool_worker *below; /* next in the idle stack */
    struct xp_pool_worker *above; /* previous in the idle stack */
    struct xp_pool_worker *next;  /* on the `exited` list once it has retired */
    int idle;                     /* on the idle stack */
} worker;

/* 1 MiB: probes run libpq, hiredis and libcurl with OpenSSL, none of which needs more than
 * a few tens of KiB; the default (8 MiB) only costs address space, but a cap of 1024
 * workers would reserve 8 GiB of it. */
#define STACK_SIZE (1024 * 1024)

static int cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    /* Timeouts on the monotonic clock: a wall-clock jump neither stalls nor kills workers. */
    int ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(c, &ca) == 0;
    pthread_condattr_destroy(&ca);
    return ok ? 0 : -1;
}

/* Joins the workers that have retired. mu held: a retired worker no longer needs mu, so the
 * join only waits for its last few instructions. */
static void reap(xp_pool *p)
{
    while (p->exited) {
        worker *w = p->exited;
        p->exited = w->next;
        pthread_join(w->tid, NULL);
        pthread_cond_destroy(&w->wake);
        free(w);
    }
}

static void idle_push(xp_pool *p, worker *w)
{
    w->above = NULL;
    w->below = p->idle_top;
    if (p->idle_top)
        p->idle_top->above = w;
    p->idle_top = w;
    w->idle = 1;
    p->idle++;
}

static void idle_remove(xp_pool *p, worker *w)
{
    if (w->above)
        w->above->below = w->below;
    else
        p->idle_top = w->below;
    if (w->below)
        w->below->above = w->above;
    w->above = w->below = NULL;
    w->idle = 0;
    p->idle--;
}

static xp_pool_job *queue_pop(xp_pool *p)
{
    xp_pool_job *job = p->head;
    if (job) {
        p->head = job->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        job->next = NULL;
    }
    return job;
}

static void *worker_main(void *arg)
{
    worker *self = arg;
    xp_pool *p = self->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        xp_pool_job *job = queue_pop(p);
        if (self->woken) {
            self->woken = 0;
            p->waking--;
        }
        if (!job) {
            if (p->stopping)
                break;
            idle_push(p, self);
            struct timespec ts = xp_clock_timespec(xp_clock_mono() + p->idle_seconds);
            int rc = 0;
            while (!self->woken && !p->stopping && rc != ETIMEDOUT)
                rc = pthread_cond_timedwait(&self->wake, &p->mu, &ts);
            if (self->idle)
                idle_remove(p, self);
            if (!self->woken && !p->head && !p->stopping && rc == ETIMEDOUT && p->threads > p->warm)
                break;
            continue;
        }
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

/* Starts one worker, which looks at the queue first thing; mu held. 0 = started. */
static int spawn(xp_pool *p)
{
    worker *w = calloc(1, sizeof(*w));
    if (!w)
        goto fail;
    if (cond_init_mono(&w->wake) != 0) {
        free(w);
        goto fail;
    }
    w->pool = p;
    w->woken = 1;
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        (void)pthread_attr_setstacksize(&attr, p->stack_size); /* on failure: the default */
        rc = pthread_create(&w->tid, &attr, worker_main, w);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        pthread_cond_destroy(&w->wake);
        free(w);
        goto fail;
    }
    p->threads++;
    p->waking++;
    p->started_total++;
    if (p->threads > p->peak)
        p->peak = p->threads;
    return 0;
fail:
    p->spawn_failures++;
    return -1;
}

/* Wakes the warmest idle worker, else starts one under the cap; mu held. 0 = done. */
static int wake_one(xp_pool *p)
{
    if (p->idle_top) {
        worker *w = p->idle_top;
        idle_remove(p, w);
        w->woken = 1;
        p->waking++;
        p->wakes_total++;
        pthread_cond_signal(&w->wake);
        return 0;
    }
    if (p->threads >= p->cap || spawn(p) != 0)
        return -1;
    p->wakes_total++;
    return 0;
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
    if (cond_init_mono(&p->gone) != 0) {
        pthread_mutex_destroy(&p->mu);
        return -1;
    }
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->warm; i++)
        if (spawn(p) != 0)
            break;
    int started = p->threads > 0;
    pthread_mutex_unlock(&p->mu);
    if (!started) {
        pthread_cond_destroy(&p->gone);
        pthread_mutex_destroy(&p->mu);
        return -1;
    }
    return 0;
}

void xp_pool_submit(xp_pool *p, xp_pool_job *job, double now)
{
    job->next = NULL;
    job->queued_at = now;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->queued++;
    pthread_mutex_unlock(&p->mu);
}

double xp_pool_kick(xp_pool *p, double now, double lag)
{
    pthread_mutex_lock(&p->mu);
    reap(p);
    double again = INFINITY;
    if (p->head && !p->stopping) {
        size_t awake = p->threads - p->idle;
        if (awake == 0)
            (void)wake_one(p);
        /* Jobs that have waited `lag` are stuck behind busy workers: one more worker for each
         * (those already woken count), at most doubling the awake ones per round, so a burst
         * of quick jobs does not start a thread each. */
        size_t waited = 0;
        for (xp_pool_job *j = p->head; j && now - j->queued_at >= lag; j = j->next)
            waited++;
        size_t want = waited > p->waking ? waited - p->waking : 0;
        size_t limit = awake > 1 ? awake : 1;
        for (size_t i = 0; i < want && i < limit; i++)
            if (wake_one(p) != 0)
                break; /* cap reached or no thread: the queue waits for a free worker */
        /* Look again only if some job has no worker of its own on the way: one woken worker
         * per queued job needs no second look (a probe a second would cost a third wake-up
         * each). */
        if (p->queued > p->waking)
            again = now - p->head->queued_at >= lag ? now + lag : p->head->queued_at + lag;
    }
    pthread_mutex_unlock(&p->mu);
    return again;
}

size_t xp_pool_stop(xp_pool *p, double deadline, xp_pool_job **unstarted)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    *unstarted = p->head;
    p->head = p->tail = NULL;
    p->queued = 0;
    for (worker *w = p->idle_top; w; w = w->below)
        pthread_cond_signal(&w->wake); /* sees `stopping` and exits */
    while (p->threads > 0) {
        struct timespec ts = xp_clock_timespec(deadline);
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
    out->wakes_total = p->wakes_total;
    out->spawn_failures = p->spawn_failures;
    pthread_mutex_unlock(&p->mu);
}
