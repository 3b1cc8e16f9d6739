/* The system score and level over the last hour, for the status page's chart: a fixed ring
 * of XP_HISTORY_SLOTS buckets of `period` seconds each, fed by every evaluation after a
 * change (so at the probe cadence, whatever scrapes do) and kept in memory only.
 *
 * A bucket keeps the worst of what it saw (lowest score, highest level) and the last score:
 * a dip between two samples of the chart still shows. A bucket with no sample (nothing
 * changed, or nothing was probed) is not stored; whoever draws carries the previous value
 * forward. Times are monotonic seconds: a wall-clock jump cannot fold the chart. */
#ifndef XP_HISTORY_H
#define XP_HISTORY_H

#include <stddef.h>

#define XP_HISTORY_SLOTS 360

typedef struct xp_history_slot {
    double start;     /* monotonic seconds: start of the bucket */
    double score_min; /* lowest system score seen in the bucket */
    double score_last;
    int level_max; /* worst level seen in the bucket */
} xp_history_slot;

typedef struct xp_history {
    double period;
    size_t head; /* index of the oldest slot */
    size_t n;
    xp_history_slot slot[XP_HISTORY_SLOTS];
} xp_history;

/* period in seconds (> 0): XP_HISTORY_SLOTS * period is the span kept. */
void xp_history_init(xp_history *h, double period);
void xp_history_add(xp_history *h, double now, double score, int level);
/* Copies the slots that end after `since`, and the one before them (its value held into the
 * span), oldest first, into out (room for cap). Returns how many. */
size_t xp_history_since(const xp_history *h, double since, xp_history_slot *out, size_t cap);

#endif
