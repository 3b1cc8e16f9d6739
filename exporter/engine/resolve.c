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
 * memory the caller frees. A caller that gives up marks its slot ABANDONED and leaves; the
 * slot is reaped (ar_result freed, slot reused) by a later xp_resolve once glibc has finished
 * with it. "Finished" is gai_cancel() answering EAI_ALLDONE for a request whose result is in:
 * glibc then no longer lists the request, and since that answer is read under glibc's request
 * mutex, every write of the helper thread happened before it. The same test guards the
 * caller's own read of a finished result.
 *
 * Why not gai_cancel on timeout: for a request still queued it succeeds, but glibc (2.36)
 * then never returns that request's list entry nor frees the notification record
 * getaddrinfo_a allocated for it, so every cancel would leak. Never cancelling means an
 * abandoned queued lookup still runs later; the pool's size bounds how many can pile up (a
 * full pool fails new lookups at once, which is what a hanging resolver earns anyway).
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
/* Longest host name quoted in an error, so the reason itself always fits. */
#define RES_QUOTE "%.120s"

enum { SLOT_FREE = 0, SLOT_OWNED, SLOT_ABANDONED };

typedef struct res_slot {
    int state;  /* under pool_mu */
    int queued; /* getaddrinfo_a accepted the request: glibc may hold the gaicb */
    struct gaicb cb;
    struct addrinfo hints;
    char name[RES_NAME_MAX];
    char service[RES_SERV_MAX];
} res_slot;

static res_slot pool[RES_SLOTS];
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;

/* 1 when glibc has let go of the slot's gaicb for good (see the top of the file). */
static int slot_settled(res_slot *s)
{
    if (!s->queued)
        return 1;
    if (gai_error(&s->cb) == EAI_INPROGRESS)
        return 0;
    return gai_cancel(&s->cb) == EAI_ALLDONE;
}

static void slot_reset(res_slot *s)
{
    if (s->cb.ar_result)
        freeaddrinfo(s->cb.ar_result);
    memset(&s->cb, 0, sizeof(s->cb));
    s->queued = 0;
    s->state = SLOT_FREE;
}

/* Reaps what abandoned lookups have finished, then takes a free slot; NULL when all are busy. */
static res_slot *slot_take(void)
{
    res_slot *got = NULL;
    pthread_mutex_lock(&pool_mu);
    for (size_t i = 0; i < RES_SLOTS; i++) {
        res_slot *s = &pool[i];
        if (s->state == SLOT_ABANDONED && slot_settled(s))
            slot_reset(s);
        if (!got && s->state == SLOT_FREE) {
            got = s;
            s->state = SLOT_OWNED;
        }
    }
    pthread_mutex_unlock(&pool_mu);
    return got;
}

/* The caller is done with s; the result, if any, must not be used after this. */
static void slot_give_back(res_slot *s)
{
    pthread_mutex_lock(&pool_mu);
    if (slot_settled(s))
        slot_reset(s);
    else
        s->state = SLOT_ABANDONED;
    pthread_mutex_unlock(&pool_mu);
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
    res_slot *s = slot_take();
    if (!s) {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": too many lookups pending",
                 host);
        return -1;
    }
    memcpy(s->name, host, strlen(host) + 1);
    memset(&s->hints, 0, sizeof(s->hints));
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

    int rc = -1;
    double poll = 0.001;
    struct gaicb *list[1] = {&s->cb};
    int g = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
    /* EAI_AGAIN: glibc queued the request but could not allocate its (unused) notification
     * record; the lookup still runs and is waited for like any other. */
    if (g == 0 || g == EAI_AGAIN) {
        s->queued = 1;
    } else {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": %s", host,
                 g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        goto out;
    }

    for (;;) {
        if (gai_error(&s->cb) != EAI_INPROGRESS && slot_settled(s))
            break;
        if (cancel && atomic_load(cancel)) {
            snprintf(err, errlen, "cancelled resolving " RES_QUOTE, host);
            goto out;
        }
        double now = xp_clock_mono();
        double left = deadline - now;
        if (left <= 0) {
            snprintf(err, errlen, "timed out after %.0f ms resolving " RES_QUOTE,
                     (now - start) * 1000, host);
            goto out;
        }
        /* Look again a little later each time: a quick answer costs a millisecond or two, a
         * hanging lookup one wake-up per RES_POLL_MAX_MS until the deadline. */
        wait_for(left < poll ? left : poll);
        if (poll < RES_POLL_MAX_MS / 1000.0)
            poll *= 2;
    }

    g = gai_error(&s->cb);
    if (g != 0) {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": %s", host, gai_strerror(g));
    } else if (first_address(s->cb.ar_result, addr, addrlen) != 0) {
        snprintf(err, errlen, "could not resolve host " RES_QUOTE ": no IPv4 or IPv6 address",
                 host);
    } else {
        rc = 0;
    }
out:
    slot_give_back(s);
    return rc;
}
