/* The change tracker: after every change the runtime announces (a probe's result, a rejected
 * tick, a reload), one thread of its own evaluates the state once and
 *   - keeps the state tag (model/statetag.h) and a generation that moves when the tag does,
 *     for /health's ETag and the long-polls waiting on it;
 *   - records a level event when the degradation level moved;
 *   - feeds the last hour's score and level history (model/history.h);
 *   - calls the listener (the web part's long-poll) when the tag moved.
 * The runtime only signals (xp_watch_notify: a flag and a condition variable), so a probe or
 * a reload never waits for an evaluation, and many changes in a burst make one evaluation. */
#ifndef XP_WATCH_H
#define XP_WATCH_H

#include <stddef.h>

#include "model/history.h"
#include "model/statetag.h"

/* Seconds per history bucket: 360 of them are the hour the status page draws. */
#define XP_WATCH_HISTORY_PERIOD 10.0

/* Starts the thread (after xp_runtime_start). 0 = ok. */
int xp_watch_start(void);
/* Stops and joins it; safe when not started. */
void xp_watch_stop(void);
/* Something changed: evaluate soon. Cheap and safe from any thread, before start too. */
void xp_watch_notify(void);
/* Waits until every change notified before this call has been evaluated, or `seconds`
 * passed (tests and measurements). 0 = evaluated. */
int xp_watch_flush(double seconds);

/* The tag of the last evaluated state (empty before the first) and its generation. */
unsigned long xp_watch_tag(char out[XP_STATETAG_MAX]);
/* Called on the watch thread after each change of the tag; NULL removes it. */
void xp_watch_set_listener(void (*fn)(void));

/* Copies the history of the last `span` seconds (see xp_history_since) into out; *now gets
 * the monotonic time of the copy. Returns how many slots. */
size_t xp_watch_history(double span, xp_history_slot *out, size_t cap, double *now);

#endif
