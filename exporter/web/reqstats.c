#include "web/reqstats.h"

#include <stdatomic.h>

#define CODE_MIN 100
#define CODE_COUNT 500

static const char *const names[XP_ROUTE_COUNT] = {
    "/metrics",
    "/health",
    "/",
    "/-/healthy",
    "/-/ready",
    "/-/reload",
    "/health/features/{name}",
    "/health/dependencies/{name}",
    "/events",
    "/ofrep/v1/evaluate/flags/{key}",
    "/ofrep/v1/evaluate/flags",
    "/ofrep/v1/configuration",
    "/-/breakers/{name}",
    "other"};
/* Written by every worker thread, read by the renderer: atomics, so no lock is needed. */
static _Atomic unsigned long long counts[XP_ROUTE_COUNT][CODE_COUNT];

const char *xp_route_name(xp_route r)
{
    return (unsigned)r < XP_ROUTE_COUNT ? names[r] : "other";
}

void xp_reqstats_count(xp_route r, unsigned code)
{
    if ((unsigned)r >= XP_ROUTE_COUNT || code < CODE_MIN || code >= CODE_MIN + CODE_COUNT)
        return; /* libmicrohttpd only sends 1xx-5xx: nothing real lands here */
    atomic_fetch_add_explicit(&counts[r][code - CODE_MIN], 1, memory_order_relaxed);
}

/* The pairs shown from start, so rate() and absent() work before the first request. Only the
 * usual answers: every route by every status would be hundreds of series that stay 0. */
static int shown_from_start(xp_route r, unsigned code)
{
    return code == (r == XP_ROUTE_OTHER ? 404u : 200u);
}

size_t xp_reqstats_rows(xp_http_count *rows, size_t cap)
{
    size_t n = 0;
    for (int r = 0; r < XP_ROUTE_COUNT; r++)
        for (unsigned i = 0; i < CODE_COUNT; i++) {
            unsigned long long v = atomic_load_explicit(&counts[r][i], memory_order_relaxed);
            if ((v || shown_from_start((xp_route)r, CODE_MIN + i)) && n < cap)
                rows[n++] = (xp_http_count){names[r], CODE_MIN + i, v};
        }
    return n;
}
