/* Recovery backoff with jitter (SPEC section 5, version 2), with a fake clock and a fake
 * random source: the n-th opening since CLOSED waits
 * min(recovery_timeout * recovery_backoff^(n-1), max_recovery_timeout) * U[1-j, 1+j]. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "model/breaker.h"

/* A scripted random source: returns the draws in order, counts the calls. */
typedef struct draws {
    const double *v;
    size_t n, next;
} draws;

static double scripted(void *state)
{
    draws *d = state;
    if (d->next >= d->n)
        fail_msg("more draws than scripted (%zu)", d->n);
    return d->v[d->next++];
}

static double never(void *state)
{
    (void)state;
    fail_msg("drew a random number with no jitter set");
    return 0;
}

/* Fails once at `now`, then fails every trial: returns the wait of each opening in turn. */
static void waits_of_openings(xp_breaker *b, xp_window *w, int n, double *out)
{
    xp_transition t;
    double now = 1000;
    assert_true(xp_breaker_allow(b, now, &t));
    xp_breaker_record(b, w, XP_CALL_FAILURE, 0, now, &t);
    for (int i = 0; i < n; i++) {
        assert_int_equal(b->state, XP_OPEN);
        out[i] = xp_breaker_recovery_seconds(b, now);
        /* The drawn wait is exactly when the trial comes: not a moment before. */
        double at = xp_breaker_recovery_at(b);
        assert_true(fabs(at - now - out[i]) < 1e-9);
        assert_false(xp_breaker_allow(b, nextafter(at, 0), &t));
        now = at;
        assert_true(xp_breaker_allow(b, now, &t));
        assert_int_equal(t, XP_T_OPEN_HALF_OPEN);
        assert_true(xp_breaker_due_at(b) == 0); /* the trial runs now: nothing else is due */
        if (i + 1 < n)
            xp_breaker_record(b, w, XP_CALL_FAILURE, 0, now, &t);
    }
}

static void backoff_sequences(void **state)
{
    static const struct {
        const char *name;
        double rt, backoff, max;
        double want[7];
    } table[] = {
        {"default: fixed wait", 20, 0, 0, {20, 20, 20, 20, 20, 20, 20}},
        {"backoff 1 is fixed too", 20, 1, 0, {20, 20, 20, 20, 20, 20, 20}},
        {"doubling, capped at 100", 10, 2, 100, {10, 20, 40, 80, 100, 100, 100}},
        {"tripling, default cap 10 x recovery_timeout", 10, 3, 0, {10, 30, 90, 100, 100, 100, 100}},
        {"1.5 x, large cap", 8, 1.5, 1e6, {8, 12, 18, 27, 40.5, 60.75, 91.125}},
        {"a cap below recovery_timeout wins from the first", 30, 2, 5, {5, 5, 5, 5, 5, 5, 5}},
    };
    for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++) {
        xp_breaker_cfg c = {.failure_threshold = 1,
                            .recovery_timeout = table[k].rt,
                            .recovery_backoff = table[k].backoff,
                            .max_recovery_timeout = table[k].max};
        xp_breaker b;
        xp_window w;
        assert_int_equal(xp_breaker_init(&b, &w, &c), 0);
        xp_breaker_set_random(&b, never, NULL);
        double got[7];
        waits_of_openings(&b, &w, 7, got);
        for (int i = 0; i < 7; i++)
            if (fabs(got[i] - table[k].want[i]) > 1e-9)
                fail_msg("%s: opening %d waits %g, want %g", table[k].name, i + 1, got[i],
                         table[k].want[i]);
        assert_int_equal(b.openings, 7);
        xp_window_free(&w);
    }
}

/* Closing starts the count again: the next opening waits recovery_timeout. */
static void closing_resets_the_backoff(void **state)
{
    xp_breaker_cfg c = {.failure_threshold = 1, .recovery_timeout = 10, .recovery_backoff = 2,
                        .max_recovery_timeout = 1000};
    xp_breaker b;
    xp_window w;
    xp_transition t;
    assert_int_equal(xp_breaker_init(&b, &w, &c), 0);
    double got[3];
    waits_of_openings(&b, &w, 3, got); /* 10, 20, 40; now HALF_OPEN at 1070 */
    assert_true(got[2] == 40);
    xp_breaker_record(&b, &w, XP_CALL_SUCCESS, 0, 1070, &t);
    assert_int_equal(t, XP_T_HALF_OPEN_CLOSED);
    assert_int_equal(b.openings, 0);
    assert_true(xp_breaker_recovery_seconds(&b, 1070) == 0);
    xp_breaker_record(&b, &w, XP_CALL_FAILURE, 0, 1080, &t);
    assert_int_equal(t, XP_T_CLOSED_OPEN);
    assert_true(xp_breaker_recovery_seconds(&b, 1080) == 10);
    xp_window_free(&w);
}

/* The draw u in [0, 1] maps linearly onto [1 - j, 1 + j]: 0 and 1 give the bounds exactly. */
static void jitter_with_scripted_draws(void **state)
{
    static const double u[] = {0, 1, 0.5, 0.25, 1, 0};
    /* rt 10, backoff 2, cap 60, jitter 10%: 10, 20, 40, 60, 60, 60 times the draws. */
    static const double want[] = {9, 22, 40, 57, 66, 54};
    xp_breaker_cfg c = {.failure_threshold = 1, .recovery_timeout = 10, .recovery_backoff = 2,
                        .max_recovery_timeout = 60, .recovery_jitter = 0.1};
    xp_breaker b;
    xp_window w;
    assert_int_equal(xp_breaker_init(&b, &w, &c), 0);
    draws d = {u, 6, 0};
    xp_breaker_set_random(&b, scripted, &d);
    double got[6];
    waits_of_openings(&b, &w, 6, got);
    assert_int_equal(d.next, 6); /* one draw per opening */
    for (int i = 0; i < 6; i++)
        if (fabs(got[i] - want[i]) > 1e-9)
            fail_msg("opening %d waits %.12g, want %g", i + 1, got[i], want[i]);
    xp_window_free(&w);
}

/* A source out of its range cannot make a wait outside the bounds (or NaN). */
static void broken_source_clamped(void **state)
{
    static const double u[] = {-3, 7, NAN};
    static const double want[] = {15, 25, 15};
    xp_breaker_cfg c = {.failure_threshold = 1, .recovery_timeout = 20,
                        .recovery_jitter = 0.25};
    xp_breaker b;
    xp_window w;
    assert_int_equal(xp_breaker_init(&b, &w, &c), 0);
    draws d = {u, 3, 0};
    xp_breaker_set_random(&b, scripted, &d);
    double got[3];
    waits_of_openings(&b, &w, 3, got);
    for (int i = 0; i < 3; i++)
        assert_true(fabs(got[i] - want[i]) < 1e-9);
    xp_window_free(&w);
}

/* The built-in source: every wait within the bounds, and the draws spread over all of it. */
static void builtin_source_bounds(void **state)
{
    xp_breaker_cfg c = {.failure_threshold = 1, .recovery_timeout = 10,
                        .recovery_jitter = 0.2};
    xp_breaker b;
    xp_window w;
    xp_transition t;
    assert_int_equal(xp_breaker_init(&b, &w, &c), 0);
    xp_breaker_seed(&b, 42);
    double lo = 1e9, hi = 0, sum = 0, now = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        xp_breaker_record(&b, &w, XP_CALL_FAILURE, 0, now, &t); /* CLOSED -> OPEN */
        double wait = xp_breaker_recovery_seconds(&b, now);
        lo = wait < lo ? wait : lo;
        hi = wait > hi ? wait : hi;
        sum += wait;
        now += wait;
        assert_true(xp_breaker_allow(&b, now, &t));
        xp_breaker_record(&b, &w, XP_CALL_SUCCESS, 0, now, &t); /* closes: n = 1 again */
    }
    assert_true(lo >= 8 && hi <= 12);
    assert_true(lo < 8.01 && hi > 11.99);
    assert_true(fabs(sum / n - 10) < 0.05);
    xp_window_free(&w);
}

/* Breakers seeded alike draw alike; seeded apart, they do not open in step. */
static void seeds(void **state)
{
    xp_breaker_cfg c = {.failure_threshold = 1, .recovery_timeout = 10,
                        .recovery_jitter = 0.5, .recovery_backoff = 1};
    double got[3][5];
    uint64_t seed[3] = {1, 1, 2};
    for (int k = 0; k < 3; k++) {
        xp_breaker b;
        xp_window w;
        assert_int_equal(xp_breaker_init(&b, &w, &c), 0);
        xp_breaker_seed(&b, seed[k]);
        waits_of_openings(&b, &w, 5, got[k]);
        xp_window_free(&w);
    }
    int differ = 0;
    for (int i = 0; i < 5; i++) {
        assert_true(got[0][i] == got[1][i]);
        differ += got[0][i] != got[2][i];
    }
    assert_int_equal(differ, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_sequences),
        cmocka_unit_test(closing_resets_the_backoff),
        cmocka_unit_test(jitter_with_scripted_draws),
        cmocka_unit_test(broken_source_clamped),
        cmocka_unit_test(builtin_source_bounds),
        cmocka_unit_test(seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
