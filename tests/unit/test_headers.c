/* The response header set (exporter/web/headers.c): the SPEC section 7 defaults, HSTS only
 * with TLS, configured headers overriding or extending them, and entries that would inject
 * a header or break the response refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "web/headers.h"

static xp_header_set *build(int tls, const xp_header_kv *extra, size_t n)
{
    char err[128] = "";
    xp_header_set *set = xp_headers_build(tls, extra, n, err, sizeof(err));
    if (!set)
        fail_msg("build failed: %s", err);
    return set;
}

static void defaults(void **state)
{
    (void)state;
    xp_header_set *set = build(0, NULL, 0);
    for (unsigned scope = XP_HDR_ALL; scope <= XP_HDR_PAGE; scope <<= 1) {
        assert_string_equal(xp_headers_get(set, scope, "X-Content-Type-Options"), "nosniff");
        assert_string_equal(xp_headers_get(set, scope, "x-frame-options"), "DENY");
        assert_string_equal(xp_headers_get(set, scope, "Referrer-Policy"), "no-referrer");
        assert_null(xp_headers_get(set, scope, "Strict-Transport-Security"));
    }
    /* The CSP is the status page's: no script, no source outside the page itself. */
    assert_null(xp_headers_get(set, XP_HDR_ALL, "Content-Security-Policy"));
    const char *csp = xp_headers_get(set, XP_HDR_PAGE, "Content-Security-Policy");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "default-src 'none'"));
    assert_non_null(strstr(csp, "style-src 'unsafe-inline'"));
    assert_non_null(strstr(csp, "frame-ancestors 'none'"));
    assert_null(strstr(csp, "script-src"));
    assert_null(strstr(csp, "http"));
    xp_headers_free(set);

    set = build(1, NULL, 0);
    assert_string_equal(xp_headers_get(set, XP_HDR_ALL, "Strict-Transport-Security"), "max-age=31536000");
    assert_string_equal(xp_headers_get(set, XP_HDR_PAGE, "Strict-Transport-Security"), "max-age=31536000");
    xp_headers_free(set);
}

static enum MHD_Result count_frame_options(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    if (strcasecmp(key, "X-Frame-Options") == 0)
        ++*(int *)cls;
    return MHD_YES;
}

static void configured_headers_override_and_extend(void **state)
{
    (void)state;
    const xp_header_kv extra[] = {
        {"x-frame-options", "SAMEORIGIN"},
        {"Content-Security-Policy", "default-src 'self'"},
        {"Strict-Transport-Security", "max-age=60"},
        {"X-Custom", "a b\tc"},
    };
    xp_header_set *set = build(1, extra, 4);
    assert_string_equal(xp_headers_get(set, XP_HDR_ALL, "X-Frame-Options"), "SAMEORIGIN");
    /* A configured header goes on every response, the CSP included. */
    assert_string_equal(xp_headers_get(set, XP_HDR_ALL, "Content-Security-Policy"), "default-src 'self'");
    assert_string_equal(xp_headers_get(set, XP_HDR_PAGE, "Content-Security-Policy"), "default-src 'self'");
    assert_string_equal(xp_headers_get(set, XP_HDR_ALL, "Strict-Transport-Security"), "max-age=60");
    assert_string_equal(xp_headers_get(set, XP_HDR_PAGE, "X-Custom"), "a b\tc");
    assert_string_equal(xp_headers_get(set, XP_HDR_ALL, "X-Content-Type-Options"), "nosniff");

    /* Applied to a response: each name once, with the configured value. */
    static char body[] = "x";
    struct MHD_Response *r = MHD_create_response_from_buffer(1, body, MHD_RESPMEM_PERSISTENT);
    assert_non_null(r);
    assert_int_equal(xp_headers_apply(set, r, XP_HDR_ALL), 0);
    assert_string_equal(MHD_get_response_header(r, "X-Frame-Options"), "SAMEORIGIN");
    int frame_options = 0;
    /* 3 defaults (one replaced), CSP and HSTS now on every response, and X-Custom. */
    assert_int_equal(MHD_get_response_headers(r, count_frame_options, &frame_options), 6);
    assert_int_equal(frame_options, 1);
    MHD_destroy_response(r);
    xp_headers_free(set);
}

/* The exporter-toolkit's "unset if blank": an empty value removes the default of that name. */
static void a_blank_value_removes_the_default(void **state)
{
    (void)state;
    const xp_header_kv extra[] = {
        {"Content-Security-Policy", ""},
        {"Strict-Transport-Security", ""},
        {"X-XSS-Protection", ""}, /* no default of that name: nothing to remove, nothing added */
    };
    xp_header_set *set = build(1, extra, 3);
    for (unsigned scope = XP_HDR_ALL; scope <= XP_HDR_PAGE; scope <<= 1) {
        assert_null(xp_headers_get(set, scope, "Content-Security-Policy"));
        assert_null(xp_headers_get(set, scope, "Strict-Transport-Security"));
        assert_null(xp_headers_get(set, scope, "X-XSS-Protection"));
        assert_string_equal(xp_headers_get(set, scope, "X-Frame-Options"), "DENY");
        assert_string_equal(xp_headers_get(set, scope, "Referrer-Policy"), "no-referrer");
    }
    xp_headers_free(set);
}

static void bad_entries_are_refused(void **state)
{
    (void)state;
    static const xp_header_kv bad[] = {
        {"X-Bad\r\nSet-Cookie", "x"}, /* header injection through the name */
        {"X-Bad", "a\r\nSet-Cookie: x"}, /* ... or the value */
        {"X-Bad", "a\nb"},
        {"X-Bad", "a\x7f"},
        {"", "x"},
        {"X Bad", "x"},
        {"X-Bad:", "x"},
        {"X-Bad", NULL},
        {NULL, "x"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[128] = "";
        assert_null(xp_headers_build(0, &bad[i], 1, err, sizeof(err)));
        assert_true(err[0] != '\0');
        assert_null(strchr(err, '\r'));
        assert_null(strchr(err, '\n'));
    }
}

static void installed_set_and_generation(void **state)
{
    (void)state;
    unsigned long g0 = xp_headers_generation();
    xp_headers_install(build(0, NULL, 0));
    unsigned long g1 = xp_headers_generation();
    assert_true(g1 != g0);
    static char body[] = "x";
    struct MHD_Response *r = MHD_create_response_from_buffer(1, body, MHD_RESPMEM_PERSISTENT);
    unsigned long used = 0;
    assert_int_equal(xp_headers_apply_current(r, XP_HDR_PAGE, &used), 0);
    assert_int_equal(used, g1);
    assert_non_null(MHD_get_response_header(r, "Content-Security-Policy"));
    MHD_destroy_response(r);
    xp_headers_install(NULL);
    assert_true(xp_headers_generation() != g1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(configured_headers_override_and_extend),
        cmocka_unit_test(a_blank_value_removes_the_default),
        cmocka_unit_test(bad_entries_are_refused),
        cmocka_unit_test(installed_set_and_generation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
