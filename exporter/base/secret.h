/* Keeping secrets out of text that leaves the process: error texts shown in /health, the
 * status page, logs, --config.check and reload answers. */
#ifndef XP_SECRET_H
#define XP_SECRET_H

#include <stddef.h>

/* What every secret becomes, whatever its length: a mask as long as the secret would tell
 * its length. */
#define XP_SECRET_MARK "<redacted>"
/* A secret shorter than this is replaced only where it stands as a whole token (no letter or
 * digit next to it), where it can be an echo: a test's password "a" must not turn
 * "localhost" into "loc<redacted>lhost". A longer one is replaced wherever it appears. */
#define XP_SECRET_SHORT 8

/* Replaces every occurrence of any of the n secrets in text (a string in a buffer of cap
 * bytes), longest match first, and cuts the result to fit cap. Empty secrets are ignored. */
void xp_secret_scrub_all(char *text, size_t cap, const char *const *secrets, size_t n);
/* The same from src (a string of any length) into dst, cut to fit cap after the scrub. */
void xp_secret_scrub_copy(char *dst, size_t cap, const char *src, const char *const *secrets,
                          size_t n);
void xp_secret_scrub(char *text, size_t cap, const char *secret);

/* Calls found(user, p, len) for every password written inside value: the userinfo of a URL
 * (scheme://user:PW@host, ":PW@" too) and every password=PW of a libpq conninfo or URL query
 * string; as written, and %-decoded too when that differs (a library may echo either).
 * Returns 0, or -1 as soon as found does (or an allocation fails). */
int xp_secret_embedded(const char *value, int (*found)(void *user, const char *p, size_t len),
                       void *user);

#endif
