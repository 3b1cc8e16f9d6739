/* Credentials (exporter/web/auth.c): real bcrypt hashes at low cost, then a fake hash function
 * and a fake clock for the cache: what is cached, for how long, and what a reload in the
 * middle of a check does (issue 10, fault 2: a rotated password kept working for 60 s);
 * several users and an API key; the lookup (cache) and verify (bcrypt) halves. */
#include <crypt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "web/auth.h"

/* A bcrypt hash of pw at cost 4 (the fastest bcrypt allows). */
static void bcrypt_of(const char *pw, char *out, size_t outlen)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    const char *h = crypt_r(pw, salt, &cd);
    assert_non_null(h);
    assert_true(strncmp(h, "$2b$04$", 7) == 0);
    snprintf(out, outlen, "%s", h);
}

static void real_bcrypt(void **state)
{
    (void)state;
    char hash[128];
    bcrypt_of("s3cret-pw", hash, sizeof(hash));
    xp_auth_set_env(NULL);
    assert_int_equal(xp_auth_configure_user("prometheus", hash), 0);
    assert_true(xp_auth_enabled());
    assert_int_equal(xp_auth_check("prometheus", "s3cret-pw"), 1);
    assert_int_equal(xp_auth_check("prometheus", "s3cret-pw"), 1); /* from the cache */
    assert_int_equal(xp_auth_check("prometheus", "s3cret-pwx"), 0);
    assert_int_equal(xp_auth_check("prometheus", "s3cret-p"), 0);
    assert_int_equal(xp_auth_check("prometheus", ""), 0);
    assert_int_equal(xp_auth_check("someone", "s3cret-pw"), 0);
    assert_int_equal(xp_auth_check("", "s3cret-pw"), 0);
    assert_int_equal(xp_auth_check(NULL, "s3cret-pw"), 0);
    assert_int_equal(xp_auth_check("prometheus", NULL), 0);
    char big[600];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(xp_auth_check("prometheus", big), 0); /* longer than a credential may be */
    /* A hash that is not bcrypt never matches, whatever the password. */
    assert_int_equal(xp_auth_configure_user("prometheus", "not-a-hash"), 0);
    assert_int_equal(xp_auth_check("prometheus", "not-a-hash"), 0);
    assert_int_equal(xp_auth_check("prometheus", "s3cret-pw"), 0);
    xp_auth_free();
    assert_false(xp_auth_enabled());
    assert_int_equal(xp_auth_check("anyone", "anything"), 1); /* auth off */
}

/* The fake: a hash is "fake$PASSWORD"; hashing pw gives "fake$pw". It counts its calls and
 * can run a hook (a reload) while it "computes". */
static double fake_now;
static int crypt_calls;
static void (*during_crypt)(int call);

static const char *fake_crypt(const char *pw, const char *hash, struct crypt_data *cd)
{
    crypt_calls++;
    if (during_crypt)
        during_crypt(crypt_calls);
    if (strncmp(hash, "fake$", 5) != 0)
        return NULL;
    snprintf(cd->output, sizeof(cd->output), "fake$%s", pw);
    return cd->output;
}

static double fake_clock(void)
{
    return fake_now;
}

static const xp_auth_env fake_env = {fake_crypt, fake_clock};

static int use_fake(void **state)
{
    (void)state;
    fake_now = 1000;
    crypt_calls = 0;
    during_crypt = NULL;
    xp_auth_set_env(&fake_env);
    return 0;
}

static int use_real(void **state)
{
    (void)state;
    xp_auth_free();
    xp_auth_set_env(NULL);
    return 0;
}

static void cache_keeps_a_pass_for_60_seconds(void **state)
{
    (void)state;
    assert_int_equal(xp_auth_configure_user("u", "fake$pw"), 0);
    assert_int_equal(xp_auth_check("u", "pw"), 1);
    assert_int_equal(crypt_calls, 1);
    for (int i = 0; i < 599; i++) { /* a scrape every 0.1 s: served from the cache */
        fake_now += 0.1;
        assert_int_equal(xp_auth_check("u", "pw"), 1);
    }
    assert_int_equal(crypt_calls, 1);
    fake_now += 0.2; /* 60.1 s after the pass (use does not extend it): hashed again */
    assert_int_equal(xp_auth_check("u", "pw"), 1);
    assert_int_equal(crypt_calls, 2);
}

static void failures_are_never_cached(void **state)
{
    (void)state;
    assert_int_equal(xp_auth_configure_user("u", "fake$pw"), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(xp_auth_check("u", "wrong"), 0);
    assert_int_equal(crypt_calls, 3);
    /* An unknown user costs a hash too (same time as a known one) and fails. */
    assert_int_equal(xp_auth_check("v", "pw"), 0);
    assert_int_equal(crypt_calls, 4);
    assert_int_equal(xp_auth_check("v", "pw"), 0);
    assert_int_equal(crypt_calls, 5);
}

static void reload_wipes_the_cache(void **state)
{
    (void)state;
    assert_int_equal(xp_auth_configure_user("u", "fake$old"), 0);
    assert_int_equal(xp_auth_check("u", "old"), 1);
    assert_int_equal(xp_auth_configure_user("u", "fake$new"), 0);
    assert_int_equal(xp_auth_check("u", "old"), 0);
    assert_int_equal(xp_auth_check("u", "new"), 1);
    /* The same credentials again: a reload that keeps them still forgets the cache. */
    assert_int_equal(xp_auth_configure_user("u", "fake$new"), 0);
    int before = crypt_calls;
    assert_int_equal(xp_auth_check("u", "new"), 1);
    assert_int_equal(crypt_calls, before + 1);
}

static void rotate_to_new(int call)
{
    if (call == 1)
        assert_int_equal(xp_auth_configure_user("u", "fake$new"), 0);
}

/* Fault 2: the old password is being checked when a reload rotates it. That check must not
 * pass, and must not leave the old password in the cache for the next request. */
static void reload_during_a_check_of_the_old_password(void **state)
{
    (void)state;
    assert_int_equal(xp_auth_configure_user("u", "fake$old"), 0);
    during_crypt = rotate_to_new;
    assert_int_equal(xp_auth_check("u", "old"), 0);
    during_crypt = NULL;
    assert_int_equal(crypt_calls, 2); /* void after the reload: checked again, against new */
    assert_int_equal(xp_auth_check("u", "old"), 0);
    assert_int_equal(crypt_calls, 3); /* not from the cache: it holds nothing */
    assert_int_equal(xp_auth_check("u", "new"), 1);
}

/* The other side of the same race: the new password arrives while the old hash is in force
 * and the reload lands during its check. It is judged against the new hash: it passes. */
static void reload_during_a_check_of_the_new_password(void **state)
{
    (void)state;
    assert_int_equal(xp_auth_configure_user("u", "fake$old"), 0);
    during_crypt = rotate_to_new;
    assert_int_equal(xp_auth_check("u", "new"), 1);
    during_crypt = NULL;
    assert_int_equal(crypt_calls, 2);
    assert_int_equal(xp_auth_check("u", "new"), 1);
    assert_int_equal(crypt_calls, 2); /* that pass was cached: it was the current hash */
}

static void reload_every_time(int call)
{
    assert_int_equal(xp_auth_configure_user("u", "fake$pw"), 0);
}

/* Credentials replaced during every attempt: the check gives up and refuses. */
static void endless_reloads_refuse(void **state)
{
    (void)state;
    assert_int_equal(xp_auth_configure_user("u", "fake$pw"), 0);
    during_crypt = reload_every_time;
    assert_int_equal(xp_auth_check("u", "pw"), 0);
    during_crypt = NULL;
    assert_int_equal(crypt_calls, 3);
    assert_int_equal(xp_auth_check("u", "pw"), 1);
}

static void turning_auth_off_lets_everyone_in(void **state)
{
    (void)state;
    assert_int_equal(xp_auth_configure_user("u", "fake$pw"), 0);
    assert_int_equal(xp_auth_check("u", "wrong"), 0);
    xp_auth_free();
    assert_false(xp_auth_enabled());
    assert_int_equal(xp_auth_check("u", "wrong"), 1);
    assert_int_equal(crypt_calls, 1); /* no hash computed without credentials to check */
}

static void several_users_and_a_key(void **state)
{
    (void)state;
    xp_web_user users[] = {{"alice", "fake$pa"}, {"bob", "fake$pb"}};
    assert_int_equal(xp_auth_configure(users, 2, "fake$key"), 0);
    assert_true(xp_auth_enabled());
    assert_int_equal(xp_auth_check("alice", "pa"), 1);
    assert_int_equal(xp_auth_check("bob", "pb"), 1);
    assert_int_equal(xp_auth_check("alice", "pb"), 0); /* another user's password */
    assert_int_equal(xp_auth_check("bob", "pa"), 0);
    assert_int_equal(xp_auth_check_key("key"), 1);
    assert_int_equal(xp_auth_check_key("pa"), 0);
    assert_int_equal(xp_auth_check("key", "key"), 0); /* the key is not a user */
    int before = crypt_calls;
    assert_int_equal(xp_auth_check("carol", "pa"), 0); /* unknown: hashed all the same */
    assert_int_equal(crypt_calls, before + 1);
}

/* A credential of a kind nobody configured is refused without a hash. */
static void a_kind_not_configured_costs_nothing(void **state)
{
    (void)state;
    assert_int_equal(xp_auth_configure_user("u", "fake$pw"), 0);
    assert_int_equal(xp_auth_check_key("pw"), 0);
    assert_int_equal(crypt_calls, 0);
    assert_int_equal(xp_auth_configure(NULL, 0, "fake$key"), 0);
    assert_true(xp_auth_enabled());
    assert_int_equal(xp_auth_check("u", "pw"), 0);
    assert_int_equal(crypt_calls, 0);
    assert_int_equal(xp_auth_check_key("key"), 1);
    assert_int_equal(crypt_calls, 1);
}

/* The split the HTTP side uses: lookup answers from the cache, verify hashes. */
static void lookup_then_verify(void **state)
{
    (void)state;
    assert_int_equal(xp_auth_configure_user("u", "fake$pw"), 0);
    xp_cred good, bad, none, key;
    assert_int_equal(xp_cred_basic(&good, "u", "pw"), 0);
    assert_int_equal(xp_cred_basic(&bad, "u", "nope"), 0);
    assert_int_equal(xp_cred_key(&key, "u:pw"), 0); /* a key that reads like the credential */
    memset(&none, 0, sizeof(none));
    assert_int_equal(xp_auth_lookup(&good), 0);
    assert_int_equal(xp_auth_lookup(&none), -1);
    assert_int_equal(crypt_calls, 0); /* lookups never hash */
    assert_int_equal(xp_auth_verify(&good), 1);
    assert_int_equal(crypt_calls, 1);
    assert_int_equal(xp_auth_lookup(&good), 1);
    assert_int_equal(xp_auth_lookup(&bad), 0);
    assert_int_equal(xp_auth_verify(&bad), 0);
    assert_int_equal(xp_auth_lookup(&bad), 0); /* failures are not cached */
    assert_int_equal(xp_auth_lookup(&key), -1); /* no key configured; the cache keeps kinds apart */
    assert_int_equal(xp_auth_configure(&(xp_web_user){"u", "fake$pw"}, 1, "fake$other"), 0);
    assert_int_equal(xp_auth_verify(&good), 1);
    assert_int_equal(xp_auth_lookup(&key), 0);
    assert_int_equal(xp_auth_verify(&key), 0);
    char big[600];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(xp_cred_key(&key, big), -1);
    assert_int_equal(xp_cred_basic(&good, "u", big), -1);
    xp_cred_wipe(&good);
    assert_int_equal(good.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(real_bcrypt, use_real),
        cmocka_unit_test_setup_teardown(cache_keeps_a_pass_for_60_seconds, use_fake, use_real),
        cmocka_unit_test_setup_teardown(failures_are_never_cached, use_fake, use_real),
        cmocka_unit_test_setup_teardown(reload_wipes_the_cache, use_fake, use_real),
        cmocka_unit_test_setup_teardown(reload_during_a_check_of_the_old_password, use_fake, use_real),
        cmocka_unit_test_setup_teardown(reload_during_a_check_of_the_new_password, use_fake, use_real),
        cmocka_unit_test_setup_teardown(endless_reloads_refuse, use_fake, use_real),
        cmocka_unit_test_setup_teardown(turning_auth_off_lets_everyone_in, use_fake, use_real),
        cmocka_unit_test_setup_teardown(several_users_and_a_key, use_fake, use_real),
        cmocka_unit_test_setup_teardown(a_kind_not_configured_costs_nothing, use_fake, use_real),
        cmocka_unit_test_setup_teardown(lookup_then_verify, use_fake, use_real),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
