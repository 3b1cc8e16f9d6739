#include "model/window.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct bucket {
    uint32_t calls, failures, slow;
} bucket;

/* Clock indices stay far from INT64 limits whatever the clock and the width. */
#define INDEX_MAX 4e18

int xp_window_init(xp_window *w, unsigned window_calls, double window_time)
{
    memset(w, 0, sizeof(*w));
    w->newest = INT64_MIN;
    if (window_time > 0) {
        w->bucket_width = window_time / XP_WINDOW_BUCKETS;
        w->store = calloc(XP_WINDOW_BUCKETS, sizeof(bucket));
    } else {
        w->size = window_calls ? window_calls : 1;
        w->store = calloc((w->size + 3) / 4, 1);
    }
    return w->store ? 0 : -1;
}

void xp_window_free(xp_window *w)
{
    free(w->store);
    w->store = NULL;
}

void xp_window_clear(xp_window *w)
{
    if (w->size)
        memset(w->store, 0, (w->size + 3) / 4);
    else if (w->store)
        memset(w->store, 0, XP_WINDOW_BUCKETS * sizeof(bucket));
    w->head = 0;
    w->newest = INT64_MIN;
    memset(&w->n, 0, sizeof(w->n));
}

/* Count windows keep each outcome as a 2-bit code, code = outcome + 1 (0 = empty slot). */
static unsigned code_get(const xp_window *w, unsigned i)
{
    const uint8_t *c = w->store;
    return (c[i / 4] >> (2 * (i % 4))) & 3u;
}

static void code_set(xp_window *w, unsigned i, unsigned code)
{
    uint8_t *c = w->store;
    unsigned shift = 2 * (i % 4);
    c[i / 4] = (uint8_t)((c[i / 4] & ~(3u << shift)) | (code << shift));
}

static void count(xp_window_counts *n, xp_outcome o, int sign)
{
    n->calls += (uint32_t)sign;
    if (o == XP_OUTCOME_FAILURE)
        n->failures += (uint32_t)sign;
    else if (o == XP_OUTCOME_SLOW)
        n->slow += (uint32_t)sign;
}

static int64_t index_of(const xp_window *w, double now)
{
    double k = floor(now / w->bucket_width);
    if (!(k < INDEX_MAX)) /* also NaN */
        k = INDEX_MAX;
    if (k < -INDEX_MAX)
        k = -INDEX_MAX;
    return (int64_t)k;
}

static bucket *bucket_at(const xp_window *w, int64_t k)
{
    int64_t i = k % XP_WINDOW_BUCKETS;
    if (i < 0)
        i += XP_WINDOW_BUCKETS;
    return (bucket *)w->store + i;
}

void xp_window_expire(xp_window *w, double now)
{
    if (w->size || w->newest == INT64_MIN)
        return;
    int64_t k = index_of(w, now);
    if (k <= w->newest)
        return; /* same bucket, or a clock that went back: keep what we have */
    /* Every bucket between the newest and k leaves; past a full turn, all of them do. */
    int64_t gone = k - w->newest;
    if (gone > XP_WINDOW_BUCKETS)
        gone = XP_WINDOW_BUCKETS;
    for (int64_t j = 1; j <= gone; j++) {
        bucket *b = bucket_at(w, w->newest + j);
        w->n.calls -= b->calls;
        w->n.failures -= b->failures;
        w->n.slow -= b->slow;
        memset(b, 0, sizeof(*b));
    }
    w->newest = k;
}

void xp_window_add(xp_window *w, xp_outcome o, double now)
{
    if (w->size) {
        unsigned old = code_get(w, w->head);
        if (old)
            count(&w->n, (xp_outcome)(old - 1), -1);
        code_set(w, w->head, (unsigned)o + 1);
        count(&w->n, o, 1);
        w->head = (w->head + 1) % w->size;
        return;
    }
    if (w->newest == INT64_MIN)
        w->newest = index_of(w, now);
    else
        xp_window_expire(w, now);
    /* 2^32 outcomes in one window would take a probe every 0.6 ms for 30 days (the widest
     * window the bounds allow); should it happen, the window stops growing rather than wrap.
     * A bucket never holds more than the sum, so no bucket wraps either. */
    if (w->n.calls == UINT32_MAX)
        return;
    bucket *b = bucket_at(w, w->newest);
    b->calls++;
    if (o == XP_OUTCOME_FAILURE)
        b->failures++;
    else if (o == XP_OUTCOME_SLOW)
        b->slow++;
    count(&w->n, o, 1);
}
