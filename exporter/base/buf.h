/* A growable byte buffer. An allocation failure is sticky: every later append is a no-op
 * and xp_buf_failed() reports it once at the end, so callers check one place, not each call. */
#ifndef XP_BUF_H
#define XP_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct xp_buf {
    char *data; /* NUL-terminated while not failed */
    size_t len;
    size_t cap;
    int failed;
} xp_buf;

void xp_buf_init(xp_buf *b);
void xp_buf_free(xp_buf *b);
void xp_buf_reset(xp_buf *b); /* keep capacity, drop contents */
int xp_buf_reserve(xp_buf *b, size_t extra);
void xp_buf_append(xp_buf *b, const char *s, size_t n);
void xp_buf_puts(xp_buf *b, const char *s);
void xp_buf_putc(xp_buf *b, char c);
void xp_buf_printf(xp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void xp_buf_vprintf(xp_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
int xp_buf_failed(const xp_buf *b);
/* Hands the bytes to the caller (who frees them) and leaves b empty. NULL on failure. */
char *xp_buf_steal(xp_buf *b, size_t *len);

#endif
