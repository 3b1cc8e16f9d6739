/* Internals shared by the config loader's files: the parse context and one apply function per
 * kind of section. A section's keys are buffered with their line numbers and applied when the
 * section ends, because `collector =` may come after the keys that depend on it. */
#ifndef XP_CONFIG_PARSE_H
#define XP_CONFIG_PARSE_H

#include <stddef.h>

#include "config/config.h"

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
    char *list;     /* expanded value of requires = */
    int line;
} xp_cfg_requires;

typedef struct xp_cfg_ctx {
    const char *file;
    char *base_dir; /* relative *_file paths are read from here */
    int unset_vars_empty;
    int web_only; /* --web.config.file: [web] is the only section allowed */
    xp_config *cfg;

    int in_section;
    int key_seen; /* a key line since the header: an indented line now continues it */
    xp_cfg_section cur;
    xp_cfg_section *seen; /* headers so far (names and lines only) for duplicate checks */
    size_t n_seen, cap_seen;
    xp_cfg_requires *requires;
    size_t n_requires, cap_requires;
    int zero_weight_line; /* the last explicit weight = 0, for "all weights are 0" */

    int err_line; /* 0: no line applies */
    char err[XP_CONFIG_ERR_MAX];
} xp_cfg_ctx;

/* Records the error (first one wins) and returns -1. */
int xp_cfg_fail(xp_cfg_ctx *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* kv's value with ${} expanded, malloc'd; NULL after xp_cfg_fail. */
char *xp_cfg_expand(xp_cfg_ctx *c, const xp_cfg_kv *kv);
const xp_cfg_kv *xp_cfg_find(const xp_cfg_section *s, const char *key);
/* Grows *arr (of elem-sized items) so that one more fits. 0 = ok. */
int xp_cfg_grow(void **arr, size_t *cap, size_t n, size_t elem);
/* Frees s after overwriting its values, which may hold secrets. */
void xp_cfg_free_secret(char *s);

int xp_cfg_apply_exporter(xp_cfg_ctx *c, const xp_cfg_section *s);
int xp_cfg_apply_web(xp_cfg_ctx *c, const xp_cfg_section *s);
int xp_cfg_apply_degradation(xp_cfg_ctx *c, const xp_cfg_section *s);
int xp_cfg_apply_dependency(xp_cfg_ctx *c, const xp_cfg_section *s, const char *name);
int xp_cfg_apply_feature(xp_cfg_ctx *c, const xp_cfg_section *s, const char *name);
/* After the whole file: turns every requires list into dependency indices. */
int xp_cfg_resolve_requires(xp_cfg_ctx *c);

/* Reads text into c->cfg; -1 with c->err_line and c->err set. */
int xp_cfg_run(xp_cfg_ctx *c, const char *text, size_t len);
void xp_cfg_ctx_free(xp_cfg_ctx *c);

void xp_cfg_web_free(xp_web_cfg *w);
void xp_cfg_dep_free(xp_dep_cfg *d);
void xp_cfg_feature_free(xp_feature_cfg *f);

#endif
