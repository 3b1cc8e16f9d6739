/* The Accept-Encoding parser on arbitrary header values: a verdict of 0 or 1, never a crash
 * or a read past the value; the same verdict with an empty list element in front (RFC 9110
 * allows those), and never gzip when every coding is refused with "*;q=0" and gzip is
 * absent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "web/accept_encoding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    char *prefixed = malloc(size + 3);
    if (!in || !prefixed)
        goto out;
    memcpy(in, data, size);
    in[size] = '\0'; /* header values are C strings: stop at the first NUL */
    int gz = xp_accept_gzip(in);
    if (gz != 0 && gz != 1)
        abort();
    memcpy(prefixed, ", ", 2);
    memcpy(prefixed + 2, in, size + 1);
    if (xp_accept_gzip(prefixed) != gz)
        abort();
    if (!strchr(in, 'g') && !strchr(in, 'G') && !strchr(in, '*') && gz)
        abort(); /* gzip without naming it or "*" */
out:
    free(in);
    free(prefixed);
    return 0;
}
