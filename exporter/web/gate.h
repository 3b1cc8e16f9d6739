/* The front door of every request, before any route: the rate limit per client address, then
 * the credentials (basic auth or an API key). handler.c asks it once per request, on the
 * first call, and answers what it decided.
 *
 * Order (SPEC section 4): /-/healthy and /-/ready pass without either; every other path
 * takes a token of its client's bucket first (429 past the limit, credentials unread: a
 * flood of wrong passwords is throttled like any other), then needs credentials when any are
 * configured. A credential that passed within the last minute passes at once; one that needs
 * bcrypt is checked on the bcrypt threads (web/authpool.c) while libmicrohttpd holds the
 * connection suspended, so no HTTP worker ever waits for a hash. */
#ifndef XP_GATE_H
#define XP_GATE_H

#include <microhttpd.h>

#include "config/config.h"

typedef enum {
    XP_GATE_PASS,
    XP_GATE_REFUSED, /* 401: no or wrong credentials */
    XP_GATE_LIMITED, /* 429 with Retry-After */
    XP_GATE_BUSY,    /* 503 with Retry-After: the bcrypt queue is full, or shutting down */
    XP_GATE_PENDING, /* bcrypt running; the connection is suspended */
} xp_gate_verdict;

/* What the gate decided for one request: *con_cls of libmicrohttpd. */
typedef struct xp_gate_ctx {
    int verdict;          /* xp_gate_verdict */
    unsigned retry_after; /* seconds, for LIMITED and BUSY */
    int owned;            /* XP_GATE_CTX_* */
} xp_gate_ctx;

enum {
    XP_GATE_CTX_STATIC, /* shared, never freed */
    XP_GATE_CTX_OWNED,  /* allocated for this request */
    XP_GATE_CTX_JOB,    /* the head of a bcrypt job (web/authpool.h) */
    XP_GATE_CTX_REQ,    /* the head of a passed request's xp_reqctx: the handler frees it */
};

/* Before the daemon starts: the rate limit table and the bcrypt threads. 0 = ok. */
int xp_gate_start(void);
/* The settings a reload may change (rate_limit, users, API key), in two steps for a reload's
 * all or nothing: prepare copies what w says (NULL when out of memory; nothing changes),
 * commit puts it in force and cannot fail, discard drops it. */
typedef struct xp_gate_next xp_gate_next;
xp_gate_next *xp_gate_prepare(const xp_web_cfg *w);
void xp_gate_commit(xp_gate_next *n);
void xp_gate_discard(xp_gate_next *n);
/* Resumes every connection still waiting for bcrypt (answered 503) and stops the bcrypt
 * threads, waiting for them at most a moment. Before libmicrohttpd's daemon stops. */
void xp_gate_stop(void);
/* After the daemon stopped: frees the rate limit table. */
void xp_gate_free(void);

/* The first call of a request: its verdict, with *con_cls set to its context. exempt: the
 * path needs neither a token nor credentials. When PENDING, c is suspended; once decided it
 * is resumed and libmicrohttpd calls the handler again as for a first call: xp_gate_recall
 * tells that call apart. */
xp_gate_verdict xp_gate_enter(struct MHD_Connection *c, int exempt, void **con_cls);
/* The verdict of a later call; *recall is set when this is the handler's call right after a
 * resume (the repeated first call), once per request. */
xp_gate_verdict xp_gate_result(void *con_cls, int *recall, unsigned *retry_after);
/* The request is over (libmicrohttpd's completed callback). */
void xp_gate_leave(void *con_cls);
/* The context of a request refused before the gate (no Host): never passes. */
void *xp_gate_refused_ctx(void);
/* The WWW-Authenticate challenges of a 401, for the credentials configured: 1 or 2 of
 * "Basic realm=..." and "Bearer realm=..." into out. Returns how many. */
int xp_gate_challenges(const char *out[2]);

#endif
