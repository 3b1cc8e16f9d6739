#include "config/config_values.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/level.h"

/* strtod also takes "inf", "nan", hex and leading blanks; a config number is plain decimal. */
static int cfg_strtod(const char *s, double *out, const char **end) {
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!isdigit((unsigned char)p[0]) && !(p[0] == '.' && isdigit((unsigned char)p[1])))
        return -1;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        return -1;
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (e == s || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    *end = e;
    return 0;
}

int xp_duration_parse(const char *s, double *seconds) {
    double v;
    const char *end;
    if (!s || *s == '-' || *s == '+' || cfg_strtod(s, &v, &end) != 0)
        return -1;
    double scale;
    if (*end == '\0' || strcmp(end, "s") == 0)
        scale = 1;
    else if (strcmp(end, "ms") == 0)
        scale = 0.001;
    else if (strcmp(end, "m") == 0)
        scale = 60;
    else if (strcmp(end, "h") == 0)
        scale = 3600;
    else
        return -1;
    v *= scale;
    if (!(v > 0) || !isfinite(v))
        return -1;
    *seconds = v;
    return 0;
}

int xp_cfg_parse_number(const char *s, double min, double max, double *out) {
    double v;
    const char *end;
    if (cfg_strtod(s, &v, &end) != 0 || *end || v < min || v > max)
        return -1;
    *out = v == 0 ? 0 : v; /* no -0 */
    return 0;
}

int xp_cfg_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out) {
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

static const char *cfg_skip_blank(const char *p) {
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int xp_cfg_parse_cascade(const char *s, xp_degradation_cfg *d, char *err, size_t errlen) {
    xp_cascade_step steps[XP_CASCADE_MAX];
    size_t n = 0;
    const char *p = cfg_skip_blank(s);
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        char item[64];
        if (len == 0 || len >= sizeof(item)) {
            snprintf(err, errlen,
                     "cascade: entry %zu is %s; write N:level, e.g. 1:degraded, 2:limited", n + 1,
                     len ? "too long" : "empty");
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        char *colon = strchr(item, ':');
        unsigned count;
        if (!colon) {
            snprintf(err, errlen, "cascade: \"%s\" is not N:level", item);
            return -1;
        }
        *colon = '\0';
        char *lv = colon + 1;
        while (*lv == ' ' || *lv == '\t')
            lv++;
        for (char *t = colon; t > item && (t[-1] == ' ' || t[-1] == '\t');)
            *--t = '\0';
        if (xp_cfg_parse_uint(item, 1, 1000000, &count) != 0) {
            snprintf(err, errlen, "cascade: \"%s\" is not a number of breakers >= 1", item);
            return -1;
        }
        int level = xp_level_parse(lv);
        if (level < 0) {
            snprintf(
                err, errlen,
                "cascade: \"%s\" is not a level (optimal, degraded, limited, minimal, emergency)",
                lv);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (steps[i].count == count) {
                snprintf(err, errlen, "cascade: %u is given twice", count);
                return -1;
            }
        }
        if (n == XP_CASCADE_MAX) {
            snprintf(err, errlen, "cascade: more than %d entries", XP_CASCADE_MAX);
            return -1;
        }
        /* Insertion keeps the steps sorted by count. */
        size_t at = n;
        while (at > 0 && steps[at - 1].count > count) {
            steps[at] = steps[at - 1];
            at--;
        }
        steps[at].count = count;
        steps[at].level = level;
        n++;
        if (!comma)
            break;
        p = cfg_skip_blank(comma + 1);
        if (!*p) {
            snprintf(err, errlen,
                     "cascade: entry %zu is empty; write N:level, e.g. 1:degraded, 2:limited",
                     n + 1);
            return -1;
        }
    }
    memcpy(d->cascade, steps, n * sizeof(steps[0]));
    d->n_cascade = n;
    return 0;
}

int xp_cfg_bcrypt_shaped(const char *s) {
    if (strlen(s) != 60 || s[0] != '$' || s[1] != '2' || !strchr("aby", s[2]) || s[3] != '$' ||
        !isdigit((unsigned char)s[4]) || !isdigit((unsigned char)s[5]) || s[6] != '$')
        return 0;
    int cost = (s[4] - '0') * 10 + (s[5] - '0');
    if (cost < 4 || cost > 31)
        return 0;
    for (const char *p = s + 7; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '/')
            return 0;
    return 1;
}

int xp_cfg_valid_name(const char *s) {
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
            return 0;
    return 1;
}

int xp_cfg_valid_listen_address(const char *s) {
    const char *colon = strrchr(s, ':');
    if (!colon)
        return 0;
    if (s[0] == '[' && (colon == s || colon[-1] != ']'))
        return 0;
    unsigned port;
    return xp_cfg_parse_uint(colon + 1, 1, 65535, &port) == 0;
}
