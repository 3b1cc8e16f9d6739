/* The runtime (engine/runtime.c) with real threads and the test tree's "fake" collector:
 * reloads that keep unchanged dependencies with their state and replace the changed ones,
 * reloads racing the start, every allocation of a reload failing in turn (the running
 * runtime must come out untouched and nothing may leak), and stop.
 *
 * The runtime is one per process and starts once, so the tests run in order on the same
 * runtime: start (with reloads racing it), reloads, out of memory, stop.
 *
 * Allocation failures: this executable is linked with -Wl,--wrap for malloc, calloc, realloc
 * and strdup (tests/CMakeLists.txt), so every allocation the core makes goes through the
 * __wrap_ functions below; arming fails the N-th allocation made by the arming thread (the
 * probe threads are never hit, so the failure lands where the test points). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/clock.h"
#include "config/config.h"
#include "engine/runtime.h"

/* ---------------------------------------------------------------- allocation failures */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static __thread long fail_at = -1; /* allocations of this thread to let through first */
static __thread long allocs;       /* allocations of this thread while armed */

static int should_fail(void)
{
    if (fail_at < 0)
        return 0;
    allocs++;
    if (fail_at-- == 0) {
        fail_at = -1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return should_fail() ? NULL : __real_strdup(s);
}

static void arm(long n)
{
    fail_at = n;
    allocs = 0;
}

static void disarm(void)
{
    fail_at = -1;
}

/* ---------------------------------------------------------------- helpers */

static char dir[64];
static char ok_script[128];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A config of fake dependencies: each "NAME" or "NAME:TIMEOUT_MS". */
static xp_config *config_of(const char *const *deps, size_t n)
{
    char text[16384];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char name[64];
        int timeout = 50;
        snprintf(name, sizeof(name), "%s", deps[i]);
        char *colon = strchr(name, ':');
        if (colon) {
            *colon = '\0';
            timeout = atoi(colon + 1);
        }
        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                "[dependency.%s]\ncollector = fake\nscript = %s\n"
                                "interval = 100ms\ntimeout = %dms\n\n",
                                name, ok_script, timeout);
        assert_true(len < sizeof(text));
    }
    char err[512];
    xp_config *cfg = xp_config_parse("test.ini", text, len, 0, err, sizeof(err));
    if (!cfg)
        fail_msg("config: %s", err);
    return cfg;
}

/* What a page would see: name, the dependency's identity (where its settings live) and its
 * probe count, for every dependency, in config order. */
typedef struct seen {
    size_t n;
    char name[16][32];
    const void *id[16];
    uint64_t count[16];
} seen;

static int look(seen *out)
{
    xp_snapshot s;
    memset(&s, 0, sizeof(s));
    xp_runtime_lock();
    int rc = xp_runtime_snapshot(&s);
    if (rc == 0) {
        out->n = s.n_deps;
        for (size_t i = 0; i < s.n_deps && i < 16; i++) {
            snprintf(out->name[i], sizeof(out->name[i]), "%s", s.deps[i]->name);
            out->id[i] = s.deps[i];
            out->count[i] = s.views[i].count;
        }
    }
    xp_runtime_unlock();
    xp_snapshot_free(&s);
    return rc;
}

static size_t find(const seen *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0)
            return i;
    return SIZE_MAX;
}

/* Waits until every dependency has probed at least `n` times. */
static void wait_probes(uint64_t n)
{
    double until = xp_clock_mono() + 10;
    seen s;
    while (xp_clock_mono() < until) {
        assert_int_equal(look(&s), 0);
        size_t i = 0;
        while (i < s.n && s.count[i] >= n)
            i++;
        if (i == s.n)
            return;
        sleep_ms(10);
    }
    fail_msg("probes did not run");
}

/* ---------------------------------------------------------------- tests, in order */

static atomic_int racing;
static atomic_int race_ok, race_refused;

static void *reloader(void *arg)
{
    (void)arg;
    static const char *const deps[] = {"a", "b", "c:60"};
    while (atomic_load(&racing)) {
        char err[256];
        if (xp_runtime_swap(config_of(deps, 3), err, sizeof(err)) == 0)
            atomic_fetch_add(&race_ok, 1);
        else if (strcmp(err, "not started yet") == 0)
            atomic_fetch_add(&race_refused, 1);
        else
            fail_msg("reload failed: %s", err);
    }
    return NULL;
}

/* Reloads from two threads while the runtime starts: those before the start find nothing to
 * reload (and change nothing), those after it swap; no dependency is lost or doubled. */
static void test_start_with_reloads_racing(void **state)
{
    (void)state;
    static const char *const first[] = {"a", "b", "c"};
    atomic_store(&racing, 1);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reloader, NULL), 0);
    sleep_ms(20);
    char err[256];
    assert_int_equal(xp_runtime_start(config_of(first, 3), err, sizeof(err)), 0);
    /* Reloads keep coming through the first probes. */
    double until = xp_clock_mono() + 1;
    while (xp_clock_mono() < until && atomic_load(&race_ok) < 50)
        sleep_ms(10);
    atomic_store(&racing, 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    print_message("reloads: %d before the start, %d after\n", atomic_load(&race_refused),
                  atomic_load(&race_ok));
    assert_true(atomic_load(&race_ok) >= 10);
    /* A second start is refused, and changes nothing. */
    assert_int_equal(xp_runtime_start(config_of(first, 3), err, sizeof(err)), -1);
    seen s;
    assert_int_equal(look(&s), 0);
    assert_int_equal(s.n, 3);
    assert_true(find(&s, "a") == 0 && find(&s, "b") == 1 && find(&s, "c") == 2);
    wait_probes(2);
}

static void test_reload_keeps_unchanged_and_replaces_changed(void **state)
{
    (void)state;
    static const char *const before[] = {"a", "b", "c"};
    static const char *const after[] = {"c", "d", "a", "b:70"};
    char err[256];
    assert_int_equal(xp_runtime_swap(config_of(before, 3), err, sizeof(err)), 0);
    wait_probes(3);
    seen s0, s1;
    assert_int_equal(look(&s0), 0);
    assert_int_equal(xp_runtime_swap(config_of(after, 4), err, sizeof(err)), 0);
    assert_int_equal(look(&s1), 0);
    assert_int_equal(s1.n, 4);
    /* In the new order; a and c are the same dependencies with their counts, b (timeout
     * changed) starts afresh, d is new. */
    assert_true(find(&s1, "c") == 0 && find(&s1, "d") == 1 && find(&s1, "a") == 2 &&
                find(&s1, "b") == 3);
    assert_ptr_equal(s1.id[2], s0.id[find(&s0, "a")]);
    assert_ptr_equal(s1.id[0], s0.id[find(&s0, "c")]);
    assert_true(s1.count[2] >= s0.count[find(&s0, "a")]);
    assert_true(s1.count[0] >= 3);
    assert_ptr_not_equal(s1.id[3], s0.id[find(&s0, "b")]);
    assert_true(s1.count[3] <= 1 && s1.count[1] <= 1);
    wait_probes(2);
    /* Dropping all but one. */
    static const char *const one[] = {"d"};
    assert_int_equal(xp_runtime_swap(config_of(one, 1), err, sizeof(err)), 0);
    assert_int_equal(look(&s0), 0);
    assert_int_equal(s0.n, 1);
    assert_ptr_equal(s0.id[0], s1.id[1]);
}

/* Every allocation of a reload fails in turn: each failed reload says "out of memory" and
 * leaves the running dependencies as they were (the same ones, still probing); the first
 * that gets through switches. Under ASan this is also the leak check of every failure path. */
static void test_reload_out_of_memory_changes_nothing(void **state)
{
    (void)state;
    static const char *const running[] = {"a", "b", "c"};
    static const char *const next[] = {"c", "e", "a:70", "f"};
    char err[256];
    assert_int_equal(xp_runtime_swap(config_of(running, 3), err, sizeof(err)), 0);
    wait_probes(1);
    seen s0;
    assert_int_equal(look(&s0), 0);
    long k;
    for (k = 0; k < 1000; k++) {
        xp_config *cfg = config_of(next, 4);
        arm(k);
        int rc = xp_runtime_swap(cfg, err, sizeof(err));
        long made = allocs;
        disarm();
        if (rc == 0) {
            assert_true(made <= k); /* nothing was left to fail */
            break;
        }
        assert_string_equal(err, "out of memory");
        seen s;
        assert_int_equal(look(&s), 0);
        assert_int_equal(s.n, 3);
        for (size_t i = 0; i < 3; i++) {
            assert_string_equal(s.name[i], s0.name[i]);
            assert_ptr_equal(s.id[i], s0.id[i]);
        }
    }
    print_message("a reload makes %ld allocations; each failing one was survived\n", k);
    assert_true(k >= 5); /* the reload's own and two new dependencies at least */
    seen s;
    assert_int_equal(look(&s), 0);
    assert_int_equal(s.n, 4);
    assert_ptr_equal(s.id[0], s0.id[2]); /* c kept */
    /* The runtime still runs: every dependency goes on probing. */
    uint64_t c0 = s.count[0];
    wait_probes(1);
    double until = xp_clock_mono() + 5;
    while (xp_clock_mono() < until) {
        assert_int_equal(look(&s), 0);
        if (s.count[0] > c0)
            break;
        sleep_ms(10);
    }
    assert_true(s.count[0] > c0);
}

static void test_stop_cancels_and_refuses_more(void **state)
{
    (void)state;
    static const char *const deps[] = {"a", "b"};
    char err[256];
    assert_int_equal(xp_runtime_swap(config_of(deps, 2), err, sizeof(err)), 0);
    wait_probes(1);
    xp_runtime_stats st;
    xp_runtime_stats_get(&st);
    assert_int_equal(st.deps, 2);
    assert_true(st.workers >= 1 && st.dispatched >= 2);
    double t0 = xp_clock_mono();
    xp_runtime_stop(1.0);
    assert_true(xp_clock_mono() - t0 < 1.0);
    seen s;
    assert_int_equal(look(&s), -1); /* nothing left to show */
    assert_int_equal(xp_runtime_swap(config_of(deps, 2), err, sizeof(err)), -1);
    assert_string_equal(err, "the exporter is stopping");
    xp_runtime_stop(1.0); /* twice is harmless */
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/xp-runtime-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(ok_script, sizeof(ok_script), "%s/ok", dir);
    FILE *f = fopen(ok_script, "w");
    if (!f || fputs("ok\n", f) < 0 || fclose(f) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_with_reloads_racing),
        cmocka_unit_test(test_reload_keeps_unchanged_and_replaces_changed),
        cmocka_unit_test(test_reload_out_of_memory_changes_nothing),
        cmocka_unit_test(test_stop_cancels_and_refuses_more),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(ok_script);
    rmdir(dir);
    return rc;
}
