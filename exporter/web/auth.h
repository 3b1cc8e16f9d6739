/* HTTP basic auth against a bcrypt hash, as the Prometheus exporter-toolkit does it. */
#ifndef XP_AUTH_H
#define XP_AUTH_H

/* Replaces the credentials (NULLs turn auth off). Copies both strings. 0 = ok. */
int xp_auth_configure(const char *user, const char *bcrypt_hash);
int xp_auth_enabled(void);
/* 1 when user/password match. Unknown users cost one bcrypt, like known ones, so timing
 * does not tell which user names exist. */
int xp_auth_check(const char *user, const char *password);
void xp_auth_free(void);

#endif
