/* The rate limit (exporter/web/ratelimit.c) with a fake clock: a bucket of N per PERIOD per
 * address, the Retry-After it gives, and a table whose memory stays fixed however many
 * addresses come, without letting a crowd of new addresses free a throttled one for long. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "web/ratelimit.h"

static const unsigned char A[4] = {10, 0, 0, 1}, B[4] = {10, 0, 0, 2};

static void bucket_of_n_per_period(void **state)
{
    xp_ratelimit *rl = xp_ratelimit_new(64);
    assert_non_null(rl);
    assert_int_equal(xp_ratelimit_take(rl, A, 4, 0), 0); /* off by default */
    xp_ratelimit_configure(rl, 100, 60); /* the staging stack's 100 per 60 s */
    double t = 1000;
    for (int i = 0; i < 100; i++)
        assert_int_equal(xp_ratelimit_take(rl, A, 4, t), 0);
    /* The 101st: one token comes back every 0.6 s: retry in 1 s. */
    assert_int_equal(xp_ratelimit_take(rl, A, 4, t), 1);
    assert_int_equal(xp_ratelimit_take(rl, B, 4, t), 0); /* another address has its own */
    t += 0.6;
    assert_int_equal(xp_ratelimit_take(rl, A, 4, t), 0);
    assert_int_equal(xp_ratelimit_take(rl, A, 4, t), 1);
    /* A refused request takes nothing: after 60 s of nothing, 100 again (never more). */
    t += 600;
    for (int i = 0; i < 100; i++)
        assert_int_equal(xp_ratelimit_take(rl, A, 4, t), 0);
    assert_int_not_equal(xp_ratelimit_take(rl, A, 4, t), 0);
    xp_ratelimit_free(rl);
}

static void retry_after_in_whole_seconds(void **state)
{
    xp_ratelimit *rl = xp_ratelimit_new(64);
    xp_ratelimit_configure(rl, 2, 60); /* a token every 30 s */
    assert_int_equal(xp_ratelimit_take(rl, A, 4, 0), 0);
    assert_int_equal(xp_ratelimit_take(rl, A, 4, 0), 0);
    assert_int_equal(xp_ratelimit_take(rl, A, 4, 0), 30);
    assert_int_equal(xp_ratelimit_take(rl, A, 4, 10.5), 20); /* 19.5 s left: rounded up */
    assert_int_equal(xp_ratelimit_take(rl, A, 4, 30), 0);
    /* A long period: 1 per day. */
    xp_ratelimit_configure(rl, 1, 86400);
    assert_int_equal(xp_ratelimit_take(rl, A, 4, 0), 0);
    assert_int_equal(xp_ratelimit_take(rl, A, 4, 0), 86400);
    /* Turned off again: everything passes. */
    xp_ratelimit_configure(rl, 0, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(xp_ratelimit_take(rl, A, 4, 0), 0);
    xp_ratelimit_free(rl);
}

static void ipv6_and_ipv4_are_distinct(void **state)
{
    xp_ratelimit *rl = xp_ratelimit_new(64);
    xp_ratelimit_configure(rl, 1, 60);
    unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, v6b[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
    assert_int_equal(xp_ratelimit_take(rl, v6, 16, 0), 0);
    assert_int_not_equal(xp_ratelimit_take(rl, v6, 16, 0), 0);
    assert_int_equal(xp_ratelimit_take(rl, v6b, 16, 0), 0);
    assert_int_equal(xp_ratelimit_take(rl, v6, 4, 0), 0); /* its first 4 bytes as IPv4: another */
    xp_ratelimit_free(rl);
}

/* A million source addresses: the table keeps its size; and a throttled address among them is
 * still throttled, because full buckets (idle addresses) are evicted first. */
static void memory_bounded_and_throttled_kept(void **state)
{
    xp_ratelimit *rl = xp_ratelimit_new(1024);
    size_t cap = xp_ratelimit_capacity(rl);
    assert_true(cap >= 1024 && cap < 4096);
    xp_ratelimit_configure(rl, 5, 60);
    double t = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(xp_ratelimit_take(rl, A, 4, t), 0);
    assert_int_not_equal(xp_ratelimit_take(rl, A, 4, t), 0);
    /* A crowd of one-request addresses (each keeps 4 of 5 tokens), slowly, so their buckets
     * refill to full: A's bucket is still the emptiest of its set. */
    for (uint32_t i = 0; i < 1000000; i++) {
        unsigned char x[4] = {172, (unsigned char)(i >> 16), (unsigned char)(i >> 8), (unsigned char)i};
        t += 1e-6;
        xp_ratelimit_take(rl, x, 4, t);
        assert_true((i % 65536) != 0 || xp_ratelimit_tracked(rl) <= cap);
    }
    assert_true(xp_ratelimit_tracked(rl) <= cap);
    assert_int_not_equal(xp_ratelimit_take(rl, A, 4, t), 0); /* 1 s later: still no token */
    xp_ratelimit_free(rl);
}

/* Past the table, the address forgotten is one whose bucket is full: a fresh bucket is no
 * gift to it. */
static void a_full_bucket_goes_first(void **state)
{
    xp_ratelimit *rl = xp_ratelimit_new(8); /* one set of 8 */
    assert_int_equal(xp_ratelimit_capacity(rl), 8);
    xp_ratelimit_configure(rl, 3, 60);
    unsigned char addr[12][4];
    for (int i = 0; i < 12; i++)
        memcpy(addr[i], (unsigned char[4]){192, 0, 2, (unsigned char)i}, 4);
    for (int i = 0; i < 7; i++) /* seven addresses spend their three tokens */
        for (int k = 0; k < 3; k++)
            assert_int_equal(xp_ratelimit_take(rl, addr[i], 4, 0), 0);
    assert_int_equal(xp_ratelimit_take(rl, addr[7], 4, 0), 0); /* the 8th: two left */
    /* 60 s on, nobody came back: every bucket is full again. New addresses take their place. */
    for (int i = 8; i < 12; i++)
        assert_int_equal(xp_ratelimit_take(rl, addr[i], 4, 60), 0);
    assert_int_equal(xp_ratelimit_tracked(rl), 8);
    /* Throttled ones are kept while idle ones exist: 0..6 throttled again at 61 s... */
    xp_ratelimit_configure(rl, 0, 0);
    xp_ratelimit_configure(rl, 3, 60);
    for (int i = 0; i < 7; i++)
        for (int k = 0; k < 3; k++)
            xp_ratelimit_take(rl, addr[i], 4, 100);
    xp_ratelimit_take(rl, addr[7], 4, 100); /* one spent, two left: the fullest */
    /* ...a new address evicts addr[7], not a throttled one. */
    assert_int_equal(xp_ratelimit_take(rl, addr[8], 4, 100), 0);
    for (int i = 0; i < 7; i++)
        assert_int_not_equal(xp_ratelimit_take(rl, addr[i], 4, 100), 0);
    xp_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_of_n_per_period),
        cmocka_unit_test(retry_after_in_whole_seconds),
        cmocka_unit_test(ipv6_and_ipv4_are_distinct),
        cmocka_unit_test(memory_bounded_and_throttled_kept),
        cmocka_unit_test(a_full_bucket_goes_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
