#include "engine/runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/override.h"
#include "engine/scheduler.h"
#include "engine/watch.h"

struct xp_runtime {
    xp_config *cfg; /* its deps[] entries are hollow: moved into `deps` */
    xp_dep **deps;
    size_t n_deps;
};
typedef struct xp_runtime xp_runtime;

struct xp_runtime_next {
    xp_runtime *rt;
    unsigned char *fresh; /* fresh[i]: rt->deps[i] is new (else shared with the running one) */
    unsigned char *kept;  /* kept[j]: the running runtime's deps[j] goes on in rt */
    size_t reused;
};

/* Serializes start, reload (from prepare to commit/discard) and stop: the running runtime
 * and the scheduler's set of dependencies change only under it. Taken before runtime_mu. */
static pthread_mutex_t ctl_mu = PTHREAD_MUTEX_INITIALIZER;
static int started;  /* under ctl_mu */
static int stopped;  /* under ctl_mu */
static xp_scheduler sched;

/* Guards `current` for readers (snapshots) against the switch; memory work only. */
static pthread_mutex_t runtime_mu = PTHREAD_MUTEX_INITIALIZER;
static xp_runtime *current;

static atomic_ulong version = 1;
static atomic_int reload_ok = 1;
static _Atomic double reload_timestamp;

static void bump(void)
{
    atomic_fetch_add(&version, 1);
    xp_watch_notify(); /* change notification: ETag, long-polls, level events, history */
}

unsigned long xp_runtime_version(void)
{
    return atomic_load(&version);
}

void xp_runtime_lock(void)
{
    pthread_mutex_lock(&runtime_mu);
}

void xp_runtime_unlock(void)
{
    pthread_mutex_unlock(&runtime_mu);
}

static void runtime_free(xp_runtime *rt)
{
    if (!rt)
        return;
    xp_config_free(rt->cfg);
    free(rt->deps);
    free(rt);
}

/* Whether a running dependency may go on unchanged under the settings of a reload. */
static int same_dep(const xp_dep *old, const xp_dep_cfg *cfg)
{
    return xp_dep_cfg_same(&old->cfg, cfg);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* The running dependencies by name, so matching a reload is linear, not quadratic (10,000
 * dependencies: 10^8 comparisons). Open addressing, SIZE_MAX = empty. */
typedef struct name_index {
    size_t *slot;
    size_t mask;
} name_index;

static int index_build(name_index *ix, const xp_runtime *rt)
{
    size_t cap = 16;
    while (rt && cap < rt->n_deps * 2)
        cap *= 2;
    ix->slot = malloc(cap * sizeof(*ix->slot));
    if (!ix->slot)
        return -1;
    memset(ix->slot, 0xff, cap * sizeof(*ix->slot));
    ix->mask = cap - 1;
    for (size_t j = 0; rt && j < rt->n_deps; j++) {
        size_t h = (size_t)name_hash(rt->deps[j]->cfg.name) & ix->mask;
        while (ix->slot[h] != SIZE_MAX)
            h = (h + 1) & ix->mask;
        ix->slot[h] = j;
    }
    return 0;
}

static size_t index_find(const name_index *ix, const xp_runtime *rt, const char *name)
{
    size_t h = (size_t)name_hash(name) & ix->mask;
    for (; ix->slot[h] != SIZE_MAX; h = (h + 1) & ix->mask)
        if (strcmp(rt->deps[ix->slot[h]]->cfg.name, name) == 0)
            return ix->slot[h];
    return SIZE_MAX;
}

static void next_free(xp_runtime_next *n)
{
    if (!n)
        return;
    if (n->rt) {
        /* The config's hollow entries were moved into fresh dependencies: free those; the
         * shared ones belong to the running runtime. */
        for (size_t i = 0; i < n->rt->n_deps; i++)
            if (n->fresh[i])
                xp_dep_free(n->rt->deps[i]);
        runtime_free(n->rt);
    }
    free(n->fresh);
    free(n->kept);
    free(n);
}

/* The test build's fake binary replaces this (tests/fake/hooks.c) to make a reload run out
 * of memory on demand; the exporter links this default, which never fails. */
__attribute__((weak)) int xp_runtime_test_fail_prepare(void)
{
    return 0;
}

/* Everything a reload allocates, done before anything changes. ctl_mu held. */
static xp_runtime_next *prepare(xp_config *cfg, const xp_runtime *prev, char *err,
                                size_t errlen)
{
    size_t n = cfg->n_deps ? cfg->n_deps : 1;
    size_t n_prev = prev && prev->n_deps ? prev->n_deps : 1;
    name_index ix = {NULL, 0};
    xp_runtime_next *next = xp_runtime_test_fail_prepare() ? NULL : calloc(1, sizeof(*next));
    if (!next)
        goto oom;
    next->fresh = calloc(n, 1);
    next->kept = calloc(n_prev, 1);
    next->rt = calloc(1, sizeof(*next->rt));
    if (!next->fresh || !next->kept || !next->rt)
        goto oom;
    next->rt->deps = calloc(n, sizeof(*next->rt->deps));
    if (!next->rt->deps || index_build(&ix, prev) != 0)
        goto oom;
    /* The heap must hold every dependency of the new runtime without growing at commit. */
    if (xp_scheduler_reserve(&sched, cfg->n_deps) != 0)
        goto oom;
    for (size_t i = 0; i < cfg->n_deps; i++) {
        size_t j = prev ? index_find(&ix, prev, cfg->deps[i].name) : SIZE_MAX;
        xp_dep *d;
        if (j != SIZE_MAX && !next->kept[j] && same_dep(prev->deps[j], &cfg->deps[i])) {
            d = prev->deps[j];
            next->kept[j] = 1;
            next->reused++;
        } else {
            d = xp_dep_create(&cfg->deps[i]);
            if (!d)
                goto oom;
            next->fresh[i] = 1;
        }
        next->rt->deps[i] = d;
        next->rt->n_deps = i + 1;
    }
    next->rt->cfg = cfg;
    free(ix.slot);
    return next;

oom:
    free(ix.slot);
    if (next && next->rt && !next->rt->cfg)
        next->rt->cfg = cfg; /* freed with it: fresh dependencies took their settings out */
    if (next && next->rt)
        next_free(next);
    else {
        if (next) {
            free(next->fresh);
            free(next->kept);
            free(next);
        }
        xp_config_free(cfg);
    }
    snprintf(err, errlen, "out of memory");
    return NULL;
}

/* Switches to next; cannot fail. ctl_mu held. */
static void commit(xp_runtime_next *next)
{
    xp_runtime *rt = next->rt;
    pthread_mutex_lock(&runtime_mu);
    xp_runtime *old = current;
    current = rt;
    pthread_mutex_unlock(&runtime_mu);

    /* No reader can reach the old runtime any more: retire what it held and nobody kept. */
    size_t retired = 0;
    for (size_t j = 0; old && j < old->n_deps; j++)
        retired += !next->kept[j];
    if (old)
        xp_scheduler_retire(&sched, old->deps, old->n_deps, next->kept, 0);
    xp_scheduler_add(&sched, rt->deps, rt->n_deps, next->fresh, 1, xp_clock_mono());
    runtime_free(old);
    bump();
    if (old) {
        char kept[24], gone[24];
        snprintf(kept, sizeof(kept), "%zu", next->reused);
        snprintf(gone, sizeof(gone), "%zu", retired);
        xp_log(XP_LOG_INFO, NULL, "config reloaded", "unchanged_dependencies", kept,
               "replaced_or_removed", gone, NULL);
    }
    next->rt = NULL; /* now current's */
    next_free(next);
}

int xp_runtime_start(xp_config *cfg, char *err, size_t errlen)
{
    pthread_mutex_lock(&ctl_mu);
    if (started || stopped) {
        pthread_mutex_unlock(&ctl_mu);
        snprintf(err, errlen, "already started");
        xp_config_free(cfg);
        return -1;
    }
    if (xp_scheduler_init(&sched) != 0) {
        pthread_mutex_unlock(&ctl_mu);
        snprintf(err, errlen, "out of memory");
        xp_config_free(cfg);
        return -1;
    }
    xp_runtime_next *next = prepare(cfg, NULL, err, errlen);
    if (!next || xp_scheduler_start(&sched, err, errlen) != 0) {
        next_free(next);
        xp_scheduler_destroy(&sched);
        pthread_mutex_unlock(&ctl_mu);
        return -1;
    }
    xp_dep_on_change = bump;
    atomic_store(&reload_timestamp, xp_clock_wall());
    commit(next);
    started = 1;
    pthread_mutex_unlock(&ctl_mu);
    return 0;
}

xp_runtime_next *xp_runtime_prepare(xp_config *cfg, char *err, size_t errlen)
{
    pthread_mutex_lock(&ctl_mu);
    if (!started || stopped) {
        pthread_mutex_unlock(&ctl_mu);
        snprintf(err, errlen, "%s", stopped ? "the exporter is stopping" : "not started yet");
        xp_config_free(cfg);
        return NULL;
    }
    /* `current` changes only under ctl_mu, which is held: reading it needs no other lock. */
    xp_runtime_next *next = prepare(cfg, current, err, errlen);
    if (!next)
        pthread_mutex_unlock(&ctl_mu);
    return next; /* ctl_mu stays held until commit or discard */
}

void xp_runtime_commit(xp_runtime_next *next)
{
    commit(next);
    pthread_mutex_unlock(&ctl_mu);
}

void xp_runtime_discard(xp_runtime_next *next)
{
    next_free(next);
    pthread_mutex_unlock(&ctl_mu);
}

int xp_runtime_swap(xp_config *cfg, char *err, size_t errlen)
{
    xp_runtime_next *next = xp_runtime_prepare(cfg, err, errlen);
    if (!next)
        return -1;
    xp_runtime_commit(next);
    return 0;
}

int xp_runtime_set_mode(const char *name, int mode, double seconds, const char *client,
                        xp_mode_change *out)
{
    /* Under ctl_mu: no reload can retire the dependency meanwhile, and a reload that comes
     * next sees the override on the dependency it keeps. */
    pthread_mutex_lock(&ctl_mu);
    xp_dep *d = NULL;
    for (size_t i = 0; started && !stopped && current && i < current->n_deps && !d; i++)
        if (strcmp(current->deps[i]->cfg.name, name) == 0)
            d = current->deps[i];
    if (d) {
        xp_dep_set_mode(d, (xp_mode)mode, seconds, client, xp_clock_mono(), out);
        xp_scheduler_reschedule(&sched, d); /* a trial at once, or a new end to wake for */
    }
    pthread_mutex_unlock(&ctl_mu);
    return d ? 0 : -1;
}

void xp_runtime_reload_result(int ok)
{
    atomic_store(&reload_ok, ok);
    if (ok)
        atomic_store(&reload_timestamp, xp_clock_wall());
    bump();
}

void xp_runtime_stop(double seconds)
{
    pthread_mutex_lock(&ctl_mu);
    if (!started || stopped) {
        stopped = 1;
        pthread_mutex_unlock(&ctl_mu);
        return;
    }
    stopped = 1;
    pthread_mutex_lock(&runtime_mu);
    xp_runtime *rt = current;
    current = NULL;
    pthread_mutex_unlock(&runtime_mu);
    /* Cancel every probe first, so they all wind down at once, then wait for them. */
    for (size_t i = 0; i < rt->n_deps; i++)
        atomic_store(&rt->deps[i]->stop, 1);
    size_t left = xp_scheduler_stop(&sched, xp_clock_mono() + seconds);
    if (left > 0) {
        /* Probes that ignore cancellation: left to process exit. */
        char n[24];
        snprintf(n, sizeof(n), "%zu", left);
        xp_log(XP_LOG_WARN, NULL, "probes still running at shutdown", "probes", n, NULL);
    }
    /* Frees every idle dependency; one still probing is freed by its worker, if ever. */
    xp_scheduler_retire(&sched, rt->deps, rt->n_deps, NULL, 0);
    runtime_free(rt);
    xp_scheduler_destroy(&sched);
    pthread_mutex_unlock(&ctl_mu);
}

/* Grows the snapshot's arrays to hold n dependencies and nf features; they are kept for the
 * next snapshot, so steady-state snapshots allocate nothing. */
static int snapshot_reserve(xp_snapshot *s, size_t n, size_t nf)
{
    if (n > s->cap_deps || !s->deps) {
        size_t c = n ? n : 1;
        const xp_dep_cfg **deps = realloc(s->deps, c * sizeof(*deps));
        if (deps)
            s->deps = deps;
        xp_dep_view *views = realloc(s->views, c * sizeof(*views));
        if (views)
            s->views = views;
        double *scores = realloc(s->scores, c * sizeof(*scores));
        if (scores)
            s->scores = scores;
        xp_health_dep *hd = realloc(s->hdeps, c * sizeof(*hd));
        if (hd)
            s->hdeps = hd;
        if (!deps || !views || !scores || !hd)
            return -1;
        s->cap_deps = c;
    }
    if (nf > s->cap_features || !s->feature_on) {
        size_t c = nf ? nf : 1;
        int *on = realloc(s->feature_on, c * sizeof(*on));
        if (!on)
            return -1;
        s->feature_on = on;
        s->cap_features = c;
    }
    return 0;
}

/* views: copy each dependency's whole view (what the pages show), or only the health model's
 * inputs (what the change tracker needs: a tenth of the bytes and no error texts). */
static int snapshot(xp_snapshot *s, int views)
{
    xp_runtime *rt = current;
    if (!rt)
        return -1;
    size_t n = rt->n_deps, nf = rt->cfg->n_features;
    if (snapshot_reserve(s, n, nf) != 0)
        return -1;
    xp_health_dep *hd = s->hdeps;

    s->cfg = rt->cfg;
    s->n_deps = n;
    s->now_mono = xp_clock_mono();
    s->now_wall = xp_clock_wall();
    s->ready = 1;
    for (size_t i = 0; i < n; i++) {
        xp_dep *d = rt->deps[i];
        s->deps[i] = &d->cfg;
        int probed;
        if (views) {
            xp_dep_view_copy(d, &s->views[i]);
            const xp_dep_view *v = &s->views[i];
            probed = v->probed;
            xp_health_dep_from_breaker(&hd[i], &v->br);
            hd[i].last_success_latency = v->last_success_latency;
        } else {
            pthread_mutex_lock(&d->mu);
            probed = d->v.probed;
            xp_health_dep_from_breaker(&hd[i], &d->v.br);
            hd[i].last_success_latency = d->v.last_success_latency;
            pthread_mutex_unlock(&d->mu);
        }
        if (!probed)
            s->ready = 0;
        hd[i].latency_budget = d->cfg.latency_budget;
        hd[i].weight = d->cfg.weight;
        hd[i].open_level = d->cfg.open_level;
    }
    xp_health_eval(&rt->cfg->degradation, hd, n, rt->cfg->features, nf, s->scores, s->feature_on,
                   &s->health);
    s->reload_ok = atomic_load(&reload_ok);
    s->reload_timestamp = atomic_load(&reload_timestamp);
    return 0;
}

int xp_runtime_snapshot(xp_snapshot *s)
{
    return snapshot(s, 1);
}

int xp_runtime_snapshot_health(xp_snapshot *s)
{
    return snapshot(s, 0);
}

int xp_runtime_ready(void)
{
    pthread_mutex_lock(&runtime_mu);
    int ready = current != NULL;
    for (size_t i = 0; ready && i < current->n_deps; i++) {
        xp_dep *d = current->deps[i];
        pthread_mutex_lock(&d->mu);
        ready = d->v.probed;
        pthread_mutex_unlock(&d->mu);
    }
    pthread_mutex_unlock(&runtime_mu);
    return ready;
}

void xp_snapshot_free(xp_snapshot *s)
{
    free(s->deps);
    free(s->views);
    free(s->scores);
    free(s->feature_on);
    free(s->hdeps);
    memset(s, 0, sizeof(*s));
}

void xp_runtime_stats_get(xp_runtime_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&ctl_mu);
    if (started && !stopped) {
        pthread_mutex_lock(&runtime_mu);
        out->deps = current ? current->n_deps : 0;
        pthread_mutex_unlock(&runtime_mu);
        xp_pool_stats ps;
        xp_pool_stats_get(&sched.pool, &ps);
        out->workers = ps.threads;
        out->workers_idle = ps.idle;
        out->workers_busy = ps.busy;
        out->workers_peak = ps.peak;
        out->queued = ps.queued;
        out->workers_started = ps.started_total;
        pthread_mutex_lock(&sched.mu);
        out->dispatched = sched.dispatched;
        out->rejected = sched.rejected;
        pthread_mutex_unlock(&sched.mu);
    }
    pthread_mutex_unlock(&ctl_mu);
}
