/* The Redis INFO parser on arbitrary bytes (exact length, no terminator: ASan sees any
 * read past the end). Fields it found are numbers, never garbage. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "redis_info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xp_redis_info in;
    int n = xp_redis_info_parse((const char *)data, size, &in);
    if (n < 0 || n > 6)
        abort();
    const double f[] = {in.used_memory, in.maxmemory, in.connected_clients,
                        in.keyspace_hits, in.keyspace_misses, in.evicted_keys};
    int found = 0;
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (isinf(f[i]))
            abort();
        found += !isnan(f[i]);
    }
    if (found != n)
        abort();
    return 0;
}
