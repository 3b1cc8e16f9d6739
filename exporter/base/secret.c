#include "base/secret.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_word(const char *text, size_t i, size_t tl)
{
    return i < tl && isalnum((unsigned char)text[i]);
}

/* The length of the longest secret that matches text at i, 0 when none does. */
static size_t scrub_match(const char *text, size_t i, size_t tl, const char *const *secrets,
                          size_t n)
{
    size_t best = 0;
    for (size_t k = 0; k < n; k++) {
        size_t len = secrets[k] ? strlen(secrets[k]) : 0;
        if (!len || len <= best || len > tl - i || memcmp(text + i, secrets[k], len) != 0)
            continue;
        if (len < XP_SECRET_SHORT &&
            ((i > 0 && is_word(text, i - 1, tl)) || is_word(text, i + len, tl)))
            continue;
        best = len;
    }
    return best;
}

void xp_secret_scrub_all(char *text, size_t cap, const char *const *secrets, size_t n)
{
    if (cap) {
        text[strnlen(text, cap - 1)] = '\0';
        xp_secret_scrub_copy(text, cap, text, secrets, n);
    }
}

void xp_secret_scrub_copy(char *dst, size_t cap, const char *text, const char *const *secrets,
                          size_t n)
{
    static const char mark[] = XP_SECRET_MARK;
    const size_t m = sizeof(mark) - 1;
    if (!cap)
        return;
    size_t tl = strlen(text);
    /* Built whole, then cut: cutting first could leave the start of a secret behind. Each
     * character grows to the mark at most. */
    char *out = malloc(tl * m + 1);
    if (!out) {
        snprintf(dst, cap, "%s", mark); /* nothing of the text is safer than a leak */
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < tl;) {
        int marked = tl - i >= m && memcmp(text + i, mark, m) == 0; /* stays as it is */
        size_t len = marked ? m : scrub_match(text, i, tl, secrets, n);
        if (len) {
            memcpy(out + o, mark, m);
            o += m;
            i += len;
        } else {
            out[o++] = text[i++];
        }
    }
    size_t keep = o < cap - 1 ? o : cap - 1;
    memcpy(dst, out, keep);
    dst[keep] = '\0';
    explicit_bzero(out, o);
    free(out);
}

void xp_secret_scrub(char *text, size_t cap, const char *secret)
{
    xp_secret_scrub_all(text, cap, &secret, 1);
}

static int hexval(char ch)
{
    const char *digits = "0123456789abcdef", *d = ch ? strchr(digits, ch | 0x20) : NULL;
    return d ? (int)(d - digits) : -1;
}

/* Reports p as written and, when it holds a %XX (not %00), decoded. */
static int found2(int (*found)(void *, const char *, size_t), void *user, const char *p, size_t len)
{
    char *dec = malloc(len + 1);
    size_t o = 0;
    if (!dec || found(user, p, len) != 0) {
        free(dec);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        int hi = p[i] == '%' && i + 2 < len ? hexval(p[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(p[i + 2]) : -1;
        int code = lo >= 0 ? hi * 16 + lo : 0;
        dec[o++] = code ? (char)code : p[i];
        i += code ? 2 : 0;
    }
    int rc = o < len ? found(user, dec, o) : 0;
    explicit_bzero(dec, o);
    free(dec);
    return rc;
}

int xp_secret_embedded(const char *v, int (*found)(void *user, const char *p, size_t len),
                       void *user)
{
    const char *sep = strstr(v, "://");
    if (sep) {
        /* The last '@' ends the userinfo: a password may hold an unescaped '@' or '/'; when
         * that takes a path for a password, more is scrubbed, never less. */
        const char *auth = sep + 3, *at = strrchr(auth, '@');
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon && at > colon + 1 && found2(found, user, colon + 1, (size_t)(at - colon - 1)))
            return -1;
    }
    for (const char *p = v; (p = strcasestr(p, "password")) != NULL; p += 8) {
        if (p > v && !strchr(" \t?&;", p[-1]))
            continue;
        const char *q = p + 8 + strspn(p + 8, " \t");
        if (*q != '=')
            continue;
        q += 1 + strspn(q + 1, " \t");
        size_t len = strcspn(q, " \t&");
        if (*q == '\'') /* a quoted conninfo value; \' does not end it */
            for (q++, len = 0; q[len] && q[len] != '\'';
                 len += q[len] == '\\' && q[len + 1] ? 2 : 1)
                ;
        if (len && found2(found, user, q, len) != 0)
            return -1;
    }
    return 0;
}
