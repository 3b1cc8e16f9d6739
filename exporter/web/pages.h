/* The JSON /health answer and the HTML status page, rendered from a snapshot. */
#ifndef XP_PAGES_H
#define XP_PAGES_H

#include "base/buf.h"
#include "model/snapshot.h"

/* Returns 0, or -1 on allocation failure. */
int xp_render_health_json(const xp_snapshot *s, xp_buf *out);
int xp_render_status_page(const xp_snapshot *s, const char *telemetry_path, xp_buf *out);

#endif
