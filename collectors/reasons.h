/* Which failure reason (collector.h, SPEC section 5) a backend's own error means. Pure
 * functions of what the client library or the server said, so unit tests feed them recorded
 * inputs (tests/unit/test_reasons.c). Each checks in the order of precedence, so where two
 * reasons could apply the first of timeout, dns, tls, connect, auth, ... wins. */
#ifndef XP_REASONS_H
#define XP_REASONS_H

#include "collector.h"

/* A PostgreSQL SQLSTATE (five characters) of an error the server sent: 28xxx and 42501 auth,
 * 53300 rate_limited, 08xxx connect, 57014 (statement_timeout) timeout, 40/53/55/57/58/F0/
 * HV/XX server_error, anything else (a query the server refuses: syntax, missing table or
 * database) client_error. NULL or malformed: protocol. */
xp_reason xp_reason_pg_sqlstate(const char *sqlstate);

/* A libpq error message without a SQLSTATE: connection failures (PQerrorMessage after
 * PQconnectPoll failed, or a connection lost mid-query). libpq gives no SQLSTATE for errors
 * during the start-up exchange, so the server's FATAL message text is matched (English, as a
 * server with lc_messages = C or en sends it; a translated message reads connect). */
xp_reason xp_reason_pg_message(const char *msg);

/* A hiredis context error: err is redisContext.err (REDIS_ERR_IO, _EOF, _PROTOCOL, _OOM,
 * _OTHER), errstr its text. OOM is protocol: the only allocation that fails in practice is
 * a reply the collector refuses to buffer (an array announcing 2^31 elements). */
xp_reason xp_reason_redis_error(int err, const char *errstr);

/* An error reply of Redis to one of the probe's commands ("WRONGPASS ...", without the '-'):
 * NOAUTH, WRONGPASS, NOPERM, "invalid password" auth; "max number of clients" rate_limited;
 * LOADING, BUSY, MASTERDOWN, MISCONF, OOM server_error; anything else auth when the command
 * was AUTH (is_auth), else client_error. */
xp_reason xp_reason_redis_reply(const char *msg, int is_auth);

/* A libcurl result code of a failed transfer (CURLcode, passed as int so this header needs no
 * curl). Resolve dns, timeout timeout, CURLE_SSL_* tls, connect/send/receive connect,
 * unparsable answers (and the size caps, CURLE_WRITE_ERROR / FILESIZE_EXCEEDED) protocol. */
xp_reason xp_reason_curl(int code);

/* The HTTP status of a complete answer that is not the one expected: 401/403/407 auth, 429
 * rate_limited, 5xx server_error, other 4xx client_error, another 2xx check, anything else
 * (a redirect, a status out of range) protocol. */
xp_reason xp_reason_http_status(long status);

/* A host name lookup (exporter/engine/resolve.c) that failed at monotonic time `now`: timeout
 * when the probe's deadline had passed by then, else dns. */
xp_reason xp_reason_resolve(double now, double deadline);

#endif
