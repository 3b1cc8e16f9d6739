/* The health model of SPEC section 5 over the shipped staging config: a table of breaker
 * states with the level, score and features each must give. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "model/health.h"
#include "model/level.h"

static xp_config *cfg;

static int load(void **state)
{
    setenv("STAGING_DB_PASSWORD", "pw", 1);
    setenv("OPENAI_API_KEY", "sk-test", 1);
    const char *src = getenv("XP_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/etc/resilience_exporter.ini", src ? src : ".");
    char err[512];
    cfg = xp_config_load(path, err, sizeof(err));
    if (!cfg)
        fprintf(stderr, "%s\n", err);
    return cfg ? 0 : -1;
}

static int unload(void **state)
{
    xp_config_free(cfg);
    return 0;
}

enum { C = XP_CLOSED, O = XP_OPEN, H = XP_HALF_OPEN };

typedef struct scenario {
    const char *name;
    int state[4]; /* database, openai, redis, s3: the shipped order */
    double latency[4]; /* last successful probe, seconds; 0 = within budget */
    unsigned failures[4];
    int level;
    double score;
    const char *on; /* the features that must be on, space-separated; all others off */
} scenario;

static const char *const ALL =
    "inventory_management ai_recommendations realtime_updates redis_cache session_storage "
    "rate_limiting s3_uploads file_storage image_processing backup_operations full_ai_pipeline "
    "advanced_analytics realtime_inventory basic_analytics read_only_access minimal_access";

static const scenario table[] = {
    {"all closed", {C, C, C, C}, {0}, {0}, 0, 100, NULL},
    {"redis open", {C, C, O, C}, {0}, {0}, 1, 85,
     "inventory_management ai_recommendations file_storage full_ai_pipeline advanced_analytics "
     "basic_analytics read_only_access minimal_access"},
    {"s3 open", {C, C, C, O}, {0}, {0}, 1, 95,
     "inventory_management ai_recommendations realtime_updates redis_cache session_storage "
     "rate_limiting file_storage full_ai_pipeline advanced_analytics realtime_inventory "
     "basic_analytics read_only_access minimal_access"},
    {"openai open", {C, O, C, C}, {0}, {0}, 2, 70,
     "inventory_management session_storage basic_analytics read_only_access minimal_access"},
    {"database open", {O, C, C, C}, {0}, {0}, 4, 50, "read_only_access minimal_access"},
    {"redis and s3 open", {C, C, O, O}, {0}, {0}, 2, 80,
     "inventory_management basic_analytics read_only_access minimal_access"},
    {"three open", {C, O, O, O}, {0}, {0}, 3, 50,
     "inventory_management read_only_access minimal_access"},
    {"all open", {O, O, O, O}, {0}, {0}, 4, 0, "read_only_access minimal_access"},
    /* HALF_OPEN scores 50 and counts like OPEN for the cascade and open_level. */
    {"redis half-open", {C, C, H, C}, {0}, {0}, 1, 92.5,
     "inventory_management ai_recommendations file_storage full_ai_pipeline advanced_analytics "
     "basic_analytics read_only_access minimal_access"},
    {"database half-open", {H, C, C, C}, {0}, {0}, 4, 75, "read_only_access minimal_access"},
    /* Slow but successful: database at 400 ms against a 200 ms budget scores 50;
     * redis at 10 ms against 5 ms scores 50; the factor never goes below 0.5. */
    {"slow database", {C, C, C, C}, {0.4, 0, 0, 0}, {0}, 1, 75,
     "inventory_management ai_recommendations realtime_updates redis_cache session_storage "
     "rate_limiting file_storage full_ai_pipeline advanced_analytics realtime_inventory "
     "basic_analytics read_only_access minimal_access"},
    {"very slow database", {C, C, C, C}, {4.0, 0, 0, 0}, {0}, 1, 75, NULL},
    {"slightly slow database", {C, C, C, C}, {0.25, 0, 0, 0}, {0}, 0, 90, NULL},
    /* Failures below the threshold lower the score: database 2 of 3 -> 33.3. */
    {"database failing", {C, C, C, C}, {0}, {2, 0, 0, 0}, 2, 66.66666666666667,
     "inventory_management session_storage basic_analytics read_only_access minimal_access"},
};

static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

static void staging_table(void **state)
{
    assert_int_equal(cfg->n_deps, 4);
    assert_int_equal(cfg->n_features, 16);
    for (size_t k = 0; k < sizeof(table) / sizeof(table[0]); k++) {
        const scenario *sc = &table[k];
        xp_health_dep deps[4];
        double scores[4];
        int on[16];
        xp_health_result r;
        for (int i = 0; i < 4; i++) {
            const xp_dep_cfg *d = &cfg->deps[i];
            deps[i] = (xp_health_dep){
                .state = (xp_breaker_state)sc->state[i],
                .consecutive_failures = sc->failures[i],
                .failure_threshold = d->failure_threshold,
                .latency_budget = d->latency_budget,
                .last_success_latency = sc->latency[i] > 0 ? sc->latency[i] : d->latency_budget / 2,
                .weight = d->weight,
                .open_level = d->open_level,
            };
        }
        xp_health_eval(&cfg->degradation, deps, 4, cfg->features, cfg->n_features, scores, on, &r);
        if (r.level != sc->level || fabs(r.system_score - sc->score) > 1e-6)
            fail_msg("%s: level %d score %.9f, want level %d score %.9f", sc->name, r.level,
                     r.system_score, sc->level, sc->score);
        const char *want = sc->on ? sc->on : ALL;
        if (sc->level > 0 && !sc->on)
            want = "inventory_management ai_recommendations realtime_updates redis_cache "
                   "session_storage rate_limiting file_storage full_ai_pipeline "
                   "advanced_analytics realtime_inventory basic_analytics read_only_access "
                   "minimal_access";
        for (size_t j = 0; j < cfg->n_features; j++)
            if (on[j] != in_list(want, cfg->features[j].name))
                fail_msg("%s: feature %s is %s", sc->name, cfg->features[j].name,
                         on[j] ? "on" : "off");
    }
}

/* The fields version 1 had; the version-2 ones (rates, thresholds, mode) unset. */
static xp_health_dep dep(xp_breaker_state st, unsigned cf, unsigned ft, double budget,
                         double latency, double weight, int open_level)
{
    return (xp_health_dep){.state = st,
                           .consecutive_failures = cf,
                           .failure_threshold = ft,
                           .latency_budget = budget,
                           .last_success_latency = latency,
                           .weight = weight,
                           .open_level = open_level};
}

static void dep_score_formula(void **state)
{
    xp_health_dep d = dep(XP_CLOSED, 0, 3, 0.2, 0.1, 1, 0);
    assert_true(xp_health_dep_score(&d) == 100);
    d.consecutive_failures = 1;
    assert_true(fabs(xp_health_dep_score(&d) - 66.666666666) < 1e-6);
    d.consecutive_failures = 0;
    d.last_success_latency = 0.3; /* 0.2 / 0.3 */
    assert_true(fabs(xp_health_dep_score(&d) - 66.666666666) < 1e-6);
    d.last_success_latency = -1; /* never probed yet: scores 100 */
    assert_true(xp_health_dep_score(&d) == 100);
    d.state = XP_OPEN;
    assert_true(xp_health_dep_score(&d) == 0);
    d.state = XP_HALF_OPEN;
    assert_true(xp_health_dep_score(&d) == 50);
}

static void thresholds_with_tolerance(void **state)
{
    const xp_degradation_cfg *g = &cfg->degradation;
    assert_int_equal(xp_health_level_for_score(g, 100), XP_LEVEL_OPTIMAL);
    assert_int_equal(xp_health_level_for_score(g, 90), XP_LEVEL_OPTIMAL);
    assert_int_equal(xp_health_level_for_score(g, 89.999), XP_LEVEL_DEGRADED);
    assert_int_equal(xp_health_level_for_score(g, 69.99999999999), XP_LEVEL_DEGRADED);
    assert_int_equal(xp_health_level_for_score(g, 69.9999), XP_LEVEL_LIMITED);
    assert_int_equal(xp_health_level_for_score(g, 60), XP_LEVEL_LIMITED);
    assert_int_equal(xp_health_level_for_score(g, 40), XP_LEVEL_MINIMAL);
    assert_int_equal(xp_health_level_for_score(g, 39.9), XP_LEVEL_EMERGENCY);
    assert_int_equal(xp_health_level_for_score(g, 0), XP_LEVEL_EMERGENCY);
}

static void cascade_beyond_largest_key(void **state)
{
    xp_degradation_cfg g = {{90, 70, 60, 40}, 2, {{2, XP_LEVEL_LIMITED}, {3, XP_LEVEL_MINIMAL}}};
    assert_int_equal(xp_health_cascade_level(&g, 0), XP_LEVEL_OPTIMAL);
    assert_int_equal(xp_health_cascade_level(&g, 1), XP_LEVEL_OPTIMAL);
    assert_int_equal(xp_health_cascade_level(&g, 2), XP_LEVEL_LIMITED);
    assert_int_equal(xp_health_cascade_level(&g, 3), XP_LEVEL_MINIMAL);
    assert_int_equal(xp_health_cascade_level(&g, 7), XP_LEVEL_MINIMAL);
}

static void zero_weight_monitors_without_scoring(void **state)
{
    xp_degradation_cfg g = {{90, 70, 60, 40}, 0, {{0, 0}}};
    xp_health_dep deps[2] = {dep(XP_CLOSED, 0, 3, 1, 0.1, 1, 0), dep(XP_OPEN, 3, 3, 1, 0.1, 0, 1)};
    double scores[2];
    xp_health_result r;
    xp_health_eval(&g, deps, 2, NULL, 0, scores, NULL, &r);
    assert_true(r.system_score == 100);
    assert_true(scores[1] == 0);
    assert_int_equal(r.level, XP_LEVEL_DEGRADED); /* its open_level still applies */
}


/* Version 2: the CLOSED score takes the worst of the count and the two rate terms. */
static void score_with_rate_terms(void **state)
{
    static const struct {
        const char *name;
        xp_breaker_state st;
        unsigned cf, ft;
        double fr, frt, sr, srt;
        double latency; /* last success, against a 0.2 s budget */
        double want;
    } cases[] = {
        {"no thresholds: the version-1 formula", XP_CLOSED, 1, 3, 0.4, 0, 0.9, 0, 0.1,
         66.66666666666667},
        {"failure rate at half its threshold", XP_CLOSED, 0, 3, 0.25, 0.5, -1, 0, 0.1, 50},
        {"below minimum_calls (-1): no term", XP_CLOSED, 0, 3, -1, 0.5, -1, 0.8, 0.1, 100},
        {"a rate without its threshold: no term", XP_CLOSED, 0, 3, 0.9, 0, 0.9, 0, 0.1, 100},
        {"the count term is the worst", XP_CLOSED, 2, 3, 0.1, 0.5, 0, 0.8, 0.1, 33.333333333333336},
        {"the failure-rate term is the worst", XP_CLOSED, 1, 3, 0.4, 0.5, 0, 0.8, 0.1, 20},
        {"the slow term is the worst", XP_CLOSED, 0, 3, 0, 0.5, 0.4, 0.8, 0.1, 50},
        {"a rate at its threshold scores 0", XP_CLOSED, 0, 3, 0.5, 0.5, 0, 0, 0.1, 0},
        {"past a threshold (disabled): clamped at 0", XP_CLOSED, 0, 3, 0.9, 0.5, 0, 0, 0.1, 0},
        {"past failure_threshold (disabled): clamped at 0", XP_CLOSED, 7, 3, 0, 0, 0, 0, 0.1, 0},
        {"the latency factor multiplies", XP_CLOSED, 0, 3, 0.25, 0.5, 0, 0, 0.4, 25},
        {"OPEN is 0 whatever the rates", XP_OPEN, 0, 3, 0, 0.5, 0, 0.8, 0.1, 0},
        {"HALF_OPEN is 50 whatever the rates", XP_HALF_OPEN, 5, 3, 0.9, 0.5, 0.9, 0.8, 0.1, 50},
        /* Issue 14: 8 failures in a window of 20 against 50% (and 1 in a row of 3). */
        {"fails often but not in a row", XP_CLOSED, 1, 3, 0.4, 0.5, 0, 0, 0.1, 20},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        xp_health_dep d = dep(cases[k].st, cases[k].cf, cases[k].ft, 0.2, cases[k].latency, 1, 0);
        d.failure_rate = cases[k].fr;
        d.failure_rate_threshold = cases[k].frt;
        d.slow_call_rate = cases[k].sr;
        d.slow_call_rate_threshold = cases[k].srt;
        for (int m = 0; m < XP_MODE_COUNT; m++) { /* a dependency's own score ignores its mode */
            d.mode = (xp_mode)m;
            double got = xp_health_dep_score(&d);
            if (fabs(got - cases[k].want) > 1e-9)
                fail_msg("%s (%s): %.12g, want %.12g", cases[k].name, xp_mode_name(d.mode), got,
                         cases[k].want);
        }
    }
}

enum { A = XP_MODE_AUTO, F = XP_MODE_FORCED_OPEN, D = XP_MODE_DISABLED, M = XP_MODE_METRICS_ONLY };

/* Modes and rates over the shipped staging config: level, system score, features, and each
 * dependency's own score. */
static void staging_modes_table(void **state)
{
    static const struct {
        const char *name;
        int state[4];
        int mode[4];
        unsigned failures[4];
        double latency[4]; /* 0: within budget */
        double failure_rate[4];  /* with a 50% threshold on every dependency; 0 = none */
        double db_score;   /* database's own score */
        int level;
        double score;
        const char *on;
    } cases[] = {
        {"database metrics_only and OPEN: counts as CLOSED with weight 0",
         {O, C, C, C}, {M, A, A, A}, {3}, {0}, {0}, 0, 0, 100, NULL},
        {"database metrics_only, slow: its score shows, the system's does not move",
         {C, C, C, C}, {M, A, A, A}, {0}, {0.4}, {0}, 50, 0, 100, NULL},
        {"redis metrics_only and HALF_OPEN: features that need redis stay on",
         {C, C, H, C}, {A, A, M, A}, {0}, {0}, {0}, 100, 0, 100, NULL},
        {"database forced_open reads OPEN: emergency",
         {O, C, C, C}, {F, A, A, A}, {0}, {0}, {0}, 0, 4, 50, "read_only_access minimal_access"},
        {"database disabled past its threshold: CLOSED, scored 0 by the CLOSED formula",
         {C, C, C, C}, {D, A, A, A}, {5}, {0}, {0}, 0, 3, 50,
         "inventory_management read_only_access minimal_access"},
        {"database failing 40% of its probes against 50%: scores 20",
         {C, C, C, C}, {A, A, A, A}, {1}, {0}, {0.4}, 20, 2, 60,
         "inventory_management session_storage basic_analytics read_only_access minimal_access"},
        {"database metrics_only at 40%: shown 20, counted as nothing",
         {C, C, C, C}, {M, A, A, A}, {1}, {0}, {0.4}, 20, 0, 100, NULL},
        {"every dependency metrics_only and OPEN: nothing counts, 100",
         {O, O, O, O}, {M, M, M, M}, {3, 5, 5, 4}, {0}, {0}, 0, 0, 100, NULL},
        {"s3 OPEN, database metrics_only OPEN: only s3 counts",
         {O, C, C, O}, {M, A, A, A}, {0}, {0}, {0}, 0, 1, 90,
         "inventory_management ai_recommendations realtime_updates redis_cache session_storage "
         "rate_limiting file_storage full_ai_pipeline advanced_analytics realtime_inventory "
         "basic_analytics read_only_access minimal_access"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        xp_health_dep deps[4];
        double scores[4];
        int on[16];
        xp_health_result r;
        for (int i = 0; i < 4; i++) {
            const xp_dep_cfg *d = &cfg->deps[i];
            deps[i] = dep((xp_breaker_state)cases[k].state[i], cases[k].failures[i],
                          d->failure_threshold, d->latency_budget,
                          cases[k].latency[i] > 0 ? cases[k].latency[i] : d->latency_budget / 2,
                          d->weight, d->open_level);
            deps[i].mode = (xp_mode)cases[k].mode[i];
            deps[i].failure_rate = cases[k].failure_rate[i] > 0 ? cases[k].failure_rate[i] : -1;
            deps[i].failure_rate_threshold = 0.5;
        }
        xp_health_eval(&cfg->degradation, deps, 4, cfg->features, cfg->n_features, scores, on, &r);
        if (r.level != cases[k].level || fabs(r.system_score - cases[k].score) > 1e-6 ||
            fabs(scores[0] - cases[k].db_score) > 1e-6)
            fail_msg("%s: level %d score %.9f database %.9f, want %d %.9f %.9f", cases[k].name,
                     r.level, r.system_score, scores[0], cases[k].level, cases[k].score,
                     cases[k].db_score);
        const char *want = cases[k].on ? cases[k].on : ALL;
        for (size_t j = 0; j < cfg->n_features; j++)
            if (on[j] != in_list(want, cfg->features[j].name))
                fail_msg("%s: feature %s is %s", cases[k].name, cfg->features[j].name,
                         on[j] ? "on" : "off");
    }
}

/* What the engine hands the model: the breaker's own view of itself. */
static void dep_from_breaker(void **state)
{
    xp_breaker_cfg c = {.failure_threshold = 4, .recovery_timeout = 10,
                        .failure_rate_threshold = 0.5, .slow_call_duration = 1,
                        .slow_call_rate_threshold = 0.9, .minimum_calls = 4,
                        .mode = XP_MODE_METRICS_ONLY};
    xp_breaker b;
    xp_window w;
    xp_transition t;
    assert_int_equal(xp_breaker_init(&b, &w, &c), 0);
    xp_health_dep d = dep(XP_OPEN, 9, 9, 0.2, 0.1, 1, 0);
    xp_health_dep_from_breaker(&d, &b);
    assert_int_equal(d.state, XP_CLOSED);
    assert_int_equal(d.consecutive_failures, 0);
    assert_int_equal(d.failure_threshold, 4);
    assert_true(d.failure_rate == -1 && d.slow_call_rate == -1);
    assert_int_equal(d.mode, XP_MODE_METRICS_ONLY);
    xp_breaker_record(&b, &w, XP_CALL_SUCCESS, 2, 1, &t); /* slow */
    xp_breaker_record(&b, &w, XP_CALL_SUCCESS, 0.5, 2, &t);
    xp_breaker_record(&b, &w, XP_CALL_SUCCESS, 0.5, 3, &t);
    xp_breaker_record(&b, &w, XP_CALL_FAILURE, 0.5, 4, &t);
    xp_health_dep_from_breaker(&d, &b);
    assert_true(d.failure_rate == 0.25 && d.slow_call_rate == 0.25);
    assert_true(d.failure_rate_threshold == 0.5 && d.slow_call_rate_threshold == 0.9);
    assert_int_equal(d.consecutive_failures, 1);
    /* min(1 - 1/4, 1 - 0.25/0.5, 1 - 0.25/0.9) = 0.5; latency 0.1 within 0.2 */
    assert_true(fabs(xp_health_dep_score(&d) - 50) < 1e-9);
    assert_true(xp_health_dep_counts_closed(&d));
    d.state = XP_OPEN;
    assert_true(xp_health_dep_counts_closed(&d)); /* shadow mode */
    d.mode = XP_MODE_AUTO;
    assert_false(xp_health_dep_counts_closed(&d));
    d.mode = XP_MODE_DISABLED;
    assert_false(xp_health_dep_counts_closed(&d));
    xp_window_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(staging_table),
        cmocka_unit_test(dep_score_formula),
        cmocka_unit_test(thresholds_with_tolerance),
        cmocka_unit_test(cascade_beyond_largest_key),
        cmocka_unit_test(zero_weight_monitors_without_scoring),
        cmocka_unit_test(score_with_rate_terms),
        cmocka_unit_test(staging_modes_table),
        cmocka_unit_test(dep_from_breaker),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
