/* Every collector this tree ships, one line each: adding a backend type is one file in
 * collectors/ that defines xp_collector_NAME, plus one X(NAME) here. collectors/registry.c
 * and the test registry (tests/fake/registry.c) both build xp_collectors from this list, and
 * every message that lists collectors is built from xp_collectors. (A static list rather
 * than constructor self-registration, which a static library can silently drop.) */
#ifndef XP_REGISTRY_H
#define XP_REGISTRY_H

#include "collector.h"

#define XP_COLLECTORS(X) X(postgres) X(redis) X(s3) X(openai)

#define XP_COLLECTOR_DECLARE(name) extern const xp_collector xp_collector_##name;
#define XP_COLLECTOR_ENTRY(name) &xp_collector_##name,

XP_COLLECTORS(XP_COLLECTOR_DECLARE)

#endif
