/* Plays a breaker through a script with a fake clock, one character per step, and records
 * what it did: the tables of test_breaker_rates.c and test_breaker_modes.c are scripts with
 * the state trace and the transitions they must give.
 *
 * Ticks (the clock moves one step first, then xp_breaker_allow() runs):
 *   S  a probe that succeeds fast        s  a probe that succeeds slower than slow_call_duration
 *   F  a probe that fails                I  a probe that fails for an ignored reason
 *   -  a tick the breaker must reject (no probe runs)
 * Others:
 *   _  the clock moves one step, no tick
 *   a f d m  set the mode auto / forced_open / disabled / metrics_only, half a step after the
 *            last tick (the clock does not move)
 * After every character, the state goes into `trace` (C, O or H); every transition goes into
 * `moves` as co, oh, hc or ho, space-separated. */
#ifndef BREAKER_SCRIPT_H
#define BREAKER_SCRIPT_H

#include <stdio.h>
#include <string.h>

#include "model/breaker.h"

typedef struct script_run {
    xp_breaker b;
    xp_window w;
    double now;  /* time of the last tick */
    double step; /* seconds between ticks */
    char trace[1024];
    char moves[1024];
    char why[256]; /* set when the breaker disagreed with the script */
} script_run;

static inline int script_init(script_run *r, const xp_breaker_cfg *cfg, double step)
{
    memset(r, 0, sizeof(*r));
    r->step = step > 0 ? step : 10;
    return xp_breaker_init(&r->b, &r->w, cfg);
}

static inline void script_move(script_run *r, xp_transition t)
{
    static const char *const names[XP_T_COUNT] = {"co", "oh", "hc", "ho"};
    if (t == XP_T_NONE)
        return;
    size_t n = strlen(r->moves);
    snprintf(r->moves + n, sizeof(r->moves) - n, "%s%s", n ? " " : "", names[t]);
}

/* Returns 0, or -1 with r->why saying where the breaker and the script disagree. */
static inline int script_play(script_run *r, const char *script)
{
    static const char states[] = {'C', 'O', 'H'};
    for (const char *p = script; *p; p++) {
        char c = *p;
        xp_transition t = XP_T_NONE, ts[2];
        if (c == ' ')
            continue;
        const char *modes = "afdm", *m = strchr(modes, c);
        if (m) {
            int n = xp_breaker_set_mode(&r->b, &r->w, (xp_mode)(m - modes), r->now + r->step / 2,
                                        ts);
            for (int i = 0; i < n; i++)
                script_move(r, ts[i]);
        } else if (c == '_') {
            r->now += r->step;
        } else if (strchr("SsFI-", c)) {
            r->now += r->step;
            int allowed = xp_breaker_allow(&r->b, r->now, &t);
            script_move(r, t);
            if (allowed != (c != '-')) {
                snprintf(r->why, sizeof(r->why), "step %d ('%c' at %g): the breaker %s",
                         (int)(p - script), c, r->now, allowed ? "let a probe run" : "rejected");
                return -1;
            }
            if (allowed) {
                double slow = r->b.cfg.slow_call_duration;
                double duration = c == 's' ? (slow > 0 ? 2 * slow : 1) : slow / 2;
                int result = c == 'F' ? XP_CALL_FAILURE
                             : c == 'I' ? XP_CALL_IGNORED
                                        : XP_CALL_SUCCESS;
                xp_breaker_record(&r->b, &r->w, result, duration, r->now, &t);
                script_move(r, t);
            }
        } else {
            snprintf(r->why, sizeof(r->why), "bad script character '%c'", c);
            return -1;
        }
        size_t n = strlen(r->trace);
        if (n + 1 < sizeof(r->trace)) {
            r->trace[n] = states[r->b.state];
            r->trace[n + 1] = '\0';
        }
    }
    return 0;
}

static inline void script_free(script_run *r)
{
    xp_window_free(&r->w);
}

#endif
