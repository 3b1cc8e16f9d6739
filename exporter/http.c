#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "respcache.h"
#include "runtime.h"

#define XP_CONN_TIMEOUT 10      /* seconds an idle or slow client may hold a connection */
#define XP_CONN_MEMORY (16 * 1024) /* per-connection memory: caps request headers */
#define XP_TLS_FILE_MAX (1024 * 1024)

static struct MHD_Daemon *daemon_;
static xp_http_reload_fn reload_fn;
static pthread_mutex_t path_mu = PTHREAD_MUTEX_INITIALIZER;
static char telemetry_path[256] = "/metrics";
static char *tls_cert, *tls_key;

/* Fixed answers, made once and shared by every connection. */
enum { R_NOT_FOUND, R_BAD_METHOD, R_UNAUTHORIZED, R_HEALTHY, R_READY, R_NOT_READY, R_COUNT };
static struct MHD_Response *fixed[R_COUNT];

int xp_http_set_telemetry_path(const char *path)
{
    if (strlen(path) >= sizeof(telemetry_path))
        return -1;
    pthread_mutex_lock(&path_mu);
    snprintf(telemetry_path, sizeof(telemetry_path), "%s", path);
    pthread_mutex_unlock(&path_mu);
    return 0;
}

static struct MHD_Response *text_response(const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                     "text/plain; charset=utf-8") != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return r;
}

static int make_fixed(void)
{
    fixed[R_NOT_FOUND] = text_response("404 page not found\n");
    fixed[R_BAD_METHOD] = text_response("405 method not allowed\n");
    fixed[R_UNAUTHORIZED] = text_response("401 unauthorized\n");
    fixed[R_HEALTHY] = text_response("OK\n");
    fixed[R_READY] = text_response("Ready\n");
    fixed[R_NOT_READY] = text_response("Not ready: not every dependency has been probed yet\n");
    for (int i = 0; i < R_COUNT; i++)
        if (!fixed[i])
            return -1;
    if (MHD_add_response_header(fixed[R_UNAUTHORIZED], MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Basic realm=\"resilience_exporter\"") != MHD_YES)
        return -1;
    return 0;
}

static enum MHD_Result bad_method(struct MHD_Connection *c, const char *allow)
{
    /* 405 must say what is allowed; the header differs per path, so a small fresh response. */
    struct MHD_Response *r = text_response("405 method not allowed\n");
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
    MHD_destroy_response(r);
    return ret;
}

/* Accept-Encoding lists codings with optional q-values; "gzip;q=0" is a refusal. */
static int accepts_gzip(struct MHD_Connection *c)
{
    const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    while (ae && *ae) {
        ae += strspn(ae, " \t,");
        size_t len = strcspn(ae, ",");
        size_t name = strcspn(ae, ";, \t");
        if (name && name <= len && strncasecmp(ae, "gzip", name) == 0 && name == 4) {
            const char *q = strstr(ae, "q=");
            if (!q || q > ae + len)
                return 1;
            return strtod(q + 2, NULL) > 0;
        }
        ae += len;
    }
    return 0;
}

static int authorized(struct MHD_Connection *c)
{
    if (!xp_auth_enabled())
        return 1;
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &pass);
    int ok = xp_auth_check(user, pass);
    if (pass) {
        explicit_bzero(pass, strlen(pass));
        MHD_free(pass);
    }
    if (user)
        MHD_free(user);
    return ok;
}

static enum MHD_Result do_reload(struct MHD_Connection *c)
{
    char err[512] = "";
    int rc = reload_fn ? reload_fn(err, sizeof(err)) : -1;
    char msg[600];
    snprintf(msg, sizeof(msg), rc == 0 ? "config reloaded\n" : "reload failed: %s\n", err);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(msg), msg, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    enum MHD_Result ret =
        MHD_queue_response(c, rc == 0 ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR, r);
    MHD_destroy_response(r);
    return ret;
}

static int is_ready(void)
{
    xp_snapshot s;
    memset(&s, 0, sizeof(s));
    xp_runtime_lock();
    int ready = xp_runtime_snapshot(&s) == 0 && s.ready;
    xp_runtime_unlock();
    xp_snapshot_free(&s);
    return ready;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    static int request_marker;
    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

    /* A request with a body comes in several calls: take (and drop) the body first. */
    if (*con_cls == NULL) {
        *con_cls = &request_marker;
        if (is_post)
            return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }

    if (strcmp(url, "/-/healthy") == 0)
        return is_get ? MHD_queue_response(c, MHD_HTTP_OK, fixed[R_HEALTHY]) : bad_method(c, "GET, HEAD");

    char path[256];
    pthread_mutex_lock(&path_mu);
    memcpy(path, telemetry_path, sizeof(path));
    pthread_mutex_unlock(&path_mu);

    int known = strcmp(url, path) == 0 || strcmp(url, "/health") == 0 || strcmp(url, "/") == 0 ||
                strcmp(url, "/-/ready") == 0 || strcmp(url, "/-/reload") == 0;
    if (!known)
        return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, fixed[R_NOT_FOUND]);
    if (!authorized(c))
        return MHD_queue_response(c, MHD_HTTP_UNAUTHORIZED, fixed[R_UNAUTHORIZED]);

    if (strcmp(url, "/-/reload") == 0)
        return is_post ? do_reload(c) : bad_method(c, "POST");
    if (!is_get)
        return bad_method(c, "GET, HEAD");
    if (strcmp(url, path) == 0)
        return xp_respcache_queue(c, accepts_gzip(c) ? XP_PAGE_METRICS_GZIP : XP_PAGE_METRICS, path);
    if (strcmp(url, "/health") == 0)
        return xp_respcache_queue(c, XP_PAGE_HEALTH, path);
    if (strcmp(url, "/") == 0)
        return xp_respcache_queue(c, XP_PAGE_STATUS, path);
    int ready = is_ready();
    return MHD_queue_response(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                              fixed[ready ? R_READY : R_NOT_READY]);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    xp_log(XP_LOG_DEBUG, NULL, "http", "detail", msg, NULL);
}

static char *read_small_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *data = malloc(XP_TLS_FILE_MAX + 1);
    size_t n = data ? fread(data, 1, XP_TLS_FILE_MAX + 1, f) : 0;
    int bad = !data || ferror(f) || n > XP_TLS_FILE_MAX;
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "cannot read %s: %s", path, data ? "too large or unreadable" : "out of memory");
        free(data);
        return NULL;
    }
    data[n] = '\0';
    return data;
}

/* Splits "host:port", "[v6]:port" or ":port" into a socket address. */
static int parse_listen(const char *addr, struct sockaddr_storage *ss, int *any_host,
                        unsigned short *port, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || !colon[1]) {
        snprintf(err, errlen, "listen address \"%s\" is not HOST:PORT", addr);
        return -1;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p <= 0 || p > 65535) {
        snprintf(err, errlen, "listen address \"%s\" has a bad port", addr);
        return -1;
    }
    *port = (unsigned short)p;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        addr++;
        hl -= 2;
    }
    if (hl >= sizeof(host)) {
        snprintf(err, errlen, "listen address host too long");
        return -1;
    }
    memcpy(host, addr, hl);
    host[hl] = '\0';
    *any_host = hl == 0;
    if (*any_host)
        return 0;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve listen address \"%s\": %s", host, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

int xp_http_start(const xp_http_opts *o, xp_http_reload_fn reload, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int any_host;
    unsigned short port;
    if (parse_listen(o->listen_address, &ss, &any_host, &port, err, errlen) != 0)
        return -1;
    if (xp_http_set_telemetry_path(o->telemetry_path) != 0) {
        snprintf(err, errlen, "telemetry path too long");
        return -1;
    }
    if (make_fixed() != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    reload_fn = reload;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_USE_TURBO;
    if (o->tls_cert_file && o->tls_key_file) {
        tls_cert = read_small_file(o->tls_cert_file, err, errlen);
        tls_key = tls_cert ? read_small_file(o->tls_key_file, err, errlen) : NULL;
        if (!tls_key)
            return -1;
        flags |= MHD_USE_TLS;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = cpus < 1 ? 1 : cpus > 4 ? 4 : (unsigned)cpus;

    /* The logger goes first, or libmicrohttpd prints the earlier options' messages itself. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
        {MHD_OPTION_THREAD_POOL_SIZE, pool, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, o->max_connections ? o->max_connections : 512, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, XP_CONN_TIMEOUT, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, XP_CONN_MEMORY, NULL},
        {any_host ? MHD_OPTION_END : MHD_OPTION_SOCK_ADDR, 0, any_host ? NULL : &ss},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (tls_cert) {
        size_t n = any_host ? 5 : 6;
        opts[n] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert};
        opts[n + 1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key};
    }
    if (any_host) {
        /* ":PORT" listens on every address, IPv6 and IPv4 where the host has both. */
        daemon_ = MHD_start_daemon(flags | MHD_USE_DUAL_STACK, port, NULL, NULL, handler, NULL,
                                   MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!daemon_)
            daemon_ = MHD_start_daemon(flags, port, NULL, NULL, handler, NULL, MHD_OPTION_ARRAY,
                                       opts, MHD_OPTION_END);
    } else {
        daemon_ = MHD_start_daemon(flags | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), port,
                                   NULL, NULL, handler, NULL, MHD_OPTION_ARRAY, opts,
                                   MHD_OPTION_END);
    }
    if (!daemon_) {
        snprintf(err, errlen, "cannot listen on %s: %s", o->listen_address,
                 errno ? strerror(errno) : "libmicrohttpd refused the options");
        return -1;
    }
    return 0;
}

void xp_http_stop(void)
{
    if (daemon_) {
        MHD_stop_daemon(daemon_);
        daemon_ = NULL;
    }
    xp_respcache_clear();
    for (int i = 0; i < R_COUNT; i++) {
        if (fixed[i])
            MHD_destroy_response(fixed[i]);
        fixed[i] = NULL;
    }
    free(tls_cert);
    if (tls_key)
        explicit_bzero(tls_key, strlen(tls_key));
    free(tls_key);
    tls_cert = tls_key = NULL;
}
