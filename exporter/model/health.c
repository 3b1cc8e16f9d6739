#include "model/health.h"

#include "model/level.h"

/* A score within this of a threshold counts as reaching it: 69.99999999 is 70. */
#define XP_SCORE_EPS 1e-9

void xp_health_dep_from_breaker(xp_health_dep *d, const xp_breaker *b)
{
    d->state = b->state;
    d->consecutive_failures = b->consecutive_failures;
    d->failure_threshold = b->cfg.failure_threshold;
    d->failure_rate = xp_breaker_failure_rate(b);
    d->slow_call_rate = xp_breaker_slow_call_rate(b);
    d->failure_rate_threshold = b->cfg.failure_rate_threshold;
    d->slow_call_rate_threshold = b->cfg.slow_call_rate_threshold;
    d->mode = b->mode;
}

/* 1 - rate / threshold where the threshold is set and the rate known, else no term (1). */
static double rate_term(double rate, double threshold)
{
    return threshold > 0 && rate >= 0 ? 1 - rate / threshold : 1;
}

double xp_health_dep_score(const xp_health_dep *d)
{
    if (d->state == XP_OPEN)
        return 0;
    if (d->state == XP_HALF_OPEN)
        return 50;
    /* CLOSED: the worst of the three ways to trip, each 1 far from it and 0 at it. Past a
     * threshold (a disabled breaker keeps counting) the term goes negative: clamped at 0. */
    double s = d->failure_threshold ? 1 - (double)d->consecutive_failures / d->failure_threshold
                                    : 1;
    double fr = rate_term(d->failure_rate, d->failure_rate_threshold);
    double sr = rate_term(d->slow_call_rate, d->slow_call_rate_threshold);
    if (fr < s)
        s = fr;
    if (sr < s)
        s = sr;
    if (s < 0)
        s = 0;
    double latency = 1;
    if (d->last_success_latency > d->latency_budget && d->last_success_latency > 0) {
        latency = d->latency_budget / d->last_success_latency;
        if (latency < 0.5)
            latency = 0.5;
    }
    return 100 * s * latency;
}

int xp_health_dep_counts_closed(const xp_health_dep *d)
{
    return d->state == XP_CLOSED || d->mode == XP_MODE_METRICS_ONLY;
}

int xp_health_level_for_score(const xp_degradation_cfg *deg, double score)
{
    for (int level = 0; level < 4; level++)
        if (score + XP_SCORE_EPS >= deg->threshold[level])
            return level;
    return XP_LEVEL_EMERGENCY;
}

int xp_health_cascade_level(const xp_degradation_cfg *deg, size_t not_closed)
{
    /* Steps are sorted by count: the last one not above not_closed applies, so a count
     * past the largest key keeps that key's level. */
    int level = XP_LEVEL_OPTIMAL;
    for (size_t i = 0; i < deg->n_cascade; i++)
        if (deg->cascade[i].count <= not_closed)
            level = deg->cascade[i].level;
    return level;
}

void xp_health_eval(const xp_degradation_cfg *deg, const xp_health_dep *deps, size_t n_deps,
                    const xp_feature_cfg *features, size_t n_features, double *scores,
                    int *feature_on, xp_health_result *out)
{
    double wsum = 0, total = 0;
    size_t not_closed = 0;
    int open_level = XP_LEVEL_OPTIMAL;
    for (size_t i = 0; i < n_deps; i++) {
        scores[i] = xp_health_dep_score(&deps[i]);
        /* Shadow mode: shown, never counted. */
        if (deps[i].mode == XP_MODE_METRICS_ONLY)
            continue;
        wsum += deps[i].weight;
        total += deps[i].weight * scores[i];
        /* HALF_OPEN counts like OPEN: a trial never makes the level look better. */
        if (deps[i].state != XP_CLOSED) {
            not_closed++;
            if (deps[i].open_level > open_level)
                open_level = deps[i].open_level;
        }
    }
    out->system_score = wsum > 0 ? total / wsum : 100;
    out->not_closed = not_closed;
    int level = xp_health_level_for_score(deg, out->system_score);
    int cascade = xp_health_cascade_level(deg, not_closed);
    if (cascade > level)
        level = cascade;
    if (open_level > level)
        level = open_level;
    out->level = level;

    for (size_t j = 0; j < n_features; j++) {
        int on = level <= features[j].min_level;
        for (size_t k = 0; on && k < features[j].n_requires; k++) {
            size_t d = features[j].requires[k];
            if (d >= n_deps || !xp_health_dep_counts_closed(&deps[d]))
                on = 0;
        }
        feature_on[j] = on;
    }
}
