#include "web/breakers.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config/config.h"
#include "engine/override.h"
#include "engine/runtime.h"
#include "web/answer.h"

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes s[0..n) into out (room for outlen, terminated). 0 = ok, -1 = too long or a bad
 * escape. */
static int decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (ch == '\0' || o + 1 >= outlen)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

int xp_form_value(const char *body, size_t len, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    for (size_t at = 0; body && at < len;) {
        const char *p = body + at;
        const char *amp = memchr(p, '&', len - at);
        size_t n = amp ? (size_t)(amp - p) : len - at;
        const char *eq = memchr(p, '=', n);
        size_t nk = eq ? (size_t)(eq - p) : n;
        if (nk == klen && memcmp(p, key, klen) == 0)
            return decode(eq ? eq + 1 : p + n, eq ? n - nk - 1 : 0, out, outlen) == 0 ? 1 : -1;
        at += n + 1;
    }
    return 0;
}

/* A parameter from the body, else the query string. 1 found, 0 absent, -1 unreadable. */
static int param(struct MHD_Connection *c, const xp_reqctx *r, const char *key, char *out,
                 size_t outlen)
{
    int rc = r ? xp_form_value(r->body.data, r->body.len, key, out, outlen) : 0;
    if (rc != 0)
        return rc;
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    if (!q)
        return 0;
    if (strlen(q) >= outlen)
        return -1;
    snprintf(out, outlen, "%s", q);
    return 1;
}

/* The TCP peer's address as text: who asked, for the log and the event. */
static void client_of(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    snprintf(out, len, "unknown");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

static enum MHD_Result bad(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result bad(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return xp_answer_error(c, XP_ROUTE_BREAKERS, status, msg);
}

enum MHD_Result xp_breakers_post(struct MHD_Connection *c, const char *name, const xp_reqctx *r)
{
    char mode_s[64], for_s[64], client[INET6_ADDRSTRLEN + 1];
    double seconds = 0;
    if (r && r->body_too_big)
        return bad(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body larger than %d bytes", XP_BODY_MAX);
    if (!*name)
        return bad(c, MHD_HTTP_NOT_FOUND, "no dependency name in the path");
    int has_mode = param(c, r, "mode", mode_s, sizeof(mode_s));
    if (has_mode == 0)
        return bad(c, MHD_HTTP_BAD_REQUEST,
                   "mode is required: auto, forced_open, disabled or metrics_only");
    int mode = has_mode > 0 ? xp_mode_parse(mode_s) : -1;
    if (mode < 0)
        return bad(c, MHD_HTTP_BAD_REQUEST,
                   "mode must be auto, forced_open, disabled or metrics_only, not \"%.40s\"",
                   has_mode > 0 ? mode_s : "(unreadable)");
    int has_for = param(c, r, "for", for_s, sizeof(for_s));
    if (has_for != 0 && (has_for < 0 || xp_duration_parse(for_s, &seconds) != 0))
        return bad(c, MHD_HTTP_BAD_REQUEST,
                   "for must be a positive duration such as 500ms, 10s, 30m or 1h, at most 30 "
                   "days, not \"%.40s\"",
                   has_for > 0 ? for_s : "(unreadable)");
    if (has_for > 0 && mode == XP_MODE_AUTO)
        return bad(c, MHD_HTTP_BAD_REQUEST,
                   "for needs a mode other than auto (mode=auto clears the run-time mode)");
    client_of(c, client, sizeof(client));
    xp_mode_change ch;
    if (xp_runtime_set_mode(name, mode, seconds, client, &ch) != 0)
        return bad(c, MHD_HTTP_NOT_FOUND, "unknown dependency \"%.100s\"", name);
    json_t *o = json_object();
    int ok = o && json_object_set_new(o, "dependency", json_string(name)) == 0 &&
             json_object_set_new(o, "mode", json_string(xp_mode_name(ch.mode))) == 0 &&
             json_object_set_new(o, "configured_mode", json_string(xp_mode_name(ch.configured))) ==
                 0 &&
             json_object_set_new(o, "until", ch.until_wall > 0
                                                 ? json_real(floor(ch.until_wall * 1000) / 1000)
                                                 : json_null()) == 0 &&
             json_object_set_new(o, "state", json_string(xp_breaker_state_name(ch.state))) == 0;
    if (!ok) {
        json_decref(o);
        o = NULL; /* answered 500: the change itself was made and logged */
    }
    return xp_answer_doc(c, XP_ROUTE_BREAKERS, MHD_HTTP_OK, o, NULL);
}
