/* The request rate limit of [web] rate_limit = N/PERIOD: a token bucket per client address
 * (the TCP peer; no forwarding header is trusted) holding at most N tokens and refilled at N
 * per PERIOD. A request takes a token or is refused with the seconds to wait.
 *
 * The buckets live in a fixed table (set-associative: an address hashes, with a random key,
 * to one set of a few entries), so any number of source addresses takes the same memory. A
 * new address takes an empty entry of its set, else one whose bucket has refilled to full (it
 * holds nothing a fresh bucket would not), else the fullest: forgetting it costs that client
 * at most what a new address gets anyway. Pure: the clock is passed in. Thread-safe. */
#ifndef XP_RATELIMIT_H
#define XP_RATELIMIT_H

#include <stddef.h>

typedef struct xp_ratelimit xp_ratelimit;

/* A table of about `entries` buckets (at least one set), limit off. NULL when out of memory. */
xp_ratelimit *xp_ratelimit_new(size_t entries);
void xp_ratelimit_free(xp_ratelimit *rl);
/* burst 0 turns the limit off. A change of either forgets every bucket. */
void xp_ratelimit_configure(xp_ratelimit *rl, unsigned burst, double period);
/* Takes a token of addr (len bytes, at most 16: an IPv4 or IPv6 address). 0 = allowed (also
 * when the limit is off); else refused, returning the whole seconds (at least 1) until the
 * bucket holds a token again: the Retry-After. */
unsigned xp_ratelimit_take(xp_ratelimit *rl, const void *addr, size_t len, double now);
/* How many addresses hold an entry (for tests: bounded whatever comes). */
size_t xp_ratelimit_tracked(xp_ratelimit *rl);
size_t xp_ratelimit_capacity(const xp_ratelimit *rl);

#endif
