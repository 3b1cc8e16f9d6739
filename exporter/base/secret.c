#include "base/secret.h"

#include <string.h>

void xp_secret_scrub(char *text, const char *secret, size_t len)
{
    static const char mask[] = "<redacted>";
    const size_t m = sizeof(mask) - 1;
    if (!len)
        return;
    char *from = text, *at;
    while ((at = memmem(from, strlen(from), secret, len)) != NULL) {
        if (len >= m) {
            memcpy(at, mask, m);
            memmove(at + m, at + len, strlen(at + len) + 1);
            from = at + m;
        } else {
            memset(at, '*', len);
            from = at + len;
        }
    }
}

static int is_secret_key(const char *key, size_t klen, const char *const *secret_keys)
{
    for (const char *const *k = secret_keys; k && *k; k++)
        if (strlen(*k) == klen && strncmp(*k, key, klen) == 0)
            return 1;
    return 0;
}

void xp_secret_scrub_settings(char *text, const char *settings, const char *const *secret_keys)
{
    for (const char *p = settings; p && *p;) {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq && is_secret_key(p, (size_t)(eq - p), secret_keys))
            xp_secret_scrub(text, eq + 1, (size_t)(end - eq - 1));
        p = nl ? nl + 1 : end;
    }
}
