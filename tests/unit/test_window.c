/* The outcome window behind the breaker's rates (exporter/model/window.h): the count window
 * is exact, the time window drops an outcome between 63/64 of window_time and window_time
 * after it was recorded, and neither grows with the number of outcomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "model/window.h"

static xp_outcome of(char c)
{
    return c == 'F' ? XP_OUTCOME_FAILURE : c == 's' ? XP_OUTCOME_SLOW : XP_OUTCOME_SUCCESS;
}

/* Count windows: after the script, the sums are those of its last `size` characters. */
static void count_window_is_exactly_the_last_n(void **state)
{
    static const struct {
        unsigned size;
        const char *script;
        uint32_t calls, failures, slow;
    } table[] = {
        {1, "", 0, 0, 0},
        {1, "F", 1, 1, 0},
        {1, "FS", 1, 0, 0},
        {1, "Fs", 1, 0, 1},
        {3, "FFF", 3, 3, 0},
        {3, "FFFS", 3, 2, 0},
        {3, "FFFSSS", 3, 0, 0},
        {3, "sFS", 3, 1, 1},
        {4, "FsFs", 4, 2, 2},
        {4, "FsFsS", 4, 1, 2},
        {5, "FF", 2, 2, 0},
        /* 5 bits of 2 per outcome: a slot that straddles nothing, a byte boundary at 4. */
        {5, "SSSSFFFFF", 5, 5, 0},
        {20, "FSFSFSFSFSFSFSFSFSFSFSFS", 20, 10, 0},
        {7, "sssssssFF", 7, 2, 5},
    };
    for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++) {
        xp_window w;
        assert_int_equal(xp_window_init(&w, table[k].size, 0), 0);
        for (const char *p = table[k].script; *p; p++)
            xp_window_add(&w, of(*p), (double)(p - table[k].script));
        if (w.n.calls != table[k].calls || w.n.failures != table[k].failures ||
            w.n.slow != table[k].slow)
            fail_msg("size %u, %s: %u/%u/%u, want %u/%u/%u", table[k].size, table[k].script,
                     w.n.calls, w.n.failures, w.n.slow, table[k].calls, table[k].failures,
                     table[k].slow);
        xp_window_expire(&w, 1e9); /* time means nothing to a count window */
        assert_int_equal(w.n.calls, table[k].calls);
        xp_window_clear(&w);
        assert_int_equal(w.n.calls, 0);
        xp_window_add(&w, XP_OUTCOME_FAILURE, 0); /* usable after clear */
        assert_int_equal(w.n.failures, 1);
        xp_window_free(&w);
    }
}

/* A long run against a straightforward model: the sums always match the last N. */
static void count_window_matches_a_reference(void **state)
{
    static const unsigned sizes[] = {1, 2, 3, 4, 5, 8, 9, 20, 63, 100};
    uint64_t r = 12345;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        unsigned n = sizes[k];
        xp_window w;
        assert_int_equal(xp_window_init(&w, n, 0), 0);
        xp_outcome hist[1000];
        for (int i = 0; i < 1000; i++) {
            r = r * 6364136223846793005u + 1442695040888963407u;
            hist[i] = (xp_outcome)((r >> 33) % 3);
            xp_window_add(&w, hist[i], i);
            uint32_t c = 0, f = 0, s = 0;
            for (int j = i; j >= 0 && j > i - (int)n; j--) {
                c++;
                f += hist[j] == XP_OUTCOME_FAILURE;
                s += hist[j] == XP_OUTCOME_SLOW;
            }
            if (w.n.calls != c || w.n.failures != f || w.n.slow != s)
                fail_msg("size %u after %d: %u/%u/%u, want %u/%u/%u", n, i + 1, w.n.calls,
                         w.n.failures, w.n.slow, c, f, s);
        }
        xp_window_free(&w);
    }
}

/* Time windows of 64 s: buckets of 1 s, aligned on the clock. An outcome recorded at t stays
 * while the clock is below floor(t) + 64. */
static void time_window_expiry(void **state)
{
    static const struct {
        const char *name;
        int n;
        double at[4]; /* times of the n failures recorded */
        double now;   /* expire at this time */
        uint32_t calls;
    } table[] = {
        {"just recorded", 1, {10}, 10, 1},
        {"63.99 s later, same bucket grid", 1, {10}, 73.99, 1},
        {"64 s later: gone, exactly window_time", 1, {10}, 74, 0},
        {"recorded late in its bucket: gone 63.01 s later", 1, {10.99}, 74, 0},
        {"recorded late in its bucket: kept 63 s later", 1, {10.99}, 73.99, 1},
        {"two of four gone", 4, {0, 1, 60, 63}, 65, 2},
        {"all gone after a long silence", 4, {0, 1, 60, 63}, 1e6, 0},
        {"a full turn later exactly", 4, {0, 1, 60, 63}, 127, 0},
        {"negative clock values", 2, {-5, -1.5}, 58, 2},
        {"negative clock values, one gone", 2, {-5, -1.5}, 59.5, 1},
    };
    for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++) {
        xp_window w;
        assert_int_equal(xp_window_init(&w, 20, 64), 0);
        for (int i = 0; i < table[k].n; i++)
            xp_window_add(&w, XP_OUTCOME_FAILURE, table[k].at[i]);
        xp_window_expire(&w, table[k].now);
        if (w.n.calls != table[k].calls || w.n.failures != table[k].calls)
            fail_msg("%s: %u in the window, want %u", table[k].name, w.n.calls, table[k].calls);
        xp_window_free(&w);
    }
}

/* Probes every 10 s into a 5-minute window (the staging shape): it holds 30 probes, give or
 * take the one a bucket boundary drops early; and it never holds one older than 300 s. */
static void time_window_at_probe_rate(void **state)
{
    xp_window w;
    assert_int_equal(xp_window_init(&w, 0, 300), 0);
    uint32_t least = UINT32_MAX, most = 0;
    for (int i = 0; i < 200; i++) {
        double now = 1000.0 + 10.0 * i;
        xp_window_add(&w, (i % 2) ? XP_OUTCOME_SUCCESS : XP_OUTCOME_FAILURE, now);
        if (i >= 40) {
            least = w.n.calls < least ? w.n.calls : least;
            most = w.n.calls > most ? w.n.calls : most;
        }
    }
    assert_true(least >= 29);
    assert_true(most <= 30);
    /* At 300 s the failures alternate, so the window is half failures, give or take one. */
    assert_true(w.n.failures * 2 >= w.n.calls - 1 && w.n.failures * 2 <= w.n.calls + 1);
    xp_window_free(&w);
}

/* Any number of outcomes in one window fits the same 64 buckets. */
static void time_window_many_outcomes(void **state)
{
    xp_window w;
    assert_int_equal(xp_window_init(&w, 0, 0.064), 0); /* buckets of 1 ms */
    for (int i = 0; i < 100000; i++)
        xp_window_add(&w, XP_OUTCOME_SLOW, 5.0 + i * 1e-6); /* 100 ms of 1 us probes */
    /* The last 64 ms, give or take a bucket: 63,000-64,000 outcomes. */
    assert_true(w.n.calls >= 63000 && w.n.calls <= 64001);
    assert_int_equal(w.n.slow, w.n.calls);
    assert_int_equal(w.n.failures, 0);
    xp_window_clear(&w);
    assert_int_equal(w.n.calls, 0);
    xp_window_add(&w, XP_OUTCOME_FAILURE, 0); /* after clear, any time starts afresh */
    assert_int_equal(w.n.calls, 1);
    xp_window_free(&w);
}

static void time_window_clock_going_back(void **state)
{
    xp_window w;
    assert_int_equal(xp_window_init(&w, 0, 64), 0);
    xp_window_add(&w, XP_OUTCOME_FAILURE, 100);
    xp_window_add(&w, XP_OUTCOME_SUCCESS, 50); /* kept in the newest bucket, nothing lost */
    xp_window_expire(&w, 20);
    assert_int_equal(w.n.calls, 2);
    xp_window_expire(&w, 164);
    assert_int_equal(w.n.calls, 0);
    xp_window_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(count_window_is_exactly_the_last_n),
        cmocka_unit_test(count_window_matches_a_reference),
        cmocka_unit_test(time_window_expiry),
        cmocka_unit_test(time_window_at_probe_rate),
        cmocka_unit_test(time_window_many_outcomes),
        cmocka_unit_test(time_window_clock_going_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
