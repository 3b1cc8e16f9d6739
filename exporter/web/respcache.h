/* Rendered pages kept as ready libmicrohttpd responses, rebuilt only when the state changed,
 * the wall-clock second moved (countdowns and process metrics stay current to the second) or
 * the response headers were replaced (large /metrics bodies: see xp_respcache_start). A scrape of unchanged state allocates nothing and
 * renders nothing. A page that cannot be rendered answers 500, never a stale or partial page. */
#ifndef XP_RESPCACHE_H
#define XP_RESPCACHE_H

#include <microhttpd.h>

#include "base/buf.h"
#include "model/statetag.h"

typedef enum { XP_PAGE_METRICS, XP_PAGE_METRICS_GZIP, XP_PAGE_HEALTH, XP_PAGE_STATUS, XP_PAGE_COUNT } xp_page;

/* Queues the current version of `page` on the connection; *status gets the HTTP status
 * queued (200, or 500 when the page could not be rendered). A page that has an entity tag
 * (/health) carries it in ETag, and answers 304 with no body when if_none_match (the
 * request's If-None-Match, may be NULL) names it. */
enum MHD_Result xp_respcache_queue(struct MHD_Connection *c, xp_page page,
                                   const char *telemetry_path, const char *if_none_match,
                                   unsigned *status);
/* The entity tag of the current version of `page` (rendered now if the cached one is stale);
 * "" when the page has none or cannot be rendered. */
void xp_respcache_etag(xp_page page, const char *telemetry_path, char out[XP_STATETAG_MAX]);
void xp_respcache_clear(void);

/* Large /metrics bodies (a few hundred dependencies and more) are not rendered by the scrape
 * that finds them stale: the scrape gets the last body at once and a builder thread renders
 * the next one, once per second (or five times the render's own duration if that is
 * longer, so it stays under a fifth of a core) for as long as scrapes keep coming (two
 * minutes after the last). A body the builder has not refreshed for five seconds and a
 * period (stopped, or no scrape for two minutes) is rendered by the scrape again, as is
 * every small page, so a scrape never sees state older than that. */
int xp_respcache_start(void); /* 0 = ok; the builder is optional: without it, scrapes render */
void xp_respcache_stop(void);  /* joins the builder; before xp_respcache_clear */
/* One pass of the builder: renders each large page that is due, outside the cache's lock.
 * Returns when the next one will be due (monotonic seconds, INFINITY if none). Exposed for
 * the unit test, which runs it instead of the thread. */
double xp_respcache_refresh(void);

/* Where the cache gets what it needs. The real one reads the runtime; unit tests pass their
 * own to count renders, move the clock and fail a render. */
typedef struct xp_respcache_env {
    unsigned long (*version)(void); /* moves on every change a page could show */
    long (*second)(void);           /* the wall-clock second */
    /* Appends the plain (not gzipped) body of `page` to out; 0 = ok. XP_PAGE_METRICS_GZIP
     * is asked as XP_PAGE_METRICS and compressed here. etag (XP_STATETAG_MAX bytes, preset
     * to "") receives the tag of what was rendered, for pages that have one. */
    int (*render)(xp_page page, const char *telemetry_path, xp_buf *out, char *etag);
    enum MHD_Result (*queue)(struct MHD_Connection *c, unsigned int status,
                             struct MHD_Response *r);
    double (*mono)(void); /* monotonic seconds; NULL: the real clock */
    /* /metrics bodies of at least this many bytes are rebuilt in the background; 0: never. */
    size_t background_bytes;
} xp_respcache_env;
/* NULL restores the real one. Not for use while requests run. */
void xp_respcache_set_env(const xp_respcache_env *env);

/* A gzip member of in's bytes appended to out. 0 = ok. */
int xp_gzip(const char *in, size_t len, xp_buf *out);

#endif
