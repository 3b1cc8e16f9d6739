/* [dependency.NAME]: the keys every dependency shares are handled here, the rest go to the
 * collector's set(). *_file twins of the collector's secret keys are read here too, so no
 * collector ever sees a path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config_file.h"
#include "config/config_parse.h"
#include "config/config_values.h"
#include "model/level.h"

typedef struct dep_lines {
    int interval, timeout;
} dep_lines;

static int dep_is_secret(const xp_collector *col, const char *key, size_t len) {
    for (const char *const *k = col->secret_keys; k && *k; k++)
        if (strlen(*k) == len && strncmp(*k, key, len) == 0)
            return 1;
    return 0;
}

/* 1 when kv was one of the shared keys (then *rc says whether it was valid). */
static int dep_shared(xp_cfg_ctx *c, xp_dep_cfg *d, const xp_cfg_kv *kv, const char *v,
                      dep_lines *lines, int *rc) {
    const char *k = kv->key;
    *rc = 0;
    if (strcmp(k, "weight") == 0) {
        if (xp_cfg_parse_number(v, 0, 1e6, &d->weight) != 0)
            *rc = xp_cfg_fail(c, kv->line, "weight must be a finite number >= 0, not \"%s\"", v);
        else if (d->weight == 0)
            c->zero_weight_line = kv->line;
    } else if (strcmp(k, "interval") == 0 || strcmp(k, "timeout") == 0 ||
               strcmp(k, "latency_budget") == 0 || strcmp(k, "recovery_timeout") == 0) {
        double *field = k[0] == 'i'   ? &d->interval
                        : k[0] == 't' ? &d->timeout
                        : k[0] == 'l' ? &d->latency_budget
                                      : &d->recovery_timeout;
        if (xp_duration_parse(v, field) != 0)
            *rc = xp_cfg_fail(
                c, kv->line,
                "%s must be a positive duration such as 500ms, 10s, 1m or 1h, not \"%s\"", k, v);
        if (k[0] == 'i')
            lines->interval = kv->line;
        else if (k[0] == 't')
            lines->timeout = kv->line;
    } else if (strcmp(k, "failure_threshold") == 0 || strcmp(k, "half_open_requests") == 0) {
        unsigned *field = k[0] == 'f' ? &d->failure_threshold : &d->half_open_requests;
        if (xp_cfg_parse_uint(v, 1, 1000000, field) != 0)
            *rc = xp_cfg_fail(c, kv->line, "%s must be a whole number >= 1, not \"%s\"", k, v);
    } else if (strcmp(k, "open_level") == 0) {
        d->open_level = xp_level_parse(v);
        if (d->open_level < 0)
            *rc = xp_cfg_fail(c, kv->line,
                              "open_level must be optimal, degraded, limited, minimal or "
                              "emergency, not \"%s\"",
                              v);
    } else {
        return 0;
    }
    return 1;
}

/* A key for the collector: KEY, or KEY_file for one of its secret keys. */
static int dep_collector_key(xp_cfg_ctx *c, const xp_cfg_section *s, xp_dep_cfg *d,
                             const xp_cfg_kv *kv, const char *v, xp_buf *fp) {
    const xp_collector *col = d->collector;
    const char *key = kv->key;
    size_t klen = strlen(key);
    int is_file =
        klen > 5 && strcmp(key + klen - 5, "_file") == 0 && dep_is_secret(col, key, klen - 5);
    int secret = is_file || dep_is_secret(col, key, klen);
    char base[256]; /* longer than any line inih lets through */
    if (is_file) {
        if (klen - 5 >= sizeof(base))
            return xp_cfg_fail(c, kv->line, "unknown key \"%s\"", key);
        memcpy(base, key, klen - 5);
        base[klen - 5] = '\0';
    } else {
        snprintf(base, sizeof(base), "%s", key);
    }
    if (secret) {
        char twin[272];
        snprintf(twin, sizeof(twin), is_file ? "%s" : "%s_file", base);
        const xp_cfg_kv *other = xp_cfg_find(s, twin);
        if (other)
            return xp_cfg_fail(c, other->line > kv->line ? other->line : kv->line,
                               "both %s and %s_file are given; use one", base, base);
    }

    char *value = NULL;
    if (is_file) {
        char *path = xp_cfg_resolve_path(c->base_dir, v);
        if (!path)
            return xp_cfg_fail(c, kv->line, "out of memory");
        char ferr[XP_CONFIG_ERR_MAX];
        value = xp_cfg_read_secret(path, ferr, sizeof(ferr));
        free(path);
        if (!value)
            return xp_cfg_fail(c, kv->line, "%s: %s", key, ferr);
    }
    const char *val = value ? value : v;
    char serr[XP_ERR_MAX] = "";
    xp_set_result r = col->set(d->inst, base, val, serr, sizeof(serr));
    int rc = 0;
    if (r == XP_SET_UNKNOWN) {
        rc = xp_cfg_fail(c, kv->line, "unknown key \"%s\" for collector %s", key, col->name);
    } else if (r != XP_SET_OK) {
        /* A collector should never quote a secret; make sure of it. */
        if (secret && *val && strstr(serr, val))
            snprintf(serr, sizeof(serr), "invalid value for %.64s", base);
        rc = xp_cfg_fail(c, kv->line, "%s", serr[0] ? serr : "invalid value");
    } else {
        xp_buf_printf(fp, "%s=%s\n", base, val);
    }
    xp_cfg_free_secret(value);
    return rc;
}

/* 1 when text contains the value of one of the section's secret keys. The fingerprint holds
 * them as "key=value" lines, already read from their files. */
static int dep_mentions_secret(const xp_collector *col, const char *fingerprint, const char *text) {
    for (const char *p = fingerprint; p && *p;) {
        const char *eq = strchr(p, '='), *nl = strchr(p, '\n');
        if (!eq || !nl)
            break;
        size_t vlen = (size_t)(nl - eq - 1);
        if (eq < nl && vlen && dep_is_secret(col, p, (size_t)(eq - p)) &&
            memmem(text, strlen(text), eq + 1, vlen))
            return 1;
        p = nl + 1;
    }
    return 0;
}

static xp_dep_cfg *dep_add(xp_cfg_ctx *c, const char *name, const xp_collector *col) {
    xp_config *cfg = c->cfg;
    size_t cap = cfg->n_deps; /* exact-size growth: the array is small */
    void *arr = cfg->deps;
    if (xp_cfg_grow(&arr, &cap, cfg->n_deps, sizeof(xp_dep_cfg)) != 0)
        return NULL;
    cfg->deps = arr;
    xp_dep_cfg *d = &cfg->deps[cfg->n_deps];
    memset(d, 0, sizeof(*d));
    cfg->n_deps++; /* counted now so that xp_config_free cleans up a half-built one */
    d->name = strdup(name);
    if (!d->name)
        return NULL;
    d->collector = col;
    d->inst = col->create();
    if (!d->inst)
        return NULL;
    d->weight = 1;
    d->interval = 10;
    d->timeout = 2;
    d->latency_budget = NAN; /* timeout / 4 unless given */
    d->recovery_timeout = 30;
    d->failure_threshold = 3;
    d->half_open_requests = 1;
    d->open_level = XP_LEVEL_DEGRADED;
    return d;
}

int xp_cfg_apply_dependency(xp_cfg_ctx *c, const xp_cfg_section *s, const char *name) {
    const xp_cfg_kv *ckv = xp_cfg_find(s, "collector");
    if (!ckv)
        return xp_cfg_fail(c, s->line, "[%s] has no collector = (postgres, redis, s3 or openai)",
                           s->name);
    char *cname = xp_cfg_expand(c, ckv);
    if (!cname)
        return -1;
    const xp_collector *col = xp_collector_find(cname);
    if (!col) {
        xp_buf known;
        xp_buf_init(&known);
        for (const xp_collector *const *k = xp_collectors; *k; k++)
            xp_buf_printf(&known, "%s%s", k == xp_collectors ? "" : ", ", (*k)->name);
        xp_cfg_fail(c, ckv->line, "unknown collector \"%s\" (known: %s)", cname,
                    xp_buf_failed(&known) || !known.data ? "?" : known.data);
        xp_buf_free(&known);
        free(cname);
        return -1;
    }
    free(cname);
    xp_dep_cfg *d = dep_add(c, name, col);
    if (!d)
        return xp_cfg_fail(c, s->line, "out of memory");

    xp_buf fp;
    xp_buf_init(&fp);
    xp_buf_printf(&fp, "collector=%s\n", col->name);
    dep_lines lines = {0, 0};
    for (size_t i = 0; i < s->n; i++) {
        const xp_cfg_kv *kv = &s->kv[i];
        if (kv == ckv)
            continue;
        char *v = xp_cfg_expand(c, kv);
        if (!v)
            goto fail;
        int rc;
        if (dep_shared(c, d, kv, v, &lines, &rc))
            xp_buf_printf(&fp, "%s=%s\n", kv->key, v);
        else
            rc = dep_collector_key(c, s, d, kv, v, &fp);
        xp_cfg_free_secret(v);
        if (rc)
            goto fail;
    }
    if (!(d->timeout < d->interval)) {
        xp_cfg_fail(c,
                    lines.timeout    ? lines.timeout
                    : lines.interval ? lines.interval
                                     : s->line,
                    "timeout (%gs) must be shorter than interval (%gs)", d->timeout, d->interval);
        goto fail;
    }
    if (isnan(d->latency_budget))
        d->latency_budget = d->timeout / 4;
    char verr[XP_ERR_MAX] = "";
    if (col->validate && col->validate(d->inst, verr, sizeof(verr)) != 0) {
        if (!xp_buf_failed(&fp) && dep_mentions_secret(col, fp.data, verr))
            snprintf(verr, sizeof(verr),
                     "invalid settings (details withheld: they quote a secret)");
        xp_cfg_fail(c, s->line, "[%s]: %s", s->name, verr[0] ? verr : "invalid settings");
        goto fail;
    }
    if (col->target)
        col->target(d->inst, d->target, sizeof(d->target));
    d->fingerprint = xp_buf_steal(&fp, NULL);
    if (!d->fingerprint)
        return xp_cfg_fail(c, s->line, "out of memory");
    return 0;
fail:
    if (fp.data)
        memset(fp.data, 0, fp.cap);
    xp_buf_free(&fp);
    return -1;
}

void xp_cfg_dep_free(xp_dep_cfg *d) {
    free(d->name);
    if (d->collector && d->inst)
        d->collector->destroy(d->inst);
    xp_cfg_free_secret(d->fingerprint);
    memset(d, 0, sizeof(*d));
}
