/* The status page's score and level history (exporter/model/history.c): buckets keep the
 * worst of what they saw, a full ring drops the oldest, and a span is read with the bucket
 * that held its value into it. A fake clock: the times are whatever the test says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model/history.h"

static xp_history h;
static xp_history_slot out[XP_HISTORY_SLOTS + 1];

static void buckets_keep_the_worst(void **state)
{
    xp_history_init(&h, 10);
    xp_history_add(&h, 1000.5, 100, 0);
    xp_history_add(&h, 1003, 60, 2); /* a dip inside the bucket */
    xp_history_add(&h, 1009.9, 95, 0);
    assert_int_equal(h.n, 1);
    size_t n = xp_history_since(&h, 0, out, XP_HISTORY_SLOTS);
    assert_int_equal(n, 1);
    assert_true(out[0].start == 1000);
    assert_true(out[0].score_min == 60);
    assert_true(out[0].score_last == 95);
    assert_int_equal(out[0].level_max, 2);
    xp_history_add(&h, 1010, 80, 1); /* the next bucket */
    xp_history_add(&h, 1055, 70, 1); /* a gap: nothing stored for the buckets between */
    n = xp_history_since(&h, 0, out, XP_HISTORY_SLOTS);
    assert_int_equal(n, 3);
    assert_true(out[1].start == 1010 && out[2].start == 1050);
    /* A clock that did not move (or went back) lands in the newest bucket. */
    xp_history_add(&h, 1040, 10, 4);
    n = xp_history_since(&h, 0, out, XP_HISTORY_SLOTS);
    assert_int_equal(n, 3);
    assert_true(out[2].score_min == 10 && out[2].level_max == 4);
}

static void full_ring_drops_the_oldest(void **state)
{
    xp_history_init(&h, 10);
    for (int i = 0; i < XP_HISTORY_SLOTS + 40; i++)
        xp_history_add(&h, i * 10.0, i % 101, i % 5);
    assert_int_equal(h.n, XP_HISTORY_SLOTS);
    size_t n = xp_history_since(&h, 0, out, XP_HISTORY_SLOTS + 1);
    assert_int_equal(n, XP_HISTORY_SLOTS);
    assert_true(out[0].start == 400); /* the first 40 went */
    for (size_t i = 1; i < n; i++)
        assert_true(out[i].start == out[i - 1].start + 10); /* oldest first */
    assert_true(out[n - 1].start == (XP_HISTORY_SLOTS + 39) * 10.0);
}

static void span_with_the_bucket_before(void **state)
{
    xp_history_init(&h, 10);
    xp_history_add(&h, 0, 50, 3);   /* long before the span: its value held until 100 */
    xp_history_add(&h, 100, 90, 0);
    xp_history_add(&h, 3700, 70, 1);
    size_t n = xp_history_since(&h, 3605, out, XP_HISTORY_SLOTS);
    assert_int_equal(n, 2); /* the bucket at 100 held into the span, then 3700 */
    assert_true(out[0].start == 100 && out[1].start == 3700);
    n = xp_history_since(&h, 5000, out, XP_HISTORY_SLOTS);
    assert_int_equal(n, 1); /* nothing in the span: the last bucket still says the value */
    assert_true(out[0].start == 3700);
    n = xp_history_since(&h, 0, out, 2); /* cap respected */
    assert_int_equal(n, 2);
    xp_history_init(&h, 0); /* a bad period falls back to 10 s */
    assert_true(h.period == 10);
    assert_int_equal(xp_history_since(&h, 0, out, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buckets_keep_the_worst),
        cmocka_unit_test(full_ring_drops_the_oldest),
        cmocka_unit_test(span_with_the_bucket_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
