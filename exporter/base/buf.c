#include "base/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xp_buf_init(xp_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void xp_buf_free(xp_buf *b)
{
    free(b->data);
    xp_buf_init(b);
}

void xp_buf_reset(xp_buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

int xp_buf_reserve(xp_buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > SIZE_MAX / 2 - b->len - 1) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void xp_buf_append(xp_buf *b, const char *s, size_t n)
{
    if (xp_buf_reserve(b, n) != 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void xp_buf_puts(xp_buf *b, const char *s)
{
    xp_buf_append(b, s, strlen(s));
}

void xp_buf_putc(xp_buf *b, char c)
{
    xp_buf_append(b, &c, 1);
}

void xp_buf_vprintf(xp_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    /* Try in the space we have; grow once if it did not fit. */
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = b->failed ? -1 : vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    if (n < 0) {
        b->failed = 1;
    } else if ((size_t)n >= room) {
        if (xp_buf_reserve(b, (size_t)n) == 0) {
            vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
            b->len += (size_t)n;
        }
    } else {
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void xp_buf_printf(xp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xp_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

int xp_buf_failed(const xp_buf *b)
{
    return b->failed;
}

char *xp_buf_steal(xp_buf *b, size_t *len)
{
    if (b->failed || xp_buf_reserve(b, 0) != 0) {
        xp_buf_free(b);
        return NULL;
    }
    b->data[b->len] = '\0'; /* a buffer only reserved was never terminated */
    char *p = b->data;
    if (len)
        *len = b->len;
    xp_buf_init(b);
    return p;
}
