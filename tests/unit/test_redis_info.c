/* The INFO parser against replies recorded from a real redis-server 7.0 (tests/fixtures),
 * every truncation of them, and hand-made malformed input. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "redis_info.h"

/* ctest sets XP_SOURCE_DIR; run by hand, the fixtures are found next to this source file. */
static char *read_fixture(const char *name, size_t *len)
{
    char path[1024];
    const char *src = getenv("XP_SOURCE_DIR");
    if (src) {
        snprintf(path, sizeof(path), "%s/tests/fixtures/%s", src, name);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        int dirlen = slash ? (int)(slash - __FILE__) : 1;
        snprintf(path, sizeof(path), "%.*s/../fixtures/%s", dirlen, slash ? __FILE__ : ".", name);
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 20, f);
    assert_int_equal(ferror(f), 0);
    fclose(f);
    assert_true(*len > 0);
    return buf;
}

static void assert_field(double got, double want)
{
    if (isnan(want))
        assert_true(isnan(got));
    else
        assert_true(got == want);
}

static void assert_info(const xp_redis_info *in, double mem, double maxmem, double clients,
                        double hits, double misses, double evicted)
{
    assert_field(in->used_memory, mem);
    assert_field(in->maxmemory, maxmem);
    assert_field(in->connected_clients, clients);
    assert_field(in->keyspace_hits, hits);
    assert_field(in->keyspace_misses, misses);
    assert_field(in->evicted_keys, evicted);
}

static void test_fresh_server(void **state)
{
    (void)state;
    size_t len;
    char *text = read_fixture("redis_info_fresh.txt", &len);
    xp_redis_info in;
    assert_int_equal(xp_redis_info_parse(text, len, &in), 6);
    /* used_memory, not used_memory_rss/_peak/_human, which come later in the same section */
    assert_info(&in, 917160, 0, 1, 0, 0, 0);
    free(text);
}

static void test_evicting_server(void **state)
{
    (void)state;
    size_t len;
    char *text = read_fixture("redis_info_evicting.txt", &len);
    xp_redis_info in;
    assert_int_equal(xp_redis_info_parse(text, len, &in), 6);
    assert_info(&in, 2098704, 2097152, 1, 9, 6, 2005);
    free(text);
}

/* Every prefix of a real reply: a field is either missing or exactly right, never a number
 * cut short, and the count of fields found only grows with the prefix. Each prefix lives in
 * its own exact-size allocation so a read past the end shows under ASan. */
static void test_every_truncation(void **state)
{
    (void)state;
    size_t len;
    char *text = read_fixture("redis_info_evicting.txt", &len);
    xp_redis_info full;
    assert_int_equal(xp_redis_info_parse(text, len, &full), 6);
    int last = 0;
    for (size_t n = 0; n <= len; n++) {
        char *cut = malloc(n ? n : 1);
        assert_non_null(cut);
        memcpy(cut, text, n);
        xp_redis_info in;
        int found = xp_redis_info_parse(cut, n, &in);
        assert_true(found >= last);
        last = found;
        const double *a = &in.used_memory, *b = &full.used_memory;
        for (int i = 0; i < 6; i++)
            assert_true(isnan(a[i]) || a[i] == b[i]);
        free(cut);
    }
    assert_int_equal(last, 6);
    free(text);
}

static void test_malformed_values(void **state)
{
    (void)state;
    static const char text[] = "# Memory\r\n"
                               "used_memory:12abc\r\n"  /* trailing junk */
                               "used_memory:99\r\n"     /* a later duplicate does not win */
                               "maxmemory:-5\r\n"       /* sign */
                               "connected_clients:\r\n" /* empty */
                               "keyspace_hits:1.5\r\n"  /* fraction */
                               "keyspace_misses:1234567890123456\r\n" /* 16 digits */
                               "xevicted_keys:7\r\n" /* other key with our key as suffix */
                               "evicted_keys 7\r\n"; /* no colon */
    xp_redis_info in;
    assert_int_equal(xp_redis_info_parse(text, sizeof(text) - 1, &in), 0);
    assert_info(&in, NAN, NAN, NAN, NAN, NAN, NAN);
}

static void test_lf_only_and_unterminated(void **state)
{
    (void)state;
    static const char text[] = "used_memory:42\nevicted_keys:3\nkeyspace_hits:10";
    xp_redis_info in;
    assert_int_equal(xp_redis_info_parse(text, sizeof(text) - 1, &in), 2);
    /* keyspace_hits:10 has no line end: it may have been keyspace_hits:1000 */
    assert_info(&in, 42, NAN, NAN, NAN, NAN, 3);
}

static void test_empty_and_null(void **state)
{
    (void)state;
    xp_redis_info in;
    assert_int_equal(xp_redis_info_parse(NULL, 0, &in), 0);
    assert_info(&in, NAN, NAN, NAN, NAN, NAN, NAN);
    assert_int_equal(xp_redis_info_parse("", 0, &in), 0);
    assert_int_equal(xp_redis_info_parse("-ERR unknown command\r\n", 22, &in), 0);
}

/* Random bytes seeded with the real reply's lines: must never crash or read out of bounds,
 * and whatever it reports must be a plain non-negative integer. */
static void test_garbage(void **state)
{
    (void)state;
    size_t len;
    char *text = read_fixture("redis_info_fresh.txt", &len);
    uint32_t seed = 12345;
    for (int round = 0; round < 2000; round++) {
        char *buf = malloc(len);
        assert_non_null(buf);
        memcpy(buf, text, len);
        for (int k = 0; k < 20; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            buf[at] = (char)(seed >> 16);
        }
        xp_redis_info in;
        int found = xp_redis_info_parse(buf, len, &in);
        assert_true(found >= 0 && found <= 6);
        const double *a = &in.used_memory;
        for (int i = 0; i < 6; i++)
            assert_true(isnan(a[i]) || (a[i] >= 0 && a[i] == floor(a[i])));
        free(buf);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_server),
        cmocka_unit_test(test_evicting_server),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_malformed_values),
        cmocka_unit_test(test_lf_only_and_unterminated),
        cmocka_unit_test(test_empty_and_null),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
