#include "base/clock.h"

#include <time.h>

static double (*fake_mono)(void);
static double (*fake_wall)(void);

static double ts_seconds(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0; /* cannot happen for these two clocks on Linux */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double xp_clock_mono(void)
{
    return fake_mono ? fake_mono() : ts_seconds(CLOCK_MONOTONIC);
}

double xp_clock_wall(void)
{
    return fake_wall ? fake_wall() : ts_seconds(CLOCK_REALTIME);
}

struct timespec xp_clock_timespec(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec < 0)
        ts.tv_nsec = 0;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

void xp_clock_override(double (*mono)(void), double (*wall)(void))
{
    fake_mono = mono;
    fake_wall = wall;
}
