/* Secret scrubbing of error texts, done by the core for every collector and every config
 * error, and the passwords found inside URLs and DSNs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/secret.h"

static void scrub(char *t, size_t cap, const char *a, const char *b)
{
    const char *s[2] = {a, b};
    xp_secret_scrub_all(t, cap, s, b ? 2 : 1);
}

/* Every secret becomes the same marker, whatever its length: no count of '*' to read. */
static void one_marker_for_every_length(void **state)
{
    char t1[128] = "auth failed for pw-SENTINEL-1234 (pw-SENTINEL-1234)";
    xp_secret_scrub(t1, sizeof(t1), "pw-SENTINEL-1234");
    assert_string_equal(t1, "auth failed for <redacted> (<redacted>)");
    char t2[64] = "key abc rejected";
    xp_secret_scrub(t2, sizeof(t2), "abc");
    assert_string_equal(t2, "key <redacted> rejected");
    char t3[64] = "nothing here";
    xp_secret_scrub(t3, sizeof(t3), "");
    assert_string_equal(t3, "nothing here");
}

/* A short secret (a test's "a") is scrubbed only where it stands alone, where it can be an
 * echo; a long one wherever it appears. */
static void short_secrets_only_as_whole_tokens(void **state)
{
    char t1[128] = "connection refused by localhost:4566 for a";
    xp_secret_scrub(t1, sizeof(t1), "a");
    assert_string_equal(t1, "connection refused by localhost:4566 for <redacted>");
    char t2[128] = "WRONGPASS user=test pass \"test\" in latest";
    xp_secret_scrub(t2, sizeof(t2), "test");
    assert_string_equal(t2, "WRONGPASS user=<redacted> pass \"<redacted>\" in latest");
    char t3[128] = "xxhunter2-SENTINELyy";
    xp_secret_scrub(t3, sizeof(t3), "hunter2-SENTINEL");
    assert_string_equal(t3, "xx<redacted>yy");
    char t4[128] = "abcdefg abcdefgh";
    scrub(t4, sizeof(t4), "abcdefg", NULL); /* 7 characters: whole tokens only */
    assert_string_equal(t4, "<redacted> abcdefgh");
}

/* Of two secrets, one inside the other, the longer goes whole; a mark is never scrubbed
 * again (a secret "redacted" must not nest marks). */
static void longest_first_and_marks_stay(void **state)
{
    char t[128] = "got sk-SENTINEL-long-key and sk-SENTINEL";
    scrub(t, sizeof(t), "sk-SENTINEL", "sk-SENTINEL-long-key");
    assert_string_equal(t, "got <redacted> and <redacted>");
    char u[128] = "said redacted";
    scrub(u, sizeof(u), "redacted", NULL);
    assert_string_equal(u, "said <redacted>");
    scrub(u, sizeof(u), "redacted", NULL);
    assert_string_equal(u, "said <redacted>");
}

/* The text grows: it is cut to the buffer after the scrub, so no start of a secret stays. */
static void growth_is_cut_after_the_scrub(void **state)
{
    char t[16] = "a b c d e f g";
    scrub(t, sizeof(t), "a", "g");
    assert_int_equal(strlen(t), 15);
    assert_true(strncmp(t, "<redacted> b c ", 15) == 0);
    /* Scrubbing "aa" first and cutting then would leave "hunter2-S" at the end. */
    char u[24] = "aa bb hunter2-SENTINEL";
    scrub(u, sizeof(u), "aa", "hunter2-SENTINEL");
    assert_string_equal(u, "<redacted> bb <redacted");
}

static int collect(void *user, const char *p, size_t len)
{
    char *out = user;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s%.*s", n ? "|" : "", (int)len, p);
    return 0;
}

/* want: the passwords found, '|'-separated, decoded forms after the raw ones. */
static void expect_embedded(const char *value, const char *want)
{
    char got[256] = "";
    assert_int_equal(xp_secret_embedded(value, collect, got), 0);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", value, got, want);
}

static void passwords_inside_values(void **state)
{
    expect_embedded("postgresql://app:50%off-Secret@db.internal/app", "50%off-Secret");
    expect_embedded("redis://:pw-S@cache:6379/0", "pw-S");
    expect_embedded("https://user:p@ss/w@host/v1", "p@ss/w");
    expect_embedded("https://u:a%40b%00@host", "a%40b%00|a@b%00");
    expect_embedded("host=db password=hunter2 user=app", "hunter2");
    expect_embedded("host=db password = 'two words\\' here' user=app", "two words\\' here");
    expect_embedded("postgresql://h/db?sslmode=off&password=q1&x=y", "q1");
    expect_embedded("postgresql://u:a@h/db?password=b", "a|b");
    expect_embedded("host=db user=app", "");
    expect_embedded("https://user@host/v1", "");
    expect_embedded("mypassword=x", ""); /* not the keyword */
    expect_embedded("host:6379", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_marker_for_every_length),
        cmocka_unit_test(short_secrets_only_as_whole_tokens),
        cmocka_unit_test(longest_first_and_marks_stay),
        cmocka_unit_test(growth_is_cut_after_the_scrub),
        cmocka_unit_test(passwords_inside_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
