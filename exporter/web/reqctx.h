/* What a request keeps between the calls libmicrohttpd makes for it, when it needs more than
 * a verdict: the body of an OFREP evaluation, or the state of a long-poll. Most requests
 * (scrapes) need neither and allocate nothing. */
#ifndef XP_REQCTX_H
#define XP_REQCTX_H

#include "base/buf.h"
#include "web/gate.h"
#include "web/longpoll.h"

/* The largest request body kept (an OFREP evaluation context); a longer one is read, dropped
 * and answered 413. */
#define XP_BODY_MAX (64 * 1024)

typedef struct xp_reqctx {
    xp_gate_ctx gate; /* first: *con_cls is read as a gate context too (verdict PASS) */
    int keep_body;
    xp_buf body;
    int body_too_big;
    double deadline; /* long-poll: monotonic end of the wait; 0 before it began */
    xp_waiter waiter;
} xp_reqctx;

xp_reqctx *xp_reqctx_new(int keep_body); /* NULL when out of memory */
/* Appends a piece of body (up to XP_BODY_MAX; past it, notes the excess). */
void xp_reqctx_take(xp_reqctx *r, const char *data, size_t len);
/* Takes the waiter off the long-poll list if needed, frees everything. NULL-safe. */
void xp_reqctx_free(xp_reqctx *r);

#endif
