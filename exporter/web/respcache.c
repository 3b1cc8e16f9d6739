#include "web/respcache.h"

#include <pthread.h>
#include <string.h>
#include <zlib.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "web/pages.h"
#include "base/procstat.h"
#include "expo/render.h"
#include "engine/runtime.h"

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

typedef struct slot {
    unsigned long version;
    long second;
    struct MHD_Response *resp;
} slot;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static slot slots[XP_PAGE_COUNT];
static xp_snapshot snap; /* reused: guarded by mu */
static xp_buf body;      /* reused: guarded by mu */

static void gzip_body(const xp_buf *in, xp_buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* 15 + 16: a gzip wrapper rather than zlib's. */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        out->failed = 1;
        return;
    }
    uLong bound = deflateBound(&z, (uLong)in->len) + 32;
    if (xp_buf_reserve(out, bound) != 0) {
        deflateEnd(&z);
        return;
    }
    z.next_in = (Bytef *)in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = (Bytef *)out->data;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        out->failed = 1;
    else
        out->len = z.total_out;
    deflateEnd(&z);
}

/* Renders `page` into `body` from a fresh snapshot. 0 = ok. */
static int render(xp_page page, const char *telemetry_path)
{
    xp_buf_reset(&body);
    xp_runtime_lock();
    int rc = xp_runtime_snapshot(&snap);
    if (rc == 0) {
        if (page == XP_PAGE_METRICS || page == XP_PAGE_METRICS_GZIP) {
            xp_procstat ps;
            int have_ps = xp_procstat_read(&ps) == 0;
            rc = xp_render_metrics(&snap, have_ps ? &ps : NULL, &body);
        } else if (page == XP_PAGE_HEALTH) {
            rc = xp_render_health_json(&snap, &body);
        } else {
            rc = xp_render_status_page(&snap, telemetry_path, &body);
        }
    }
    xp_runtime_unlock();
    if (rc == 0 && page == XP_PAGE_METRICS_GZIP) {
        xp_buf gz;
        xp_buf_init(&gz);
        gzip_body(&body, &gz);
        xp_buf_free(&body);
        body = gz;
        rc = xp_buf_failed(&body) ? -1 : 0;
    }
    return rc;
}

static struct MHD_Response *make_response(xp_page page)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return NULL;
    static const char *const types[XP_PAGE_COUNT] = {CT_METRICS, CT_METRICS,
                                                     "application/json; charset=utf-8",
                                                     "text/html; charset=utf-8"};
    int ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, types[page]) == MHD_YES &&
             MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") == MHD_YES;
    if (ok && (page == XP_PAGE_METRICS || page == XP_PAGE_METRICS_GZIP))
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding") == MHD_YES;
    if (ok && page == XP_PAGE_METRICS_GZIP)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip") == MHD_YES;
    if (!ok) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

enum MHD_Result xp_respcache_queue(struct MHD_Connection *c, xp_page page, const char *telemetry_path)
{
    unsigned long version = xp_runtime_version();
    long second = (long)xp_clock_wall();
    enum MHD_Result ret = MHD_NO;

    pthread_mutex_lock(&mu);
    slot *s = &slots[page];
    /* The status page links the telemetry path, which a reload may change: the version
     * moves on reload, so the cache never serves a stale link. */
    if (!s->resp || s->version != version || s->second != second) {
        struct MHD_Response *r = NULL;
        if (render(page, telemetry_path) == 0)
            r = make_response(page);
        if (r) {
            if (s->resp)
                MHD_destroy_response(s->resp); /* freed once the last connection lets go */
            s->resp = r;
            s->version = version;
            s->second = second;
        } else {
            xp_log(XP_LOG_ERROR, NULL, "cannot render page", "error", "out of memory", NULL);
        }
    }
    if (s->resp)
        ret = MHD_queue_response(c, MHD_HTTP_OK, s->resp);
    pthread_mutex_unlock(&mu);
    return ret;
}

void xp_respcache_clear(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < XP_PAGE_COUNT; i++) {
        if (slots[i].resp)
            MHD_destroy_response(slots[i].resp);
        slots[i].resp = NULL;
    }
    xp_snapshot_free(&snap);
    xp_buf_free(&body);
    pthread_mutex_unlock(&mu);
}
