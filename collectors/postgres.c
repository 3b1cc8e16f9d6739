/* The postgres collector: connect (or reuse the kept connection), run `query`, require a row,
 * then read connection counts and recovery state in one more round trip.
 *
 * libpq's own connect_timeout is raised to 2 s when set lower, and a stopped postmaster
 * accepts the TCP connection and then hangs the start-up exchange. So everything here is
 * asynchronous libpq (PQconnectStartParams/PQconnectPoll, PQsendQuery/PQconsumeInput) driven
 * by poll() against the probe's deadline, in slices short enough to notice cancellation. On
 * any failure the connection is dropped, never reused. */
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

#define PG_SLICE_MS 100
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


/* Waits for fd to be ready for `events`: 1 ready, 0 deadline passed, -2 cancelled, -1 poll
 * failed. */
static int pg_wait(int fd, short events, const xp_probe *p)
{
    if (fd < 0)
        return -1;
    for (;;) {
        if (p->cancel && atomic_load(p->cancel))
            return -2;
        double left = p->deadline - xp_clock_mono();
        if (left <= 0)
            return 0;
        int ms = left * 1000 < PG_SLICE_MS ? (int)ceil(left * 1000) : PG_SLICE_MS;
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, ms);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

static void pg_wait_error(int w, const char *what, double start, xp_probe *p)
{
    if (w == 0)
        snprintf(p->err, sizeof(p->err), "timed out after %.1fs %s", xp_clock_mono() - start, what);
    else if (w == -2)
        snprintf(p->err, sizeof(p->err), "cancelled %s", what);
    else
        snprintf(p->err, sizeof(p->err), "poll failed %s: %s", what, strerror(errno));
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
    if (!opts) { /* validate() parsed this dsn already: only memory can fail now */
        snprintf(p->err, sizeof(p->err), "connecting: out of memory");
        return PG_FAIL;
    }
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
        if (xp_resolve(host, NULL, p->deadline, p->cancel, hostaddr, len, err, sizeof(err)) != 0) {
            snprintf(p->err, sizeof(p->err), "%s", err);
            rc = PG_FAIL;
        }
    }
    PQconninfoFree(opts);
    return rc;
}

static int pg_connect(postgres_inst *s, xp_probe *p, double start)
{
    char hostaddr[XP_RESOLVE_ADDR_MAX];
    if (pg_resolve(s, p, hostaddr, sizeof(hostaddr)) != PG_OK)
        return PG_FAIL;
    /* The password travels as its own keyword, so no conninfo string ever holds it. Keywords
     * after dbname override what the expanded dsn says; an empty value is no setting. */
    const char *const kw[] = {"dbname", "password", "fallback_application_name", "hostaddr", NULL};
    const char *const val[] = {s->dsn, s->password, "resilience_exporter", hostaddr, NULL};
    PGconn *c = PQconnectStartParams(kw, val, 1);
    if (!c) {
        snprintf(p->err, sizeof(p->err), "connecting: out of memory");
        return PG_FAIL;
    }
    s->conn = c;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    if (PQstatus(c) == CONNECTION_BAD)
        st = PGRES_POLLING_FAILED;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            const char *msg = PQerrorMessage(c);
            if (strstr(msg, "Connection refused")) {
                snprintf(p->err, sizeof(p->err), "connection refused");
            } else {
                char clean[XP_ERR_MAX];
                pg_clean_message(msg, clean, sizeof(clean));
                snprintf(p->err, sizeof(p->err), "%s", clean[0] ? clean : "connection failed");
            }
            return PG_FAIL;
        }
        int w = pg_wait(PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, p);
        if (w != 1) {
            pg_wait_error(w, "connecting", start, p);
            return PG_FAIL;
        }
        st = PQconnectPoll(c);
    }
    /* Without this PQsendQuery/PQflush could block on a full socket buffer. */
    if (PQsetnonblocking(c, 1) != 0) {
        snprintf(p->err, sizeof(p->err), "setting the connection non-blocking failed");
        return PG_FAIL;
    }
    return PG_OK;
}

/* Sends sql and waits for its first result, which *res receives (the caller PQclear()s it);
 * later results are drained so the connection stays usable. */
static int pg_exec(postgres_inst *s, xp_probe *p, double start, const char *sql, const char *what,
                   PGresult **res)
{
    PGconn *c = s->conn;
    char doing[64];
    *res = NULL;
    if (!PQsendQuery(c, sql))
        goto conn_error;
    snprintf(doing, sizeof(doing), "sending the %s", what);
    for (;;) {
        int f = PQflush(c);
        if (f == 0)
            break;
        if (f < 0)
            goto conn_error;
        int w = pg_wait(PQsocket(c), POLLOUT | POLLIN, p);
        if (w != 1) {
            pg_wait_error(w, doing, start, p);
            return PG_FAIL;
        }
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
            if (!*res)
                *res = r;
            else
                PQclear(r);
        }
        int w = pg_wait(PQsocket(c), POLLIN, p);
        if (w != 1) {
            pg_wait_error(w, doing, start, p);
            PQclear(*res);
            *res = NULL;
            return PG_FAIL;
        }
        if (!PQconsumeInput(c))
            goto conn_error;
    }
done:
    if (!*res) {
        snprintf(p->err, sizeof(p->err), "%s returned no result", what);
        return PG_FAIL;
    }
    if (PQstatus(c) == CONNECTION_BAD && PQresultStatus(*res) == PGRES_FATAL_ERROR)
        goto conn_error;
    return PG_OK;

conn_error : {
    char clean[XP_ERR_MAX - 64];
    pg_clean_message(*res ? PQresultErrorMessage(*res) : PQerrorMessage(c), clean, sizeof(clean));
    snprintf(p->err, sizeof(p->err), "%s failed: %s", what, clean[0] ? clean : "connection lost");
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

static int pg_run(postgres_inst *s, xp_probe *p, double start)
{
    PGresult *r = NULL;
    int rc = pg_exec(s, p, start, s->query, "query", &r);
    if (rc != PG_OK)
        return rc;
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE) {
        const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        char clean[XP_ERR_MAX - 32];
        pg_clean_message(primary ? primary : PQresultErrorMessage(r), clean, sizeof(clean));
        snprintf(p->err, sizeof(p->err), "query failed: %s", clean);
        rc = PG_FAIL;
    } else if (st != PGRES_TUPLES_OK || PQntuples(r) < 1) {
        snprintf(p->err, sizeof(p->err), "query returned no rows (%s)", PQresStatus(st));
        rc = PG_FAIL;
    }
    PQclear(r);
    if (rc != PG_OK)
        return rc;

    rc = pg_exec(s, p, start, PG_DETAIL_QUERY, "detail query", &r);
    if (rc != PG_OK)
        return rc == PG_LOST ? PG_FAIL : rc;
    /* A detail query the server refuses costs only the details; the probe's own query has
     * already answered. */
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 3) {
        p->detail[D_CONNECTIONS] = pg_number(r, 0);
        p->detail[D_MAX_CONNECTIONS] = pg_number(r, 1);
        if (!PQgetisnull(r, 0, 2))
            p->detail[D_IN_RECOVERY] = strcmp(PQgetvalue(r, 0, 2), "t") == 0 ? 1 : 0;
    }
    PQclear(r);
    return PG_OK;
}

static int postgres_probe(void *inst, xp_probe *p)
{
    postgres_inst *s = inst;
    double start = xp_clock_mono();

    if (s->conn && PQstatus(s->conn) == CONNECTION_OK) {
        int rc = pg_run(s, p, start);
        if (rc == PG_OK)
            return 0;
        pg_drop(s);
        if (rc != PG_LOST)
            goto fail;
    }
    pg_drop(s);
    if (pg_connect(s, p, start) != PG_OK || pg_run(s, p, start) != PG_OK) {
        pg_drop(s);
        goto fail;
    }
    p->err[0] = '\0';
    return 0;
fail:
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
