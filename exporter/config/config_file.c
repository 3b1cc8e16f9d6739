#include "config/config_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int xp_cfg_read_file(const char *path, size_t max, char **out, size_t *len, char *err,
                     size_t errlen) {
    /* O_NONBLOCK so a FIFO named by mistake fails below instead of hanging the loader. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        close(fd);
        return -1;
    }
    if ((unsigned long long)st.st_size > max) {
        snprintf(err, errlen, "larger than %zu bytes", max);
        close(fd);
        return -1;
    }
    /* One byte past the limit tells a file that grew since fstat from one that did not. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s", strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            if (cap > max) {
                snprintf(err, errlen, "larger than %zu bytes", max);
                free(buf);
                close(fd);
                return -1;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                free(buf);
                close(fd);
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

char *xp_cfg_read_secret(const char *path, char *err, size_t errlen) {
    char *buf;
    size_t n;
    char why[128];
    if (xp_cfg_read_file(path, XP_SECRET_FILE_MAX, &buf, &n, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, why);
        return NULL;
    }
    if (memchr(buf, '\0', n)) {
        snprintf(err, errlen, "cannot use %s: it contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    if (n && buf[n - 1] == '\n') {
        buf[--n] = '\0';
        if (n && buf[n - 1] == '\r')
            buf[--n] = '\0';
    }
    return buf;
}

char *xp_cfg_resolve_path(const char *base_dir, const char *path) {
    if (path[0] == '/' || !base_dir || !*base_dir || strcmp(base_dir, ".") == 0)
        return strdup(path);
    char *out;
    if (asprintf(&out, "%s/%s", base_dir, path) < 0)
        return NULL;
    return out;
}

char *xp_cfg_dirname(const char *file) {
    const char *slash = strrchr(file, '/');
    if (!slash)
        return strdup(".");
    if (slash == file)
        return strdup("/");
    return strndup(file, (size_t)(slash - file));
}
