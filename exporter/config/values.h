/* Parsers and checks for single config values, pure functions of the text. Error texts
 * (why) never quote the value: the caller knows whether it may be shown. */
#ifndef XP_CONFIG_VALUES_H
#define XP_CONFIG_VALUES_H

#include <stddef.h>

#define XP_DURATION_MAX (30 * 24 * 3600.0) /* SPEC section 4: at most 30 days */
#define XP_COUNT_MAX 1000000u              /* SPEC section 4: counts at most 1,000,000 */

/* A finite decimal number in [min, max]. 0 = ok. */
int xp_cfg_parse_number(const char *s, double min, double max, double *out);
/* A decimal whole number in [min, max]. */
int xp_cfg_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
/* "50%" or "50", 0 < p <= 100, as the fraction 0.5. */
int xp_cfg_parse_percent(const char *s, double *fraction);
int xp_cfg_parse_bool(const char *s, int *out);
/* "a, b": distinct names, each xp_cfg_valid_name; *out becomes "a,b" (malloc'd; "" for an
 * empty list). */
int xp_cfg_parse_list(const char *s, char **out, char *why, size_t whylen);
/* A PARSE key: "1:degraded, 2:limited" into the xp_degradation_cfg at field, counts >= 1,
 * each once, sorted ascending. Empty = no cascade. */
int xp_cfg_parse_cascade(const char *s, void *field, char *why, size_t whylen);

/* Non-empty, [A-Za-z0-9_.-] only: names become label values. */
int xp_cfg_valid_name(const char *s);
/* STRING checks (0 = ok, else why completes "KEY must be ..."). */
int xp_cfg_check_listen(const char *s, char *why, size_t whylen);
int xp_cfg_check_telemetry_path(const char *s, char *why, size_t whylen);
int xp_cfg_check_user(const char *s, char *why, size_t whylen);
int xp_cfg_check_bcrypt(const char *s, char *why, size_t whylen);

#endif
