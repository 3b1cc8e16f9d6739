/* The event ring behind GET /events (exporter/engine/events.c): newest first, at most
 * XP_EVENTS_MAX, every kind with its fields, long texts cut, and writers on several threads
 * losing nothing. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/clock.h"
#include "engine/events.h"
#include "model/level.h"

static xp_event ev[XP_EVENTS_MAX + 8];

static int reset(void **state)
{
    xp_events_reset();
    return 0;
}

static void every_kind_newest_first(void **state)
{
    double t0 = xp_clock_wall();
    xp_events_transition("redis", XP_T_CLOSED_OPEN, "connect", "connection refused");
    xp_events_transition("redis", XP_T_NONE, "x", "y"); /* no transition: no event */
    xp_events_level(XP_LEVEL_OPTIMAL, XP_LEVEL_DEGRADED);
    xp_events_mode("s3", XP_MODE_AUTO, XP_MODE_FORCED_OPEN, t0 + 1800, "10.0.0.7");
    xp_events_reload(0, "x.ini:3: unknown key \"foo\"");
    xp_events_reload(1, "ignored on success");
    xp_events_transition("redis", XP_T_OPEN_HALF_OPEN, NULL, NULL);
    assert_int_equal(xp_events_count(), 6);
    size_t n = xp_events_copy(ev, XP_EVENTS_MAX);
    assert_int_equal(n, 6);
    assert_int_equal(ev[0].type, XP_EV_TRANSITION);
    assert_string_equal(ev[0].from, "open");
    assert_string_equal(ev[0].to, "half_open");
    assert_string_equal(ev[0].reason, "");
    assert_string_equal(ev[0].error, "");
    assert_int_equal(ev[1].type, XP_EV_RELOAD);
    assert_true(ev[1].success);
    assert_string_equal(ev[1].error, "");
    assert_int_equal(ev[2].type, XP_EV_RELOAD);
    assert_false(ev[2].success);
    assert_string_equal(ev[2].error, "x.ini:3: unknown key \"foo\"");
    assert_int_equal(ev[3].type, XP_EV_MODE);
    assert_string_equal(ev[3].dependency, "s3");
    assert_string_equal(ev[3].from, "auto");
    assert_string_equal(ev[3].to, "forced_open");
    assert_true(ev[3].until == t0 + 1800);
    assert_string_equal(ev[3].client, "10.0.0.7");
    assert_int_equal(ev[4].type, XP_EV_LEVEL);
    assert_string_equal(ev[4].from, "optimal");
    assert_string_equal(ev[4].to, "degraded");
    assert_int_equal(ev[5].type, XP_EV_TRANSITION);
    assert_string_equal(ev[5].dependency, "redis");
    assert_string_equal(ev[5].from, "closed");
    assert_string_equal(ev[5].to, "open");
    assert_string_equal(ev[5].reason, "connect");
    assert_string_equal(ev[5].error, "connection refused");
    for (size_t i = 0; i < n; i++) {
        assert_true(ev[i].timestamp >= t0 && ev[i].timestamp < t0 + 60);
        if (i)
            assert_true(ev[i].timestamp <= ev[i - 1].timestamp);
    }
    assert_string_equal(xp_event_type_name(XP_EV_MODE), "mode");
    /* A smaller copy takes the newest. */
    assert_int_equal(xp_events_copy(ev, 2), 2);
    assert_int_equal(ev[0].type, XP_EV_TRANSITION);
    assert_int_equal(ev[1].type, XP_EV_RELOAD);
}

static void ring_keeps_the_last_256(void **state)
{
    char name[32];
    for (int i = 0; i < XP_EVENTS_MAX + 100; i++) {
        snprintf(name, sizeof(name), "dep%d", i);
        xp_events_transition(name, XP_T_CLOSED_OPEN, "timeout", "timed out");
    }
    size_t n = xp_events_copy(ev, XP_EVENTS_MAX + 8);
    assert_int_equal(n, XP_EVENTS_MAX);
    snprintf(name, sizeof(name), "dep%d", XP_EVENTS_MAX + 99);
    assert_string_equal(ev[0].dependency, name);
    snprintf(name, sizeof(name), "dep%d", 100);
    assert_string_equal(ev[XP_EVENTS_MAX - 1].dependency, name);
    assert_int_equal(xp_events_count(), XP_EVENTS_MAX + 100);
}

static void long_texts_are_cut(void **state)
{
    char big[2000];
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    xp_events_transition(big, XP_T_CLOSED_OPEN, big, big);
    xp_events_mode("d", XP_MODE_AUTO, XP_MODE_DISABLED, 0, big);
    assert_int_equal(xp_events_copy(ev, 2), 2);
    assert_int_equal(strlen(ev[1].dependency), XP_EVENT_NAME_MAX - 1);
    assert_int_equal(strlen(ev[1].reason), sizeof(ev[1].reason) - 1);
    assert_int_equal(strlen(ev[1].error), XP_ERR_MAX - 1);
    assert_int_equal(strlen(ev[0].client), sizeof(ev[0].client) - 1);
    assert_true(ev[0].until == 0);
}

static void *writer(void *arg)
{
    for (int i = 0; i < 10000; i++)
        xp_events_level(i % 5, (i + 1) % 5);
    return arg;
}

static void writers_on_many_threads(void **state)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, NULL), 0);
    for (int i = 0; i < 100; i++)
        xp_events_copy(ev, XP_EVENTS_MAX); /* readers meanwhile see whole events */
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(xp_events_count(), 40000);
    size_t n = xp_events_copy(ev, XP_EVENTS_MAX);
    assert_int_equal(n, XP_EVENTS_MAX);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].type, XP_EV_LEVEL);
        assert_true(xp_level_parse(ev[i].from) >= 0 && xp_level_parse(ev[i].to) >= 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(every_kind_newest_first, reset),
        cmocka_unit_test_setup(ring_keeps_the_last_256, reset),
        cmocka_unit_test_setup(long_texts_are_cut, reset),
        cmocka_unit_test_setup(writers_on_many_threads, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
