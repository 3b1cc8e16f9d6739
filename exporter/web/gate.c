#include "web/gate.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "web/auth.h"
#include "web/authpool.h"
#include "web/ratelimit.h"

/* Client addresses the rate limit tracks at once, whatever the number that come: about 8192
 * entries of 48 bytes (web/ratelimit.h says what happens past it). */
#define XP_RATELIMIT_ENTRIES 8192

static xp_gate_ctx pass_ctx = {XP_GATE_PASS, 0, XP_GATE_CTX_STATIC};
static xp_gate_ctx refused_ctx = {XP_GATE_REFUSED, 0, XP_GATE_CTX_STATIC};
static xp_gate_ctx busy_ctx = {XP_GATE_BUSY, 1, XP_GATE_CTX_STATIC};
static xp_gate_ctx limited_ctx = {XP_GATE_LIMITED, 1, XP_GATE_CTX_STATIC}; /* out of memory */

static xp_ratelimit *limiter; /* made before the daemon starts, freed after it stopped */

/* Guarded by mu: which credentials are configured, for the 401's challenges. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int have_users, have_key;

int xp_gate_start(void)
{
    if (!limiter && !(limiter = xp_ratelimit_new(XP_RATELIMIT_ENTRIES)))
        return -1;
    return xp_authpool_start();
}

struct xp_gate_next {
    xp_auth_set *auth;
    xp_rate_limit rate_limit;
    int have_users, have_key;
};

xp_gate_next *xp_gate_prepare(const xp_web_cfg *w)
{
    xp_gate_next *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    if (!(n->auth = xp_auth_prepare(w->users, w->n_users, w->api_key_hash))) {
        free(n);
        return NULL;
    }
    n->rate_limit = w->rate_limit;
    n->have_users = w->n_users > 0;
    n->have_key = w->api_key_hash != NULL;
    return n;
}

void xp_gate_commit(xp_gate_next *n)
{
    xp_auth_commit(n->auth);
    if (limiter)
        xp_ratelimit_configure(limiter, n->rate_limit.burst, n->rate_limit.period);
    pthread_mutex_lock(&mu);
    have_users = n->have_users;
    have_key = n->have_key;
    pthread_mutex_unlock(&mu);
    free(n);
}

void xp_gate_discard(xp_gate_next *n)
{
    if (!n)
        return;
    xp_auth_discard(n->auth);
    free(n);
}

void xp_gate_stop(void)
{
    xp_authpool_stop();
}

void xp_gate_free(void)
{
    xp_ratelimit_free(limiter);
    limiter = NULL;
}

/* The TCP peer's address as bytes (4 for IPv4, an IPv4-mapped IPv6 address included). */
static size_t peer_of(struct MHD_Connection *c, unsigned char out[16])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            memcpy(out, a->s6_addr + 12, 4);
            return 4;
        }
        memcpy(out, a->s6_addr, 16);
        return 16;
    }
    return 0; /* a UNIX socket: one bucket for all */
}

/* What the request presents: the Authorization header (Basic or Bearer), else X-API-Key.
 * When both are sent, the Authorization header is the one judged. */
static void presented(struct MHD_Connection *c, xp_cred *cred)
{
    memset(cred, 0, offsetof(xp_cred, text));
    const char *auth =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && strncasecmp(auth, "Basic ", 6) == 0) {
        char *pass = NULL, *user = MHD_basic_auth_get_username_password(c, &pass);
        if (user && pass && xp_cred_basic(cred, user, pass) != 0)
            cred->kind = 0;
        if (pass) {
            explicit_bzero(pass, strlen(pass));
            MHD_free(pass);
        }
        if (user)
            MHD_free(user);
        return;
    }
    const char *key = NULL;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
        key = auth + 7 + strspn(auth + 7, " ");
    else if (!auth)
        key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    if (key && *key && xp_cred_key(cred, key) != 0)
        cred->kind = 0;
}

xp_gate_verdict xp_gate_enter(struct MHD_Connection *c, int exempt, void **con_cls)
{
    *con_cls = &pass_ctx;
    if (exempt)
        return XP_GATE_PASS;
    unsigned char addr[16];
    size_t alen = peer_of(c, addr);
    unsigned wait = limiter ? xp_ratelimit_take(limiter, addr, alen, xp_clock_mono()) : 0;
    if (wait) {
        xp_gate_ctx *l = malloc(sizeof(*l));
        if (l)
            *l = (xp_gate_ctx){XP_GATE_LIMITED, wait, XP_GATE_CTX_OWNED};
        *con_cls = l ? l : &limited_ctx;
        return XP_GATE_LIMITED;
    }
    if (!xp_auth_enabled())
        return XP_GATE_PASS;
    xp_cred cred;
    presented(c, &cred);
    int rc = cred.kind ? xp_auth_lookup(&cred) : -1;
    xp_authjob *job = rc == 0 ? xp_authpool_submit(c, &cred) : NULL;
    xp_cred_wipe(&cred);
    if (rc != 0) {
        *con_cls = rc > 0 ? &pass_ctx : &refused_ctx;
        return rc > 0 ? XP_GATE_PASS : XP_GATE_REFUSED;
    }
    *con_cls = job ? (void *)job : (void *)&busy_ctx;
    return job ? XP_GATE_PENDING : XP_GATE_BUSY;
}

xp_gate_verdict xp_gate_result(void *con_cls, int *recall, unsigned *retry_after)
{
    xp_gate_ctx *g = con_cls;
    *recall = 0;
    if (g->owned != XP_GATE_CTX_JOB) {
        *retry_after = g->retry_after;
        return (xp_gate_verdict)g->verdict;
    }
    /* A job's fields belong to the bcrypt thread until xp_authjob_verdict reads them under
     * the pool's lock. */
    xp_gate_verdict v = xp_authjob_verdict((xp_authjob *)g, recall);
    *retry_after = v == XP_GATE_BUSY ? 1 : 0;
    return v;
}

void xp_gate_leave(void *con_cls)
{
    xp_gate_ctx *g = con_cls;
    if (g->owned == XP_GATE_CTX_OWNED)
        free(g);
    else if (g->owned == XP_GATE_CTX_JOB)
        xp_authjob_release((xp_authjob *)g);
}

void *xp_gate_refused_ctx(void)
{
    return &refused_ctx;
}

int xp_gate_challenges(const char *out[2])
{
    int n = 0;
    pthread_mutex_lock(&mu);
    if (have_users || !have_key)
        out[n++] = "Basic realm=\"resilience_exporter\"";
    if (have_key)
        out[n++] = "Bearer realm=\"resilience_exporter\"";
    pthread_mutex_unlock(&mu);
    return n;
}
