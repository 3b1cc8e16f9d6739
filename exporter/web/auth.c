#include "web/auth.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

/* bcrypt costs ~50-100 ms a check: remember the credentials that passed recently, so a scrape
 * every few seconds does not pay it each time (the exporter-toolkit caches likewise). The
 * cache lives only in memory and is compared in constant time. Enough slots for a few
 * scrapers, users and keys at once. */
#define CACHE_SLOTS 16
#define CACHE_TTL 60.0
/* A check whose credentials were replaced while bcrypt ran starts over with the new ones;
 * after this many replacements in a row it gives up and refuses. */
#define CHECK_ATTEMPTS 3

typedef struct cache_entry {
    int kind;
    size_t len;
    char text[XP_CRED_MAX];
    double at;
} cache_entry;

static const char *real_crypt(const char *password, const char *hash, struct crypt_data *cd)
{
    return crypt_r(password, hash, cd);
}

static const xp_auth_env real_env = {real_crypt, xp_clock_mono};
static const xp_auth_env *env = &real_env;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by mu: the credentials in force, the cache of checks that passed against them, and
 * their generation, which moves whenever the credentials are replaced. A bcrypt runs outside
 * the lock on a copy of the hash; its result is cached only if the generation is still the
 * one the copy came from, so a check that straddles a reload never caches (or answers with)
 * a credential the reload removed. */
static xp_web_user *users;
static size_t n_users;
static char *key_hash;
static unsigned long generation;
static cache_entry cache[CACHE_SLOTS];

void xp_auth_set_env(const xp_auth_env *e)
{
    env = e ? e : &real_env;
}

static int ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int xp_cred_basic(xp_cred *c, const char *user, const char *password)
{
    size_t ul = strlen(user), pl = strlen(password);
    memset(c, 0, offsetof(xp_cred, text));
    if (ul + pl + 2 > sizeof(c->text))
        return -1;
    memcpy(c->text, user, ul);
    c->text[ul] = ':';
    memcpy(c->text + ul + 1, password, pl + 1);
    c->kind = XP_CRED_BASIC;
    c->ulen = ul;
    c->len = ul + 1 + pl;
    return 0;
}

int xp_cred_key(xp_cred *c, const char *key)
{
    size_t kl = strlen(key);
    memset(c, 0, offsetof(xp_cred, text));
    if (kl + 1 > sizeof(c->text))
        return -1;
    memcpy(c->text, key, kl + 1);
    c->kind = XP_CRED_KEY;
    c->len = kl;
    return 0;
}

void xp_cred_wipe(xp_cred *c)
{
    explicit_bzero(c, sizeof(*c));
}

static void users_free(xp_web_user *u, size_t n, char *key)
{
    for (size_t i = 0; u && i < n; i++) {
        free(u[i].name);
        if (u[i].hash)
            explicit_bzero(u[i].hash, strlen(u[i].hash));
        free(u[i].hash);
    }
    free(u);
    if (key)
        explicit_bzero(key, strlen(key));
    free(key);
}

struct xp_auth_set {
    xp_web_user *users;
    size_t n_users;
    char *key_hash;
};

xp_auth_set *xp_auth_prepare(const xp_web_user *u, size_t n, const char *api_key_hash)
{
    xp_auth_set *set = calloc(1, sizeof(*set));
    if (!set)
        return NULL;
    set->users = n ? calloc(n, sizeof(*set->users)) : NULL;
    set->n_users = set->users ? n : 0;
    set->key_hash = api_key_hash ? strdup(api_key_hash) : NULL;
    int bad = (n && !set->users) || (api_key_hash && !set->key_hash);
    for (size_t i = 0; set->users && i < n; i++) {
        xp_web_user *c = &set->users[i];
        bad |= !(c->name = strdup(u[i].name)) | !(c->hash = strdup(u[i].hash));
    }
    if (bad) {
        xp_auth_discard(set);
        return NULL;
    }
    return set;
}

void xp_auth_commit(xp_auth_set *set)
{
    pthread_mutex_lock(&mu);
    xp_web_user *old = users;
    size_t old_n = n_users;
    char *old_key = key_hash;
    users = set->users;
    n_users = set->n_users;
    key_hash = set->key_hash;
    generation++;
    explicit_bzero(cache, sizeof(cache));
    pthread_mutex_unlock(&mu);
    users_free(old, old_n, old_key);
    free(set);
}

void xp_auth_discard(xp_auth_set *set)
{
    if (!set)
        return;
    users_free(set->users, set->n_users, set->key_hash);
    free(set);
}

int xp_auth_configure(const xp_web_user *u, size_t n, const char *api_key_hash)
{
    xp_auth_set *set = xp_auth_prepare(u, n, api_key_hash);
    if (!set) /* auth stays as it was */
        return -1;
    xp_auth_commit(set);
    return 0;
}

int xp_auth_configure_user(const char *user, const char *bcrypt_hash)
{
    xp_web_user u = {(char *)user, (char *)bcrypt_hash};
    return xp_auth_configure(&u, user && bcrypt_hash, NULL);
}

void xp_auth_free(void)
{
    xp_auth_configure(NULL, 0, NULL);
}

int xp_auth_enabled(void)
{
    pthread_mutex_lock(&mu);
    int on = n_users > 0 || key_hash != NULL;
    pthread_mutex_unlock(&mu);
    return on;
}

/* bcrypt of password against hash, compared in constant time. */
static int hash_matches(const char *password, const char *hash)
{
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return 0;
    const char *out = env->crypt(password, hash, cd);
    int ok = out && out[0] != '*' && ct_equal(out, strlen(out), hash, strlen(hash));
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}

/* With mu held: 1 when c passed within CACHE_TTL. Every slot is compared. */
static int cached(const xp_cred *c, double now)
{
    int hit = 0;
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].len && now - cache[i].at < CACHE_TTL)
            hit |= (cache[i].kind == c->kind) & ct_equal(cache[i].text, cache[i].len, c->text, c->len);
    return hit;
}

/* With mu held: -1 when c cannot pass whatever its secret (auth off counts as a pass: 1). */
static int hopeless(const xp_cred *c)
{
    if (!n_users && !key_hash)
        return 1;
    if (c->kind == XP_CRED_BASIC)
        return n_users ? 0 : -1;
    return c->kind == XP_CRED_KEY && key_hash ? 0 : -1;
}

int xp_auth_lookup(const xp_cred *c)
{
    double now = env->now();
    pthread_mutex_lock(&mu);
    int rc = hopeless(c);
    if (rc == 0)
        rc = cached(c, now);
    pthread_mutex_unlock(&mu);
    return rc;
}

/* One attempt under the credentials of one generation: 1 pass, 0 fail, -1 the credentials
 * changed while bcrypt ran (the verdict is void). */
static int verify_once(const xp_cred *c)
{
    double now = env->now();
    pthread_mutex_lock(&mu);
    int early = hopeless(c);
    if (early == 0 && cached(c, now))
        early = 1;
    if (early != 0) {
        pthread_mutex_unlock(&mu);
        return early > 0;
    }
    /* The user's hash; an unknown user is hashed against the first user's, so it costs the
     * same and fails (user_ok stays 0). Every name is compared, in constant time. */
    const char *hash = key_hash;
    int user_ok = 1;
    if (c->kind == XP_CRED_BASIC) {
        size_t at = 0;
        user_ok = 0;
        for (size_t i = 0; i < n_users; i++) {
            int eq = ct_equal(users[i].name, strlen(users[i].name), c->text, c->ulen);
            at = eq && !user_ok ? i : at;
            user_ok |= eq;
        }
        hash = users[at].hash;
    }
    char *copy = strdup(hash);
    unsigned long gen = generation;
    pthread_mutex_unlock(&mu);
    if (!copy)
        return 0;

    const char *secret = c->kind == XP_CRED_BASIC ? c->text + c->ulen + 1 : c->text;
    int ok = hash_matches(secret, copy) && user_ok;
    explicit_bzero(copy, strlen(copy));
    free(copy);

    pthread_mutex_lock(&mu);
    int current = gen == generation;
    if (ok && current) {
        int slot = 0;
        for (int i = 1; i < CACHE_SLOTS; i++)
            if (cache[i].at < cache[slot].at)
                slot = i;
        cache[slot].kind = c->kind;
        memcpy(cache[slot].text, c->text, c->len);
        cache[slot].len = c->len;
        cache[slot].at = now;
    }
    pthread_mutex_unlock(&mu);
    return current ? ok : -1;
}

int xp_auth_verify(const xp_cred *c)
{
    int verdict = -1;
    for (int attempt = 0; attempt < CHECK_ATTEMPTS && verdict < 0; attempt++)
        verdict = verify_once(c);
    return verdict == 1;
}

static int check(xp_cred *c, int filled)
{
    int rc = filled != 0 ? -1 : xp_auth_lookup(c);
    if (rc == 0)
        rc = xp_auth_verify(c);
    xp_cred_wipe(c);
    return rc == 1;
}

int xp_auth_check(const char *user, const char *password)
{
    xp_cred c;
    if (!user || !password)
        return !xp_auth_enabled();
    return check(&c, xp_cred_basic(&c, user, password));
}

int xp_auth_check_key(const char *key)
{
    xp_cred c;
    if (!key)
        return !xp_auth_enabled();
    return check(&c, xp_cred_key(&c, key));
}
