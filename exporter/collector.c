#include "collector.h"

#include <string.h>

const xp_collector *xp_collector_find(const char *name)
{
    for (const xp_collector *const *c = xp_collectors; *c; c++)
        if (strcmp((*c)->name, name) == 0)
            return *c;
    return NULL;
}
