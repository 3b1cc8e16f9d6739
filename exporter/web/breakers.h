/* POST /-/breakers/NAME (SPEC section 5, "Modes"): sets or clears a run-time mode of one
 * breaker. `mode=auto|forced_open|disabled|metrics_only` and an optional `for=DURATION`, in
 * a form body (application/x-www-form-urlencoded) or the query string (the body's value wins
 * where both give one). 200 with {"dependency", "mode", "configured_mode", "until", "state"}
 * (`mode` the mode now in force, `until` when the run-time mode ends, unix seconds, or null);
 * 400 for a missing or bad mode or duration; 404 for an unknown dependency. The handler's
 * lifecycle gate and the credentials come first. */
#ifndef XP_BREAKERS_H
#define XP_BREAKERS_H

#include <stddef.h>

#include <microhttpd.h>

#include "web/reqctx.h"

enum MHD_Result xp_breakers_post(struct MHD_Connection *c, const char *name, const xp_reqctx *r);

/* The value of `key` in a form body "a=1&b=x%20y" (percent-decoded, '+' read as a space) into
 * out. 1 = found, 0 = absent, -1 = found but too long for out or badly encoded. Pure. */
int xp_form_value(const char *body, size_t len, const char *key, char *out, size_t outlen);

#endif
