/* The socket watchdog (collectors/sockguard.c) on real loopback TCP connections: it ends a
 * blocked read at its deadline and once more than its cap has arrived, leaves a socket alone
 * once disarmed, follows the library to a new socket, and never touches a descriptor number
 * that the library closed and the process handed to another socket. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/clock.h"
#include "sockguard.h"

/* A connected loopback pair: *client and *server. */
static void tcp_pair(int *client, int *server)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*client >= 0);
    assert_int_equal(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
    *server = accept(l, NULL, NULL);
    assert_true(*server >= 0);
    close(l);
}

/* A blocking read, as libpq's loop does; a bounded SO_RCVTIMEO keeps a broken guard from
 * hanging the test (it then fails on the returned EAGAIN). */
static ssize_t read_blocking(int fd, char *buf, size_t len)
{
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return recv(fd, buf, len, 0);
}

static void deadline_ends_a_blocked_read(void **state)
{
    int c, s;
    tcp_pair(&c, &s);
    xp_sock_guard g;
    xp_sock_guard_init(&g, xp_clock_mono() + 0.05, 1 << 20);
    assert_int_equal(xp_sock_guard_watch(&g, c), 0);
    char buf[16];
    assert_int_equal(read_blocking(c, buf, sizeof(buf)), 0); /* end-of-file, not EAGAIN */
    assert_int_equal(xp_sock_guard_disarm(&g), XP_GUARD_DEADLINE);
    close(c);
    close(s);
}

static void cap_ends_a_stream(void **state)
{
    int c, s;
    tcp_pair(&c, &s);
    xp_sock_guard g;
    xp_sock_guard_init(&g, xp_clock_mono() + 60, 64 * 1024);
    assert_int_equal(xp_sock_guard_watch(&g, c), 0);
    /* 256 KB arrive (sent without blocking: the peer's buffers hold it), nobody reads. */
    static char chunk[16384];
    size_t sent = 0;
    while (sent < 256 * 1024) {
        ssize_t n = send(s, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        assert_true(n > 0);
        sent += (size_t)n;
    }
    assert_true(sent > 64 * 1024);
    assert_true(xp_sock_bytes_received(c) > 64 * 1024);
    /* Reads drain what was queued, then meet the shutdown. */
    char buf[65536];
    ssize_t n;
    while ((n = read_blocking(c, buf, sizeof(buf))) > 0)
        ;
    assert_true(n == 0 || errno == ECONNRESET);
    assert_int_equal(xp_sock_guard_disarm(&g), XP_GUARD_SIZE);
    close(c);
    close(s);
}

static void disarmed_socket_is_left_alone(void **state)
{
    int c, s;
    tcp_pair(&c, &s);
    xp_sock_guard g;
    xp_sock_guard_init(&g, xp_clock_mono() + 0.02, 1 << 20);
    assert_int_equal(xp_sock_guard_watch(&g, c), 0);
    assert_int_equal(xp_sock_guard_watch(&g, c), 0); /* same socket: nothing changes */
    assert_int_equal(xp_sock_guard_disarm(&g), XP_GUARD_NONE);
    assert_int_equal(xp_sock_guard_disarm(&g), XP_GUARD_NONE); /* idempotent */
    usleep(60 * 1000);                                         /* well past the deadline */
    assert_int_equal(send(s, "ping", 4, 0), 4);
    char buf[8];
    assert_int_equal(read_blocking(c, buf, sizeof(buf)), 4);
    assert_int_equal(xp_sock_guard_disarm(NULL), XP_GUARD_NONE);
    close(c);
    close(s);
}

static void follows_a_reconnect_and_spares_reused_numbers(void **state)
{
    int c1, s1, c2, s2;
    tcp_pair(&c1, &s1);
    xp_sock_guard g;
    xp_sock_guard_init(&g, xp_clock_mono() + 0.05, 1 << 20);
    assert_int_equal(xp_sock_guard_watch(&g, c1), 0);
    /* The library drops its connection and the number goes to an unrelated socket. */
    int number = c1;
    close(c1);
    tcp_pair(&c2, &s2);
    if (c2 != number) { /* make the reuse certain */
        assert_int_equal(dup2(c2, number), number);
        close(c2);
        c2 = number;
    }
    usleep(100 * 1000); /* the guard fires on the socket it watched, which is not c2 */
    assert_int_equal(send(s2, "ping", 4, 0), 4);
    char buf[8];
    assert_int_equal(read_blocking(c2, buf, sizeof(buf)), 4);
    /* Asked to watch the new socket under the old number, it notices and follows. */
    assert_int_equal(xp_sock_guard_watch(&g, c2), 0);
    assert_int_equal(read_blocking(c2, buf, sizeof(buf)), 0);
    assert_int_equal(xp_sock_guard_disarm(&g), XP_GUARD_DEADLINE);
    close(c2);
    close(s1);
    close(s2);
}

static void unix_socket_has_no_byte_count(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(xp_sock_bytes_received(sv[0]), -1);
    assert_int_equal(xp_sock_bytes_received(-1), -1);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deadline_ends_a_blocked_read),
        cmocka_unit_test(cap_ends_a_stream),
        cmocka_unit_test(disarmed_socket_is_left_alone),
        cmocka_unit_test(follows_a_reconnect_and_spares_reused_numbers),
        cmocka_unit_test(unix_socket_has_no_byte_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
