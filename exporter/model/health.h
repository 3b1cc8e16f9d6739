/* The health model of SPEC section 5: pure functions from breaker states to scores, a
 * degradation level and feature availability. */
#ifndef XP_HEALTH_H
#define XP_HEALTH_H

#include <stddef.h>

#include "model/breaker.h"

#define XP_CASCADE_MAX 16

/* The settings the model reads; config/ fills them in. */
typedef struct xp_feature_cfg {
    char *name;
    int min_level;
    size_t n_requires;
    size_t *requires; /* indices into xp_config.deps */
} xp_feature_cfg;

typedef struct xp_cascade_step {
    unsigned count; /* number of breakers not CLOSED */
    int level;
} xp_cascade_step;

typedef struct xp_degradation_cfg {
    /* Minimum system score for optimal, degraded, limited, minimal; below the last: emergency. */
    double threshold[4];
    size_t n_cascade;
    xp_cascade_step cascade[XP_CASCADE_MAX]; /* sorted by count, ascending */
} xp_degradation_cfg;

/* One dependency as the health model sees it. The fields after open_level came with
 * version 2; left at 0 they change nothing (no rate term, mode auto). */
typedef struct xp_health_dep {
    xp_breaker_state state;
    unsigned consecutive_failures;
    unsigned failure_threshold;
    double latency_budget;
    double last_success_latency; /* seconds; < 0 when there has been no successful probe */
    double weight;
    int open_level;
    double failure_rate;             /* 0-1, or -1 below minimum_calls */
    double slow_call_rate;           /* 0-1, or -1 below minimum_calls */
    double failure_rate_threshold;   /* share; 0 = unset: no rate term */
    double slow_call_rate_threshold; /* share; 0 = unset: no rate term */
    xp_mode mode;
} xp_health_dep;

/* Fills the breaker's part of d (state, failures, rates, thresholds, mode) from b. */
void xp_health_dep_from_breaker(xp_health_dep *d, const xp_breaker *b);
/* The dependency's own score, 0-100 (its health_score, whatever its mode). */
double xp_health_dep_score(const xp_health_dep *d);
/* Counts as CLOSED for the level and the features: CLOSED, or metrics_only (shadow mode). */
int xp_health_dep_counts_closed(const xp_health_dep *d);

typedef struct xp_health_result {
    double system_score;
    int level;
    size_t not_closed;
} xp_health_result;

/* scores[i] receives each dependency's score; features[j] 1/0 per cfg feature.
 * deps[] is in the order of cfg->deps. A metrics_only dependency gets its own score in
 * scores[i] but counts as CLOSED with weight 0 for the system score, the level and the
 * features. */
void xp_health_eval(const xp_degradation_cfg *deg, const xp_health_dep *deps, size_t n_deps,
                    const xp_feature_cfg *features, size_t n_features, double *scores,
                    int *feature_on, xp_health_result *out);
int xp_health_level_for_score(const xp_degradation_cfg *deg, double score);
int xp_health_cascade_level(const xp_degradation_cfg *deg, size_t not_closed);

#endif
