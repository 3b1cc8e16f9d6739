/* The redis collector: AUTH/SELECT as configured, PING must answer PONG, INFO for details.
 *
 * hiredis 0.14.1 has only blocking connects with one timeout, and a stopped server accepts
 * into the kernel's backlog and then never answers. So the connect gets the time left to the
 * deadline, and every command is written and read by this file, waiting on the socket until
 * the deadline (sockwait.c) and feeding hiredis's reader by hand. That also lets us cap how
 * much a reply may make us buffer. The connection is kept between probes and dropped after
 * any error. hiredis writes with plain write(): a server that closed the socket
 * would raise SIGPIPE, which the core ignores process-wide (main.c). */
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "base/clock.h"
#include "collector.h"
#include "config/keys.h"
#include "engine/resolve.h"
#include "reasons.h"
#include "redis_info.h"
#include "sockwait.h"

/* INFO is about 5 KB; anything near this is not a redis answering our commands. */
#define REDIS_REPLY_MAX (1024 * 1024)

enum { D_USED_MEMORY, D_MAXMEMORY, D_CLIENTS, D_HITS, D_MISSES, D_EVICTED, D_COUNT };

static const xp_detail_def redis_details[D_COUNT] = {
    [D_USED_MEMORY] = {"dependency_redis_used_memory_bytes",
                       "Memory allocated by Redis (INFO used_memory), from background probes.",
                       XP_METRIC_GAUGE},
    [D_MAXMEMORY] =
        {"dependency_redis_maxmemory_bytes",
         "Redis maxmemory limit, 0 when unlimited (INFO maxmemory), from background probes.",
         XP_METRIC_GAUGE},
    [D_CLIENTS] =
        {"dependency_redis_connected_clients",
         "Client connections open on Redis (INFO connected_clients), from background probes.",
         XP_METRIC_GAUGE},
    [D_HITS] =
        {"dependency_redis_keyspace_hits_total",
         "Successful key lookups since Redis started (INFO keyspace_hits), from background probes.",
         XP_METRIC_COUNTER},
    [D_MISSES] =
        {"dependency_redis_keyspace_misses_total",
         "Failed key lookups since Redis started (INFO keyspace_misses), from background probes.",
         XP_METRIC_COUNTER},
    [D_EVICTED] =
        {"dependency_redis_evicted_keys_total",
         "Keys evicted for the maxmemory limit since Redis started (INFO evicted_keys), from "
         "background probes.",
         XP_METRIC_COUNTER},
};

typedef struct redis_inst {
    char *address;
    char *password;
    char *username;
    unsigned db;

    /* From address, by validate(): either unix_path or host and port. */
    char *unix_path;
    char *host;
    int port;
    redisContext *ctx; /* kept between probes; NULL when there is none */
} redis_inst;

static const xp_key redis_keys[] = {
    XP_KEY(redis_inst, address, XP_K_STRING, .flags = XP_KEY_REQUIRED | XP_KEY_EMBEDS_SECRET),
    XP_KEY(redis_inst, password, XP_K_STRING, .flags = XP_KEY_SECRET),
    XP_KEY(redis_inst, username, XP_K_STRING),
    XP_KEY(redis_inst, db, XP_K_COUNT),
    XP_KEY_END,
};

/* How a command ended, so the probe can tell a stale kept connection from a real failure. */
enum { CMD_OK = 0, CMD_FAIL = -1, CMD_CLOSED = -2 };

static void *redis_create(void)
{
    return calloc(1, sizeof(redis_inst));
}

/* "host:port", "[v6]:port", "host" (port 6379) or "unix:/path". */
static int redis_parse_address(redis_inst *s, char *err, size_t errlen)
{
    const char *a = s->address;
    free(s->unix_path);
    free(s->host);
    s->unix_path = s->host = NULL;

    if (strncmp(a, "unix:", 5) == 0) {
        if (a[5] != '/') {
            snprintf(err, errlen, "address \"%s\": unix socket path must be absolute", a);
            return -1;
        }
        if (!(s->unix_path = strdup(a + 5)))
            goto oom;
        return 0;
    }

    const char *host = a, *port = NULL;
    size_t hlen;
    if (a[0] == '[') {
        const char *close = strchr(a, ']');
        if (!close || (close[1] && close[1] != ':')) {
            snprintf(err, errlen, "address \"%s\": expected [ipv6]:port", a);
            return -1;
        }
        host = a + 1;
        hlen = (size_t)(close - host);
        port = close[1] ? close + 2 : NULL;
    } else {
        const char *colon = strrchr(a, ':');
        if (colon && strchr(a, ':') != colon) {
            snprintf(err, errlen, "address \"%s\": write an IPv6 address as [addr]:port", a);
            return -1;
        }
        hlen = colon ? (size_t)(colon - a) : strlen(a);
        port = colon ? colon + 1 : NULL;
    }
    if (hlen == 0) {
        snprintf(err, errlen, "address \"%s\": missing host", a);
        return -1;
    }
    s->port = 6379;
    if (port) {
        char *end;
        errno = 0;
        long v = strtol(port, &end, 10);
        if (errno || end == port || *end || v < 1 || v > 65535) {
            snprintf(err, errlen, "address \"%s\": port must be 1-65535", a);
            return -1;
        }
        s->port = (int)v;
    }
    if (!(s->host = strndup(host, hlen)))
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "address: out of memory");
    return -1;
}

static int redis_validate(void *inst, char *err, size_t errlen)
{
    redis_inst *s = inst;
    if (!*s->address) {
        snprintf(err, errlen, "address must not be empty");
        return -1;
    }
    if (s->username && *s->username && !(s->password && *s->password)) {
        snprintf(err, errlen, "redis username needs a password (AUTH username password)");
        return -1;
    }
    return redis_parse_address(s, err, errlen);
}

static void redis_target(const void *inst, char *buf, size_t len)
{
    const redis_inst *s = inst;
    snprintf(buf, len, "%s", s->address ? s->address : "localhost:6379");
}

static void redis_drop(redis_inst *s)
{
    if (s->ctx) {
        redisFree(s->ctx);
        s->ctx = NULL;
    }
}


static struct timeval redis_tv(double seconds)
{
    struct timeval tv;
    if (seconds < 0.001)
        seconds = 0.001; /* a zero timeval means "no timeout" to the kernel */
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    return tv;
}

static double redis_left(const xp_probe *p)
{
    return p->deadline - xp_clock_mono();
}

/* A context error as the probe's failure: "WHAT: errstr", reason from hiredis's error kind. */
static int redis_ctx_fail(const redisContext *c, xp_probe *p, const char *what)
{
    return xp_probe_fail(p, xp_reason_redis_error(c->err, c->errstr), "%s: %s", what, c->errstr);
}

/* Arms the socket's timeouts with the time left: a safety net under the polls below, so no
 * single read or write may outlive the probe. Once per exchange, not per command (each
 * call is two setsockopt calls). */
static int redis_arm(redis_inst *s, xp_probe *p, double start, const char *what)
{
    double left = redis_left(p);
    if (left <= 0)
        return xp_probe_fail(p, XP_REASON_TIMEOUT, "timed out after %.1fs before %s",
                             xp_clock_mono() - start, what);
    if (redisSetTimeout(s->ctx, redis_tv(left)) != REDIS_OK)
        return redis_ctx_fail(s->ctx, p, "setting the socket timeout failed");
    return CMD_OK;
}

/* Writes the commands appended to the context. The socket is polled only when a write could
 * not take everything: a kept connection's send buffer is empty between probes, so the
 * first write of a few dozen bytes never waits. */
static int redis_flush(redis_inst *s, xp_probe *p, double start, const char *what)
{
    redisContext *c = s->ctx;
    char doing[64];
    int done = 0;
    if (redisBufferWrite(c, &done) != REDIS_OK) {
        snprintf(doing, sizeof(doing), "sending %s", what);
        return redis_ctx_fail(c, p, doing);
    }
    snprintf(doing, sizeof(doing), "waiting for %s", what);
    while (!done) {
        xp_wait_result w = xp_sock_wait(c->fd, POLLOUT, p->deadline, p->cancel);
        if (w != XP_WAIT_READY)
            return xp_sock_wait_fail(p, w, doing, start);
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            snprintf(doing, sizeof(doing), "sending %s", what);
            return redis_ctx_fail(c, p, doing);
        }
    }
    return CMD_OK;
}

/* Reads the next reply (to the command `what`) into *out. On CMD_FAIL/CMD_CLOSED p->err and
 * p->reason say why and the connection must be dropped. */
static int redis_reply(redis_inst *s, xp_probe *p, double start, const char *what,
                       redisReply **out)
{
    redisContext *c = s->ctx;
    char doing[64];
    *out = NULL;
    snprintf(doing, sizeof(doing), "waiting for %s", what);
    size_t total = 0;
    void *reply = NULL;
    for (;;) {
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
            snprintf(doing, sizeof(doing), "reading the reply to %s", what);
            return redis_ctx_fail(c, p, doing);
        }
        if (reply)
            break;
        xp_wait_result w = xp_sock_wait(c->fd, POLLIN, p->deadline, p->cancel);
        if (w != XP_WAIT_READY)
            return xp_sock_wait_fail(p, w, doing, start);
        size_t before = c->reader->len;
        if (redisBufferRead(c) != REDIS_OK) {
            int closed = c->err == REDIS_ERR_EOF && total == 0;
            xp_probe_fail(p, xp_reason_redis_error(c->err, c->errstr),
                          "reading the reply to %s: %s", what,
                          c->err == REDIS_ERR_EOF ? "server closed the connection" : c->errstr);
            return closed ? CMD_CLOSED : CMD_FAIL;
        }
        total += c->reader->len - before;
        if (total > REDIS_REPLY_MAX)
            return xp_probe_fail(p, XP_REASON_PROTOCOL, "reply to %s larger than %d bytes", what,
                                 REDIS_REPLY_MAX);
    }
    *out = reply;
    return CMD_OK;
}

/* Sends one command and reads its reply into *out (as redis_reply). `what` names the command
 * in errors: never an argv that holds a secret. */
static int redis_cmd(redis_inst *s, xp_probe *p, double start, const char *what, int argc,
                     const char **argv, redisReply **out)
{
    *out = NULL;
    int rc = redis_arm(s, p, start, what);
    if (rc != CMD_OK)
        return rc;
    if (redisAppendCommandArgv(s->ctx, argc, argv, NULL) != REDIS_OK)
        return redis_ctx_fail(s->ctx, p, what);
    rc = redis_flush(s, p, start, what);
    return rc != CMD_OK ? rc : redis_reply(s, p, start, what, out);
}

/* An error reply as the reason of the probe; authentication errors say so up front. */
static int redis_reply_error(const redisReply *r, const char *what, xp_probe *p)
{
    const char *msg = r->str ? r->str : "";
    int is_auth = strcmp(what, "AUTH") == 0;
    xp_reason why = xp_reason_redis_reply(msg, is_auth);
    if (why == XP_REASON_AUTH)
        xp_probe_fail(p, why, "authentication failed (%.200s)", msg);
    else
        xp_probe_fail(p, why, "%s failed: %.200s", what, msg);
    return CMD_FAIL;
}

/* hiredis 0.14 callocs an array's element table as soon as it reads "*N", and frees a reply
 * by walking all N slots: a hostile "*2147483647" costs 16 GB of address space and seconds
 * of page faults in freeReplyObject, past any deadline. No reply we ask for has more than a
 * few elements, so larger arrays are refused (NULL reads as out of memory to hiredis). */
#define REDIS_ARRAY_MAX 1024
static void *(*redis_default_array)(const redisReadTask *, int);
static redisReplyObjectFunctions redis_capped_fn;
static pthread_once_t redis_fn_once = PTHREAD_ONCE_INIT;

static void *redis_capped_array(const redisReadTask *task, int elements)
{
    if (elements > REDIS_ARRAY_MAX)
        return NULL;
    return redis_default_array(task, elements);
}

static void redis_fn_init(void)
{
    redisReader *r = redisReaderCreate(); /* only to copy hiredis's default functions */
    if (!r)
        return;
    redis_capped_fn = *r->fn;
    redisReaderFree(r);
    redis_default_array = redis_capped_fn.createArray;
    redis_capped_fn.createArray = redis_capped_array;
}

static int redis_connect(redis_inst *s, xp_probe *p, double start)
{
    double left = redis_left(p);
    if (left <= 0)
        return xp_probe_fail(p, XP_REASON_TIMEOUT, "timed out after %.1fs before connecting",
                             xp_clock_mono() - start);
    /* hiredis resolves with a blocking getaddrinfo that its timeout does not cover, so a
     * hanging DNS server would hold the probe for the resolver's own timeouts: resolve within
     * the deadline here and let hiredis connect to the numeric address. */
    char ip[XP_RESOLVE_ADDR_MAX];
    if (!s->unix_path) {
        char err[XP_ERR_MAX];
        if (xp_resolve(s->host, NULL, p->deadline, p->cancel, ip, sizeof(ip), err, sizeof(err)) !=
            0)
            return xp_probe_fail(p, xp_reason_resolve(xp_clock_mono(), p->deadline), "%s", err);
        left = redis_left(p);
        if (left <= 0)
            return xp_probe_fail(p, XP_REASON_TIMEOUT, "timed out after %.1fs before connecting",
                                 xp_clock_mono() - start);
    }
    struct timeval tv = redis_tv(left);
    redisContext *c = s->unix_path ? redisConnectUnixWithTimeout(s->unix_path, tv)
                                   : redisConnectWithTimeout(ip, s->port, tv);
    if (!c)
        return xp_probe_fail(p, XP_REASON_CONNECT, "connecting: out of memory");
    if (c->err) {
        xp_reason why = xp_reason_redis_error(c->err, c->errstr);
        if (strstr(c->errstr, "refused"))
            xp_probe_fail(p, why, "connection refused");
        else if (why == XP_REASON_TIMEOUT)
            xp_probe_fail(p, why, "timed out after %.1fs connecting", xp_clock_mono() - start);
        else
            xp_probe_fail(p, why, "connecting: %s", c->errstr);
        redisFree(c);
        return -1;
    }
    s->ctx = c;
    pthread_once(&redis_fn_once, redis_fn_init);
    if (redis_default_array)
        c->reader->fn = &redis_capped_fn;
    /* Set at once: until the first command sets its own, a stopped server would hang us. */
    if (redisSetTimeout(c, redis_tv(redis_left(p))) != REDIS_OK)
        return redis_ctx_fail(c, p, "setting the socket timeout failed");

    redisReply *r = NULL;
    int rc;
    if (s->password && *s->password) {
        const char *argv[3] = {"AUTH"};
        int argc = 1;
        if (s->username && *s->username)
            argv[argc++] = s->username;
        argv[argc++] = s->password;
        rc = redis_cmd(s, p, start, "AUTH", argc, argv, &r);
        if (rc == CMD_OK && r->type == REDIS_REPLY_ERROR)
            rc = redis_reply_error(r, "AUTH", p);
        freeReplyObject(r);
        if (rc != CMD_OK)
            return -1;
    }
    if (s->db) {
        char db[16];
        snprintf(db, sizeof(db), "%u", s->db);
        const char *argv[2] = {"SELECT", db};
        rc = redis_cmd(s, p, start, "SELECT", 2, argv, &r);
        if (rc == CMD_OK && r->type == REDIS_REPLY_ERROR)
            rc = redis_reply_error(r, "SELECT", p);
        freeReplyObject(r);
        if (rc != CMD_OK)
            return -1;
    }
    return 0;
}

/* PING and INFO go out together in one write and their replies come back in one read: a
 * probe is one round trip (and one sleep of its worker) instead of two. */
static int redis_ping_info(redis_inst *s, xp_probe *p, double start)
{
    redisReply *r = NULL;
    static const char *const ping[1] = {"PING"}, *const info[1] = {"INFO"};
    int rc = redis_arm(s, p, start, "PING");
    if (rc != CMD_OK)
        return rc;
    if (redisAppendCommandArgv(s->ctx, 1, (const char **)ping, NULL) != REDIS_OK ||
        redisAppendCommandArgv(s->ctx, 1, (const char **)info, NULL) != REDIS_OK)
        return redis_ctx_fail(s->ctx, p, "PING");
    rc = redis_flush(s, p, start, "PING");
    if (rc == CMD_OK)
        rc = redis_reply(s, p, start, "PING", &r);
    if (rc != CMD_OK)
        return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = redis_reply_error(r, "PING", p);
    } else if (r->type != REDIS_REPLY_STATUS || !r->str || strcmp(r->str, "PONG") != 0) {
        rc = xp_probe_fail(p, XP_REASON_PROTOCOL, "unexpected reply to PING (type %d: %.40s)",
                           r->type, r->str ? r->str : "");
    }
    freeReplyObject(r);
    if (rc != CMD_OK)
        return rc; /* INFO's reply is still on the way: the caller drops the connection */

    rc = redis_reply(s, p, start, "INFO", &r);
    if (rc != CMD_OK)
        return rc;
    /* An error reply (INFO renamed, or denied to this ACL user) costs only the details:
     * the server answered PING, which is what the probe is about. */
    if (r->type == REDIS_REPLY_STRING) {
        xp_redis_info in;
        xp_redis_info_parse(r->str, r->len, &in);
        p->detail[D_USED_MEMORY] = in.used_memory;
        p->detail[D_MAXMEMORY] = in.maxmemory;
        p->detail[D_CLIENTS] = in.connected_clients;
        p->detail[D_HITS] = in.keyspace_hits;
        p->detail[D_MISSES] = in.keyspace_misses;
        p->detail[D_EVICTED] = in.evicted_keys;
    }
    freeReplyObject(r);
    return CMD_OK;
}

static int redis_probe(void *inst, xp_probe *p)
{
    redis_inst *s = inst;
    double start = xp_clock_mono();
    int rc;

    if (s->ctx) {
        rc = redis_ping_info(s, p, start);
        if (rc == CMD_OK)
            return 0;
        redis_drop(s);
        /* The server closed a connection we kept (restart, idle timeout): that says nothing
         * about its health now, so try once more on a fresh one. */
        if (rc != CMD_CLOSED)
            goto fail;
    }
    if (redis_connect(s, p, start) != 0 || redis_ping_info(s, p, start) != CMD_OK) {
        redis_drop(s);
        goto fail;
    }
    p->err[0] = '\0';
    return 0;
fail:
    return -1;
}

static void redis_destroy(void *inst)
{
    redis_inst *s = inst;
    if (!s)
        return;
    redis_drop(s);
    free(s->unix_path);
    free(s->host);
    xp_keys_free(redis_keys, s);
    free(s);
}

const xp_collector xp_collector_redis = {
    .name = "redis",
    .details = redis_details,
    .n_details = D_COUNT,
    .keys = redis_keys,
    .create = redis_create,
    .validate = redis_validate,
    .target = redis_target,
    .probe = redis_probe,
    .destroy = redis_destroy,
};
