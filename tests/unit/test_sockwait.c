/* The one wait-until-deadline of the collectors that drive a socket (collectors/sockwait.c),
 * on a local socket pair: ready, deadline, cancellation, a bad descriptor, and the failure it
 * records (text and reason). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/clock.h"
#include "sockwait.h"

static void ready_for_write_and_read(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    double deadline = xp_clock_mono() + 5;
    /* An empty buffer takes writes at once; nothing to read yet. */
    assert_int_equal(xp_sock_wait(sv[0], POLLOUT, deadline, NULL), XP_WAIT_READY);
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(xp_sock_wait(sv[0], POLLIN, deadline, NULL), XP_WAIT_READY);
    /* The peer hanging up counts as ready: the read that follows says what happened. */
    char c;
    assert_int_equal(read(sv[0], &c, 1), 1);
    close(sv[1]);
    assert_int_equal(xp_sock_wait(sv[0], POLLIN, deadline, NULL), XP_WAIT_READY);
    close(sv[0]);
}

static void deadline_passes(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    double deadline = xp_clock_mono() + 0.05;
    assert_int_equal(xp_sock_wait(sv[0], POLLIN, deadline, NULL), XP_WAIT_TIMEOUT);
    assert_true(xp_clock_mono() >= deadline); /* never gives up early */
    /* A deadline already past: no wait at all, even on a ready socket. */
    assert_int_equal(xp_sock_wait(sv[0], POLLOUT, xp_clock_mono() - 1, NULL), XP_WAIT_TIMEOUT);
    close(sv[0]);
    close(sv[1]);
}

static void *cancel_later(void *arg)
{
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    atomic_store((atomic_int *)arg, 1);
    return NULL;
}

static void cancel_ends_the_wait(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    atomic_int cancel = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, cancel_later, &cancel), 0);
    /* A silent socket and a distant deadline: only the flag can end this. */
    assert_int_equal(xp_sock_wait(sv[0], POLLIN, xp_clock_mono() + 60, &cancel),
                     XP_WAIT_CANCELLED);
    pthread_join(t, NULL);
    /* Already set: returns before looking at the socket. */
    assert_int_equal(xp_sock_wait(sv[0], POLLOUT, xp_clock_mono() + 60, &cancel),
                     XP_WAIT_CANCELLED);
    close(sv[0]);
    close(sv[1]);
}

static void bad_descriptor(void **state)
{
    assert_int_equal(xp_sock_wait(-1, POLLIN, xp_clock_mono() + 60, NULL), XP_WAIT_ERROR);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[0]);
    close(sv[1]);
    /* A closed descriptor (POLLNVAL) is an error at once, not a wait for the deadline. */
    assert_int_equal(xp_sock_wait(sv[0], POLLIN, xp_clock_mono() + 60, NULL), XP_WAIT_ERROR);
}

static void failures_recorded(void **state)
{
    xp_probe p;
    memset(&p, 0, sizeof(p));
    double start = xp_clock_mono();
    assert_int_equal(xp_sock_wait_fail(&p, XP_WAIT_TIMEOUT, "waiting for PING", start), -1);
    assert_int_equal(p.reason, XP_REASON_TIMEOUT);
    assert_non_null(strstr(p.err, "timed out after "));
    assert_non_null(strstr(p.err, "s waiting for PING"));
    errno = ECONNRESET;
    assert_int_equal(xp_sock_wait_fail(&p, XP_WAIT_ERROR, "connecting", start), -1);
    assert_int_equal(p.reason, XP_REASON_CONNECT);
    assert_string_equal(p.err, "poll failed connecting: Connection reset by peer");
    assert_int_equal(xp_sock_wait_fail(&p, XP_WAIT_CANCELLED, "connecting", start), -1);
    assert_string_equal(p.err, "cancelled connecting");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ready_for_write_and_read), cmocka_unit_test(deadline_passes),
        cmocka_unit_test(cancel_ends_the_wait),     cmocka_unit_test(bad_descriptor),
        cmocka_unit_test(failures_recorded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
