#include "web/auth.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

/* bcrypt costs ~50-100 ms a check: remember the few credentials that passed recently, so a
 * scrape every few seconds does not pay it each time (exporter-toolkit caches likewise).
 * The cache lives only in memory and is compared in constant time. */
#define CACHE_SLOTS 4
#define CACHE_TTL 60.0
#define CRED_MAX 512
/* A check whose credentials were replaced while bcrypt ran starts over with the new ones;
 * after this many replacements in a row it gives up and refuses. */
#define CHECK_ATTEMPTS 3

typedef struct cache_entry {
    char cred[CRED_MAX]; /* "user:password" */
    size_t len;
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
static char *auth_user;
static char *auth_hash;
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

int xp_auth_configure(const char *user, const char *bcrypt_hash)
{
    char *u = NULL, *h = NULL;
    if (user && bcrypt_hash) {
        u = strdup(user);
        h = strdup(bcrypt_hash);
        if (!u || !h) {
            free(u);
            free(h);
            return -1;
        }
    }
    pthread_mutex_lock(&mu);
    free(auth_user);
    if (auth_hash)
        explicit_bzero(auth_hash, strlen(auth_hash));
    free(auth_hash);
    auth_user = u;
    auth_hash = h;
    generation++;
    explicit_bzero(cache, sizeof(cache));
    pthread_mutex_unlock(&mu);
    return 0;
}

void xp_auth_free(void)
{
    xp_auth_configure(NULL, NULL);
}

int xp_auth_enabled(void)
{
    pthread_mutex_lock(&mu);
    int on = auth_user != NULL;
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

/* One attempt under the credentials of one generation: 1 pass, 0 fail, -1 the credentials
 * changed while bcrypt ran (the verdict is void). */
static int check_once(const char *user, size_t ul, const char *password, const char *cred,
                      size_t len)
{
    double now = env->now();
    pthread_mutex_lock(&mu);
    if (!auth_user) {
        pthread_mutex_unlock(&mu);
        return 1;
    }
    int hit = 0;
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].len && now - cache[i].at < CACHE_TTL)
            hit |= ct_equal(cache[i].cred, cache[i].len, cred, len);
    char *hash = hit ? NULL : strdup(auth_hash);
    int user_ok = ct_equal(auth_user, strlen(auth_user), user, ul);
    unsigned long gen = generation;
    pthread_mutex_unlock(&mu);
    if (hit)
        return 1;
    if (!hash)
        return 0;

    /* Always run bcrypt, whatever the user name, so an unknown user costs the same. */
    int ok = hash_matches(password, hash) && user_ok;
    explicit_bzero(hash, strlen(hash));
    free(hash);

    pthread_mutex_lock(&mu);
    int current = gen == generation;
    if (ok && current) {
        int slot = 0;
        for (int i = 1; i < CACHE_SLOTS; i++)
            if (cache[i].at < cache[slot].at)
                slot = i;
        memcpy(cache[slot].cred, cred, len);
        cache[slot].len = len;
        cache[slot].at = now;
    }
    pthread_mutex_unlock(&mu);
    return current ? ok : -1;
}

int xp_auth_check(const char *user, const char *password)
{
    if (!user || !password)
        return 0;
    char cred[CRED_MAX];
    size_t ul = strlen(user), pl = strlen(password);
    if (ul + pl + 2 > sizeof(cred))
        return 0;
    memcpy(cred, user, ul);
    cred[ul] = ':';
    memcpy(cred + ul + 1, password, pl + 1);
    size_t len = ul + 1 + pl;

    int verdict = -1;
    for (int attempt = 0; attempt < CHECK_ATTEMPTS && verdict < 0; attempt++)
        verdict = check_once(user, ul, password, cred, len);
    explicit_bzero(cred, sizeof(cred));
    return verdict == 1;
}
