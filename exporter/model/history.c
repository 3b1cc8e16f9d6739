#include "model/history.h"

#include <math.h>
#include <string.h>

void xp_history_init(xp_history *h, double period)
{
    memset(h, 0, sizeof(*h));
    h->period = period > 0 ? period : 10;
}

void xp_history_add(xp_history *h, double now, double score, int level)
{
    double start = floor(now / h->period) * h->period;
    if (h->n) {
        xp_history_slot *last = &h->slot[(h->head + h->n - 1) % XP_HISTORY_SLOTS];
        if (start <= last->start) { /* the same bucket (or a clock that did not move) */
            if (score < last->score_min)
                last->score_min = score;
            if (level > last->level_max)
                last->level_max = level;
            last->score_last = score;
            return;
        }
    }
    size_t at;
    if (h->n < XP_HISTORY_SLOTS) {
        at = (h->head + h->n) % XP_HISTORY_SLOTS;
        h->n++;
    } else {
        at = h->head; /* full: the oldest bucket goes */
        h->head = (h->head + 1) % XP_HISTORY_SLOTS;
    }
    h->slot[at] = (xp_history_slot){start, score, score, level};
}

size_t xp_history_since(const xp_history *h, double since, xp_history_slot *out, size_t cap)
{
    size_t first = h->n;
    for (size_t i = 0; i < h->n; i++)
        if (h->slot[(h->head + i) % XP_HISTORY_SLOTS].start + h->period > since) {
            first = i;
            break;
        }
    /* The bucket before the span too: its value held until the next one began. */
    if (first > 0)
        first--;
    size_t k = 0;
    for (size_t i = first; i < h->n && k < cap; i++)
        out[k++] = h->slot[(h->head + i) % XP_HISTORY_SLOTS];
    return k;
}
