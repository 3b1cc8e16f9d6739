/* Pure parser of LocalStack's GET /_localstack/health answer, e.g.
 * {"services": {"s3": "running", "sqs": "disabled"}, "edition": "community", ...}. */
#ifndef XP_LOCALSTACK_HEALTH_H
#define XP_LOCALSTACK_HEALTH_H

#include <stddef.h>

/* 1 when services.s3 is "running" or "available"; 0 when it reports anything else (state
 * holds the reported value, quoted, e.g. "\"error\"", or "not listed"); -1 when the body is
 * not a LocalStack health document (state says why). */
int xp_localstack_s3_state(const char *body, size_t len, char *state, size_t statelen);

#endif
