#include "engine/runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/watch.h"

struct xp_runtime {
    xp_config *cfg; /* its deps[] entries are hollow: moved into `deps` */
    xp_dep **deps;
    size_t n_deps;
};

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

static int same_dep(const xp_dep *old, const xp_dep_cfg *cfg)
{
    return xp_dep_cfg_same(&old->cfg, cfg);
}

/* Builds a runtime for cfg, reusing the unchanged dependencies of `prev` (taken out of it:
 * their slots in prev->deps become NULL). */
static xp_runtime *runtime_build(xp_config *cfg, xp_runtime *prev, size_t *reused)
{
    size_t n = cfg->n_deps ? cfg->n_deps : 1;
    xp_runtime *rt = calloc(1, sizeof(*rt));
    /* from[i]: the slot of prev a reused dependency came from, SIZE_MAX for a new one. On
     * failure each goes back to its own slot: feature `requires` index prev's order. */
    size_t *from = calloc(n, sizeof(*from));
    if (rt)
        rt->deps = calloc(n, sizeof(*rt->deps));
    if (!rt || !rt->deps || !from)
        goto fail;
    *reused = 0;
    for (size_t i = 0; i < cfg->n_deps; i++) {
        xp_dep *d = NULL;
        from[i] = SIZE_MAX;
        for (size_t j = 0; prev && j < prev->n_deps; j++) {
            if (prev->deps[j] && same_dep(prev->deps[j], &cfg->deps[i])) {
                d = prev->deps[j];
                prev->deps[j] = NULL;
                from[i] = j;
                (*reused)++;
                break;
            }
        }
        if (!d) {
            d = xp_dep_create(&cfg->deps[i]);
            if (!d)
                goto fail;
        }
        rt->deps[i] = d;
        rt->n_deps = i + 1;
    }
    rt->cfg = cfg;
    free(from);
    return rt;

fail:
    for (size_t i = 0; rt && i < rt->n_deps; i++) {
        if (from[i] != SIZE_MAX)
            prev->deps[from[i]] = rt->deps[i];
        else
            xp_dep_free(rt->deps[i]);
    }
    if (rt)
        free(rt->deps);
    free(rt);
    free(from);
    return NULL;
}

static void start_new(xp_runtime *rt)
{
    for (size_t i = 0; i < rt->n_deps; i++) {
        if (rt->deps[i]->started)
            continue;
        if (xp_dep_start(rt->deps[i]) != 0)
            xp_log(XP_LOG_ERROR, rt->deps[i]->cfg.name, "cannot start probe thread", NULL);
    }
}

int xp_runtime_start(xp_config *cfg, char *err, size_t errlen)
{
    size_t reused;
    xp_runtime *rt = runtime_build(cfg, NULL, &reused);
    if (!rt) {
        snprintf(err, errlen, "out of memory");
        xp_config_free(cfg);
        return -1;
    }
    xp_dep_on_change = bump;
    atomic_store(&reload_timestamp, xp_clock_wall());
    pthread_mutex_lock(&runtime_mu);
    current = rt;
    pthread_mutex_unlock(&runtime_mu);
    start_new(rt);
    return 0;
}

void xp_runtime_swap(xp_config *cfg)
{
    size_t reused = 0;
    pthread_mutex_lock(&runtime_mu);
    xp_runtime *old = current;
    xp_runtime *rt = runtime_build(cfg, old, &reused);
    if (rt)
        current = rt;
    pthread_mutex_unlock(&runtime_mu);
    if (!rt) {
        xp_log(XP_LOG_ERROR, NULL, "reload failed", "error", "out of memory", NULL);
        xp_config_free(cfg);
        xp_runtime_reload_result(0);
        return;
    }
    /* No reader can reach the old runtime any more: retire what it still holds. */
    size_t retired = 0;
    for (size_t j = 0; old && j < old->n_deps; j++) {
        if (old->deps[j]) {
            xp_dep_retire(old->deps[j]);
            retired++;
        }
    }
    runtime_free(old);
    start_new(rt);
    bump();
    char kept[24], gone[24];
    snprintf(kept, sizeof(kept), "%zu", reused);
    snprintf(gone, sizeof(gone), "%zu", retired);
    xp_log(XP_LOG_INFO, NULL, "config reloaded", "unchanged_dependencies", kept,
           "replaced_or_removed", gone, NULL);
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
    pthread_mutex_lock(&runtime_mu);
    xp_runtime *rt = current;
    current = NULL;
    pthread_mutex_unlock(&runtime_mu);
    if (!rt)
        return;
    for (size_t i = 0; i < rt->n_deps; i++)
        xp_dep_signal_stop(rt->deps[i]);
    double until = xp_clock_mono() + seconds;
    for (size_t i = 0; i < rt->n_deps; i++) {
        double left = until - xp_clock_mono();
        if (xp_dep_join(rt->deps[i], left > 0 ? left : 0) != 0) {
            /* A probe that ignores cancellation: leave it to process exit. */
            xp_log(XP_LOG_WARN, rt->deps[i]->cfg.name, "probe still running at shutdown", NULL);
            xp_dep_retire(rt->deps[i]);
        }
    }
    runtime_free(rt);
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

int xp_runtime_snapshot(xp_snapshot *s)
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
        xp_dep_view_copy(d, &s->views[i]);
        const xp_dep_view *v = &s->views[i];
        if (!v->probed)
            s->ready = 0;
        xp_health_dep_from_breaker(&hd[i], &v->br);
        hd[i].latency_budget = d->cfg.latency_budget;
        hd[i].last_success_latency = v->last_success_latency;
        hd[i].weight = d->cfg.weight;
        hd[i].open_level = d->cfg.open_level;
    }
    xp_health_eval(&rt->cfg->degradation, hd, n, rt->cfg->features, nf, s->scores, s->feature_on,
                   &s->health);
    s->reload_ok = atomic_load(&reload_ok);
    s->reload_timestamp = atomic_load(&reload_timestamp);
    return 0;
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
