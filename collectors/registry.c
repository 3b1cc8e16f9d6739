/* Every collector this binary knows. Adding a backend type: one file in collectors/ and one
 * line here. (A static table rather than constructor self-registration, which a static
 * library can silently drop.) */
#include <string.h>

#include "collectors.h"

const xp_collector *const xp_collectors[] = {
    &xp_collector_postgres,
    &xp_collector_redis,
    &xp_collector_s3,
    &xp_collector_openai,
    NULL,
};
