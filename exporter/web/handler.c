#include "web/handler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "engine/runtime.h"
#include "web/accept_encoding.h"
#include "web/answer.h"
#include "web/app_api.h"
#include "web/breakers.h"
#include "web/gate.h"
#include "web/headers.h"
#include "web/health_route.h"
#include "web/ofrep.h"
#include "web/reqctx.h"
#include "web/reqstats.h"
#include "web/respcache.h"

/* Seconds a connection may sit idle once it has been answered, so a scraper keeps it from
 * one scrape to the next: above Prometheus' default interval (1 m). A connection that has
 * not yet sent a whole request, or was refused, keeps the daemon's short timeout. */
#define XP_IDLE_TIMEOUT 120u

/*
 * When to answer. libmicrohttpd calls the handler once the request head is in (the first
 * call), again for each piece of body, and a last time when the request is complete. A
 * response queued on the first call makes it stop reading the request: it answers with
 * "Connection: close" and drops anything pipelined behind it. So every answer waits for the
 * last call and the connection stays open for the next request, except two, which are meant
 * to close it: a request with no Host header, and a request without valid credentials that
 * announces a body (we never read the body of a client that cannot authenticate).
 */

/* Set before the daemon starts, only read afterwards. */
static xp_http_reload_fn reload_fn;
static int lifecycle_enabled;

static pthread_mutex_t path_mu = PTHREAD_MUTEX_INITIALIZER;
static char telemetry_path[XP_TELEMETRY_PATH_MAX] = "/metrics"; /* guarded by path_mu */

/* *con_cls of a request is the gate's context (web/gate.h); a request that passed and keeps
 * more (an OFREP body, a long-poll) swaps it for an xp_reqctx, which starts with a gate
 * context of kind XP_GATE_CTX_REQ. */
static xp_reqctx *ctx_of(void *con_cls)
{
    return con_cls && ((const xp_gate_ctx *)con_cls)->owned == XP_GATE_CTX_REQ ? con_cls : NULL;
}

/* Replaces a passed request's gate context by r. */
static void attach(void **con_cls, xp_reqctx *r)
{
    if (*con_cls == r)
        return;
    xp_gate_leave(*con_cls);
    *con_cls = r;
}

/* Requests whose head has reached the handler and that libmicrohttpd has not finished
 * (answer sent or connection closed): what a shutdown gives a moment to. */
static atomic_int in_flight;

/* Fixed answers, made once per header generation and shared by every connection. */
enum { R_NOT_FOUND, R_HEALTHY, R_READY, R_NOT_READY, R_COUNT };
static const char *const fixed_text[R_COUNT] = {
    "404 page not found\n", "OK\n", "Ready\n",
    "Not ready: not every dependency has been probed yet\n"};
static pthread_mutex_t fixed_mu = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by fixed_mu: the answers and the header generation they carry. Queued under the
 * lock, so a rebuild cannot free one between lookup and queueing. */
static struct MHD_Response *fixed[R_COUNT];
static unsigned long fixed_gen;

int xp_handler_set_telemetry_path(const char *path)
{
    if (strlen(path) >= sizeof(telemetry_path))
        return -1;
    pthread_mutex_lock(&path_mu);
    snprintf(telemetry_path, sizeof(telemetry_path), "%s", path);
    pthread_mutex_unlock(&path_mu);
    return 0;
}

int xp_handler_in_flight(void)
{
    return atomic_load(&in_flight);
}

/* A text/plain response carrying the header set in force. text must outlive it unless
 * copy is set. */
static struct MHD_Response *text_response(const char *text, int copy, unsigned long *gen)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(text), (void *)text, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (r && (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      "text/plain; charset=utf-8") != MHD_YES ||
              xp_headers_apply_current(r, XP_HDR_ALL, gen) != 0)) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return r;
}

static void free_fixed(void)
{
    for (int i = 0; i < R_COUNT; i++) {
        if (fixed[i])
            MHD_destroy_response(fixed[i]); /* freed once the last connection lets go */
        fixed[i] = NULL;
    }
}

/* Rebuilds the fixed answers for the header set in force. Called with fixed_mu held. */
static int make_fixed(void)
{
    free_fixed();
    unsigned long gen = 0;
    for (int i = 0; i < R_COUNT; i++)
        if (!(fixed[i] = text_response(fixed_text[i], 0, &gen)))
            return -1;
    fixed_gen = gen;
    return 0;
}

static enum MHD_Result answer_fixed(struct MHD_Connection *c, xp_route route, unsigned code,
                                    int which)
{
    enum MHD_Result ret = MHD_NO;
    pthread_mutex_lock(&fixed_mu);
    if ((fixed_gen != xp_headers_generation() || !fixed[which]) && make_fixed() != 0)
        free_fixed(); /* out of memory: no answer (the connection closes); retried next time */
    if (fixed[which])
        ret = MHD_queue_response(c, code, fixed[which]);
    pthread_mutex_unlock(&fixed_mu);
    if (ret == MHD_YES)
        xp_reqstats_count(route, code);
    return ret;
}

/* An answer made for this request alone; `header` (may be NULL) is added with `value`. */
static enum MHD_Result answer_text(struct MHD_Connection *c, xp_route route, unsigned code,
                                   const char *text, const char *header, const char *value)
{
    struct MHD_Response *r = text_response(text, 1, NULL);
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_NO;
    if (!header || MHD_add_response_header(r, header, value) == MHD_YES)
        ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES)
        xp_reqstats_count(route, code);
    return ret;
}

static enum MHD_Result bad_method(struct MHD_Connection *c, xp_route route, const char *allow)
{
    return answer_text(c, route, MHD_HTTP_METHOD_NOT_ALLOWED, "405 method not allowed\n",
                       MHD_HTTP_HEADER_ALLOW, allow);
}

/* The gate of every endpoint that changes the running exporter (POST /-/reload, POST
 * /-/breakers/NAME): shut unless --web.enable-lifecycle, as in Prometheus; SIGHUP is not
 * gated. 1 = go on; 0 = refused, with the 403 queued in *ret (as JSON for a JSON route). */
static int lifecycle_gate(struct MHD_Connection *c, xp_route route, int json,
                          enum MHD_Result *ret)
{
    if (lifecycle_enabled)
        return 1;
    *ret = json ? xp_answer_error(c, route, MHD_HTTP_FORBIDDEN,
                                  "lifecycle APIs are not enabled (start with "
                                  "--web.enable-lifecycle)")
                : answer_text(c, route, MHD_HTTP_FORBIDDEN,
                              "403 forbidden: lifecycle APIs are not enabled "
                              "(start with --web.enable-lifecycle)\n",
                              NULL, NULL);
    return 0;
}

/* The answer to a request the gate (web/gate.c) stopped: 401 with the challenges of the
 * credentials configured, 429 or 503 with Retry-After. */
static enum MHD_Result gate_answer(struct MHD_Connection *c, xp_route route, xp_gate_verdict v,
                                   unsigned retry_after)
{
    char text[128], secs[16];
    const char *challenge[2];
    int n = v == XP_GATE_REFUSED ? xp_gate_challenges(challenge) : 0;
    unsigned code = v == XP_GATE_REFUSED  ? MHD_HTTP_UNAUTHORIZED
                    : v == XP_GATE_LIMITED ? MHD_HTTP_TOO_MANY_REQUESTS
                                           : MHD_HTTP_SERVICE_UNAVAILABLE;
    snprintf(secs, sizeof(secs), "%u", retry_after ? retry_after : 1);
    snprintf(text, sizeof(text), "%s\n",
             v == XP_GATE_REFUSED   ? "401 unauthorized"
             : v == XP_GATE_LIMITED ? "429 too many requests"
                                    : "503 service unavailable: too many credential checks "
                                      "waiting; retry");
    struct MHD_Response *r = text_response(text, 1, NULL);
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_YES;
    for (int i = 0; i < n && ret == MHD_YES; i++)
        ret = MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge[i]);
    if (ret == MHD_YES && v != XP_GATE_REFUSED)
        ret = MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    if (ret == MHD_YES)
        ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES)
        xp_reqstats_count(route, code);
    return ret;
}

static int announces_body(struct MHD_Connection *c)
{
    const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (len && strcmp(len, "0") != 0) ||
           MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* RFC 9112 section 3.2: an HTTP/1.1 request without Host is answered 400. libmicrohttpd's
 * own check (MHD_OPTION_STRICT_FOR_CLIENT) answers with its HTML error page and a doubled
 * response head, so we check here and answer like every other error. */
static int lacks_host(struct MHD_Connection *c, const char *version)
{
    return version[0] && strcmp(version, MHD_HTTP_VERSION_1_0) != 0 &&
           !MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
}

static enum MHD_Result do_reload(struct MHD_Connection *c)
{
    char err[XP_CONFIG_ERR_MAX] = "";
    int rc = reload_fn ? reload_fn(err, sizeof(err)) : -1;
    char msg[XP_CONFIG_ERR_MAX + 32];
    snprintf(msg, sizeof(msg), rc == 0 ? "config reloaded\n" : "reload failed: %s\n", err);
    return answer_text(c, XP_ROUTE_RELOAD, rc == 0 ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR,
                       msg, NULL, NULL);
}

/* One request as the answer functions see it, on its last call. */
typedef struct call {
    struct MHD_Connection *c;
    xp_route route;
    const char *name; /* what follows a prefix route's path ("" for the others) */
    const char *path; /* the telemetry path in force */
    void **con_cls;
} call;

static enum MHD_Result page(const call *k, xp_page p)
{
    unsigned status = 0;
    enum MHD_Result ret = xp_respcache_queue(k->c, p, k->path, NULL, &status);
    if (ret == MHD_YES)
        xp_reqstats_count(k->route, status);
    return ret;
}

static enum MHD_Result ans_metrics(const call *k)
{
    const char *ae = MHD_lookup_connection_value(k->c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_ACCEPT_ENCODING);
    return page(k, xp_accept_gzip(ae) ? XP_PAGE_METRICS_GZIP : XP_PAGE_METRICS);
}

static enum MHD_Result ans_health(const call *k)
{
    xp_reqctx *r = ctx_of(*k->con_cls);
    enum MHD_Result ret = xp_health_route(k->c, k->path, &r);
    if (r)
        attach(k->con_cls, r); /* a long-poll's state, freed when the request completes */
    return ret;
}

static enum MHD_Result ans_status(const call *k)
{
    return page(k, XP_PAGE_STATUS);
}

static enum MHD_Result ans_healthy(const call *k)
{
    return answer_fixed(k->c, k->route, MHD_HTTP_OK, R_HEALTHY);
}

static enum MHD_Result ans_ready(const call *k)
{
    int ready = xp_runtime_ready();
    return answer_fixed(k->c, k->route, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                        ready ? R_READY : R_NOT_READY);
}

static enum MHD_Result ans_reload(const call *k)
{
    enum MHD_Result ret = MHD_NO;
    return lifecycle_gate(k->c, k->route, 0, &ret) ? do_reload(k->c) : ret;
}

static enum MHD_Result ans_breakers(const call *k)
{
    enum MHD_Result ret = MHD_NO;
    return lifecycle_gate(k->c, k->route, 1, &ret)
               ? xp_breakers_post(k->c, k->name, ctx_of(*k->con_cls))
               : ret;
}

static enum MHD_Result ans_feature(const call *k)
{
    return xp_api_feature(k->c, k->name);
}

static enum MHD_Result ans_dependency(const call *k)
{
    return xp_api_dependency(k->c, k->name);
}

static enum MHD_Result ans_events(const call *k)
{
    return xp_api_events(k->c);
}

static enum MHD_Result ans_ofrep_flag(const call *k)
{
    return xp_ofrep_flag(k->c, k->name, ctx_of(*k->con_cls));
}

static enum MHD_Result ans_ofrep_bulk(const call *k)
{
    return xp_ofrep_bulk(k->c, ctx_of(*k->con_cls));
}

static enum MHD_Result ans_ofrep_config(const call *k)
{
    return xp_ofrep_configuration(k->c);
}

enum { M_GET = 1, M_POST = 2 }; /* GET includes HEAD */

/* Every path but the telemetry path, which a reload may move. A prefix route (its path ends
 * in '/') takes the rest of the path as the NAME. `json`: its errors (405) are JSON too;
 * `body`: a POST keeps its body (up to XP_BODY_MAX). */
static const struct route {
    const char *path;
    xp_route route;
    unsigned methods;
    int json, body;
    enum MHD_Result (*fn)(const call *k);
} routes[] = {
    {"/health", XP_ROUTE_HEALTH, M_GET, 0, 0, ans_health},
    {"/", XP_ROUTE_STATUS, M_GET, 0, 0, ans_status},
    {"/-/healthy", XP_ROUTE_HEALTHY, M_GET, 0, 0, ans_healthy},
    {"/-/ready", XP_ROUTE_READY, M_GET, 0, 0, ans_ready},
    {"/-/reload", XP_ROUTE_RELOAD, M_POST, 0, 0, ans_reload},
    {"/health/features/", XP_ROUTE_FEATURE, M_GET, 1, 0, ans_feature},
    {"/health/dependencies/", XP_ROUTE_DEPENDENCY, M_GET, 1, 0, ans_dependency},
    {"/events", XP_ROUTE_EVENTS, M_GET, 1, 0, ans_events},
    {"/ofrep/v1/evaluate/flags/", XP_ROUTE_OFREP_FLAG, M_POST, 1, 1, ans_ofrep_flag},
    {"/ofrep/v1/evaluate/flags", XP_ROUTE_OFREP_BULK, M_POST, 1, 1, ans_ofrep_bulk},
    {"/ofrep/v1/configuration", XP_ROUTE_OFREP_CONFIG, M_GET, 1, 0, ans_ofrep_config},
    {"/-/breakers/", XP_ROUTE_BREAKERS, M_POST, 1, 1, ans_breakers},
};
static const struct route metrics_route = {NULL, XP_ROUTE_METRICS, M_GET, 0, 0, ans_metrics};

/* The route of url (NULL: none), and in *name what follows a prefix route's path. */
static const struct route *route_of(const char *url, const char *path, const char **name)
{
    *name = "";
    if (strcmp(url, path) == 0)
        return &metrics_route;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const char *p = routes[i].path;
        size_t n = strlen(p);
        if (n > 1 && p[n - 1] == '/') {
            if (strncmp(url, p, n) == 0) {
                *name = url + n;
                return &routes[i];
            }
        } else if (strcmp(url, p) == 0) {
            return &routes[i];
        }
    }
    return NULL;
}

/* The last call of a request whose credentials passed: its answer. */
static enum MHD_Result route_request(const struct route *rt, const call *k, unsigned method)
{
    if (!rt)
        return answer_fixed(k->c, k->route, MHD_HTTP_NOT_FOUND, R_NOT_FOUND);
    if (!(rt->methods & method)) {
        const char *allow = rt->methods == M_POST ? "POST" : "GET, HEAD";
        return rt->json ? xp_answer_method(k->c, k->route, allow) : bad_method(k->c, k->route, allow);
    }
    return rt->fn(k);
}

/* A POST to a route that reads its body keeps the body: 0, or -1 when out of memory. */
static int keep_body(const struct route *rt, unsigned m, void **con_cls)
{
    if (!rt || !rt->body || m != M_POST || ctx_of(*con_cls))
        return 0;
    xp_reqctx *r = xp_reqctx_new(1);
    if (!r)
        return -1;
    attach(con_cls, r);
    return 0;
}

/* After the gate's verdict on the first call: a refused request that announces a body is
 * answered now (its body is never read, and the connection closes); anything else waits for
 * the last call, so the connection stays open for the next request. */
static enum MHD_Result gate_first(struct MHD_Connection *c, xp_route route, xp_gate_verdict v,
                                  unsigned retry_after)
{
    if (v != XP_GATE_PASS && v != XP_GATE_PENDING && announces_body(c))
        return gate_answer(c, route, v, retry_after);
    return MHD_YES;
}

/* A client that was answered may keep its connection idle until its next scrape. */
static void keep_idle(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_TIMEOUT);
    if (!ci || ci->connection_timeout != XP_IDLE_TIMEOUT)
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, XP_IDLE_TIMEOUT);
}

enum MHD_Result xp_handler(void *cls, struct MHD_Connection *c, const char *url,
                           const char *method, const char *version, const char *upload,
                           size_t *upload_size, void **con_cls)
{
    char path[sizeof(telemetry_path)];
    pthread_mutex_lock(&path_mu);
    memcpy(path, telemetry_path, sizeof(path));
    pthread_mutex_unlock(&path_mu);
    const char *name;
    const struct route *rt = route_of(url, path, &name);
    xp_route route = rt ? rt->route : XP_ROUTE_OTHER;
    unsigned m = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0
                     ? M_GET
                 : strcmp(method, MHD_HTTP_METHOD_POST) == 0 ? M_POST
                                                             : 0;

    if (*con_cls == NULL) {
        /* First call: the head is in. The gate decides now, before any body is read, on every
         * path but /-/healthy and /-/ready, known or not: without credentials a client learns
         * nothing, not even which paths exist. */
        atomic_fetch_add(&in_flight, 1);
        if (lacks_host(c, version)) {
            *con_cls = xp_gate_refused_ctx();
            return answer_text(c, XP_ROUTE_OTHER, MHD_HTTP_BAD_REQUEST,
                               "400 bad request: HTTP/1.1 request without a Host header\n", NULL,
                               NULL);
        }
        int exempt = route == XP_ROUTE_HEALTHY || route == XP_ROUTE_READY;
        xp_gate_verdict v = xp_gate_enter(c, exempt, con_cls);
        if (v == XP_GATE_PASS && keep_body(rt, m, con_cls) != 0)
            return MHD_NO; /* out of memory: the connection closes */
        /* A PENDING context is a bcrypt job whose thread writes its verdict and retry_after
         * under the pool's lock: not read here (gate_first needs no retry_after for it). */
        return gate_first(c, route, v,
                          v == XP_GATE_PENDING ? 0 : ((const xp_gate_ctx *)*con_cls)->retry_after);
    }
    int recall;
    unsigned retry_after;
    xp_gate_verdict verdict = xp_gate_result(*con_cls, &recall, &retry_after);
    if (recall) { /* the first call again, once the bcrypt threads decided */
        if (verdict == XP_GATE_PASS && keep_body(rt, m, con_cls) != 0)
            return MHD_NO;
        return gate_first(c, route, verdict, retry_after);
    }
    if (*upload_size) {
        xp_reqctx *r = ctx_of(*con_cls);
        if (r)
            xp_reqctx_take(r, upload, *upload_size);
        *upload_size = 0; /* read; kept only by the routes that take a body */
        return MHD_YES;
    }
    /* Last call: the whole request is in (or a suspended long-poll was resumed). */
    if (verdict != XP_GATE_PASS)
        return gate_answer(c, route, verdict, retry_after);
    call k = {c, route, name, path, con_cls};
    enum MHD_Result ret = route_request(rt, &k, m);
    if (ret == MHD_YES)
        keep_idle(c);
    return ret;
}

void xp_handler_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    if (*con_cls) {
        atomic_fetch_sub(&in_flight, 1);
        xp_reqctx *r = ctx_of(*con_cls);
        if (r)
            xp_reqctx_free(r);
        else
            xp_gate_leave(*con_cls);
        *con_cls = NULL;
    }
}

int xp_handler_init(xp_http_reload_fn reload, int enable_lifecycle)
{
    reload_fn = reload;
    lifecycle_enabled = enable_lifecycle;
    pthread_mutex_lock(&fixed_mu);
    int rc = make_fixed();
    pthread_mutex_unlock(&fixed_mu);
    return rc;
}

void xp_handler_free(void)
{
    pthread_mutex_lock(&fixed_mu);
    free_fixed();
    fixed_gen = 0;
    pthread_mutex_unlock(&fixed_mu);
}
