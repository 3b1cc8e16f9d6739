/* The two JSON answers the HTTP collectors parse: LocalStack's /_localstack/health and
 * OpenAI's model list, plus the x-ratelimit-* header values. Bodies come from the network:
 * any bytes must give a verdict and a short, terminated reason. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "localstack_health.h"
#include "openai_models.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t cap)
{
    if (strnlen(s, cap) >= cap)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char why[128];

    memset(why, 'x', sizeof(why));
    int r = xp_localstack_s3_state(body, size, why, sizeof(why));
    if (r < -1 || r > 1)
        abort();
    check_text(why, sizeof(why));

    memset(why, 'x', sizeof(why));
    r = xp_openai_models_has(body, size, NULL, why, sizeof(why));
    if (r < -1 || r > 1)
        abort();
    if (r == 0) /* without a model to look for, a list is a list */
        abort();
    memset(why, 'x', sizeof(why));
    r = xp_openai_models_has(body, size, "gpt-4o", why, sizeof(why));
    if (r < -1 || r > 1)
        abort();

    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    double v = -1;
    if (xp_openai_ratelimit_parse(s, &v) == 0 && !(v >= 0 && isfinite(v)))
        abort();
    free(s);
    return 0;
}
