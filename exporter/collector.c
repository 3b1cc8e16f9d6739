#include "collector.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const xp_collector *xp_collector_find(const char *name)
{
    for (const xp_collector *const *c = xp_collectors; *c; c++)
        if (strcmp((*c)->name, name) == 0)
            return *c;
    return NULL;
}

const char *xp_reason_name(xp_reason r)
{
    static const char *const names[XP_REASON_COUNT] = {
        [XP_REASON_NONE] = "none",
        [XP_REASON_TIMEOUT] = "timeout",
        [XP_REASON_DNS] = "dns",
        [XP_REASON_TLS] = "tls",
        [XP_REASON_CONNECT] = "connect",
        [XP_REASON_AUTH] = "auth",
        [XP_REASON_RATE_LIMITED] = "rate_limited",
        [XP_REASON_SERVER_ERROR] = "server_error",
        [XP_REASON_CLIENT_ERROR] = "client_error",
        [XP_REASON_PROTOCOL] = "protocol",
        [XP_REASON_CHECK] = "check",
    };
    return (unsigned)r < XP_REASON_COUNT ? names[r] : "none";
}

int xp_reason_parse(const char *s)
{
    for (int r = XP_REASON_NONE + 1; r < XP_REASON_COUNT; r++)
        if (strcmp(s, xp_reason_name((xp_reason)r)) == 0)
            return r;
    return -1;
}

int xp_probe_fail(xp_probe *p, xp_reason reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof(p->err), fmt, ap);
    va_end(ap);
    p->reason = reason;
    return -1;
}
