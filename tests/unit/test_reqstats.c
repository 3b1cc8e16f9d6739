/* resilience_exporter_http_requests_total: the counter table (exporter/web/reqstats.c) and
 * its exposition (exporter/expo/http_requests.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expo/http_requests.h"
#include "web/reqstats.h"

static xp_http_count rows[XP_REQSTATS_MAX_ROWS];

static char *render(void)
{
    size_t n = xp_reqstats_rows(rows, XP_REQSTATS_MAX_ROWS);
    xp_buf b;
    xp_buf_init(&b);
    assert_int_equal(xp_render_http_requests(rows, n, &b), 0);
    return b.data;
}

static void present_from_start(void **state)
{
    (void)state;
    char *text = render();
    assert_string_equal(
        text,
        "# HELP resilience_exporter_http_requests_total HTTP requests answered, by handler (the "
        "route; \"other\" for unknown paths) and status code.\n"
        "# TYPE resilience_exporter_http_requests_total counter\n"
        "resilience_exporter_http_requests_total{handler=\"/metrics\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/health\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/-/healthy\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/-/ready\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/-/reload\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/health/features/{name}\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/health/dependencies/{name}\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/events\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/ofrep/v1/evaluate/flags/{key}\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/ofrep/v1/evaluate/flags\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/ofrep/v1/configuration\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"/-/breakers/{name}\",code=\"200\"} 0\n"
        "resilience_exporter_http_requests_total{handler=\"other\",code=\"404\"} 0\n");
    free(text);
}

static void *count_many(void *arg)
{
    for (int i = 0; i < 100000; i++)
        xp_reqstats_count(XP_ROUTE_METRICS, 200);
    return arg;
}

static void counted_pairs_appear_in_order(void **state)
{
    (void)state;
    xp_reqstats_count(XP_ROUTE_OTHER, 401);
    xp_reqstats_count(XP_ROUTE_OTHER, 404);
    xp_reqstats_count(XP_ROUTE_OTHER, 404);
    xp_reqstats_count(XP_ROUTE_RELOAD, 403);
    xp_reqstats_count(XP_ROUTE_METRICS, 500);
    /* Out of range: ignored, never a crash or a series. */
    xp_reqstats_count(XP_ROUTE_COUNT, 200);
    xp_reqstats_count((xp_route)-1, 200);
    xp_reqstats_count(XP_ROUTE_HEALTH, 99);
    xp_reqstats_count(XP_ROUTE_HEALTH, 600);
    /* Four threads at once lose no increment. */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, count_many, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *text = render();
    const char *want[] = {
        "{handler=\"/metrics\",code=\"200\"} 400000\n",
        "{handler=\"/metrics\",code=\"500\"} 1\n",
        "{handler=\"/health\",code=\"200\"} 0\n",
        "{handler=\"/-/reload\",code=\"200\"} 0\n",
        "{handler=\"/-/reload\",code=\"403\"} 1\n",
        "{handler=\"other\",code=\"401\"} 1\n",
        "{handler=\"other\",code=\"404\"} 2\n",
    };
    const char *at = text;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *p = strstr(at, want[i]);
        if (!p)
            fail_msg("missing or out of order: %s in\n%s", want[i], text);
        at = p;
    }
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2 + 14 + 3); /* HELP, TYPE, the 14 from start, 3 more pairs */
    assert_null(strstr(text, "code=\"99\""));
    assert_null(strstr(text, "code=\"600\""));
    free(text);
    assert_string_equal(xp_route_name(XP_ROUTE_COUNT), "other");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(present_from_start),
        cmocka_unit_test(counted_pairs_appear_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
