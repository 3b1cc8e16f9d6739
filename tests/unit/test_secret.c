/* Secret scrubbing of error texts, done by the core for every collector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/secret.h"

static void long_and_short_secrets(void **state)
{
    char t1[128] = "auth failed for pw-SENTINEL-1234 (pw-SENTINEL-1234)";
    xp_secret_scrub(t1, "pw-SENTINEL-1234", 16);
    assert_string_equal(t1, "auth failed for <redacted> (<redacted>)");
    char t2[64] = "key abc rejected";
    xp_secret_scrub(t2, "abc", 3);
    assert_string_equal(t2, "key *** rejected");
    char t3[64] = "nothing here";
    xp_secret_scrub(t3, "", 0);
    assert_string_equal(t3, "nothing here");
}

static void only_secret_keys_of_the_settings(void **state)
{
    static const char *const keys[] = {"password", "api_key", NULL};
    const char *settings = "dsn=host=db user=app\npassword=hunter2-SENTINEL\nquery=SELECT 1\n"
                           "api_key=sk-SENTINEL-9";
    char t[200] = "user app, hunter2-SENTINEL and sk-SENTINEL-9 in SELECT 1 at host=db";
    xp_secret_scrub_settings(t, settings, keys);
    assert_string_equal(t, "user app, <redacted> and <redacted> in SELECT 1 at host=db");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(long_and_short_secrets),
        cmocka_unit_test(only_secret_keys_of_the_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
