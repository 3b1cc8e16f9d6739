/* The rate rules of SPEC section 5 (version 2), with a fake clock: the window of recorded
 * outcomes, -1 below minimum_calls, tripping on whichever rule comes first, slow calls and
 * slow trials, ignored failures, and the window kept while not CLOSED and emptied on closing.
 * Plus the staging numbers: how long a backend failing every other probe, or a slow one,
 * takes to open a breaker under the values of the shipped config (read from the file). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "breaker_script.h"
#include "config/config.h"

/* Equal but for spaces, which the tables use to group steps. */
static int same(const char *a, const char *b)
{
    for (;;) {
        while (*a == ' ')
            a++;
        while (*b == ' ')
            b++;
        if (*a != *b)
            return 0;
        if (!*a)
            return 1;
        a++, b++;
    }
}

typedef struct row {
    const char *name;
    xp_breaker_cfg cfg;
    double step; /* 0: 10 s */
    const char *script;
    const char *trace;
    const char *moves;
    uint64_t calls[XP_CALL_COUNT]; /* success, failure, rejected, ignored */
    double failure_rate, slow_call_rate; /* at the end */
    unsigned consecutive_failures;       /* at the end */
} row;

/* Settings the rows share: a window of 20, minimum 10, a 20 s recovery. */
#define BASE .recovery_timeout = 20, .half_open_requests = 1

static const row table[] = {
    /* The case: a backend that fails every other probe. */
    {"every other probe, rate 50%: opens at the 10th recorded probe",
     {.failure_threshold = 3, .failure_rate_threshold = 0.5, BASE}, 0,
     "FSFSFSFSFS -", "CCCCCCCCCO O", "co", {5, 5, 1, 0}, 0.5, 0, 0},
    {"every other probe, no rate threshold: never opens",
     {.failure_threshold = 3, BASE}, 0,
     "FSFSFSFSFS FSFSFSFSFS FSFSFSFSFS FSFSFSFSFS", "CCCCCCCCCC CCCCCCCCCC CCCCCCCCCC CCCCCCCCCC",
     "", {20, 20, 0, 0}, 0.5, 0, 0},
    {"below minimum_calls no rate trips, even at 100%",
     {.failure_threshold = 100, .failure_rate_threshold = 0.5, BASE}, 0,
     "FFFFFFFFF F", "CCCCCCCCC O", "co", {0, 10, 0, 0}, 1, 0, 10},
    {"minimum_calls 3: rates from the 3rd outcome",
     {.failure_threshold = 100, .minimum_calls = 3, .failure_rate_threshold = 0.5, BASE}, 0,
     "SF F", "CC O", "co", {1, 2, 0, 0}, 2.0 / 3, 0, 2},
    {"a success trips too when the rate stays at the threshold",
     {.failure_threshold = 5, .failure_rate_threshold = 0.5, BASE}, 0,
     "FFFFSFFFFS", "CCCCCCCCCO", "co", {2, 8, 0, 0}, 0.8, 0, 0},
    {"only the last window_calls count: 20 good ones, then every other fails",
     {.failure_threshold = 3, .failure_rate_threshold = 0.5, BASE}, 0,
     "SSSSSSSSSS SSSSSSSSSS FSFSFSFSFS FSFSFSFSF", "CCCCCCCCCC CCCCCCCCCC CCCCCCCCCC CCCCCCCCO",
     "co", {29, 10, 0, 0}, 0.5, 0, 1},
    {"window_calls 4, minimum 4: 2 of the last 4",
     {.failure_threshold = 9, .window_calls = 4, .minimum_calls = 4,
      .failure_rate_threshold = 0.5, BASE}, 0,
     "FSSS FSS F", "CCCC CCC O", "co", {5, 3, 0, 0}, 0.5, 0, 1},
    {"consecutive failures come first below minimum_calls",
     {.failure_threshold = 3, .failure_rate_threshold = 0.5, BASE}, 0,
     "FFF", "CCO", "co", {0, 3, 0, 0}, -1, -1, 3},
    {"a threshold typed as 30% trips at 3 of 10 exactly",
     {.failure_threshold = 9, .failure_rate_threshold = 0.3, BASE}, 0,
     "SSSSSSSFF F", "CCCCCCCCC O", "co", {7, 3, 0, 0}, 0.3, 0, 3},
    {"31% does not trip at 3 of 10",
     {.failure_threshold = 9, .failure_rate_threshold = 0.31, BASE}, 0,
     "SSSSSSSFF F SSSSSSSSSS", "CCCCCCCCC C CCCCCCCCCC", "", {17, 3, 0, 0}, 0.15, 0, 0},

    /* Slow calls. */
    {"slow rate 80%: 8 slow of 10 opens",
     {.failure_threshold = 3, .slow_call_duration = 1, .slow_call_rate_threshold = 0.8, BASE}, 0,
     "SSssssssss", "CCCCCCCCCO", "co", {10, 0, 0, 0}, 0, 0.8, 0},
    {"slow without a slow threshold: shown, trips nothing",
     {.failure_threshold = 3, .slow_call_duration = 1, BASE}, 0,
     "ssssssssss ssssssssss ssssssssss", "CCCCCCCCCC CCCCCCCCCC CCCCCCCCCC", "", {30, 0, 0, 0},
     0, 1, 0},
    {"slow_call_duration unset: no success is slow",
     {.failure_threshold = 3, .slow_call_rate_threshold = 0.5, BASE}, 0,
     "ssssssssss ss", "CCCCCCCCCC CC", "", {12, 0, 0, 0}, 0, 0, 0},
    {"a slow success still resets consecutive failures",
     {.failure_threshold = 3, .slow_call_duration = 1, BASE}, 0,
     "FFsFFsFF", "CCCCCCCC", "", {2, 6, 0, 0}, -1, -1, 2},
    {"failures and slow calls: each rate on its own",
     {.failure_threshold = 9, .failure_rate_threshold = 0.5, .slow_call_duration = 1,
      .slow_call_rate_threshold = 0.5, BASE}, 0,
     "FsFsFsSSSS S", "CCCCCCCCCC C", "", {8, 3, 0, 0}, 3.0 / 11, 3.0 / 11, 0},
    {"HALF_OPEN: a slow trial fails it when a slow threshold is set",
     {.failure_threshold = 1, .slow_call_duration = 1, .slow_call_rate_threshold = 0.8, BASE}, 0,
     "F-s -s -S", "OOO OO OC", "co oh ho oh ho oh hc", {3, 1, 3, 0}, -1, -1, 0},
    {"HALF_OPEN: a slow trial is a success without a slow threshold",
     {.failure_threshold = 1, .slow_call_duration = 1, BASE}, 0,
     "F-s", "OOC", "co oh hc", {1, 1, 1, 0}, -1, -1, 0},
    {"HALF_OPEN of 2: fast then slow reopens",
     {.failure_threshold = 1, .slow_call_duration = 1, .slow_call_rate_threshold = 1,
      .recovery_timeout = 20, .half_open_requests = 2}, 0,
     "F-Ss", "OOHO", "co oh ho", {2, 1, 1, 0}, -1, -1, 1},

    /* Ignored failures: counted as ignored, nothing else moves. */
    {"ignored failures neither count nor reset consecutive failures",
     {.failure_threshold = 3, BASE}, 0,
     "FFIIIIF", "CCCCCCO", "co", {0, 3, 0, 4}, -1, -1, 3},
    {"ignored failures stay out of the window",
     {.failure_threshold = 99, .failure_rate_threshold = 0.5, BASE}, 0,
     "SSSSSSSSSS IIIIIIIIIIIIIIIIIIII", "CCCCCCCCCC CCCCCCCCCCCCCCCCCCCC", "", {10, 0, 0, 20}, 0,
     0, 0},
    {"ignored trials neither close nor reopen HALF_OPEN",
     {.failure_threshold = 1, BASE}, 0,
     "F-I II S", "OOH HH C", "co oh hc", {1, 1, 1, 3}, -1, -1, 0},
    {"an ignored failure does not trip a rate that expiry raised; the next probe does",
     {.failure_threshold = 99, .minimum_calls = 2, .failure_rate_threshold = 0.6,
      .window_time = 64, BASE}, 0,
     "SSFF ___ I S", "CCCC CCC C O", "co", {3, 2, 0, 1}, 2.0 / 3, 0, 0},

    /* Time windows (64 s of 1 s buckets, probes every 10 s unless said). */
    {"time window: outcomes older than window_time leave",
     {.failure_threshold = 99, .minimum_calls = 5, .failure_rate_threshold = 0.5,
      .window_time = 50, BASE}, 0,
     "FFFF____F", "CCCCCCCCC", "", {0, 5, 0, 0}, -1, -1, 5},
    {"time window: the same failures in a row open it",
     {.failure_threshold = 99, .minimum_calls = 5, .failure_rate_threshold = 0.5,
      .window_time = 50, BASE}, 0,
     "FFFFF", "CCCCO", "co", {0, 5, 0, 0}, 1, 0, 5},
    {"time window: probes sparser than the window never reach minimum_calls",
     {.failure_threshold = 99, .minimum_calls = 2, .failure_rate_threshold = 0.5,
      .window_time = 50, BASE}, 60,
     "FFFFFFFFFF", "CCCCCCCCCC", "", {0, 10, 0, 0}, -1, -1, 10},
    {"time window 100 s: 5 of the last 10 probes",
     {.failure_threshold = 99, .minimum_calls = 5, .failure_rate_threshold = 0.5,
      .window_time = 100, BASE}, 0,
     "SSSSSSSSSS FFFFF", "CCCCCCCCCC CCCCO", "co", {10, 5, 0, 0}, 0.5, 0, 5},
};

static void rate_table(void **state)
{
    for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++) {
        const row *w = &table[k];
        script_run r;
        assert_int_equal(script_init(&r, &w->cfg, w->step), 0);
        if (script_play(&r, w->script) != 0)
            fail_msg("%s: %s", w->name, r.why);
        if (!same(r.trace, w->trace))
            fail_msg("%s: states %s, want %s", w->name, r.trace, w->trace);
        if (!same(r.moves, w->moves))
            fail_msg("%s: transitions \"%s\", want \"%s\"", w->name, r.moves, w->moves);
        for (int c = 0; c < XP_CALL_COUNT; c++)
            if (r.b.calls[c] != w->calls[c])
                fail_msg("%s: calls[%d] = %llu, want %llu", w->name, c,
                         (unsigned long long)r.b.calls[c], (unsigned long long)w->calls[c]);
        double fr = xp_breaker_failure_rate(&r.b), sr = xp_breaker_slow_call_rate(&r.b);
        if (fabs(fr - w->failure_rate) > 1e-12 || fabs(sr - w->slow_call_rate) > 1e-12)
            fail_msg("%s: rates %g / %g, want %g / %g", w->name, fr, sr, w->failure_rate,
                     w->slow_call_rate);
        if (r.b.consecutive_failures != w->consecutive_failures)
            fail_msg("%s: consecutive_failures %u, want %u", w->name, r.b.consecutive_failures,
                     w->consecutive_failures);
        script_free(&r);
    }
}

/* The window stops at the opening, is kept through OPEN and HALF_OPEN (trials do not enter
 * it), and is empty once CLOSED: the rates read -1 until minimum_calls new outcomes. */
static void window_kept_while_not_closed_and_emptied_on_closing(void **state)
{
    xp_breaker_cfg c = {.failure_threshold = 99, .failure_rate_threshold = 0.5,
                        .recovery_timeout = 20, .half_open_requests = 3};
    script_run r;
    assert_int_equal(script_init(&r, &c, 10), 0);
    assert_true(xp_breaker_failure_rate(&r.b) == -1);
    assert_int_equal(script_play(&r, "SFSFSFSFSF"), 0);
    assert_int_equal(r.b.state, XP_OPEN);
    assert_true(xp_breaker_failure_rate(&r.b) == 0.5);
    assert_int_equal(r.b.win.calls, 10);
    assert_int_equal(r.b.last_trip, XP_TRIP_FAILURE_RATE);
    assert_string_equal(xp_trip_name(r.b.last_trip), "failure_rate");

    assert_int_equal(script_play(&r, "-"), 0); /* rejected: not recorded */
    assert_int_equal(r.b.win.calls, 10);
    assert_int_equal(script_play(&r, "SS"), 0); /* two trials of three, HALF_OPEN */
    assert_int_equal(r.b.state, XP_HALF_OPEN);
    assert_true(xp_breaker_failure_rate(&r.b) == 0.5);
    assert_int_equal(r.b.win.calls, 10);
    assert_int_equal(r.w.n.calls, 10);

    assert_int_equal(script_play(&r, "S"), 0); /* closes */
    assert_int_equal(r.b.state, XP_CLOSED);
    assert_true(xp_breaker_failure_rate(&r.b) == -1);
    assert_true(xp_breaker_slow_call_rate(&r.b) == -1);
    assert_int_equal(r.b.win.calls, 0);
    assert_int_equal(r.w.n.calls, 0);
    /* And it fills again from nothing: 9 failures are below minimum_calls. */
    assert_int_equal(script_play(&r, "FFFFFFFFF"), 0);
    assert_int_equal(r.b.state, XP_CLOSED);
    assert_true(xp_breaker_failure_rate(&r.b) == -1);
    assert_int_equal(script_play(&r, "F"), 0);
    assert_int_equal(r.b.state, XP_OPEN);
    script_free(&r);
}

/* A time window is frozen while OPEN too: a long outage does not expire the outcomes that
 * tripped it, even if the breaker is read long after. */
static void time_window_frozen_while_open(void **state)
{
    xp_breaker_cfg c = {.failure_threshold = 99, .failure_rate_threshold = 0.5,
                        .window_time = 60, .minimum_calls = 4, .recovery_timeout = 600};
    script_run r;
    assert_int_equal(script_init(&r, &c, 10), 0);
    assert_int_equal(script_play(&r, "SFSF"), 0);
    assert_int_equal(r.b.state, XP_OPEN);
    assert_int_equal(script_play(&r, "------------------------------"), 0); /* 300 s */
    assert_true(xp_breaker_failure_rate(&r.b) == 0.5);
    assert_int_equal(r.b.win.calls, 4);
    script_free(&r);
}

/* Which rule tripped it, for the log line and the event. */
static void trip_causes(void **state)
{
    static const struct {
        xp_breaker_cfg cfg;
        const char *script;
        xp_trip why;
    } cases[] = {
        {{.failure_threshold = 2, .recovery_timeout = 20}, "FF", XP_TRIP_CONSECUTIVE},
        {{.failure_threshold = 9, .failure_rate_threshold = 0.5, .recovery_timeout = 20},
         "SFSFSFSFSF", XP_TRIP_FAILURE_RATE},
        {{.failure_threshold = 9, .slow_call_duration = 1, .slow_call_rate_threshold = 0.5,
          .recovery_timeout = 20},
         "ssssssssss", XP_TRIP_SLOW_RATE},
        {{.failure_threshold = 1, .recovery_timeout = 20}, "F-F", XP_TRIP_TRIAL},
        {{.failure_threshold = 1, .slow_call_duration = 1, .slow_call_rate_threshold = 0.5,
          .recovery_timeout = 20},
         "F-s", XP_TRIP_SLOW_TRIAL},
        {{.failure_threshold = 1, .recovery_timeout = 20}, "Sf", XP_TRIP_FORCED},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        script_run r;
        assert_int_equal(script_init(&r, &cases[k].cfg, 10), 0);
        assert_int_equal(script_play(&r, cases[k].script), 0);
        assert_int_equal(r.b.state, XP_OPEN);
        if (r.b.last_trip != cases[k].why)
            fail_msg("%s: tripped by %s, want %s", cases[k].script, xp_trip_name(r.b.last_trip),
                     xp_trip_name(cases[k].why));
        script_free(&r);
    }
    assert_string_equal(xp_trip_name(XP_TRIP_NONE), "");
    assert_string_equal(xp_trip_name((xp_trip)99), "");
}

/* Defaults: none of the version-2 settings changes nothing of version 1, and the window is
 * still there (rates shown) with its defaults of 20 and 10. */
static void defaults(void **state)
{
    xp_breaker_cfg c = {.failure_threshold = 3, .recovery_timeout = 30};
    xp_breaker b;
    xp_window w;
    assert_int_equal(xp_breaker_init(&b, &w, &c), 0);
    assert_int_equal(b.cfg.window_calls, 20);
    assert_int_equal(b.cfg.minimum_calls, 10);
    assert_int_equal(b.cfg.half_open_requests, 1);
    assert_true(b.cfg.recovery_backoff == 1);
    assert_true(b.cfg.max_recovery_timeout == 300);
    assert_true(b.cfg.recovery_jitter == 0);
    assert_true(b.cfg.failure_rate_threshold == 0);
    assert_int_equal(b.mode, XP_MODE_AUTO);
    assert_int_equal(w.size, 20);
    xp_window_free(&w);
    /* A time window wins over window_calls (the config refuses both). */
    c.window_calls = 7;
    c.window_time = 300;
    assert_int_equal(xp_breaker_init(&b, &w, &c), 0);
    assert_int_equal(w.size, 0);
    assert_true(w.bucket_width == 300.0 / XP_WINDOW_BUCKETS);
    xp_window_free(&w);
}

/* A breaker probed every `interval` seconds, healthy for `healthy_probes` probes (enough to
 * fill the window, or none: right after start), then from the probe at T0 on either failing
 * every other probe (the first one failing) or succeeding slowly every time. The numbers are the time from the first probe that sees
 * the fault to OPEN; the fault itself may start up to one interval before that probe. */
static double time_to_open(const xp_breaker_cfg *c, const char *fault, int healthy_probes,
                           double interval)
{
    script_run r;
    if (script_init(&r, c, interval) != 0)
        return -2;
    for (int i = 0; i < healthy_probes; i++)
        if (script_play(&r, "S") != 0)
            return -3;
    double t0 = r.now + r.step;
    for (int i = 0; i < 1000 && r.b.state == XP_CLOSED; i++) {
        char step[2] = {fault[i % 2], '\0'};
        if (script_play(&r, step) != 0)
            return -4;
    }
    double t = r.b.state == XP_OPEN ? r.now - t0 : -1;
    script_free(&r);
    return t;
}

/* The shipped staging values (etc/resilience_exporter.ini, loaded as the exporter loads it,
 * so this test follows the file): how long after the fault shows in a probe each dependency
 * opens when every other probe fails, or when every probe is slow (docs/configuration.md, "The
 * staging values", quotes these numbers). Beside them, what a 5-minute time window would give
 * instead of the last 20 probes. */
static void staging_time_to_open(void **state)
{
    setenv("STAGING_DB_PASSWORD", "pw", 1);
    setenv("OPENAI_API_KEY", "sk-test", 1);
    const char *src = getenv("XP_SOURCE_DIR");
    char path[1024], err[1024];
    snprintf(path, sizeof(path), "%s/etc/resilience_exporter.ini", src ? src : ".");
    xp_config *cfg = xp_config_load(path, err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    static const struct {
        const char *name;
        int time_window;
        double every_other, slow;       /* seconds from the first faulty probe, full window */
        double every_other_new, slow_new; /* the same right after start: empty window */
    } windows[] = {
        {"shipped: window_calls = 20", 0, 180, 150, 90, 90},
        {"instead: window_time = 5m", 1, 280, 230, 90, 90},
    };
    assert_int_equal(cfg->n_deps, 4);
    for (size_t k = 0; k < sizeof(windows) / sizeof(windows[0]); k++)
        for (size_t d = 0; d < cfg->n_deps; d++) {
            xp_breaker_cfg c = cfg->deps[d].breaker;
            double step = cfg->deps[d].interval;
            assert_true(step == 10);
            if (windows[k].time_window)
                c.window_time = 300;
            double eo = time_to_open(&c, "FS", 100, step), sl = time_to_open(&c, "ss", 100, step);
            double eo0 = time_to_open(&c, "FS", 0, step), sl0 = time_to_open(&c, "ss", 0, step);
            printf("staging %-8s %-28s every other probe fails: OPEN after %3.0f s (%3.0f s "
                   "after start); slow: %3.0f s (%3.0f s)\n",
                   cfg->deps[d].name, windows[k].name, eo, eo0, sl, sl0);
            assert_true(eo == windows[k].every_other);
            assert_true(sl == windows[k].slow);
            assert_true(eo0 == windows[k].every_other_new);
            assert_true(sl0 == windows[k].slow_new);
            /* Without the rate thresholds neither ever opens. */
            c.failure_rate_threshold = c.slow_call_rate_threshold = 0;
            assert_true(time_to_open(&c, "FS", 100, step) == -1);
            assert_true(time_to_open(&c, "ss", 100, step) == -1);
        }
    xp_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rate_table),
        cmocka_unit_test(window_kept_while_not_closed_and_emptied_on_closing),
        cmocka_unit_test(time_window_frozen_while_open),
        cmocka_unit_test(trip_causes),
        cmocka_unit_test(defaults),
        cmocka_unit_test(staging_time_to_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
