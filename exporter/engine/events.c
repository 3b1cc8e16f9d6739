#include "engine/events.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "model/level.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by mu: the ring (next slot to write, events written since start). */
static xp_event ring[XP_EVENTS_MAX];
static unsigned long written;

const char *xp_event_type_name(xp_event_type t)
{
    static const char *const names[] = {"transition", "level", "mode", "reload"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void push(const xp_event *e)
{
    pthread_mutex_lock(&mu);
    ring[written % XP_EVENTS_MAX] = *e;
    written++;
    pthread_mutex_unlock(&mu);
}

void xp_events_transition(const char *dependency, xp_transition t, const char *reason,
                          const char *error)
{
    if (t == XP_T_NONE)
        return;
    xp_event e;
    memset(&e, 0, sizeof(e));
    e.timestamp = xp_clock_wall();
    e.type = XP_EV_TRANSITION;
    const char *from, *to;
    xp_transition_names(t, &from, &to);
    copy(e.dependency, sizeof(e.dependency), dependency);
    copy(e.from, sizeof(e.from), from);
    copy(e.to, sizeof(e.to), to);
    copy(e.reason, sizeof(e.reason), reason);
    copy(e.error, sizeof(e.error), error);
    push(&e);
}

void xp_events_level(int from, int to)
{
    xp_event e;
    memset(&e, 0, sizeof(e));
    e.timestamp = xp_clock_wall();
    e.type = XP_EV_LEVEL;
    copy(e.from, sizeof(e.from), xp_level_name(from));
    copy(e.to, sizeof(e.to), xp_level_name(to));
    push(&e);
}

void xp_events_mode(const char *dependency, xp_mode from, xp_mode to, double until_wall,
                    const char *client)
{
    xp_event e;
    memset(&e, 0, sizeof(e));
    e.timestamp = xp_clock_wall();
    e.type = XP_EV_MODE;
    copy(e.dependency, sizeof(e.dependency), dependency);
    copy(e.from, sizeof(e.from), xp_mode_name(from));
    copy(e.to, sizeof(e.to), xp_mode_name(to));
    e.until = until_wall;
    copy(e.client, sizeof(e.client), client);
    push(&e);
}

void xp_events_reload(int success, const char *error)
{
    xp_event e;
    memset(&e, 0, sizeof(e));
    e.timestamp = xp_clock_wall();
    e.type = XP_EV_RELOAD;
    e.success = success != 0;
    copy(e.error, sizeof(e.error), success ? NULL : error);
    push(&e);
}

size_t xp_events_copy(xp_event *out, size_t cap)
{
    pthread_mutex_lock(&mu);
    size_t have = written < XP_EVENTS_MAX ? (size_t)written : XP_EVENTS_MAX;
    size_t n = have < cap ? have : cap;
    for (size_t i = 0; i < n; i++)
        out[i] = ring[(written - 1 - i) % XP_EVENTS_MAX];
    pthread_mutex_unlock(&mu);
    return n;
}

unsigned long xp_events_count(void)
{
    pthread_mutex_lock(&mu);
    unsigned long n = written;
    pthread_mutex_unlock(&mu);
    return n;
}

void xp_events_reset(void)
{
    pthread_mutex_lock(&mu);
    written = 0;
    memset(ring, 0, sizeof(ring));
    pthread_mutex_unlock(&mu);
}
