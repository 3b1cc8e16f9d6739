/* Degradation levels, best to worst. Their numbers are the degradation_level metric. */
#ifndef XP_LEVEL_H
#define XP_LEVEL_H

enum {
    XP_LEVEL_OPTIMAL,
    XP_LEVEL_DEGRADED,
    XP_LEVEL_LIMITED,
    XP_LEVEL_MINIMAL,
    XP_LEVEL_EMERGENCY,
    XP_LEVEL_COUNT
};

const char *xp_level_name(int level);
int xp_level_parse(const char *s); /* -1 if not a level name */

#endif
