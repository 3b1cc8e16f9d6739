/* The real collectors plus the test-only "fake" one. */
#include <stddef.h>

#include "collectors.h"

extern const xp_collector xp_collector_fake;

const xp_collector *const xp_collectors[] = {
    &xp_collector_postgres, &xp_collector_redis, &xp_collector_s3, &xp_collector_openai,
    &xp_collector_fake,     NULL,
};
