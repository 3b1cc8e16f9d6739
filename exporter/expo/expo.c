#include "expo/expo.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void escape(xp_buf *b, const char *s, int quotes)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (*s == '"' && quotes)
            rep = "\\\"";
        if (!rep)
            continue;
        xp_buf_append(b, run, (size_t)(s - run));
        xp_buf_append(b, rep, 2);
        run = s + 1;
    }
    xp_buf_append(b, run, (size_t)(s - run));
}

void xp_expo_label_value(xp_buf *b, const char *s)
{
    escape(b, s, 1);
}

void xp_expo_help_text(xp_buf *b, const char *s)
{
    escape(b, s, 0);
}

void xp_expo_header(xp_buf *b, const char *name, const char *type, const char *help)
{
    xp_buf_puts(b, "# HELP ");
    xp_buf_puts(b, name);
    xp_buf_putc(b, ' ');
    xp_expo_help_text(b, help);
    xp_buf_puts(b, "\n# TYPE ");
    xp_buf_puts(b, name);
    xp_buf_putc(b, ' ');
    xp_buf_puts(b, type);
    xp_buf_putc(b, '\n');
}

void xp_expo_u64(xp_buf *b, uint64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    xp_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

void xp_expo_double(xp_buf *b, double v)
{
    if (isnan(v)) {
        xp_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        xp_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Whole numbers (most of ours: states, counts, levels) skip printf. */
    if (v == floor(v) && fabs(v) < 1e15) {
        if (v < 0) {
            xp_buf_putc(b, '-');
            v = -v;
        }
        xp_expo_u64(b, (uint64_t)v);
        return;
    }
    char tmp[32];
    /* %.15g is exact for most values; fall back to %.17g where it does not round-trip. */
    int n = snprintf(tmp, sizeof(tmp), "%.15g", v);
    if (strtod(tmp, NULL) != v)
        n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    xp_buf_append(b, tmp, (size_t)n);
}
