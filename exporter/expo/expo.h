/* Prometheus text exposition format 0.0.4: escaping and value formatting. */
#ifndef XP_EXPO_H
#define XP_EXPO_H

#include <stdint.h>

#include "base/buf.h"

/* Label values escape \, " and newline; HELP text escapes \ and newline. */
void xp_expo_label_value(xp_buf *b, const char *s);
void xp_expo_help_text(xp_buf *b, const char *s);
/* "# HELP name help\n# TYPE name type\n" */
void xp_expo_header(xp_buf *b, const char *name, const char *type, const char *help);
/* Shortest text that reads back to the same double; +Inf, -Inf, NaN as Prometheus spells them. */
void xp_expo_double(xp_buf *b, double v);
void xp_expo_u64(xp_buf *b, uint64_t v);

#endif
