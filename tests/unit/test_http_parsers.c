/* The pure parsers of the HTTP collectors against recorded bodies (tests/fixtures/http):
 * LocalStack's health document, the OpenAI model list, x-ratelimit-* header values, header
 * lookup in a raw header block, URL cleaning, and what they do with broken input; and the
 * server side's Accept-Encoding parser (gzip or not, RFC 9110 section 12.5.3). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_probe.h"
#include "localstack_health.h"
#include "openai_models.h"
#include "web/accept_encoding.h"

static char *read_fixture(const char *name, size_t *len)
{
    char path[1024];
    const char *src = getenv("XP_SOURCE_DIR");
    if (src)
        snprintf(path, sizeof(path), "%s/tests/fixtures/http/%s", src, name);
    else /* run by hand from the build tree: find the fixtures next to this source */
        snprintf(path, sizeof(path), "%.*s/../fixtures/http/%s",
                 (int)(strrchr(__FILE__, '/') ? strrchr(__FILE__, '/') - __FILE__ : 1),
                 strrchr(__FILE__, '/') ? __FILE__ : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    /* Exactly the file's size (plus one for empty files) so ASan sees a read past the end:
     * the parsers take (body, len) and must not need a terminating NUL. */
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    char *buf = malloc(size ? (size_t)size : 1);
    assert_non_null(buf);
    *len = fread(buf, 1, (size_t)size, f);
    assert_int_equal(*len, (size_t)size);
    fclose(f);
    return buf;
}

static int localstack(const char *fixture, char *state, size_t statelen)
{
    size_t len;
    char *body = read_fixture(fixture, &len);
    int r = xp_localstack_s3_state(body, len, state, statelen);
    free(body);
    return r;
}

static void test_localstack_healthy(void **state)
{
    (void)state;
    char s[64];
    assert_int_equal(localstack("localstack_health_running.json", s, sizeof(s)), 1);
    assert_string_equal(s, "\"running\"");
    assert_int_equal(localstack("localstack_health_available.json", s, sizeof(s)), 1);
    assert_string_equal(s, "\"available\"");
}

static void test_localstack_unhealthy(void **state)
{
    (void)state;
    char s[64];
    assert_int_equal(localstack("localstack_health_error.json", s, sizeof(s)), 0);
    assert_string_equal(s, "\"error\"");
    assert_int_equal(localstack("localstack_health_disabled.json", s, sizeof(s)), 0);
    assert_string_equal(s, "\"disabled\"");
    assert_int_equal(localstack("localstack_health_no_s3.json", s, sizeof(s)), 0);
    assert_string_equal(s, "not listed");
}

static void test_localstack_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "localstack_health_s3_number.json",
        "localstack_health_services_array.json",
        "localstack_health_truncated.json",
        "not_json.html",
        "empty.txt",
        "json_array.json",
        "openai_models.json", /* valid JSON, wrong document */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char s[64] = "";
        if (localstack(bad[i], s, sizeof(s)) != -1)
            fail_msg("%s: expected -1", bad[i]);
        assert_true(s[0] != '\0'); /* says why */
    }
}

static void test_localstack_long_state_is_cut(void **state)
{
    (void)state;
    char body[600];
    char big[401];
    memset(big, 'x', 400);
    big[400] = '\0';
    snprintf(body, sizeof(body), "{\"services\":{\"s3\":\"%s\"}}", big);
    char s[256];
    assert_int_equal(xp_localstack_s3_state(body, strlen(body), s, sizeof(s)), 0);
    assert_true(strlen(s) <= 42); /* 40 characters and the quotes */
    /* A tiny buffer truncates rather than overflows. */
    char tiny[4];
    assert_int_equal(xp_localstack_s3_state(body, strlen(body), tiny, sizeof(tiny)), 0);
    assert_int_equal(strlen(tiny), 3);
}

static int models(const char *fixture, const char *model)
{
    size_t len;
    char *body = read_fixture(fixture, &len);
    char why[128] = "";
    int r = xp_openai_models_has(body, len, model, why, sizeof(why));
    if (r < 0)
        assert_true(why[0] != '\0');
    free(body);
    return r;
}

static void test_models_listed(void **state)
{
    (void)state;
    assert_int_equal(models("openai_models.json", "gpt-4o"), 1);
    assert_int_equal(models("openai_models.json", "dall-e-3"), 1);
    assert_int_equal(models("openai_models.json", NULL), 1);
    /* A huge integer in a field the probe never reads does not break the parse. */
    assert_int_equal(models("openai_models_huge_int.json", "gpt-4o"), 1);
}

static void test_models_not_listed(void **state)
{
    (void)state;
    /* Exact match only: not a prefix, not a substring, not case-folded. */
    assert_int_equal(models("openai_models.json", "gpt-4"), 0);
    assert_int_equal(models("openai_models.json", "gpt-4o-mini-2"), 0);
    assert_int_equal(models("openai_models.json", "GPT-4O"), 0);
    assert_int_equal(models("openai_models.json", ""), 0);
    assert_int_equal(models("openai_models_empty_list.json", "gpt-4o"), 0);
    assert_int_equal(models("openai_models_empty_list.json", NULL), 1);
}

static void test_models_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "openai_models_id_number.json",
        "openai_models_data_object.json",
        "openai_error_401.json",
        "not_json.html",
        "empty.txt",
        "json_array.json",
        "localstack_health_truncated.json",
        "openai_models_real_overflow.json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (models(bad[i], "gpt-4o") != -1)
            fail_msg("%s with a model: expected -1", bad[i]);
        if (models(bad[i], NULL) != -1)
            fail_msg("%s without a model: expected -1", bad[i]);
    }
}

static void test_ratelimit_values(void **state)
{
    (void)state;
    double v = -1;
    assert_int_equal(xp_openai_ratelimit_parse("59", &v), 0);
    assert_true(v == 59);
    assert_int_equal(xp_openai_ratelimit_parse("0", &v), 0);
    assert_true(v == 0);
    assert_int_equal(xp_openai_ratelimit_parse("149984", &v), 0);
    assert_true(v == 149984);
    assert_int_equal(xp_openai_ratelimit_parse("12.5", &v), 0);
    assert_true(v == 12.5);
    /* Beyond 2^53 a gauge is approximate, but still a finite number. */
    assert_int_equal(xp_openai_ratelimit_parse("99999999999999999999", &v), 0);
    assert_true(v > 9.9e19 && isfinite(v));

    static const char *const bad[] = {"",    "-1",  "+1",    " 5",    "5 ", "1e3", "0x10",
                                      "inf", "nan", "12abc", "1.2.3", ".",  "5ms"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 7;
        if (xp_openai_ratelimit_parse(bad[i], &v) == 0)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_true(v == 7); /* untouched on error */
    }
    /* 400 digits overflow a double: rejected, not +inf. */
    char huge[401];
    memset(huge, '9', 400);
    huge[400] = '\0';
    assert_int_equal(xp_openai_ratelimit_parse(huge, &v), -1);
}

static void test_header_find(void **state)
{
    (void)state;
    size_t len;
    char *block = read_fixture("openai_headers.txt", &len);
    char out[64];
    /* Case-insensitive name, value trimmed of spaces and CR. */
    assert_int_equal(
        xp_http_header_find(block, len, "x-ratelimit-remaining-requests", out, sizeof(out)), 0);
    assert_string_equal(out, "9999");
    assert_int_equal(
        xp_http_header_find(block, len, "X-RATELIMIT-REMAINING-TOKENS", out, sizeof(out)), 0);
    assert_string_equal(out, "29999994");
    /* A name that is a prefix of another header is not that header. */
    assert_int_equal(xp_http_header_find(block, len, "x-ratelimit-remaining", out, sizeof(out)),
                     -1);
    assert_int_equal(xp_http_header_find(block, len, "x-missing", out, sizeof(out)), -1);
    /* Too small an output buffer: not found rather than a value cut short. */
    char small[4];
    assert_int_equal(
        xp_http_header_find(block, len, "x-ratelimit-remaining-tokens", small, sizeof(small)), -1);
    /* Every prefix of the block: either absent or exactly right. */
    for (size_t n = 0; n <= len; n++) {
        char *cut = malloc(n ? n : 1);
        assert_non_null(cut);
        memcpy(cut, block, n);
        if (xp_http_header_find(cut, n, "x-ratelimit-remaining-tokens", out, sizeof(out)) == 0)
            assert_true(strncmp("29999994", out, strlen(out)) == 0);
        free(cut);
    }
    free(block);
}

static void test_header_last_wins_and_edge_cases(void **state)
{
    (void)state;
    static const char block[] = "HTTP/1.1 200 OK\r\nx-a: 1\r\nx-a: 2\r\nx-b:\r\nx-c:3";
    char out[16];
    assert_int_equal(xp_http_header_find(block, strlen(block), "x-a", out, sizeof(out)), 0);
    assert_string_equal(out, "2");
    assert_int_equal(xp_http_header_find(block, strlen(block), "x-b", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(xp_http_header_find(block, strlen(block), "x-c", out, sizeof(out)), 0);
    assert_string_equal(out, "3");
    assert_int_equal(xp_http_header_find("", 0, "x-a", out, sizeof(out)), -1);
}

static void test_url_cleaning(void **state)
{
    (void)state;
    char out[256], err[128];
    assert_int_equal(xp_http_url("http://user:pa55@127.0.0.1:9000/", NULL, 0, out, sizeof(out), err,
                                 sizeof(err)),
                     0);
    assert_string_equal(out, "http://127.0.0.1:9000");
    assert_int_equal(xp_http_url("https://key:sk-secret@api.example.com/v1/?k=sk-secret#frag",
                                 "models", 1, out, sizeof(out), err, sizeof(err)),
                     0);
    assert_string_equal(out, "https://api.example.com/v1/models?k=sk-secret");
    assert_int_equal(xp_http_url("https://api.example.com/v1?k=sk-secret", NULL, 0, out,
                                 sizeof(out), err, sizeof(err)),
                     0);
    assert_string_equal(out, "https://api.example.com/v1");
    assert_int_equal(
        xp_http_url("http://localhost:4566", "bucket", 0, out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "http://localhost:4566/bucket");

    /* Rejected without quoting the URL, which may hold a password. */
    static const char *const bad[] = {"ftp://u:hunter2@host/", "file:///etc/passwd", "hunter2",
                                      "http://u:hunter2@[::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (xp_http_url(bad[i], NULL, 0, out, sizeof(out), err, sizeof(err)) == 0)
            fail_msg("%s accepted", bad[i]);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "hunter2"));
    }
    /* Too long for the output: an error, never a URL cut short. */
    assert_int_equal(xp_http_url("http://example.com/abcdefgh", NULL, 0, out, 20, err, sizeof(err)),
                     -1);
}

static void test_status_texts(void **state)
{
    (void)state;
    char err[64];
    xp_http_status_error(err, sizeof(err), 503, NULL);
    assert_string_equal(err, "HTTP 503 server error");
    xp_http_status_error(err, sizeof(err), 302, NULL);
    assert_string_equal(err, "HTTP 302 redirect (not followed)");
    xp_http_status_error(err, sizeof(err), 418, NULL);
    assert_string_equal(err, "HTTP 418 client error");
    xp_http_status_error(err, sizeof(err), 404, "bucket not found");
    assert_string_equal(err, "HTTP 404 bucket not found");
}

/* Each Accept-Encoding value and whether /metrics goes out gzipped. */
static void test_accept_encoding_table(void **state)
{
    (void)state;
    static const struct {
        const char *header;
        int gzip;
    } cases[] = {
        {NULL, 0},
        {"", 0},
        {"gzip", 1},
        {"GZIP", 1},
        {"x-gzip", 1},
        {"identity", 0},
        {"deflate, br", 0},
        {"gzip, deflate, br", 1}, /* curl --compressed */
        {"deflate, gzip;q=1.0, *;q=0.5", 1},
        /* q=0 refuses, whatever the case of the parameter name and the spacing */
        {"gzip;q=0", 0},
        {"gzip;Q=0", 0},
        {"gzip ; q=0", 0},
        {"gzip;q=0.0", 0},
        {"gzip;q=0.000", 0},
        {"gzip;q=0.001", 1},
        {"gzip;q=1", 1},
        {"gzip;q=1.000", 1},
        {"gzip;q=0.5", 1},
        /* parameters other than q are ignored, even ones that end in "q" */
        {"gzip;level=1;xq=0", 1},
        {"gzip;level=1;q=0", 0},
        {"gzip;foo=\"a,b;q=0\"", 1},
        /* malformed weights: the element does not count */
        {"gzip;q=2", 0},
        {"gzip;q=1.5", 0},
        {"gzip;q=1.001", 0},
        {"gzip;q=0.1234", 0},
        {"gzip;q=-1", 0},
        {"gzip;q=abc", 0},
        {"gzip;q=", 0},
        {"gzip;q", 0},
        {"gzip;=1", 0},
        {"gzip q=1", 0},
        {"gzip;q=.5", 0},
        {"gzip;q=0.5.", 0},
        /* a malformed element does not spoil the next one */
        {"gzip;q=9, gzip", 1},
        {"bad coding, gzip", 1},
        {"\"quoted,\" , gzip", 1},
        /* codings that merely contain the word */
        {"gzipx", 0},
        {"xgzip", 0},
        {"gzip-ish", 0},
        /* "*" stands for codings not named */
        {"*", 1},
        {"*;q=0", 0},
        {"*;q=0, gzip", 1},
        {"gzip;q=0, *", 0},
        {"*, gzip;q=0", 0},
        /* identity preferred above gzip: plain; equal weights: gzip */
        {"identity;q=1, gzip;q=0.5", 0},
        {"gzip;q=0.5, identity;q=0.5", 1},
        {"gzip;q=0.5", 1},
        {"identity;q=0, gzip", 1},
        /* listed twice: the highest weight */
        {"gzip;q=0, gzip;q=0.2", 1},
        {"gzip, gzip;q=0", 1},
        /* empty elements and odd whitespace */
        {" , ,gzip,, ", 1},
        {"\tgzip\t", 1},
        {",", 0},
        {";q=1", 0},
        {"gzip,", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = xp_accept_gzip(cases[i].header);
        if (got != cases[i].gzip)
            fail_msg("Accept-Encoding \"%s\": gzip %d, want %d",
                     cases[i].header ? cases[i].header : "(none)", got, cases[i].gzip);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_localstack_healthy),
        cmocka_unit_test(test_localstack_unhealthy),
        cmocka_unit_test(test_localstack_invalid),
        cmocka_unit_test(test_localstack_long_state_is_cut),
        cmocka_unit_test(test_models_listed),
        cmocka_unit_test(test_models_not_listed),
        cmocka_unit_test(test_models_invalid),
        cmocka_unit_test(test_ratelimit_values),
        cmocka_unit_test(test_header_find),
        cmocka_unit_test(test_header_last_wins_and_edge_cases),
        cmocka_unit_test(test_url_cleaning),
        cmocka_unit_test(test_status_texts),
        cmocka_unit_test(test_accept_encoding_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
