/* Failure reasons (SPEC section 5) from what each backend's client library or server said.
 * The inputs are recorded: texts libpq 15, hiredis 0.14 and Redis 7 produced here against real
 * servers (tests/integration/test_failure_reasons.py meets the same failures end to end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <hiredis/hiredis.h>

#include "reasons.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void check(const char *input, xp_reason got, xp_reason want)
{
    if (got != want)
        fail_msg("%s: got %s, want %s", input ? input : "(null)", xp_reason_name(got),
                 xp_reason_name(want));
}

static void order_and_names(void **state)
{
    static const char *const spec[] = {"none",     "timeout",      "dns",          "tls",
                                       "connect",  "auth",         "rate_limited", "server_error",
                                       "client_error", "protocol", "check"};
    assert_int_equal(XP_REASON_COUNT, N(spec));
    for (int r = 0; r < XP_REASON_COUNT; r++)
        assert_string_equal(xp_reason_name((xp_reason)r), spec[r]);
    assert_string_equal(xp_reason_name((xp_reason)-1), "none");
}

static void postgres_sqlstates(void **state)
{
    static const struct {
        const char *state;
        xp_reason want;
    } cases[] = {
        {"28P01", XP_REASON_AUTH},         /* password authentication failed */
        {"28000", XP_REASON_AUTH},         /* no such role, pg_hba.conf rejects */
        {"42501", XP_REASON_AUTH},         /* permission denied for table pg_authid */
        {"53300", XP_REASON_RATE_LIMITED}, /* sorry, too many clients already */
        {"57P01", XP_REASON_SERVER_ERROR}, /* terminating connection due to administrator command */
        {"57P02", XP_REASON_SERVER_ERROR}, /* crash shutdown */
        {"57P03", XP_REASON_SERVER_ERROR}, /* the database system is starting up */
        {"XX000", XP_REASON_SERVER_ERROR}, /* internal error */
        {"XX001", XP_REASON_SERVER_ERROR}, /* data corrupted */
        {"53200", XP_REASON_SERVER_ERROR}, /* out of memory */
        {"53100", XP_REASON_SERVER_ERROR}, /* disk full */
        {"40001", XP_REASON_SERVER_ERROR}, /* serialization failure */
        {"55P03", XP_REASON_SERVER_ERROR}, /* lock not available */
        {"58030", XP_REASON_SERVER_ERROR}, /* I/O error */
        {"57014", XP_REASON_TIMEOUT},      /* canceling statement due to statement timeout */
        {"08006", XP_REASON_CONNECT},      /* connection failure */
        {"08P01", XP_REASON_CONNECT},      /* protocol violation reported by the server */
        {"42601", XP_REASON_CLIENT_ERROR}, /* syntax error at or near "SELEC" */
        {"42P01", XP_REASON_CLIENT_ERROR}, /* relation does not exist */
        {"3D000", XP_REASON_CLIENT_ERROR}, /* database "nodb" does not exist */
        {"22012", XP_REASON_CLIENT_ERROR}, /* division by zero */
        {"P0001", XP_REASON_CLIENT_ERROR}, /* raise_exception */
        {NULL, XP_REASON_PROTOCOL},
        {"", XP_REASON_PROTOCOL},
        {"2", XP_REASON_PROTOCOL},
        {"28P01x", XP_REASON_PROTOCOL},
    };
    for (size_t i = 0; i < N(cases); i++)
        check(cases[i].state, xp_reason_pg_sqlstate(cases[i].state), cases[i].want);
}

static void postgres_messages(void **state)
{
    static const struct {
        const char *msg;
        xp_reason want;
    } cases[] = {
        {"connection to server at \"127.0.0.1\", port 27671 failed: FATAL:  password "
         "authentication failed for user \"app\"\n",
         XP_REASON_AUTH},
        {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  no pg_hba.conf entry "
         "for host \"127.0.0.1\", user \"app\", database \"app\", SSL off\n",
         XP_REASON_AUTH}, /* "SSL off" is not a TLS failure */
        {"connection to server at \"127.0.0.1\", port 5432 failed: fe_sendauth: no password "
         "supplied\n",
         XP_REASON_AUTH},
        {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  role \"nobody\" does "
         "not exist\n",
         XP_REASON_AUTH},
        {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  permission denied "
         "for database \"app\"\nDETAIL:  User does not have CONNECT privilege.\n",
         XP_REASON_AUTH},
        {"connection to server at \"127.0.0.1\", port 27671 failed: FATAL:  database \"nodb\" "
         "does not exist\n",
         XP_REASON_CLIENT_ERROR},
        {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  sorry, too many "
         "clients already\n",
         XP_REASON_RATE_LIMITED},
        {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  remaining connection "
         "slots are reserved for non-replication superuser connections\n",
         XP_REASON_RATE_LIMITED},
        {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  too many connections "
         "for role \"app\"\n",
         XP_REASON_RATE_LIMITED},
        {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  the database system "
         "is starting up\n",
         XP_REASON_SERVER_ERROR},
        {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  the database system "
         "is shutting down\n",
         XP_REASON_SERVER_ERROR},
        {"FATAL:  terminating connection due to administrator command\nserver closed the "
         "connection unexpectedly\n",
         XP_REASON_SERVER_ERROR},
        {"connection to server at \"127.0.0.1\", port 27671 failed: Connection refused\n\tIs the "
         "server running on that host and accepting TCP/IP connections?\n",
         XP_REASON_CONNECT},
        {"server closed the connection unexpectedly\n\tThis probably means the server terminated "
         "abnormally\n\tbefore or while processing the request.\n",
         XP_REASON_CONNECT},
        {"could not receive data from server: Connection reset by peer\n", XP_REASON_CONNECT},
        {"connection to server at \"10.255.255.1\", port 5432 failed: No route to host\n",
         XP_REASON_CONNECT},
        {"no connection to the server\n", XP_REASON_CONNECT},
        {"connection to server at \"127.0.0.1\", port 27671 failed: server does not support SSL, "
         "but SSL was required\n",
         XP_REASON_TLS},
        {"connection to server at \"127.0.0.1\", port 5432 failed: received invalid response to "
         "SSL negotiation: H\n",
         XP_REASON_TLS},
        {"connection to server at \"127.0.0.1\", port 5432 failed: SSL error: certificate verify "
         "failed\n",
         XP_REASON_TLS},
        {"SSL SYSCALL error: Connection reset by peer\n", XP_REASON_TLS}, /* tls before connect */
        {"connection to server at \"db\" (10.0.0.5), port 5432 failed: server certificate for "
         "\"db\" does not match host name \"db.internal\"\n",
         XP_REASON_TLS},
        {"could not translate host name \"nonexistent.invalid\" to address: Name or service not "
         "known\n",
         XP_REASON_DNS},
        {"connection to server at \"127.0.0.1\", port 5432 failed: timeout expired\n",
         XP_REASON_TIMEOUT},
        {"lost synchronization with server: got message type \"1\", length 825307441\n",
         XP_REASON_PROTOCOL},
        {"connection to server at \"127.0.0.1\", port 5432 failed: expected authentication "
         "request from server, but received H\n",
         XP_REASON_PROTOCOL},
        {"unexpected message type 0x58 during COPY from stdin\n", XP_REASON_PROTOCOL},
        {"", XP_REASON_CONNECT},
        {NULL, XP_REASON_CONNECT},
    };
    for (size_t i = 0; i < N(cases); i++)
        check(cases[i].msg, xp_reason_pg_message(cases[i].msg), cases[i].want);
}

static void redis_errors(void **state)
{
    static const struct {
        int err;
        const char *errstr;
        xp_reason want;
    } cases[] = {
        {REDIS_ERR_IO, "Connection refused", XP_REASON_CONNECT},
        {REDIS_ERR_IO, "Connection reset by peer", XP_REASON_CONNECT},
        {REDIS_ERR_IO, "No route to host", XP_REASON_CONNECT},
        {REDIS_ERR_IO, "Broken pipe", XP_REASON_CONNECT},
        {REDIS_ERR_IO, "Connection timed out", XP_REASON_TIMEOUT},
        {REDIS_ERR_IO, "Resource temporarily unavailable", XP_REASON_TIMEOUT}, /* SO_RCVTIMEO */
        {REDIS_ERR_EOF, "Server closed the connection", XP_REASON_CONNECT},
        {REDIS_ERR_PROTOCOL, "Protocol error, got \"\\xff\" as reply type byte", XP_REASON_PROTOCOL},
        {REDIS_ERR_PROTOCOL, "Protocol error, got \"H\" as reply type byte", XP_REASON_PROTOCOL},
        {REDIS_ERR_OOM, "Out of memory", XP_REASON_PROTOCOL}, /* a 2^31-element array refused */
        {REDIS_ERR_OTHER, "Name or service not known", XP_REASON_DNS},
        {REDIS_ERR_OTHER, "Can't create socket: Too many open files", XP_REASON_CONNECT},
        {REDIS_ERR_IO, NULL, XP_REASON_CONNECT},
    };
    for (size_t i = 0; i < N(cases); i++)
        check(cases[i].errstr, xp_reason_redis_error(cases[i].err, cases[i].errstr), cases[i].want);
}

static void redis_replies(void **state)
{
    static const struct {
        const char *msg;
        int is_auth;
        xp_reason want;
    } cases[] = {
        {"WRONGPASS invalid username-password pair or user is disabled.", 1, XP_REASON_AUTH},
        {"NOAUTH Authentication required.", 0, XP_REASON_AUTH},
        {"NOPERM User probe has no permissions to run the 'info' command", 0, XP_REASON_AUTH},
        {"ERR invalid password", 1, XP_REASON_AUTH}, /* Redis 5 */
        {"ERR AUTH <password> called without any password configured for the default user. Are "
         "you sure your configuration is correct?",
         1, XP_REASON_AUTH},
        {"ERR max number of clients reached", 1, XP_REASON_RATE_LIMITED}, /* answers AUTH too */
        {"ERR max number of clients reached", 0, XP_REASON_RATE_LIMITED},
        {"LOADING Redis is loading the dataset in memory", 0, XP_REASON_SERVER_ERROR},
        {"LOADING Redis is loading the dataset in memory", 1, XP_REASON_SERVER_ERROR},
        {"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
         0, XP_REASON_SERVER_ERROR},
        {"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", 0,
         XP_REASON_SERVER_ERROR},
        {"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist "
         "to disk.",
         0, XP_REASON_SERVER_ERROR},
        {"OOM command not allowed when used memory > 'maxmemory'.", 0, XP_REASON_SERVER_ERROR},
        {"ERR DB index is out of range", 0, XP_REASON_CLIENT_ERROR},
        {"ERR unknown command 'PING', with args beginning with: ", 0, XP_REASON_CLIENT_ERROR},
        {"", 0, XP_REASON_CLIENT_ERROR},
        {NULL, 1, XP_REASON_AUTH},
    };
    for (size_t i = 0; i < N(cases); i++)
        check(cases[i].msg, xp_reason_redis_reply(cases[i].msg, cases[i].is_auth), cases[i].want);
}

static void curl_codes(void **state)
{
    static const struct {
        CURLcode code;
        xp_reason want;
    } cases[] = {
        {CURLE_COULDNT_RESOLVE_HOST, XP_REASON_DNS},
        {CURLE_COULDNT_RESOLVE_PROXY, XP_REASON_DNS},
        {CURLE_OPERATION_TIMEDOUT, XP_REASON_TIMEOUT},
        {CURLE_SSL_CONNECT_ERROR, XP_REASON_TLS}, /* https:// to a plain port: wrong version */
        {CURLE_PEER_FAILED_VERIFICATION, XP_REASON_TLS},
        {CURLE_SSL_CACERT_BADFILE, XP_REASON_TLS},
        {CURLE_SSL_CERTPROBLEM, XP_REASON_TLS},
        {CURLE_SSL_CIPHER, XP_REASON_TLS},
        {CURLE_SSL_CLIENTCERT, XP_REASON_TLS},
        {CURLE_COULDNT_CONNECT, XP_REASON_CONNECT},
        {CURLE_RECV_ERROR, XP_REASON_CONNECT},
        {CURLE_SEND_ERROR, XP_REASON_CONNECT},
        {CURLE_GOT_NOTHING, XP_REASON_CONNECT},
        {CURLE_PARTIAL_FILE, XP_REASON_CONNECT},
        {CURLE_WEIRD_SERVER_REPLY, XP_REASON_PROTOCOL},
        {CURLE_WRITE_ERROR, XP_REASON_PROTOCOL}, /* the body cap aborted the transfer */
        {CURLE_FILESIZE_EXCEEDED, XP_REASON_PROTOCOL},
        {CURLE_BAD_CONTENT_ENCODING, XP_REASON_PROTOCOL},
        {CURLE_TOO_MANY_REDIRECTS, XP_REASON_PROTOCOL},
    };
    for (size_t i = 0; i < N(cases); i++)
        check(curl_easy_strerror(cases[i].code), xp_reason_curl(cases[i].code), cases[i].want);
}

static void http_statuses(void **state)
{
    static const struct {
        long status;
        xp_reason want;
    } cases[] = {
        {401, XP_REASON_AUTH},          {403, XP_REASON_AUTH}, /* S3 SignatureDoesNotMatch */
        {407, XP_REASON_AUTH},          {429, XP_REASON_RATE_LIMITED},
        {500, XP_REASON_SERVER_ERROR},  {502, XP_REASON_SERVER_ERROR},
        {503, XP_REASON_SERVER_ERROR},  {599, XP_REASON_SERVER_ERROR},
        {404, XP_REASON_CLIENT_ERROR}, /* missing bucket */
        {400, XP_REASON_CLIENT_ERROR},  {418, XP_REASON_CLIENT_ERROR},
        {499, XP_REASON_CLIENT_ERROR},  {204, XP_REASON_CHECK},
        {302, XP_REASON_PROTOCOL},      {101, XP_REASON_PROTOCOL},
        {0, XP_REASON_PROTOCOL},        {600, XP_REASON_PROTOCOL},
        {999, XP_REASON_PROTOCOL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char what[16];
        snprintf(what, sizeof(what), "HTTP %ld", cases[i].status);
        check(what, xp_reason_http_status(cases[i].status), cases[i].want);
    }
}

static void resolver(void **state)
{
    assert_int_equal(xp_reason_resolve(9.99, 10), XP_REASON_DNS);
    assert_int_equal(xp_reason_resolve(10, 10), XP_REASON_TIMEOUT);
    assert_int_equal(xp_reason_resolve(12, 10), XP_REASON_TIMEOUT);
}

static void probe_fail_sets_both(void **state)
{
    xp_probe p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(xp_probe_fail(&p, XP_REASON_AUTH, "HTTP %d %s", 401, "unauthorized"), -1);
    assert_int_equal(p.reason, XP_REASON_AUTH);
    assert_string_equal(p.err, "HTTP 401 unauthorized");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_and_names),   cmocka_unit_test(postgres_sqlstates),
        cmocka_unit_test(postgres_messages), cmocka_unit_test(redis_errors),
        cmocka_unit_test(redis_replies),     cmocka_unit_test(curl_codes),
        cmocka_unit_test(http_statuses),     cmocka_unit_test(resolver),
        cmocka_unit_test(probe_fail_sets_both),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
