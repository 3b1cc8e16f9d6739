#include "web/reqctx.h"

#include <stdlib.h>

xp_reqctx *xp_reqctx_new(int keep_body)
{
    xp_reqctx *r = calloc(1, sizeof(*r));
    if (r) {
        r->gate = (xp_gate_ctx){XP_GATE_PASS, 0, XP_GATE_CTX_REQ};
        r->keep_body = keep_body;
        xp_buf_init(&r->body);
    }
    return r;
}

void xp_reqctx_take(xp_reqctx *r, const char *data, size_t len)
{
    if (!r->keep_body || r->body_too_big)
        return;
    if (r->body.len + len > XP_BODY_MAX) {
        r->body_too_big = 1;
        return;
    }
    xp_buf_append(&r->body, data, len);
}

void xp_reqctx_free(xp_reqctx *r)
{
    if (!r)
        return;
    xp_longpoll_forget(&r->waiter);
    xp_buf_free(&r->body);
    free(r);
}
