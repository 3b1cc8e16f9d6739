/* The collectors this tree ships; registry.c lists them. */
#ifndef XP_COLLECTORS_H
#define XP_COLLECTORS_H

#include "collector.h"

extern const xp_collector xp_collector_postgres;
extern const xp_collector xp_collector_redis;
extern const xp_collector xp_collector_s3;
extern const xp_collector xp_collector_openai;

#endif
