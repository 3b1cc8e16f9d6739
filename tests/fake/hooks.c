/* Failure injection, linked into the test build's fake binary only: each function here
 * replaces a weak default of the core that never fails.
 *
 * XP_FAKE_FAIL_RELOAD=PATH: while the file PATH exists, every reload runs out of memory
 * where the runtime prepares the switch (before anything changes). */
#include <stdlib.h>
#include <unistd.h>

#include "engine/runtime.h"

int xp_runtime_test_fail_prepare(void)
{
    const char *path = getenv("XP_FAKE_FAIL_RELOAD");
    return path && *path && access(path, F_OK) == 0;
}
