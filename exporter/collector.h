/* The contract between the core and a backend collector.
 *
 * A collector only knows how to probe one kind of backend. The core owns everything else:
 * config keys shared by all dependencies, `*_file` secrets, scheduling, deadlines, breakers,
 * and every metric line. A new backend type is one file in collectors/ exporting one
 * xp_collector, plus one line in collectors/registry.c. */
#ifndef XP_COLLECTOR_H
#define XP_COLLECTOR_H

#include <stdatomic.h>
#include <stddef.h>

#define XP_ERR_MAX 256
#define XP_DETAIL_MAX 8
#define XP_TARGET_MAX 256

typedef enum { XP_METRIC_GAUGE, XP_METRIC_COUNTER } xp_metric_type;

/* A backend detail family such as dependency_postgres_connections; the core adds the dependency label. */
typedef struct xp_detail_def {
    const char *name;
    const char *help;
    xp_metric_type type;
} xp_detail_def;

/* Why a probe failed: the fixed set of SPEC section 5, in its order of precedence (where two
 * could apply, the lower value wins: a reset during the TLS handshake is tls, not connect).
 * The values index dependency_probe_failures_total{reason}; XP_REASON_NONE is a success. */
typedef enum xp_reason {
    XP_REASON_NONE = 0,
    XP_REASON_TIMEOUT,      /* the deadline passed (connect and DNS included) */
    XP_REASON_DNS,          /* the name did not resolve */
    XP_REASON_TLS,          /* handshake, certificate, or TLS to a plain-text port */
    XP_REASON_CONNECT,      /* refused, reset, unreachable, closed by the peer */
    XP_REASON_AUTH,         /* bad credentials: 401/403, NOAUTH/WRONGPASS, 28P01/28000 */
    XP_REASON_RATE_LIMITED, /* 429, too many connections (53300, max number of clients) */
    XP_REASON_SERVER_ERROR, /* 5xx, PostgreSQL 57P* and XX*, Redis LOADING */
    XP_REASON_CLIENT_ERROR, /* other 4xx (a missing bucket), a query the server refuses */
    XP_REASON_PROTOCOL,     /* garbage, oversized or unparsable reply */
    XP_REASON_CHECK,        /* the backend answered but the probe's condition failed */
    XP_REASON_COUNT
} xp_reason;

/* "timeout", "dns", ... (the reason label); "none" for XP_REASON_NONE and out of range. */
const char *xp_reason_name(xp_reason r);

typedef struct xp_probe {
    double deadline;          /* xp_clock_mono() time the probe must end by, connect included */
    const atomic_int *cancel; /* becomes non-zero when the exporter stops: end early */
    double detail[XP_DETAIL_MAX]; /* preset to NAN; set those this probe learned */
    char err[XP_ERR_MAX];         /* why it failed; must never contain a secret */
    xp_reason reason;             /* set with err on every failure; NONE on success */
} xp_probe;

/* Records a failure: reason and a printf-formatted err. Returns -1, what probe() returns. */
int xp_probe_fail(xp_probe *p, xp_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef enum { XP_SET_OK = 0, XP_SET_UNKNOWN = 1, XP_SET_INVALID = 2 } xp_set_result;

typedef struct xp_collector {
    const char *name; /* the value of `collector =` and of the collector label */
    const xp_detail_def *details;
    size_t n_details; /* <= XP_DETAIL_MAX */
    /* Keys whose values are secrets. The core accepts KEY_file for each, reads the file
     * and calls set(KEY, contents), and never echoes their values. NULL-terminated. */
    const char *const *secret_keys;

    void *(*create)(void); /* NULL on allocation failure */
    /* XP_SET_INVALID fills err with a reason that does not quote a secret value. */
    xp_set_result (*set)(void *inst, const char *key, const char *value, char *err, size_t errlen);
    /* After every key of the section: fill in defaults, check required keys. 0 = valid. */
    int (*validate)(void *inst, char *err, size_t errlen);
    /* host:port or URL, with no credentials: the target label of dependency_info. */
    void (*target)(const void *inst, char *buf, size_t len);
    /* Runs on the dependency's own thread. 0 = success; -1 = failure with p->err and
     * p->reason set. Must return by p->deadline whatever the backend does. */
    int (*probe)(void *inst, xp_probe *p);
    void (*destroy)(void *inst); /* closes connections too; NULL-safe */
} xp_collector;

/* NULL-terminated, defined in collectors/registry.c (tests may link their own). */
extern const xp_collector *const xp_collectors[];
const xp_collector *xp_collector_find(const char *name);

#endif
