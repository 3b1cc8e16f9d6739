#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m)                ? " (a FIFO)"
           : S_ISDIR(m)               ? " (a directory)"
           : S_ISCHR(m) || S_ISBLK(m) ? " (a device)"
           : S_ISSOCK(m)              ? " (a socket)"
                                      : "";
}

static int file_fail(int fd, char *buf, size_t n, char *why, size_t whylen, const char *reason)
{
    snprintf(why, whylen, "%s", reason);
    xp_file_free(buf, n);
    if (fd >= 0)
        close(fd);
    return -1;
}

int xp_file_read(const char *path, size_t max, char **out, size_t *len, char *why, size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    char msg[64];
    if (fd < 0 || fstat(fd, &st) != 0)
        return file_fail(fd, NULL, 0, why, whylen, strerror(errno));
    if (!S_ISREG(st.st_mode)) {
        snprintf(msg, sizeof(msg), "not a regular file%s", file_kind(st.st_mode));
        return file_fail(fd, NULL, 0, why, whylen, msg);
    }
    snprintf(msg, sizeof(msg), "larger than %zu bytes", max);
    if ((unsigned long long)st.st_size > max)
        return file_fail(fd, NULL, 0, why, whylen, msg);
    /* One byte past the size tells a file that grew since fstat from one that did not. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return file_fail(fd, NULL, 0, why, whylen, "out of memory");
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return file_fail(fd, buf, n, why, whylen, strerror(errno));
        if (r == 0)
            break;
        n += (size_t)r;
        if (n < cap)
            continue;
        if (cap > max)
            return file_fail(fd, buf, n, why, whylen, msg);
        size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
        char *nb = malloc(ncap + 1); /* not realloc: the old copy is wiped, not left behind */
        if (!nb)
            return file_fail(fd, buf, n, why, whylen, "out of memory");
        memcpy(nb, buf, n);
        xp_file_free(buf, n);
        buf = nb;
        cap = ncap;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

char *xp_file_read_secret(const char *path, size_t max, char *why, size_t whylen)
{
    char *buf, reason[128];
    size_t n;
    if (xp_file_read(path, max, &buf, &n, reason, sizeof(reason)) != 0) {
        snprintf(why, whylen, "cannot read %s: %s", path, reason);
        return NULL;
    }
    if (memchr(buf, '\0', n)) {
        snprintf(why, whylen, "cannot use %s: it contains a NUL byte", path);
        xp_file_free(buf, n);
        return NULL;
    }
    if (n && buf[n - 1] == '\n') {
        buf[--n] = '\0';
        if (n && buf[n - 1] == '\r')
            buf[--n] = '\0';
    }
    return buf;
}

void xp_file_free(char *data, size_t len)
{
    if (!data)
        return;
    explicit_bzero(data, len); /* a plain memset before free may be optimised away */
    free(data);
}
