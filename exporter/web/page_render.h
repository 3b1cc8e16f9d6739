/* The bodies of /metrics, /health and / from the running exporter: a snapshot taken under
 * the runtime lock (memory work only), the process metrics read from /proc before it. */
#ifndef XP_PAGE_RENDER_H
#define XP_PAGE_RENDER_H

#include "base/buf.h"
#include "model/snapshot.h"
#include "web/respcache.h"

/* Appends the body of page (XP_PAGE_METRICS_GZIP: the plain body) to out; etag
 * (XP_STATETAG_MAX bytes) gets /health's state tag. 0, -1 when memory ran out or the
 * snapshot failed. */
int xp_page_render(xp_page page, const char *telemetry_path, xp_buf *out, char *etag);
/* Calls fn on a snapshot of the running exporter while the runtime lock is held: fn must do
 * memory work only (evaluate, render into a buffer). It may change the snapshot, which is
 * refilled for the next caller. Returns fn's result, or -1 when no snapshot could be taken. */
int xp_page_with_snapshot(int (*fn)(xp_snapshot *s, void *arg), void *arg);
/* Frees the buffers kept between renders. */
void xp_page_render_free(void);

#endif
