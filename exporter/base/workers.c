#include "base/workers.h"

#include <unistd.h>

unsigned xp_http_workers(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > 4 ? 4 : (unsigned)cpus;
}
