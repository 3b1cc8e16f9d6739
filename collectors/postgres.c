/* The postgres collector: connect (or reuse the kept connection), run `query`, require a row,
 * then read connection counts and recovery state in one more round trip.
 *
 * libpq's own connect_timeout is raised to 2 s when set lower, and a stopped postmaster
 * accepts the TCP connection and then hangs the start-up exchange. So everything here is
 * asynchronous libpq (PQconnectStartParams/PQconnectPoll, PQsendQuery/PQconsumeInput) driven
 * by sockwait.c against the probe's deadline. Results are read one row at a time and capped
 * (PG_REPLY_MAX, PG_ROWS_MAX), and a watchdog (sockguard.c) cuts short libpq's own read loop,
 * so a server that answers with endless rows cannot grow the exporter. On any failure the
 * connection is dropped, never reused. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "base/clock.h"
#include "collector.h"
#include "config/keys.h"
#include "engine/resolve.h"
#include "reasons.h"
#include "sockguard.h"
#include "sockwait.h"

/* The most a query's answer may make us read, as Redis replies and HTTP bodies are capped:
 * the probe reads one row, and a server that sends more than this is not answering it. */
#define PG_REPLY_MAX (1024 * 1024)
/* And at most this many rows, whatever their size: each costs libpq a result of its own, and
 * a hundred thousand one-byte rows would take the probe's whole timeout to drop. */
#define PG_ROWS_MAX 10000
/* How long after the deadline the socket watchdog (sockguard.h) cuts a libpq call short. */
#define PG_GUARD_GRACE 0.1
#define PG_DEFAULT_QUERY "SELECT 1"
/* One round trip for the details. sum(numbackends) counts the sessions attached to a
 * database, which is what max_connections limits, and is readable by any role. */
#define PG_DETAIL_QUERY                                                                            \
    "SELECT (SELECT sum(numbackends) FROM pg_stat_database)::float8, "                             \
    "current_setting('max_connections')::float8, pg_is_in_recovery()"

enum { D_CONNECTIONS, D_MAX_CONNECTIONS, D_IN_RECOVERY, D_COUNT };

static const xp_detail_def postgres_details[D_COUNT] = {
    [D_CONNECTIONS] =
        {"dependency_postgres_connections",
         "Sessions connected to a PostgreSQL database (sum of pg_stat_database.numbackends), "
         "from background probes.",
         XP_METRIC_GAUGE},
    [D_MAX_CONNECTIONS] =
        {"dependency_postgres_max_connections",
         "The PostgreSQL server's max_connections setting, from background probes.",
         XP_METRIC_GAUGE},
    [D_IN_RECOVERY] =
        {"dependency_postgres_in_recovery",
         "1 when the PostgreSQL server is in recovery (a standby), 0 when it is a primary "
         "(pg_is_in_recovery()), from background probes.",
         XP_METRIC_GAUGE},
};

typedef struct postgres_inst {
    char *dsn;
    char *password;
    char *query;
    PGconn *conn; /* kept between probes; NULL when there is none */
} postgres_inst;

static const xp_key postgres_keys[] = {
    XP_KEY(postgres_inst, dsn, XP_K_STRING, .flags = XP_KEY_REQUIRED | XP_KEY_EMBEDS_SECRET),
    XP_KEY(postgres_inst, password, XP_K_STRING, .flags = XP_KEY_SECRET),
    XP_KEY(postgres_inst, query, XP_K_STRING, .def = PG_DEFAULT_QUERY),
    XP_KEY_END,
};

/* How a step ended; PG_LOST marks a kept connection the server had already closed. */
enum { PG_OK = 0, PG_FAIL = -1, PG_LOST = -2 };

static void *postgres_create(void)
{
    return calloc(1, sizeof(postgres_inst));
}

/* libpq's messages span lines ("...failed: FATAL:  ...\n\tIs the server running..."): keep
 * one line, without the "connection to server at ... failed:" preamble and severity, which
 * the target label and the error's context already say. */
static void pg_clean_message(const char *msg, char *out, size_t len)
{
    const char *m = msg ? msg : "";
    const char *failed = strstr(m, "failed: ");
    if (strncmp(m, "connection to server", 20) == 0 && failed)
        m = failed + 8;
    if (strncmp(m, "FATAL:  ", 8) == 0 || strncmp(m, "ERROR:  ", 8) == 0)
        m += 8;
    size_t o = 0;
    int space = 0;
    for (; *m && o + 1 < len; m++) {
        if (*m == '\n' || *m == '\t' || *m == '\r' || *m == ' ') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < len)
            out[o++] = ' ';
        space = 0;
        out[o++] = *m;
    }
    if (len)
        out[o < len ? o : len - 1] = '\0';
}

static int postgres_validate(void *inst, char *err, size_t errlen)
{
    postgres_inst *s = inst;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(s->dsn, &perr);
    if (!opts) {
        char msg[200];
        pg_clean_message(perr ? perr : "out of memory", msg, sizeof(msg));
        snprintf(err, errlen, "dsn is not a valid conninfo or URI: %s", msg);
        PQfreemem(perr);
        return -1;
    }
    int has_password = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            has_password = 1;
    PQconninfoFree(opts);
    /* The dsn is shown (target label, errors) and kept in plain config: a password there
     * would leak, so it must come through password / password_file. */
    if (has_password) {
        snprintf(err, errlen, "dsn must not contain a password: use password or password_file");
        return -1;
    }
    if (!*s->query) {
        snprintf(err, errlen, "query must not be empty");
        return -1;
    }
    return 0;
}

/* host:port from the dsn's first host; libpq's defaults when it names none. */
static void postgres_target(const void *inst, char *buf, size_t len)
{
    const postgres_inst *s = inst;
    const char *host = NULL, *hostaddr = NULL, *port = NULL;
    PQconninfoOption *opts = s->dsn ? PQconninfoParse(s->dsn, NULL) : NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
    }
    if (!host)
        host = hostaddr ? hostaddr : "localhost";
    if (!port)
        port = "5432";
    /* A list of hosts ("a,b"): the first one names the target well enough. */
    int hlen = (int)strcspn(host, ",");
    int plen = (int)strcspn(port, ",");
    if (strchr(host, ':') && host[0] != '/') /* IPv6 literal */
        snprintf(buf, len, "[%.*s]:%.*s", hlen, host, plen, port);
    else
        snprintf(buf, len, "%.*s:%.*s", hlen, host, plen, port);
    PQconninfoFree(opts);
}

static void pg_drop(postgres_inst *s)
{
    if (s->conn) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
}


/* libpq resolves host names with a blocking getaddrinfo inside PQconnectPoll, which no poll()
 * deadline can cut short: a DNS server that never answers would hold the probe for the
 * resolver's own timeouts (10 s and more). So the dsn's host is resolved here within the
 * deadline and handed to libpq as hostaddr; libpq then does no lookup and still uses host for
 * SSL (SNI, certificate name), the password file and authentication. Fills hostaddr, or leaves
 * it empty where libpq needs no lookup or must keep doing its own: a unix socket directory,
 * a numeric host, a hostaddr given by the dsn or PGHOSTADDR, no host in the dsn (libpq's
 * default socket, or PGHOST, which stays libpq's business), and multi-host dsns ("a,b"), whose
 * hosts libpq tries in turn with failover semantics we would otherwise have to copy; those
 * keep the blocking lookup. */
static int pg_resolve(const postgres_inst *s, xp_probe *p, char *hostaddr, size_t len)
{
    hostaddr[0] = '\0';
    PQconninfoOption *opts = PQconninfoParse(s->dsn, NULL);
    if (!opts) /* validate() parsed this dsn already: only memory can fail now */
        return xp_probe_fail(p, XP_REASON_CONNECT, "connecting: out of memory");
    const char *host = NULL, *addr = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            addr = o->val;
    }
    int rc = PG_OK;
    const char *env_addr = getenv("PGHOSTADDR");
    if (host && !addr && !(env_addr && *env_addr) && host[0] != '/' && host[0] != '@' &&
        !strchr(host, ',') && !xp_resolve_is_numeric(host)) {
        char err[XP_ERR_MAX];
        if (xp_resolve(host, NULL, p->deadline, p->cancel, hostaddr, len, err, sizeof(err)) != 0)
            rc = xp_probe_fail(p, xp_reason_resolve(xp_clock_mono(), p->deadline), "%s", err);
    }
    PQconninfoFree(opts);
    return rc;
}

static int pg_connect(postgres_inst *s, xp_probe *p, double start, xp_sock_guard *g)
{
    char hostaddr[XP_RESOLVE_ADDR_MAX];
    if (pg_resolve(s, p, hostaddr, sizeof(hostaddr)) != PG_OK)
        return PG_FAIL;
    /* The password travels as its own keyword, so no conninfo string ever holds it. Keywords
     * after dbname override what the expanded dsn says; an empty value is no setting. */
    const char *const kw[] = {"dbname", "password", "fallback_application_name", "hostaddr", NULL};
    const char *const val[] = {s->dsn, s->password, "resilience_exporter", hostaddr, NULL};
    PGconn *c = PQconnectStartParams(kw, val, 1);
    if (!c)
        return xp_probe_fail(p, XP_REASON_CONNECT, "connecting: out of memory");
    s->conn = c;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    if (PQstatus(c) == CONNECTION_BAD)
        st = PGRES_POLLING_FAILED;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            const char *msg = PQerrorMessage(c);
            xp_reason why = xp_reason_pg_message(msg);
            if (strstr(msg, "Connection refused"))
                return xp_probe_fail(p, why, "connection refused");
            char clean[XP_ERR_MAX];
            pg_clean_message(msg, clean, sizeof(clean));
            return xp_probe_fail(p, why, "%s", clean[0] ? clean : "connection failed");
        }
        xp_sock_guard_watch(g, PQsocket(c)); /* the next PQconnectPoll may read */
        xp_wait_result w = xp_sock_wait(PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                                        p->deadline, p->cancel);
        if (w != XP_WAIT_READY)
            return xp_sock_wait_fail(p, w, "connecting", start);
        st = PQconnectPoll(c);
    }
    /* Without this PQsendQuery/PQflush could block on a full socket buffer. */
    if (PQsetnonblocking(c, 1) != 0)
        return xp_probe_fail(p, XP_REASON_CONNECT,
                             "setting the connection non-blocking failed");
    return PG_OK;
}

/* What a row costs on the wire, near enough: the DataRow header and each value with its
 * length word. */
static size_t pg_row_size(const PGresult *r)
{
    size_t n = 7;
    for (int i = 0; i < PQnfields(r); i++)
        n += 4 + (size_t)PQgetlength(r, 0, i);
    return n;
}

static int pg_is_error(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE;
}

/* Keeps the result the probe judges: the first error if one comes (a query can fail after
 * some rows), else the first result, which in single-row mode holds the first row. */
static void pg_keep(PGresult **res, PGresult *r)
{
    if (!*res || (pg_is_error(r) && !pg_is_error(*res))) {
        PQclear(*res);
        *res = r;
    } else {
        PQclear(r);
    }
}

/* Why a query failed, from the error result when there is one (its SQLSTATE), else from
 * libpq's message about the connection. */
static xp_reason pg_result_reason(const PGresult *r, const char *conn_msg)
{
    if (r && PQresultStatus(r) == PGRES_BAD_RESPONSE)
        return XP_REASON_PROTOCOL;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state)
        return xp_reason_pg_sqlstate(state);
    return xp_reason_pg_message(r ? PQresultErrorMessage(r) : conn_msg);
}

/* Sends sql and waits for its result, which *res receives (the caller PQclear()s it): in
 * single-row mode, so that is the first row (or the error, or the empty result); the rows
 * after it are read and dropped one at a time, so the connection stays usable, until the
 * answer passes PG_REPLY_MAX, which fails the probe (the caller then drops the connection). */
static int pg_exec(postgres_inst *s, xp_probe *p, double start, xp_sock_guard *g, const char *sql,
                   const char *what, PGresult **res)
{
    PGconn *c = s->conn;
    char doing[64];
    size_t reply = 0, rows = 0;
    long long base = xp_sock_bytes_received(PQsocket(c));
    *res = NULL;
    /* PQflush and PQconsumeInput read; libpq keeps its socket for the whole query. */
    xp_sock_guard_watch(g, PQsocket(c));
    if (!PQsendQuery(c, sql))
        goto conn_error;
    if (!PQsetSingleRowMode(c))
        goto conn_error;
    snprintf(doing, sizeof(doing), "sending the %s", what);
    for (;;) {
        int f = PQflush(c);
        if (f == 0)
            break;
        if (f < 0)
            goto conn_error;
        xp_wait_result w = xp_sock_wait(PQsocket(c), POLLOUT | POLLIN, p->deadline, p->cancel);
        if (w != XP_WAIT_READY)
            return xp_sock_wait_fail(p, w, doing, start);
        /* The server may answer (an error) before taking all of it. */
        if (!PQconsumeInput(c))
            goto conn_error;
    }
    snprintf(doing, sizeof(doing), "waiting for the %s", what);
    for (;;) {
        while (!PQisBusy(c)) {
            PGresult *r = PQgetResult(c);
            if (!r)
                goto done;
            ExecStatusType st = PQresultStatus(r);
            /* A COPY answer keeps PQgetResult returning results forever (and PQisBusy false):
             * no probe query asks for one, so it ends the probe before it can spin. */
            if (st == PGRES_COPY_OUT || st == PGRES_COPY_IN || st == PGRES_COPY_BOTH) {
                PQclear(r);
                goto copy;
            }
            if (st == PGRES_SINGLE_TUPLE &&
                ((reply += pg_row_size(r)) > PG_REPLY_MAX || ++rows > PG_ROWS_MAX)) {
                PQclear(r);
                goto oversized;
            }
            pg_keep(res, r);
        }
        long long now = base < 0 ? -1 : xp_sock_bytes_received(PQsocket(c));
        if (now >= 0 && now - base > PG_REPLY_MAX)
            goto oversized;
        xp_wait_result w = xp_sock_wait(PQsocket(c), POLLIN, p->deadline, p->cancel);
        if (w != XP_WAIT_READY) {
            PQclear(*res);
            *res = NULL;
            return xp_sock_wait_fail(p, w, doing, start);
        }
        if (!PQconsumeInput(c))
            goto conn_error;
    }
done:
    if (!*res)
        return xp_probe_fail(p, XP_REASON_PROTOCOL, "%s returned no result", what);
    if (PQstatus(c) == CONNECTION_BAD && PQresultStatus(*res) == PGRES_FATAL_ERROR)
        goto conn_error;
    return PG_OK;

oversized:
    PQclear(*res);
    *res = NULL;
    if (rows > PG_ROWS_MAX)
        return xp_probe_fail(p, XP_REASON_PROTOCOL,
                             "oversized reply: answer to the %s has more than %d rows", what,
                             PG_ROWS_MAX);
    return xp_probe_fail(p, XP_REASON_PROTOCOL,
                         "oversized reply: answer to the %s larger than %d bytes", what,
                         PG_REPLY_MAX);
copy:
    PQclear(*res);
    *res = NULL;
    return xp_probe_fail(p, XP_REASON_PROTOCOL, "%s answered with COPY data", what);

conn_error : {
    char clean[XP_ERR_MAX - 64];
    pg_clean_message(*res ? PQresultErrorMessage(*res) : PQerrorMessage(c), clean, sizeof(clean));
    xp_probe_fail(p, pg_result_reason(*res, PQerrorMessage(c)), "%s failed: %s", what,
                  clean[0] ? clean : "connection lost");
    PQclear(*res);
    *res = NULL;
    /* A connection the server closed while we kept it idle (restart, idle timeout) is worth
     * one more try; a fresh one that breaks is a real failure. */
    return PQstatus(c) == CONNECTION_BAD ? PG_LOST : PG_FAIL;
}
}

static double pg_number(const PGresult *r, int col)
{
    if (PQgetisnull(r, 0, col))
        return NAN;
    const char *v = PQgetvalue(r, 0, col);
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    return (errno || end == v || *end) ? NAN : d;
}

static int pg_run(postgres_inst *s, xp_probe *p, double start, xp_sock_guard *g)
{
    PGresult *r = NULL;
    int rc = pg_exec(s, p, start, g, s->query, "query", &r);
    if (rc != PG_OK)
        return rc;
    ExecStatusType st = PQresultStatus(r);
    if (pg_is_error(r)) {
        const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        char clean[XP_ERR_MAX - 32];
        pg_clean_message(primary ? primary : PQresultErrorMessage(r), clean, sizeof(clean));
        rc = xp_probe_fail(p, pg_result_reason(r, NULL), "query failed: %s", clean);
    } else if ((st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK) || PQntuples(r) < 1) {
        rc = xp_probe_fail(p, XP_REASON_CHECK, "query returned no rows (%s)", PQresStatus(st));
    }
    PQclear(r);
    if (rc != PG_OK)
        return rc;

    rc = pg_exec(s, p, start, g, PG_DETAIL_QUERY, "detail query", &r);
    if (rc != PG_OK)
        return rc == PG_LOST ? PG_FAIL : rc;
    /* A detail query the server refuses costs only the details; the probe's own query has
     * already answered. */
    if (PQresultStatus(r) == PGRES_SINGLE_TUPLE && PQntuples(r) == 1 && PQnfields(r) == 3) {
        p->detail[D_CONNECTIONS] = pg_number(r, 0);
        p->detail[D_MAX_CONNECTIONS] = pg_number(r, 1);
        if (!PQgetisnull(r, 0, 2))
            p->detail[D_IN_RECOVERY] = strcmp(PQgetvalue(r, 0, 2), "t") == 0 ? 1 : 0;
    }
    PQclear(r);
    return PG_OK;
}

/* Drops the connection, the watchdog first: once libpq has closed the socket, nothing may
 * act on it. */
static void pg_close(postgres_inst *s, xp_sock_guard *g)
{
    xp_sock_guard_disarm(g);
    pg_drop(s);
}

static int postgres_probe(void *inst, xp_probe *p)
{
    postgres_inst *s = inst;
    double start = xp_clock_mono();
    xp_sock_guard g;
    /* The watchdog steps in only where libpq does not return: the probe's own waits end at
     * the deadline, and its own checks cap the answers libpq hands over. */
    xp_sock_guard_init(&g, p->deadline + PG_GUARD_GRACE, PG_REPLY_MAX);
    int rc;

    if (s->conn && PQstatus(s->conn) == CONNECTION_OK) {
        rc = pg_run(s, p, start, &g);
        if (rc == PG_OK)
            goto out;
        pg_close(s, &g);
        /* The server closed a connection we kept (restart, idle timeout): that says nothing
         * about its health now, so try once more on a fresh one. */
        if (rc != PG_LOST)
            goto out;
    }
    pg_close(s, &g);
    rc = pg_connect(s, p, start, &g);
    if (rc == PG_OK)
        rc = pg_run(s, p, start, &g);
    if (rc != PG_OK)
        pg_close(s, &g);
out:;
    int fired = xp_sock_guard_disarm(&g);
    if (rc == PG_OK) {
        p->err[0] = '\0';
        return 0;
    }
    /* Cut off inside libpq: whatever it said (the server closed the connection) is the
     * consequence; this is the cause. */
    if (fired == XP_GUARD_SIZE)
        xp_probe_fail(p, XP_REASON_PROTOCOL, "oversized reply: more than %d bytes received",
                      PG_REPLY_MAX);
    else if (fired == XP_GUARD_DEADLINE)
        xp_probe_fail(p, XP_REASON_TIMEOUT, "timed out after %.1fs inside libpq",
                      xp_clock_mono() - start);
    return -1;
}

static void postgres_destroy(void *inst)
{
    postgres_inst *s = inst;
    if (!s)
        return;
    pg_drop(s);
    xp_keys_free(postgres_keys, s);
    free(s);
}

const xp_collector xp_collector_postgres = {
    .name = "postgres",
    .details = postgres_details,
    .n_details = D_COUNT,
    .keys = postgres_keys,
    .create = postgres_create,
    .validate = postgres_validate,
    .target = postgres_target,
    .probe = postgres_probe,
    .destroy = postgres_destroy,
};
