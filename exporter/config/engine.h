/* The config engine's insides, shared by the loader (loader.c), the engine (engine.c) and the
 * section tables (sections.c). A section's lines are buffered with their line numbers and
 * applied through its tables when the section ends, because `collector =` may come after the
 * keys that depend on it. */
#ifndef XP_CONFIG_ENGINE_H
#define XP_CONFIG_ENGINE_H

#include <stddef.h>

#include "config/config.h"
#include "config/keys.h"

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
    int web_only; /* --web.config.file: [web] is the only section allowed */
    xp_config *cfg;

    /* The reader's state (loader.c). */
    int in_section;
    int key_seen; /* a key line since the header: an indented line now continues it */
    xp_cfg_section cur;
    xp_cfg_section *seen; /* headers so far (names and lines only) for duplicate checks */
    size_t n_seen, cap_seen;

    /* The sections' state (sections.c). */
    xp_cfg_requires *requires;
    size_t n_requires, cap_requires;
    int zero_weight_line; /* the last explicit weight = 0, for "all weights are 0" */

    /* Every secret value read so far: scrubbed from the error before it leaves. */
    char **secrets;
    size_t n_secrets, cap_secrets;

    int err_line; /* 0: no line applies */
    char *err;    /* the first error, malloc'd; scrubbed only when it leaves (loader.c) */
} xp_cfg_ctx;

/* One table with the struct it fills. */
typedef struct xp_cfg_table {
    const xp_key *keys;
    void *base;
} xp_cfg_table;

/* Records the error (the first one wins) and returns -1. */
int xp_cfg_fail(xp_cfg_ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const xp_cfg_kv *xp_cfg_find(const xp_cfg_section *s, const char *key);
/* Grows *arr (of elem-sized items) so that one more fits. 0 = ok. */
int xp_cfg_grow(void **arr, size_t *cap, size_t n, size_t elem);
/* Remembers a copy of a secret value (and of the passwords inside a URL or DSN when embeds)
 * for scrubbing. 0 = ok. */
int xp_cfg_add_secret(xp_cfg_ctx *c, const char *value, int embeds);

/* Applies every key of s through the tables: the first required key missing, an unknown key
 * (listing the known ones; `where` says "for collector redis", NULL: "in [SECTION]"), a secret with
 * its _file twin, an unreadable file, a bad value are FILE:LINE errors. 0 = ok. */
int xp_cfg_apply(xp_cfg_ctx *c, const xp_cfg_section *s, const xp_cfg_table *t, size_t nt,
                 const char *where);
/* "KEY = what it takes", for "[feature.f] needs min_level = ..." messages. */
void xp_cfg_describe(const xp_key *k, char *buf, size_t len);
/* Fills d->fingerprint from the parsed fields of its two tables, and d->secrets with copies
 * of the n secrets its section held. 0 = ok. */
int xp_cfg_dep_settings(xp_dep_cfg *d, const xp_key *shared, const xp_key *own,
                        char *const *secrets, size_t n);

/* sections.c: the tables and their hooks. */
int xp_cfg_section_check(xp_cfg_ctx *c, const char *name, int line); /* a header's name */
int xp_cfg_section_apply(xp_cfg_ctx *c, const xp_cfg_section *s);
int xp_cfg_finish(xp_cfg_ctx *c); /* after the last section: rules across sections */
int xp_cfg_init(xp_config *cfg);  /* the defaults of [exporter], [web], [degradation] */
void xp_cfg_web_free(xp_web_cfg *w);
void xp_cfg_dep_free(xp_dep_cfg *d);
void xp_cfg_feature_free(xp_feature_cfg *f);

#endif
