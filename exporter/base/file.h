/* Reading a whole small file without ever blocking: the config, *_file secrets, TLS files. */
#ifndef XP_FILE_H
#define XP_FILE_H

#include <stddef.h>

/* The whole regular file at path, NUL-terminated, at most max bytes, into *out (malloc'd).
 * The file is opened O_NONBLOCK and must be a regular file, so a FIFO, a device or a
 * directory named by mistake is refused at once instead of hanging the caller. 0 = ok; else
 * why holds the reason alone ("No such file or directory", "not a regular file (a FIFO)"). */
int xp_file_read(const char *path, size_t max, char **out, size_t *len, char *why, size_t whylen);
/* A secret kept in a file (a *_file key): at most max bytes, no NUL, one trailing "\n" or
 * "\r\n" removed. malloc'd, or NULL with why = "cannot read PATH: reason". */
char *xp_file_read_secret(const char *path, size_t max, char *why, size_t whylen);
/* Frees a buffer from xp_file_read after overwriting it: it may hold a secret. */
void xp_file_free(char *data, size_t len);

#endif
