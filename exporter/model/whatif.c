#include "model/whatif.h"

#include <string.h>

#include "base/buf.h"
#include "model/level.h"

/* Copies the message into err (cut to fit) and returns -1. */
static int fail(xp_buf *b, char *err, size_t errlen)
{
    if (errlen) {
        const char *msg = xp_buf_failed(b) || !b->data ? "out of memory" : b->data;
        size_t n = strlen(msg);
        if (n >= errlen)
            n = errlen - 1;
        memcpy(err, msg, n);
        err[n] = '\0';
    }
    xp_buf_free(b);
    return -1;
}

static int parse_state(const char *s, size_t n, xp_breaker_state *out)
{
    static const struct {
        const char *name;
        xp_breaker_state state;
    } states[] = {{"open", XP_OPEN}, {"half_open", XP_HALF_OPEN}, {"closed", XP_CLOSED}};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (strlen(states[i].name) == n && memcmp(states[i].name, s, n) == 0) {
            *out = states[i].state;
            return 0;
        }
    return -1;
}

static const char *trim(const char *s, const char *end, size_t *len)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *len = (size_t)(end - s);
    return s;
}

/* Quotes at most 64 bytes of what the client sent: a message, not an echo chamber. */
static void quote(xp_buf *b, const char *s, size_t n)
{
    xp_buf_printf(b, "\"%.*s%s\"", (int)(n > 64 ? 64 : n), s, n > 64 ? "..." : "");
}

int xp_whatif_parse(const char *spec, xp_dep_name_fn name, const void *ctx, size_t n_deps,
                    xp_whatif *out, char *err, size_t errlen)
{
    xp_buf b;
    xp_buf_init(&b);
    out->n = 0;
    const char *p = spec ? spec : "";
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        size_t len;
        const char *item = trim(p, end, &len);
        if (len == 0) {
            xp_buf_puts(&b, out->n || comma ? "assume: an empty item (expected NAME:STATE)"
                                            : "assume: no dependency given (expected NAME:STATE[,NAME:STATE...])");
            return fail(&b, err, errlen);
        }
        const char *colon = memchr(item, ':', len);
        if (!colon) {
            xp_buf_puts(&b, "assume: ");
            quote(&b, item, len);
            xp_buf_puts(&b, " is not NAME:STATE");
            return fail(&b, err, errlen);
        }
        size_t nlen, slen;
        const char *nm = trim(item, colon, &nlen);
        const char *st = trim(colon + 1, item + len, &slen);
        size_t dep = n_deps;
        for (size_t i = 0; i < n_deps; i++) {
            const char *cand = name(ctx, i);
            if (strlen(cand) == nlen && memcmp(cand, nm, nlen) == 0) {
                dep = i;
                break;
            }
        }
        if (dep == n_deps) {
            xp_buf_puts(&b, "assume: unknown dependency ");
            quote(&b, nm, nlen);
            xp_buf_puts(&b, " (known:");
            for (size_t i = 0; i < n_deps; i++)
                xp_buf_printf(&b, "%s %s", i ? "," : "", name(ctx, i));
            xp_buf_puts(&b, ")");
            return fail(&b, err, errlen);
        }
        xp_breaker_state state;
        if (parse_state(st, slen, &state) != 0) {
            xp_buf_puts(&b, "assume: unknown state ");
            quote(&b, st, slen);
            xp_buf_printf(&b, " for %s (expected open, half_open or closed)", name(ctx, dep));
            return fail(&b, err, errlen);
        }
        for (size_t k = 0; k < out->n; k++)
            if (out->a[k].dep == dep) {
                xp_buf_printf(&b, "assume: %s is named twice", name(ctx, dep));
                return fail(&b, err, errlen);
            }
        if (out->n == XP_WHATIF_MAX) {
            xp_buf_printf(&b, "assume: more than %d dependencies", XP_WHATIF_MAX);
            return fail(&b, err, errlen);
        }
        out->a[out->n++] = (xp_assumption){dep, state};
        if (!comma)
            break;
        p = comma + 1;
    }
    xp_buf_free(&b);
    return 0;
}

void xp_whatif_apply(const xp_whatif *w, xp_health_dep *deps)
{
    for (size_t k = 0; k < w->n; k++) {
        xp_health_dep *d = &deps[w->a[k].dep];
        d->state = w->a[k].state;
        if (d->state == XP_CLOSED) {
            d->consecutive_failures = 0;
            d->failure_rate = -1;
            d->slow_call_rate = -1;
        }
    }
}

void xp_whatif_config_deps(const xp_config *cfg, xp_health_dep *deps)
{
    for (size_t i = 0; i < cfg->n_deps; i++) {
        const xp_dep_cfg *c = &cfg->deps[i];
        xp_mode mode = (unsigned)c->breaker.mode < XP_MODE_COUNT ? c->breaker.mode : XP_MODE_AUTO;
        /* As a breaker starts (xp_breaker_init): a config's forced_open reads OPEN. */
        deps[i] = (xp_health_dep){.state = mode == XP_MODE_FORCED_OPEN ? XP_OPEN : XP_CLOSED,
                                  .failure_threshold = c->failure_threshold,
                                  .latency_budget = c->latency_budget,
                                  .last_success_latency = -1,
                                  .weight = c->weight,
                                  .open_level = c->open_level,
                                  .failure_rate = -1,
                                  .slow_call_rate = -1,
                                  .failure_rate_threshold = c->breaker.failure_rate_threshold,
                                  .slow_call_rate_threshold = c->breaker.slow_call_rate_threshold,
                                  .mode = mode};
    }
}

const char *xp_whatif_config_name(const void *cfg, size_t i)
{
    return ((const xp_config *)cfg)->deps[i].name;
}
