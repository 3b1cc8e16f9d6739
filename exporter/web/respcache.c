#include "web/respcache.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/runtime.h"
#include "web/headers.h"
#include "web/page_render.h"

#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define FAILED_BODY "500 internal server error: the page could not be rendered\n"

/* A body this large is rebuilt in the background (about 400 dependencies' worth): at 10,000
 * dependencies a render takes a tenth of a second or more and the state changes a thousand
 * times a second, so a scrape that rendered would nearly always pay for a whole render. */
#define BG_BYTES ((size_t)1 << 20)
/* A background page older than this (builder stopped, or never started as in a test that
 * does not run it) is rebuilt by the scrape itself, as a small page is. */
#define STALE_MAX 5.0
/* The builder keeps a page current for this long after its last scrape: longer than any
 * sensible scrape interval, so the next scrape finds a body at most a period old. */
#define WANT_SPAN 120.0
/* The builder's period: once per second, or DUTY times the last build if that is longer,
 * so the builder stays under 1/DUTY of a core however large the body. */
#define PERIOD_MIN 1.0
#define DUTY 5.0

typedef struct slot {
    unsigned long version;
    long second;
    unsigned long headers; /* generation of the header set it carries */
    struct MHD_Response *resp;
    char etag[XP_STATETAG_MAX];       /* "" when the page has none */
    struct MHD_Response *not_modified; /* its 304, made on first use */
    size_t bytes;      /* of the body in resp (before gzip) */
    double built_at;   /* monotonic seconds when resp was installed */
    double build_s;    /* how long making it took */
    double asked_at;   /* monotonic seconds of the last scrape of it; 0: never */
    char path[256];    /* the telemetry path of the last scrape, for the builder */
} slot;

static long wall_second(void)
{
    return (long)xp_clock_wall();
}

static const xp_respcache_env real_env = {xp_runtime_version, wall_second, xp_page_render,
                                          MHD_queue_response, xp_clock_mono, BG_BYTES};
static const xp_respcache_env *env = &real_env;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by mu: the cached responses and the buffers reused to render them. A response is
 * queued under mu too, so it cannot be replaced (and freed) between lookup and queueing.
 * Also the builder's controls: bg_stop, bg_running, bg_cv's predicate (bg_kick). */
static slot slots[XP_PAGE_COUNT];
static xp_buf body;
static xp_buf gz;
static pthread_cond_t bg_cv = PTHREAD_COND_INITIALIZER;
static int bg_stop, bg_running, bg_kick;
static pthread_t bg_thread;
/* The builder's own buffers: it renders outside mu, so it cannot use the two above. Touched
 * only by xp_respcache_refresh, which one thread at a time runs (the builder, or a test). */
static xp_buf bg_body;
static xp_buf bg_gz;

static double mono(void)
{
    return env->mono ? env->mono() : xp_clock_mono();
}

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
                                  char *etag, xp_buf *plain, xp_buf *packed, size_t *bytes)
{
    xp_buf_reset(plain);
    etag[0] = '\0';
    xp_page asked = page == XP_PAGE_METRICS_GZIP ? XP_PAGE_METRICS : page;
    if (env->render(asked, telemetry_path, plain, etag) != 0 || xp_buf_failed(plain))
        return NULL;
    *bytes = plain->len;
    const xp_buf *out = plain;
    if (page == XP_PAGE_METRICS_GZIP) {
        xp_buf_reset(packed);
        if (xp_gzip(plain->data, plain->len, packed) != 0)
            return NULL;
        out = packed;
    }
    struct MHD_Response *r;
    if (env->background_bytes && out->len >= env->background_bytes) {
        /* A large body is handed over, not copied: at 10,000 dependencies a copy is 37 MB
         * more for as long as the response lives (3.7 KiB per dependency) and a memcpy of
         * it per rebuild. The next render reserves as much at once, not by doubling. */
        size_t n = 0, want = out->len + out->len / 16;
        char *data = xp_buf_steal(out == plain ? plain : packed, &n);
        r = data ? MHD_create_response_from_buffer_with_free_callback(n, data, free) : NULL;
        if (!r) {
            free(data);
            return NULL;
        }
        (void)xp_buf_reserve(out == plain ? plain : packed, want); /* a failure shows later */
    } else {
        r = MHD_create_response_from_buffer(out->len, out->data, MHD_RESPMEM_MUST_COPY);
    }
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

/* Puts r (made from a state at version/second) in s in place of what it held. mu held. */
static void install(slot *s, struct MHD_Response *r, unsigned long version, long second,
                    unsigned long gen, const char *etag, size_t bytes, double started)
{
    if (s->resp)
        MHD_destroy_response(s->resp); /* freed once the last connection lets go */
    if (s->not_modified)
        MHD_destroy_response(s->not_modified);
    s->not_modified = NULL;
    s->resp = r;
    s->version = version;
    s->second = second;
    s->headers = gen;
    s->bytes = r ? bytes : 0;
    s->built_at = mono();
    s->build_s = s->built_at - started;
    if (r)
        memcpy(s->etag, etag, sizeof(s->etag));
    else
        s->etag[0] = '\0';
    if (!r)
        xp_log(XP_LOG_ERROR, NULL, "cannot render page", "error", "out of memory", NULL);
}

static double period(const slot *s)
{
    return s->build_s * DUTY > PERIOD_MIN ? s->build_s * DUTY : PERIOD_MIN;
}

static int stale(const slot *s, unsigned long version, long second, unsigned long headers)
{
    return !s->resp || s->version != version || s->second != second || s->headers != headers;
}

/* A large /metrics body is served as the builder last left it, however stale, as long as it
 * is recent and carries the headers in force; everything else is rendered on demand. */
static int in_background(const slot *s, xp_page page, unsigned long headers, double now)
{
    return (page == XP_PAGE_METRICS || page == XP_PAGE_METRICS_GZIP) && env->background_bytes &&
           s->resp && s->bytes >= env->background_bytes && s->headers == headers &&
           now - s->built_at <= STALE_MAX + period(s);
}

/* The slot of page, rebuilt when stale (unless the builder keeps it). Called with mu held. */
static slot *fresh(xp_page page, const char *telemetry_path, unsigned long version, long second,
                   unsigned long headers, double now)
{
    slot *s = &slots[page];
    s->asked_at = now;
    if (strlen(telemetry_path) < sizeof(s->path))
        memcpy(s->path, telemetry_path, strlen(telemetry_path) + 1);
    if (in_background(s, page, headers, now)) {
        if (stale(s, version, second, headers) && bg_running && !bg_kick) {
            bg_kick = 1;
            pthread_cond_signal(&bg_cv);
        }
        return s;
    }
    /* The status page links the telemetry path, which a reload may change: the version
     * moves on reload, so the cache never serves a stale link. */
    if (stale(s, version, second, headers)) {
        unsigned long gen = 0;
        char etag[XP_STATETAG_MAX];
        size_t bytes = 0;
        struct MHD_Response *r = build(page, telemetry_path, &gen, etag, &body, &gz, &bytes);
        install(s, r, version, second, gen, etag, bytes, now);
        /* Large now: from here on the builder keeps it current, so that the next scrape
         * (however much later) finds a body at most a period old. */
        if (in_background(s, page, headers, mono()) && bg_running && !bg_kick) {
            bg_kick = 1;
            pthread_cond_signal(&bg_cv);
        }
    }
    return s;
}

double xp_respcache_refresh(void)
{
    double next = INFINITY;
    for (int page = 0; page < XP_PAGE_COUNT; page++) {
        unsigned long version = env->version();
        long second = env->second();
        unsigned long headers = xp_headers_generation();
        double now = mono();
        char path[sizeof(slots[0].path)];
        pthread_mutex_lock(&mu);
        slot *s = &slots[page];
        int due = 0;
        if (in_background(s, (xp_page)page, headers, now) && now - s->asked_at <= WANT_SPAN) {
            double at = s->built_at + period(s);
            if (now >= at && stale(s, version, second, headers))
                due = 1;
            else if (at < next)
                next = at > now ? at : now + PERIOD_MIN;
            memcpy(path, s->path, sizeof(path));
        }
        pthread_mutex_unlock(&mu);
        if (!due)
            continue;
        unsigned long gen = 0;
        char etag[XP_STATETAG_MAX];
        size_t bytes = 0;
        struct MHD_Response *r = build((xp_page)page, path, &gen, etag, &bg_body, &bg_gz, &bytes);
        pthread_mutex_lock(&mu);
        double at;
        if (!r) {
            at = mono() + PERIOD_MIN; /* keep serving the last body; try again later */
        } else {
            if (s->built_at <= now) /* else a scrape rebuilt it meanwhile: keep the newer */
                install(s, r, version, second, gen, etag, bytes, now);
            else
                MHD_destroy_response(r);
            at = s->built_at + period(s);
        }
        if (at < next)
            next = at;
        pthread_mutex_unlock(&mu);
    }
    return next;
}

static void *builder(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!bg_stop) {
        bg_kick = 0;
        pthread_mutex_unlock(&mu);
        double next = xp_respcache_refresh();
        pthread_mutex_lock(&mu);
        /* Asleep until the next page is due, or a scrape finds one stale (bg_kick). An idle
         * builder (no large page) sleeps until kicked. */
        while (!bg_stop && !bg_kick) {
            if (isinf(next)) {
                pthread_cond_wait(&bg_cv, &mu);
                continue;
            }
            double left = next - mono();
            if (left <= 0)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + left;
            ts.tv_sec = (time_t)t;
            ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
            if (pthread_cond_clockwait(&bg_cv, &mu, CLOCK_MONOTONIC, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int xp_respcache_start(void)
{
    pthread_mutex_lock(&mu);
    int rc = 0;
    if (!bg_running) {
        bg_stop = 0;
        bg_kick = 0;
        rc = pthread_create(&bg_thread, NULL, builder, NULL) == 0 ? 0 : -1;
        bg_running = rc == 0;
        if (rc == 0) /* so that its CPU (the render cost) can be told apart in /proc */
            (void)pthread_setname_np(bg_thread, "xp-metrics");
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

void xp_respcache_stop(void)
{
    pthread_mutex_lock(&mu);
    int join = bg_running;
    bg_stop = 1;
    pthread_cond_signal(&bg_cv);
    pthread_mutex_unlock(&mu);
    if (join)
        pthread_join(bg_thread, NULL);
    pthread_mutex_lock(&mu);
    bg_running = 0;
    pthread_mutex_unlock(&mu);
}

enum MHD_Result xp_respcache_queue(struct MHD_Connection *c, xp_page page,
                                   const char *telemetry_path, const char *if_none_match,
                                   unsigned *status)
{
    unsigned long version = env->version();
    long second = env->second();
    unsigned long headers = xp_headers_generation();
    double now = mono();
    enum MHD_Result ret;

    pthread_mutex_lock(&mu);
    slot *s = fresh(page, telemetry_path, version, second, headers, now);
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
    double now = mono();
    pthread_mutex_lock(&mu);
    slot *s = fresh(page, telemetry_path, version, second, headers, now);
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
        memset(&slots[i], 0, sizeof(slots[i]));
    }
    xp_buf_free(&body);
    xp_buf_free(&gz);
    pthread_mutex_unlock(&mu);
    /* The builder is stopped before this is called (or never ran): its buffers are free. */
    xp_buf_free(&bg_body);
    xp_buf_free(&bg_gz);
}
