/* The headers every response carries (SPEC section 7): one list of (name, value, scope),
 * built at start and again whenever the web settings change, and applied to each response
 * as it is made.
 *
 * The defaults are the security headers: X-Content-Type-Options, X-Frame-Options and
 * Referrer-Policy on every response, a strict Content-Security-Policy on the HTML status
 * page, and Strict-Transport-Security on every response when TLS is on. Headers an operator
 * configures (the exporter-toolkit's http_server_config.headers) go on every response and
 * replace any default of the same name, wherever that default applied; one configured with
 * an empty value removes the default of that name. */
#ifndef XP_HEADERS_H
#define XP_HEADERS_H

#include <stddef.h>

#include <microhttpd.h>

/* Which responses a header goes on: a bit set. */
enum { XP_HDR_ALL = 1, XP_HDR_PAGE = 2 }; /* PAGE: the HTML status page */

typedef struct xp_header_kv {
    const char *name;
    const char *value;
} xp_header_kv;

typedef struct xp_header_set xp_header_set;

/* The defaults (with HSTS when `tls`), then `extra` on top. Names must be HTTP tokens and
 * values free of control characters (no CR/LF: no header injection). NULL with err set on a
 * bad entry or when memory runs out. */
xp_header_set *xp_headers_build(int tls, const xp_header_kv *extra, size_t n_extra, char *err,
                                size_t errlen);
void xp_headers_free(xp_header_set *set);
/* The value `set` gives `name` (case-insensitive) on responses of `scope`, or NULL. */
const char *xp_headers_get(const xp_header_set *set, unsigned scope, const char *name);
/* Adds every header of `set` meant for `scope` to r. 0 = ok, -1 when libmicrohttpd refused. */
int xp_headers_apply(const xp_header_set *set, struct MHD_Response *r, unsigned scope);

/* The set in force. Installing takes ownership, frees the previous set and moves the
 * generation on, so responses made from the old set (cached pages, fixed answers) are
 * rebuilt. NULL uninstalls (at shutdown). */
void xp_headers_install(xp_header_set *set);
unsigned long xp_headers_generation(void);
/* Applies the set in force; *gen (may be NULL) gets the generation it belongs to. */
int xp_headers_apply_current(struct MHD_Response *r, unsigned scope, unsigned long *gen);

#endif
