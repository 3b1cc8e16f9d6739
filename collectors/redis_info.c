#include "redis_info.h"

#include <math.h>
#include <string.h>

typedef struct info_field {
    const char *key;
    size_t offset;
} info_field;

static const info_field info_fields[] = {
    {"used_memory", offsetof(xp_redis_info, used_memory)},
    {"maxmemory", offsetof(xp_redis_info, maxmemory)},
    {"connected_clients", offsetof(xp_redis_info, connected_clients)},
    {"keyspace_hits", offsetof(xp_redis_info, keyspace_hits)},
    {"keyspace_misses", offsetof(xp_redis_info, keyspace_misses)},
    {"evicted_keys", offsetof(xp_redis_info, evicted_keys)},
};
#define INFO_NFIELDS (sizeof(info_fields) / sizeof(info_fields[0]))

/* Every field we read is an unsigned decimal counter or size. Anything else (a sign, a
 * fraction, trailing junk, more digits than a double holds exactly) is rejected rather than
 * half-read, so a mangled reply shows as a missing metric, not a wrong one. */
static int info_parse_uint(const char *s, size_t n, double *out)
{
    if (n == 0 || n > 15)
        return -1;
    double v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int xp_redis_info_parse(const char *text, size_t len, xp_redis_info *out)
{
    int seen[INFO_NFIELDS] = {0};
    int found = 0;
    size_t n_seen = 0;

    for (size_t i = 0; i < INFO_NFIELDS; i++)
        *(double *)((char *)out + info_fields[i].offset) = NAN;
    if (!text)
        return 0;

    size_t pos = 0;
    /* Stops at the last field we read (in the Stats section): every probe parses INFO, and
     * what follows it (replication, CPU, error stats, keyspace) is a third of the text. */
    while (pos < len && n_seen < INFO_NFIELDS) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        if (!nl)
            break; /* unterminated: possibly truncated, ignore */
        size_t n = (size_t)(nl - line);
        pos += n + 1;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0 || line[0] == '#')
            continue;
        const char *colon = memchr(line, ':', n);
        if (!colon)
            continue;
        size_t klen = (size_t)(colon - line);
        for (size_t f = 0; f < INFO_NFIELDS; f++) {
            const char *key = info_fields[f].key;
            if (seen[f] || strlen(key) != klen || memcmp(key, line, klen) != 0)
                continue;
            double v;
            /* The first occurrence decides, readable or not: a later duplicate in a mangled
             * reply must not override it. */
            seen[f] = 1;
            n_seen++;
            if (info_parse_uint(colon + 1, n - klen - 1, &v) == 0) {
                *(double *)((char *)out + info_fields[f].offset) = v;
                found++;
            }
            break;
        }
    }
    return found;
}
