/* Keeping secrets out of text that leaves the process (error texts shown in /health, the
 * status page and logs). */
#ifndef XP_SECRET_H
#define XP_SECRET_H

#include <stddef.h>

/* Replaces every occurrence of secret[0..len) in text, in place, with "<redacted>" (or with
 * '*'s when the secret is shorter than that, so the text never grows). */
void xp_secret_scrub(char *text, const char *secret, size_t len);
/* Scrubs the value of every secret setting of a dependency: settings holds "key=value\n"
 * lines (xp_dep_cfg.fingerprint), secret_keys the collector's secret key names. */
void xp_secret_scrub_settings(char *text, const char *settings, const char *const *secret_keys);

#endif
