#include "web/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define WAYS 8 /* entries per set */

typedef struct entry {
    unsigned char addr[16];
    unsigned char len; /* 0: empty */
    double tokens;     /* as of `at` */
    double at;
} entry;

struct xp_ratelimit {
    pthread_mutex_t mu; /* guards everything below */
    entry *e;
    size_t sets; /* a power of two */
    uint64_t key;
    unsigned burst;
    double period;
};

xp_ratelimit *xp_ratelimit_new(size_t entries)
{
    xp_ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->sets = 1;
    while (rl->sets * WAYS < entries)
        rl->sets *= 2;
    /* Large and zeroed: calloc maps it untouched, so memory is used as addresses come. */
    if (!(rl->e = calloc(rl->sets * WAYS, sizeof(entry)))) {
        free(rl);
        return NULL;
    }
    /* A key nobody outside knows, so nobody can aim many addresses at one set. */
    if (getrandom(&rl->key, sizeof(rl->key), GRND_NONBLOCK) != sizeof(rl->key))
        rl->key = (uint64_t)(uintptr_t)rl ^ 0x9e3779b97f4a7c15ull;
    pthread_mutex_init(&rl->mu, NULL);
    return rl;
}

void xp_ratelimit_free(xp_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl->e);
    free(rl);
}

void xp_ratelimit_configure(xp_ratelimit *rl, unsigned burst, double period)
{
    pthread_mutex_lock(&rl->mu);
    if (burst != rl->burst || period != rl->period)
        memset(rl->e, 0, rl->sets * WAYS * sizeof(entry));
    rl->burst = burst;
    rl->period = period;
    pthread_mutex_unlock(&rl->mu);
}

/* FNV-1a over the key and the address, then splitmix64's finaliser to spread the bits. */
static uint64_t hash(uint64_t key, const unsigned char *a, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ key;
    for (size_t i = 0; i < len; i++)
        h = (h ^ a[i]) * 0x100000001b3ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

/* The tokens e holds at now. */
static double tokens_at(const xp_ratelimit *rl, const entry *e, double now)
{
    double t = e->tokens + (now > e->at ? now - e->at : 0) * rl->burst / rl->period;
    return t > rl->burst ? rl->burst : t;
}

unsigned xp_ratelimit_take(xp_ratelimit *rl, const void *addr, size_t len, double now)
{
    if (len > 16)
        len = 16;
    pthread_mutex_lock(&rl->mu);
    if (rl->burst == 0) {
        pthread_mutex_unlock(&rl->mu);
        return 0;
    }
    entry *set = rl->e + (hash(rl->key, addr, len) & (rl->sets - 1)) * WAYS, *e = NULL;
    for (int i = 0; i < WAYS && !e; i++)
        if (set[i].len == len && memcmp(set[i].addr, addr, len) == 0)
            e = &set[i];
    if (!e) { /* an empty entry, else the fullest (a full one first) */
        double most = -1;
        for (int i = 0; i < WAYS; i++) {
            double t = set[i].len ? tokens_at(rl, &set[i], now) : INFINITY;
            if (t > most) {
                most = t;
                e = &set[i];
            }
        }
        memcpy(e->addr, addr, len);
        e->len = (unsigned char)len;
        e->tokens = rl->burst;
        e->at = now;
    }
    double t = tokens_at(rl, e, now);
    e->at = now;
    unsigned wait = 0;
    if (t >= 1) {
        e->tokens = t - 1;
    } else {
        e->tokens = t;
        double s = ceil((1 - t) * rl->period / rl->burst);
        wait = s < 1 ? 1 : s > 1e9 ? 1000000000u : (unsigned)s;
    }
    pthread_mutex_unlock(&rl->mu);
    return wait;
}

size_t xp_ratelimit_tracked(xp_ratelimit *rl)
{
    size_t n = 0;
    pthread_mutex_lock(&rl->mu);
    for (size_t i = 0; i < rl->sets * WAYS; i++)
        n += rl->e[i].len != 0;
    pthread_mutex_unlock(&rl->mu);
    return n;
}

size_t xp_ratelimit_capacity(const xp_ratelimit *rl)
{
    return rl->sets * WAYS;
}
