/* Deadline-bound name resolution on glibc's getaddrinfo_a.
 *
 * The lookup runs on glibc's helper threads (GAI_NOWAIT); the caller looks at it with
 * gai_error() every few milliseconds until the answer, the deadline or the stop flag. A lookup
 * that outlives its caller cannot be stopped: gai_cancel only dequeues a request no helper has
 * started, and a running one (EAI_NOTCANCELED) goes on writing into its gaicb and allocating
 * ar_result until the resolver gives up.
 *
 * Why not gai_suspend: in glibc 2.36 it links a waiter on its own stack into the request and,
 * after a timed-out wait, unlinks it only if the request's status still reads EAI_INPROGRESS.
 * The helper thread writes that status before it takes the lock to notify waiters, so a
 * timeout that coincides with the answer leaves a dangling stack pointer in glibc's list, which
 * the helper then follows (seen here under load as crashes and as glibc's notification record
 * leaked). Polling gai_error touches nothing of glibc's but the status word.
 *
 * Ownership. Every request lives in a slot of a static pool, never on a caller's stack or in
 * memory the caller frees. Callers asking for the same name share the slot's lookup (each
 * holds a reference while it waits); a caller that gives up drops its reference and leaves,
 * and a lookup nobody waits for any more stays PENDING until glibc has finished with it. Then
 * whoever looks next (any caller, under pool_mu) harvests it: the answer is copied into the
 * slot as a numeric address or an error code, ar_result freed, and the slot becomes DONE.
 * "Finished" is gai_cancel() answering EAI_ALLDONE for a request whose result is in: glibc
 * then no longer lists the request, and since that answer is read under glibc's request
 * mutex, every write of the helper thread happened before it.
 *
 * Sharing. A DONE slot keeps its answer for RES_TTL seconds: a name asked for again within
 * that time (300 dependencies on one host at start-up, or each of them every interval) is
 * answered from it without a lookup, and while a lookup of that name is in flight, new
 * callers wait on the same one. A DONE slot is reused for another name when no free slot is
 * left (the oldest first), so the cache never blocks a lookup.
 *
 * A full pool. When all slots hold lookups in flight, a caller waits (polling, like a lookup)
 * for a slot until its deadline or stop flag: a burst of distinct names queues, and only a
 * caller whose deadline passes while waiting fails, with "timed out".
 *
 * Why not gai_cancel on timeout: for a request still queued it succeeds, but glibc (2.36)
 * then never returns that request's list entry nor frees the notification record
 * getaddrinfo_a allocated for it, so every cancel would leak. Never cancelling means an
 * abandoned queued lookup still runs later; the pool's size bounds how many can pile up.
 *
 * Why a pool rather than a heap request freed by a SIGEV_THREAD notification: when
 * getaddrinfo_a fails, glibc may or may not still run the request and may or may not call the
 * notification (EAI_AGAIN: queued, never notified; EAI_SYSTEM: not queued, notified anyway),
 * so a notification cannot be trusted to own the memory. SIGEV_NONE plus reaping has no such
 * case, creates no thread per lookup, and anything not yet reaped at exit stays reachable from
 * the pool. */
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
#define RES_POLL_MAX_MS 10 /* longest wait between looks at the request and the stop flag */
#define RES_TTL 2.0        /* seconds an answer is shared with later callers */
/* Longest host name quoted in an error, so the reason itself always fits. */
#define RES_QUOTE "%.120s"
/* Our own code in a DONE slot: the lookup succeeded but gave no IPv4/IPv6 address. */
#define RES_NO_ADDRESS (-10000)

enum { SLOT_FREE = 0, SLOT_PENDING, SLOT_DONE };

typedef struct res_slot {
    int state;     /* under pool_mu, like every field but cb while PENDING */
    int refs;      /* callers waiting on this lookup */
    int queued;    /* getaddrinfo_a accepted the request: glibc may hold the gaicb */
    int rc;        /* DONE: 0, a gai error, or RES_NO_ADDRESS */
    double done_at; /* DONE: monotonic time of the answer */
    char addr[XP_RESOLVE_ADDR_MAX]; /* DONE with rc 0 */
    struct gaicb cb;
    struct addrinfo hints;
    char name[RES_NAME_MAX];
    char service[RES_SERV_MAX];
} res_slot;

static res_slot pool[RES_SLOTS];
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long lookups; /* getaddrinfo_a requests made; under pool_mu */

/* 1 when glibc has let go of the slot's gaicb for good (see the top of the file). */
static int slot_settled(res_slot *s)
{
    if (!s->queued)
        return 1;
    if (gai_error(&s->cb) == EAI_INPROGRESS)
        return 0;
    return gai_cancel(&s->cb) == EAI_ALLDONE;
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

/* A PENDING slot whose lookup glibc has finished becomes DONE with its answer. pool_mu held. */
static void slot_harvest(res_slot *s, double now)
{
    if (s->state != SLOT_PENDING || !slot_settled(s))
        return;
    s->rc = s->queued ? gai_error(&s->cb) : EAI_SYSTEM;
    if (s->rc == 0 && first_address(s->cb.ar_result, s->addr, sizeof(s->addr)) != 0)
        s->rc = RES_NO_ADDRESS;
    if (s->cb.ar_result)
        freeaddrinfo(s->cb.ar_result);
    memset(&s->cb, 0, sizeof(s->cb));
    s->queued = 0;
    s->state = SLOT_DONE;
    s->done_at = now;
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
        slot_harvest(s, now);
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

int xp_resolve_is_numeric(const char *host)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL;
    if (!host || !*host || getaddrinfo(host, NULL, &hints, &res) != 0)
        return 0;
    freeaddrinfo(res);
    return 1;
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

/* Sleeps `seconds`, at least 1 ms. */
static void wait_for(double seconds)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(seconds * 1e9)};
    if (ts.tv_nsec < 1000000)
        ts.tv_nsec = 1000000;
    (void)nanosleep(&ts, NULL);
}

/* Starts a lookup of host:port in s (claimed, pool_mu held). 0 = in flight. */
static int slot_start(res_slot *s, const char *host, const char *port, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    memcpy(s->name, host, strlen(host) + 1);
    s->hints.ai_family = AF_UNSPEC;
    s->hints.ai_socktype = SOCK_STREAM;
    s->hints.ai_flags = AI_ADDRCONFIG;
    s->cb.ar_name = s->name;
    s->cb.ar_request = &s->hints;
    if (port && *port) {
        memcpy(s->service, port, strlen(port) + 1);
        s->cb.ar_service = s->service;
        if (all_digits(port))
            s->hints.ai_flags |= AI_NUMERICSERV; /* no /etc/services lookup for a number */
    }
    struct gaicb *list[1] = {&s->cb};
    lookups++;
    int g = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
    /* EAI_AGAIN: glibc queued the request but could not allocate its (unused) notification
     * record; the lookup still runs and is waited for like any other. */
    if (g != 0 && g != EAI_AGAIN) {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": %s", host,
                 g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        memset(s, 0, sizeof(*s)); /* FREE again: nothing of it reached glibc */
        return -1;
    }
    s->queued = 1;
    s->state = SLOT_PENDING;
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
                 gai_strerror(s->rc));
        return -1;
    }
    if ((size_t)snprintf(addr, addrlen, "%s", s->addr) >= addrlen) {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": address too long", host);
        return -1;
    }
    return 0;
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

    int rc = -1;
    double poll = 0.001;
    res_slot *s = NULL;
    pthread_mutex_lock(&pool_mu);
    for (;;) {
        double now = xp_clock_mono();
        if (!s) {
            /* An answer or a lookup in flight to share, else a slot of our own. */
            s = slot_find(host, port, now);
            if (!s) {
                s = slot_claim();
                if (s && slot_start(s, host, port, err, errlen) != 0)
                    break;
            }
            if (s)
                s->refs++;
        } else {
            slot_harvest(s, now);
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
        /* Look again a little later each time: a quick answer costs a millisecond or two, a
         * hanging lookup (or a wait for a slot) one wake-up per RES_POLL_MAX_MS until the
         * deadline. */
        pthread_mutex_unlock(&pool_mu);
        wait_for(left < poll ? left : poll);
        if (poll < RES_POLL_MAX_MS / 1000.0)
            poll *= 2;
        pthread_mutex_lock(&pool_mu);
    }
    if (s && s->state != SLOT_FREE)
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
