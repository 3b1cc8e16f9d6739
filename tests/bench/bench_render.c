/* Micro-benchmark: rendering the full /metrics body (xp_render_metrics) from a snapshot of the
 * shipped staging config (4 dependencies, 16 features) with every dependency probed and every
 * backend detail present, i.e. the largest body that config produces.
 *
 * Reports nanoseconds per render and heap calls per render, twice: with one buffer reused
 * across renders (what a server that keeps its buffer pays) and with a fresh buffer each time.
 * Heap calls are counted by wrapping malloc/calloc/realloc/free at link time
 * (-Wl,--wrap=...), which sees every call made from our own objects; calls that libc makes
 * internally (none are expected on this path) are not seen.
 *
 * Env: XP_RENDER_SECONDS (default 1.0) per variant. Exit 0 unless rendering fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "config/config.h"
#include "expo/render.h"

static unsigned long n_malloc, n_calloc, n_realloc, n_free;

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

void *__wrap_malloc(size_t n)
{
    n_malloc++;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t a, size_t b)
{
    n_calloc++;
    return __real_calloc(a, b);
}
void *__wrap_realloc(void *p, size_t n)
{
    n_realloc++;
    return __real_realloc(p, n);
}
void __wrap_free(void *p)
{
    if (p)
        n_free++;
    __real_free(p);
}

static unsigned long heap_calls(void)
{
    return n_malloc + n_calloc + n_realloc;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every dependency probed a few hundred times, one breaker OPEN so every family has
 * non-trivial values, every detail series present. */
static void fill_snapshot(xp_config *cfg, xp_snapshot *s)
{
    size_t n = cfg->n_deps, nf = cfg->n_features;
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->n_deps = n;
    s->deps = calloc(n, sizeof(*s->deps));
    s->views = calloc(n, sizeof(*s->views));
    s->scores = calloc(n, sizeof(*s->scores));
    s->hdeps = calloc(n, sizeof(*s->hdeps));
    s->feature_on = calloc(nf ? nf : 1, sizeof(*s->feature_on));
    if (!s->deps || !s->views || !s->scores || !s->hdeps || !s->feature_on) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    s->now_mono = 10000.0;
    s->now_wall = 1790000000.123;
    s->ready = 1;
    s->reload_ok = 1;
    s->reload_timestamp = 1789990000.0;
    for (size_t i = 0; i < n; i++) {
        const xp_dep_cfg *d = &cfg->deps[i];
        xp_dep_view *v = &s->views[i];
        s->deps[i] = d;
        xp_breaker_cfg bc = {.failure_threshold = d->failure_threshold,
                             .recovery_timeout = d->recovery_timeout,
                             .half_open_requests = d->half_open_requests};
        xp_window w; /* a rendered view never needs its window */
        if (xp_breaker_init(&v->br, &w, &bc) != 0) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        xp_window_free(&w);
        v->br.calls[XP_CALL_SUCCESS] = 1000 + 17 * i;
        v->br.calls[XP_CALL_FAILURE] = 3 + i;
        v->br.calls[XP_CALL_REJECTED] = 2 * i;
        v->br.transitions[XP_T_CLOSED_OPEN] = i;
        if (i == 1) { /* one breaker OPEN, recovering */
            v->br.state = XP_OPEN;
            v->br.consecutive_failures = d->failure_threshold;
            v->br.opened_at = s->now_mono - 5.5;
            v->br.recovery_wait = d->recovery_timeout;
        }
        v->probed = 1;
        v->last_success = i != 1;
        v->last_duration = 0.0123 * (double)(i + 1);
        v->last_timestamp = s->now_wall - 1.5;
        v->failure_timestamp = s->now_wall - 30.25;
        v->last_success_latency = 0.0042 * (double)(i + 1);
        for (int k = 0; k < XP_BUCKET_COUNT; k++)
            v->bucket[k] = (uint64_t)(k * 7 + i);
        v->count = 0;
        for (int k = 0; k < XP_BUCKET_COUNT; k++)
            v->count += v->bucket[k];
        v->sum = 12.345678 * (double)(i + 1);
        for (int k = 0; k < XP_DETAIL_MAX; k++)
            v->detail[k] = k < (int)d->collector->n_details ? 1234567.0 * (k + 1) + (double)i : NAN;

        xp_health_dep *h = &s->hdeps[i];
        xp_health_dep_from_breaker(h, &v->br);
        h->latency_budget = d->latency_budget;
        h->last_success_latency = v->last_success_latency;
        h->weight = d->weight;
        h->open_level = d->open_level;
    }
    xp_health_eval(&cfg->degradation, s->hdeps, n, cfg->features, nf, s->scores, s->feature_on,
                   &s->health);
}

typedef struct result {
    double ns;
    double calls;
    unsigned long iters;
} result;

static result run(const xp_snapshot *s, const xp_procstat *ps, int reuse, double seconds,
                  size_t *body_len)
{
    xp_buf b;
    xp_buf_init(&b);
    result r = {0, 0, 0};
    /* Warm up (and size the reused buffer). */
    for (int i = 0; i < 200; i++) {
        xp_buf_reset(&b);
        if (xp_render_metrics(s, ps, &b) != 0) {
            fprintf(stderr, "xp_render_metrics failed\n");
            exit(1);
        }
    }
    *body_len = b.len;
    if (!reuse)
        xp_buf_free(&b);

    unsigned long calls0 = heap_calls();
    double t0 = now(), t = t0;
    unsigned long iters = 0;
    while (t - t0 < seconds) {
        for (int i = 0; i < 100; i++) {
            if (reuse) {
                xp_buf_reset(&b);
            } else {
                xp_buf_init(&b);
            }
            if (xp_render_metrics(s, ps, &b) != 0) {
                fprintf(stderr, "xp_render_metrics failed\n");
                exit(1);
            }
            if (!reuse)
                xp_buf_free(&b);
        }
        iters += 100;
        t = now();
    }
    r.iters = iters;
    r.ns = (t - t0) * 1e9 / (double)iters;
    r.calls = (double)(heap_calls() - calls0) / (double)iters;
    xp_buf_free(&b);
    return r;
}

int main(void)
{
    char err[XP_CONFIG_ERR_MAX];
    xp_config *cfg = xp_config_load_builtin(err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "cannot load the built-in config: %s\n", err);
        return 1;
    }
    const char *sec = getenv("XP_RENDER_SECONDS");
    double seconds = sec ? atof(sec) : 1.0;
    if (!(seconds > 0))
        seconds = 1.0;

    xp_snapshot s;
    fill_snapshot(cfg, &s);
    xp_procstat ps = {12.34, 8388608.0, 123456789.0, 12.0, 1048576.0, 1789990000.0};

    size_t len = 0;
    result reused = run(&s, &ps, 1, seconds, &len);
    result fresh = run(&s, &ps, 0, seconds, &len);

    printf("render: %zu bytes, %zu dependencies, %zu features\n", len, cfg->n_deps,
           cfg->n_features);
    printf("reused buffer: %.0f ns/render (%.1f MB/s), %.2f heap calls/render (%lu renders)\n",
           reused.ns, (double)len / reused.ns * 1e3, reused.calls, reused.iters);
    printf("fresh buffer:  %.0f ns/render (%.1f MB/s), %.2f heap calls/render (%lu renders)\n",
           fresh.ns, (double)len / fresh.ns * 1e3, fresh.calls, fresh.iters);

    free(s.deps);
    free(s.views);
    free(s.scores);
    free(s.hdeps);
    free(s.feature_on);
    xp_config_free(cfg);
    return 0;
}
