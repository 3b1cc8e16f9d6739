/* Why a feature is off, and whether a dependency counts as up: the answers of
 * /health/features/NAME, /health/dependencies/NAME and OFREP, computed from the same inputs
 * as xp_health_eval so they can never disagree with feature_availability. */
#ifndef XP_VERDICT_H
#define XP_VERDICT_H

#include <stddef.h>

#include "model/health.h"

typedef struct xp_feature_verdict {
    int available;
    int by_level;     /* the level is worse than the feature's min_level */
    size_t n_blocked; /* required dependencies that do not count as CLOSED */
} xp_feature_verdict;

/* Fills v for feature f at `level` over deps (in config order). blocked (room for
 * f->n_requires, may be NULL) receives the indices of the blocking dependencies, in the
 * order of `requires`. */
void xp_feature_verdict_eval(const xp_feature_cfg *f, int level, const xp_health_dep *deps,
                             size_t n_deps, size_t *blocked, xp_feature_verdict *v);

/* 1 when nothing the exporter can observe turns the feature off: min_level emergency and no
 * dependency required. Its answer is a constant (OFREP reason STATIC). */
int xp_feature_is_static(const xp_feature_cfg *f);

#endif
