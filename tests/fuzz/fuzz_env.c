/* xp_env_expand: returns a string or an error, never both, never neither; text without '$'
 * comes back unchanged. The first byte picks the unset-variable mode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static int env_set;
    if (!env_set) {
        /* A few variables so that ${A}, ${HOME:-x} and friends take the "set" branch. */
        setenv("A", "alpha", 1);
        setenv("B", "", 1);
        setenv("XP_FUZZ_LONG", "0123456789012345678901234567890123456789", 1);
        env_set = 1;
    }
    int empty = data[0] & 1;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    char err[256];
    err[0] = '\0';
    char *out = xp_env_expand(s, empty, err, sizeof(err));
    if (!out && !err[0])
        abort();
    if (out && !strchr(s, '$') && strcmp(out, s) != 0)
        abort();
    free(out);
    free(s);
    return 0;
}
