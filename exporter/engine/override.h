/* Run-time modes (SPEC section 5, "Modes"): `POST /-/breakers/NAME` puts a mode on one
 * dependency, optionally for a time, over the mode of its config; `mode=auto` clears it; when
 * its time runs out the config's mode is back.
 *
 * The override lives in the dependency's view (xp_dep_view.mode_override), guarded by its
 * `mu` like the breaker it steers, so a scrape sees the two together. Its end is a wake-up of
 * the scheduler (engine/scheduler.c arms a dependency at the earlier of its next probe and
 * the override's `until`), so a mode reverts on time even when no probe is due for an hour.
 * Every change is logged with who asked and recorded for GET /events; the transitions it
 * causes are logged and recorded like any other. A reload that keeps the dependency keeps
 * the override (the same xp_dep goes on); one that replaces or removes it drops it. */
#ifndef XP_OVERRIDE_H
#define XP_OVERRIDE_H

#include "engine/dep.h"
#include "model/mode.h"

/* What a mode change left in force. */
typedef struct xp_mode_change {
    xp_mode from;     /* the mode in force before */
    xp_mode mode;     /* the mode in force now */
    xp_mode configured;
    double until_wall; /* when the run-time mode ends, wall seconds; 0: it does not */
    double until;      /* the same, monotonic; INFINITY: it does not */
    xp_breaker_state state;
} xp_mode_change;

/* Puts `mode` on d at monotonic `now` for `seconds` (<= 0 or INFINITY: until changed);
 * XP_MODE_AUTO clears the run-time mode. client names who asked (for the log and the event;
 * may be NULL). Logs, records, announces the change; fills *out. The caller reschedules d
 * (xp_scheduler_reschedule): its next wake-up may have moved. */
void xp_dep_set_mode(xp_dep *d, xp_mode mode, double seconds, const char *client, double now,
                     xp_mode_change *out);
/* d's run-time mode has run out at `now` and must be ended (d->mu held). */
int xp_dep_mode_expired(const xp_dep *d, double now);
/* When d's run-time mode ends, monotonic; INFINITY when there is none (d->mu held). */
double xp_dep_mode_until(const xp_dep *d);
/* Ends d's run-time mode if it has run out at `now`: the config's mode is back. */
void xp_dep_expire_mode(xp_dep *d, double now);

#endif
