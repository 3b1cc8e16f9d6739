#include "web/http.h"

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

#include "web/auth.h"
#include "base/log.h"
#include "base/workers.h"
#include "web/respcache.h"
#include "engine/runtime.h"

#define XP_CONN_TIMEOUT 10      /* seconds an idle or slow client may hold a connection */
#define XP_CONN_MEMORY (16 * 1024) /* per-connection memory: caps request headers */
#define XP_TLS_FILE_MAX (1024 * 1024)
#define XP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

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
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
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
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8") !=
        MHD_YES) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
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

/* What the first call of a request decided, kept for the calls that carry its body. */
static int request_passed; /* the request may go on to its page */

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    int is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

    if (strcmp(url, "/-/healthy") == 0) {
        if (*upload_size) {
            *upload_size = 0; /* a body nobody asked for: read and dropped */
            return MHD_YES;
        }
        return is_get ? MHD_queue_response(c, MHD_HTTP_OK, fixed[R_HEALTHY]) : bad_method(c, "GET, HEAD");
    }

    /* Credentials are checked on the first call, before any body is read, and for every
     * other path, known or not: without them a client learns nothing, not even which paths
     * exist, and cannot make us read a body. Answering now, with a body still unread, makes
     * libmicrohttpd close the connection after the answer. */
    if (*con_cls == NULL) {
        if (!authorized(c))
            return MHD_queue_response(c, MHD_HTTP_UNAUTHORIZED, fixed[R_UNAUTHORIZED]);
        *con_cls = &request_passed;
        if (is_post)
            return MHD_YES; /* the body (if any) comes in the next calls */
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }

    char path[256];
    pthread_mutex_lock(&path_mu);
    memcpy(path, telemetry_path, sizeof(path));
    pthread_mutex_unlock(&path_mu);

    if (strcmp(url, "/-/reload") == 0)
        return is_post ? do_reload(c) : bad_method(c, "POST");
    int known = strcmp(url, path) == 0 || strcmp(url, "/health") == 0 || strcmp(url, "/") == 0 ||
                strcmp(url, "/-/ready") == 0;
    if (!known)
        return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, fixed[R_NOT_FOUND]);
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

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* libmicrohttpd's own unescaping turns "%00" into a NUL, so "/metrics%00junk" would reach
 * the handler as "/metrics" and pass for a known path. Decode %XX as it does, but leave an
 * encoded NUL as the three characters it was: such a path then matches nothing (404). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    char *out = s;
    for (const char *in = s; *in; in++) {
        int hi, lo;
        if (in[0] == '%' && (hi = hexval(in[1])) >= 0 && (lo = hexval(in[2])) >= 0 && (hi | lo)) {
            *out++ = (char)(hi * 16 + lo);
            in += 2;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

/* libmicrohttpd passes printf-style formats of its own: checked as such by the compiler. */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
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
    unsigned pool = xp_http_workers();

    /* The logger goes first, or libmicrohttpd prints the earlier options' messages itself. */
    struct MHD_OptionItem opts[12];
    size_t n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, pool, NULL};
    /* Without these libmicrohttpd keeps a silent client forever and accepts about
     * FD_SETSIZE of them: a slowloris would take every descriptor. */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                        o->max_connections ? o->max_connections : 512, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, XP_CONN_TIMEOUT, NULL};
    /* The request line and headers must fit here: a bigger request gets 414 or 431. */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, XP_CONN_MEMORY, NULL};
    /* Malformed requests (no Host in HTTP/1.1, spaces in header names, bare LF) get 400
     * rather than a guess at what the client meant. */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL};
    if (!any_host)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    if (tls_cert) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key};
        /* TLS 1.2 and 1.3 only, the floor the Prometheus exporter-toolkit keeps. */
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)XP_TLS_PRIORITIES};
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
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
