/* The JSON /health answer and the HTML status page, rendered from a snapshot. */
#ifndef XP_PAGES_H
#define XP_PAGES_H

#include "base/buf.h"
#include "engine/events.h"
#include "model/history.h"
#include "model/snapshot.h"
#include "model/whatif.h"

/* What the status page shows besides the snapshot: the recent events (newest first) and the
 * score and level history of the last `span` seconds up to `now` (monotonic seconds). */
typedef struct xp_status_extra {
    const xp_event *events;
    size_t n_events;
    const xp_history_slot *history;
    size_t n_history;
    double period; /* seconds per history slot */
    double span;
    double now;
} xp_status_extra;

/* Returns 0, or -1 on allocation failure. */
int xp_render_health_json(const xp_snapshot *s, xp_buf *out);
/* The same document for a what-if: s already evaluated with the assumptions applied;
 * `assumed` (may be NULL) adds "assumed": {NAME: STATE, ...}. */
int xp_render_health_json_ex(const xp_snapshot *s, const xp_whatif *assumed, xp_buf *out);
int xp_render_status_page(const xp_snapshot *s, const char *telemetry_path,
                          const xp_status_extra *x, xp_buf *out);

#endif
