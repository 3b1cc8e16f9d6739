/* The HTTP server (libmicrohttpd): /metrics, /health, /, /-/healthy, /-/ready, /-/reload. */
#ifndef XP_HTTP_H
#define XP_HTTP_H

#include <stddef.h>

/* Longest telemetry path plus its NUL; a longer one is a config error. */
#define XP_TELEMETRY_PATH_MAX 256

typedef struct xp_http_opts {
    const char *listen_address; /* ":9866", "127.0.0.1:9866", "[::1]:9866" */
    const char *telemetry_path;
    unsigned max_connections;
    const char *tls_cert_file; /* both or neither */
    const char *tls_key_file;
} xp_http_opts;

/* Runs POST /-/reload; 0 = reloaded, else err holds a message fit for the client. */
typedef int (*xp_http_reload_fn)(char *err, size_t errlen);

int xp_http_start(const xp_http_opts *o, xp_http_reload_fn reload, char *err, size_t errlen);
/* A reload may move the telemetry path; the listener itself stays. */
int xp_http_set_telemetry_path(const char *path);
/* Stops accepting, lets in-flight requests finish, frees everything. */
void xp_http_stop(void);

#endif
