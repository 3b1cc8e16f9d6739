/* resilience_exporter_http_requests_total{handler, code}: the family's text, from counts
 * the web part keeps (the exposition never reaches into the web part: it is handed rows). */
#ifndef XP_HTTP_REQUESTS_H
#define XP_HTTP_REQUESTS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

typedef struct xp_http_count {
    const char *handler; /* a route name from a fixed set: never text from a request */
    unsigned code;       /* HTTP status */
    uint64_t count;
} xp_http_count;

/* Appends HELP, TYPE and one sample per row, in the order given. 0, or -1 when the buffer
 * could not grow. */
int xp_render_http_requests(const xp_http_count *rows, size_t n, xp_buf *out);

#endif
