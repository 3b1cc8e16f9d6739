/* The config engine's insides, shared by the loader (loader.c), the engine (engine.c), the
 * value parsers (values.c) and the section tables (sections.c). A section's lines are kept
 * with their line numbers and applied through its tables when the section ends, because
 * `collector =` may come after the keys that depend on it. */
#ifndef XP_CONFIG_ENGINE_H
#define XP_CONFIG_ENGINE_H

#include <stddef.h>

#include "config/config.h"
#include "config/keys.h"

#define XP_DURATION_MAX (30 * 24 * 3600.0) /* SPEC section 4: at most 30 days */
#define XP_COUNT_MAX 1000000u              /* SPEC section 4: counts at most 1,000,000 */

typedef struct xp_cfg_kv {
    char *key;
    char *value; /* as written, before ${} expansion */
    int line;
} xp_cfg_kv;

typedef struct xp_cfg_section {
    char *name; /* the header without brackets, e.g. "dependency.database" */
    int line;
    xp_cfg_kv *kv;
    size_t n, cap;
} xp_cfg_section;

typedef struct xp_cfg_requires {
    size_t feature; /* index into cfg->features */
    char *list;     /* "a,b" */
    int line;
} xp_cfg_requires;

typedef struct xp_cfg_ctx {
    const char *file;
    char *base_dir; /* relative paths are read from here */
    int unset_vars_empty;
    xp_config *cfg;
    /* The loader's: the section being read and every header so far (for duplicates). */
    int in_section, key_seen; /* key_seen: an indented line now would continue a value */
    xp_cfg_section cur, *seen;
    size_t n_seen, cap_seen;
    /* The sections': capacities of cfg's arrays, requires lists to resolve at the end, and
     * the last weight = 0. */
    size_t cap_deps, cap_features;
    xp_cfg_requires *requires;
    size_t n_requires, cap_requires;
    int zero_weight_line;
    /* Every secret value met so far, scrubbed from the error when it leaves. */
    char **secrets;
    size_t n_secrets, cap_secrets;
    int err_line; /* 0: no line applies */
    char *err;    /* the first error, whole (a cut copy could keep a secret's start) */
} xp_cfg_ctx;

/* One table with the struct it fills. */
typedef struct xp_cfg_table {
    const xp_key *keys;
    void *base;
} xp_cfg_table;

/* engine.c. xp_cfg_fail records the error (the first one wins) and returns -1. */
int xp_cfg_fail(xp_cfg_ctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const xp_cfg_kv *xp_cfg_find(const xp_cfg_section *s, const char *key);
int xp_cfg_grow(void **arr, size_t *cap, size_t n, size_t elem); /* room for one more; 0 = ok */
/* Applies every key of s through the tables: a required key missing, an unknown key (listing
 * the known ones; `where` as "for collector redis", NULL: "in [SECTION]"), a secret with its
 * _file twin, an unreadable file, a bad value are FILE:LINE errors. Remembers every secret
 * value for scrubbing. 0 = ok. */
int xp_cfg_apply(xp_cfg_ctx *c, const xp_cfg_section *s, const xp_cfg_table *t, size_t nt,
                 const char *where);
/* Fills d->fingerprint from the parsed fields of its two tables, and d->secrets with copies
 * of the n secrets its section held. 0 = ok. */
int xp_cfg_dep_settings(xp_dep_cfg *d, const xp_key *shared, const xp_key *own,
                        char *const *secrets, size_t n);

/* values.c: one value each, from its text; why never quotes the value. 0 = ok. */
int xp_cfg_why(char *why, size_t whylen, const char *fmt, ...) /* writes why, returns -1 */
    __attribute__((format(printf, 3, 4)));
int xp_cfg_parse_number(const char *s, double min, double max, double *out);
int xp_cfg_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
int xp_cfg_parse_percent(const char *s, double *fraction); /* "50%" or "50" -> 0.5 */
int xp_cfg_parse_bool(const char *s, int *out);
/* "a, b": distinct names into a malloc'd "a,b" ("" for none). */
int xp_cfg_parse_list(const char *s, char **out, char *why, size_t whylen);
/* A PARSE key: "1:degraded, 2:limited" into the xp_degradation_cfg at field. */
int xp_cfg_parse_cascade(const char *s, void *field, char *why, size_t whylen);
/* A PARSE key: "100/60s" (N requests per PERIOD) into the xp_rate_limit at field. */
int xp_cfg_parse_rate(const char *s, void *field, char *why, size_t whylen);
int xp_cfg_valid_name(const char *s); /* non-empty [A-Za-z0-9_.-]: names become labels */
/* STRING checks: why completes "KEY must be ...". */
int xp_cfg_check_listen(const char *s, char *why, size_t whylen);
int xp_cfg_check_telemetry_path(const char *s, char *why, size_t whylen);
int xp_cfg_check_user(const char *s, char *why, size_t whylen);
int xp_cfg_check_bcrypt(const char *s, char *why, size_t whylen);
/* LIST check: every item a failure reason of SPEC section 5 (ignore_reasons). */
int xp_cfg_check_reasons(const char *list, char *why, size_t whylen);

/* sections.c: the tables and their hooks. */
int xp_cfg_section_check(xp_cfg_ctx *c, const char *name, int line); /* a header's name */
int xp_cfg_section_apply(xp_cfg_ctx *c, const xp_cfg_section *s);
int xp_cfg_finish(xp_cfg_ctx *c); /* after the last section: rules across sections */
int xp_cfg_init(xp_config *cfg);  /* the defaults of [exporter], [web], [degradation] */
void xp_cfg_web_free(xp_web_cfg *w);
void xp_cfg_web_users_free(xp_web_cfg *w); /* the users alone, hashes wiped */
void xp_cfg_web_headers_free(xp_web_cfg *w);
void xp_cfg_feature_free(xp_feature_cfg *f);

#endif
