/* xp_duration_parse: accepted values are positive and finite, whatever the text. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    double v = -1;
    if (xp_duration_parse(s, &v) == 0 && !(v > 0 && isfinite(v)))
        abort();
    free(s);
    return 0;
}
