#include "model/mode.h"

#include <string.h>

static const char *const names[XP_MODE_COUNT] = {"auto", "forced_open", "disabled",
                                                 "metrics_only"};

const char *xp_mode_name(xp_mode m)
{
    return (unsigned)m < XP_MODE_COUNT ? names[m] : "auto";
}

int xp_mode_parse(const char *s)
{
    for (int i = 0; i < XP_MODE_COUNT; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

xp_mode xp_mode_in_force(xp_mode configured, const xp_mode_override *o, double now)
{
    if (o && o->active && o->mode != XP_MODE_AUTO && (unsigned)o->mode < XP_MODE_COUNT &&
        now < o->until)
        return o->mode;
    return configured;
}
