#include "engine/override.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/events.h"

/* Puts the mode that the config and the override decide at `now` in force. d->mu held.
 * Returns the transitions it caused (0-2) in t. */
static int apply(xp_dep *d, double now, xp_transition t[2])
{
    xp_mode m = xp_mode_in_force(d->cfg.breaker.mode, &d->v.mode_override, now);
    return xp_breaker_set_mode(&d->v.br, &d->win, m, now, t);
}

static void rfc3339(double wall, char *buf, size_t len)
{
    time_t secs = (time_t)wall;
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "%.0f", wall);
}

/* The log line and the event of a change of mode, then its transitions; outside d->mu. */
static void announce(const xp_dep *d, const xp_mode_change *c, const xp_transition *t, int n,
                     double seconds, const char *client)
{
    char until[32] = "", dur[32] = "";
    if (c->until_wall > 0) {
        rfc3339(c->until_wall, until, sizeof(until));
        snprintf(dur, sizeof(dur), "%gs", seconds);
    }
    const char *from = xp_mode_name(c->from), *to = xp_mode_name(c->mode);
    /* warn: a mode other than auto takes the breaker out of the operator's usual picture. */
    int level = c->mode == XP_MODE_AUTO ? XP_LOG_INFO : XP_LOG_WARN;
    if (!client)
        xp_log(level, d->cfg.name, "breaker mode override ended", "from", from, "to", to, NULL);
    else if (until[0])
        xp_log(level, d->cfg.name, "breaker mode set", "from", from, "to", to, "for", dur, "until",
               until, "client", client, NULL);
    else
        xp_log(level, d->cfg.name, "breaker mode set", "from", from, "to", to, "client", client,
               NULL);
    xp_events_mode(d->cfg.name, c->from, c->mode, c->until_wall, client);
    for (int i = 0; i < n; i++)
        xp_dep_log_transition(d, t[i], NULL, NULL,
                              t[i] == XP_T_CLOSED_OPEN || t[i] == XP_T_HALF_OPEN_OPEN
                                  ? xp_trip_name(XP_TRIP_FORCED)
                                  : NULL);
    xp_dep_changed();
}

void xp_dep_set_mode(xp_dep *d, xp_mode mode, double seconds, const char *client, double now,
                     xp_mode_change *out)
{
    xp_transition t[2];
    double wall = xp_clock_wall();
    pthread_mutex_lock(&d->mu);
    xp_mode_change c = {.from = d->v.br.mode, .configured = d->cfg.breaker.mode};
    if (mode == XP_MODE_AUTO)
        d->v.mode_override = (xp_mode_override){0, XP_MODE_AUTO, INFINITY};
    else
        d->v.mode_override = (xp_mode_override){1, mode, seconds > 0 ? now + seconds : INFINITY};
    int n = apply(d, now, t);
    c.mode = d->v.br.mode;
    c.until = d->v.mode_override.active ? d->v.mode_override.until : INFINITY;
    c.until_wall = isfinite(c.until) ? wall + (c.until - now) : 0;
    c.state = d->v.br.state;
    pthread_mutex_unlock(&d->mu);
    announce(d, &c, t, n, seconds, client ? client : "");
    *out = c;
}

int xp_dep_mode_expired(const xp_dep *d, double now)
{
    return d->v.mode_override.active && now >= d->v.mode_override.until;
}

double xp_dep_mode_until(const xp_dep *d)
{
    return d->v.mode_override.active ? d->v.mode_override.until : INFINITY;
}

void xp_dep_expire_mode(xp_dep *d, double now)
{
    xp_transition t[2];
    pthread_mutex_lock(&d->mu);
    if (!xp_dep_mode_expired(d, now)) {
        pthread_mutex_unlock(&d->mu); /* cleared or replaced meanwhile */
        return;
    }
    xp_mode_change c = {.from = d->v.br.mode, .configured = d->cfg.breaker.mode};
    d->v.mode_override = (xp_mode_override){0, XP_MODE_AUTO, INFINITY};
    int n = apply(d, now, t);
    c.mode = d->v.br.mode;
    c.until = INFINITY;
    c.state = d->v.br.state;
    pthread_mutex_unlock(&d->mu);
    announce(d, &c, t, n, 0, NULL);
}
