/* The last XP_EVENTS_MAX things that happened (SPEC section 7, GET /events): breaker
 * transitions, level changes, mode changes and reloads, in a fixed ring in memory. The
 * oldest event goes when the ring is full; nothing is allocated after start.
 *
 * Producers call one function at the point where the thing happens (the transition's log
 * line, the level check after a change, the mode override, the reload's outcome); each call
 * takes the ring's lock for a copy of a few hundred bytes and never blocks on anything else.
 * Every text passed in must already be free of secrets, as for the log. */
#ifndef XP_EVENTS_H
#define XP_EVENTS_H

#include <stddef.h>

#include "collector.h"
#include "model/breaker.h"
#include "model/mode.h"

#define XP_EVENTS_MAX 256
#define XP_EVENT_NAME_MAX 200 /* a dependency name longer than this is cut */

typedef enum { XP_EV_TRANSITION, XP_EV_LEVEL, XP_EV_MODE, XP_EV_RELOAD } xp_event_type;

typedef struct xp_event {
    double timestamp; /* wall seconds */
    xp_event_type type;
    char dependency[XP_EVENT_NAME_MAX]; /* transition, mode */
    char from[16], to[16];              /* state, level or mode names */
    char reason[16];                    /* transition: failure reason; "" when none */
    char error[XP_ERR_MAX];             /* transition: error; reload: why it failed */
    double until;                       /* mode: wall seconds it ends; 0: no end */
    char client[64];                    /* mode: who asked (client address) */
    int success;                        /* reload */
} xp_event;

const char *xp_event_type_name(xp_event_type t); /* transition, level, mode, reload */

/* reason and error may be NULL (no failure behind the transition). */
void xp_events_transition(const char *dependency, xp_transition t, const char *reason,
                          const char *error);
void xp_events_level(int from, int to);
/* until_wall: when the override ends (wall seconds), 0 when it does not. */
void xp_events_mode(const char *dependency, xp_mode from, xp_mode to, double until_wall,
                    const char *client);
/* error: NULL or "" on success. */
void xp_events_reload(int success, const char *error);

/* Copies up to cap events, newest first. Returns how many. */
size_t xp_events_copy(xp_event *out, size_t cap);
/* Events recorded since start: moves on every event, so a page can tell the list changed. */
unsigned long xp_events_count(void);
/* Empties the ring (tests). */
void xp_events_reset(void);

#endif
