/* One config key, described once, in the manner of nginx's ngx_command_t: a row names the
 * key, its kind, its bounds and default, and the field it fills (offsetof), and one engine
 * (config/engine.c) reads every section through such a table and produces every error.
 * Collectors describe their own keys of [dependency.NAME] with these rows too. Adding a key
 * is adding a row. */
#ifndef XP_KEYS_H
#define XP_KEYS_H

#include <stddef.h>

typedef enum {
    XP_K_STRING,    /* char *, a malloc'd copy; .check may refuse a value */
    XP_K_PATH,      /* char *, a readable regular file, resolved next to the config file */
    XP_K_LIST,      /* char *, "a, b" of distinct names, kept as "a,b" */
    XP_K_DURATION,  /* double seconds: "500ms", "10s", "1m", "1h" or "2"; > 0, <= 30 days */
    XP_K_COUNT,     /* unsigned, a whole number in [min, max]; max 0: 1,000,000 */
    XP_K_NUMBER,    /* double in [min, max] (weights, scores) */
    XP_K_PERCENT,   /* double, the fraction of "50%" or "50" (0.5): 0 < p <= 100 */
    XP_K_ENUM,      /* int, the index of the value in .names */
    XP_K_BOOL,      /* int, true/false, yes/no, on/off, 1/0 */
    XP_K_COLLECTOR, /* const xp_collector *, a name from the registry */
    XP_K_PARSE      /* .parse does it all (not in dependency tables: no canonical form) */
} xp_key_kind;

enum {
    /* Never quoted in a message, accepts a KEY_file twin read from a file, joins the
     * dependency's secrets (scrubbed from every error), wiped when freed. */
    XP_KEY_SECRET = 1,
    /* A URL, DSN or address that may carry a password (base/secret.h): that password is
     * treated as a secret, the rest of the value is not. */
    XP_KEY_EMBEDS_SECRET = 2,
    XP_KEY_REQUIRED = 4 /* the section is refused without it */
};

typedef struct xp_key {
    const char *name;
    xp_key_kind kind;
    unsigned flags;
    size_t offset;            /* of the field in the struct the table fills */
    double min, max;          /* COUNT and NUMBER bounds */
    const char *def;          /* the default, written as in a file; NULL: none (zero) */
    const char *const *names; /* ENUM: the accepted words, NULL-terminated */
    /* STRING, LIST (given "a,b"): refuses a value, with why completing "KEY must be ...".
     * 0 = ok. */
    int (*check)(const char *value, char *why, size_t whylen);
    /* PARSE: fills the field, or fails with why completing "KEY: ...". 0 = ok. */
    int (*parse)(const char *value, void *field, char *why, size_t whylen);
} xp_key;

// clang-format off
#define XP_KEY_AT(key, type, field, k, ...) \
    {.name = key, .kind = k, .offset = offsetof(type, field), __VA_ARGS__}
#define XP_KEY(type, field, k, ...) XP_KEY_AT(#field, type, field, k, __VA_ARGS__)
#define XP_KEY_END {.name = NULL}
// clang-format on

/* Parses value into the key's field of base, replacing what was there. 0 = ok; else msg
 * holds "KEY must be ..., not "VALUE"" (VALUE left out for a secret). A PATH must already be
 * resolved. */
int xp_key_set(const xp_key *k, void *base, const char *value, char *msg, size_t msglen);
/* Sets every key that has a default. 0 = ok, -1 on allocation failure. */
int xp_keys_defaults(const xp_key *keys, void *base);
/* Frees the strings of every key (wiping secrets) and zeroes them; keys ends in XP_KEY_END. */
void xp_keys_free(const xp_key *keys, void *base);

#endif
