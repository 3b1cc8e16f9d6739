#include "engine/scheduler.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "engine/override.h"

/* Longest single sleep: the thread looks at the clock at least this often, so no value of
 * a due time (however far, however rounded) can make it sleep past its work for long. */
#define MAX_SLEEP 60.0
/* Shortest sleep between two rounds of dispatching: what is due within it goes out together,
 * and one awake worker runs the round's quick probes one after the other. At 1,000 probes a
 * second that is 200 rounds, each a thread wake-up or two, instead of two wake-ups per probe
 * (in a VM each costs about as much as probing a local Redis). A probe starts at most about
 * this late; the grid itself does not move. */
#define BATCH 0.005
/* How long a due probe may wait in the queue behind busy workers before more are woken. */
#define LAG 0.005

/* ---- the heap: (due, xp_dep) pairs ordered by due, each dependency knowing its index ----
 * The key sits in the array next to the pointer: a sift compares keys without touching the
 * dependencies, which are large and scattered (at 10,000 of them, reading d->due on each of
 * the 14 levels was a cache miss each, 8 % of the engine's CPU). */

static void heap_set(xp_scheduler *s, size_t i, xp_sched_slot e)
{
    s->heap[i] = e;
    e.d->heap_index = i;
}

static void sift_up(xp_scheduler *s, size_t i)
{
    xp_sched_slot e = s->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s->heap[parent].due <= e.due)
            break;
        heap_set(s, i, s->heap[parent]);
        i = parent;
    }
    heap_set(s, i, e);
}

static void sift_down(xp_scheduler *s, size_t i)
{
    xp_sched_slot e = s->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        double key = e.due;
        if (l < s->n && s->heap[l].due < key) {
            m = l;
            key = s->heap[l].due;
        }
        if (r < s->n && s->heap[r].due < key)
            m = r;
        if (m == i)
            break;
        heap_set(s, i, s->heap[m]);
        i = m;
    }
    heap_set(s, i, e);
}

/* Room was reserved (xp_scheduler_reserve), so this cannot fail. */
static void heap_push(xp_scheduler *s, xp_dep *d)
{
    size_t i = s->n++;
    heap_set(s, i, (xp_sched_slot){d->due, d});
    sift_up(s, i);
    if (d->heap_index == 0)
        pthread_cond_signal(&s->cv); /* the earliest wake-up moved earlier */
}

static void heap_remove(xp_scheduler *s, xp_dep *d)
{
    size_t i = d->heap_index;
    d->heap_index = SIZE_MAX;
    xp_sched_slot last = s->heap[--s->n];
    if (i == s->n)
        return;
    heap_set(s, i, last);
    sift_down(s, i);
    sift_up(s, last.d->heap_index);
}

/* ---- arming ---- */

/* Puts d back in the heap at its next wake-up: its next probe, or the end of its run-time
 * mode if that comes first. mu held. */
static void arm(xp_scheduler *s, xp_dep *d)
{
    pthread_mutex_lock(&d->mu);
    d->due = xp_sched_wake(&d->sched, &d->v.br);
    double until = xp_dep_mode_until(d);
    if (until < d->due)
        d->due = until;
    pthread_mutex_unlock(&d->mu);
    heap_push(s, d);
}

void xp_scheduler_job(xp_scheduler *s, xp_dep *d)
{
    /* Logged here, not on the scheduler's thread: a slow log sink may delay one probe, never
     * the schedule of all of them. The end of a run-time mode is logged and recorded the same
     * way. */
    if (d->mode_expiry) {
        xp_dep_expire_mode(d, xp_clock_mono());
    } else {
        if (d->start_transition != XP_T_NONE)
            xp_dep_log_transition(d, d->start_transition, NULL, NULL, NULL);
        xp_dep_probe(d);
    }
    xp_scheduler_done(s, d, xp_clock_mono());
}

static void probe_job(xp_pool_job *job)
{
    xp_dep *d = (xp_dep *)((char *)job - offsetof(xp_dep, job));
    xp_scheduler_job(job->owner, d);
}

int xp_scheduler_init(xp_scheduler *s)
{
    memset(s, 0, sizeof(*s));
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return -1;
    pthread_condattr_t ca;
    int ok = pthread_condattr_init(&ca) == 0;
    /* Sleeps on the monotonic clock: a wall-clock jump can neither skip nor stall probes. */
    if (ok) {
        ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
             pthread_cond_init(&s->cv, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!ok) {
        pthread_mutex_destroy(&s->mu);
        return -1;
    }
    return 0;
}

int xp_scheduler_reserve(xp_scheduler *s, size_t n)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (n > s->cap) {
        size_t cap = s->cap ? s->cap : 16;
        while (cap < n)
            cap *= 2;
        xp_sched_slot *h = realloc(s->heap, cap * sizeof(*h));
        if (h) {
            s->heap = h;
            s->cap = cap;
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int selected(const unsigned char *mask, unsigned char want, size_t i)
{
    return !mask || mask[i] == want;
}

void xp_scheduler_add(xp_scheduler *s, xp_dep *const *deps, size_t n, const unsigned char *mask,
                      unsigned char want, double now)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        if (!selected(mask, want, i))
            continue;
        xp_dep *d = deps[i];
        d->job.owner = s;
        d->job.run = probe_job;
        xp_sched_init(&d->sched, d->cfg.interval, xp_sched_phase(d->cfg.name), now);
        d->busy = 0;
        d->retired = 0;
        if (!s->stopping)
            arm(s, d);
    }
    pthread_mutex_unlock(&s->mu);
}

void xp_scheduler_retire(xp_scheduler *s, xp_dep *const *deps, size_t n,
                         const unsigned char *mask, unsigned char want)
{
    for (size_t i = 0; i < n; i++)
        if (selected(mask, want, i))
            atomic_store(&deps[i]->stop, 1); /* a running probe ends early, records nothing */
    /* The idle ones are collected through their (unused) queue link and freed outside the
     * lock, since closing a collector's connections is I/O. A busy one must not be touched
     * after the lock is dropped: its worker may free it at any moment. */
    xp_pool_job *idle = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        if (!selected(mask, want, i))
            continue;
        xp_dep *d = deps[i];
        if (d->heap_index != SIZE_MAX)
            heap_remove(s, d);
        d->retired = 1;
        if (!d->busy) {
            d->job.next = idle;
            idle = &d->job;
        }
    }
    pthread_mutex_unlock(&s->mu);
    while (idle) {
        xp_dep *d = (xp_dep *)((char *)idle - offsetof(xp_dep, job));
        idle = idle->next;
        xp_dep_free(d);
    }
}

void xp_scheduler_reschedule(xp_scheduler *s, xp_dep *d)
{
    pthread_mutex_lock(&s->mu);
    if (d->heap_index != SIZE_MAX) {
        heap_remove(s, d);
        arm(s, d);
    }
    pthread_mutex_unlock(&s->mu);
}

/* mu held. */
static double run_due(xp_scheduler *s, double now)
{
    while (s->n > 0 && s->heap[0].due <= now && !s->stopping) {
        xp_dep *d = s->heap[0].d;
        heap_remove(s, d);
        xp_transition t = XP_T_NONE;
        pthread_mutex_lock(&d->mu);
        /* A run-time mode that ran out goes first: ending it may make a trial due at once
         * (leaving forced_open), which the next round then dispatches. */
        int expiry = xp_dep_mode_expired(d, now);
        xp_sched_action a = expiry ? XP_SCHED_PROBE : xp_sched_step(&d->sched, &d->v.br, now, &t);
        pthread_mutex_unlock(&d->mu);
        d->mode_expiry = expiry;
        if (a != XP_SCHED_PROBE) {
            if (a == XP_SCHED_REJECTED) {
                s->rejected++;
                xp_dep_changed(); /* a rejected tick moves circuit_breaker_calls_total */
            }
            arm(s, d);
            continue;
        }
        d->busy = 1;
        d->start_transition = t;
        s->dispatched += !expiry;
        if (s->dispatch)
            s->dispatch(d, s->dispatch_arg);
        else
            xp_pool_submit(&s->pool, &d->job, now);
    }
    return s->n > 0 ? s->heap[0].due : INFINITY;
}

double xp_scheduler_run_due(xp_scheduler *s, double now)
{
    pthread_mutex_lock(&s->mu);
    double next = run_due(s, now);
    pthread_mutex_unlock(&s->mu);
    return next;
}

void xp_scheduler_done(xp_scheduler *s, xp_dep *d, double end)
{
    pthread_mutex_lock(&s->mu);
    d->busy = 0;
    int free_now = d->retired;
    if (!free_now) {
        /* Ending a run-time mode took no time on the grid: a tick due meanwhile still runs. */
        if (!d->mode_expiry)
            xp_sched_done(&d->sched, end);
        d->mode_expiry = 0;
        if (!s->stopping)
            arm(s, d);
    }
    pthread_mutex_unlock(&s->mu);
    if (free_now)
        xp_dep_free(d);
}

static void *scheduler_main(void *arg)
{
    xp_scheduler *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        double now = xp_clock_mono();
        double next = run_due(s, now);
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->mu); /* workers re-arming need it while we kick */
        double check = xp_pool_kick(&s->pool, now, LAG);
        pthread_mutex_lock(&s->mu);
        if (check < next)
            next = check;
        if (s->n > 0 && s->heap[0].due < next)
            next = s->heap[0].due; /* re-armed while the lock was free */
        if (next < now + BATCH)
            next = now + BATCH;
        if (next > now + MAX_SLEEP)
            next = now + MAX_SLEEP;
        struct timespec ts = xp_clock_timespec(next);
        (void)pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int xp_scheduler_start(xp_scheduler *s, char *err, size_t errlen)
{
    if (xp_pool_init(&s->pool, XP_POOL_WARM, XP_POOL_CAP, XP_POOL_IDLE_SECONDS) != 0) {
        snprintf(err, errlen, "cannot start probe workers: %s", strerror(errno ? errno : EAGAIN));
        return -1;
    }
    int rc = pthread_create(&s->thread, NULL, scheduler_main, s);
    if (rc != 0) {
        xp_pool_job *none;
        (void)xp_pool_stop(&s->pool, xp_clock_mono() + 1, &none);
        xp_pool_destroy(&s->pool);
        snprintf(err, errlen, "cannot start the scheduler thread: %s", strerror(rc));
        return -1;
    }
    s->running = 1;
    s->pool_live = 1;
    return 0;
}

size_t xp_scheduler_stop(xp_scheduler *s, double deadline)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->running) {
        pthread_join(s->thread, NULL);
        s->running = 0;
    }
    if (!s->pool_live)
        return 0;
    xp_pool_job *unstarted = NULL;
    size_t left = xp_pool_stop(&s->pool, deadline, &unstarted);
    if (left == 0)
        xp_pool_destroy(&s->pool);
    /* Probes that never started: their dependencies are idle again (or, if retired, freed). */
    while (unstarted) {
        xp_pool_job *j = unstarted;
        unstarted = j->next;
        xp_dep *d = (xp_dep *)((char *)j - offsetof(xp_dep, job));
        xp_scheduler_done(s, d, xp_clock_mono());
    }
    s->pool_live = left > 0; /* a pool with workers left must never be destroyed */
    return left;
}

void xp_scheduler_destroy(xp_scheduler *s)
{
    if (s->running || s->pool_live)
        return; /* workers may still call back: leave it all to process exit */
    free(s->heap);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}
