/* The label value escaper: its output must hold no raw newline or unescaped quote, and must
 * read back (as Prometheus unescapes \\, \" and \n) to exactly the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "expo/expo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0'; /* label values are C strings: stop at the first NUL */
    size_t n = strlen(in);

    xp_buf b;
    xp_buf_init(&b);
    xp_expo_label_value(&b, in);
    if (xp_buf_failed(&b))
        goto out;
    char *back = malloc(b.len + 1);
    if (!back)
        goto out;
    size_t m = 0;
    for (size_t i = 0; i < b.len; i++) {
        char ch = b.data[i];
        if (ch == '\n' || ch == '"')
            abort(); /* would end the value or the line */
        if (ch == '\\') {
            if (++i >= b.len)
                abort(); /* a dangling backslash */
            ch = b.data[i] == 'n' ? '\n' : b.data[i];
            if (b.data[i] != 'n' && b.data[i] != '\\' && b.data[i] != '"')
                abort(); /* an escape Prometheus does not know */
        }
        back[m++] = ch;
    }
    if (m != n || memcmp(back, in, n) != 0)
        abort();
    free(back);
out:
    xp_buf_free(&b);
    free(in);
    return 0;
}
