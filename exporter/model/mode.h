/* The operator modes of SPEC section 5 ("Modes"): what a breaker is allowed to do, set in the
 * config (`mode = ...`) and overridden at run time (`POST /-/breakers/NAME`, optional `for=`).
 * Their order is the circuit_breaker_mode metric's. */
#ifndef XP_MODE_H
#define XP_MODE_H

typedef enum {
    XP_MODE_AUTO,         /* the breaker as section 5 describes it */
    XP_MODE_FORCED_OPEN,  /* no probe runs; reads OPEN; every tick is rejected */
    XP_MODE_DISABLED,     /* probes run and count; never leaves CLOSED */
    XP_MODE_METRICS_ONLY, /* runs as auto; counts as CLOSED with weight 0 for the level */
    XP_MODE_COUNT
} xp_mode;

/* A run-time override: `mode` until the monotonic time `until` (INFINITY: no `for=`). */
typedef struct xp_mode_override {
    int active;
    xp_mode mode;
    double until;
} xp_mode_override;

const char *xp_mode_name(xp_mode m); /* auto, forced_open, disabled, metrics_only */
int xp_mode_parse(const char *s);    /* the xp_mode, or -1 if not a mode name */
/* The mode in force at `now`: the override while it lasts (now < until), else the config's.
 * An override of `auto` is no override ("mode=auto clears it"): the config's mode applies. */
xp_mode xp_mode_in_force(xp_mode configured, const xp_mode_override *o, double now);

#endif
