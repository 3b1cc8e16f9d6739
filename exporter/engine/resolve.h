/* Host name resolution that honours a probe's deadline.
 *
 * getaddrinfo() blocks for as long as the resolver takes (with glibc's defaults, 10 s or more
 * against a DNS server that never answers), which would push a probe far past its timeout.
 * Collectors whose client library resolves with a blocking getaddrinfo (libpq, hiredis)
 * resolve here first and hand the library a numeric address instead. */
#ifndef XP_RESOLVE_H
#define XP_RESOLVE_H

#include <stdatomic.h>
#include <stddef.h>

/* Longest numeric address written to addr (INET6_ADDRSTRLEN plus an IPv6 scope). */
#define XP_RESOLVE_ADDR_MAX 64

/* Resolves host to its first address (IPv4 or IPv6, as getaddrinfo orders them) and writes it
 * to addr as a numeric string. Returns by `deadline` (xp_clock_mono() time) whatever DNS does,
 * and early once *cancel becomes non-zero (cancel may be NULL). port may be NULL.
 * Numeric hosts and "localhost" never reach the resolver.
 * 0 = resolved; -1 = failed, with err saying why ("could not resolve host NAME: ...",
 * "timed out after N ms resolving NAME", "cancelled resolving NAME"). Thread-safe. */
int xp_resolve(const char *host, const char *port, double deadline, const atomic_int *cancel,
               char *addr, size_t addrlen, char *err, size_t errlen);

/* Lookups of the same host:port share one request while it is in flight and its answer for
 * two seconds after; when every request slot is busy a caller waits for one until its
 * deadline (never "too many lookups"). */

/* How many lookups reached the resolver since start (for tests and measurements). */
unsigned long xp_resolve_lookups(void);

/* 1 when host is a numeric IPv4/IPv6 address (no lookup needed), else 0. */
int xp_resolve_is_numeric(const char *host);

#endif
