/* The exposition writer: escaping, number formatting, and the whole body for a fixed
 * snapshot compared with a reviewed golden file (tests/fixtures/render_golden.prom, also fed
 * to promtool and prometheus_client by tests/integration/test_exposition.py). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expo/expo.h"
#include "expo/render.h"

static void label_and_help_escaping(void **state)
{
    xp_buf b;
    xp_buf_init(&b);
    xp_expo_label_value(&b, "a\"b\\c\nd");
    assert_string_equal(b.data, "a\\\"b\\\\c\\nd");
    xp_buf_reset(&b);
    xp_expo_help_text(&b, "say \"hi\"\\\n");
    assert_string_equal(b.data, "say \"hi\"\\\\\\n");
    xp_buf_free(&b);
}

static void numbers(void **state)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {{0, "0"},        {1, "1"},         {-3, "-3"},     {100, "100"},
                 {0.1, "0.1"},    {66.66666666666667, "66.666666666666671"},
                 {1e300, "1.00000000000000e+300"}, {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},
                 {NAN, "NaN"},    {1732435200.123, "1732435200.123"}, {0.0025, "0.0025"}};
    xp_buf b;
    xp_buf_init(&b);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xp_buf_reset(&b);
        xp_expo_double(&b, cases[i].v);
        if (isnan(cases[i].v) || isinf(cases[i].v) || fabs(cases[i].v) < 1e15)
            assert_string_equal(b.data, cases[i].text);
        else /* huge values: any spelling that reads back to the same double */
            assert_true(strtod(b.data, NULL) == cases[i].v);
    }
    xp_buf_reset(&b);
    xp_expo_u64(&b, UINT64_MAX);
    assert_string_equal(b.data, "18446744073709551615");
    xp_buf_free(&b);
}

/* A fixed snapshot: two dependencies, one OPEN with a failure, one CLOSED and probed. */
static int fixed_snapshot(xp_snapshot *s, xp_config *cfg, xp_dep_cfg *deps, xp_dep_view *views,
                          const xp_dep_cfg **dp, double *scores, int *on, xp_feature_cfg *feat,
                          size_t *req)
{
    memset(cfg, 0, sizeof(*cfg));
    memset(deps, 0, 2 * sizeof(*deps));
    memset(views, 0, 2 * sizeof(*views));
    deps[0].name = "database";
    deps[0].collector = xp_collector_find("postgres");
    snprintf(deps[0].target, sizeof(deps[0].target), "db.example:5432");
    deps[0].interval = 10;
    deps[0].timeout = 2;
    deps[1].name = "cache";
    deps[1].interval = 0.5; /* probed twice a second, with a 250 ms deadline */
    deps[1].timeout = 0.25;
    deps[1].collector = xp_collector_find("redis");
    /* A target with every character the format must escape. */
    snprintf(deps[1].target, sizeof(deps[1].target), "unix:/tmp/a \"b\"\\c\nd");
    if (!deps[0].collector || !deps[1].collector)
        return -1;

    /* database: tripped by its failure rate (7 of 14 against 50%), some failures ignored. */
    xp_window w; /* a rendered view never needs its window */
    xp_breaker_cfg bc0 = {.failure_threshold = 3, .recovery_timeout = 20, .half_open_requests = 1,
                          .failure_rate_threshold = 0.5};
    if (xp_breaker_init(&views[0].br, &w, &bc0) != 0)
        return -1;
    xp_window_free(&w);
    views[0].br.state = XP_OPEN;
    views[0].br.opened_at = 100;
    views[0].br.recovery_wait = 20;
    views[0].br.win = (xp_window_counts){14, 7, 2};
    views[0].br.calls[XP_CALL_IGNORED] = 3;
    views[0].br.consecutive_failures = 4;
    views[0].br.calls[XP_CALL_SUCCESS] = 10;
    views[0].br.calls[XP_CALL_FAILURE] = 4;
    views[0].br.calls[XP_CALL_REJECTED] = 2;
    views[0].br.transitions[XP_T_CLOSED_OPEN] = 1;
    views[0].probed = 1;
    views[0].last_success = 0;
    views[0].last_timestamp = 1732435200.5;
    views[0].failure_timestamp = 1732435200.5;
    views[0].bucket[3] = 10; /* 10 probes in (0.005, 0.01] */
    views[0].bucket[12] = 4; /* 4 in (5, 10] */
    views[0].count = 14;
    views[0].sum = 0.08 + 4 * 8;
    for (int i = 0; i < XP_DETAIL_MAX; i++)
        views[0].detail[i] = views[1].detail[i] = NAN;
    views[0].detail[0] = 7; /* dependency_postgres_connections */
    views[0].failures[XP_REASON_CONNECT] = 1;
    views[0].failures[XP_REASON_TIMEOUT] = 3;
    views[0].last_reason = views[0].failure_reason = XP_REASON_TIMEOUT;

    /* cache: in shadow mode, its window (3 outcomes) still below minimum_calls. */
    xp_breaker_cfg bc1 = {.failure_threshold = 5, .recovery_timeout = 15, .half_open_requests = 2,
                          .mode = XP_MODE_METRICS_ONLY};
    if (xp_breaker_init(&views[1].br, &w, &bc1) != 0)
        return -1;
    xp_window_free(&w);
    views[1].br.win = (xp_window_counts){3, 0, 1};
    views[1].probed = 1;
    views[1].last_success = 1;
    views[1].last_timestamp = 1732435201.25;
    views[1].bucket[0] = 3;
    views[1].count = 3;
    views[1].sum = 0.0015;

    feat[0] = (xp_feature_cfg){"needs_db", 1, 1, req};
    req[0] = 0;
    feat[1] = (xp_feature_cfg){"always", 4, 0, NULL};
    cfg->features = feat;
    cfg->n_features = 2;

    dp[0] = &deps[0];
    dp[1] = &deps[1];
    scores[0] = 0;
    scores[1] = 100;
    on[0] = 0;
    on[1] = 1;
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->n_deps = 2;
    s->deps = dp;
    s->views = views;
    s->scores = scores;
    s->feature_on = on;
    s->health = (xp_health_result){33.333333333333336, 4, 1};
    s->now_mono = 112.5; /* 7.5 s left of the 20 s recovery: shown rounded up, 8 */
    s->now_wall = 1732435205;
    s->reload_ok = 1;
    s->reload_timestamp = 1732435100;
    return 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = calloc(1, 1 << 16);
    if (data)
        fread(data, 1, (1 << 16) - 1, f);
    fclose(f);
    return data;
}

/* Every reason of SPEC section 5 is a series of every dependency from the start, in the
 * order of precedence, holding its own count. */
static void failures_by_reason(void **state)
{
    static const char *const order[] = {"timeout",      "dns",          "tls",      "connect",
                                        "auth",         "rate_limited", "server_error",
                                        "client_error", "protocol",     "check"};
    xp_snapshot s;
    xp_config cfg;
    xp_dep_cfg deps[2];
    xp_dep_view views[2];
    const xp_dep_cfg *dp[2];
    double scores[2];
    int on[2];
    xp_feature_cfg feat[2];
    size_t req[1];
    assert_int_equal(fixed_snapshot(&s, &cfg, deps, views, dp, scores, on, feat, req), 0);
    views[1].probed = 0; /* never probed: the family is there all the same */
    xp_buf b;
    xp_buf_init(&b);
    assert_int_equal(xp_render_metrics(&s, NULL, &b), 0);
    assert_int_equal(XP_REASON_COUNT - 1, sizeof(order) / sizeof(order[0]));
    const char *at = strstr(b.data, "# TYPE dependency_probe_failures_total counter\n");
    assert_non_null(at);
    for (size_t d = 0; d < 2; d++)
        for (size_t r = 0; r < sizeof(order) / sizeof(order[0]); r++) {
            assert_string_equal(xp_reason_name((xp_reason)(r + 1)), order[r]);
            char line[160];
            int want = d == 0 && r == 0 ? 3 : d == 0 && r == 3 ? 1 : 0;
            snprintf(line, sizeof(line), "dependency_probe_failures_total{dependency=\"%s\",reason=\"%s\"} %d\n",
                     d == 0 ? "database" : "cache", order[r], want);
            const char *hit = strstr(at, line);
            assert_non_null(hit);
            at = hit; /* in order */
        }
    assert_string_equal(xp_reason_name(XP_REASON_NONE), "none");
    assert_string_equal(xp_reason_name(XP_REASON_COUNT), "none");
    xp_buf_free(&b);
}

static void whole_body_matches_golden(void **state)
{
    xp_snapshot s;
    xp_config cfg;
    xp_dep_cfg deps[2];
    xp_dep_view views[2];
    const xp_dep_cfg *dp[2];
    double scores[2];
    int on[2];
    xp_feature_cfg feat[2];
    size_t req[1];
    assert_int_equal(fixed_snapshot(&s, &cfg, deps, views, dp, scores, on, feat, req), 0);
    xp_buf b;
    xp_buf_init(&b);
    assert_int_equal(xp_render_metrics(&s, NULL, &b), 0);

    const char *src = getenv("XP_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/fixtures/render_golden.prom", src ? src : ".");
    if (getenv("XP_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fwrite(b.data, 1, b.len, f);
        fclose(f);
    }
    char *golden = read_file(path);
    assert_non_null(golden);
    /* The build info line carries this build's revision: compare everything else. */
    char *bi = strstr(b.data, "resilience_exporter_build_info{");
    char *gbi = strstr(golden, "resilience_exporter_build_info{");
    assert_non_null(bi);
    assert_non_null(gbi);
    assert_memory_equal(b.data, golden, (size_t)(bi - b.data));
    assert_string_equal(strchr(bi, '\n'), strchr(gbi, '\n'));
    free(golden);
    xp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(label_and_help_escaping),
        cmocka_unit_test(numbers),
        cmocka_unit_test(failures_by_reason),
        cmocka_unit_test(whole_body_matches_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
