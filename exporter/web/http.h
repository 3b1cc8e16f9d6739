/* The HTTP server (libmicrohttpd): /metrics, /health, /, /-/healthy, /-/ready, /-/reload.
 * Connections are kept alive between requests (HTTP/1.1 persistent connections). */
#ifndef XP_HTTP_H
#define XP_HTTP_H

#include <stddef.h>

#include "config/config.h"
#include "web/headers.h"

/* Longest telemetry path plus its NUL; a longer one is a config error. */
#define XP_TELEMETRY_PATH_MAX 256

typedef struct xp_http_opts {
    const char *listen_address; /* ":9866", "127.0.0.1:9866", "[::1]:9866" */
    const char *telemetry_path;
    int enable_lifecycle; /* --web.enable-lifecycle: POST /-/reload allowed, else 403 */
    /* max_connections, TLS (on when tls_cert_file is set: for the process's life), and what
     * xp_http_prepare takes. */
    const xp_web_cfg *web;
} xp_http_opts;

/* Runs POST /-/reload; 0 = reloaded, else err holds a message fit for the client. */
typedef int (*xp_http_reload_fn)(char *err, size_t errlen);

int xp_http_start(const xp_http_opts *o, xp_http_reload_fn reload, char *err, size_t errlen);
/* At reload: the web settings a running server takes: the certificate, key, client CA, client
 * certificate policy and TLS versions (when TLS is on), the response headers, the users, the
 * API key and the rate limit. TLS itself turned on or off takes a restart (logged). In two
 * steps, so a reload takes the web settings and everything else all or nothing:
 * xp_http_prepare loads and checks everything of w (TLS files, headers, copies of the
 * credentials) and changes nothing (NULL with err set); xp_http_commit puts it in force and
 * cannot fail; xp_http_discard drops it unused. Each prepared value gets exactly one commit
 * or discard, and w need not outlive the prepare. */
typedef struct xp_http_next xp_http_next;
xp_http_next *xp_http_prepare(const xp_web_cfg *w, char *err, size_t errlen);
void xp_http_commit(xp_http_next *n);
void xp_http_discard(xp_http_next *n);
/* A reload may move the telemetry path; the listener itself stays. */
int xp_http_set_telemetry_path(const char *path);
/* Stops accepting, lets requests being answered finish (at most 0.5 s), closes every
 * connection, frees everything. Returns within about 0.5 s whatever clients do. */
void xp_http_stop(void);

#endif
