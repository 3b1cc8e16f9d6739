/* One line per event on stderr, logfmt or JSON. Callers pass key/value pairs ending in NULL;
 * values are quoted and escaped here. Never pass a secret. */
#ifndef XP_LOG_H
#define XP_LOG_H

enum { XP_LOG_DEBUG, XP_LOG_INFO, XP_LOG_WARN, XP_LOG_ERROR };
enum { XP_LOG_LOGFMT, XP_LOG_JSON };

int xp_log_level_parse(const char *s);  /* -1 if unknown */
int xp_log_format_parse(const char *s); /* -1 if unknown */
const char *xp_log_level_name(int level);
void xp_log_setup(int level, int format);
int xp_log_enabled(int level);
/* xp_log(XP_LOG_WARN, "database", "breaker opened", "from", "closed", "to", "open", NULL);
 * dependency may be NULL. */
void xp_log(int level, const char *dependency, const char *msg, ...) __attribute__((sentinel));
/* For tests: render a line into buf instead of writing it. Returns its length. */
int xp_log_format_line(char *buf, unsigned size, int level, const char *dependency,
                       const char *msg, const char *const *kv, unsigned nkv);

#endif
