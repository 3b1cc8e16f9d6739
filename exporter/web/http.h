/* The HTTP server (libmicrohttpd): /metrics, /health, /, /-/healthy, /-/ready, /-/reload.
 * Connections are kept alive between requests (HTTP/1.1 persistent connections). */
#ifndef XP_HTTP_H
#define XP_HTTP_H

#include <stddef.h>

#include "web/headers.h"

typedef struct xp_http_opts {
    const char *listen_address; /* ":9866", "127.0.0.1:9866", "[::1]:9866" */
    const char *telemetry_path;
    unsigned max_connections;
    const char *tls_cert_file; /* both or neither */
    const char *tls_key_file;
    int enable_lifecycle; /* --web.enable-lifecycle: POST /-/reload allowed, else 403 */
    const xp_header_kv *headers; /* http_server_config.headers: on every response */
    size_t n_headers;
} xp_http_opts;

/* Runs POST /-/reload; 0 = reloaded, else err holds a message fit for the client. */
typedef int (*xp_http_reload_fn)(char *err, size_t errlen);

int xp_http_start(const xp_http_opts *o, xp_http_reload_fn reload, char *err, size_t errlen);
/* A reload may move the telemetry path; the listener itself stays. */
int xp_http_set_telemetry_path(const char *path);
/* Replaces the response headers (the defaults, HSTS when tls, then `extra`): at start, and
 * from a reload that changes http_server_config.headers. Responses made from now on carry
 * the new set. 0 = ok; -1 with err set keeps the old set. */
int xp_http_set_headers(int tls, const xp_header_kv *extra, size_t n_extra, char *err,
                        size_t errlen);
/* Stops accepting, lets requests being answered finish (at most 0.5 s), closes every
 * connection, frees everything. Returns within about 0.5 s whatever clients do. */
void xp_http_stop(void);

#endif
