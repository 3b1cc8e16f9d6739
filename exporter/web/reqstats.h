/* Requests answered, by route and status: resilience_exporter_http_requests_total.
 *
 * A fixed table of atomic counters, one per (route, status 100-599): counting is one relaxed
 * atomic add, with no lock and no allocation on the request path. The routes are a fixed set
 * and every unknown path counts as "other", so a client cannot create series. */
#ifndef XP_REQSTATS_H
#define XP_REQSTATS_H

#include <stddef.h>

#include "expo/http_requests.h"

typedef enum {
    XP_ROUTE_METRICS, /* the telemetry path, whatever it is configured to: "/metrics" */
    XP_ROUTE_HEALTH,
    XP_ROUTE_STATUS,
    XP_ROUTE_HEALTHY,
    XP_ROUTE_READY,
    XP_ROUTE_RELOAD,
    XP_ROUTE_FEATURE,      /* /health/features/NAME: one series for every NAME */
    XP_ROUTE_DEPENDENCY,   /* /health/dependencies/NAME */
    XP_ROUTE_EVENTS,
    XP_ROUTE_OFREP_FLAG,   /* /ofrep/v1/evaluate/flags/KEY */
    XP_ROUTE_OFREP_BULK,   /* /ofrep/v1/evaluate/flags */
    XP_ROUTE_OFREP_CONFIG, /* /ofrep/v1/configuration */
    XP_ROUTE_BREAKERS,     /* POST /-/breakers/NAME */
    XP_ROUTE_OTHER,
    XP_ROUTE_COUNT
} xp_route;

#define XP_REQSTATS_MAX_ROWS (XP_ROUTE_COUNT * 500)

const char *xp_route_name(xp_route r);
void xp_reqstats_count(xp_route r, unsigned code);
/* Fills rows (room for cap) with every pair counted so far, plus each route's usual answer
 * (200, and 404 for "other") at 0 from start, ordered by route then code. Returns how many. */
size_t xp_reqstats_rows(xp_http_count *rows, size_t cap);

#endif
