#include "web/certs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/log.h"
#include "config/tls_check.h"

#define WATCH_SECONDS 1 /* how often the files are compared with what was loaded */
#define N_FILES 3       /* certificate, key, client CA */

/* What identifies a file's content without reading it: replaced (inode), rewritten (mtime,
 * ctime, size) or gone (err). stat follows symlinks, so a Kubernetes secret volume's atomic
 * "..data" switch is a change too. */
typedef struct file_sig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
    int err;
} file_sig;

typedef struct xp_certs_state {
    atomic_int refs;
    xp_tls_pair pair;
    gnutls_x509_trust_list_t trust; /* NULL unless client certificates are checked */
    gnutls_priority_t prio;
    char prio_text[96];
    int client_auth, min_version, max_version;
    int from_web_file;    /* names the keys of the web config file in messages */
    char *files[N_FILES]; /* the client CA: NULL when none is named */
    file_sig sigs[N_FILES];
} state;

static pthread_mutex_t cur_mu = PTHREAD_MUTEX_INITIALIZER;
static state *current; /* guarded by cur_mu: the state new connections take */

/* Guarded by load_mu: whoever builds a state and installs it (reload or watcher), so a
 * watcher working from the old settings never installs after a reload with new ones. */
static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static file_sig failed[N_FILES]; /* the files as they were when loading them last failed */
static int have_failed;

/* Guarded by watch_mu: the watcher thread's stop request. */
static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_cv = PTHREAD_COND_INITIALIZER;
static int watch_stop, watching;
static pthread_t watcher;

static void sig_of(const char *path, file_sig *s)
{
    struct stat st;
    memset(s, 0, sizeof(*s));
    if (!path)
        return;
    if (stat(path, &st) != 0) {
        s->err = errno;
        return;
    }
    *s = (file_sig){st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim, 0};
}

static int sigs_equal(const file_sig *a, const file_sig *b)
{
    for (int i = 0; i < N_FILES; i++)
        if (a[i].dev != b[i].dev || a[i].ino != b[i].ino || a[i].size != b[i].size ||
            a[i].mtim.tv_sec != b[i].mtim.tv_sec || a[i].mtim.tv_nsec != b[i].mtim.tv_nsec ||
            a[i].ctim.tv_sec != b[i].ctim.tv_sec || a[i].ctim.tv_nsec != b[i].ctim.tv_nsec ||
            a[i].err != b[i].err)
            return 0;
    return 1;
}

static void state_free(state *s)
{
    if (!s)
        return;
    xp_tls_pair_free(&s->pair);
    if (s->trust)
        gnutls_x509_trust_list_deinit(s->trust, 1);
    if (s->prio)
        gnutls_priority_deinit(s->prio);
    for (int i = 0; i < N_FILES; i++)
        free(s->files[i]);
    free(s);
}

static void unref(state *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        state_free(s);
}

static state *acquire(void)
{
    pthread_mutex_lock(&cur_mu);
    state *s = current;
    if (s)
        atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&cur_mu);
    return s;
}

static void install(state *s)
{
    pthread_mutex_lock(&cur_mu);
    state *old = current;
    current = s;
    pthread_mutex_unlock(&cur_mu);
    unref(old);
}

/* "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" for TLS12..TLS13. */
static void priorities(int min, int max, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "NORMAL:-VERS-ALL");
    for (int v = max; v >= min && o < len; v--)
        o += (size_t)snprintf(out + o, len - o, ":+VERS-TLS1.%d", v - XP_TLS10);
}

/* A state from the files and settings given (the files read now). NULL with err set. */
static state *state_load(const char *const files[N_FILES], int client_auth, int min, int max,
                         int from_web_file, char *err, size_t errlen)
{
    static const char *const ini_names[2] = {"tls_cert_file", "tls_key_file"};
    static const char *const web_names[2] = {"cert_file", "key_file"};
    state *s = calloc(1, sizeof(*s));
    int bad, e;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->client_auth = client_auth;
    s->min_version = min;
    s->max_version = max;
    s->from_web_file = from_web_file;
    /* The signatures first: a file written while it is read shows as a change next time. */
    for (int i = 0; i < N_FILES; i++) {
        sig_of(files[i], &s->sigs[i]);
        if (files[i] && !(s->files[i] = strdup(files[i]))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (xp_tls_pair_load(files[0], files[1], from_web_file ? web_names : ini_names, &s->pair, &bad,
                         err, errlen) != 0)
        goto fail;
    if (client_auth >= XP_CLIENT_AUTH_VERIFY_IF_GIVEN &&
        xp_tls_ca_load(files[2], "client_ca_file", &s->trust, err, errlen) != 0)
        goto fail;
    priorities(min, max, s->prio_text, sizeof(s->prio_text));
    if ((e = gnutls_priority_init(&s->prio, s->prio_text, NULL)) < 0) {
        snprintf(err, errlen, "TLS versions %s: %s", s->prio_text, gnutls_strerror(e));
        goto fail;
    }
    return s;
fail:
    state_free(s);
    return NULL;
}

static state *state_from_cfg(const xp_web_cfg *w, char *err, size_t errlen)
{
    const char *files[N_FILES] = {w->tls_cert_file, w->tls_key_file, w->tls_client_ca_file};
    return state_load(files, w->tls_client_auth, w->tls_min_version, w->tls_max_version,
                      w->web_config_file != NULL, err, errlen);
}

void xp_certs_check_files(void)
{
    char err[512];
    file_sig now[N_FILES];
    pthread_mutex_lock(&load_mu);
    state *s = acquire();
    if (!s)
        goto out;
    for (int i = 0; i < N_FILES; i++)
        sig_of(s->files[i], &now[i]);
    if (sigs_equal(now, s->sigs) || (have_failed && sigs_equal(now, failed)))
        goto out;
    state *n = state_load((const char *const *)s->files, s->client_auth, s->min_version,
                          s->max_version, s->from_web_file, err, sizeof(err));
    if (!n) {
        /* Logged once per state of the files: a half-written pair is retried when it moves. */
        memcpy(failed, now, sizeof(failed));
        have_failed = 1;
        xp_log(XP_LOG_WARN, NULL,
               "TLS files changed but cannot be loaded; serving the previous "
               "certificate",
               "error", err, NULL);
        goto out;
    }
    have_failed = 0;
    install(n);
    xp_log(XP_LOG_INFO, NULL, "TLS files changed: new connections use them", "cert_file",
           n->files[0], "key_file", n->files[1], "client_ca_file", n->files[2] ? n->files[2] : "",
           NULL);
out:
    unref(s);
    pthread_mutex_unlock(&load_mu);
}

static void *watch_main(void *arg)
{
    pthread_mutex_lock(&watch_mu);
    while (!watch_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += WATCH_SECONDS;
        pthread_cond_timedwait(&watch_cv, &watch_mu, &until);
        if (watch_stop)
            break;
        pthread_mutex_unlock(&watch_mu);
        xp_certs_check_files();
        pthread_mutex_lock(&watch_mu);
    }
    pthread_mutex_unlock(&watch_mu);
    return NULL;
}

int xp_certs_start(const xp_web_cfg *w, const char **prio, char *err, size_t errlen)
{
    pthread_mutex_lock(&load_mu);
    state *s = state_from_cfg(w, err, errlen);
    pthread_mutex_unlock(&load_mu);
    if (!s)
        return -1;
    install(s);
    *prio = s->prio_text;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&watch_cv);
    pthread_cond_init(&watch_cv, &ca);
    pthread_condattr_destroy(&ca);
    watch_stop = 0;
    if (pthread_create(&watcher, NULL, watch_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the TLS file watcher");
        return -1;
    }
    watching = 1;
    return 0;
}

xp_certs_state *xp_certs_prepare(const xp_web_cfg *w, char *err, size_t errlen)
{
    return state_from_cfg(w, err, errlen);
}

void xp_certs_commit(xp_certs_state *s)
{
    /* Under load_mu: a watcher that loaded from the old settings installs before this or
     * starts from this state after it, never over it. */
    pthread_mutex_lock(&load_mu);
    have_failed = 0;
    install(s);
    pthread_mutex_unlock(&load_mu);
}

void xp_certs_discard(xp_certs_state *s)
{
    state_free(s);
}

void xp_certs_stop(void)
{
    if (watching) {
        pthread_mutex_lock(&watch_mu);
        watch_stop = 1;
        pthread_cond_broadcast(&watch_cv);
        pthread_mutex_unlock(&watch_mu);
        pthread_join(watcher, NULL);
        watching = 0;
    }
    install(NULL);
}

/* The state a connection took when it was accepted (its socket context). */
static state *state_of(gnutls_session_t session)
{
    struct MHD_Connection *c = gnutls_session_get_ptr(session); /* libmicrohttpd sets it */
    const union MHD_ConnectionInfo *ci =
        c ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    return ci ? ci->socket_context : NULL;
}

/* GnuTLS runs this once the client's certificate chain is in (client_auth_type
 * VerifyClientCertIfGiven or RequireAndVerifyClientCert): 0 lets the handshake go on. */
static int verify_peer(gnutls_session_t session)
{
    state *s = state_of(session);
    unsigned n = 0, status = 0;
    const gnutls_datum_t *raw = gnutls_certificate_get_peers(session, &n);
    if (!s || !s->trust)
        return -1;
    if (n == 0) /* none sent: fine only when it is optional */
        return s->client_auth == XP_CLIENT_AUTH_REQUIRE_AND_VERIFY ? -1 : 0;
    gnutls_x509_crt_t chain[16];
    unsigned got = 0;
    int rc = -1;
    if (n > 16) /* no CA chain is that long */
        goto out;
    for (; got < n; got++) {
        if (gnutls_x509_crt_init(&chain[got]) < 0)
            goto out;
        if (gnutls_x509_crt_import(chain[got], &raw[got], GNUTLS_X509_FMT_DER) < 0) {
            got++;
            goto out;
        }
    }
    /* A certificate meant for TLS clients (or for any use), signed by a trusted CA. */
    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID, (void *)GNUTLS_KP_TLS_WWW_CLIENT,
                                     0};
    if (gnutls_x509_trust_list_verify_crt2(s->trust, chain, got, &purpose, 1, 0, &status, NULL) ==
            0 &&
        status == 0)
        rc = 0;
out:
    if (rc != 0 && xp_log_enabled(XP_LOG_DEBUG)) {
        gnutls_datum_t why = {NULL, 0};
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
        xp_log(XP_LOG_DEBUG, NULL, "client certificate refused", "reason",
               why.data ? (const char *)why.data : "unreadable certificate", NULL);
        gnutls_free(why.data);
    }
    for (unsigned i = 0; i < got; i++)
        gnutls_x509_crt_deinit(chain[i]);
    return rc;
}

void xp_certs_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        unref(*socket_context);
        *socket_context = NULL;
        return;
    }
    /* Accepted, handshake not begun: this connection's versions and client policy. */
    state *s = acquire();
    *socket_context = s;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t session = ci ? ci->tls_session : NULL;
    if (!s || !session)
        return;
    gnutls_priority_set(session, s->prio);
    static const gnutls_certificate_request_t request[] = {
        [XP_CLIENT_AUTH_NONE] = GNUTLS_CERT_IGNORE,
        [XP_CLIENT_AUTH_REQUEST] = GNUTLS_CERT_REQUEST,
        [XP_CLIENT_AUTH_REQUIRE_ANY] = GNUTLS_CERT_REQUIRE,
        [XP_CLIENT_AUTH_VERIFY_IF_GIVEN] = GNUTLS_CERT_REQUEST,
        [XP_CLIENT_AUTH_REQUIRE_AND_VERIFY] = GNUTLS_CERT_REQUIRE,
    };
    gnutls_certificate_server_set_request(session, request[s->client_auth]);
    if (s->trust)
        gnutls_session_set_verify_function(session, verify_peer);
}

int xp_certs_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                      const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                      gnutls_pcert_st **pcert, unsigned int *pcert_length,
                      gnutls_privkey_t *privkey)
{
    /* The connection's own state holds the pair until the connection closes: GnuTLS keeps
     * these pointers for the session and frees nothing of them. */
    state *s = state_of(session);
    if (!s)
        return -1;
    *pcert = s->pair.certs;
    *pcert_length = s->pair.n_certs;
    *privkey = s->pair.key;
    return 0;
}
