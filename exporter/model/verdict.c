#include "model/verdict.h"

#include "model/level.h"

void xp_feature_verdict_eval(const xp_feature_cfg *f, int level, const xp_health_dep *deps,
                             size_t n_deps, size_t *blocked, xp_feature_verdict *v)
{
    v->by_level = level > f->min_level;
    v->n_blocked = 0;
    for (size_t k = 0; k < f->n_requires; k++) {
        size_t d = f->requires[k];
        if (d < n_deps && xp_health_dep_counts_closed(&deps[d]))
            continue;
        if (blocked)
            blocked[v->n_blocked] = d;
        v->n_blocked++;
    }
    v->available = !v->by_level && v->n_blocked == 0;
}

int xp_feature_is_static(const xp_feature_cfg *f)
{
    return f->min_level >= XP_LEVEL_EMERGENCY && f->n_requires == 0;
}
