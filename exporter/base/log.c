#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define XP_LOG_LINE_MAX 2048
#define XP_LOG_KV_MAX 24

static atomic_int log_level = XP_LOG_INFO;
static atomic_int log_format = XP_LOG_LOGFMT;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int xp_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int xp_log_format_parse(const char *s)
{
    if (strcmp(s, "logfmt") == 0)
        return XP_LOG_LOGFMT;
    if (strcmp(s, "json") == 0)
        return XP_LOG_JSON;
    return -1;
}

const char *xp_log_level_name(int level)
{
    return level >= 0 && level < 4 ? level_names[level] : "info";
}

void xp_log_setup(int level, int format)
{
    atomic_store(&log_level, level);
    atomic_store(&log_format, format);
}

int xp_log_enabled(int level)
{
    return level >= atomic_load(&log_level);
}

/* Appends to a fixed line; a line that would overflow is cut, never overrun. */
typedef struct line {
    char *p;
    size_t len, cap;
} line;

static void put(line *l, const char *s, size_t n)
{
    if (l->len + n >= l->cap)
        n = l->cap - l->len - 1;
    memcpy(l->p + l->len, s, n);
    l->len += n;
    l->p[l->len] = '\0';
}

static void puts_(line *l, const char *s)
{
    put(l, s, strlen(s));
}

static int needs_quotes(const char *s)
{
    if (!*s)
        return 1;
    for (; *s; s++)
        if (*s <= ' ' || *s == '=' || *s == '"' || *s == '\\' || (unsigned char)*s == 0x7f)
            return 1;
    return 0;
}

/* Escapes for both logfmt quoted values and JSON strings: the same rules serve both. */
static void put_escaped(line *l, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c == '\n') {
            put(l, "\\n", 2);
        } else if (c == '\r') {
            put(l, "\\r", 2);
        } else if (c == '\t') {
            put(l, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(l, esc, 6);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
}

static void put_pair(line *l, int json, int first, const char *k, const char *v)
{
    if (json) {
        if (!first)
            put(l, ",", 1);
        put(l, "\"", 1);
        put_escaped(l, k);
        put(l, "\":\"", 3);
        put_escaped(l, v);
        put(l, "\"", 1);
    } else {
        if (!first)
            put(l, " ", 1);
        puts_(l, k);
        put(l, "=", 1);
        if (needs_quotes(v)) {
            put(l, "\"", 1);
            put_escaped(l, v);
            put(l, "\"", 1);
        } else {
            puts_(l, v);
        }
    }
}

int xp_log_format_line(char *buf, unsigned size, int level, const char *dependency,
                       const char *msg, const char *const *kv, unsigned nkv)
{
    line l = {buf, 0, size};
    int json = atomic_load(&log_format) == XP_LOG_JSON;
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);

    buf[0] = '\0';
    if (json)
        put(&l, "{", 1);
    put_pair(&l, json, 1, "ts", ts);
    put_pair(&l, json, 0, "level", xp_log_level_name(level));
    if (dependency)
        put_pair(&l, json, 0, "dependency", dependency);
    put_pair(&l, json, 0, "msg", msg);
    for (unsigned i = 0; i + 1 < nkv; i += 2)
        put_pair(&l, json, 0, kv[i], kv[i + 1] ? kv[i + 1] : "");
    if (json)
        put(&l, "}", 1);
    /* Room for the newline is kept even when the line was cut. */
    if (l.len + 1 >= l.cap)
        l.len = l.cap - 2;
    buf[l.len++] = '\n';
    buf[l.len] = '\0';
    return (int)l.len;
}

void xp_log(int level, const char *dependency, const char *msg, ...)
{
    if (!xp_log_enabled(level))
        return;
    const char *kv[XP_LOG_KV_MAX];
    unsigned nkv = 0;
    va_list ap;
    va_start(ap, msg);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && nkv < XP_LOG_KV_MAX)
        kv[nkv++] = s;
    va_end(ap);
    char buf[XP_LOG_LINE_MAX];
    int n = xp_log_format_line(buf, sizeof(buf), level, dependency, msg, kv, nkv);
    /* One write per line keeps lines from concurrent threads whole. */
    ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
    (void)w; /* nowhere left to report a failed write to stderr */
}
