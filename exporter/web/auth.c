#include "web/auth.h"

#include <crypt.h>
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

typedef struct cache_entry {
    char cred[CRED_MAX]; /* "user:password" */
    size_t len;
    double at;
} cache_entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char *auth_user;
static char *auth_hash;
static cache_entry cache[CACHE_SLOTS];

static int ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static void wipe_cache(void)
{
    explicit_bzero(cache, sizeof(cache));
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
    wipe_cache();
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
    double now = xp_clock_mono();

    pthread_mutex_lock(&mu);
    if (!auth_user) {
        pthread_mutex_unlock(&mu);
        explicit_bzero(cred, sizeof(cred));
        return 1;
    }
    int hit = 0;
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].len && now - cache[i].at < CACHE_TTL)
            hit |= ct_equal(cache[i].cred, cache[i].len, cred, len);
    char *hash = strdup(auth_hash);
    int user_ok = ct_equal(auth_user, strlen(auth_user), user, ul);
    pthread_mutex_unlock(&mu);
    if (hit || !hash) {
        free(hash);
        explicit_bzero(cred, sizeof(cred));
        return hit;
    }

    /* Always run bcrypt, whatever the user name, so an unknown user costs the same. */
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    int ok = 0;
    if (cd) {
        const char *out = crypt_r(password, hash, cd);
        ok = out && out[0] != '*' && ct_equal(out, strlen(out), hash, strlen(hash)) && user_ok;
        explicit_bzero(cd, sizeof(*cd));
        free(cd);
    }
    free(hash);
    if (ok) {
        pthread_mutex_lock(&mu);
        int slot = 0;
        for (int i = 1; i < CACHE_SLOTS; i++)
            if (cache[i].at < cache[slot].at)
                slot = i;
        memcpy(cache[slot].cred, cred, len);
        cache[slot].len = len;
        cache[slot].at = now;
        pthread_mutex_unlock(&mu);
    }
    explicit_bzero(cred, sizeof(cred));
    return ok;
}
