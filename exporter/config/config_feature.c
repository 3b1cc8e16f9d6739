/* [feature.NAME]: min_level and requires. requires may name dependencies defined further
 * down the file, so names are resolved to indices once the whole file is read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_parse.h"
#include "model/level.h"

int xp_cfg_apply_feature(xp_cfg_ctx *c, const xp_cfg_section *s, const char *name) {
    xp_config *cfg = c->cfg;
    const xp_cfg_kv *lkv = xp_cfg_find(s, "min_level");
    if (!lkv)
        return xp_cfg_fail(
            c, s->line, "[%s] needs min_level = optimal, degraded, limited, minimal or emergency",
            s->name);
    size_t cap = cfg->n_features;
    void *arr = cfg->features;
    if (xp_cfg_grow(&arr, &cap, cfg->n_features, sizeof(xp_feature_cfg)) != 0)
        return xp_cfg_fail(c, s->line, "out of memory");
    cfg->features = arr;
    size_t index = cfg->n_features;
    xp_feature_cfg *f = &cfg->features[index];
    memset(f, 0, sizeof(*f));
    cfg->n_features++;
    f->name = strdup(name);
    if (!f->name)
        return xp_cfg_fail(c, s->line, "out of memory");

    for (size_t i = 0; i < s->n; i++) {
        const xp_cfg_kv *kv = &s->kv[i];
        int is_level = strcmp(kv->key, "min_level") == 0;
        if (!is_level && strcmp(kv->key, "requires") != 0)
            return xp_cfg_fail(c, kv->line,
                               "unknown key \"%s\" in [%s] (known: min_level, requires)", kv->key,
                               s->name);
        char *v = xp_cfg_expand(c, kv);
        if (!v)
            return -1;
        if (is_level) {
            f->min_level = xp_level_parse(v);
            int rc = f->min_level < 0
                         ? xp_cfg_fail(c, kv->line,
                                       "min_level must be optimal, degraded, limited, minimal or "
                                       "emergency, not \"%s\"",
                                       v)
                         : 0;
            free(v);
            if (rc)
                return -1;
            continue;
        }
        void *req = c->requires;
        if (xp_cfg_grow(&req, &c->cap_requires, c->n_requires, sizeof(xp_cfg_requires)) != 0) {
            free(v);
            return xp_cfg_fail(c, kv->line, "out of memory");
        }
        c->requires = req;
        c->requires[c->n_requires++] =
            (xp_cfg_requires){.feature = index, .list = v, .line = kv->line};
    }
    return 0;
}

static int requires_resolve_one(xp_cfg_ctx *c, const xp_cfg_requires *r) {
    xp_feature_cfg *f = &c->cfg->features[r->feature];
    size_t max = 1;
    for (const char *p = r->list; *p; p++)
        max += *p == ',';
    f->requires = calloc(max, sizeof(size_t));
    if (!f->requires)
        return xp_cfg_fail(c, r->line, "out of memory");
    const char *p = r->list;
    p += strspn(p, " \t");
    if (!*p)
        return 0; /* requires = (nothing): no dependency */
    for (;;) {
        size_t len = strcspn(p, ",");
        const char *next = p[len] == ',' ? p + len + 1 : NULL;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0)
            return xp_cfg_fail(c, r->line, "requires has an empty entry; write requires = a, b");
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)len, p);
        int idx = xp_config_dep_index(c->cfg, name);
        if (idx < 0)
            return xp_cfg_fail(c, r->line,
                               "requires names \"%s\", but there is no [dependency.%s] section",
                               name, name);
        for (size_t i = 0; i < f->n_requires; i++)
            if (f->requires[i] == (size_t)idx)
                return xp_cfg_fail(c, r->line, "requires names \"%s\" twice", name);
        f->requires[f->n_requires++] = (size_t)idx;
        if (!next)
            return 0;
        p = next + strspn(next, " \t");
    }
}

int xp_cfg_resolve_requires(xp_cfg_ctx *c) {
    for (size_t i = 0; i < c->n_requires; i++)
        if (requires_resolve_one(c, &c->requires[i]) != 0)
            return -1;
    return 0;
}

void xp_cfg_feature_free(xp_feature_cfg *f) {
    free(f->name);
    free(f->requires);
    memset(f, 0, sizeof(*f));
}
