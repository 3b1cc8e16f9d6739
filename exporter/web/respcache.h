/* Rendered pages kept as ready libmicrohttpd responses, rebuilt only when the state changed
 * or the wall-clock second moved (countdowns and process metrics stay current to the
 * second). A scrape of unchanged state allocates nothing and renders nothing. */
#ifndef XP_RESPCACHE_H
#define XP_RESPCACHE_H

#include <microhttpd.h>

typedef enum { XP_PAGE_METRICS, XP_PAGE_METRICS_GZIP, XP_PAGE_HEALTH, XP_PAGE_STATUS, XP_PAGE_COUNT } xp_page;

/* Queues the current version of `page` on the connection. */
enum MHD_Result xp_respcache_queue(struct MHD_Connection *c, xp_page page, const char *telemetry_path);
void xp_respcache_clear(void);

#endif
