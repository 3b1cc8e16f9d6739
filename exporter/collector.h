/* The contract between the core and a backend collector.
 *
 * A collector only knows how to probe one kind of backend. The core owns everything else:
 * config keys shared by all dependencies, parsing the collector's own keys from its table,
 * `*_file` secrets, scheduling, deadlines, breakers, and every metric line. A new backend
 * type is one file in collectors/ exporting one xp_collector, plus one line in
 * collectors/registry.h. */
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
/* The reason named s ("timeout", ...), or -1 (XP_REASON_NONE is no reason to name). */
int xp_reason_parse(const char *s);

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

struct xp_key; /* config/keys.h */

typedef struct xp_collector {
    const char *name; /* the value of `collector =` and of the collector label */
    const xp_detail_def *details;
    size_t n_details; /* <= XP_DETAIL_MAX */
    /* The collector's own keys of [dependency.NAME], one row each, ending in XP_KEY_END
     * (config/keys.h). The core fills them into the instance create() made (defaults first),
     * accepts KEY_file for a secret key, and never echoes a secret; destroy() frees them with
     * xp_keys_free(). */
    const struct xp_key *keys;

    void *(*create)(void); /* NULL on allocation failure */
    /* After every key of the section: derive, check what spans keys. 0 = valid; else err says
     * why (a secret it quotes is scrubbed). */
    int (*validate)(void *inst, char *err, size_t errlen);
    /* host:port or URL, with no credentials: the target label of dependency_info. */
    void (*target)(const void *inst, char *buf, size_t len);
    /* Runs on a worker of the engine's pool, never twice at once for one instance. Blocking
     * is fine: other probes run on other workers. 0 = success; -1 = failure with p->err and
     * p->reason set. Must return by p->deadline whatever the backend does. */
    int (*probe)(void *inst, xp_probe *p);
    void (*destroy)(void *inst); /* closes connections too; NULL-safe */
} xp_collector;

/* NULL-terminated, built from collectors/registry.h by collectors/registry.c (tests link
 * their own, tests/fake/registry.c, from the same list). */
extern const xp_collector *const xp_collectors[];
const xp_collector *xp_collector_find(const char *name);

#endif
