/* Parsers and checks of single config values: pure functions of the text. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/engine.h"
#include "model/level.h"

/* strtod also takes "inf", "nan", hex and leading blanks; a config number is plain decimal. */
static int cfg_strtod(const char *s, double *out, const char **end)
{
    const char *p = s + (*s == '+' || *s == '-');
    if (!isdigit((unsigned char)p[0]) && !(p[0] == '.' && isdigit((unsigned char)p[1])))
        return -1;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        return -1;
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    *end = e;
    return 0;
}

int xp_duration_parse(const char *s, double *seconds)
{
    /* A negative scale divides: 300ms is 300 / 1000, the same double as 0.3s. */
    static const struct {
        const char *suffix;
        double scale;
    } units[] = {{"", 1}, {"s", 1}, {"ms", -1000}, {"m", 60}, {"h", 3600}};
    double v;
    const char *end;
    if (!s || *s == '-' || *s == '+' || cfg_strtod(s, &v, &end) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        v = units[i].scale < 0 ? v / -units[i].scale : v * units[i].scale;
        /* The bound keeps every later conversion (to time_t, to nanoseconds) in range. */
        if (!(v > 0) || v > XP_DURATION_MAX)
            return -1;
        *seconds = v;
        return 0;
    }
    return -1;
}

int xp_cfg_parse_number(const char *s, double min, double max, double *out)
{
    double v;
    const char *end;
    if (cfg_strtod(s, &v, &end) != 0 || *end || v < min || v > max)
        return -1;
    *out = v == 0 ? 0 : v; /* no -0 */
    return 0;
}

int xp_cfg_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int xp_cfg_parse_percent(const char *s, double *fraction)
{
    double v;
    const char *end;
    if (*s == '+' || cfg_strtod(s, &v, &end) != 0 || (*end && strcmp(end, "%") != 0) || !(v > 0) ||
        v > 100)
        return -1;
    *fraction = v / 100;
    return 0;
}

int xp_cfg_parse_bool(const char *s, int *out)
{
    static const char *const words[] = {"false", "true", "no", "yes", "off", "on", "0", "1"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasecmp(s, words[i]) == 0) {
            *out = (int)(i % 2);
            return 0;
        }
    }
    return -1;
}

int xp_cfg_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The next comma-separated item of *p, trimmed, into item; 0 = ok, -1 = empty or too long.
 * *p becomes NULL after the last one; an empty or blank s has no item at all. */
static int next_item(const char **p, char *item, size_t cap)
{
    const char *s = *p + strspn(*p, " \t");
    size_t len = strcspn(s, ",");
    *p = s[len] == ',' ? s + len + 1 : NULL;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= cap)
        return -1;
    memcpy(item, s, len);
    item[len] = '\0';
    return 0;
}

static const char *first_item(const char *s)
{
    return s[strspn(s, " \t")] ? s : NULL;
}

int xp_cfg_parse_list(const char *s, char **out, char *why, size_t whylen)
{
    char *list = calloc(1, strlen(s) + 3), item[256], key[260];
    if (!list)
        return xp_cfg_why(why, whylen, "a list (out of memory)");
    for (const char *p = first_item(s); p;) { /* kept as ",a,b," until the end */
        if (next_item(&p, item, sizeof(item)) != 0 || !xp_cfg_valid_name(item)) {
            free(list);
            return xp_cfg_why(why, whylen,
                              "a list of names such as a, b (letters, digits, '_', "
                              "'.', '-'), without an empty entry");
        }
        snprintf(key, sizeof(key), ",%s,", item);
        if (strstr(list, key)) {
            free(list);
            return xp_cfg_why(why, whylen, "a list of distinct names (\"%s\" twice)", item);
        }
        strcpy(list + (*list ? strlen(list) - 1 : 0), key);
    }
    size_t n = strlen(list);
    memmove(list, list + (n > 0), n > 1 ? n - 2 : 0);
    list[n > 1 ? n - 2 : 0] = '\0';
    *out = list;
    return 0;
}

int xp_cfg_parse_cascade(const char *s, void *field, char *why, size_t whylen)
{
    xp_degradation_cfg *d = field;
    xp_cascade_step steps[XP_CASCADE_MAX];
    size_t n = 0;
    for (const char *p = first_item(s); p; n++) {
        char item[64], *colon, *lv;
        unsigned count;
        if (next_item(&p, item, sizeof(item)) != 0)
            return xp_cfg_why(why, whylen,
                              "entry %zu is empty or too long; write N:level, e.g. "
                              "1:degraded, 2:limited",
                              n + 1);
        if (!(colon = strchr(item, ':')))
            return xp_cfg_why(why, whylen, "\"%s\" is not N:level", item);
        lv = colon + 1 + strspn(colon + 1, " \t");
        for (*colon = '\0'; colon > item && (colon[-1] == ' ' || colon[-1] == '\t');)
            *--colon = '\0';
        if (xp_cfg_parse_uint(item, 1, XP_COUNT_MAX, &count) != 0)
            return xp_cfg_why(why, whylen, "\"%s\" is not a number of breakers from 1 to %u", item,
                              XP_COUNT_MAX);
        int level = xp_level_parse(lv);
        if (level < 0)
            return xp_cfg_why(why, whylen,
                              "\"%s\" is not a level (optimal, degraded, limited, "
                              "minimal, emergency)",
                              lv);
        size_t at = n;
        for (size_t i = 0; i < n; i++)
            if (steps[i].count == count)
                return xp_cfg_why(why, whylen, "%u is given twice", count);
        if (n == XP_CASCADE_MAX)
            return xp_cfg_why(why, whylen, "more than %d entries", XP_CASCADE_MAX);
        for (; at > 0 && steps[at - 1].count > count; at--) /* kept sorted by count */
            steps[at] = steps[at - 1];
        steps[at] = (xp_cascade_step){count, level};
    }
    memcpy(d->cascade, steps, n * sizeof(steps[0]));
    d->n_cascade = n;
    return 0;
}

int xp_cfg_parse_rate(const char *s, void *field, char *why, size_t whylen)
{
    xp_rate_limit *r = field;
    const char *slash = strchr(s, '/');
    char n[32];
    unsigned burst;
    double period;
    if (!slash || (size_t)(slash - s) >= sizeof(n))
        return xp_cfg_why(why, whylen, "N/PERIOD, such as 100/60s (N requests per PERIOD)");
    snprintf(n, sizeof(n), "%.*s", (int)(slash - s), s);
    if (xp_cfg_parse_uint(n, 1, XP_COUNT_MAX, &burst) != 0)
        return xp_cfg_why(why, whylen, "N/PERIOD with N a whole number from 1 to %u", XP_COUNT_MAX);
    if (xp_duration_parse(slash + 1, &period) != 0)
        return xp_cfg_why(why, whylen,
                          "N/PERIOD with PERIOD a positive duration such as 500ms, 60s or 1h, at "
                          "most 30 days");
    *r = (xp_rate_limit){burst, period};
    return 0;
}

int xp_cfg_valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
            return 0;
    return 1;
}

int xp_cfg_check_listen(const char *s, char *why, size_t whylen)
{
    const char *colon = strrchr(s, ':');
    unsigned port;
    if (!colon || (s[0] == '[' && (colon == s || colon[-1] != ']')) ||
        xp_cfg_parse_uint(colon + 1, 1, 65535, &port) != 0)
        return xp_cfg_why(why, whylen, "HOST:PORT or :PORT with PORT from 1 to 65535");
    return 0;
}

/* The paths of the other endpoints (SPEC sections 3 and 7): /metrics must not hide one. A
 * trailing '/' reserves everything below it. */
static const char *const reserved_paths[] = {"/",        "/health", "/health/", "/events",
                                             "/events/", "/ofrep",  "/ofrep/",  "/-/"};

int xp_cfg_check_telemetry_path(const char *s, char *why, size_t whylen)
{
    int bad = s[0] != '/' || strpbrk(s, " \t?#") != NULL;
    for (size_t i = 0; i < sizeof(reserved_paths) / sizeof(reserved_paths[0]); i++) {
        const char *r = reserved_paths[i];
        size_t n = strlen(r);
        bad |= n > 1 && r[n - 1] == '/' ? strncmp(s, r, n) == 0 : strcmp(s, r) == 0;
    }
    return bad ? xp_cfg_why(why, whylen,
                            "a path starting with / that no other endpoint uses "
                            "(/, /health, /health/..., /events, /ofrep/..., /-/...)")
               : 0;
}

int xp_cfg_check_user(const char *s, char *why, size_t whylen)
{
    return *s && !strchr(s, ':') ? 0 : xp_cfg_why(why, whylen, "non-empty and without ':'");
}

#define BCRYPT_B64 "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

int xp_cfg_check_bcrypt(const char *s, char *why, size_t whylen)
{
    int cost = strlen(s) == 60 && isdigit((unsigned char)s[4]) && isdigit((unsigned char)s[5])
                   ? (s[4] - '0') * 10 + (s[5] - '0')
                   : 0;
    int ok = cost >= 4 && cost <= 31 && strncmp(s, "$2", 2) == 0 && strchr("aby", s[2]) &&
             s[3] == '$' && s[6] == '$' && strspn(s + 7, BCRYPT_B64) == 53;
    return ok ? 0
              : xp_cfg_why(why, whylen,
                           "a bcrypt hash ($2a$, $2b$ or $2y$, cost, 53 characters; "
                           "make one with htpasswd -nBC 10 \"\" | tr -d ':\\n')");
}

int xp_cfg_check_reasons(const char *list, char *why, size_t whylen)
{
    char item[64];
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        snprintf(item, sizeof(item), "%.*s", (int)len, p);
        if (len >= sizeof(item) || xp_reason_parse(item) < 0) {
            char known[256];
            size_t o = 0;
            for (int r = XP_REASON_NONE + 1; r < XP_REASON_COUNT && o < sizeof(known); r++)
                o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s",
                                      r == XP_REASON_NONE + 1 ? "" : r + 1 == XP_REASON_COUNT ? " or " : ", ",
                                      xp_reason_name((xp_reason)r));
            return xp_cfg_why(why, whylen, "a list of failure reasons, each %s (\"%.60s\" is none)",
                              known, item);
        }
        p += len + (p[len] == ',');
    }
    return 0;
}
