/* Deadline-bound name resolution: getaddrinfo on a thread of our own, watched by callers
 * who wait at most until their deadline.
 *
 * getaddrinfo() blocks for as long as the resolver takes, and nothing can interrupt it; so
 * each lookup runs on a detached thread of its own, and the callers wait for its answer on a
 * condition variable until their deadline or stop flag. A caller that gives up leaves the
 * lookup running; the thread finishes when the resolver gives up (glibc: its timeout times
 * its attempts), writes the answer into its slot and exits.
 *
 * Why not glibc's getaddrinfo_a: it starts its helper threads inside libc, where
 * ThreadSanitizer cannot see them (the first allocation on one crashed every TSan run); it can
 * only be polled safely (gai_suspend leaves a dangling waiter on its stack after a timeout in
 * glibc 2.36); and a queued request cannot be cancelled without leaking. A thread per lookup
 * costs one thread start per name every RES_TTL seconds at most, thanks to the sharing below.
 *
 * Slots. Every lookup lives in a slot of a static pool; the pool's size bounds the lookups in
 * flight (and so the threads a hanging resolver can hold). Callers asking for the same
 * host:port share the slot's lookup while it is in flight and its answer for RES_TTL seconds
 * after (300 dependencies on one host at start-up cost one lookup, not 300). A DONE slot is
 * reused for another name when no free slot is left, the oldest first, so the cache never
 * blocks a lookup. When every slot holds a lookup in flight, a caller waits for one until its
 * deadline: a burst of distinct names queues, and only a caller whose deadline passes fails,
 * with "timed out". */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "base/clock.h"
#include "engine/resolve.h"

#define RES_SLOTS 64
#define RES_NAME_MAX 256 /* a DNS name is at most 253 characters, plus a trailing dot */
#define RES_SERV_MAX 32
#define RES_POLL_MAX_MS 10 /* longest wait between looks at the stop flag */
#define RES_TTL 2.0        /* seconds an answer is shared with later callers */
/* Longest host name quoted in an error, so the reason itself always fits. */
#define RES_QUOTE "%.120s"
/* Our own code in a DONE slot: the lookup succeeded but gave no IPv4/IPv6 address. */
#define RES_NO_ADDRESS (-10000)

enum { SLOT_FREE = 0, SLOT_PENDING, SLOT_DONE };

/* Every field under pool_mu, except name and service, which a PENDING slot's lookup thread
 * reads without it: they are written before the thread starts and not again until the slot
 * is DONE. */
typedef struct res_slot {
    int state;
    int refs;       /* callers waiting on this lookup */
    int rc;         /* DONE: 0, a gai error, or RES_NO_ADDRESS */
    int sys_errno;  /* DONE with EAI_SYSTEM */
    double done_at; /* DONE: monotonic time of the answer */
    char addr[XP_RESOLVE_ADDR_MAX]; /* DONE with rc 0 */
    char name[RES_NAME_MAX];
    char service[RES_SERV_MAX];
} res_slot;

static res_slot pool[RES_SLOTS];
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv; /* a lookup finished; on the monotonic clock */
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static int pool_cv_ok;
static unsigned long lookups; /* lookups started; under pool_mu */

/* Lookup threads read /etc/hosts or talk to a DNS server, nothing deeper: glibc's NSS and
 * resolver fit in a fraction of this. */
#define LOOKUP_STACK (256 * 1024)

static void pool_init(void)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return;
    pool_cv_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
                 pthread_cond_init(&pool_cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
}

/* The first IPv4/IPv6 address of ai as a numeric string. */
static int first_address(const struct addrinfo *ai, char *addr, size_t addrlen)
{
    for (; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, (socklen_t)addrlen, NULL, 0,
                        NI_NUMERICHOST) == 0)
            return 0;
    }
    return -1;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static void *lookup_main(void *arg)
{
    res_slot *s = arg;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    const char *service = s->service[0] ? s->service : NULL;
    if (service && all_digits(service))
        hints.ai_flags |= AI_NUMERICSERV; /* no /etc/services lookup for a number */
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(s->name, service, &hints, &res);
    int sys_errno = rc == EAI_SYSTEM ? errno : 0;
    char addr[XP_RESOLVE_ADDR_MAX] = "";
    if (rc == 0 && first_address(res, addr, sizeof(addr)) != 0)
        rc = RES_NO_ADDRESS;
    if (res)
        freeaddrinfo(res);

    pthread_mutex_lock(&pool_mu);
    s->rc = rc;
    s->sys_errno = sys_errno;
    memcpy(s->addr, addr, sizeof(addr));
    s->done_at = xp_clock_mono();
    s->state = SLOT_DONE;
    pthread_cond_broadcast(&pool_cv);
    pthread_mutex_unlock(&pool_mu);
    return NULL;
}

static int same_request(const res_slot *s, const char *host, const char *port)
{
    return strcmp(s->name, host) == 0 && strcmp(s->service, port ? port : "") == 0;
}

/* The slot already answering or asking for host:port, or NULL. pool_mu held. */
static res_slot *slot_find(const char *host, const char *port, double now)
{
    for (size_t i = 0; i < RES_SLOTS; i++) {
        res_slot *s = &pool[i];
        if (s->state == SLOT_FREE || !same_request(s, host, port))
            continue;
        if (s->state == SLOT_PENDING || now - s->done_at < RES_TTL)
            return s;
    }
    return NULL;
}

/* A slot for a new lookup: a free one, else the oldest answer nobody waits for; NULL when
 * every slot has a lookup in flight. pool_mu held. */
static res_slot *slot_claim(void)
{
    res_slot *oldest = NULL;
    for (size_t i = 0; i < RES_SLOTS; i++) {
        res_slot *s = &pool[i];
        if (s->state == SLOT_FREE)
            return s;
        if (s->state == SLOT_DONE && s->refs == 0 && (!oldest || s->done_at < oldest->done_at))
            oldest = s;
    }
    return oldest;
}

/* Starts a lookup of host:port in s (claimed, pool_mu held). 0 = in flight. */
static int slot_start(res_slot *s, const char *host, const char *port, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->name, host, strlen(host) + 1);
    if (port)
        memcpy(s->service, port, strlen(port) + 1);
    s->state = SLOT_PENDING;
    pthread_attr_t attr;
    pthread_t th;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        (void)pthread_attr_setstacksize(&attr, LOOKUP_STACK);
        rc = pthread_create(&th, &attr, lookup_main, s);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": cannot start a lookup: %s",
                 host, strerror(rc));
        memset(s, 0, sizeof(*s)); /* FREE again */
        return -1;
    }
    lookups++;
    return 0;
}

/* The answer of a DONE slot for the caller. pool_mu held. */
static int slot_answer(const res_slot *s, const char *host, char *addr, size_t addrlen,
                       char *err, size_t errlen)
{
    if (s->rc == RES_NO_ADDRESS) {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": no IPv4 or IPv6 address",
                 host);
        return -1;
    }
    if (s->rc != 0) {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": %s", host,
                 s->rc == EAI_SYSTEM ? strerror(s->sys_errno) : gai_strerror(s->rc));
        return -1;
    }
    if ((size_t)snprintf(addr, addrlen, "%s", s->addr) >= addrlen) {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": address too long", host);
        return -1;
    }
    return 0;
}

int xp_resolve_is_numeric(const char *host)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    if (!host || !*host || getaddrinfo(host, NULL, &hints, &res) != 0)
        return 0;
    freeaddrinfo(res);
    return 1;
}

int xp_resolve(const char *host, const char *port, double deadline, const atomic_int *cancel,
               char *addr, size_t addrlen, char *err, size_t errlen)
{
    double start = xp_clock_mono();
    if (!host || !*host) {
        snprintf(err, errlen, "could not resolve host: empty name");
        return -1;
    }

    /* A numeric address needs no lookup: AI_NUMERICHOST never does I/O. */
    struct addrinfo nh = {.ai_flags = AI_NUMERICHOST, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &nh, &res) == 0) {
        int rc = first_address(res, addr, addrlen);
        freeaddrinfo(res);
        if (rc != 0)
            snprintf(err, errlen, "could not resolve host " RES_QUOTE ": address too long", host);
        return rc;
    }
    /* localhost is the loopback (RFC 6761) and must not depend on a DNS server. IPv4, as
     * hiredis prefers and Debian's /etc/hosts lists first. */
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0) {
        if ((size_t)snprintf(addr, addrlen, "127.0.0.1") >= addrlen) {
            snprintf(err, errlen, "could not resolve host localhost: address too long");
            return -1;
        }
        return 0;
    }

    if (strlen(host) >= RES_NAME_MAX || (port && strlen(port) >= RES_SERV_MAX)) {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": name too long", host);
        return -1;
    }

    pthread_once(&pool_once, pool_init);
    if (!pool_cv_ok) {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": out of resources", host);
        return -1;
    }
    int rc = -1;
    res_slot *s = NULL;
    pthread_mutex_lock(&pool_mu);
    for (;;) {
        double now = xp_clock_mono();
        if (!s) {
            /* An answer or a lookup in flight to share, else a slot of our own. */
            s = slot_find(host, port, now);
            if (!s) {
                s = slot_claim();
                if (s && slot_start(s, host, port, err, errlen) != 0) {
                    s = NULL;
                    break;
                }
            }
            if (s)
                s->refs++;
        }
        if (s && s->state == SLOT_DONE) {
            rc = slot_answer(s, host, addr, addrlen, err, errlen);
            break;
        }
        if (cancel && atomic_load(cancel)) {
            snprintf(err, errlen, "cancelled resolving " RES_QUOTE, host);
            break;
        }
        double left = deadline - now;
        if (left <= 0) {
            snprintf(err, errlen, "timed out after %.0f ms resolving " RES_QUOTE,
                     (now - start) * 1000, host);
            break;
        }
        /* Woken when any lookup finishes (ours, or one whose slot we could take); at least
         * every RES_POLL_MAX_MS to look at the stop flag. */
        double until = now + (left < RES_POLL_MAX_MS / 1000.0 ? left : RES_POLL_MAX_MS / 1000.0);
        struct timespec ts = xp_clock_timespec(until);
        (void)pthread_cond_timedwait(&pool_cv, &pool_mu, &ts);
    }
    if (s)
        s->refs--;
    pthread_mutex_unlock(&pool_mu);
    return rc;
}

unsigned long xp_resolve_lookups(void)
{
    pthread_mutex_lock(&pool_mu);
    unsigned long n = lookups;
    pthread_mutex_unlock(&pool_mu);
    return n;
}
