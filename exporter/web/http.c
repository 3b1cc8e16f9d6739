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
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/workers.h"
#include "web/certs.h"
#include "web/gate.h"
#include "web/handler.h"
#include "web/headers.h"
#include "web/longpoll.h"
#include "web/page_render.h"
#include "web/respcache.h"

#define XP_CONN_TIMEOUT 10      /* seconds an idle or slow client may hold a connection */
#define XP_CONN_MEMORY (16 * 1024) /* per-connection memory: caps request headers */

/* Seconds a shutdown waits for requests already being answered before it closes every
 * connection: SIGTERM must end the process within 2 s (SPEC section 3), probes included. */
#define XP_DRAIN_SECONDS 0.5

static struct MHD_Daemon *daemon_;
static int tls_on; /* set at start, for the process's life */

int xp_http_set_telemetry_path(const char *path)
{
    return xp_handler_set_telemetry_path(path);
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

/* The response headers of w (the defaults, HSTS with TLS on, then http_server_config.headers),
 * built but not installed. */
static xp_header_set *headers_of(const xp_web_cfg *w, char *err, size_t errlen)
{
    xp_header_kv kv[16];
    size_t n = 0;
    for (size_t i = 0; i < w->n_headers && n < sizeof(kv) / sizeof(kv[0]); i++)
        kv[n++] = (xp_header_kv){w->headers[i].name, w->headers[i].value};
    return xp_headers_build(tls_on, kv, n, err, errlen);
}

struct xp_http_next {
    xp_header_set *headers;
    xp_certs_state *certs; /* NULL: the TLS settings stay (TLS off, or no certificate named) */
    xp_gate_next *gate;
    int has_cert;          /* the new settings name a certificate */
};

void xp_http_discard(xp_http_next *n)
{
    if (!n)
        return;
    xp_headers_free(n->headers);
    xp_certs_discard(n->certs);
    xp_gate_discard(n->gate);
    free(n);
}

/* certs: load the TLS files again (not at start: xp_certs_start just did). */
static xp_http_next *prepare(const xp_web_cfg *w, int certs, char *err, size_t errlen)
{
    xp_http_next *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->has_cert = w->tls_cert_file != NULL;
    if (!(n->headers = headers_of(w, err, errlen)))
        goto fail;
    if (certs && tls_on && w->tls_cert_file && !(n->certs = xp_certs_prepare(w, err, errlen)))
        goto fail;
    if (!(n->gate = xp_gate_prepare(w))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return n;
fail:
    xp_http_discard(n);
    return NULL;
}

xp_http_next *xp_http_prepare(const xp_web_cfg *w, char *err, size_t errlen)
{
    return prepare(w, 1, err, errlen);
}

void xp_http_commit(xp_http_next *n)
{
    if (n->certs)
        xp_certs_commit(n->certs);
    xp_gate_commit(n->gate);
    xp_headers_install(n->headers);
    if (tls_on != n->has_cert)
        xp_log(XP_LOG_WARN, NULL,
               tls_on ? "TLS stays on until a restart (the new settings have no certificate)"
                      : "TLS takes effect only at restart",
               NULL);
    free(n);
}

int xp_http_start(const xp_http_opts *o, xp_http_reload_fn reload, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int any_host;
    unsigned short port;
    const xp_web_cfg *w = o->web;
    if (parse_listen(o->listen_address, &ss, &any_host, &port, err, errlen) != 0)
        return -1;
    if (xp_http_set_telemetry_path(o->telemetry_path) != 0) {
        snprintf(err, errlen, "telemetry path too long");
        return -1;
    }
    tls_on = w->tls_cert_file != NULL;
    const char *priorities = NULL;
    if (tls_on && xp_certs_start(w, &priorities, err, errlen) != 0)
        return -1;
    if (xp_gate_start() != 0) {
        snprintf(err, errlen, "cannot start the bcrypt threads");
        return -1;
    }
    xp_http_next *first = prepare(w, 0, err, errlen);
    if (!first)
        return -1;
    xp_http_commit(first);
    if (xp_handler_init(reload, o->enable_lifecycle) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    /* ITC: an event descriptor per worker, so a shutdown wakes every worker at once. Without
     * it a worker that is not listening (at its share of max_connections, or given a share
     * of 0 when max_connections is below the pool size) slept in epoll_wait until a
     * connection timed out, or forever, and MHD_stop_daemon waited on it. Suspend/resume: a
     * connection waits for the bcrypt threads (web/authpool.h), and a long-poll
     * (/health?wait=) waits for a change, without holding a worker. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_TURBO |
                     MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    /* With TLS, poll() rather than epoll: libmicrohttpd 0.9.75's epoll loop spins on a
     * connection in its handshake (recv gives EAGAIN, epoll_wait returns at once, again),
     * measured at 1.27 ms of CPU per new TLS connection against 0.37 ms with poll() and half
     * the handshakes per second (docs/architecture.md, "Performance at scale, measured");
     * kept-alive scrapes ran at the same rate either way. */
    flags |= tls_on ? MHD_USE_TLS | MHD_USE_POLL : MHD_USE_EPOLL;
    unsigned pool = xp_http_workers();
    unsigned max_conn = w->max_connections ? w->max_connections : 512;
    /* At most half the connections may wait: the other half stays for scrapes. */
    if (xp_longpoll_start(max_conn / 2) != 0) {
        snprintf(err, errlen, "cannot start the long-poll thread");
        return -1;
    }

    /* The logger goes first, or libmicrohttpd prints the earlier options' messages itself. */
    struct MHD_OptionItem opts[14];
    size_t n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, pool, NULL};
    /* Without these libmicrohttpd keeps a silent client forever and accepts about
     * FD_SETSIZE of them: a slowloris would take every descriptor. A connection that has
     * been answered gets a longer idle time from the handler (keep-alive between scrapes). */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, max_conn, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, XP_CONN_TIMEOUT, NULL};
    /* The request line and headers must fit here: a bigger request gets 414 or 431. */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, XP_CONN_MEMORY, NULL};
    /* Not strict: in libmicrohttpd 0.9.75 strictness only adds the Host check (answered
     * with an HTML page and a doubled response head; the handler checks Host instead) and
     * refuses spaces in the request target (such a target matches no path: 404). */
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 0, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
                                        (intptr_t)xp_handler_completed, NULL};
    if (!any_host)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    if (tls_on) {
        /* No certificate is given to libmicrohttpd: each handshake asks web/certs.c, which
         * serves the pair in force and swaps it when the files change. Each new connection
         * is set up there too (TLS versions, client certificates). */
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
                                            (void *)xp_certs_retrieve};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
                                            (intptr_t)xp_certs_notify, NULL};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)priorities};
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (any_host) {
        /* ":PORT" listens on every address, IPv6 and IPv4 where the host has both. */
        daemon_ = MHD_start_daemon(flags | MHD_USE_DUAL_STACK, port, NULL, NULL, xp_handler,
                                   NULL, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!daemon_)
            daemon_ = MHD_start_daemon(flags, port, NULL, NULL, xp_handler, NULL,
                                       MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    } else {
        daemon_ = MHD_start_daemon(flags | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), port,
                                   NULL, NULL, xp_handler, NULL, MHD_OPTION_ARRAY, opts,
                                   MHD_OPTION_END);
    }
    if (!daemon_) {
        snprintf(err, errlen, "cannot listen on %s: %s", o->listen_address,
                 errno ? strerror(errno) : "libmicrohttpd refused the options");
        return -1;
    }
    if (xp_respcache_start() != 0) /* scrapes then render large bodies themselves */
        xp_log(XP_LOG_WARN, NULL, "cannot start the /metrics builder thread", NULL);
    return 0;
}

void xp_http_stop(void)
{
    if (daemon_) {
        /* Stop accepting, give the requests being answered a moment, then close every
         * connection (idle keep-alive and half-sent ones included) and join the workers.
         * libmicrohttpd must not stop with a connection suspended: those still waiting for
         * bcrypt are resumed (answered 503) first. */
        MHD_socket listener = MHD_quiesce_daemon(daemon_);
        /* Long-polls are answered first (each gets its 304 or 200 now), and no request may
         * stay suspended when the daemon stops. */
        xp_longpoll_stop();
        double deadline = xp_clock_mono() + XP_DRAIN_SECONDS;
        while (xp_handler_in_flight() > 0 && xp_clock_mono() < deadline)
            nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
        xp_gate_stop();
        MHD_stop_daemon(daemon_);
        if (listener != MHD_INVALID_SOCKET)
            close(listener); /* a quiesced daemon leaves its listening socket to us */
        daemon_ = NULL;
    } else {
        xp_gate_stop();
    }
    xp_longpoll_stop(); /* a start that failed before the daemon ran */
    xp_respcache_stop();
    xp_respcache_clear();
    xp_page_render_free();
    xp_handler_free();
    xp_headers_install(NULL);
    xp_certs_stop();
    xp_gate_free();
}
