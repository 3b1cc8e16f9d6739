#include "reasons.h"

#include <string.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>

static int has_any(const char *s, const char *const *needles)
{
    for (; *needles; needles++)
        if (strstr(s, *needles))
            return 1;
    return 0;
}

xp_reason xp_reason_pg_sqlstate(const char *st)
{
    if (!st || strlen(st) != 5)
        return XP_REASON_PROTOCOL;
    if (strcmp(st, "57014") == 0) /* query_canceled: statement_timeout ran out */
        return XP_REASON_TIMEOUT;
    if (strncmp(st, "08", 2) == 0) /* connection_exception */
        return XP_REASON_CONNECT;
    /* 28: invalid_authorization_specification (28P01 wrong password, 28000 no such role or
     * pg_hba.conf refuses); 42501 insufficient_privilege is PostgreSQL's 403. */
    if (strncmp(st, "28", 2) == 0 || strcmp(st, "42501") == 0)
        return XP_REASON_AUTH;
    if (strcmp(st, "53300") == 0) /* too_many_connections */
        return XP_REASON_RATE_LIMITED;
    /* The server's condition, not the query's fault: transaction rollback (serialization,
     * deadlock), insufficient resources, object in use, operator intervention (57P01 admin
     * shutdown, 57P03 starting up), system and internal errors. */
    static const char *const server[] = {"40", "53", "55", "57", "58", "F0", "HV", "XX"};
    for (size_t i = 0; i < sizeof(server) / sizeof(server[0]); i++)
        if (strncmp(st, server[i], 2) == 0)
            return XP_REASON_SERVER_ERROR;
    return XP_REASON_CLIENT_ERROR;
}

xp_reason xp_reason_pg_message(const char *msg)
{
    static const char *const timeout[] = {"timeout expired", "Connection timed out",
                                          "statement timeout", NULL};
    static const char *const dns[] = {"could not translate host name", "Name or service not known",
                                      "Temporary failure in name resolution", NULL};
    /* libpq's own TLS texts; not a bare "SSL", which pg_hba.conf rejections quote too
     * ("no pg_hba.conf entry for host ..., SSL off"). */
    static const char *const tls[] = {"SSL error",         "SSL SYSCALL",      "SSL connection",
                                      "SSL negotiation",   "support SSL",      "SSL context",
                                      "SSL protocol",      "SSL library",      "certificate",
                                      "private key file",  "GSSAPI",           NULL};
    static const char *const auth[] = {"authentication failed",
                                       "no pg_hba.conf entry",
                                       "pg_hba.conf rejects",
                                       "no password supplied",
                                       "is not permitted to log in",
                                       "permission denied",
                                       "password is required",
                                       NULL};
    static const char *const rate[] = {"too many clients", "remaining connection slots",
                                       "too many connections", NULL};
    static const char *const server[] = {"the database system is",
                                         "terminating connection due to",
                                         "out of memory",
                                         NULL};
    static const char *const protocol[] = {"expected authentication request",
                                           "unexpected message type",
                                           "invalid message",
                                           "lost synchronization",
                                           "do not agree with length",
                                           "unexpected response",
                                           "invalid response",
                                           "unexpected asyncStatus",
                                           "protocol",
                                           NULL};
    if (!msg)
        return XP_REASON_CONNECT;
    if (has_any(msg, timeout))
        return XP_REASON_TIMEOUT;
    if (has_any(msg, dns))
        return XP_REASON_DNS;
    if (has_any(msg, tls))
        return XP_REASON_TLS;
    /* Refused, reset, unreachable, "server closed the connection unexpectedly": connect is
     * the default below, so only what would otherwise match a later reason is listed. */
    if (has_any(msg, auth))
        return XP_REASON_AUTH;
    if (strstr(msg, "role \"") && strstr(msg, "does not exist"))
        return XP_REASON_AUTH; /* 28000: a user name the server does not know */
    if (has_any(msg, rate))
        return XP_REASON_RATE_LIMITED;
    if (has_any(msg, server))
        return XP_REASON_SERVER_ERROR;
    if (strstr(msg, "database \"") && strstr(msg, "does not exist"))
        return XP_REASON_CLIENT_ERROR; /* 3D000: the probe asks for what is not there */
    if (has_any(msg, protocol))
        return XP_REASON_PROTOCOL;
    return XP_REASON_CONNECT;
}

xp_reason xp_reason_redis_error(int err, const char *errstr)
{
    const char *s = errstr ? errstr : "";
    /* A socket timeout (SO_RCVTIMEO/SO_SNDTIMEO, the safety net under poll) reads EAGAIN. */
    static const char *const timeout[] = {"timed out", "Resource temporarily unavailable", NULL};
    static const char *const dns[] = {"Name or service not known",
                                      "Temporary failure in name resolution", "nodename nor",
                                      NULL};
    switch (err) {
    case REDIS_ERR_PROTOCOL:
    case REDIS_ERR_OOM:
        return XP_REASON_PROTOCOL;
    case REDIS_ERR_EOF:
        return XP_REASON_CONNECT; /* the server closed the connection */
    default:
        if (has_any(s, timeout))
            return XP_REASON_TIMEOUT;
        if (has_any(s, dns))
            return XP_REASON_DNS;
        return XP_REASON_CONNECT;
    }
}

xp_reason xp_reason_redis_reply(const char *msg, int is_auth)
{
    const char *m = msg ? msg : "";
    if (strncmp(m, "NOAUTH", 6) == 0 || strncmp(m, "WRONGPASS", 9) == 0 ||
        strncmp(m, "NOPERM", 6) == 0 || strstr(m, "invalid password") ||
        strstr(m, "invalid username-password"))
        return XP_REASON_AUTH;
    /* A full server answers whatever comes first, AUTH included, with this and hangs up. */
    if (strstr(m, "max number of clients"))
        return XP_REASON_RATE_LIMITED;
    static const char *const server[] = {"LOADING", "BUSY", "MASTERDOWN", "MISCONF", "OOM",
                                         "TRYAGAIN", "CLUSTERDOWN", NULL};
    for (const char *const *w = server; *w; w++)
        if (strncmp(m, *w, strlen(*w)) == 0)
            return XP_REASON_SERVER_ERROR;
    /* Any other refusal of AUTH is about the credentials (AUTH with a password the server
     * does not have configured, say). */
    return is_auth ? XP_REASON_AUTH : XP_REASON_CLIENT_ERROR;
}

xp_reason xp_reason_curl(int code)
{
    switch ((CURLcode)code) {
    case CURLE_OPERATION_TIMEDOUT:
        return XP_REASON_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return XP_REASON_DNS;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return XP_REASON_TLS;
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:   /* closed without answering */
    case CURLE_PARTIAL_FILE:  /* cut off in the middle of the body */
        return XP_REASON_CONNECT;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WRITE_ERROR:        /* our body or header cap aborted the transfer */
    case CURLE_FILESIZE_EXCEEDED:  /* Content-Length above the body cap */
    case CURLE_OUT_OF_MEMORY:
        return XP_REASON_PROTOCOL;
    default:
        return XP_REASON_CONNECT;
    }
}

xp_reason xp_reason_http_status(long status)
{
    if (status == 401 || status == 403 || status == 407)
        return XP_REASON_AUTH;
    if (status == 429)
        return XP_REASON_RATE_LIMITED;
    if (status >= 500 && status < 600)
        return XP_REASON_SERVER_ERROR;
    if (status >= 400 && status < 500)
        return XP_REASON_CLIENT_ERROR;
    if (status >= 200 && status < 300)
        return XP_REASON_CHECK;
    return XP_REASON_PROTOCOL;
}

xp_reason xp_reason_resolve(double now, double deadline)
{
    return now >= deadline ? XP_REASON_TIMEOUT : XP_REASON_DNS;
}
