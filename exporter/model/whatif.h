/* What-if (SPEC section 7): the level, scores and features as if some breakers were in a
 * given state, for /health?assume=redis:open,s3:open and `--config.check --assume/--matrix`.
 * Pure: it rewrites the health model's inputs and changes nothing else.
 *
 * What an assumed state means for the score: OPEN scores 0 and HALF_OPEN 50, as always; an
 * assumed CLOSED is a breaker that has just closed: no consecutive failures and an empty rate
 * window (the window empties when a breaker closes, section 5); the latency of its last
 * successful probe still counts. The mode stays what it is, so a metrics_only dependency
 * assumed OPEN still counts as CLOSED for the level and the features. */
#ifndef XP_WHATIF_H
#define XP_WHATIF_H

#include <stddef.h>

#include "config/config.h"
#include "model/breaker.h"
#include "model/health.h"

#define XP_WHATIF_MAX 64

typedef struct xp_assumption {
    size_t dep; /* index in config order */
    xp_breaker_state state;
} xp_assumption;

typedef struct xp_whatif {
    size_t n;
    xp_assumption a[XP_WHATIF_MAX];
} xp_whatif;

/* The name of dependency i of n; lets the parser read a config or a snapshot alike. */
typedef const char *(*xp_dep_name_fn)(const void *ctx, size_t i);

/* Parses "NAME:STATE[,NAME:STATE...]" (STATE: open, half_open, closed; spaces around items
 * allowed). 0 = ok; -1 with a message in err on an empty list, an item without ':', an
 * unknown dependency (the known ones listed), an unknown state, a dependency named twice or
 * more than XP_WHATIF_MAX items. */
int xp_whatif_parse(const char *spec, xp_dep_name_fn name, const void *ctx, size_t n_deps,
                    xp_whatif *out, char *err, size_t errlen);

/* Rewrites the state-dependent inputs of the assumed dependencies in deps[]. */
void xp_whatif_apply(const xp_whatif *w, xp_health_dep *deps);

/* The health inputs of a config before any probe: nothing counted (no failure, rates -1),
 * each dependency's own weight, thresholds (rate thresholds included), open_level and mode;
 * every breaker CLOSED but those whose config says forced_open, which start OPEN. deps has
 * room for cfg->n_deps. */
void xp_whatif_config_deps(const xp_config *cfg, xp_health_dep *deps);

/* The dependency names of a config, for xp_whatif_parse (ctx: the xp_config). */
const char *xp_whatif_config_name(const void *cfg, size_t i);

#endif
