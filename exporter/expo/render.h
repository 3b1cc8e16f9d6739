/* The /metrics body, rendered from a snapshot. Pure: no I/O, no clock of its own. */
#ifndef XP_RENDER_H
#define XP_RENDER_H

#include "base/buf.h"
#include "base/procstat.h"
#include "model/snapshot.h"

/* Appends the whole exposition to out. ps may be NULL (no process_* families).
 * Returns 0, or -1 when the buffer could not grow. */
int xp_render_metrics(const xp_snapshot *s, const xp_procstat *ps, xp_buf *out);

#endif
