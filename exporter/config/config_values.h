/* Parsers for single config values. Each returns 0 or -1 with a message in err that never
 * quotes the value (the caller knows whether the value may be shown). */
#ifndef XP_CONFIG_VALUES_H
#define XP_CONFIG_VALUES_H

#include <stddef.h>

#include "config/config.h"

/* A finite decimal number in [min, max]. */
int xp_cfg_parse_number(const char *s, double min, double max, double *out);
/* A decimal whole number in [min, max]. */
int xp_cfg_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
/* "1:degraded, 2:limited": counts >= 1, each once, stored sorted ascending. Empty = none. */
int xp_cfg_parse_cascade(const char *s, xp_degradation_cfg *d, char *err, size_t errlen);
/* $2a$, $2b$ or $2y$, two-digit cost, '$', 53 characters of bcrypt's base64. */
int xp_cfg_bcrypt_shaped(const char *s);
/* Non-empty, [A-Za-z0-9_.-] only: names become label values. */
int xp_cfg_valid_name(const char *s);
/* HOST:PORT, [V6]:PORT or :PORT with PORT in 1..65535. */
int xp_cfg_valid_listen_address(const char *s);

#endif
