/* The operator modes of SPEC section 5 (version 2) on the breaker, with a fake clock: what
 * each mode does to the state, the calls and the transitions, and what entering and leaving
 * it does. Their effect on score, level and features is in test_health.c. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "breaker_script.h"

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
    const char *script; /* a f d m: set auto, forced_open, disabled, metrics_only */
    const char *trace;
    const char *moves;
    uint64_t calls[XP_CALL_COUNT]; /* success, failure, rejected, ignored */
    unsigned consecutive_failures;
} row;

#define FT(n) .failure_threshold = n, .recovery_timeout = 20

static const row table[] = {
    /* forced_open */
    {"forced_open from CLOSED: counted, every tick rejected, leaving tries at once",
     {FT(3)}, "S f --- a S", "C O OOO H C", "co oh hc", {2, 0, 3, 0}, 0},
    {"leaving forced_open with the backend still down reopens",
     {FT(3)}, "S f -- a F - S", "C O OO H O O C", "co oh ho oh hc", {2, 1, 3, 0}, 0},
    {"forced_open from HALF_OPEN counts half_open -> open",
     {FT(1), .half_open_requests = 2}, "F - S f --- a SS", "O O H O OOO H HC", "co oh ho oh hc",
     {3, 1, 4, 0}, 0},
    {"forced_open while OPEN: no move, and no trial however long",
     {FT(1)}, "F f ------ a S", "O O OOOOOO H C", "co oh hc", {1, 1, 6, 0}, 0},
    {"config mode forced_open: starts OPEN with nothing counted",
     {FT(3), .mode = XP_MODE_FORCED_OPEN}, "--- a S", "OOO H C", "oh hc", {1, 0, 3, 0}, 0},
    {"forced_open twice is once",
     {FT(3)}, "f f - f", "O O O O", "co", {0, 0, 1, 0}, 0},
    {"forced_open keeps consecutive failures as they were",
     {FT(3)}, "FF f -- a F", "CC O OO H O", "co oh ho", {0, 3, 2, 0}, 3},

    /* disabled */
    {"disabled: probes run and count, never leaves CLOSED",
     {FT(3), .failure_rate_threshold = 0.5, .mode = XP_MODE_DISABLED}, "FFFFFFFFFFFF",
     "CCCCCCCCCCCC", "", {0, 12, 0, 0}, 12},
    {"disabled counts ignored failures as ignored",
     {FT(3), .mode = XP_MODE_DISABLED}, "FFI", "CCC", "", {0, 2, 0, 1}, 2},
    {"entering disabled from OPEN: open -> half_open -> closed; auto trips on the next failure",
     {FT(3)}, "FFF d FFFF a F", "CCO C CCCC C O", "co oh hc co", {0, 8, 0, 0}, 5},
    {"entering disabled from HALF_OPEN: half_open -> closed",
     {FT(1), .half_open_requests = 2}, "F - S d F", "O O H C C", "co oh hc", {1, 2, 1, 0}, 1},
    {"forced_open to disabled passes through half_open",
     {FT(3)}, "S f - d F", "C O O C C", "co oh hc", {1, 1, 1, 0}, 1},
    {"disabled to forced_open and back",
     {FT(3), .mode = XP_MODE_DISABLED}, "FFFF f -- d S", "CCCC O OO C C", "co oh hc",
     {1, 4, 2, 0}, 0},
    {"disabled, then auto with the failure rate past its threshold: the next probe trips",
     {FT(99), .failure_rate_threshold = 0.5, .mode = XP_MODE_DISABLED}, "FFFFFFFFFF a S",
     "CCCCCCCCCC C O", "co", {1, 10, 0, 0}, 0},

    /* metrics_only: the breaker itself runs as auto */
    {"metrics_only runs the breaker as auto",
     {FT(3), .mode = XP_MODE_METRICS_ONLY}, "FFF - S", "CCO O C", "co oh hc", {1, 3, 1, 0}, 0},
    {"auto <-> metrics_only moves nothing",
     {FT(1)}, "F m - a S m", "O O O O C C", "co oh hc", {1, 1, 1, 0}, 0},
    {"metrics_only to forced_open and back to metrics_only",
     {FT(3), .mode = XP_MODE_METRICS_ONLY}, "S f - m S", "C O O H C", "co oh hc", {2, 0, 1, 0},
     0},
};

static void mode_table(void **state)
{
    for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++) {
        const row *w = &table[k];
        script_run r;
        assert_int_equal(script_init(&r, &w->cfg, 10), 0);
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
        if (r.b.consecutive_failures != w->consecutive_failures)
            fail_msg("%s: consecutive_failures %u, want %u", w->name, r.b.consecutive_failures,
                     w->consecutive_failures);
        /* The transitions counter agrees with the moves reported. */
        uint64_t sum = 0;
        for (int t = 0; t < XP_T_COUNT; t++)
            sum += r.b.transitions[t];
        size_t words = 0;
        for (const char *p = r.moves; *p; p++)
            words += *p == ' ';
        assert_int_equal(sum, r.moves[0] ? words + 1 : 0);
        script_free(&r);
    }
}

/* What set_mode reports, and when the trial after forced_open is due. */
static void set_mode_reports_and_trial_due(void **state)
{
    xp_breaker_cfg c = {.failure_threshold = 3, .recovery_timeout = 20};
    xp_breaker b;
    xp_window w;
    xp_transition t[2], t1;
    assert_int_equal(xp_breaker_init(&b, &w, &c), 0);
    assert_true(xp_breaker_due_at(&b) == 0);

    assert_int_equal(xp_breaker_set_mode(&b, &w, XP_MODE_FORCED_OPEN, 100, t), 1);
    assert_int_equal(t[0], XP_T_CLOSED_OPEN);
    assert_int_equal(b.last_trip, XP_TRIP_FORCED);
    /* forced_open schedules no trial: nothing due, no countdown. */
    assert_true(xp_breaker_recovery_at(&b) == 0);
    assert_true(xp_breaker_recovery_seconds(&b, 100) == 0);
    assert_true(xp_breaker_due_at(&b) == 0);
    assert_false(xp_breaker_allow(&b, 1e9, &t1));

    assert_int_equal(xp_breaker_set_mode(&b, &w, XP_MODE_AUTO, 200, t), 1);
    assert_int_equal(t[0], XP_T_OPEN_HALF_OPEN);
    assert_int_equal(b.state, XP_HALF_OPEN);
    assert_true(xp_breaker_due_at(&b) == 200); /* the trial: at once, off the tick grid */
    assert_true(xp_breaker_allow(&b, 200, &t1));
    assert_int_equal(t1, XP_T_NONE);
    assert_true(xp_breaker_due_at(&b) == 0); /* taken */

    /* An unknown mode is refused: nothing moves. */
    assert_int_equal(xp_breaker_set_mode(&b, &w, (xp_mode)42, 210, t), 0);
    assert_int_equal(b.mode, XP_MODE_AUTO);

    assert_int_equal(xp_breaker_set_mode(&b, &w, XP_MODE_FORCED_OPEN, 220, t), 1);
    assert_int_equal(t[0], XP_T_HALF_OPEN_OPEN);
    assert_int_equal(xp_breaker_set_mode(&b, &w, XP_MODE_DISABLED, 230, t), 2);
    assert_int_equal(t[0], XP_T_OPEN_HALF_OPEN);
    assert_int_equal(t[1], XP_T_HALF_OPEN_CLOSED);
    assert_int_equal(b.state, XP_CLOSED);
    assert_true(xp_breaker_due_at(&b) == 0);

    /* In auto OPEN, what is due is the trial at the end of the wait. */
    assert_int_equal(xp_breaker_set_mode(&b, &w, XP_MODE_AUTO, 240, t), 0);
    for (int i = 0; i < 3; i++)
        xp_breaker_record(&b, &w, XP_CALL_FAILURE, 0, 250, &t1);
    assert_int_equal(b.state, XP_OPEN);
    assert_true(xp_breaker_due_at(&b) == 270);
    assert_true(xp_breaker_recovery_at(&b) == 270);
    xp_window_free(&w);
}

/* A probe already under way when forced_open comes in lands on an OPEN breaker: it counts as
 * a call, a failure adds to consecutive_failures, nothing moves. */
static void probe_in_flight_when_forced(void **state)
{
    xp_breaker_cfg c = {.failure_threshold = 3, .recovery_timeout = 20};
    xp_breaker b;
    xp_window w;
    xp_transition t[2], t1;
    assert_int_equal(xp_breaker_init(&b, &w, &c), 0);
    assert_true(xp_breaker_allow(&b, 10, &t1));
    assert_int_equal(xp_breaker_set_mode(&b, &w, XP_MODE_FORCED_OPEN, 11, t), 1);
    xp_breaker_record(&b, &w, XP_CALL_FAILURE, 0, 12, &t1);
    assert_int_equal(t1, XP_T_NONE);
    xp_breaker_record(&b, &w, XP_CALL_SUCCESS, 0, 13, &t1);
    xp_breaker_record(&b, &w, XP_CALL_IGNORED, 0, 14, &t1);
    assert_int_equal(t1, XP_T_NONE);
    assert_int_equal(b.state, XP_OPEN);
    assert_int_equal(b.consecutive_failures, 1);
    assert_int_equal(b.calls[XP_CALL_FAILURE], 1);
    assert_int_equal(b.calls[XP_CALL_SUCCESS], 1);
    assert_int_equal(b.calls[XP_CALL_IGNORED], 1);
    assert_int_equal(b.win.calls, 0); /* nothing recorded while not CLOSED */
    xp_window_free(&w);
}

/* forced_open is an opening: a trial that fails after it is the second opening. */
static void forced_open_counts_for_backoff(void **state)
{
    xp_breaker_cfg c = {.failure_threshold = 3, .recovery_timeout = 10, .recovery_backoff = 2};
    script_run r;
    assert_int_equal(script_init(&r, &c, 10), 0);
    assert_int_equal(script_play(&r, "S f - a F"), 0);
    assert_int_equal(r.b.state, XP_OPEN);
    assert_int_equal(r.b.openings, 2);
    assert_true(xp_breaker_recovery_seconds(&r.b, r.now) == 20);
    script_free(&r);
}

static void names_and_mode_in_force(void **state)
{
    static const char *const names[] = {"auto", "forced_open", "disabled", "metrics_only"};
    for (int m = 0; m < XP_MODE_COUNT; m++) {
        assert_string_equal(xp_mode_name((xp_mode)m), names[m]);
        assert_int_equal(xp_mode_parse(names[m]), m);
    }
    assert_int_equal(xp_mode_parse("Auto"), -1);
    assert_int_equal(xp_mode_parse("forced"), -1);
    assert_int_equal(xp_mode_parse(""), -1);
    assert_string_equal(xp_mode_name((xp_mode)9), "auto");

    static const struct {
        const char *name;
        xp_mode configured;
        xp_mode_override o;
        double now;
        xp_mode want;
    } cases[] = {
        {"no override", XP_MODE_DISABLED, {0, XP_MODE_FORCED_OPEN, INFINITY}, 5, XP_MODE_DISABLED},
        {"override without end", XP_MODE_AUTO, {1, XP_MODE_FORCED_OPEN, INFINITY}, 1e12,
         XP_MODE_FORCED_OPEN},
        {"override before its end", XP_MODE_AUTO, {1, XP_MODE_DISABLED, 100}, 99.999,
         XP_MODE_DISABLED},
        {"override at its end: reverts", XP_MODE_AUTO, {1, XP_MODE_DISABLED, 100}, 100,
         XP_MODE_AUTO},
        {"override past its end: the config's mode", XP_MODE_METRICS_ONLY,
         {1, XP_MODE_FORCED_OPEN, 100}, 500, XP_MODE_METRICS_ONLY},
        {"override auto clears: the config's mode", XP_MODE_METRICS_ONLY,
         {1, XP_MODE_AUTO, INFINITY}, 5, XP_MODE_METRICS_ONLY},
        {"override of an unknown mode is none", XP_MODE_DISABLED, {1, (xp_mode)7, INFINITY}, 5,
         XP_MODE_DISABLED},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        xp_mode got = xp_mode_in_force(cases[k].configured, &cases[k].o, cases[k].now);
        if (got != cases[k].want)
            fail_msg("%s: %s, want %s", cases[k].name, xp_mode_name(got),
                     xp_mode_name(cases[k].want));
    }
    assert_int_equal(xp_mode_in_force(XP_MODE_DISABLED, NULL, 0), XP_MODE_DISABLED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mode_table),
        cmocka_unit_test(set_mode_reports_and_trial_due),
        cmocka_unit_test(probe_in_flight_when_forced),
        cmocka_unit_test(forced_open_counts_for_backoff),
        cmocka_unit_test(names_and_mode_in_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
