/* The state tag behind /health's ETag and the OFREP bulk ETag (exporter/model/statetag.c):
 * it moves when a breaker state, a mode, the level, a feature's availability or its rule
 * changes, and only then (not on scores, failure counts, rates, timestamps or countdowns);
 * and If-None-Match is compared as RFC 9110 says (weak comparison, lists, "*"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model/statetag.h"

typedef struct fixture {
    xp_snapshot s;
    xp_config cfg;
    xp_dep_cfg deps[2];
    const xp_dep_cfg *dp[2];
    xp_dep_view views[2];
    xp_health_dep hd[2];
    double scores[2];
    int on[2];
    xp_feature_cfg feat[2];
    size_t req[1];
} fixture;

static void make(fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->deps[0].name = "database";
    f->deps[1].name = "redis";
    f->dp[0] = &f->deps[0];
    f->dp[1] = &f->deps[1];
    f->req[0] = 1;
    f->feat[0] = (xp_feature_cfg){"cache", 1, 1, f->req};
    f->feat[1] = (xp_feature_cfg){"always", 4, 0, NULL};
    f->cfg.features = f->feat;
    f->cfg.n_features = 2;
    f->s.cfg = &f->cfg;
    f->s.n_deps = 2;
    f->s.deps = f->dp;
    f->s.views = f->views;
    f->s.hdeps = f->hd;
    f->s.scores = f->scores;
    f->s.feature_on = f->on;
    f->scores[0] = f->scores[1] = 100;
    f->on[0] = f->on[1] = 1;
    f->s.health = (xp_health_result){100, 0, 0};
}

static void tag_of(const fixture *f, char *out)
{
    xp_statetag(&f->s, out);
}

static void moves_on_what_an_application_acts_on(void **state)
{
    fixture f;
    make(&f);
    char base[XP_STATETAG_MAX], t[XP_STATETAG_MAX];
    tag_of(&f, base);
    assert_int_equal(strlen(base), 20);
    assert_memory_equal(base, "W/\"", 3);
    assert_int_equal(base[19], '"');

    /* Nothing that changes at every probe moves it. */
    f.scores[0] = 42.5;
    f.s.health.system_score = 71;
    f.hd[0].consecutive_failures = 2;
    f.hd[0].failure_rate = 0.4;
    f.hd[1].last_success_latency = 0.3;
    f.views[0].last_timestamp = 123;
    f.views[0].br.opened_at = 99;
    f.s.now_wall = 1e9;
    f.s.now_mono = 77;
    f.s.ready = 1;
    tag_of(&f, t);
    assert_string_equal(t, base);

    /* Each of these does, and going back gives the same tag again. */
    f.hd[1].state = XP_OPEN;
    tag_of(&f, t);
    assert_string_not_equal(t, base);
    f.hd[1].state = XP_HALF_OPEN;
    char t2[XP_STATETAG_MAX];
    tag_of(&f, t2);
    assert_string_not_equal(t2, t);
    assert_string_not_equal(t2, base);
    f.hd[1].state = XP_CLOSED;
    tag_of(&f, t);
    assert_string_equal(t, base);

    f.hd[0].mode = XP_MODE_METRICS_ONLY;
    tag_of(&f, t);
    assert_string_not_equal(t, base);
    f.hd[0].mode = XP_MODE_AUTO;

    f.s.health.level = 1;
    tag_of(&f, t);
    assert_string_not_equal(t, base);
    f.s.health.level = 0;

    f.on[0] = 0;
    tag_of(&f, t);
    assert_string_not_equal(t, base);
    f.on[0] = 1;

    f.feat[0].min_level = 2; /* a reload that changed the rule */
    tag_of(&f, t);
    assert_string_not_equal(t, base);
    f.feat[0].min_level = 1;

    f.deps[1].name = "cache"; /* a reload that renamed a dependency */
    tag_of(&f, t);
    assert_string_not_equal(t, base);
    f.deps[1].name = "redis";

    tag_of(&f, t);
    assert_string_equal(t, base);
}

static void if_none_match(void **state)
{
    const char *tag = "W/\"0123456789abcdef\"";
    static const struct {
        const char *header;
        int match;
    } cases[] = {
        {"W/\"0123456789abcdef\"", 1},
        {"\"0123456789abcdef\"", 1}, /* weak comparison: W/ does not matter */
        {"*", 1},
        {"\"a\", W/\"0123456789abcdef\"", 1},
        {"\"a\",\"0123456789abcdef\" ", 1},
        {"  W/\"0123456789abcdef\"  ,", 1},
        {"\"a,b\", \"0123456789abcdef\"", 1}, /* a comma inside a quoted tag */
        {"\"0123456789abcdee\"", 0},
        {"0123456789abcdef", 1}, /* unquoted, as some clients send: the same opaque tag */
        {"W/\"0123456789abcdef", 0},
        {"\"\"", 0},
        {"", 0},
        {",,,", 0},
        {"**", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (xp_statetag_matches(cases[i].header, tag) != cases[i].match)
            fail_msg("If-None-Match: %s: want %d", cases[i].header, cases[i].match);
    assert_int_equal(xp_statetag_matches(NULL, tag), 0);
    assert_int_equal(xp_statetag_matches("*", ""), 0); /* no tag yet: nothing matches */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(moves_on_what_an_application_acts_on),
        cmocka_unit_test(if_none_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
