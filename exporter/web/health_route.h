/* GET /health and its variants: the cached document with its ETag (304 on If-None-Match),
 * ?assume= (what-if), and ?wait= (a long-poll until the tag differs or the wait ends). */
#ifndef XP_HEALTH_ROUTE_H
#define XP_HEALTH_ROUTE_H

#include <microhttpd.h>

#include "web/reqctx.h"

/* *ctx is the request's context (NULL until one is needed: a long-poll allocates it and the
 * caller keeps it with the request). Returns as an access handler does; MHD_YES with nothing
 * queued means the connection was suspended and the handler will be called again. */
enum MHD_Result xp_health_route(struct MHD_Connection *c, const char *telemetry_path,
                                xp_reqctx **ctx);

#endif
