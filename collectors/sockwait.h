/* Waiting on a socket until a probe's deadline, for the collectors that drive their client
 * library's socket themselves (postgres, redis): the one place that polls, in the manner of
 * hiredis's redisContextWaitReady. */
#ifndef XP_SOCKWAIT_H
#define XP_SOCKWAIT_H

#include <stdatomic.h>

#include "collector.h"

typedef enum {
    XP_WAIT_READY = 0,     /* fd is ready for one of the events (or has an error to read) */
    XP_WAIT_TIMEOUT = 1,   /* the deadline passed first */
    XP_WAIT_CANCELLED = 2, /* *cancel became non-zero: the exporter is stopping */
    XP_WAIT_ERROR = 3,     /* poll() failed or fd is not a socket; errno says why */
} xp_wait_result;

/* Waits until fd is ready for `events` (POLLIN, POLLOUT or both), the xp_clock_mono() time
 * `deadline` passes, or *cancel (may be NULL) becomes non-zero, whichever comes first. It
 * polls in slices short enough to notice cancellation within 100 ms; EINTR only shortens a
 * slice. */
xp_wait_result xp_sock_wait(int fd, short events, double deadline, const atomic_int *cancel);

/* Records a wait that did not end READY as the probe's failure: "timed out after 1.0s
 * waiting for PING" (reason timeout), "cancelled waiting for PING", "poll failed waiting for
 * PING: ..." (reason connect). `doing` says what the probe was doing; `start` is when the
 * probe began. Returns -1. */
int xp_sock_wait_fail(xp_probe *p, xp_wait_result w, const char *doing, double start);

#endif
