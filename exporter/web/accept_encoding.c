#include "web/accept_encoding.h"

#include <string.h>
#include <strings.h>

#define Q_ABSENT (-1)

static int is_tchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static const char *skip_token(const char *p)
{
    while (is_tchar(*p))
        p++;
    return p;
}

/* A quoted-string starting at p (on the quote); returns the character after it, or NULL. */
static const char *skip_quoted(const char *p)
{
    for (p++; *p; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\' && !*++p)
            return NULL;
    }
    return NULL;
}

/* RFC 9110 qvalue: "0" or "1", then at most three decimals (only zeros after "1"), in
 * thousandths; -1 if it is not one. */
static int parse_qvalue(const char *p, size_t len)
{
    if (len == 0 || (p[0] != '0' && p[0] != '1'))
        return -1;
    int q = (p[0] - '0') * 1000;
    if (len == 1)
        return q;
    if (p[1] != '.' || len > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < len; i++, scale /= 10) {
        if (p[i] < '0' || p[i] > '9' || (q == 1000 && p[i] != '0'))
            return -1;
        q += (p[i] - '0') * scale;
    }
    return q;
}

/* Parses one element at p: the coding in name and name_len, its weight in q.
 * Returns the position after it (at ',' or the end), or NULL when it is malformed. */
static const char *element(const char *p, const char **name, size_t *name_len, int *q)
{
    const char *end = skip_token(p);
    *name = p;
    *name_len = (size_t)(end - p);
    *q = 1000;
    if (*name_len == 0)
        return NULL;
    p = skip_ows(end);
    while (*p == ';') {
        p = skip_ows(p + 1);
        const char *pname = p;
        p = skip_token(p);
        size_t plen = (size_t)(p - pname);
        if (plen == 0 || *p != '=')
            return NULL;
        const char *val = ++p;
        if (*p == '"') {
            if (!(p = skip_quoted(p)))
                return NULL;
        } else {
            p = skip_token(p);
        }
        if (plen == 1 && (pname[0] == 'q' || pname[0] == 'Q') &&
            (*q = parse_qvalue(val, (size_t)(p - val))) < 0)
            return NULL;
        p = skip_ows(p);
    }
    return (*p == ',' || !*p) ? p : NULL;
}

/* After a malformed element: the next ',' that is not inside a quoted string, or the end. */
static const char *resync(const char *p)
{
    while (*p && *p != ',') {
        if (*p == '"') {
            const char *after = skip_quoted(p);
            if (!after)
                return p + strlen(p);
            p = after;
        } else {
            p++;
        }
    }
    return p;
}

static int is(const char *name, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(name, word, len) == 0;
}

static void keep_max(int *slot, int q)
{
    if (q > *slot)
        *slot = q;
}

int xp_accept_gzip(const char *value)
{
    if (!value)
        return 0;
    int gzip = Q_ABSENT, star = Q_ABSENT, identity = Q_ABSENT;
    const char *p = value;
    while (*p) {
        p = skip_ows(p);
        if (*p == ',') { /* empty list elements are allowed: "a, , b" */
            p++;
            continue;
        }
        if (!*p)
            break;
        const char *name;
        size_t len;
        int q;
        const char *next = element(p, &name, &len, &q);
        if (!next) {
            p = resync(p);
            continue;
        }
        if (is(name, len, "gzip") || is(name, len, "x-gzip"))
            keep_max(&gzip, q);
        else if (is(name, len, "*"))
            keep_max(&star, q);
        else if (is(name, len, "identity"))
            keep_max(&identity, q);
        p = next;
    }
    int g = gzip != Q_ABSENT ? gzip : star != Q_ABSENT ? star : 0;
    if (g <= 0)
        return 0;
    /* Identity is acceptable unless refused, but preferred only when weighted above gzip. */
    return identity == Q_ABSENT || g >= identity;
}
