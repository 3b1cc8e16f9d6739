#include "expo/http_requests.h"

#include "expo/expo.h"

#define NAME "resilience_exporter_http_requests_total"

int xp_render_http_requests(const xp_http_count *rows, size_t n, xp_buf *out)
{
    xp_expo_header(out, NAME, "counter",
                   "HTTP requests answered, by handler (the route; \"other\" for unknown paths) "
                   "and status code.");
    for (size_t i = 0; i < n; i++) {
        xp_buf_puts(out, NAME "{handler=\"");
        xp_expo_label_value(out, rows[i].handler);
        xp_buf_printf(out, "\",code=\"%u\"} ", rows[i].code);
        xp_expo_u64(out, rows[i].count);
        xp_buf_putc(out, '\n');
    }
    return xp_buf_failed(out) ? -1 : 0;
}
