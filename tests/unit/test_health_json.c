/* The /health document (exporter/web/health_json.c) when memory runs out (issue 10, fault 8):
 * jansson's allocator is made to fail at the 1st, 2nd, ... allocation of a render in turn.
 * Every render either fails (the server then answers 500) or produces the whole document;
 * never a 200 body that silently lost a key or a dependency. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector.h"
#include "web/pages.h"

static long allocs, fail_at; /* fail_at 0: never */
static int failed;

static void *counting_malloc(size_t n)
{
    if (++allocs == fail_at) {
        failed = 1;
        return NULL;
    }
    return malloc(n);
}

/* Two dependencies (one OPEN after failures, one CLOSED and probed), two features. */
typedef struct fixture {
    xp_snapshot s;
    xp_config cfg;
    xp_dep_cfg deps[2];
    const xp_dep_cfg *dp[2];
    xp_dep_view views[2];
    double scores[2];
    int on[2];
    xp_feature_cfg feat[2];
    xp_health_dep hd[2];
} fixture;

static void make(fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->deps[0].name = "database";
    f->deps[0].collector = xp_collector_find("postgres");
    f->deps[1].name = "cache";
    f->deps[1].collector = xp_collector_find("redis");
    assert_non_null(f->deps[0].collector);
    assert_non_null(f->deps[1].collector);
    xp_window w; /* a rendered view never needs its window */
    xp_breaker_cfg bc0 = {.failure_threshold = 3, .recovery_timeout = 20, .half_open_requests = 1};
    assert_int_equal(xp_breaker_init(&f->views[0].br, &w, &bc0), 0);
    xp_window_free(&w);
    f->views[0].br.state = XP_OPEN;
    f->views[0].br.opened_at = 100;
    f->views[0].br.consecutive_failures = 4;
    f->views[0].probed = 1;
    f->views[0].last_success = 0;
    f->views[0].last_duration = 0.25;
    f->views[0].last_timestamp = 1732435200.5;
    snprintf(f->views[0].last_error, sizeof(f->views[0].last_error), "connection refused");
    snprintf(f->views[0].failure_error, sizeof(f->views[0].failure_error), "connection refused");
    f->views[0].failure_timestamp = 1732435200.5;
    xp_breaker_cfg bc1 = {.failure_threshold = 5, .recovery_timeout = 15, .half_open_requests = 2};
    assert_int_equal(xp_breaker_init(&f->views[1].br, &w, &bc1), 0);
    xp_window_free(&w);
    f->views[1].probed = 1;
    f->views[1].last_success = 1;
    f->views[1].last_duration = 0.001;
    f->views[1].last_timestamp = 1732435201.25;
    f->feat[0].name = "needs_db";
    f->feat[1].name = "always";
    f->cfg.features = f->feat;
    f->cfg.n_features = 2;
    f->dp[0] = &f->deps[0];
    f->dp[1] = &f->deps[1];
    f->scores[0] = 0;
    f->scores[1] = 100;
    f->on[1] = 1;
    f->s.cfg = &f->cfg;
    f->s.n_deps = 2;
    f->s.deps = f->dp;
    f->s.views = f->views;
    f->s.scores = f->scores;
    f->s.feature_on = f->on;
    f->s.health = (xp_health_result){33.3, 4, 1};
    for (int i = 0; i < 2; i++) /* as xp_runtime_snapshot fills them */
        xp_health_dep_from_breaker(&f->hd[i], &f->views[i].br);
    f->s.hdeps = f->hd;
    f->s.now_mono = 112.5;
    f->s.now_wall = 1732435205;
}

static void whole_document_or_failure(void **state)
{
    (void)state;
    fixture f;
    make(&f);
    xp_buf want;
    xp_buf_init(&want);
    assert_int_equal(xp_render_health_json(&f.s, &want), 0);
    assert_non_null(strstr(want.data, "\"database\""));
    assert_non_null(strstr(want.data, "\"cache\""));
    assert_non_null(strstr(want.data, "\"always\": true"));

    json_set_alloc_funcs(counting_malloc, free);
    long failures = 0;
    for (fail_at = 1;; fail_at++) {
        allocs = 0;
        failed = 0;
        xp_buf got;
        xp_buf_init(&got);
        int rc = xp_render_health_json(&f.s, &got);
        if (rc == 0) {
            /* No allocation lost: the same document, byte for byte. */
            assert_string_equal(got.data, want.data);
        } else {
            assert_int_equal(rc, -1);
            assert_true(failed);
            failures++;
        }
        xp_buf_free(&got);
        if (!failed)
            break; /* fail_at is past the last allocation of a render */
    }
    json_set_alloc_funcs(malloc, free);
    /* Every allocation of a render was failed once, and each failure was reported. */
    assert_true(fail_at > 20);
    assert_int_equal(failures, fail_at - 1);
    xp_buf_free(&want);
}

/* The mode in force and, for a run-time mode with `for=`, when it ends (wall seconds). */
static void mode_and_its_end(void **state)
{
    (void)state;
    fixture f;
    make(&f);
    f.views[0].br.mode = XP_MODE_FORCED_OPEN;
    f.views[0].mode_override = (xp_mode_override){1, XP_MODE_FORCED_OPEN, 112.5 + 90};
    f.views[1].br.mode = XP_MODE_METRICS_ONLY; /* from the config: no end */
    for (int i = 0; i < 2; i++)
        xp_health_dep_from_breaker(&f.hd[i], &f.views[i].br);
    xp_buf b;
    xp_buf_init(&b);
    assert_int_equal(xp_render_health_json(&f.s, &b), 0);
    json_error_t je;
    json_t *doc = json_loads(b.data, 0, &je);
    assert_non_null(doc);
    json_t *db = json_object_get(json_object_get(doc, "dependencies"), "database");
    json_t *cache = json_object_get(json_object_get(doc, "dependencies"), "cache");
    assert_string_equal(json_string_value(json_object_get(db, "mode")), "forced_open");
    assert_true(json_real_value(json_object_get(db, "mode_until")) == 1732435205 + 90);
    assert_string_equal(json_string_value(json_object_get(cache, "mode")), "metrics_only");
    assert_true(json_is_null(json_object_get(cache, "mode_until")));
    json_decref(doc);
    xp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_document_or_failure),
        cmocka_unit_test(mode_and_its_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
