/* The few INFO fields the redis collector reports, parsed from the text of an INFO reply.
 * Pure: no I/O, so tests feed it replies recorded from a real redis-server. */
#ifndef XP_REDIS_INFO_H
#define XP_REDIS_INFO_H

#include <stddef.h>

/* Each field is NAN when the reply did not carry it (or carried something unreadable). */
typedef struct xp_redis_info {
    double used_memory; /* bytes */
    double maxmemory;   /* bytes; 0 means no limit */
    double connected_clients;
    double keyspace_hits;
    double keyspace_misses;
    double evicted_keys;
} xp_redis_info;

/* Parses `len` bytes of INFO text (need not be NUL-terminated). Lines end in "\r\n" or "\n";
 * an unterminated last line is ignored because it may have been cut short. Returns how many
 * of the fields above were found. */
int xp_redis_info_parse(const char *text, size_t len, xp_redis_info *out);

#endif
