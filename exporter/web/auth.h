/* Credentials: HTTP basic auth against bcrypt hashes (several users, as the Prometheus
 * exporter-toolkit's basic_auth_users) and an API key against its bcrypt hash ([web]
 * api_key_hash), with a cache of recent passes.
 *
 * A check has a fast part and a slow one. xp_auth_lookup answers at once from the cache (or
 * refuses what cannot pass); xp_auth_verify runs bcrypt (tens of milliseconds at cost 10), so
 * the web part runs it on its own threads (web/authpool.c), never on an HTTP worker. */
#ifndef XP_AUTH_H
#define XP_AUTH_H

#include <crypt.h>
#include <stddef.h>

#include "config/config.h"

#define XP_CRED_MAX 512 /* a user name, ':' and a password, or a key, must fit */

typedef enum { XP_CRED_BASIC = 1, XP_CRED_KEY = 2 } xp_cred_kind;

/* What a request presented: a user and password (Authorization: Basic), or an API key
 * (Authorization: Bearer, X-API-Key). Wipe it with xp_cred_wipe. */
typedef struct xp_cred {
    int kind;   /* xp_cred_kind, 0: nothing usable */
    size_t ulen; /* BASIC: text is "user:password", the user its first ulen bytes */
    size_t len;
    char text[XP_CRED_MAX];
} xp_cred;

/* Fill c; 0 = ok, -1 when too long to be a credential (c->kind is then 0). */
int xp_cred_basic(xp_cred *c, const char *user, const char *password);
int xp_cred_key(xp_cred *c, const char *key);
void xp_cred_wipe(xp_cred *c);

/* Replaces the users and the API key hash (n_users 0 and key NULL: auth off). Copies them.
 * 0 = ok. Any check that ends after this returns is judged against the new credentials, even
 * one that began before (see xp_auth_verify). */
int xp_auth_configure(const xp_web_user *users, size_t n_users, const char *api_key_hash);
/* The same in two steps, for a reload that must be all or nothing: prepare copies the
 * credentials (NULL when out of memory; nothing changes), commit puts them in force and
 * cannot fail, discard drops them unused. Each prepared set gets one commit or discard. */
typedef struct xp_auth_set xp_auth_set;
xp_auth_set *xp_auth_prepare(const xp_web_user *users, size_t n_users, const char *api_key_hash);
void xp_auth_commit(xp_auth_set *set);
void xp_auth_discard(xp_auth_set *set);
/* One user, no API key: xp_auth_configure's short form (NULLs: auth off). */
int xp_auth_configure_user(const char *user, const char *bcrypt_hash);
int xp_auth_enabled(void);
void xp_auth_free(void);

/* The fast part: 1 = pass (auth off, or passed within the last minute), 0 = needs
 * xp_auth_verify, -1 = refused without hashing (nothing presented, or a kind of credential
 * that is not configured: a key when only users are, and the other way round). */
int xp_auth_lookup(const xp_cred *c);
/* The slow part: bcrypt. 1 = pass (and cached), 0 = refused. An unknown user costs one bcrypt
 * like a known one, so timing does not tell which user names exist. */
int xp_auth_verify(const xp_cred *c);
/* Both in turn: for tests and callers that may block. */
int xp_auth_check(const char *user, const char *password);
int xp_auth_check_key(const char *key);

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
