#include "model/level.h"

#include <string.h>

static const char *const names[XP_LEVEL_COUNT] = {"optimal", "degraded", "limited", "minimal",
                                                  "emergency"};

const char *xp_level_name(int level)
{
    return level >= 0 && level < XP_LEVEL_COUNT ? names[level] : "unknown";
}

int xp_level_parse(const char *s)
{
    for (int i = 0; i < XP_LEVEL_COUNT; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}
