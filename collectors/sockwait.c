#include "sockwait.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <string.h>

#include "base/clock.h"

/* Longest single poll(), so a stop request is seen this soon even on a silent socket. */
#define SOCKWAIT_SLICE_MS 100

xp_wait_result xp_sock_wait(int fd, short events, double deadline, const atomic_int *cancel)
{
    if (fd < 0) { /* poll() would silently ignore it and wait out the deadline */
        errno = EBADF;
        return XP_WAIT_ERROR;
    }
    for (;;) {
        if (cancel && atomic_load(cancel))
            return XP_WAIT_CANCELLED;
        double left = deadline - xp_clock_mono();
        if (left <= 0)
            return XP_WAIT_TIMEOUT;
        int ms = left * 1000 < SOCKWAIT_SLICE_MS ? (int)ceil(left * 1000) : SOCKWAIT_SLICE_MS;
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, ms);
        if (rc > 0) {
            if (pfd.revents & POLLNVAL) {
                errno = EBADF;
                return XP_WAIT_ERROR;
            }
            /* POLLERR and POLLHUP count as ready: the read or write that follows reports the
             * error with its own words (refused, reset), which say more than poll() can. */
            return XP_WAIT_READY;
        }
        if (rc < 0 && errno != EINTR)
            return XP_WAIT_ERROR;
    }
}

int xp_sock_wait_fail(xp_probe *p, xp_wait_result w, const char *doing, double start)
{
    switch (w) {
    case XP_WAIT_TIMEOUT:
        return xp_probe_fail(p, XP_REASON_TIMEOUT, "timed out after %.1fs %s",
                             xp_clock_mono() - start, doing);
    case XP_WAIT_CANCELLED:
        /* The core discards a cancelled probe's result; the reason is only for completeness. */
        return xp_probe_fail(p, XP_REASON_TIMEOUT, "cancelled %s", doing);
    default: {
        int e = errno;
        return xp_probe_fail(p, XP_REASON_CONNECT, "poll failed %s: %s", doing, strerror(e));
    }
    }
}
