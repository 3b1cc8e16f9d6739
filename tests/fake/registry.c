/* The real collectors (collectors/registry.h) plus the test-only "fake" one. */
#include <stddef.h>

#include "registry.h"

extern const xp_collector xp_collector_fake;

const xp_collector *const xp_collectors[] = {XP_COLLECTORS(XP_COLLECTOR_ENTRY) & xp_collector_fake,
                                             NULL};
