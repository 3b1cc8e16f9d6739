#include "model/health.h"

#include "model/level.h"

/* A score within this of a threshold counts as reaching it: 69.99999999 is 70. */
#define XP_SCORE_EPS 1e-9

double xp_health_dep_score(const xp_health_dep *d)
{
    if (d->state == XP_OPEN)
        return 0;
    if (d->state == XP_HALF_OPEN)
        return 50;
    double f = d->failure_threshold ? (double)d->consecutive_failures / d->failure_threshold : 0;
    if (f > 1)
        f = 1;
    double latency = 1;
    if (d->last_success_latency > d->latency_budget && d->last_success_latency > 0) {
        latency = d->latency_budget / d->last_success_latency;
        if (latency < 0.5)
            latency = 0.5;
    }
    return 100 * (1 - f) * latency;
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
            if (d >= n_deps || deps[d].state != XP_CLOSED)
                on = 0;
        }
        feature_on[j] = on;
    }
}
