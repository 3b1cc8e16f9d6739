/* The response cache (exporter/web/respcache.c) with a fake runtime: a version and a clock
 * the test moves, a renderer that counts its calls and can fail, and a queue that records
 * what would go to the client. What is checked: a page is rendered once per (state version,
 * wall-clock second, header set), each page on its own; a failed render answers 500 and is
 * retried, never served stale; the headers, content types and gzip of each page; /health's
 * ETag and its 304 on If-None-Match. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "web/headers.h"
#include "web/respcache.h"

static unsigned long version;
static long second;
static int renders[XP_PAGE_COUNT];
static int fail_render;
static unsigned queued_status;
static struct MHD_Response *queued; /* compared only: the cache may free it after queueing */

/* The headers of the last response queued, copied while it was alive. */
static const char *const captured_names[] = {
    "Content-Type", "Content-Encoding", "Vary", "Cache-Control", "X-Content-Type-Options",
    "X-Frame-Options", "Referrer-Policy", "Strict-Transport-Security",
    "Content-Security-Policy", "X-Extra", "ETag"};
#define N_CAPTURED (sizeof(captured_names) / sizeof(captured_names[0]))
static char captured[N_CAPTURED][256];
static int have[N_CAPTURED];

static const char *header(const char *name)
{
    for (size_t i = 0; i < N_CAPTURED; i++)
        if (strcmp(captured_names[i], name) == 0)
            return have[i] ? captured[i] : NULL;
    fail_msg("header %s is not captured", name);
    return NULL;
}

static unsigned long fake_version(void)
{
    return version;
}

static long fake_second(void)
{
    return second;
}

/* The tag of the fake state: moves every other version, as a real tag ignores changes an
 * application does not care about. */
static unsigned long tag_step = 2;

static int fake_render(xp_page page, const char *telemetry_path, xp_buf *out, char *etag)
{
    assert_true(page != XP_PAGE_METRICS_GZIP); /* the cache asks for the plain body */
    assert_string_equal(etag, "");             /* preset: a page without a tag has none */
    renders[page]++;
    if (fail_render)
        return -1;
    if (page == XP_PAGE_HEALTH)
        snprintf(etag, XP_STATETAG_MAX, "W/\"%016lx\"", version / tag_step);
    xp_buf_printf(out, "page %d version %lu second %ld path %s\n", page, version, second,
                  telemetry_path);
    return 0;
}

static enum MHD_Result fake_queue(struct MHD_Connection *c, unsigned int status,
                                  struct MHD_Response *r)
{
    queued_status = status;
    queued = r;
    for (size_t i = 0; i < N_CAPTURED; i++) {
        const char *v = MHD_get_response_header(r, captured_names[i]);
        have[i] = v != NULL;
        snprintf(captured[i], sizeof(captured[i]), "%s", v ? v : "");
    }
    return MHD_YES;
}

static double mono_now;

static double fake_mono(void)
{
    return mono_now;
}

static const xp_respcache_env fake_env = {fake_version, fake_second, fake_render, fake_queue,
                                          fake_mono, 0};
/* Every /metrics body counts as large (the fake bodies are about 40 bytes). */
static const xp_respcache_env large_env = {fake_version, fake_second, fake_render, fake_queue,
                                           fake_mono, 1};
/* A threshold no fake body reaches. */
static const xp_respcache_env small_env = {fake_version, fake_second, fake_render, fake_queue,
                                           fake_mono, 4096};

static void install_headers(int tls, const xp_header_kv *extra, size_t n)
{
    char err[128];
    xp_header_set *set = xp_headers_build(tls, extra, n, err, sizeof(err));
    assert_non_null(set);
    xp_headers_install(set);
}

static int setup(void **state)
{
    (void)state;
    version = 1;
    second = 1000;
    mono_now = 100;
    memset(renders, 0, sizeof(renders));
    fail_render = 0;
    queued = NULL;
    queued_status = 0;
    xp_respcache_set_env(&fake_env);
    install_headers(0, NULL, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xp_respcache_clear();
    xp_respcache_set_env(NULL);
    xp_headers_install(NULL);
    return 0;
}

/* Queues page and returns the response handed to the client. */
static struct MHD_Response *get_if(xp_page page, const char *inm)
{
    unsigned status = 0;
    queued = NULL;
    assert_int_equal(xp_respcache_queue(NULL, page, "/metrics", inm, &status), MHD_YES);
    assert_int_equal(status, queued_status);
    assert_non_null(queued);
    return queued;
}

static struct MHD_Response *get(xp_page page)
{
    return get_if(page, NULL);
}

static void health_etag_and_not_modified(void **state)
{
    (void)state;
    get(XP_PAGE_HEALTH);
    assert_int_equal(queued_status, 200);
    char tag[64];
    snprintf(tag, sizeof(tag), "%s", header("ETag"));
    assert_string_equal(tag, "W/\"0000000000000000\"");
    /* Only /health has a tag. */
    get(XP_PAGE_METRICS);
    assert_null(header("ETag"));
    get(XP_PAGE_STATUS);
    assert_null(header("ETag"));

    /* The same tag, weak or strong, alone or in a list: 304 with the tag, no body. */
    const char *same[] = {tag, "\"0000000000000000\"", "\"x\", W/\"0000000000000000\"", "*"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        struct MHD_Response *r = get_if(XP_PAGE_HEALTH, same[i]);
        assert_int_equal(queued_status, 304);
        assert_string_equal(header("ETag"), tag);
        assert_string_equal(header("X-Frame-Options"), "DENY");
        assert_null(header("Content-Type"));
        (void)r;
    }
    get_if(XP_PAGE_HEALTH, "W/\"0000000000000001\"");
    assert_int_equal(queued_status, 200);
    assert_int_equal(renders[XP_PAGE_HEALTH], 1); /* a 304 renders nothing either */

    /* A change the tag ignores: a new body, the same tag, still 304. */
    version = 1;
    get_if(XP_PAGE_HEALTH, tag);
    assert_int_equal(queued_status, 304);
    second++;
    get_if(XP_PAGE_HEALTH, tag);
    assert_int_equal(queued_status, 304);
    assert_int_equal(renders[XP_PAGE_HEALTH], 2);
    /* A change it sees: 200 and the new tag. */
    version = 2;
    get_if(XP_PAGE_HEALTH, tag);
    assert_int_equal(queued_status, 200);
    assert_string_equal(header("ETag"), "W/\"0000000000000001\"");

    char now[XP_STATETAG_MAX];
    xp_respcache_etag(XP_PAGE_HEALTH, "/metrics", now);
    assert_string_equal(now, "W/\"0000000000000001\"");
    xp_respcache_etag(XP_PAGE_METRICS, "/metrics", now);
    assert_string_equal(now, "");
    fail_render = 1;
    version = 4;
    xp_respcache_etag(XP_PAGE_HEALTH, "/metrics", now);
    assert_string_equal(now, ""); /* no page, no tag: a long-poll then answers at once */
}

static void rendered_once_per_version_and_second(void **state)
{
    (void)state;
    struct MHD_Response *first = get(XP_PAGE_METRICS);
    assert_int_equal(queued_status, 200);
    for (int i = 0; i < 100; i++)
        assert_ptr_equal(get(XP_PAGE_METRICS), first); /* the same response, shared */
    assert_int_equal(renders[XP_PAGE_METRICS], 1);

    version++; /* a breaker moved, a reload happened: a new body */
    get(XP_PAGE_METRICS);
    assert_int_equal(renders[XP_PAGE_METRICS], 2);
    get(XP_PAGE_METRICS);
    assert_int_equal(renders[XP_PAGE_METRICS], 2);

    second++; /* countdowns and process metrics move with the clock */
    get(XP_PAGE_METRICS);
    assert_int_equal(renders[XP_PAGE_METRICS], 3);
}

static void pages_are_cached_apart(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++)
        for (int p = 0; p < XP_PAGE_COUNT; p++)
            get((xp_page)p);
    /* The gzip page renders the metrics body itself (and compresses it). */
    assert_int_equal(renders[XP_PAGE_METRICS], 2);
    assert_int_equal(renders[XP_PAGE_HEALTH], 1);
    assert_int_equal(renders[XP_PAGE_STATUS], 1);
}

static void failed_render_answers_500_and_is_retried(void **state)
{
    (void)state;
    get(XP_PAGE_HEALTH);
    assert_int_equal(queued_status, 200);
    version++;
    fail_render = 1;
    get(XP_PAGE_HEALTH);
    assert_int_equal(queued_status, 500); /* not the stale page of the last version */
    assert_string_equal(header("Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(header("X-Content-Type-Options"), "nosniff");
    get(XP_PAGE_HEALTH);
    assert_int_equal(queued_status, 500);
    assert_int_equal(renders[XP_PAGE_HEALTH], 3); /* a failure is not cached: tried each time */
    fail_render = 0;
    get(XP_PAGE_HEALTH);
    assert_int_equal(queued_status, 200);
    assert_int_equal(renders[XP_PAGE_HEALTH], 4);
    get(XP_PAGE_HEALTH);
    assert_int_equal(renders[XP_PAGE_HEALTH], 4);
}

static void headers_of_each_page(void **state)
{
    (void)state;
    static const struct {
        xp_page page;
        const char *type, *encoding, *vary;
        int csp;
    } want[] = {
        {XP_PAGE_METRICS, "text/plain; version=0.0.4; charset=utf-8", NULL, "Accept-Encoding", 0},
        {XP_PAGE_METRICS_GZIP, "text/plain; version=0.0.4; charset=utf-8", "gzip", "Accept-Encoding", 0},
        {XP_PAGE_HEALTH, "application/json; charset=utf-8", NULL, NULL, 0},
        {XP_PAGE_STATUS, "text/html; charset=utf-8", NULL, NULL, 1},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        get(want[i].page);
        assert_string_equal(header("Content-Type"), want[i].type);
        const char *enc = header("Content-Encoding");
        if (want[i].encoding)
            assert_string_equal(enc, want[i].encoding);
        else
            assert_null(enc);
        const char *vary = header("Vary");
        if (want[i].vary)
            assert_string_equal(vary, want[i].vary);
        else
            assert_null(vary);
        assert_string_equal(header("Cache-Control"), "no-cache");
        assert_string_equal(header("X-Content-Type-Options"), "nosniff");
        assert_string_equal(header("X-Frame-Options"), "DENY");
        assert_string_equal(header("Referrer-Policy"), "no-referrer");
        assert_null(header("Strict-Transport-Security"));
        const char *csp = header("Content-Security-Policy");
        if (want[i].csp)
            assert_non_null(strstr(csp, "default-src 'none'"));
        else
            assert_null(csp);
    }
}

static void new_header_set_rebuilds_cached_pages(void **state)
{
    (void)state;
    get(XP_PAGE_STATUS);
    assert_null(header("Strict-Transport-Security"));
    assert_int_equal(renders[XP_PAGE_STATUS], 1);
    /* Same version, same second: only the headers changed (a reload of the web settings). */
    const xp_header_kv extra[] = {{"X-Frame-Options", "SAMEORIGIN"}, {"X-Extra", "1"}};
    install_headers(1, extra, 2);
    get(XP_PAGE_STATUS);
    assert_int_equal(renders[XP_PAGE_STATUS], 2);
    assert_string_equal(header("Strict-Transport-Security"), "max-age=31536000");
    assert_string_equal(header("X-Frame-Options"), "SAMEORIGIN");
    assert_string_equal(header("X-Extra"), "1");
    get(XP_PAGE_STATUS);
    assert_int_equal(renders[XP_PAGE_STATUS], 2);
}

static void gzip_round_trip(void **state)
{
    (void)state;
    xp_buf in, out;
    xp_buf_init(&in);
    xp_buf_init(&out);
    for (int i = 0; i < 2000; i++)
        xp_buf_printf(&in, "circuit_breaker_state{dependency=\"d%d\",state=\"open\"} %d\n", i, i % 2);
    assert_int_equal(xp_gzip(in.data, in.len, &out), 0);
    assert_true(out.len > 18 && out.len < in.len / 4);
    assert_int_equal((unsigned char)out.data[0], 0x1f); /* the gzip magic, not zlib's header */
    assert_int_equal((unsigned char)out.data[1], 0x8b);

    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    char *back = malloc(in.len + 1);
    assert_non_null(back);
    z.next_in = (Bytef *)out.data;
    z.avail_in = (uInt)out.len;
    z.next_out = (Bytef *)back;
    z.avail_out = (uInt)in.len + 1;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, in.len);
    assert_memory_equal(back, in.data, in.len);
    inflateEnd(&z);
    free(back);

    xp_buf_reset(&out); /* an empty body is a valid gzip member too */
    assert_int_equal(xp_gzip("", 0, &out), 0);
    assert_true(out.len >= 20);
    xp_buf_free(&in);
    xp_buf_free(&out);
}

/* A large /metrics body: the scrape that finds it stale gets the last one at once and renders
 * nothing; the builder's pass renders the next one, at most once per second. */
static void large_metrics_served_at_once_and_rebuilt_by_the_builder(void **state)
{
    (void)state;
    xp_respcache_set_env(&large_env);
    struct MHD_Response *first = get(XP_PAGE_METRICS); /* nothing to serve yet: rendered */
    assert_int_equal(renders[XP_PAGE_METRICS], 1);

    version++;
    second++;
    mono_now += 0.5;
    for (int i = 0; i < 10; i++)
        assert_ptr_equal(get(XP_PAGE_METRICS), first); /* stale, served, not rendered */
    assert_int_equal(queued_status, 200);
    assert_int_equal(renders[XP_PAGE_METRICS], 1);

    /* Within a second of the last build the builder waits, and says until when. */
    assert_true(xp_respcache_refresh() == 101.0);
    assert_int_equal(renders[XP_PAGE_METRICS], 1);
    mono_now = 101;
    xp_respcache_refresh();
    assert_int_equal(renders[XP_PAGE_METRICS], 2);
    struct MHD_Response *second_body = get(XP_PAGE_METRICS);
    assert_true(second_body != first);
    assert_int_equal(renders[XP_PAGE_METRICS], 2);

    /* Nothing changed: the builder renders nothing. */
    mono_now = 102;
    xp_respcache_refresh();
    assert_int_equal(renders[XP_PAGE_METRICS], 2);

    /* Other pages stay rendered on demand, the gzip variant is kept apart. */
    version++;
    get(XP_PAGE_HEALTH);
    get(XP_PAGE_HEALTH);
    assert_int_equal(renders[XP_PAGE_HEALTH], 1);
    version++;
    get(XP_PAGE_HEALTH);
    assert_int_equal(renders[XP_PAGE_HEALTH], 2);
    get(XP_PAGE_METRICS_GZIP);
    assert_string_equal(header("Content-Encoding"), "gzip");
    assert_int_equal(renders[XP_PAGE_METRICS], 3); /* its first body: rendered by the scrape */
    version++;
    assert_ptr_equal(get(XP_PAGE_METRICS), second_body);
    assert_int_equal(renders[XP_PAGE_METRICS], 3);
    mono_now = 104;
    xp_respcache_refresh(); /* both variants are due */
    assert_int_equal(renders[XP_PAGE_METRICS], 5);
}

/* A large body the builder left alone (stopped, or no scrape for two minutes) is never served
 * past a few seconds: the scrape renders it. */
static void large_metrics_never_served_old(void **state)
{
    (void)state;
    xp_respcache_set_env(&large_env);
    get(XP_PAGE_METRICS);
    version++;
    mono_now += 3;
    get(XP_PAGE_METRICS);
    assert_int_equal(renders[XP_PAGE_METRICS], 1); /* 3 s old: served */
    mono_now += 4;
    get(XP_PAGE_METRICS);
    assert_int_equal(renders[XP_PAGE_METRICS], 2); /* 7 s old: rendered by the scrape */

    /* The builder keeps it current while scrapes come, and stops two minutes after the last. */
    double last_scrape = mono_now;
    for (int i = 1; i <= 130; i++) {
        mono_now = last_scrape + i;
        version++;
        xp_respcache_refresh();
        assert_int_equal(renders[XP_PAGE_METRICS], 2 + (i <= 120 ? i : 120));
    }
    /* A new header set is never served under the old one, even from a large body. */
    get(XP_PAGE_METRICS);
    int before = renders[XP_PAGE_METRICS];
    install_headers(0, (const xp_header_kv[]){{"X-Extra", "1"}}, 1);
    get(XP_PAGE_METRICS);
    assert_int_equal(renders[XP_PAGE_METRICS], before + 1);
    assert_string_equal(header("X-Extra"), "1");
}

/* Below the threshold nothing changes: a stale body is rendered by the scrape. */
static void small_metrics_rendered_on_demand(void **state)
{
    (void)state;
    xp_respcache_set_env(&small_env);
    get(XP_PAGE_METRICS);
    version++;
    get(XP_PAGE_METRICS);
    assert_int_equal(renders[XP_PAGE_METRICS], 2);
    mono_now += 10;
    assert_true(isinf(xp_respcache_refresh()));
    assert_int_equal(renders[XP_PAGE_METRICS], 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rendered_once_per_version_and_second, setup, teardown),
        cmocka_unit_test_setup_teardown(health_etag_and_not_modified, setup, teardown),
        cmocka_unit_test_setup_teardown(pages_are_cached_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_render_answers_500_and_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(headers_of_each_page, setup, teardown),
        cmocka_unit_test_setup_teardown(new_header_set_rebuilds_cached_pages, setup, teardown),
        cmocka_unit_test(gzip_round_trip),
        cmocka_unit_test_setup_teardown(large_metrics_served_at_once_and_rebuilt_by_the_builder,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(large_metrics_never_served_old, setup, teardown),
        cmocka_unit_test_setup_teardown(small_metrics_rendered_on_demand, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
