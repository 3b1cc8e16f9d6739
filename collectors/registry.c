/* The collectors of the real binary: the list of registry.h. */
#include <stddef.h>

#include "registry.h"

const xp_collector *const xp_collectors[] = {XP_COLLECTORS(XP_COLLECTOR_ENTRY) NULL};
