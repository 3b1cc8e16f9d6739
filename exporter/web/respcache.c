#include "web/respcache.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/runtime.h"
#include "web/headers.h"
#include "web/page_render.h"

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define FAILED_BODY "500 internal server error: the page could not be rendered\n"

typedef struct slot {
    unsigned long version;
    long second;
    unsigned long headers; /* generation of the header set it carries */
    struct MHD_Response *resp;
    char etag[XP_STATETAG_MAX];       /* "" when the page has none */
    struct MHD_Response *not_modified; /* its 304, made on first use */
} slot;

static long wall_second(void)
{
    return (long)xp_clock_wall();
}

static const xp_respcache_env real_env = {xp_runtime_version, wall_second, xp_page_render,
                                          MHD_queue_response};
static const xp_respcache_env *env = &real_env;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by mu: the cached responses and the buffers reused to render them. A response is
 * queued under mu too, so it cannot be replaced (and freed) between lookup and queueing. */
static slot slots[XP_PAGE_COUNT];
static xp_buf body;
static xp_buf gz;

void xp_respcache_set_env(const xp_respcache_env *e)
{
    env = e ? e : &real_env;
}

int xp_gzip(const char *in, size_t len, xp_buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* 15 + 16: a gzip wrapper rather than zlib's. */
    if (len > UINT32_MAX || deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong bound = deflateBound(&z, (uLong)len) + 32;
    if (xp_buf_reserve(out, bound) != 0) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH) == Z_STREAM_END ? 0 : -1;
    if (rc == 0) {
        out->len += z.total_out;
        out->data[out->len] = '\0';
    }
    deflateEnd(&z);
    return rc;
}

/* The response for page from a fresh render, or NULL. *gen gets its header generation and
 * etag the page's tag. */
static struct MHD_Response *build(xp_page page, const char *telemetry_path, unsigned long *gen,
                                  char *etag)
{
    xp_buf_reset(&body);
    etag[0] = '\0';
    xp_page asked = page == XP_PAGE_METRICS_GZIP ? XP_PAGE_METRICS : page;
    if (env->render(asked, telemetry_path, &body, etag) != 0 || xp_buf_failed(&body))
        return NULL;
    const xp_buf *out = &body;
    if (page == XP_PAGE_METRICS_GZIP) {
        xp_buf_reset(&gz);
        if (xp_gzip(body.data, body.len, &gz) != 0)
            return NULL;
        out = &gz;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(out->len, out->data, MHD_RESPMEM_MUST_COPY);
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
    if (ok && etag[0])
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag) == MHD_YES;
    if (ok)
        ok = xp_headers_apply_current(r, page == XP_PAGE_STATUS ? XP_HDR_PAGE : XP_HDR_ALL, gen) == 0;
    if (!ok) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

/* The 304 of a slot: no body, the same tag and headers. NULL when memory ran out. */
static struct MHD_Response *not_modified(slot *s)
{
    if (s->not_modified)
        return s->not_modified;
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (r && (MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") != MHD_YES ||
              MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, s->etag) != MHD_YES ||
              xp_headers_apply_current(r, XP_HDR_ALL, NULL) != 0)) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return s->not_modified = r;
}

static enum MHD_Result queue_failure(struct MHD_Connection *c)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(FAILED_BODY), (void *)FAILED_BODY, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO; /* libmicrohttpd then closes the connection: no answer at all */
    enum MHD_Result ret = MHD_NO;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8") ==
            MHD_YES &&
        xp_headers_apply_current(r, XP_HDR_ALL, NULL) == 0)
        ret = env->queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR, r);
    MHD_destroy_response(r);
    return ret;
}

/* The slot of page, rebuilt when stale. Called with mu held. */
static slot *fresh(xp_page page, const char *telemetry_path, unsigned long version, long second,
                   unsigned long headers)
{
    slot *s = &slots[page];
    /* The status page links the telemetry path, which a reload may change: the version
     * moves on reload, so the cache never serves a stale link. */
    if (!s->resp || s->version != version || s->second != second || s->headers != headers) {
        unsigned long gen = 0;
        char etag[XP_STATETAG_MAX];
        struct MHD_Response *r = build(page, telemetry_path, &gen, etag);
        if (s->resp)
            MHD_destroy_response(s->resp); /* freed once the last connection lets go */
        if (s->not_modified)
            MHD_destroy_response(s->not_modified);
        s->not_modified = NULL;
        s->resp = r;
        s->version = version;
        s->second = second;
        s->headers = gen;
        if (r)
            memcpy(s->etag, etag, sizeof(s->etag));
        else
            s->etag[0] = '\0';
        if (!r)
            xp_log(XP_LOG_ERROR, NULL, "cannot render page", "error", "out of memory", NULL);
    }
    return s;
}

enum MHD_Result xp_respcache_queue(struct MHD_Connection *c, xp_page page,
                                   const char *telemetry_path, const char *if_none_match,
                                   unsigned *status)
{
    unsigned long version = env->version();
    long second = env->second();
    unsigned long headers = xp_headers_generation();
    enum MHD_Result ret;

    pthread_mutex_lock(&mu);
    slot *s = fresh(page, telemetry_path, version, second, headers);
    struct MHD_Response *nm =
        s->resp && s->etag[0] && xp_statetag_matches(if_none_match, s->etag) ? not_modified(s) : NULL;
    if (nm) {
        *status = MHD_HTTP_NOT_MODIFIED;
        ret = env->queue(c, MHD_HTTP_NOT_MODIFIED, nm);
    } else if (s->resp) {
        *status = MHD_HTTP_OK;
        ret = env->queue(c, MHD_HTTP_OK, s->resp);
    } else {
        *status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        ret = queue_failure(c);
    }
    pthread_mutex_unlock(&mu);
    return ret;
}

void xp_respcache_etag(xp_page page, const char *telemetry_path, char out[XP_STATETAG_MAX])
{
    unsigned long version = env->version();
    long second = env->second();
    unsigned long headers = xp_headers_generation();
    pthread_mutex_lock(&mu);
    slot *s = fresh(page, telemetry_path, version, second, headers);
    memcpy(out, s->etag, XP_STATETAG_MAX);
    pthread_mutex_unlock(&mu);
}

void xp_respcache_clear(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < XP_PAGE_COUNT; i++) {
        if (slots[i].resp)
            MHD_destroy_response(slots[i].resp);
        if (slots[i].not_modified)
            MHD_destroy_response(slots[i].not_modified);
        slots[i].resp = slots[i].not_modified = NULL;
    }
    xp_buf_free(&body);
    xp_buf_free(&gz);
    pthread_mutex_unlock(&mu);
}
