/* Reading whole files for the config loader: the config itself and *_file secrets. Error texts
 * name the path and the reason, never the contents. */
#ifndef XP_CONFIG_FILE_H
#define XP_CONFIG_FILE_H

#include <stddef.h>

#define XP_CONFIG_FILE_MAX (16u << 20)
#define XP_SECRET_FILE_MAX (64u << 10)

/* The whole regular file, NUL-terminated, at most `max` bytes. 0 = ok; else err holds the
 * reason alone ("No such file or directory"), for the caller to put after the path. */
int xp_cfg_read_file(const char *path, size_t max, char **out, size_t *len, char *err,
                     size_t errlen);
/* A secret (err: "cannot read PATH: reason"): at most XP_SECRET_FILE_MAX bytes, no NUL, one
 * trailing "\n" or "\r\n" removed. */
char *xp_cfg_read_secret(const char *path, char *err, size_t errlen);
/* path as is when absolute or base_dir is NULL, else base_dir/path. malloc'd or NULL. */
char *xp_cfg_resolve_path(const char *base_dir, const char *path);
/* The directory part of a file name ("." when none), malloc'd or NULL. */
char *xp_cfg_dirname(const char *file);

#endif
