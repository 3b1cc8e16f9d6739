#include "web/health_route.h"

#include "base/clock.h"
#include "engine/watch.h"
#include "model/statetag.h"
#include "web/answer.h"
#include "web/app_api.h"
#include "web/respcache.h"

static enum MHD_Result page(struct MHD_Connection *c, const char *path, const char *inm)
{
    unsigned status = 0;
    enum MHD_Result ret = xp_respcache_queue(c, XP_PAGE_HEALTH, path, inm, &status);
    if (ret == MHD_YES)
        xp_reqstats_count(XP_ROUTE_HEALTH, status);
    return ret;
}

/* Suspends the request while the client's tag is the current one and time is left. 1 =
 * suspended. The tracker's generation is read before the page's tag: a change between the
 * two then moves the generation past the waiter's and wakes it at once. */
static int wait_for_change(struct MHD_Connection *c, const char *path, const char *inm,
                           xp_reqctx *r)
{
    if (xp_clock_mono() >= r->deadline)
        return 0;
    char seen[XP_STATETAG_MAX], now[XP_STATETAG_MAX];
    unsigned long gen = xp_watch_tag(seen);
    xp_respcache_etag(XP_PAGE_HEALTH, path, now);
    if (!now[0] || !xp_statetag_matches(inm, now))
        return 0; /* already different (or no page): answer now */
    return xp_longpoll_suspend(&r->waiter, c, inm, gen, r->deadline) == 0;
}

enum MHD_Result xp_health_route(struct MHD_Connection *c, const char *path, xp_reqctx **ctx)
{
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (*ctx && (*ctx)->deadline > 0) {
        /* Resumed: the tag moved, the wait ended or the exporter stops. A tag that moved
         * and came back (the state flipped twice) is no change: wait on. */
        if (!xp_longpoll_stopping() && wait_for_change(c, path, inm, *ctx))
            return MHD_YES;
        return page(c, path, inm);
    }
    const char *assume = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "assume");
    const char *wait = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait");
    if (assume) {
        if (wait)
            return xp_answer_error(c, XP_ROUTE_HEALTH, MHD_HTTP_BAD_REQUEST,
                                   "assume and wait cannot be combined: a what-if never changes");
        return xp_api_health_assume(c, assume);
    }
    if (wait) {
        double seconds;
        char err[160];
        if (xp_longpoll_parse_wait(wait, &seconds, err, sizeof(err)) != 0)
            return xp_answer_error(c, XP_ROUTE_HEALTH, MHD_HTTP_BAD_REQUEST, err);
        if (seconds > 0 && inm && *inm) {
            if (!*ctx && !(*ctx = xp_reqctx_new(0)))
                return MHD_NO;
            (*ctx)->deadline = xp_clock_mono() + seconds;
            if (wait_for_change(c, path, inm, *ctx))
                return MHD_YES;
        }
    }
    return page(c, path, inm);
}
