/* The what-if (exporter/model/whatif.c, model/verdict.c) and its reports
 * (exporter/expo/whatif_report.c) on the shipped staging config: parsing `assume`, the
 * level, scores and features of each scenario, why each feature is off, and the matrix of
 * --config.check --matrix as text and JSON. */
#include <jansson.h>
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
#include "expo/whatif_report.h"
#include "model/level.h"
#include "model/verdict.h"
#include "model/whatif.h"

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

static int parse(const char *spec, xp_whatif *w, char *err)
{
    return xp_whatif_parse(spec, xp_whatif_config_name, cfg, cfg->n_deps, w, err, 512);
}

static size_t dep(const char *name)
{
    int i = xp_config_dep_index(cfg, name);
    assert_true(i >= 0);
    return (size_t)i;
}

static size_t feature(const char *name)
{
    for (size_t j = 0; j < cfg->n_features; j++)
        if (strcmp(cfg->features[j].name, name) == 0)
            return j;
    fail_msg("no feature %s", name);
    return 0;
}

static void parse_good_and_bad(void **state)
{
    xp_whatif w;
    char err[512];
    assert_int_equal(parse("redis:open", &w, err), 0);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.a[0].dep, dep("redis"));
    assert_int_equal(w.a[0].state, XP_OPEN);
    assert_int_equal(parse(" redis : half_open , s3:closed,database:open ", &w, err), 0);
    assert_int_equal(w.n, 3);
    assert_int_equal(w.a[0].state, XP_HALF_OPEN);
    assert_int_equal(w.a[1].dep, dep("s3"));
    assert_int_equal(w.a[1].state, XP_CLOSED);
    assert_int_equal(w.a[2].dep, dep("database"));

    static const struct {
        const char *spec, *says;
    } bad[] = {
        {"", "no dependency given"},
        {"redis:open,", "an empty item"},
        {",redis:open", "an empty item"},
        {"redis", "\"redis\" is not NAME:STATE"},
        {"cache:open", "unknown dependency \"cache\" (known: database, openai, redis, s3)"},
        {"redis:down", "unknown state \"down\" for redis (expected open, half_open or closed)"},
        {"redis:OPEN", "unknown state \"OPEN\""},
        {"redis:half-open", "unknown state"},
        {"redis:open,redis:closed", "redis is named twice"},
        {":open", "unknown dependency \"\""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(parse(bad[i].spec, &w, err), -1);
        if (!strstr(err, bad[i].says))
            fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].spec, err, bad[i].says);
    }
    /* A long name is quoted cut, never whole. */
    char longname[400];
    memset(longname, 'x', sizeof(longname));
    memcpy(longname + 390, ":open", 6);
    assert_int_equal(parse(longname, &w, err), -1);
    assert_true(strlen(err) < 200);
    assert_non_null(strstr(err, "...\""));
    /* A small buffer gets a cut message, NUL-terminated. */
    char small[8];
    assert_int_equal(xp_whatif_parse("nope:open", xp_whatif_config_name, cfg, cfg->n_deps, &w,
                                     small, sizeof(small)),
                     -1);
    assert_int_equal(strlen(small), 7);
}

typedef struct result {
    xp_health_dep deps[8];
    double scores[8];
    int on[32];
    xp_health_result res;
} result;

static void eval(const char *spec, result *r)
{
    xp_whatif w;
    char err[512];
    if (parse(spec, &w, err) != 0)
        fail_msg("%s: %s", spec, err);
    assert_true(cfg->n_deps <= 8 && cfg->n_features <= 32);
    xp_whatif_config_deps(cfg, r->deps);
    xp_whatif_apply(&w, r->deps);
    xp_health_eval(&cfg->degradation, r->deps, cfg->n_deps, cfg->features, cfg->n_features,
                   r->scores, r->on, &r->res);
}

/* The features a scenario switches off, as a comma-separated list in config order. */
static const char *off(const result *r)
{
    static char buf[1024];
    buf[0] = '\0';
    for (size_t j = 0; j < cfg->n_features; j++)
        if (!r->on[j]) {
            if (buf[0])
                strcat(buf, ",");
            strcat(buf, cfg->features[j].name);
        }
    return buf;
}

static void scenarios_on_the_shipped_config(void **state)
{
    /* Weights database 0.50, openai 0.30, redis 0.15, s3 0.05; open_level emergency,
     * limited, degraded, degraded; cascade 1:degraded 2:limited 3:minimal 4:emergency. */
    static const struct {
        const char *spec;
        int level;
        double score;
        const char *off;
    } cases[] = {
        {"redis:closed", XP_LEVEL_OPTIMAL, 100, ""},
        {"redis:open", XP_LEVEL_DEGRADED, 85,
         "realtime_updates,redis_cache,session_storage,rate_limiting,s3_uploads,image_processing,"
         "backup_operations,realtime_inventory"},
        {"s3:open", XP_LEVEL_DEGRADED, 95, "s3_uploads,image_processing,backup_operations"},
        /* HALF_OPEN scores 50 and counts as not CLOSED: the level of an OPEN breaker. */
        {"s3:half_open", XP_LEVEL_DEGRADED, 97.5, "s3_uploads,image_processing,backup_operations"},
        {"openai:open", XP_LEVEL_LIMITED, 70,
         "ai_recommendations,realtime_updates,redis_cache,rate_limiting,s3_uploads,file_storage,"
         "image_processing,backup_operations,full_ai_pipeline,advanced_analytics,realtime_inventory"},
        {"database:open", XP_LEVEL_EMERGENCY, 50,
         "inventory_management,ai_recommendations,realtime_updates,redis_cache,session_storage,"
         "rate_limiting,s3_uploads,file_storage,image_processing,backup_operations,"
         "full_ai_pipeline,advanced_analytics,realtime_inventory,basic_analytics"},
        /* Two open: cascade 2 is limited, and the score 80 is degraded: limited wins. */
        {"redis:open,s3:open", XP_LEVEL_LIMITED, 80,
         "ai_recommendations,realtime_updates,redis_cache,session_storage,rate_limiting,"
         "s3_uploads,file_storage,image_processing,backup_operations,full_ai_pipeline,"
         "advanced_analytics,realtime_inventory"},
        /* Score 55: minimal by the thresholds, as the cascade of 2 would only give limited. */
        {"openai:open,redis:open", XP_LEVEL_MINIMAL, 55,
         "ai_recommendations,realtime_updates,redis_cache,session_storage,rate_limiting,"
         "s3_uploads,file_storage,image_processing,backup_operations,full_ai_pipeline,"
         "advanced_analytics,realtime_inventory,basic_analytics"},
        {"openai:open,redis:open,s3:open", XP_LEVEL_MINIMAL, 50,
         "ai_recommendations,realtime_updates,redis_cache,session_storage,rate_limiting,"
         "s3_uploads,file_storage,image_processing,backup_operations,full_ai_pipeline,"
         "advanced_analytics,realtime_inventory,basic_analytics"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        result r;
        eval(cases[i].spec, &r);
        if (r.res.level != cases[i].level || fabs(r.res.system_score - cases[i].score) > 1e-9 ||
            strcmp(off(&r), cases[i].off) != 0)
            fail_msg("%s: level %d score %g off %s; want %d %g %s", cases[i].spec, r.res.level,
                     r.res.system_score, off(&r), cases[i].level, cases[i].score, cases[i].off);
    }
}

static void assumed_closed_is_a_fresh_breaker(void **state)
{
    /* A live dependency failing (2 of 5, a slow last success): assumed closed, it scores as
     * one that just closed, with its latency still counted. */
    xp_health_dep d[8];
    xp_whatif_config_deps(cfg, d);
    size_t r = dep("redis");
    d[r].state = XP_OPEN;
    d[r].consecutive_failures = 7;
    d[r].failure_rate = 0.9;
    d[r].failure_rate_threshold = 0.5;
    d[r].last_success_latency = 0.010; /* budget 5 ms: factor 0.5 */
    xp_whatif w = {.n = 1, .a = {{r, XP_CLOSED}}};
    xp_whatif_apply(&w, d);
    assert_int_equal(d[r].state, XP_CLOSED);
    assert_int_equal(d[r].consecutive_failures, 0);
    assert_true(d[r].failure_rate < 0 && d[r].slow_call_rate < 0);
    assert_true(fabs(xp_health_dep_score(&d[r]) - 50) < 1e-9);
    /* Assumed open: the state only; its counters stay as they were. */
    d[r].consecutive_failures = 3;
    w.a[0].state = XP_OPEN;
    xp_whatif_apply(&w, d);
    assert_int_equal(d[r].consecutive_failures, 3);
    assert_true(xp_health_dep_score(&d[r]) == 0);
}

static void shadow_mode_stays_out_of_the_level(void **state)
{
    /* metrics_only: the what-if opens the breaker, the dependency still counts as CLOSED with
     * weight 0 for the level and the features. */
    result r;
    xp_whatif_config_deps(cfg, r.deps);
    r.deps[dep("redis")].mode = XP_MODE_METRICS_ONLY;
    xp_whatif w = {.n = 1, .a = {{dep("redis"), XP_OPEN}}};
    xp_whatif_apply(&w, r.deps);
    xp_health_eval(&cfg->degradation, r.deps, cfg->n_deps, cfg->features, cfg->n_features,
                   r.scores, r.on, &r.res);
    assert_int_equal(r.res.level, XP_LEVEL_OPTIMAL);
    assert_string_equal(off(&r), "");
    assert_true(r.scores[dep("redis")] == 0); /* its own score still shows it */
}

/* The what-if of a config reads each dependency's mode and rate thresholds from the config
 * (--config.check --assume/--matrix on a file with `mode =` lines). */
static void config_modes_and_rates(void **state)
{
    static const char text[] = "[dependency.db]\ncollector = postgres\ndsn = host=db\n"
                               "weight = 0.5\nopen_level = emergency\nmode = forced_open\n"
                               "[dependency.cache]\ncollector = redis\naddress = h:1\n"
                               "weight = 0.5\nmode = metrics_only\n"
                               "failure_rate_threshold = 40%\nslow_call_rate_threshold = 90\n"
                               "[dependency.ai]\ncollector = openai\napi_key = k\n"
                               "[feature.reports]\nmin_level = emergency\nrequires = db\n"
                               "[feature.cache]\nmin_level = emergency\nrequires = cache\n";
    char err[512];
    xp_config *c = xp_config_parse("t.ini", text, sizeof(text) - 1, 0, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    xp_health_dep d[3];
    double scores[3];
    int on[2];
    xp_health_result res;
    xp_whatif_config_deps(c, d);
    assert_int_equal(d[0].mode, XP_MODE_FORCED_OPEN);
    assert_int_equal(d[0].state, XP_OPEN); /* forced open from the start */
    assert_int_equal(d[1].mode, XP_MODE_METRICS_ONLY);
    assert_int_equal(d[1].state, XP_CLOSED);
    assert_true(d[1].failure_rate_threshold == 0.4 && d[1].slow_call_rate_threshold == 0.9);
    assert_int_equal(d[2].mode, XP_MODE_AUTO);
    assert_true(d[2].failure_rate_threshold == 0 && d[2].slow_call_rate_threshold == 0);
    xp_health_eval(&c->degradation, d, 3, c->features, c->n_features, scores, on, &res);
    assert_int_equal(res.level, XP_LEVEL_EMERGENCY); /* db's open_level, forced open */
    assert_false(on[0]);
    assert_true(on[1]);
    /* Opening the shadow dependency changes nothing for the level or its feature. */
    xp_whatif w = {.n = 1, .a = {{1, XP_OPEN}}};
    xp_whatif_apply(&w, d);
    xp_health_eval(&c->degradation, d, 3, c->features, c->n_features, scores, on, &res);
    assert_int_equal(res.not_closed, 1);
    assert_true(on[1]);
    /* The report of --config.check --assume says the same. */
    xp_buf b;
    xp_buf_init(&b);
    assert_int_equal(xp_whatif_report(c, &w, 0, &b), 0);
    assert_non_null(strstr(b.data, "emergency"));
    xp_buf_free(&b);
    xp_config_free(c);
}

static void verdicts_say_why(void **state)
{
    result r;
    eval("redis:open", &r);
    size_t blocked[4];
    xp_feature_verdict v;
    /* realtime_inventory requires database and redis, min_level degraded: only redis blocks. */
    const xp_feature_cfg *f = &cfg->features[feature("realtime_inventory")];
    xp_feature_verdict_eval(f, r.res.level, r.deps, cfg->n_deps, blocked, &v);
    assert_false(v.available);
    assert_false(v.by_level);
    assert_int_equal(v.n_blocked, 1);
    assert_int_equal(blocked[0], dep("redis"));
    /* s3_uploads (optimal, s3): the level alone blocks it. */
    f = &cfg->features[feature("s3_uploads")];
    xp_feature_verdict_eval(f, r.res.level, r.deps, cfg->n_deps, blocked, &v);
    assert_false(v.available);
    assert_true(v.by_level);
    assert_int_equal(v.n_blocked, 0);
    /* With s3 open too: both. */
    eval("redis:open,s3:open", &r);
    xp_feature_verdict_eval(f, r.res.level, r.deps, cfg->n_deps, blocked, &v);
    assert_true(v.by_level);
    assert_int_equal(v.n_blocked, 1);
    assert_int_equal(blocked[0], dep("s3"));
    /* The verdict agrees with the model's own availability for every feature and scenario. */
    const char *specs[] = {"redis:closed", "database:open", "openai:half_open,s3:open",
                           "redis:open,database:half_open"};
    for (size_t i = 0; i < 4; i++) {
        eval(specs[i], &r);
        for (size_t j = 0; j < cfg->n_features; j++) {
            xp_feature_verdict_eval(&cfg->features[j], r.res.level, r.deps, cfg->n_deps, NULL, &v);
            assert_int_equal(v.available, r.on[j]);
        }
    }
    /* Static: min_level emergency, nothing required. */
    assert_true(xp_feature_is_static(&cfg->features[feature("read_only_access")]));
    assert_true(xp_feature_is_static(&cfg->features[feature("minimal_access")]));
    assert_false(xp_feature_is_static(&cfg->features[feature("inventory_management")]));
    assert_false(xp_feature_is_static(&cfg->features[feature("file_storage")]));
}

static void report_text_and_json(void **state)
{
    xp_whatif w;
    char err[512];
    assert_int_equal(parse("redis:open,s3:half_open", &w, err), 0);
    xp_buf b;
    xp_buf_init(&b);
    assert_int_equal(xp_whatif_report(cfg, &w, 0, &b), 0);
    const char *want[] = {"redis open, s3 half_open\n", "level limited (2), system health score 82.5\n",
                          "redis       open         0.0    0.15  (assumed)\n",
                          "s3          half_open   50.0    0.05  (assumed)\n",
                          "features off (12):\n", "  session_storage (redis)\n",
                          "  s3_uploads (s3, level limited > optimal)\n",
                          "  file_storage (level limited > degraded)\n",
                          "features on (4): inventory_management, basic_analytics, "
                          "read_only_access, minimal_access\n"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(b.data, want[i]))
            fail_msg("missing \"%s\" in:\n%s", want[i], b.data);
    xp_buf_reset(&b);
    assert_int_equal(xp_whatif_report(cfg, &w, 1, &b), 0);
    json_error_t je;
    json_t *doc = json_loads(b.data, 0, &je);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "limited");
    assert_int_equal(json_integer_value(json_object_get(doc, "degradation_level")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "assumed"), "s3")), "half_open");
    json_t *redis = json_object_get(json_object_get(doc, "dependencies"), "redis");
    assert_string_equal(json_string_value(json_object_get(redis, "state")), "open");
    assert_true(json_is_false(json_object_get(json_object_get(doc, "features"), "redis_cache")));
    assert_true(json_is_true(json_object_get(json_object_get(doc, "features"), "basic_analytics")));
    json_decref(doc);
    xp_buf_free(&b);
}

static void matrix_text_and_json(void **state)
{
    xp_buf b;
    xp_buf_init(&b);
    assert_int_equal(xp_matrix_report(cfg, 0, &b), 0);
    /* Two header lines, nothing opened, 4 singles, 6 pairs: one line each. */
    size_t lines = 0;
    for (const char *p = b.data; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2 + 1 + 4 + 6);
    const char *want[] = {
        "\n(none)             optimal    100.0    0  -\n",
        "\nredis              degraded    85.0    8  realtime_updates, redis_cache, session_storage, "
        "rate_limiting, s3_uploads, image_processing, backup_operations, realtime_inventory\n",
        "\ns3                 degraded    95.0    3  s3_uploads, image_processing, backup_operations\n",
        "\nopenai + redis     minimal     55.0   13  ",
        "\nredis + s3         limited     80.0   12  ",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(b.data, want[i]))
            fail_msg("missing \"%s\" in:\n%s", want[i], b.data);
    xp_buf_reset(&b);
    assert_int_equal(xp_matrix_report(cfg, 1, &b), 0);
    json_error_t je;
    json_t *doc = json_loads(b.data, 0, &je);
    assert_non_null(doc);
    json_t *sc = json_object_get(doc, "scenarios");
    assert_int_equal(json_array_size(sc), 11);
    /* Each scenario of the JSON agrees with a what-if of the same breakers. */
    for (size_t i = 0; i < json_array_size(sc); i++) {
        json_t *s = json_array_get(sc, i), *open = json_object_get(s, "open");
        char spec[256] = "redis:closed"; /* the "(none)" scenario: a what-if that changes nothing */
        if (json_array_size(open)) {
            spec[0] = '\0';
            for (size_t k = 0; k < json_array_size(open); k++)
                snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec), "%s%s:open", k ? "," : "",
                         json_string_value(json_array_get(open, k)));
        }
        result r;
        eval(spec, &r);
        assert_int_equal(json_integer_value(json_object_get(s, "degradation_level")), r.res.level);
        assert_true(fabs(json_real_value(json_object_get(s, "health_score")) - r.res.system_score) < 1e-9);
        char offs[1024] = "";
        json_t *fo = json_object_get(s, "features_off");
        for (size_t k = 0; k < json_array_size(fo); k++)
            snprintf(offs + strlen(offs), sizeof(offs) - strlen(offs), "%s%s", k ? "," : "",
                     json_string_value(json_array_get(fo, k)));
        assert_string_equal(offs, off(&r));
    }
    json_decref(doc);
    xp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_good_and_bad),
        cmocka_unit_test(scenarios_on_the_shipped_config),
        cmocka_unit_test(assumed_closed_is_a_fresh_breaker),
        cmocka_unit_test(shadow_mode_stays_out_of_the_level),
        cmocka_unit_test(config_modes_and_rates),
        cmocka_unit_test(verdicts_say_why),
        cmocka_unit_test(report_text_and_json),
        cmocka_unit_test(matrix_text_and_json),
    };
    return cmocka_run_group_tests(tests, load, unload);
}
