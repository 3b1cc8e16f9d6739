#include "web/page_render.h"

#include <pthread.h>
#include <string.h>

#include "base/procstat.h"
#include "engine/events.h"
#include "engine/runtime.h"
#include "engine/watch.h"
#include "expo/http_requests.h"
#include "expo/render.h"
#include "model/statetag.h"
#include "web/pages.h"
#include "web/reqstats.h"

/* Events the status page lists: the latest ones; /events has them all. */
#define STATUS_EVENTS 12
/* The span of the status page's chart. */
#define CHART_SPAN 3600.0

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by mu: kept between renders so a render allocates nothing once they are grown. */
static xp_snapshot snap;
static xp_http_count rows[XP_REQSTATS_MAX_ROWS];
static xp_event events[STATUS_EVENTS];
static xp_history_slot history[XP_HISTORY_SLOTS];

int xp_page_render(xp_page page, const char *telemetry_path, xp_buf *out, char *etag)
{
    int metrics = page == XP_PAGE_METRICS || page == XP_PAGE_METRICS_GZIP;
    /* /proc is I/O: read it before the runtime lock, which promises memory work only. */
    xp_procstat ps;
    int have_ps = metrics && xp_procstat_read(&ps) == 0;

    pthread_mutex_lock(&mu);
    xp_status_extra x;
    memset(&x, 0, sizeof(x));
    if (page == XP_PAGE_STATUS) {
        /* Copied before the runtime lock: each has its own lock, never held with it. */
        x.events = events;
        x.n_events = xp_events_copy(events, STATUS_EVENTS);
        x.history = history;
        x.n_history = xp_watch_history(CHART_SPAN, history, XP_HISTORY_SLOTS, &x.now);
        x.period = XP_WATCH_HISTORY_PERIOD;
        x.span = CHART_SPAN;
    }
    xp_runtime_lock();
    int rc = xp_runtime_snapshot(&snap);
    if (rc == 0) {
        if (metrics) {
            rc = xp_render_metrics(&snap, have_ps ? &ps : NULL, out);
        } else if (page == XP_PAGE_HEALTH) {
            rc = xp_render_health_json(&snap, out);
            xp_statetag(&snap, etag);
        } else {
            rc = xp_render_status_page(&snap, telemetry_path, &x, out);
        }
    }
    xp_runtime_unlock();
    if (rc == 0 && metrics) {
        size_t n = xp_reqstats_rows(rows, XP_REQSTATS_MAX_ROWS);
        rc = xp_render_http_requests(rows, n, out);
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

int xp_page_with_snapshot(int (*fn)(xp_snapshot *s, void *arg), void *arg)
{
    pthread_mutex_lock(&mu);
    xp_runtime_lock();
    int rc = xp_runtime_snapshot(&snap);
    if (rc == 0)
        rc = fn(&snap, arg);
    xp_runtime_unlock();
    pthread_mutex_unlock(&mu);
    return rc;
}

void xp_page_render_free(void)
{
    pthread_mutex_lock(&mu);
    xp_snapshot_free(&snap);
    memset(&snap, 0, sizeof(snap));
    pthread_mutex_unlock(&mu);
}
