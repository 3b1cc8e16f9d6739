/* The bodies of /metrics, /health and / from the running exporter: a snapshot taken under
 * the runtime lock (memory work only), the process metrics read from /proc before it. */
#ifndef XP_PAGE_RENDER_H
#define XP_PAGE_RENDER_H

#include "base/buf.h"
#include "web/respcache.h"

/* Appends the body of page (XP_PAGE_METRICS_GZIP: the plain body) to out. 0, -1 when memory
 * ran out or the snapshot failed. */
int xp_page_render(xp_page page, const char *telemetry_path, xp_buf *out);
/* Frees the buffers kept between renders. */
void xp_page_render_free(void);

#endif
