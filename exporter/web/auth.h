/* HTTP basic auth against a bcrypt hash, as the Prometheus exporter-toolkit does it. */
#ifndef XP_AUTH_H
#define XP_AUTH_H

#include <crypt.h>

/* Replaces the credentials (NULLs turn auth off). Copies both strings. 0 = ok. Any check
 * that ends after this returns is judged against the new credentials, even one that began
 * before (see xp_auth_check). */
int xp_auth_configure(const char *user, const char *bcrypt_hash);
int xp_auth_enabled(void);
/* 1 when user/password match. Unknown users cost one bcrypt, like known ones, so timing
 * does not tell which user names exist. */
int xp_auth_check(const char *user, const char *password);
void xp_auth_free(void);

/* What a check takes from outside: the hash function and the clock. Unit tests replace them
 * (a hash that runs a reload in its middle; a clock they move). */
typedef struct xp_auth_env {
    /* crypt_r's contract: the hash of password with hash's salt, or NULL / "*..." on error. */
    const char *(*crypt)(const char *password, const char *hash, struct crypt_data *cd);
    double (*now)(void); /* monotonic seconds */
} xp_auth_env;
/* NULL restores crypt_r and the monotonic clock. Not for use while checks run. */
void xp_auth_set_env(const xp_auth_env *env);

#endif
