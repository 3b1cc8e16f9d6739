/* The config loader against SPEC sections 3-5: durations, ${} expansion, the shipped config,
 * the built-in defaults, *_file secrets, and a table of broken files, each of which must be
 * refused with the right FILE:LINE and without echoing a secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/secret.h"
#include "base/workers.h"
#include "config/config.h"
#include "config/keys.h"
#include "model/level.h"

/* Tables of cases below hold printf formats (a file name goes in). */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

#define SENTINEL "s3cr3t-SENTINEL-42"
#define DEP "[dependency.db]\ncollector = postgres\ndsn = host=db\n" /* lines 1-3 */

static char err[XP_CONFIG_ERR_MAX];
static char tmpdir[64];

static const char *source_dir(void) {
    static char dir[4096];
    const char *env = getenv("XP_SOURCE_DIR");
    if (env && *env)
        return env;
    /* Run by hand: CMake compiles with the absolute path of this file. */
    snprintf(dir, sizeof(dir), "%s", __FILE__);
    char *p = strstr(dir, "/tests/unit/");
    if (p)
        *p = '\0';
    return dir;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static const char *write_tmp(const char *name, const char *content, size_t len) {
    static char path[8][256];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return p;
}

static xp_config *parse(const char *text) {
    return xp_config_parse("t.ini", text, strlen(text), 0, err, sizeof(err));
}

/* Asserts the text is refused; returns the message. */
static const char *parse_fails(const char *text, size_t len) {
    err[0] = '\0';
    xp_config *cfg = xp_config_parse("t.ini", text, len, 0, err, sizeof(err));
    if (cfg) {
        xp_config_free(cfg);
        fail_msg("accepted: %s", text);
    }
    assert_true(err[0] != '\0');
    return err;
}

static const xp_dep_cfg *dep(const xp_config *cfg, const char *name) {
    int i = xp_config_dep_index(cfg, name);
    if (i < 0)
        fail_msg("no dependency %s", name);
    return &cfg->deps[i];
}

/* The value of key in a dependency's parsed settings, as the collector got it (NULL: none). */
static const char *setting(const xp_dep_cfg *d, const char *key) {
    size_t kl = strlen(key);
    const char *end = d->fingerprint + d->fingerprint_len;
    for (const char *p = d->fingerprint; p < end; p += strlen(p) + 1)
        if (strncmp(p, key, kl) == 0 && p[kl] == '=')
            return p + kl + 1;
    return NULL;
}

static void expect_setting(const xp_dep_cfg *d, const char *key, const char *want) {
    const char *v = setting(d, key);
    if (!v || strcmp(v, want) != 0)
        fail_msg("%s: %s = \"%s\", want \"%s\"", d->name, key, v ? v : "(none)", want);
}

/* ---- durations and ${} ---- */

static void durations(void **state) {
    static const struct {
        const char *s;
        double v;
    } ok[] = {{"500ms", 0.5}, {"10s", 10},    {"1m", 60},     {"1h", 3600}, {"2", 2},
              {"1.5s", 1.5},  {"0.25", 0.25}, {"5ms", 0.005}, {"90m", 5400}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        double v = -1;
        assert_int_equal(xp_duration_parse(ok[i].s, &v), 0);
        assert_true(fabs(v - ok[i].v) < 1e-12);
    }
    static const char *const bad[] = {"",      "s",    "0",       "0s",  "-1s", "+1s",    "10x",
                                      "10 s",  " 10s", "10ss",    "nan", "inf", "1e999h", "0x10",
                                      "10sec", "ms",   "1e-400s", "10S", "1d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double v = 42;
        if (xp_duration_parse(bad[i], &v) == 0)
            fail_msg("accepted duration \"%s\"", bad[i]);
        assert_true(v == 42);
    }
}

static void expect_expand(const char *in, int unset_empty, const char *want) {
    char e[256] = "";
    char *out = xp_env_expand(in, unset_empty, e, sizeof(e));
    if (!out)
        fail_msg("\"%s\" failed: %s", in, e);
    assert_string_equal(out, want);
    free(out);
}

static const char *expect_expand_error(const char *in) {
    static char e[256];
    e[0] = '\0';
    char *out = xp_env_expand(in, 0, e, sizeof(e));
    if (out) {
        free(out);
        fail_msg("\"%s\" expanded", in);
    }
    assert_true(e[0] != '\0');
    return e;
}

static void env_expansion(void **state) {
    setenv("XP_T_HOST", "db.example", 1);
    setenv("XP_T_EMPTY", "", 1);
    unsetenv("XP_T_UNSET");
    expect_expand("plain", 0, "plain");
    expect_expand("", 0, "");
    expect_expand("${XP_T_HOST}", 0, "db.example");
    expect_expand("host=${XP_T_HOST}:5432", 0, "host=db.example:5432");
    expect_expand("${XP_T_UNSET:-localhost}", 0, "localhost");
    expect_expand("${XP_T_EMPTY:-fallback}", 0, "fallback"); /* as the shell: empty uses it */
    expect_expand("${XP_T_HOST:-fallback}", 0, "db.example");
    expect_expand("${XP_T_UNSET:-}", 0, "");
    expect_expand("${XP_T_EMPTY}", 0, "");
    expect_expand("${XP_T_UNSET:-${XP_T_HOST}}", 0, "db.example");
    expect_expand("${XP_T_UNSET:-http://h:1/x}", 0, "http://h:1/x");
    expect_expand("$$", 0, "$");
    expect_expand("a$$b$$$$", 0, "a$b$$");
    expect_expand("$${XP_T_HOST}", 0, "${XP_T_HOST}");
    expect_expand("price $5", 0, "price $5");
    expect_expand("trailing $", 0, "trailing $");
    const char *hash = "$2y$10$abcdefghijklmnopqrstuu5UaN1hbhwMdj1x/cGs9Qm6sNI.vmGZ.";
    expect_expand(hash, 0, hash);
    /* The built-in defaults read an unset variable as empty. */
    expect_expand("x${XP_T_UNSET}y", 1, "xy");

    assert_non_null(strstr(expect_expand_error("${XP_T_UNSET}"), "XP_T_UNSET is not set"));
    assert_non_null(strstr(expect_expand_error("a ${XP_T_UNSET} b"), "XP_T_UNSET"));
    assert_non_null(strstr(expect_expand_error("${XP_T_HOST"), "unterminated ${"));
    assert_non_null(strstr(expect_expand_error("x${"), "unterminated ${"));
    assert_non_null(strstr(expect_expand_error("${XP_T_UNSET:-abc"), "unterminated ${"));
    assert_non_null(strstr(expect_expand_error("${}"), "variable name"));
    assert_non_null(strstr(expect_expand_error("${1X}"), "variable name"));
    assert_non_null(strstr(expect_expand_error("${A B}"), "unsupported form"));
    assert_non_null(strstr(expect_expand_error("${XP_T_HOST:=x}"), "unsupported"));
    /* An error never quotes the text around the variable: it may be a secret. */
    assert_null(strstr(expect_expand_error(SENTINEL "${"), SENTINEL));
    assert_null(strstr(expect_expand_error(SENTINEL "${XP_T_UNSET}"), SENTINEL));
    assert_null(strstr(expect_expand_error("${XP_T_UNSET}" SENTINEL), SENTINEL));
    assert_null(strstr(expect_expand_error("${" SENTINEL "}"), SENTINEL));
}

/* ---- the shipped config ---- */

static void set_staging_env(void) {
    setenv("STAGING_DB_HOST", "pg.staging", 1);
    setenv("STAGING_DB_PORT", "6432", 1);
    setenv("STAGING_DB_NAME", "shop", 1);
    setenv("STAGING_DB_USER", "exporter", 1);
    setenv("STAGING_DB_PASSWORD", SENTINEL "-db", 1);
    setenv("OPENAI_API_KEY", "sk-" SENTINEL, 1);
    setenv("OPENAI_BASE_URL", "http://llm.staging:8080/v1", 1);
    setenv("REDIS_HOST", "redis.staging", 1);
    setenv("REDIS_PORT", "6380", 1);
    setenv("REDIS_PASSWORD", SENTINEL "-redis", 1);
    setenv("S3_ENDPOINT", "http://localstack.staging:4566", 1);
    setenv("S3_BUCKET", "staging-bucket", 1);
    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    setenv("AWS_ACCESS_KEY_ID",
           "AKIA"
           "SENTINEL42",
           1);
    setenv("AWS_SECRET_ACCESS_KEY", SENTINEL "-aws", 1);
}

static void unset_staging_env(void) {
    static const char *const vars[] = {
        "STAGING_DB_HOST",     "STAGING_DB_PORT",   "STAGING_DB_NAME",      "STAGING_DB_USER",
        "STAGING_DB_PASSWORD", "OPENAI_API_KEY",    "OPENAI_BASE_URL",      "REDIS_HOST",
        "REDIS_PORT",          "REDIS_PASSWORD",    "S3_ENDPOINT",          "S3_BUCKET",
        "AWS_DEFAULT_REGION",  "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

static void check_dep(const xp_config *cfg, const char *name, const char *collector, double weight,
                      double timeout, double budget, unsigned threshold, double recovery,
                      unsigned half_open, int open_level) {
    const xp_dep_cfg *d = dep(cfg, name);
    assert_string_equal(d->collector->name, collector);
    assert_true(fabs(d->weight - weight) < 1e-12);
    assert_true(fabs(d->interval - 10) < 1e-12);
    assert_true(fabs(d->timeout - timeout) < 1e-12);
    assert_true(fabs(d->latency_budget - budget) < 1e-12);
    assert_int_equal(d->failure_threshold, threshold);
    assert_true(fabs(d->recovery_timeout - recovery) < 1e-12);
    assert_int_equal(d->half_open_requests, half_open);
    assert_int_equal(d->open_level, open_level);
    assert_non_null(d->inst);
    assert_true(d->target[0] != '\0');
    assert_null(strstr(d->target, "SENTINEL")); /* the target label never holds a secret */
    assert_non_null(d->fingerprint);
}

static void shipped_config(void **state) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/etc/resilience_exporter.ini", source_dir());
    size_t len;
    const char *text = slurp(path, &len);
    /* The compiled-in copy is that file, byte for byte. */
    assert_int_equal(xp_builtin_config_len, len);
    assert_memory_equal(xp_builtin_config, text, len);

    set_staging_env();
    xp_config *cfg = xp_config_parse("etc/resilience_exporter.ini", text, len, 0, err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->listen_address, ":9866");
    assert_string_equal(cfg->telemetry_path, "/metrics");
    assert_int_equal(cfg->log_level, XP_LOG_INFO);
    assert_int_equal(cfg->log_format, XP_LOG_LOGFMT);
    assert_false(cfg->builtin);
    assert_null(cfg->web.tls_cert_file);
    assert_null(cfg->web.basic_auth_user);
    assert_int_equal(cfg->web.max_connections, 512);
    const double th[4] = {90, 70, 60, 40};
    for (int i = 0; i < 4; i++)
        assert_true(cfg->degradation.threshold[i] == th[i]);
    assert_int_equal(cfg->degradation.n_cascade, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(cfg->degradation.cascade[i].count, i + 1);
        assert_int_equal(cfg->degradation.cascade[i].level, (int)i + 1);
    }

    assert_int_equal(cfg->n_deps, 4);
    check_dep(cfg, "database", "postgres", 0.50, 2, 0.2, 3, 20, 1, XP_LEVEL_EMERGENCY);
    check_dep(cfg, "openai", "openai", 0.30, 8, 2, 5, 30, 2, XP_LEVEL_LIMITED);
    check_dep(cfg, "redis", "redis", 0.15, 1, 0.005, 5, 15, 2, XP_LEVEL_DEGRADED);
    check_dep(cfg, "s3", "s3", 0.05, 8, 5, 4, 25, 2, XP_LEVEL_DEGRADED);
    /* A failure-rate window on every dependency (docs/configuration.md, "The staging values";
     * test_breaker_rates.c computes how fast each opens from this file); slow at half the
     * timeout, never below the latency budget; everything else as in version 1. */
    static const struct {
        const char *name;
        double slow;
    } rates[] = {{"database", 1}, {"openai", 4}, {"redis", 0.5}, {"s3", 5}};
    for (size_t i = 0; i < 4; i++) {
        const xp_dep_cfg *d = dep(cfg, rates[i].name);
        const xp_breaker_cfg *b = &d->breaker;
        assert_int_equal(b->window_calls, 20);
        assert_true(b->window_time == 0);
        assert_int_equal(b->minimum_calls, 10);
        assert_true(b->failure_rate_threshold == 0.5 && b->slow_call_rate_threshold == 0.8);
        assert_true(b->slow_call_duration == rates[i].slow);
        assert_true(b->slow_call_duration >= d->latency_budget && b->slow_call_duration < d->timeout);
        assert_true(b->recovery_backoff == 1 && b->recovery_jitter == 0);
        assert_int_equal(b->mode, XP_MODE_AUTO);
        assert_int_equal(d->ignore_mask, 0);
    }
    /* The secrets reached the collectors, expanded from the environment. */
    expect_setting(dep(cfg, "database"), "password", SENTINEL "-db");
    expect_setting(dep(cfg, "database"), "dsn",
                   "host=pg.staging port=6432 dbname=shop user=exporter");
    expect_setting(dep(cfg, "openai"), "api_key", "sk-" SENTINEL);
    expect_setting(dep(cfg, "s3"), "secret_access_key", SENTINEL "-aws");
    expect_setting(dep(cfg, "redis"), "address", "redis.staging:6380");
    assert_non_null(strstr(dep(cfg, "redis")->target, "redis.staging:6380"));
    assert_non_null(strstr(dep(cfg, "s3")->target, "localstack.staging:4566"));
    assert_non_null(strstr(dep(cfg, "openai")->target, "http://llm.staging:8080/v1"));

    static const struct {
        const char *name;
        int level;
        const char *requires[2];
    } features[16] = {
        {"inventory_management", XP_LEVEL_MINIMAL, {"database"}},
        {"ai_recommendations", XP_LEVEL_DEGRADED, {"openai"}},
        {"realtime_updates", XP_LEVEL_DEGRADED, {"redis"}},
        {"redis_cache", XP_LEVEL_DEGRADED, {"redis"}},
        {"session_storage", XP_LEVEL_LIMITED, {"redis"}},
        {"rate_limiting", XP_LEVEL_DEGRADED, {"redis"}},
        {"s3_uploads", XP_LEVEL_OPTIMAL, {"s3"}},
        {"file_storage", XP_LEVEL_DEGRADED, {NULL}},
        {"image_processing", XP_LEVEL_OPTIMAL, {"s3"}},
        {"backup_operations", XP_LEVEL_OPTIMAL, {"s3"}},
        {"full_ai_pipeline", XP_LEVEL_DEGRADED, {"openai"}},
        {"advanced_analytics", XP_LEVEL_DEGRADED, {"database"}},
        {"realtime_inventory", XP_LEVEL_DEGRADED, {"database", "redis"}},
        {"basic_analytics", XP_LEVEL_LIMITED, {"database"}},
        {"read_only_access", XP_LEVEL_EMERGENCY, {NULL}},
        {"minimal_access", XP_LEVEL_EMERGENCY, {NULL}},
    };
    assert_int_equal(cfg->n_features, 16);
    for (size_t i = 0; i < 16; i++) {
        const xp_feature_cfg *f = &cfg->features[i];
        assert_string_equal(f->name, features[i].name);
        assert_int_equal(f->min_level, features[i].level);
        size_t n = features[i].requires[1] ? 2 : features[i].requires[0] ? 1 : 0;
        assert_int_equal(f->n_requires, n);
        for (size_t r = 0; r < n; r++)
            assert_string_equal(cfg->deps[f->requires[r]].name, features[i].requires[r]);
    }

    char sum[512];
    xp_config_summary(cfg, sum, sizeof(sum));
    assert_string_equal(sum, "etc/resilience_exporter.ini: ok, 4 dependencies (database=postgres, "
                             "openai=openai, redis=redis, s3=s3), 16 features");
    xp_config_free(cfg);

    /* Without its secrets in the environment the file is refused, naming the variable. */
    unsetenv("STAGING_DB_PASSWORD");
    assert_null(xp_config_parse("etc/resilience_exporter.ini", text, len, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "etc/resilience_exporter.ini:"));
    assert_non_null(strstr(err, "STAGING_DB_PASSWORD is not set"));
    unset_staging_env();
}

static void builtin_defaults(void **state) {
    unset_staging_env();
    xp_config *cfg = xp_config_load_builtin(err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    assert_true(cfg->builtin);
    assert_int_equal(cfg->n_deps, 4);
    assert_int_equal(cfg->n_features, 16);
    /* Unset variables read as empty, so every endpoint falls back to localhost's port. */
    const xp_dep_cfg *pg = dep(cfg, "database");
    expect_setting(pg, "dsn", "host=localhost port=5432 dbname=app user=app");
    expect_setting(pg, "password", "");
    assert_non_null(strstr(pg->target, "localhost"));
    assert_non_null(strstr(pg->target, "5432"));
    assert_non_null(strstr(dep(cfg, "redis")->target, "localhost:6379"));
    assert_non_null(strstr(dep(cfg, "s3")->target, "http://localhost:4566"));
    assert_non_null(strstr(dep(cfg, "openai")->target, "https://api.openai.com/v1"));
    char sum[512];
    xp_config_summary(cfg, sum, sizeof(sum));
    assert_string_equal(sum, "(built-in defaults): ok, 4 dependencies (database=postgres, "
                             "openai=openai, redis=redis, s3=s3), 16 features");
    xp_config_free(cfg);
}

/* The defaults SPEC section 4 lists for everything a file leaves out. */
static void defaults_when_absent(void **state) {
    xp_config *cfg = parse(DEP);
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->listen_address, ":9866");
    assert_string_equal(cfg->telemetry_path, "/metrics");
    assert_int_equal(cfg->log_level, XP_LOG_INFO);
    assert_int_equal(cfg->web.max_connections, 512);
    assert_true(cfg->degradation.threshold[0] == 90 && cfg->degradation.threshold[3] == 40);
    assert_int_equal(cfg->degradation.n_cascade, 4);
    assert_int_equal(cfg->degradation.cascade[3].level, XP_LEVEL_EMERGENCY);
    const xp_dep_cfg *d = &cfg->deps[0];
    assert_string_equal(d->name, "db");
    assert_true(d->weight == 1 && d->interval == 10 && d->timeout == 2);
    assert_true(d->latency_budget == 0.5); /* timeout / 4 */
    assert_true(d->recovery_timeout == 30);
    assert_int_equal(d->failure_threshold, 3);
    assert_int_equal(d->half_open_requests, 1);
    assert_int_equal(d->open_level, XP_LEVEL_DEGRADED);
    assert_int_equal(cfg->n_features, 0);
    xp_config_free(cfg);

    /* latency_budget follows a given timeout. */
    cfg = parse(DEP "timeout = 800ms\n");
    assert_non_null(cfg);
    assert_true(fabs(cfg->deps[0].latency_budget - 0.2) < 1e-12);
    xp_config_free(cfg);
}

static void syntax_details(void **state) {
    /* Inline comments, CRLF, a byte order mark, ':' as separator, indented first key,
     * features before the dependencies they name, a cascade written out of order. */
    const char *text = "\xEF\xBB\xBF[exporter]   ; main\r\n"
                       "log_level = debug ; chatty\r\n"
                       "listen_address: 127.0.0.1:9100\r\n"
                       "\r\n"
                       "[feature.both]\r\n"
                       "min_level = limited\r\n"
                       "requires = cache ,db\r\n"
                       "[degradation]\n"
                       "cascade = 3:minimal, 1:degraded,2:limited\n"
                       "[dependency.cache]\n"
                       "  collector = redis\n"
                       "address = ${XP_T_UNSET_2:-localhost}:6379\n"
                       "# a comment\n"
                       "; another\n" DEP;
    unsetenv("XP_T_UNSET_2");
    xp_config *cfg = parse(text);
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->log_level, XP_LOG_DEBUG);
    assert_string_equal(cfg->listen_address, "127.0.0.1:9100");
    assert_int_equal(cfg->degradation.n_cascade, 3);
    assert_int_equal(cfg->degradation.cascade[0].count, 1);
    assert_int_equal(cfg->degradation.cascade[1].count, 2);
    assert_int_equal(cfg->degradation.cascade[2].count, 3);
    assert_int_equal(cfg->degradation.cascade[2].level, XP_LEVEL_MINIMAL);
    assert_int_equal(cfg->n_features, 1);
    assert_int_equal(cfg->features[0].n_requires, 2);
    assert_string_equal(cfg->deps[cfg->features[0].requires[0]].name, "cache");
    assert_string_equal(cfg->deps[cfg->features[0].requires[1]].name, "db");
    expect_setting(dep(cfg, "cache"), "address", "localhost:6379");
    xp_config_free(cfg);

    /* Empty cascade: no cascade rule; requires with nothing: no dependency. */
    cfg = parse("[degradation]\ncascade =\n" DEP "[feature.f]\nmin_level = optimal\nrequires =\n");
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->degradation.n_cascade, 0);
    assert_int_equal(cfg->features[0].n_requires, 0);
    xp_config_free(cfg);

    /* A value exactly as long as inih's buffer allows is read whole, not cut. */
    char line[512];
    char val[200];
    memset(val, 'q', sizeof(val));
    val[197 - strlen("query = ")] = '\0';
    snprintf(line, sizeof(line), DEP "query = %s\n", val);
    cfg = parse(line);
    if (!cfg)
        fail_msg("%s", err);
    expect_setting(&cfg->deps[0], "query", val);
    xp_config_free(cfg);
    /* One more character, with or without CRLF, and it is refused rather than cut. */
    for (int crlf = 0; crlf < 2; crlf++) {
        val[197 - strlen("query = ")] = 'q';
        val[198 - strlen("query = ")] = '\0';
        snprintf(line, sizeof(line), DEP "query = %s%s", val, crlf ? "\r\n" : "\n");
        const char *e = parse_fails(line, strlen(line));
        assert_string_equal(e, "t.ini:4: line too long: 198 characters, at most 197 fit");
    }
}

/* ---- *_file secrets ---- */

static void file_secrets(void **state) {
    write_tmp("pw", "from-file-pw\n", 13);
    write_tmp("pw-crlf", "crlf-pw\r\n", 9);
    write_tmp("pw-two", "two-nl\n\n", 8);
    write_tmp("hash", "$2y$10$abcdefghijklmnopqrstuu5UaN1hbhwMdj1x/cGs9Qm6sNI.vmGZ.\n", 61);
    char big[70 * 1024];
    memset(big, 'b', sizeof(big));
    write_tmp("big", big, sizeof(big));
    write_tmp("nul", "ab\0" SENTINEL "\n", 3 + strlen(SENTINEL) + 1);

    char text[2048];
    /* Relative *_file paths are read next to the config file. */
    snprintf(text, sizeof(text),
             "[web]\nbasic_auth_user = prom\nbasic_auth_password_hash_file = hash\n"
             "[dependency.a]\ncollector = postgres\ndsn = host=h\npassword_file = pw\n"
             "[dependency.b]\ncollector = redis\naddress = h:1\npassword_file = %s/pw-crlf\n"
             "[dependency.c]\ncollector = redis\naddress = h:1\npassword_file = pw-two\n"
             "[dependency.d]\ncollector = s3\nendpoint = http://h:1\nbucket = b\n"
             "access_key_id = AK\nsecret_access_key_file = pw\n"
             "[dependency.e]\ncollector = openai\napi_key_file = pw\n",
             tmpdir);
    const char *path = write_tmp("main.ini", text, strlen(text));
    xp_config *cfg = xp_config_load(path, err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->web.basic_auth_password_hash,
                        "$2y$10$abcdefghijklmnopqrstuu5UaN1hbhwMdj1x/cGs9Qm6sNI.vmGZ.");
    expect_setting(dep(cfg, "a"), "password", "from-file-pw");
    expect_setting(dep(cfg, "b"), "password", "crlf-pw");
    expect_setting(dep(cfg, "c"), "password", "two-nl\n"); /* one newline stripped */
    expect_setting(dep(cfg, "d"), "secret_access_key", "from-file-pw");
    expect_setting(dep(cfg, "e"), "api_key", "from-file-pw");
    assert_null(setting(dep(cfg, "a"), "password_file"));
    xp_config_free(cfg);

    struct {
        const char *line;
        const char *msg;
    } bad[] = {
        {"password_file = big", "larger than 65536 bytes"},
        {"password_file = nul", "NUL byte"},
        {"password_file = missing", "No such file or directory"},
        {"password_file = .", "not a regular file"},
        {"password_file =", "not a regular file"}, /* the config's own directory */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), DEP "%s\n", bad[i].line);
        path = write_tmp("bad.ini", text, strlen(text));
        assert_null(xp_config_load(path, err, sizeof(err)));
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "%s:4: password_file: cannot ", path);
        if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, bad[i].msg))
            fail_msg("%s: got \"%s\"", bad[i].line, err);
        assert_null(strstr(err, SENTINEL));
    }
}

static void load_errors_and_web_file(void **state) {
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/nope.ini", tmpdir);
    assert_null(xp_config_load(missing, err, sizeof(err)));
    char want[400];
    snprintf(want, sizeof(want), "%s: cannot read the config file: No such file or directory",
             missing);
    assert_string_equal(err, want);

    /* The web config file (exporter-toolkit YAML, test_webconfig.c has the rest) replaces
     * [web]'s TLS and basic auth, and keeps the rest of [web]. */
    const char *ini = "[web]\nbasic_auth_user = ini-user\nbasic_auth_password_hash = "
                      "$2b$12$abcdefghijklmnopqrstuu5UaN1hbhwMdj1x/cGs9Qm6sNI.vmGZ.\n"
                      "max_connections = 64\nrate_limit = 10/1m\n" DEP;
    xp_config *cfg = parse(ini);
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->web.n_users, 1);
    assert_string_equal(cfg->web.users[0].name, "ini-user");
    const char *webtext = "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
                          "basic_auth_users:\n  prom: "
                          "$2b$12$abcdefghijklmnopqrstuu5UaN1hbhwMdj1x/cGs9Qm6sNI.vmGZ.\n";
    const char *w = write_tmp("web.yml", webtext, strlen(webtext));
    if (xp_config_load_web(cfg, w, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    char cert[300];
    snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
    assert_string_equal(cfg->web.tls_cert_file, cert); /* resolved next to the web file */
    assert_int_equal(cfg->web.n_users, 1);
    assert_string_equal(cfg->web.users[0].name, "prom");
    assert_int_equal(cfg->web.max_connections, 64);
    assert_int_equal(cfg->web.rate_limit.burst, 10);
    assert_true(cfg->web.rate_limit.period == 60);

    /* A bad file leaves the running [web] as it was. */
    const char *bad = write_tmp("web-bad.yml", "tls_server_config:\n  cert_file: nope.pem\n"
                                "  key_file: key.pem\n", 61);
    assert_int_equal(xp_config_load_web(cfg, bad, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:2: cert_file: cannot read %s/nope.pem", bad, tmpdir);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("got \"%s\"", err);
    assert_string_equal(cfg->web.tls_cert_file, cert);
    assert_string_equal(cfg->web.users[0].name, "prom");
    xp_config_free(cfg);
}

/* ---- broken configs ---- */

typedef struct broken {
    const char *what;
    const char *text;
    size_t len; /* 0: strlen(text) */
    int line;   /* 0: "t.ini: message" */
    const char *msg;
} broken;

#define WITH_NUL DEP "query = SELECT\0 1\n"

static const broken broken_configs[] = {
    {"bad duration", DEP "interval = 10x\n", 0, 4, "interval must be a positive duration"},
    {"zero duration", DEP "timeout = 0s\n", 0, 4, "timeout must be a positive duration"},
    {"negative duration", DEP "recovery_timeout = -5s\n", 0, 4,
     "recovery_timeout must be a positive"},
    {"NaN duration", DEP "latency_budget = nan\n", 0, 4, "latency_budget must be a positive"},
    {"negative weight", DEP "weight = -0.5\n", 0, 4, "weight must be a number from 0 to 1000000"},
    {"NaN weight", DEP "weight = nan\n", 0, 4, "weight must be a number from 0 to 1000000"},
    {"infinite weight", DEP "weight = 1e999\n", 0, 4, "weight must be a number from 0 to 1000000"},
    {"all weights 0",
     "[dependency.a]\ncollector = postgres\ndsn = host=h\nweight = 0\n"
     "[dependency.b]\ncollector = redis\naddress = h:1\nweight = 0.0\n",
     0, 8, "every dependency has weight 0"},
    {"unknown key", DEP "colour = blue\n", 0, 4, "unknown key \"colour\""},
    {"key of another collector", DEP "bucket = b\n", 0, 4,
     "unknown key \"bucket\" for collector postgres"},
    {"_file of a key that is no secret", DEP "query_file = /etc/hostname\n", 0, 4,
     "unknown key \"query_file\""},
    {"unknown section", DEP "[metrics]\n", 0, 4, "unknown section [metrics]"},
    {"duplicate section", DEP "weight = 1\n[dependency.db]\n", 0, 5,
     "duplicate section [dependency.db] (first on line 1)"},
    {"duplicate key", DEP "weight = 1\ndsn = host=other\n", 0, 5,
     "duplicate key \"dsn\" in [dependency.db] (first on line 3)"},
    {"indented continuation", DEP "   port=5433\n", 0, 4,
     "indented line would continue the previous value"},
    {"missing ${VAR}", DEP "password = ${XP_TEST_NEVER_SET}\n", 0, 4,
     "password: environment variable XP_TEST_NEVER_SET is not set"},
    {"unterminated ${", DEP "password = abc${XP_TEST_NEVER_SET\n", 0, 4,
     "password: unterminated ${"},
    {"unreadable *_file", DEP "password_file = /nonexistent/xp-pw\n", 0, 4,
     "password_file: cannot read /nonexistent/xp-pw: No such file or directory"},
    {"both key and key_file", DEP "password = a\nweight = 1\npassword_file = /etc/hostname\n", 0, 6,
     "both password and password_file are given"},
    {"300-character line",
     DEP "query = SELECT 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "'\nweight = 1\n",
     0, 4, "line too long: 300 characters, at most 197 fit"},
    {"NUL byte", WITH_NUL, sizeof(WITH_NUL) - 1, 4, "line contains a NUL byte"},
    {"requires naming nothing", DEP "[feature.f]\nmin_level = degraded\nrequires = db, cache\n", 0,
     6, "requires names \"cache\", but there is no [dependency.cache] section"},
    {"requires naming a feature",
     DEP "[feature.g]\nmin_level = optimal\n[feature.f]\nmin_level = degraded\nrequires = g\n", 0,
     8, "requires names \"g\""},
    {"requires twice", DEP "[feature.f]\nmin_level = degraded\nrequires = db,db\n", 0, 6,
     "requires must be a list of distinct names (\"db\" twice)"},
    {"requires empty entry", DEP "[feature.f]\nmin_level = degraded\nrequires = db,\n", 0, 6,
     "empty entry"},
    {"min_level missing", DEP "[feature.f]\nrequires = db\n", 0, 4, "[feature.f] needs min_level"},
    {"bad level name", DEP "[feature.f]\nmin_level = degradd\n", 0, 5,
     "min_level must be optimal, degraded"},
    {"unknown feature key", DEP "[feature.f]\nmin_level = optimal\nneeds = db\n", 0, 6,
     "unknown key \"needs\" in [feature.f]"},
    {"bad open_level", DEP "open_level = critical\n", 0, 4, "open_level must be optimal"},
    {"timeout equal to interval", DEP "interval = 5s\ntimeout = 5000ms\n", 0, 5,
     "timeout (5s) must be shorter than interval (5s)"},
    {"interval below the default timeout", DEP "interval = 1s\n", 0, 4,
     "timeout (2s) must be shorter than interval (1s)"},
    {"thresholds out of order", "[degradation]\noptimal = 60\ndegraded = 70\n" DEP, 0, 3,
     "thresholds must be ordered optimal >= degraded >= limited >= minimal"},
    {"threshold above 100", "[degradation]\nminimal = 101\n" DEP, 0, 2,
     "minimal must be a number from 0 to 100"},
    {"cascade count 0", "[degradation]\ncascade = 1:degraded, 0:limited\n" DEP, 0, 2,
     "cascade: \"0\" is not a number"},
    {"cascade count twice", "[degradation]\ncascade = 1:degraded, 1:limited\n" DEP, 0, 2,
     "cascade: 1 is given twice"},
    {"cascade bad level", "[degradation]\ncascade = 1:dire\n" DEP, 0, 2,
     "cascade: \"dire\" is not a level"},
    {"cascade without colon", "[degradation]\ncascade = 1 degraded\n" DEP, 0, 2, "is not N:level"},
    {"cascade trailing comma", "[degradation]\ncascade = 1:degraded,\n" DEP, 0, 2,
     "entry 2 is empty"},
    {"unknown degradation key", "[degradation]\nemergency = 10\n" DEP, 0, 2,
     "unknown key \"emergency\""},
    {"half_open_requests 0", DEP "half_open_requests = 0\n", 0, 4,
     "half_open_requests must be a whole number from 1 to 1000000"},
    {"failure_threshold 0", DEP "failure_threshold = 0\n", 0, 4,
     "failure_threshold must be a whole number from 1 to 1000000"},
    {"failure_threshold fraction", DEP "failure_threshold = 2.5\n", 0, 4,
     "failure_threshold must be a whole number"},
    {"bad bool",
     "[dependency.s3]\ncollector = s3\nendpoint = http://h:1\nbucket = b\nlocalstack_health = "
     "maybe\n",
     0, 5, "localstack_health"},
    {"bad bcrypt hash", "[web]\nbasic_auth_user = u\nbasic_auth_password_hash = $2y$10$short\n" DEP,
     0, 3, "basic_auth_password_hash must be a bcrypt hash"},
    {"md5 hash",
     "[web]\nbasic_auth_user = u\nbasic_auth_password_hash = $1$abc$abcdefghijklmnopqrstuv\n" DEP,
     0, 3, "must be a bcrypt hash"},
    {"user without hash", "[web]\nmax_connections = 10\nbasic_auth_user = u\n" DEP, 0, 3,
     "basic_auth_user is set without basic_auth_password_hash"},
    {"only one tls file", "[web]\ntls_cert_file = /etc/hostname\n" DEP, 0, 2,
     "tls_cert_file is set without tls_key_file: TLS needs both"},
    {"missing tls file",
     "[web]\ntls_cert_file = /nonexistent.pem\ntls_key_file = /etc/hostname\n" DEP, 0, 2,
     "tls_cert_file: cannot read /nonexistent.pem: No such file or directory"},
    {"max_connections 0", "[web]\nmax_connections = 0\n" DEP, 0, 2,
     "max_connections must be a whole number from 1 to 65535"},
    {"max_connections too big", "[web]\nmax_connections = 70000\n" DEP, 0, 2, "max_connections"},
    {"no dependencies", "[exporter]\nlog_level = info\n[feature.f]\nmin_level = optimal\n", 0, 0,
     "no [dependency.NAME] section: at least one dependency is needed"},
    {"empty file", "", 0, 0, "no [dependency.NAME] section"},
    {"bad dependency name", "[dependency.my db]\ncollector = postgres\ndsn = host=h\n", 0, 1,
     "dependency name \"my db\" may only hold letters, digits"},
    {"quote in dependency name", "[dependency.a\"b]\ncollector = postgres\ndsn = host=h\n", 0, 1,
     "may only hold"},
    {"empty dependency name", "[dependency.]\ncollector = postgres\n", 0, 1,
     "[dependency] needs a name"},
    {"no dependency name", "[dependency]\ncollector = postgres\n", 0, 1,
     "[dependency] needs a name"},
    {"bad feature name", DEP "[feature.a/b]\nmin_level = optimal\n", 0, 4,
     "feature name \"a/b\" may only hold"},
    {"missing collector", "[dependency.db]\ndsn = host=h\nweight = 1\n", 0, 1,
     "[dependency.db] needs collector = postgres, redis, s3 or openai"},
    {"unknown collector", "[dependency.db]\nweight = 1\ncollector = mysql\n", 0, 3,
     "collector must be postgres, redis, s3 or openai, not \"mysql\""},
    {"bad log level", "[exporter]\nlog_level = verbose\n" DEP, 0, 2,
     "log_level must be debug, info, warn or error"},
    {"bad log format", "[exporter]\nlog_format = xml\n" DEP, 0, 2,
     "log_format must be logfmt or json"},
    {"telemetry path without /", "[exporter]\ntelemetry_path = metrics\n" DEP, 0, 2,
     "telemetry_path must be a path starting with /"},
    {"listen address without port", "[exporter]\nlisten_address = localhost\n" DEP, 0, 2,
     "listen_address must be HOST:PORT"},
    {"listen port out of range", "[exporter]\nlisten_address = :70000\n" DEP, 0, 2,
     "listen_address must be HOST:PORT"},
    {"key before any section", "log_level = info\n" DEP, 0, 1,
     "key \"log_level\" comes before any [section]"},
    {"line without =", DEP "just some words\n", 0, 4, "expected [section] or key = value"},
    {"header without ]", DEP "[feature.x\nmin_level = optimal\n", 0, 4,
     "section header without a closing ]"},
    {"text after header", DEP "[feature.x] extra\nmin_level = optimal\n", 0, 4,
     "unexpected text after the section header"},
    {"empty key", DEP "= value\n", 0, 4, "key name is missing"},
    {"unsupported ${} form", DEP "query = ${A:=b}\n", 0, 4, "query: unsupported form"},
    {"the first error wins", DEP "weight = x\ncolour = blue\n", 0, 4, "weight must be"},
    {"syntax error before a later key error", DEP "junk\ncolour = blue\n", 0, 4,
     "expected [section]"},

    /* Every bound of SPEC section 4: past it is an error, never an overflow. */
    {"duration of 2.6e15 hours", DEP "interval = 2.6e15h\n", 0, 4,
     "interval must be a positive duration such as 500ms, 10s, 1m or 1h, at most 30 days, not "
     "\"2.6e15h\""},
    {"duration past 30 days", DEP "recovery_timeout = 721h\n", 0, 4,
     "recovery_timeout must be a positive duration"},
    {"duration past 30 days in seconds", DEP "interval = 2592000.001\n", 0, 4,
     "interval must be a positive duration"},
    {"duration past 30 days in minutes", DEP "latency_budget = 43201m\n", 0, 4,
     "latency_budget must be a positive duration"},
    {"count past 1,000,000", DEP "failure_threshold = 1000001\n", 0, 4,
     "failure_threshold must be a whole number from 1 to 1000000, not \"1000001\""},
    {"count past 2^32", DEP "half_open_requests = 4294967297\n", 0, 4,
     "half_open_requests must be a whole number from 1 to 1000000"},
    {"redis db past 1,000,000",
     "[dependency.r]\ncollector = redis\naddress = h:1\ndb = 1000001\n", 0, 4,
     "db must be a whole number from 0 to 1000000"},
    {"cascade count past 1,000,000", "[degradation]\ncascade = 1000001:degraded\n" DEP, 0, 2,
     "cascade: \"1000001\" is not a number of breakers from 1 to 1000000"},
    {"weight past its bound", DEP "weight = 1000000.5\n", 0, 4, "weight must be a number"},
    {"threshold below 0", "[degradation]\nminimal = -1\n" DEP, 0, 2,
     "minimal must be a number from 0 to 100"},
    {"max_connections past 65535", "[web]\nmax_connections = 65536\n" DEP, 0, 2,
     "max_connections must be a whole number from 1 to 65535"},

    /* A key given twice, in every kind of section; a secret and its _file. */
    {"key repeated in [exporter]", "[exporter]\nlog_level = info\nlog_level = debug\n" DEP, 0, 3,
     "duplicate key \"log_level\" in [exporter] (first on line 2)"},
    {"key repeated in [web]", "[web]\nmax_connections = 9\nmax_connections = 9\n" DEP, 0, 3,
     "duplicate key \"max_connections\" in [web]"},
    {"key repeated in [degradation]", "[degradation]\noptimal = 90\noptimal = 91\n" DEP, 0, 3,
     "duplicate key \"optimal\" in [degradation]"},
    {"key repeated in [feature]", DEP "[feature.f]\nmin_level = optimal\nmin_level = minimal\n",
     0, 6, "duplicate key \"min_level\" in [feature.f]"},
    {"secret key repeated", DEP "password = x\npassword = y\n", 0, 5,
     "duplicate key \"password\" in [dependency.db] (first on line 4)"},
    {"_file key repeated", DEP "password_file = /a\npassword_file = /b\n", 0, 5,
     "duplicate key \"password_file\""},
    {"_file first, then the secret", DEP "password_file = /etc/hostname\npassword = x\n", 0, 5,
     "both password and password_file are given; use one"},
    {"api_key and api_key_file", "[dependency.ai]\ncollector = openai\napi_key = k\n"
     "api_key_file = /etc/hostname\n", 0, 4, "both api_key and api_key_file are given"},
    {"secret_access_key and its _file",
     "[dependency.s]\ncollector = s3\nendpoint = http://h:1\nbucket = b\n"
     "secret_access_key_file = /etc/hostname\nsecret_access_key = k\naccess_key_id = a\n", 0, 6,
     "both secret_access_key and secret_access_key_file are given"},
    {"access_key_id and its _file",
     "[dependency.s]\ncollector = s3\nendpoint = http://h:1\nbucket = b\n"
     "access_key_id = a\naccess_key_id_file = /etc/hostname\n", 0, 6,
     "both access_key_id and access_key_id_file are given"},
    {"basic_auth_password_hash and its _file",
     "[web]\nbasic_auth_password_hash_file = /etc/hostname\nbasic_auth_user = u\n"
     "basic_auth_password_hash = x\n" DEP, 0, 4,
     "both basic_auth_password_hash and basic_auth_password_hash_file are given"},

    /* telemetry_path must not hide another endpoint. */
    {"telemetry_path /", "[exporter]\ntelemetry_path = /\n" DEP, 0, 2,
     "telemetry_path must be a path starting with / that no other endpoint uses"},
    {"telemetry_path /health", "[exporter]\ntelemetry_path = /health\n" DEP, 0, 2,
     "telemetry_path must be a path starting with / that no other endpoint uses"},
    {"telemetry_path under /health/", "[exporter]\ntelemetry_path = /health/x\n" DEP, 0, 2,
     "not \"/health/x\""},
    {"telemetry_path /events", "[exporter]\ntelemetry_path = /events\n" DEP, 0, 2,
     "not \"/events\""},
    {"telemetry_path under /ofrep/", "[exporter]\ntelemetry_path = /ofrep/v1/evaluate\n" DEP, 0,
     2, "not \"/ofrep/v1/evaluate\""},
    {"telemetry_path /-/reload", "[exporter]\ntelemetry_path = /-/reload\n" DEP, 0, 2,
     "not \"/-/reload\""},
    {"telemetry_path /-/healthy", "[exporter]\ntelemetry_path = /-/healthy\n" DEP, 0, 2,
     "not \"/-/healthy\""},

    /* Unknown keys are listed from the tables; collectors from the registry. */
    {"unknown key lists the known ones", "[exporter]\ncolour = blue\n" DEP, 0, 2,
     "unknown key \"colour\" in [exporter] (known: listen_address, telemetry_path, log_level, "
     "log_format)"},
    {"unknown [web] key lists the _file twins", "[web]\nuser = x\n" DEP, 0, 2,
     "(known: tls_cert_file, tls_key_file, basic_auth_user, basic_auth_password_hash[_file], "
     "max_connections, api_key_hash[_file], rate_limit)"},
    {"rate_limit without a period", "[web]\nrate_limit = 100\n" DEP, 0, 2,
     "rate_limit: N/PERIOD, such as 100/60s"},
    {"rate_limit of 0", "[web]\nrate_limit = 0/1m\n" DEP, 0, 2,
     "rate_limit: N/PERIOD with N a whole number from 1"},
    {"rate_limit with a bad period", "[web]\nrate_limit = 10/soon\n" DEP, 0, 2,
     "rate_limit: N/PERIOD with PERIOD a positive duration"},
    {"api_key_hash not bcrypt", "[web]\napi_key_hash = " SENTINEL "\n" DEP, 0, 2,
     "api_key_hash must be a bcrypt hash"},
    {"unknown dependency key lists shared and collector keys", DEP "colour = blue\n", 0, 4,
     "unknown key \"colour\" for collector postgres (known: collector, weight, interval, timeout, "
     "latency_budget, failure_threshold, recovery_timeout, half_open_requests, open_level, "
     "window_calls, window_time, minimum_calls, failure_rate_threshold, slow_call_duration, "
     "slow_call_rate_threshold, recovery_backoff, max_recovery_timeout, recovery_jitter, "
     "ignore_reasons, mode, dsn, password[_file], query)"},
    {"unknown s3 key: the whole list, not cut",
     "[dependency.s]\ncollector = s3\nendpoint = http://h:1\nbucket = b\ncolour = blue\n", 0, 5,
     "mode, endpoint, bucket, region, access_key_id[_file], secret_access_key[_file], "
     "localstack_health)"},

    /* The breaker's keys of version 2 (SPEC section 4), each refused with why. */
    {"window_calls and window_time", DEP "window_calls = 20\nwindow_time = 5m\n", 0, 5,
     "window_calls and window_time are both given: a window holds the last N probes or the "
     "probes of a time, not both"},
    {"window_time before window_calls", DEP "window_time = 5m\nwindow_calls = 20\n", 0, 4,
     "window_calls and window_time are both given"},
    {"window_calls of 0", DEP "window_calls = 0\n", 0, 4,
     "window_calls must be a whole number from 1 to 1000000, not \"0\""},
    {"window_calls past the bound", DEP "window_calls = 1000001\n", 0, 4,
     "window_calls must be a whole number from 1 to 1000000"},
    {"window_time of 0", DEP "window_time = 0s\n", 0, 4,
     "window_time must be a positive duration"},
    {"minimum_calls above window_calls", DEP "window_calls = 20\nminimum_calls = 30\n", 0, 5,
     "minimum_calls (30) must not exceed window_calls (20): the window would never hold "
     "enough probes for a rate"},
    {"minimum_calls above the default window", DEP "minimum_calls = 21\n", 0, 4,
     "minimum_calls (21) must not exceed window_calls (20)"},
    {"window_calls below the default minimum", DEP "window_calls = 5\n", 0, 4,
     "minimum_calls (10) must not exceed window_calls (5)"},
    {"minimum_calls of 0", DEP "minimum_calls = 0\n", 0, 4,
     "minimum_calls must be a whole number from 1 to 1000000"},
    {"failure_rate_threshold of 0", DEP "failure_rate_threshold = 0%\n", 0, 4,
     "failure_rate_threshold must be a percentage above 0 and at most 100, such as 50% or 50, "
     "not \"0%\""},
    {"failure_rate_threshold past 100", DEP "failure_rate_threshold = 150%\n", 0, 4,
     "failure_rate_threshold must be a percentage"},
    {"failure_rate_threshold in words", DEP "failure_rate_threshold = half\n", 0, 4,
     "failure_rate_threshold must be a percentage"},
    {"slow_call_rate_threshold past 100", DEP "slow_call_rate_threshold = 101\n", 0, 4,
     "slow_call_rate_threshold must be a percentage"},
    {"slow_call_duration not a duration", DEP "slow_call_duration = fast\n", 0, 4,
     "slow_call_duration must be a positive duration"},
    {"recovery_backoff below 1", DEP "recovery_backoff = 0.5\n", 0, 4,
     "recovery_backoff must be a number from 1 to 1000, not \"0.5\""},
    {"recovery_backoff past the bound", DEP "recovery_backoff = 1001\n", 0, 4,
     "recovery_backoff must be a number from 1 to 1000"},
    {"max_recovery_timeout below recovery_timeout", DEP "max_recovery_timeout = 10s\n", 0, 4,
     "max_recovery_timeout (10s) must be at least recovery_timeout (30s)"},
    {"max_recovery_timeout below a given recovery_timeout",
     DEP "max_recovery_timeout = 1m\nrecovery_timeout = 2m\n", 0, 4,
     "max_recovery_timeout (60s) must be at least recovery_timeout (120s)"},
    {"recovery_jitter of 100%", DEP "recovery_jitter = 100%\n", 0, 4,
     "recovery_jitter must be below 100%: a wait drawn at 0 would retry at once"},
    {"recovery_jitter of 0", DEP "recovery_jitter = 0\n", 0, 4,
     "recovery_jitter must be a percentage above 0"},
    {"ignore_reasons with an unknown reason", DEP "ignore_reasons = rate_limited, teapot\n", 0, 4,
     "ignore_reasons must be a list of failure reasons, each timeout, dns, tls, connect, auth, "
     "rate_limited, server_error, client_error, protocol or check (\"teapot\" is none), not "
     "\"rate_limited, teapot\""},
    {"ignore_reasons naming none as a reason", DEP "ignore_reasons = none\n", 0, 4,
     "(\"none\" is none)"},
    {"ignore_reasons twice the same", DEP "ignore_reasons = auth, auth\n", 0, 4,
     "ignore_reasons must be a list of distinct names (\"auth\" twice)"},
    {"ignore_reasons with an empty entry", DEP "ignore_reasons = auth,,dns\n", 0, 4,
     "ignore_reasons must be a list of names"},
    {"mode unknown", DEP "mode = paused\n", 0, 4,
     "mode must be auto, forced_open, disabled or metrics_only, not \"paused\""},
    {"mode in capitals", DEP "mode = AUTO\n", 0, 4, "mode must be auto, forced_open"},
    {"required collector key", "[dependency.s]\ncollector = s3\nendpoint = http://h:1\n", 0, 1,
     "[dependency.s] needs bucket"},
};

static void broken_table(void **state) {
    size_t n = sizeof(broken_configs) / sizeof(broken_configs[0]);
    assert_true(n >= 30);
    unsetenv("XP_TEST_NEVER_SET");
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        const broken *b = &broken_configs[i];
        const char *e = parse_fails(b->text, b->len ? b->len : strlen(b->text));
        char prefix[32];
        if (b->line)
            snprintf(prefix, sizeof(prefix), "t.ini:%d: ", b->line);
        else
            snprintf(prefix, sizeof(prefix), "t.ini: ");
        if (strncmp(e, prefix, strlen(prefix)) != 0 || !strstr(e, b->msg)) {
            print_error("%s: want \"%s...%s\", got \"%s\"\n", b->what, prefix, b->msg, e);
            failed++;
        }
    }
    assert_int_equal(failed, 0);
}

/* The breaker's keys of version 2 reach xp_dep_cfg.breaker: the defaults that keep version
 * 1's breaker, those that follow other keys, and every key given. */
static void breaker_keys(void **state) {
    xp_config *cfg = parse(DEP "latency_budget = 300ms\nrecovery_timeout = 20s\n");
    if (!cfg)
        fail_msg("%s", err);
    const xp_breaker_cfg *b = &cfg->deps[0].breaker;
    assert_int_equal(b->window_calls, 20);
    assert_true(b->window_time == 0);
    assert_int_equal(b->minimum_calls, 10);
    assert_true(b->failure_rate_threshold == 0 && b->slow_call_rate_threshold == 0);
    assert_true(fabs(b->slow_call_duration - 0.3) < 1e-12); /* latency_budget */
    assert_true(b->recovery_backoff == 1);
    assert_true(b->max_recovery_timeout == 200); /* 10 x recovery_timeout */
    assert_true(b->recovery_jitter == 0);
    assert_int_equal(b->mode, XP_MODE_AUTO);
    /* The version 1 settings the breaker reads too. */
    assert_int_equal(b->failure_threshold, 3);
    assert_true(b->recovery_timeout == 20);
    assert_int_equal(b->half_open_requests, 1);
    assert_int_equal(cfg->deps[0].ignore_mask, 0);
    assert_null(cfg->deps[0].ignore_reasons);
    assert_null(setting(&cfg->deps[0], "ignore_reasons")); /* unset: "ignore_reasons" alone */
    xp_config_free(cfg);

    cfg = parse(DEP "window_time = 5m\nminimum_calls = 30\nfailure_rate_threshold = 50%\n"
                    "slow_call_duration = 1s\nslow_call_rate_threshold = 80\nrecovery_backoff = 2\n"
                    "max_recovery_timeout = 5m\nrecovery_jitter = 10%\n"
                    "ignore_reasons = rate_limited, auth\nmode = metrics_only\n");
    if (!cfg)
        fail_msg("%s", err);
    b = &cfg->deps[0].breaker;
    assert_true(b->window_time == 300);
    assert_int_equal(b->minimum_calls, 30); /* above window_calls: a time window has no count */
    assert_true(b->failure_rate_threshold == 0.5 && b->slow_call_rate_threshold == 0.8);
    assert_true(b->slow_call_duration == 1);
    assert_true(b->recovery_backoff == 2 && b->max_recovery_timeout == 300);
    assert_true(fabs(b->recovery_jitter - 0.1) < 1e-12);
    assert_int_equal(b->mode, XP_MODE_METRICS_ONLY);
    assert_int_equal(cfg->deps[0].ignore_mask, (1u << XP_REASON_AUTH) | (1u << XP_REASON_RATE_LIMITED));
    assert_null(cfg->deps[0].ignore_reasons); /* kept as the set, and in the fingerprint: */
    expect_setting(&cfg->deps[0], "ignore_reasons", "auth,rate_limited");
    expect_setting(&cfg->deps[0], "mode", "3");
    xp_config_free(cfg);

    /* Every mode by its name; ignore_reasons may name every reason. */
    static const char *const modes[] = {"auto", "forced_open", "disabled", "metrics_only"};
    for (int m = 0; m < 4; m++) {
        char text[256];
        snprintf(text, sizeof(text), DEP "mode = %s\nignore_reasons = timeout, dns, tls, connect, "
                 "auth, rate_limited, server_error, client_error, protocol, check\n", modes[m]);
        cfg = parse(text);
        if (!cfg)
            fail_msg("%s", err);
        assert_int_equal(cfg->deps[0].breaker.mode, m);
        assert_int_equal(cfg->deps[0].ignore_mask, ((1u << XP_REASON_COUNT) - 1) & ~1u);
        xp_config_free(cfg);
    }
    /* For reload: defaults written out, a list reordered, a percentage either way are no
     * change; a mode, a threshold, a jitter, a reason are one. */
    static const struct {
        const char *a, *b;
        int same;
    } pairs[] = {
        {"", "window_calls = 20\nminimum_calls = 10\nrecovery_backoff = 1.0\n"
             "max_recovery_timeout = 5m\nslow_call_duration = 500ms\nmode = auto\n", 1},
        {"ignore_reasons = auth, dns\n", "ignore_reasons = dns,auth\n", 1},
        {"failure_rate_threshold = 50\n", "failure_rate_threshold = 50%\n", 1},
        {"", "mode = disabled\n", 0},
        {"mode = forced_open\n", "mode = metrics_only\n", 0},
        {"", "failure_rate_threshold = 50%\n", 0},
        {"", "slow_call_rate_threshold = 80%\n", 0},
        {"", "recovery_jitter = 10%\n", 0},
        {"", "recovery_backoff = 2\n", 0},
        {"", "window_time = 5m\n", 0},
        {"", "ignore_reasons = dns\n", 0},
        {"ignore_reasons = dns\n", "ignore_reasons = dns, tls\n", 0},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char ta[512], tb[512];
        snprintf(ta, sizeof(ta), DEP "%s", pairs[i].a);
        snprintf(tb, sizeof(tb), DEP "%s", pairs[i].b);
        xp_config *ca = parse(ta), *cb = ca ? parse(tb) : NULL;
        if (!ca || !cb)
            fail_msg("pair %zu: %s", i, err);
        if (xp_dep_cfg_same(&ca->deps[0], &cb->deps[0]) != pairs[i].same)
            fail_msg("pair %zu: same = %d", i, !pairs[i].same);
        xp_config_free(ca);
        xp_config_free(cb);
    }

    /* An empty list ignores nothing. */
    cfg = parse(DEP "ignore_reasons =\n");
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->deps[0].ignore_mask, 0);
    xp_config_free(cfg);
}

static void ten_megabyte_line(void **state) {
    size_t big = 10u << 20;
    const char *head = DEP "query = ", *tail = "\nweight = 1\n";
    size_t n = strlen(head);
    char *text = malloc(n + big + strlen(tail) + 1);
    assert_non_null(text);
    memcpy(text, head, n);
    memset(text + n, 'x', big);
    memcpy(text + n + big, tail, strlen(tail) + 1);
    const char *e = parse_fails(text, strlen(text));
    assert_true(strncmp(e, "t.ini:4: line too long", 22) == 0);
    free(text);
}

/* A secret value never appears in an error, whatever went wrong around it. */
static void secrets_never_in_errors(void **state) {
    setenv("XP_T_SECRET", SENTINEL, 1);
    unsetenv("XP_TEST_NEVER_SET");
    const char *file = write_tmp("sentinel", SENTINEL "\n", strlen(SENTINEL) + 1);
    const char *nul = write_tmp("sentinel-nul", SENTINEL "\0x", strlen(SENTINEL) + 2);
    char cases[24][600];
    int n = 0;
    snprintf(cases[n++], 600, DEP "password = " SENTINEL "\npassword = " SENTINEL "\n");
    snprintf(cases[n++], 600, DEP "password = " SENTINEL "\npassword_file = %s\n", file);
    snprintf(cases[n++], 600, DEP "password = " SENTINEL "${\n");
    snprintf(cases[n++], 600, DEP "password = " SENTINEL "${1x}\n");
    snprintf(cases[n++], 600, DEP "password = ${XP_TEST_NEVER_SET}" SENTINEL "\n");
    snprintf(cases[n++], 600, DEP "password = ${XP_T_SECRET:=x}\n");
    snprintf(cases[n++], 600, DEP "api_key = " SENTINEL "\n");
    snprintf(cases[n++], 600, DEP "password = " SENTINEL "\n  " SENTINEL "\n");
    snprintf(cases[n++], 600, DEP "password = " SENTINEL "%0300d\n", 0);
    snprintf(cases[n++], 600, DEP "password_file = %s\n", nul);
    snprintf(cases[n++], 600, DEP "password = ${XP_T_SECRET}\ncolour = ${XP_T_SECRET}\n");
    snprintf(cases[n++], 600,
             "[dependency.s]\ncollector = s3\nendpoint = http://h:1\nbucket = b\n"
             "secret_access_key = " SENTINEL
             "\naccess_key_id = ${XP_T_SECRET}\nlocalstack_health = maybe\n");
    snprintf(cases[n++], 600,
             "[web]\nbasic_auth_user = u\nbasic_auth_password_hash = " SENTINEL "\n" DEP);
    snprintf(cases[n++], 600,
             "[web]\nbasic_auth_user = u\nbasic_auth_password_hash_file = %s\n" DEP, file);
    snprintf(cases[n++], 600,
             "[web]\nbasic_auth_user = u\nbasic_auth_password_hash = $2y$10$" SENTINEL "\n" DEP);
    snprintf(cases[n++], 600, "[web]\napi_key_hash = " SENTINEL "\n" DEP);
    snprintf(cases[n++], 600, "[web]\napi_key_hash_file = %s\n" DEP, file);
    for (int i = 0; i < n; i++) {
        const char *e = parse_fails(cases[i], strlen(cases[i]));
        if (strncmp(e, "t.ini:", 6) != 0 || strstr(e, "SENTINEL"))
            fail_msg("case %d: \"%s\"", i, e);
    }
}

/* ---- bounds, kinds and the key tables ---- */

/* The largest values SPEC section 4 allows are accepted, and mean what they say. */
static void bounds_accepted(void **state) {
    xp_config *cfg = parse("[exporter]\ntelemetry_path = /healthz\n[degradation]\noptimal = 100\n"
                           "minimal = 0\ncascade = 1000000:emergency\n"
                           "[web]\nmax_connections = 65535\n" DEP "interval = 720h\n"
                           "timeout = 2591999.999\nrecovery_timeout = 43200m\n"
                           "failure_threshold = 1000000\nhalf_open_requests = 1000000\n"
                           "weight = 1000000\n[dependency.r]\ncollector = redis\n"
                           "address = h:1\ndb = 1000000\n");
    if (!cfg)
        fail_msg("%s", err);
    const xp_dep_cfg *d = dep(cfg, "db");
    assert_true(d->interval == 30 * 24 * 3600.0 && d->recovery_timeout == 30 * 24 * 3600.0);
    assert_int_equal(d->failure_threshold, 1000000);
    assert_int_equal(cfg->degradation.cascade[0].count, 1000000);
    assert_string_equal(cfg->telemetry_path, "/healthz"); /* only /health itself is taken */
    expect_setting(dep(cfg, "r"), "db", "1000000");
    xp_config_free(cfg);
}

/* Each kind of key through its setter, with a table of its own: the bounds of every kind,
 * and a secret never quoted. */
typedef struct kinds_t {
    double pct, dur, num;
    unsigned count;
    int flag, word;
    char *list, *secret;
} kinds_t;

static void key_kinds(void **state) {
    static const char *const words[] = {"red", "green", NULL};
    static const xp_key keys[] = {
        XP_KEY(kinds_t, pct, XP_K_PERCENT),
        XP_KEY(kinds_t, dur, XP_K_DURATION),
        XP_KEY(kinds_t, num, XP_K_NUMBER, .min = -1, .max = 1),
        XP_KEY(kinds_t, count, XP_K_COUNT),
        XP_KEY(kinds_t, flag, XP_K_BOOL),
        XP_KEY(kinds_t, word, XP_K_ENUM, .names = words),
        XP_KEY(kinds_t, list, XP_K_LIST),
        XP_KEY(kinds_t, secret, XP_K_STRING, .flags = XP_KEY_SECRET),
        XP_KEY_END,
    };
    static const struct {
        int key;
        const char *value;
        double want; /* NAN: refused */
    } cases[] = {
        {0, "50%", 0.5},   {0, "50", 0.5},   {0, "100", 1},      {0, "100%", 1},
        {0, "0.5%", .005}, {0, "0", NAN},    {0, "0%", NAN},     {0, "100.01", NAN},
        {0, "-5", NAN},    {0, "50%%", NAN}, {0, "%", NAN},      {0, "", NAN},
        {0, "+5", NAN},    {0, "5 %", NAN},  {0, "nan", NAN},    {1, "720h", 2592000},
        {1, "2592000", 2592000}, {1, "2592000001ms", NAN}, {1, "1e-3", 0.001}, {1, "0ms", NAN},
        {2, "-1", -1},     {2, "1.0001", NAN}, {2, "1e308", NAN}, {3, "0", 0},
        {3, "1000000", 1e6}, {3, "1000001", NAN}, {3, "-1", NAN}, {3, "1.5", NAN},
        {4, "YES", 1},     {4, "off", 0},    {4, "2", NAN},      {5, "green", 1},
        {5, "Green", NAN}, {5, "blue", NAN},
    };
    char msg[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kinds_t k = {0};
        const xp_key *key = &keys[cases[i].key];
        int rc = xp_key_set(key, &k, cases[i].value, msg, sizeof(msg));
        double got = key->kind == XP_K_PERCENT    ? k.pct
                     : key->kind == XP_K_DURATION ? k.dur
                     : key->kind == XP_K_NUMBER   ? k.num
                     : key->kind == XP_K_COUNT    ? (double)k.count
                     : key->kind == XP_K_BOOL     ? (double)k.flag
                                                  : (double)k.word;
        if (isnan(cases[i].want) ? rc == 0 : rc != 0 || fabs(got - cases[i].want) > 1e-12)
            fail_msg("%s = \"%s\": rc %d, value %g, %s", key->name, cases[i].value, rc, got, msg);
        if (rc != 0 && !strstr(msg, " must be "))
            fail_msg("%s = \"%s\": %s", key->name, cases[i].value, msg);
    }
    kinds_t k = {0};
    assert_int_equal(xp_key_set(&keys[0], &k, "0", msg, sizeof(msg)), -1);
    assert_string_equal(msg, "pct must be a percentage above 0 and at most 100, such as 50% or 50, "
                             "not \"0\"");
    assert_int_equal(xp_key_set(&keys[6], &k, " a , b.c,d-e ", msg, sizeof(msg)), 0);
    assert_string_equal(k.list, "a,b.c,d-e");
    assert_int_equal(xp_key_set(&keys[6], &k, "a, b, a", msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "(\"a\" twice)"));
    assert_string_equal(k.list, "a,b.c,d-e"); /* a refused value leaves the field as it was */
    assert_int_equal(xp_key_set(&keys[6], &k, "a,,b", msg, sizeof(msg)), -1);
    assert_int_equal(xp_key_set(&keys[6], &k, "", msg, sizeof(msg)), 0);
    assert_string_equal(k.list, "");
    assert_int_equal(xp_key_set(&keys[7], &k, SENTINEL, msg, sizeof(msg)), 0);
    assert_string_equal(k.secret, SENTINEL);
    xp_keys_free(keys, &k);
    assert_null(k.list);
    assert_null(k.secret);
}

/* Collector keys are described with the engine's rows, and the canonical form needs a kind it
 * knows; every list of collectors is built from the registry. */
static void collector_tables(void **state) {
    char want[256] = "collector must be ";
    size_t n = 0;
    while (xp_collectors[n])
        n++;
    for (size_t i = 0; i < n; i++) {
        for (const xp_key *k = xp_collectors[i]->keys; k->name; k++)
            assert_int_not_equal(k->kind, XP_K_PARSE);
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s",
                 i == 0 ? "" : i + 1 == n ? " or " : ", ", xp_collectors[i]->name);
    }
    const char *e = parse_fails("[dependency.x]\ncollector = nope\n", 32);
    assert_non_null(strstr(e, want));
}

/* A FIFO, a device or a directory named by a file key is refused at once, with the file and
 * line: reading one would block, or read forever. */
static void files_that_could_block(void **state) {
    char fifo[300], text[1024];
    snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    static const struct {
        const char *section; /* %s: the file */
        int line;
        const char *key;
    } keys[] = {
        {"[web]\ntls_cert_file = %s\ntls_key_file = key.pem\n", 2, "tls_cert_file"},
        {"[web]\ntls_cert_file = cert.pem\ntls_key_file = %s\n", 3, "tls_key_file"},
        {"[web]\nbasic_auth_user = u\nbasic_auth_password_hash_file = %s\n", 3,
         "basic_auth_password_hash_file"},
        {"[dependency.p]\ncollector = postgres\ndsn = host=h\npassword_file = %s\n", 4,
         "password_file"},
        {"[dependency.r]\ncollector = redis\naddress = h:1\npassword_file = %s\n", 4,
         "password_file"},
        {"[dependency.a]\ncollector = openai\napi_key_file = %s\n", 3, "api_key_file"},
        {"[dependency.s]\ncollector = s3\nendpoint = http://h:1\nbucket = b\n"
         "access_key_id_file = %s\nsecret_access_key = sk-example\n", 5, "access_key_id_file"},
        {"[dependency.s]\ncollector = s3\nendpoint = http://h:1\nbucket = b\n"
         "access_key_id = AKIAEXAMPLE\nsecret_access_key_file = %s\n", 6, "secret_access_key_file"},
    };
    const char *files[3][2] = {{fifo, "(a FIFO)"}, {"/dev/zero", "(a device)"},
                               {tmpdir, "(a directory)"}};
    alarm(20); /* a read that blocks fails the test instead of hanging it */
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        for (size_t f = 0; f < 3; f++) {
            snprintf(text, sizeof(text), keys[k].section, files[f][0]);
            if (!strstr(text, "[dependency."))
                strcat(text, DEP);
            const char *path = write_tmp("block.ini", text, strlen(text));
            assert_null(xp_config_load(path, err, sizeof(err)));
            char want[600];
            snprintf(want, sizeof(want), "%s:%d: %s: cannot read %s: not a regular file %s", path,
                     keys[k].line, keys[k].key, files[f][0], files[f][1]);
            if (strcmp(err, want) != 0)
                fail_msg("got  \"%s\"\nwant \"%s\"", err, want);
        }
    }
    /* The config file itself, and the web config file. */
    assert_null(xp_config_load(fifo, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read the config file: not a regular file (a FIFO)"));
    xp_config *cfg = parse(DEP);
    assert_int_equal(xp_config_load_web(cfg, "/dev/zero", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file (a device)"));
    xp_config_free(cfg);
    alarm(0);
    unlink(fifo);
}

/* A URL, DSN or address that carries a password: no error quotes the password, however it is
 * broken, and the password joins the dependency's secrets that probe errors are scrubbed of. */
static void secret_bearing_values(void **state) {
    static const struct {
        const char *text;
        int line;
        const char *words; /* the error must hold these */
    } cases[] = {
        {"[dependency.p]\ncollector = postgres\ndsn = postgresql://app:50%off-" SENTINEL
         "@db.internal/app\n", 1, "invalid percent-encoded token: \"<redacted>\""},
        {"[dependency.p]\ncollector = postgres\ndsn = host=db password=" SENTINEL " port=5432\n", 1,
         "dsn must not contain a password"},
        {"[dependency.p]\ncollector = postgres\ndsn = postgresql://h/db?password=" SENTINEL
         "&port=x%zz\n", 1, "[dependency.p]: dsn"},
        {"[dependency.p]\ncollector = postgres\ndsn = host=db password='" SENTINEL "\n", 1,
         "[dependency.p]: dsn"},
        {"[dependency.r]\ncollector = redis\naddress = redis://:" SENTINEL "@cache:6379/0\n", 1,
         "address \"redis://:<redacted>@cache:6379/0\""},
        {"[dependency.r]\ncollector = redis\naddress = redis://u:%41" SENTINEL "@cache\n", 1,
         "<redacted>"},
        {"[dependency.a]\ncollector = openai\nbase_url = ftp://u:" SENTINEL "@h/v1\n", 1,
         "base_url: URL scheme must be http or https"},
        {"[dependency.s]\ncollector = s3\nendpoint = https://u:" SENTINEL "@h:99999/\nbucket = b\n",
         1, "endpoint"},
        {"[dependency.r]\ncollector = redis\naddress = redis://:" SENTINEL "@cache\nweight = x\n",
         4, "weight must be"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *e = parse_fails(cases[i].text, strlen(cases[i].text));
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "t.ini:%d: ", cases[i].line);
        if (strncmp(e, prefix, strlen(prefix)) != 0 || !strstr(e, cases[i].words) ||
            strstr(e, "SENTINEL"))
            fail_msg("case %zu: \"%s\"", i, e);
    }
    /* Accepted: the password inside base_url, as written and decoded, is one of the secrets. */
    xp_config *cfg = parse("[dependency.ai]\ncollector = openai\napi_key = sk-" SENTINEL "\n"
                           "base_url = https://u:p%40ss-" SENTINEL "@llm.internal/v1\n");
    if (!cfg)
        fail_msg("%s", err);
    const xp_dep_cfg *d = dep(cfg, "ai");
    assert_int_equal(d->n_secrets, 3);
    assert_string_equal(d->secrets[0], "sk-" SENTINEL);
    assert_string_equal(d->secrets[1], "p%40ss-" SENTINEL);
    assert_string_equal(d->secrets[2], "p@ss-" SENTINEL);
    assert_null(strstr(d->target, SENTINEL));
    char probe_err[XP_ERR_MAX] = "401 for sk-" SENTINEL " at https://u:p@ss-" SENTINEL "@llm";
    xp_secret_scrub_all(probe_err, sizeof(probe_err), d->secrets, d->n_secrets);
    assert_string_equal(probe_err, "401 for <redacted> at https://u:<redacted>@llm");
    xp_config_free(cfg);
}

/* Reload keeps a dependency whose meaning did not change: same parsed settings, however they
 * are written. A changed value or a rotated secret is a change. */
static void reload_equality(void **state) {
#define HEAD "[dependency.db]\ncollector = postgres\ndsn = host=db\npassword_file = %s\ntimeout = 1s\n"
    static const struct {
        const char *text;
        int same;
    } v[] = {
        {"; reordered, other units, comments, defaults written out\n[dependency.db]   ; db\n"
         "timeout = 1000ms\npassword_file = %s\ninterval=0.1666666666666666666m\n\n"
         "collector=postgres\ndsn =   host=db\nweight = 1.0\nquery = SELECT 1\n"
         "latency_budget = 250ms\nopen_level = degraded\n",
         1},
        {HEAD "interval = 11s\n", 0},
        {HEAD "interval = 10s\n", 0}, /* with the password file rotated */
        {HEAD "interval = 10s\nweight = 0.5\n", 0},
        {HEAD "interval = 10s\nquery = SELECT 2\n", 0},
        {HEAD "interval = 10s\ndsn = host=db2\n", 0},
    };
    const char *pw = write_tmp("pw-eq", "one\n", 4);
    char text[600];
    snprintf(text, sizeof(text), HEAD "interval = 10s\n", pw);
#undef HEAD
    xp_config *a = parse(text);
    if (!a)
        fail_msg("%s", err);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        if (i == 2)
            write_tmp("pw-eq", "two\n", 4);
        snprintf(text, sizeof(text), v[i].text, pw);
        xp_config *b = parse(text);
        if (i == 5) { /* a repeated key is refused: write the section anew */
            assert_null(b);
            snprintf(text, sizeof(text),
                     "[dependency.db]\ncollector = postgres\ndsn = host=db2\npassword_file = %s\n"
                     "timeout = 1s\ninterval = 10s\n",
                     pw);
            b = parse(text);
        }
        if (!b)
            fail_msg("%zu: %s", i, err);
        if (xp_dep_cfg_same(&a->deps[0], &b->deps[0]) != v[i].same)
            fail_msg("variant %zu: same = %d", i, !v[i].same);
        xp_config_free(b);
    }
    /* A different name or collector is never the same dependency. */
    xp_config *b = parse("[dependency.other]\ncollector = postgres\ndsn = host=db\n");
    assert_false(xp_dep_cfg_same(&a->deps[0], &b->deps[0]));
    xp_config_free(b);
    xp_config_free(a);
}

/* The TLS pair is loaded and matched at check time, naming the file at fault and why. */
static void tls_pairs(void **state) {
    write_tmp("junk.pem", "not a certificate\n", 18);
    static const struct {
        const char *cert, *key;
        int line;
        const char *words;
    } cases[] = {
        {"junk.pem", "key.pem", 2, "tls_cert_file: %s/junk.pem holds no PEM certificate"},
        {"key.pem", "cert.pem", 2, "are tls_cert_file and tls_key_file swapped?"},
        {"cert.pem", "junk.pem", 3, "tls_key_file: %s/junk.pem holds no unencrypted PEM private key"},
        {"cert.pem", "cert.pem", 3, "it holds a certificate: are tls_cert_file and tls_key_file"},
        {"cert.pem", "other-key.pem", 3,
         "tls_key_file: the key in %s/other-key.pem does not go with the certificate in %s/cert.pem"},
    };
    char text[512], want[512], path[300];
    size_t klen;
    snprintf(path, sizeof(path), "%s/key.pem", tmpdir);
    const char *keytext = slurp(path, &klen);
    char keyline[40]; /* a piece of the key material, which no message may show */
    snprintf(keyline, sizeof(keyline), "%.30s", strchr(keytext, '\n') + 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "[web]\ntls_cert_file = %s\ntls_key_file = %s\n" DEP,
                 cases[i].cert, cases[i].key);
        const char *p = write_tmp("tls.ini", text, strlen(text));
        assert_null(xp_config_load(p, err, sizeof(err)));
        snprintf(want, sizeof(want), cases[i].words, tmpdir, tmpdir);
        char prefix[400];
        snprintf(prefix, sizeof(prefix), "%s:%d: ", p, cases[i].line);
        if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, want) ||
            strstr(err, keyline) || strstr(err, "BEGIN"))
            fail_msg("case %zu: \"%s\"", i, err);
    }
    snprintf(text, sizeof(text), "[web]\ntls_cert_file = cert.pem\ntls_key_file = key.pem\n" DEP);
    xp_config *cfg = xp_config_load(write_tmp("tls.ini", text, strlen(text)), err, sizeof(err));
    if (!cfg)
        fail_msg("%s", err);
    xp_config_free(cfg);
}

/* max_connections below the HTTP worker pool would hang shutdown (issue 10): refused. */
static void max_connections_below_workers(void **state) {
    unsigned workers = xp_http_workers();
    char text[256];
    snprintf(text, sizeof(text), "[web]\nmax_connections = %u\n" DEP, workers);
    xp_config *cfg = parse(text);
    if (!cfg)
        fail_msg("%s", err);
    xp_config_free(cfg);
    if (workers == 1)
        skip(); /* one CPU: one worker, and 1 is the least max_connections anyway */
    snprintf(text, sizeof(text), "[web]\nmax_connections = %u\n" DEP, workers - 1);
    const char *e = parse_fails(text, strlen(text));
    char want[200];
    snprintf(want, sizeof(want),
             "t.ini:2: max_connections (%u) must be at least the number of HTTP worker threads "
             "(%u here)",
             workers - 1, workers);
    assert_string_equal(e, want);
}

/* cert.pem with its key.pem, and other-key.pem that belongs to no certificate here. */
static int make_tls_files(void) {
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
             "-nodes -days 2 -subj /CN=localhost -keyout key.pem -out cert.pem 2>/dev/null && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 "
             "-out other-key.pem 2>/dev/null",
             tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state) {
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/xp-test-config-XXXXXX");
    return mkdtemp(tmpdir) ? make_tls_files() : -1;
}

static int teardown(void **state) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations),
        cmocka_unit_test(env_expansion),
        cmocka_unit_test(shipped_config),
        cmocka_unit_test(builtin_defaults),
        cmocka_unit_test(defaults_when_absent),
        cmocka_unit_test(syntax_details),
        cmocka_unit_test(file_secrets),
        cmocka_unit_test(load_errors_and_web_file),
        cmocka_unit_test(broken_table),
        cmocka_unit_test(breaker_keys),
        cmocka_unit_test(ten_megabyte_line),
        cmocka_unit_test(secrets_never_in_errors),
        cmocka_unit_test(bounds_accepted),
        cmocka_unit_test(key_kinds),
        cmocka_unit_test(collector_tables),
        cmocka_unit_test(files_that_could_block),
        cmocka_unit_test(secret_bearing_values),
        cmocka_unit_test(reload_equality),
        cmocka_unit_test(tls_pairs),
        cmocka_unit_test(max_connections_below_workers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
