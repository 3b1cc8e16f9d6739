/* The config parser on arbitrary text: it must return a config or an error, never crash,
 * leak or read out of bounds, and an error must say FILE:LINE or FILE. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[XP_CONFIG_ERR_MAX];
    err[0] = '\0';
    /* 1: unset ${VAR} reads as empty, so inputs reach past expansion into validation. */
    xp_config *cfg = xp_config_parse("fuzz.ini", (const char *)data, size, 1, err, sizeof(err));
    if (cfg) {
        char summary[1024];
        xp_config_summary(cfg, summary, sizeof(summary));
        xp_config_free(cfg);
    } else if (strncmp(err, "fuzz.ini", 8) != 0) {
        abort(); /* an error without its file name */
    }
    return 0;
}
