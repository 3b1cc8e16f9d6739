/* The breaker of SPEC section 5 as version 1 had it, driven with a fake clock (plain numbers
 * for `now`): with none of the version-2 settings, these hold unchanged. The version-2 rules
 * are in test_breaker_rates.c, test_breaker_backoff.c and test_breaker_modes.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "model/breaker.h"

static xp_transition t;
static xp_window win; /* the window of the breaker under test; one test at a time */

/* Only the settings version 1 had; every other one unset. */
static void init(xp_breaker *b, unsigned failure_threshold, double recovery_timeout,
                 unsigned half_open_requests)
{
    xp_window_free(&win);
    xp_breaker_cfg c = {.failure_threshold = failure_threshold,
                        .recovery_timeout = recovery_timeout,
                        .half_open_requests = half_open_requests};
    assert_int_equal(xp_breaker_init(b, &win, &c), 0);
}

static void rec(xp_breaker *b, int success, double now)
{
    xp_breaker_record(b, &win, success ? XP_CALL_SUCCESS : XP_CALL_FAILURE, 0.001, now, &t);
}

static void fail_n(xp_breaker *b, int n, double now)
{
    for (int i = 0; i < n; i++) {
        assert_true(xp_breaker_allow(b, now, &t));
        rec(b, 0, now);
    }
}

static void opens_on_exactly_the_threshold(void **state)
{
    xp_breaker b;
    init(&b, 3, 20, 1);
    fail_n(&b, 2, 0);
    assert_int_equal(b.state, XP_CLOSED);
    assert_int_equal(b.consecutive_failures, 2);
    assert_true(xp_breaker_allow(&b, 1, &t));
    rec(&b, 0, 1);
    assert_int_equal(t, XP_T_CLOSED_OPEN);
    assert_int_equal(b.state, XP_OPEN);
    assert_int_equal(b.transitions[XP_T_CLOSED_OPEN], 1);
    assert_int_equal(b.calls[XP_CALL_FAILURE], 3);
}

static void success_resets_the_count(void **state)
{
    xp_breaker b;
    init(&b, 3, 20, 1);
    fail_n(&b, 2, 0);
    rec(&b, 1, 0);
    assert_int_equal(b.consecutive_failures, 0);
    fail_n(&b, 2, 0);
    assert_int_equal(b.state, XP_CLOSED); /* 2 + 2 failures, never 3 in a row */
    assert_int_equal(b.calls[XP_CALL_SUCCESS], 1);
    assert_int_equal(b.calls[XP_CALL_FAILURE], 4);
}

static void open_rejects_ticks_until_recovery(void **state)
{
    xp_breaker b;
    init(&b, 1, 20, 1);
    fail_n(&b, 1, 100);
    assert_int_equal(b.state, XP_OPEN);
    for (double now = 110; now < 120; now += 5)
        assert_false(xp_breaker_allow(&b, now, &t));
    assert_int_equal(b.calls[XP_CALL_REJECTED], 2);
    assert_false(xp_breaker_allow(&b, 119.999, &t));
    assert_int_equal(b.state, XP_OPEN);
    assert_int_equal(b.calls[XP_CALL_REJECTED], 3);
}

static void half_open_exactly_at_recovery_timeout(void **state)
{
    xp_breaker b;
    init(&b, 1, 20, 1);
    fail_n(&b, 1, 100);
    assert_true(xp_breaker_allow(&b, 120, &t));
    assert_int_equal(t, XP_T_OPEN_HALF_OPEN);
    assert_int_equal(b.state, XP_HALF_OPEN);
    assert_int_equal(b.calls[XP_CALL_REJECTED], 0);
}

static void n_trial_successes_close_it(void **state)
{
    xp_breaker b;
    init(&b, 2, 10, 3);
    fail_n(&b, 2, 0);
    assert_true(xp_breaker_allow(&b, 10, &t));
    for (int i = 0; i < 2; i++) {
        rec(&b, 1, 10 + i);
        assert_int_equal(t, XP_T_NONE);
        assert_int_equal(b.state, XP_HALF_OPEN);
        /* Failures keep counting until the breaker is CLOSED again. */
        assert_int_equal(b.consecutive_failures, 2);
        assert_true(xp_breaker_allow(&b, 11 + i, &t));
    }
    rec(&b, 1, 13);
    assert_int_equal(t, XP_T_HALF_OPEN_CLOSED);
    assert_int_equal(b.state, XP_CLOSED);
    assert_int_equal(b.consecutive_failures, 0);
}

static void trial_failure_reopens_and_restarts_the_timer(void **state)
{
    xp_breaker b;
    init(&b, 1, 20, 2);
    fail_n(&b, 1, 0);
    assert_true(xp_breaker_allow(&b, 20, &t));
    rec(&b, 1, 20); /* one success of two */
    assert_true(xp_breaker_allow(&b, 30, &t));
    rec(&b, 0, 30);
    assert_int_equal(t, XP_T_HALF_OPEN_OPEN);
    assert_int_equal(b.state, XP_OPEN);
    assert_int_equal(b.consecutive_failures, 2);
    assert_false(xp_breaker_allow(&b, 49.9, &t)); /* 20 s from the reopening, not the first */
    assert_true(xp_breaker_allow(&b, 50, &t));
    /* The earlier half success does not carry over: two new ones are needed. */
    rec(&b, 1, 50);
    assert_int_equal(b.state, XP_HALF_OPEN);
    rec(&b, 1, 60);
    assert_int_equal(b.state, XP_CLOSED);
}

static void all_four_transitions_counted(void **state)
{
    xp_breaker b;
    init(&b, 1, 5, 1);
    fail_n(&b, 1, 0);                 /* closed -> open */
    assert_true(xp_breaker_allow(&b, 5, &t)); /* open -> half_open */
    rec(&b, 0, 5);  /* half_open -> open */
    assert_true(xp_breaker_allow(&b, 10, &t));
    rec(&b, 1, 10); /* half_open -> closed */
    assert_int_equal(b.transitions[XP_T_CLOSED_OPEN], 1);
    assert_int_equal(b.transitions[XP_T_OPEN_HALF_OPEN], 2);
    assert_int_equal(b.transitions[XP_T_HALF_OPEN_OPEN], 1);
    assert_int_equal(b.transitions[XP_T_HALF_OPEN_CLOSED], 1);
    const char *from, *to;
    xp_transition_names(XP_T_OPEN_HALF_OPEN, &from, &to);
    assert_string_equal(from, "open");
    assert_string_equal(to, "half_open");
}

static void recovery_seconds_counts_down(void **state)
{
    xp_breaker b;
    init(&b, 1, 30, 1);
    assert_true(xp_breaker_recovery_seconds(&b, 0) == 0);
    fail_n(&b, 1, 100);
    assert_true(xp_breaker_recovery_seconds(&b, 100) == 30);
    assert_true(xp_breaker_recovery_seconds(&b, 112.5) == 17.5);
    assert_true(xp_breaker_recovery_seconds(&b, 131) == 0);
    assert_true(xp_breaker_recovery_at(&b) == 130);
    assert_true(xp_breaker_allow(&b, 130, &t));
    assert_true(xp_breaker_recovery_seconds(&b, 130) == 0); /* HALF_OPEN: no countdown */
}

static void threshold_one_and_state_names(void **state)
{
    xp_breaker b;
    init(&b, 1, 1, 1);
    fail_n(&b, 1, 0);
    assert_int_equal(b.state, XP_OPEN);
    assert_string_equal(xp_breaker_state_name(XP_CLOSED), "closed");
    assert_string_equal(xp_breaker_state_name(XP_OPEN), "open");
    assert_string_equal(xp_breaker_state_name(XP_HALF_OPEN), "half_open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opens_on_exactly_the_threshold),
        cmocka_unit_test(success_resets_the_count),
        cmocka_unit_test(open_rejects_ticks_until_recovery),
        cmocka_unit_test(half_open_exactly_at_recovery_timeout),
        cmocka_unit_test(n_trial_successes_close_it),
        cmocka_unit_test(trial_failure_reopens_and_restarts_the_timer),
        cmocka_unit_test(all_four_transitions_counted),
        cmocka_unit_test(recovery_seconds_counts_down),
        cmocka_unit_test(threshold_one_and_state_names),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xp_window_free(&win);
    return rc;
}
