/* When dependencies probe (SPEC section 5), on a fake clock: the pure schedule
 * (engine/schedule.c) with its breaker, then the scheduler's heap (engine/scheduler.c) driven
 * without its thread or pool, so every due time is exact and a run of minutes takes
 * milliseconds. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/clock.h"
#include "engine/dep.h"
#include "engine/override.h"
#include "engine/schedule.h"
#include "engine/scheduler.h"
#include "model/breaker.h"

/* ---------------------------------------------------------------- the pure schedule */

static xp_transition t;

/* The window behind each breaker of these tests (the model keeps the outcomes there), found
 * by the breaker's address; freed after every test. */
#define MAX_BREAKERS 4
static const xp_breaker *owner[MAX_BREAKERS];
static xp_window windows[MAX_BREAKERS];

static xp_window *window_of(const xp_breaker *b)
{
    for (int i = 0; i < MAX_BREAKERS; i++)
        if (owner[i] == b)
            return &windows[i];
    fail_msg("breaker without a window");
    return NULL;
}

static int free_windows(void **state)
{
    (void)state;
    for (int i = 0; i < MAX_BREAKERS; i++) {
        if (owner[i])
            xp_window_free(&windows[i]);
        owner[i] = NULL;
    }
    return 0;
}

/* A breaker with its settings as the engine builds them (engine/dep.c) plus the backoff and
 * jitter given: opens after `threshold` consecutive failures, waits `recovery` seconds. */
static void breaker_with(xp_breaker *b, unsigned threshold, double recovery, double backoff,
                         double jitter)
{
    int i = 0;
    while (i < MAX_BREAKERS && owner[i] && owner[i] != b)
        i++;
    assert_true(i < MAX_BREAKERS);
    if (owner[i])
        xp_window_free(&windows[i]);
    xp_breaker_cfg c = {.failure_threshold = threshold,
                        .recovery_timeout = recovery,
                        .half_open_requests = 1,
                        .recovery_backoff = backoff,
                        .recovery_jitter = jitter};
    assert_int_equal(xp_breaker_init(b, &windows[i], &c), 0);
    owner[i] = b;
}

static void breaker(xp_breaker *b, unsigned threshold, double recovery)
{
    breaker_with(b, threshold, recovery, 0, 0);
}

/* A probe's outcome as engine/dep.c records it (ok: success, else failure), taking no time. */
static void record(xp_breaker *b, int ok, double now, xp_transition *tr)
{
    xp_breaker_record(b, window_of(b), ok ? XP_CALL_SUCCESS : XP_CALL_FAILURE, 0, now, tr);
}

static void test_probe_at_start_then_every_interval(void **state)
{
    (void)state;
    xp_sched s;
    xp_breaker b;
    breaker(&b, 3, 30);
    xp_sched_init(&s, 10, 0.3, 100);
    assert_true(xp_sched_wake(&s, &b) == 100); /* at once */
    assert_int_equal(xp_sched_step(&s, &b, 100, &t), XP_SCHED_PROBE);
    record(&b, 1, 100.01, &t);
    xp_sched_done(&s, 100.01);
    /* The second probe at start + interval * (0.5 + phase), then every interval. */
    double expect = 108;
    for (int i = 0; i < 50; i++) {
        double w = xp_sched_wake(&s, &b);
        assert_true(fabs(w - expect) < 1e-9);
        assert_int_equal(xp_sched_step(&s, &b, w, &t), XP_SCHED_PROBE);
        record(&b, 1, w + 0.002, &t);
        xp_sched_done(&s, w + 0.002);
        expect += 10;
    }
}

static void test_second_probe_within_half_and_one_and_a_half_intervals(void **state)
{
    (void)state;
    static const double phases[] = {0, 0.25, 0.5, 0.999999};
    for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
        xp_sched s;
        xp_breaker b;
        breaker(&b, 3, 30);
        xp_sched_init(&s, 60, phases[i], 0);
        assert_int_equal(xp_sched_step(&s, &b, 0, &t), XP_SCHED_PROBE);
        xp_sched_done(&s, 0.5);
        double w = xp_sched_wake(&s, &b);
        assert_true(w >= 30 && w < 90);
    }
}

static void test_early_wake_does_nothing(void **state)
{
    (void)state;
    xp_sched s;
    xp_breaker b;
    breaker(&b, 3, 30);
    xp_sched_init(&s, 10, 0, 0);
    assert_int_equal(xp_sched_step(&s, &b, 0, &t), XP_SCHED_PROBE);
    xp_sched_done(&s, 0.1);
    double w = xp_sched_wake(&s, &b);
    assert_int_equal(xp_sched_step(&s, &b, w - 0.001, &t), XP_SCHED_WAIT);
    assert_true(xp_sched_wake(&s, &b) == w);
    assert_int_equal(b.calls[XP_CALL_SUCCESS] + b.calls[XP_CALL_REJECTED], 0);
}

static void test_open_rejects_ticks_and_the_trial_runs_when_recovery_ends(void **state)
{
    (void)state;
    xp_sched s;
    xp_breaker b;
    breaker(&b, 1, 25);
    xp_sched_init(&s, 10, 0, 0); /* ticks at 0, 5, 15, 25, 35, ... */
    assert_int_equal(xp_sched_step(&s, &b, 0, &t), XP_SCHED_PROBE);
    record(&b, 0, 0.5, &t); /* fails: OPEN until 25.5 */
    assert_int_equal(t, XP_T_CLOSED_OPEN);
    xp_sched_done(&s, 0.5);

    /* Ticks at 5, 15 and 25 are rejected; the wake-ups are exactly those ticks. */
    for (double tick = 5; tick <= 25; tick += 10) {
        assert_true(xp_sched_wake(&s, &b) == tick);
        assert_int_equal(xp_sched_step(&s, &b, tick, &t), XP_SCHED_REJECTED);
        assert_int_equal(t, XP_T_NONE);
    }
    assert_int_equal(b.calls[XP_CALL_REJECTED], 3);
    /* The trial is due at 25.5, before the next tick (35): it runs then, at once. */
    assert_true(xp_sched_wake(&s, &b) == 25.5);
    assert_int_equal(xp_sched_step(&s, &b, 25.5, &t), XP_SCHED_PROBE);
    assert_int_equal(t, XP_T_OPEN_HALF_OPEN);
    assert_int_equal(b.state, XP_HALF_OPEN);
    record(&b, 1, 25.6, &t);
    assert_int_equal(t, XP_T_HALF_OPEN_CLOSED);
    xp_sched_done(&s, 25.6);
    /* Back on the grid: the trial did not move it. */
    assert_true(xp_sched_wake(&s, &b) == 35);
    assert_int_equal(b.calls[XP_CALL_REJECTED], 3);
}

static void test_a_trial_that_fails_reopens_and_waits_again(void **state)
{
    (void)state;
    xp_sched s;
    xp_breaker b;
    breaker(&b, 1, 12);
    xp_sched_init(&s, 10, 0, 0);
    assert_int_equal(xp_sched_step(&s, &b, 0, &t), XP_SCHED_PROBE);
    record(&b, 0, 0, &t);
    xp_sched_done(&s, 0);
    assert_int_equal(xp_sched_step(&s, &b, 5, &t), XP_SCHED_REJECTED);
    assert_true(xp_sched_wake(&s, &b) == 12);
    assert_int_equal(xp_sched_step(&s, &b, 12, &t), XP_SCHED_PROBE);
    record(&b, 0, 12.5, &t);
    assert_int_equal(t, XP_T_HALF_OPEN_OPEN);
    xp_sched_done(&s, 12.5);
    /* OPEN again from 12.5: ticks at 15 and 25 rejected, trial at 24.5 in between. */
    assert_true(xp_sched_wake(&s, &b) == 15);
    assert_int_equal(xp_sched_step(&s, &b, 15, &t), XP_SCHED_REJECTED);
    assert_true(xp_sched_wake(&s, &b) == 24.5);
    assert_int_equal(xp_sched_step(&s, &b, 24.5, &t), XP_SCHED_PROBE);
    assert_int_equal(t, XP_T_OPEN_HALF_OPEN);
}

static void test_an_overrun_skips_the_missed_ticks(void **state)
{
    (void)state;
    xp_sched s;
    xp_breaker b;
    breaker(&b, 3, 30);
    xp_sched_init(&s, 10, 0, 0); /* ticks at 5, 15, 25, ... after the start */
    assert_int_equal(xp_sched_step(&s, &b, 0, &t), XP_SCHED_PROBE);
    xp_sched_done(&s, 0);
    assert_int_equal(xp_sched_step(&s, &b, 5, &t), XP_SCHED_PROBE);
    /* A collector that ignored its deadline and came back at 37: ticks 15, 25 and 35 are
     * gone, the next is 45, and nothing is due before it. */
    record(&b, 1, 37, &t);
    xp_sched_done(&s, 37);
    assert_true(xp_sched_wake(&s, &b) == 45);
    assert_int_equal(xp_sched_step(&s, &b, 37, &t), XP_SCHED_WAIT);
    assert_int_equal(xp_sched_step(&s, &b, 44.999, &t), XP_SCHED_WAIT);
    assert_int_equal(xp_sched_step(&s, &b, 45, &t), XP_SCHED_PROBE);
    assert_int_equal(b.calls[XP_CALL_SUCCESS], 1);
}

static void test_no_burst_after_a_stall(void **state)
{
    (void)state;
    /* The process was stopped (SIGSTOP, a paused VM) from 6 to 1000: one probe when it
     * wakes, not a hundred, and the grid goes on where it belongs. */
    xp_sched s;
    xp_breaker b;
    breaker(&b, 3, 30);
    xp_sched_init(&s, 10, 0, 0);
    assert_int_equal(xp_sched_step(&s, &b, 0, &t), XP_SCHED_PROBE);
    xp_sched_done(&s, 0);
    assert_int_equal(xp_sched_step(&s, &b, 5, &t), XP_SCHED_PROBE);
    xp_sched_done(&s, 5.1);
    int probes = 0;
    for (double now = 1000; now < 1005; now += 0.01) {
        if (xp_sched_step(&s, &b, now, &t) == XP_SCHED_PROBE) {
            probes++;
            xp_sched_done(&s, now);
        }
    }
    assert_int_equal(probes, 1);
    assert_true(xp_sched_wake(&s, &b) == 1005);
    /* The same while OPEN: one rejected tick for the whole stall. */
    xp_breaker ob;
    breaker(&ob, 1, 1e6);
    xp_sched_init(&s, 10, 0, 0);
    assert_int_equal(xp_sched_step(&s, &ob, 0, &t), XP_SCHED_PROBE);
    record(&ob, 0, 0, &t);
    xp_sched_done(&s, 0);
    for (double now = 1000; now < 1005; now += 0.01)
        (void)xp_sched_step(&s, &ob, now, &t);
    assert_int_equal(ob.calls[XP_CALL_REJECTED], 1);
}

/* Draws for the breaker's jitter, in order. */
typedef struct draws {
    double u[4];
    int next;
} draws;

static double scripted(void *arg)
{
    draws *d = arg;
    return d->u[d->next++];
}

static void test_the_trial_comes_when_the_breaker_drew_it(void **state)
{
    (void)state;
    /* recovery_timeout 10, backoff 2, jitter 50 %: the first wait is 10 x U[0.5, 1.5], the
     * second 20 x U[0.5, 1.5]. The schedule follows what the model drew, nothing else. */
    xp_sched s;
    xp_breaker b;
    draws d = {{0, 1, 0.5, 0.5}, 0};
    breaker_with(&b, 1, 10, 2, 0.5);
    xp_breaker_set_random(&b, scripted, &d);
    xp_sched_init(&s, 100, 0, 0); /* ticks at 0, then 50, 150, ...: far from the trials */
    assert_int_equal(xp_sched_step(&s, &b, 0, &t), XP_SCHED_PROBE);
    record(&b, 0, 0, &t);
    assert_int_equal(t, XP_T_CLOSED_OPEN);
    xp_sched_done(&s, 0);
    assert_true(xp_breaker_due_at(&b) == 5); /* 10 x 0.5 */
    assert_true(xp_sched_wake(&s, &b) == 5);
    assert_int_equal(xp_sched_step(&s, &b, 4.999, &t), XP_SCHED_WAIT);
    assert_int_equal(xp_sched_step(&s, &b, 5, &t), XP_SCHED_PROBE);
    assert_int_equal(t, XP_T_OPEN_HALF_OPEN);
    record(&b, 0, 5, &t);
    assert_int_equal(t, XP_T_HALF_OPEN_OPEN);
    xp_sched_done(&s, 5);
    assert_true(xp_breaker_due_at(&b) == 35); /* 5 + 20 x 1.5 */
    assert_true(xp_sched_wake(&s, &b) == 35);
    assert_int_equal(xp_sched_step(&s, &b, 34.999, &t), XP_SCHED_WAIT);
    assert_int_equal(xp_sched_step(&s, &b, 35, &t), XP_SCHED_PROBE);
    assert_int_equal(b.calls[XP_CALL_REJECTED], 0);
}

static void test_forced_open_rejects_ticks_and_leaving_it_tries_at_once(void **state)
{
    (void)state;
    xp_sched s;
    xp_breaker b;
    xp_transition tt[2];
    breaker(&b, 3, 30);
    xp_sched_init(&s, 10, 0, 0); /* ticks at 0, 5, 15, 25, ... */
    assert_int_equal(xp_sched_step(&s, &b, 0, &t), XP_SCHED_PROBE);
    record(&b, 1, 0, &t);
    xp_sched_done(&s, 0);
    assert_int_equal(xp_breaker_set_mode(&b, window_of(&b), XP_MODE_FORCED_OPEN, 2, tt), 1);
    assert_int_equal(tt[0], XP_T_CLOSED_OPEN);
    /* No trial is due while forced open: the next wake-up is the tick, never "now" again. */
    assert_true(xp_sched_wake(&s, &b) == 5);
    assert_int_equal(xp_sched_step(&s, &b, 3, &t), XP_SCHED_WAIT);
    assert_int_equal(xp_sched_step(&s, &b, 5, &t), XP_SCHED_REJECTED);
    assert_true(xp_sched_wake(&s, &b) == 15);
    /* Back to auto at 7: HALF_OPEN, and the trial runs at once, between ticks. */
    assert_int_equal(xp_breaker_set_mode(&b, window_of(&b), XP_MODE_AUTO, 7, tt), 1);
    assert_int_equal(tt[0], XP_T_OPEN_HALF_OPEN);
    assert_true(xp_sched_wake(&s, &b) == 7);
    assert_int_equal(xp_sched_step(&s, &b, 7, &t), XP_SCHED_PROBE);
    assert_int_equal(t, XP_T_NONE);
    record(&b, 1, 7, &t);
    assert_int_equal(t, XP_T_HALF_OPEN_CLOSED);
    xp_sched_done(&s, 7);
    assert_true(xp_sched_wake(&s, &b) == 15);
    assert_int_equal(b.calls[XP_CALL_REJECTED], 1);
}

static void test_long_intervals_stay_exact(void **state)
{
    (void)state;
    /* 30 days (the longest interval the config allows) on a clock that has run for years. */
    double month = 30 * 86400.0, now = 1e8;
    xp_sched s;
    xp_breaker b;
    breaker(&b, 3, 30);
    xp_sched_init(&s, month, 0.75, now);
    assert_int_equal(xp_sched_step(&s, &b, now, &t), XP_SCHED_PROBE);
    xp_sched_done(&s, now + 1);
    double w = xp_sched_wake(&s, &b);
    assert_true(w == now + month * 1.25);
    assert_int_equal(xp_sched_step(&s, &b, w, &t), XP_SCHED_PROBE);
    xp_sched_done(&s, w + 1);
    assert_true(xp_sched_wake(&s, &b) == w + month);
}

static void test_phases_spread_evenly_and_stay_put(void **state)
{
    (void)state;
    int bucket[10] = {0};
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        double p = xp_sched_phase(name);
        assert_true(p >= 0 && p < 1);
        bucket[(int)(p * 10)]++;
    }
    for (int i = 0; i < 10; i++)
        assert_in_range(bucket[i], 850, 1150);
    assert_true(xp_sched_phase("database") == xp_sched_phase("database"));
    assert_true(xp_sched_phase("database") != xp_sched_phase("cache"));
}

/* ---------------------------------------------------------------- the scheduler's heap */

/* A fake clock for the engine: the monotonic and the wall clock move separately. */
static double fake_mono_now, fake_wall_now;
static double fake_mono(void)
{
    return fake_mono_now;
}
static double fake_wall(void)
{
    return fake_wall_now;
}
static void fake_clock_set(double mono, double wall)
{
    fake_mono_now = mono;
    fake_wall_now = wall;
}

/* A collector whose probes succeed or fail as the test says, at once. */
static int unit_fail;
static int unit_destroyed;
static int unit_probe(void *inst, xp_probe *p)
{
    (void)inst;
    if (unit_fail) {
        snprintf(p->err, sizeof(p->err), "down");
        return -1;
    }
    return 0;
}
static void unit_destroy(void *inst)
{
    free(inst);
    unit_destroyed++;
}
static const xp_collector unit_collector = {
    .name = "unit",
    .probe = unit_probe,
    .destroy = unit_destroy,
};

static xp_dep *new_dep(const char *name, double interval, unsigned threshold, double recovery)
{
    xp_dep_cfg c;
    memset(&c, 0, sizeof(c));
    c.name = strdup(name);
    c.collector = &unit_collector;
    c.inst = calloc(1, 1);
    c.interval = interval;
    c.timeout = interval / 2;
    c.failure_threshold = threshold;
    c.recovery_timeout = recovery;
    c.half_open_requests = 1;
    assert_non_null(c.name);
    assert_non_null(c.inst);
    xp_dep *d = xp_dep_create(&c);
    assert_non_null(d);
    return d;
}

/* Probes handed out by the scheduler, run by the test when it likes. */
typedef struct dispatched {
    xp_dep *d[20000];
    double at[20000];
    size_t n;
} dispatched;

static void note(xp_dep *d, void *arg)
{
    dispatched *q = arg;
    assert_true(q->n < sizeof(q->d) / sizeof(q->d[0]));
    q->d[q->n] = d;
    q->at[q->n] = fake_mono_now;
    q->n++;
}

/* Runs every dispatched job, as a worker would (they take no time on the fake clock), and
 * hands each back. */
static void run_all(xp_scheduler *s, dispatched *q)
{
    for (size_t i = 0; i < q->n; i++)
        xp_scheduler_job(s, q->d[i]);
    q->n = 0;
}

static xp_scheduler sch;
static dispatched queue;

static int setup_heap(void **state)
{
    (void)state;
    xp_clock_override(fake_mono, fake_wall);
    fake_clock_set(1000, 1.7e9);
    assert_int_equal(xp_scheduler_init(&sch), 0);
    sch.dispatch = note;
    sch.dispatch_arg = &queue;
    queue.n = 0;
    unit_fail = 0;
    unit_destroyed = 0;
    return 0;
}

static int teardown_heap(void **state)
{
    (void)state;
    assert_int_equal(xp_scheduler_stop(&sch, 0), 0);
    xp_scheduler_destroy(&sch);
    xp_clock_override(NULL, NULL);
    return 0;
}

static void test_ten_thousand_dependencies_spread_over_the_interval(void **state)
{
    (void)state;
    enum { N = 10000 };
    static xp_dep *deps[N];
    static double last[N];
    static int probes[N];
    char name[32];
    assert_int_equal(xp_scheduler_reserve(&sch, N), 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        deps[i] = new_dep(name, 10, 3, 30);
        xp_scheduler_add(&sch, &deps[i], 1, NULL, 0, 1000);
    }
    /* Every dependency probes at start. */
    double next = xp_scheduler_run_due(&sch, 1000);
    assert_int_equal(queue.n, N);
    for (size_t i = 0; i < queue.n; i++) {
        int k = atoi(queue.d[i]->cfg.name + 1);
        last[k] = 1000;
        probes[k]++;
    }
    run_all(&sch, &queue);
    assert_true(isinf(next)); /* all of them were in flight */
    /* Then, over 30 s in steps of 1 ms: each probe exactly on its grid (interval after the
     * one before, from the second on), and no second of the run with more than 1.25 times
     * its share (1,000 a second): the second probes and the later ticks are spread. */
    int per_second[30] = {0};
    for (long ms = 1; ms <= 30000; ms++) {
        double now = 1000 + ms / 1000.0;
        fake_clock_set(now, 1.7e9 + ms / 1000.0);
        next = xp_scheduler_run_due(&sch, now);
        assert_true(next > now);
        for (size_t i = 0; i < queue.n; i++) {
            int k = atoi(queue.d[i]->cfg.name + 1);
            assert_true(queue.d[i]->due <= now && queue.d[i]->due > now - 0.0011);
            if (probes[k] == 1)
                assert_true(now - last[k] >= 5 && now - last[k] < 15.001);
            else
                assert_true(fabs(now - last[k] - 10) < 0.0011);
            last[k] = now;
            probes[k]++;
            per_second[(ms - 1) / 1000]++;
        }
        run_all(&sch, &queue);
    }
    for (int sec = 5; sec < 30; sec++)
        assert_in_range(per_second[sec], 750, 1250);
    for (int k = 0; k < N; k++) {
        assert_in_range(probes[k], 3, 4);
        xp_scheduler_retire(&sch, &deps[k], 1, NULL, 0);
    }
    assert_int_equal(unit_destroyed, N);
    assert_int_equal(sch.n, 0);
}

static void test_a_wall_clock_jump_changes_nothing(void **state)
{
    (void)state;
    xp_dep *d = new_dep("database", 10, 3, 30);
    assert_int_equal(xp_scheduler_reserve(&sch, 1), 0);
    xp_scheduler_add(&sch, &d, 1, NULL, 0, 1000);
    double phase = xp_sched_phase("database");
    double expect[8];
    expect[0] = 1000;
    expect[1] = 1000 + 10 * (0.5 + phase);
    for (int i = 2; i < 8; i++)
        expect[i] = expect[i - 1] + 10;
    int n = 0;
    double wall = 1.7e9;
    for (long ms = 0; 1000 + ms / 1000.0 < expect[7] + 0.5; ms++) {
        double now = 1000 + ms / 1000.0;
        /* Back an hour at 12 s, forward a day at 31 s, back a year at 52 s. */
        if (ms == 12000)
            wall -= 3600;
        if (ms == 31000)
            wall += 86400;
        if (ms == 52000)
            wall -= 365 * 86400.0;
        fake_clock_set(now, wall + ms / 1000.0);
        xp_scheduler_run_due(&sch, now);
        for (size_t i = 0; i < queue.n; i++) {
            assert_true(n < 8);
            assert_true(fabs(now - expect[n]) < 0.0011);
            n++;
        }
        run_all(&sch, &queue);
        if (ms == 63000) {
            /* The jumps do show where they belong: in the timestamps of the results. */
            xp_dep_view v;
            xp_dep_view_copy(d, &v);
            assert_true(v.last_timestamp < 1.7e9 - 300 * 86400.0);
        }
    }
    assert_int_equal(n, 8);
    xp_scheduler_retire(&sch, &d, 1, NULL, 0);
}

static void test_rejected_ticks_are_counted_while_open(void **state)
{
    (void)state;
    xp_dep *d = new_dep("cache", 1, 2, 5.5);
    assert_int_equal(xp_scheduler_reserve(&sch, 1), 0);
    unit_fail = 1;
    xp_scheduler_add(&sch, &d, 1, NULL, 0, 1000);
    int probes = 0;
    double opened = 0, trial = 0;
    for (long ms = 0; ms <= 8000; ms++) {
        double now = 1000 + ms / 1000.0;
        fake_clock_set(now, 1.7e9 + ms / 1000.0);
        xp_scheduler_run_due(&sch, now);
        probes += (int)queue.n;
        if (queue.n && d->v.br.state == XP_HALF_OPEN)
            trial = now; /* dispatched as the trial: allow() moved it to HALF_OPEN */
        run_all(&sch, &queue);
        if (!opened && d->v.br.state == XP_OPEN)
            opened = now;
        if (trial)
            break;
    }
    /* Start, then one tick later the second failure opens it; the ticks of the next 5.5 s
     * are rejected, and the trial comes at exactly opened + 5.5, between ticks. */
    assert_true(opened > 1000);
    assert_true(fabs(trial - (opened + 5.5)) < 0.0011);
    assert_int_equal(d->v.br.calls[XP_CALL_REJECTED], 5);
    assert_int_equal(probes, 3);
    assert_int_equal(d->v.br.transitions[XP_T_OPEN_HALF_OPEN], 1);
    assert_int_equal(d->v.br.state, XP_OPEN); /* the trial failed too */
    unit_fail = 0;
    xp_scheduler_retire(&sch, &d, 1, NULL, 0);
}

static void test_a_dependency_retired_mid_probe_is_freed_when_the_probe_ends(void **state)
{
    (void)state;
    xp_dep *d = new_dep("leaving", 10, 3, 30);
    assert_int_equal(xp_scheduler_reserve(&sch, 1), 0);
    xp_scheduler_add(&sch, &d, 1, NULL, 0, 1000);
    xp_scheduler_run_due(&sch, 1000);
    assert_int_equal(queue.n, 1);
    assert_true(d->busy);
    xp_scheduler_retire(&sch, &d, 1, NULL, 0);
    assert_int_equal(unit_destroyed, 0); /* still probing */
    assert_int_equal(atomic_load(&d->stop), 1);
    xp_dep_probe(d); /* cut short: records nothing */
    assert_int_equal(d->v.probed, 0);
    xp_scheduler_done(&sch, d, 1000);
    assert_int_equal(unit_destroyed, 1);
    queue.n = 0;
    assert_int_equal(sch.n, 0);
}

static void test_reschedule_follows_a_breaker_changed_from_outside(void **state)
{
    (void)state;
    xp_dep *d = new_dep("moded", 60, 3, 5);
    assert_int_equal(xp_scheduler_reserve(&sch, 1), 0);
    xp_scheduler_add(&sch, &d, 1, NULL, 0, 1000);
    xp_scheduler_run_due(&sch, 1000);
    run_all(&sch, &queue);
    double tick = d->due;
    assert_true(tick > 1020);
    /* Forced open at 1010 (a run-time mode): no trial, so the next wake-up stays the tick. */
    xp_transition tt[2];
    pthread_mutex_lock(&d->mu);
    assert_int_equal(xp_breaker_set_mode(&d->v.br, &d->win, XP_MODE_FORCED_OPEN, 1010, tt), 1);
    pthread_mutex_unlock(&d->mu);
    xp_scheduler_reschedule(&sch, d);
    assert_true(d->due == tick);
    /* Back to auto at 1020: the trial at once, not at the next tick. */
    pthread_mutex_lock(&d->mu);
    assert_int_equal(xp_breaker_set_mode(&d->v.br, &d->win, XP_MODE_AUTO, 1020, tt), 1);
    pthread_mutex_unlock(&d->mu);
    xp_scheduler_reschedule(&sch, d);
    assert_true(d->due == 1020);
    assert_true(xp_scheduler_run_due(&sch, 1019.999) == 1020);
    assert_int_equal(queue.n, 0);
    xp_scheduler_run_due(&sch, 1020);
    assert_int_equal(queue.n, 1);
    run_all(&sch, &queue);
    assert_int_equal(d->v.br.state, XP_CLOSED);
    xp_scheduler_retire(&sch, &d, 1, NULL, 0);
}

/* A run-time mode with `for=` ends at its `until` even when no tick is near (a 60 s
 * interval here): the scheduler wakes for it, ends it on a worker, and the trial of leaving
 * forced_open runs at once; the tick grid is untouched. */
static void test_a_run_time_mode_ends_on_time_and_tries_at_once(void **state)
{
    (void)state;
    xp_dep *d = new_dep("maint", 60, 3, 5);
    assert_int_equal(xp_scheduler_reserve(&sch, 1), 0);
    xp_scheduler_add(&sch, &d, 1, NULL, 0, 1000);
    xp_scheduler_run_due(&sch, 1000);
    run_all(&sch, &queue);
    double tick = d->due;
    assert_true(tick > 1030);
    fake_clock_set(1010, 1.7e9 + 10);
    xp_mode_change ch;
    xp_dep_set_mode(d, XP_MODE_FORCED_OPEN, 10, "192.0.2.1", 1010, &ch);
    xp_scheduler_reschedule(&sch, d);
    assert_int_equal(ch.from, XP_MODE_AUTO);
    assert_int_equal(ch.mode, XP_MODE_FORCED_OPEN);
    assert_true(ch.until == 1020 && ch.until_wall == 1.7e9 + 20);
    assert_int_equal(d->v.br.state, XP_OPEN);
    assert_int_equal(d->v.br.transitions[XP_T_CLOSED_OPEN], 1); /* counted at once */
    assert_true(d->due == 1020);
    assert_true(xp_scheduler_run_due(&sch, 1019.999) == 1020);
    assert_int_equal(queue.n, 0);
    fake_clock_set(1020, 1.7e9 + 20);
    unsigned long probes = sch.dispatched;
    xp_scheduler_run_due(&sch, 1020);
    assert_int_equal(queue.n, 1); /* the end of the mode, on a worker */
    assert_true(d->mode_expiry);
    run_all(&sch, &queue);
    assert_int_equal(sch.dispatched, probes); /* no probe yet */
    assert_int_equal(d->v.br.mode, XP_MODE_AUTO);
    assert_false(d->v.mode_override.active);
    assert_int_equal(d->v.br.state, XP_HALF_OPEN);
    assert_true(d->due == 1020); /* the trial: at once */
    xp_scheduler_run_due(&sch, 1020);
    assert_int_equal(queue.n, 1);
    assert_int_equal(sch.dispatched, probes + 1);
    run_all(&sch, &queue);
    assert_int_equal(d->v.br.state, XP_CLOSED);
    assert_int_equal(d->v.br.calls[XP_CALL_SUCCESS], 2);
    assert_true(d->due == tick); /* the grid goes on as it was */

    /* mode=auto clears a run-time mode before its end: nothing left to wake for. */
    xp_dep_set_mode(d, XP_MODE_DISABLED, 5, "192.0.2.1", 1020, &ch);
    xp_scheduler_reschedule(&sch, d);
    assert_true(d->due == 1025);
    xp_dep_set_mode(d, XP_MODE_AUTO, 0, "192.0.2.1", 1021, &ch);
    xp_scheduler_reschedule(&sch, d);
    assert_true(ch.until_wall == 0 && isinf(ch.until));
    assert_true(d->due == tick);
    xp_scheduler_retire(&sch, &d, 1, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_probe_at_start_then_every_interval, free_windows),
        cmocka_unit_test_teardown(test_second_probe_within_half_and_one_and_a_half_intervals,
                                  free_windows),
        cmocka_unit_test_teardown(test_early_wake_does_nothing, free_windows),
        cmocka_unit_test_teardown(test_open_rejects_ticks_and_the_trial_runs_when_recovery_ends,
                                  free_windows),
        cmocka_unit_test_teardown(test_a_trial_that_fails_reopens_and_waits_again, free_windows),
        cmocka_unit_test_teardown(test_an_overrun_skips_the_missed_ticks, free_windows),
        cmocka_unit_test_teardown(test_no_burst_after_a_stall, free_windows),
        cmocka_unit_test_teardown(test_the_trial_comes_when_the_breaker_drew_it, free_windows),
        cmocka_unit_test_teardown(test_forced_open_rejects_ticks_and_leaving_it_tries_at_once,
                                  free_windows),
        cmocka_unit_test_teardown(test_long_intervals_stay_exact, free_windows),
        cmocka_unit_test(test_phases_spread_evenly_and_stay_put),
        cmocka_unit_test_setup_teardown(test_ten_thousand_dependencies_spread_over_the_interval,
                                        setup_heap, teardown_heap),
        cmocka_unit_test_setup_teardown(test_a_wall_clock_jump_changes_nothing, setup_heap,
                                        teardown_heap),
        cmocka_unit_test_setup_teardown(test_rejected_ticks_are_counted_while_open, setup_heap,
                                        teardown_heap),
        cmocka_unit_test_setup_teardown(
            test_a_dependency_retired_mid_probe_is_freed_when_the_probe_ends, setup_heap,
            teardown_heap),
        cmocka_unit_test_setup_teardown(test_reschedule_follows_a_breaker_changed_from_outside,
                                        setup_heap, teardown_heap),
        cmocka_unit_test_setup_teardown(test_a_run_time_mode_ends_on_time_and_tries_at_once,
                                        setup_heap, teardown_heap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
