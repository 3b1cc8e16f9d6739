/* Line-exact INI reading on top of inih.
 *
 * Debian's inih 55 reads into a fixed 200-byte buffer, cuts longer lines silently, gives the
 * handler no line number and treats an indented line as the continuation of the previous
 * value. This reader feeds inih one whole line at a time from memory, so it knows the line
 * number of every call, refuses lines that would not fit whole and NUL bytes, and shows each
 * raw line to the caller first (section headers and indentation are judged there). */
#ifndef XP_CONFIG_READER_H
#define XP_CONFIG_READER_H

#include <stddef.h>

/* Both callbacks return 0 to go on, or -1 to stop, keeping their message themselves. */
typedef struct xp_ini_callbacks {
    /* Every physical line before inih sees it, without its line terminator. */
    int (*line)(void *user, int lineno, const char *text, size_t len);
    /* Every key = value pair inih finds (value trimmed, inline comment removed). */
    int (*pair)(void *user, int lineno, const char *key, const char *value);
} xp_ini_callbacks;

/* 0 when every line was read and accepted; -1 when a callback refused one; -2 when the
 * reader or inih did first, with *err_line (0: none applies) and err set. */
int xp_ini_parse(const char *text, size_t len, const xp_ini_callbacks *cb, void *user,
                 int *err_line, char *err, size_t errlen);

#endif
