/* The elastic worker pool (engine/pool.c) with real threads, kicked every 5 ms as the
 * scheduler does: blocked jobs hold one worker each and never hold up the others, a burst
 * of quick jobs needs few workers, surplus workers exit when idle, and stop hands back what
 * never started. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "base/clock.h"
#include "engine/pool.h"

#define LAG 0.005

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

typedef struct tjob {
    xp_pool_job job;
    atomic_int *release; /* blocks until non-zero, when set */
    _Atomic double started, ended; /* read by the test while workers run */
} tjob;

static atomic_int done_jobs;

static void run_tjob(xp_pool_job *j)
{
    tjob *t = (tjob *)j;
    t->started = xp_clock_mono();
    while (t->release && !atomic_load(t->release))
        sleep_s(0.002);
    t->ended = xp_clock_mono();
    atomic_fetch_add(&done_jobs, 1);
}

static void submit(xp_pool *p, tjob *t, atomic_int *release)
{
    t->job.run = run_tjob;
    t->release = release;
    atomic_store(&t->started, 0);
    atomic_store(&t->ended, 0);
    xp_pool_submit(p, &t->job, xp_clock_mono());
}

/* Kicks every 5 ms until `n` jobs are done or `seconds` pass. */
static void kick_until(xp_pool *p, int n, double seconds)
{
    double until = xp_clock_mono() + seconds;
    while (atomic_load(&done_jobs) < n && xp_clock_mono() < until) {
        xp_pool_kick(p, xp_clock_mono(), LAG);
        sleep_s(0.005);
    }
}

static void test_blocked_jobs_never_hold_up_the_others(void **state)
{
    (void)state;
    xp_pool p;
    assert_int_equal(xp_pool_init(&p, 2, 1024, 10), 0);
    atomic_store(&done_jobs, 0);
    static atomic_int release;
    static tjob blocked[20], quick[200];
    atomic_store(&release, 0);
    /* Twenty frozen backends, then quick probes behind them, in one round. */
    for (int i = 0; i < 20; i++)
        submit(&p, &blocked[i], &release);
    double t0 = xp_clock_mono();
    for (int i = 0; i < 200; i++)
        submit(&p, &quick[i], NULL);
    kick_until(&p, 200, 10);
    double took = xp_clock_mono() - t0;
    assert_int_equal(atomic_load(&done_jobs), 200);
    for (int i = 0; i < 20; i++)
        assert_true(blocked[i].started > 0 && blocked[i].ended == 0);
    xp_pool_stats st;
    xp_pool_stats_get(&p, &st);
    print_message("200 quick jobs behind 20 blocked ones: %.0f ms, %zu workers (peak %zu)\n",
                  took * 1000, st.threads, st.peak);
    /* Each blocked job holds one worker; all 200 quick ones finished while the 20 are still
     * blocked (checked above), which is the point: no time bound, a loaded machine may take
     * its time. */
    assert_true(st.busy == 20);
    assert_true(st.peak <= 20 + 64);
    atomic_store(&release, 1);
    xp_pool_job *left = NULL;
    assert_int_equal(xp_pool_stop(&p, xp_clock_mono() + 5, &left), 0);
    assert_null(left);
    assert_int_equal(atomic_load(&done_jobs), 220);
    xp_pool_destroy(&p);
}

static void test_a_burst_of_quick_jobs_needs_few_workers(void **state)
{
    (void)state;
    xp_pool p;
    assert_int_equal(xp_pool_init(&p, 1, 1024, 10), 0);
    atomic_store(&done_jobs, 0);
    static tjob quick[5000];
    for (int i = 0; i < 5000; i++)
        submit(&p, &quick[i], NULL);
    kick_until(&p, 5000, 20);
    assert_int_equal(atomic_load(&done_jobs), 5000);
    xp_pool_stats st;
    xp_pool_stats_get(&p, &st);
    print_message("5000 quick jobs: peak %zu workers, %lu wake-ups\n", st.peak, st.wakes_total);
    /* Far fewer workers and wake-ups than jobs: awake workers drain the queue. */
    assert_true(st.peak < 500);
    assert_true(st.wakes_total < 1000);
    xp_pool_job *left = NULL;
    assert_int_equal(xp_pool_stop(&p, xp_clock_mono() + 5, &left), 0);
    xp_pool_destroy(&p);
}

static void test_surplus_workers_exit_when_idle(void **state)
{
    (void)state;
    xp_pool p;
    assert_int_equal(xp_pool_init(&p, 2, 1024, 0.3), 0);
    atomic_store(&done_jobs, 0);
    static atomic_int release;
    static tjob blocked[30];
    atomic_store(&release, 0);
    for (int i = 0; i < 30; i++)
        submit(&p, &blocked[i], &release);
    double until = xp_clock_mono() + 10;
    xp_pool_stats st;
    do {
        xp_pool_kick(&p, xp_clock_mono(), LAG);
        sleep_s(0.005);
        xp_pool_stats_get(&p, &st);
    } while (st.busy < 30 && xp_clock_mono() < until);
    assert_int_equal(st.busy, 30);
    atomic_store(&release, 1);
    until = xp_clock_mono() + 10;
    do {
        sleep_s(0.05);
        xp_pool_kick(&p, xp_clock_mono(), LAG); /* reaps the exited ones */
        xp_pool_stats_get(&p, &st);
    } while (st.threads > 2 && xp_clock_mono() < until);
    assert_int_equal(st.threads, 2); /* the warm ones stay */
    xp_pool_job *left = NULL;
    assert_int_equal(xp_pool_stop(&p, xp_clock_mono() + 5, &left), 0);
    xp_pool_destroy(&p);
}

static void test_stop_hands_back_unstarted_and_waits_for_running(void **state)
{
    (void)state;
    static xp_pool p; /* outlives this function while its worker runs */
    assert_int_equal(xp_pool_init(&p, 1, 1, 10), 0); /* one worker: the rest must queue */
    atomic_store(&done_jobs, 0);
    static atomic_int release;
    static tjob jobs[3];
    atomic_store(&release, 0);
    for (int i = 0; i < 3; i++)
        submit(&p, &jobs[i], &release);
    double until = xp_clock_mono() + 5;
    while (jobs[0].started == 0 && xp_clock_mono() < until) {
        xp_pool_kick(&p, xp_clock_mono(), LAG);
        sleep_s(0.005);
    }
    assert_true(jobs[0].started > 0);
    /* The running job ignores the stop: the deadline passes with one worker left. */
    xp_pool_job *left = NULL;
    double t0 = xp_clock_mono();
    assert_int_equal(xp_pool_stop(&p, t0 + 0.2, &left), 1);
    assert_true(xp_clock_mono() - t0 >= 0.19);
    int n = 0;
    for (xp_pool_job *j = left; j; j = j->next)
        n++;
    assert_int_equal(n, 2);
    /* Released, the worker finishes: a second stop finds nothing left to wait for. */
    atomic_store(&release, 1);
    xp_pool_job *none = NULL;
    assert_int_equal(xp_pool_stop(&p, xp_clock_mono() + 5, &none), 0);
    assert_null(none);
    xp_pool_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_jobs_never_hold_up_the_others),
        cmocka_unit_test(test_a_burst_of_quick_jobs_needs_few_workers),
        cmocka_unit_test(test_surplus_workers_exit_when_idle),
        cmocka_unit_test(test_stop_hands_back_unstarted_and_waits_for_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
