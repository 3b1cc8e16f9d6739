/* The config loader's public face: load from a file, from the compiled-in defaults or from
 * memory, the one-line summary, and freeing (the web config file is webconfig.c's). It feeds
 * the lines of the file (reader.c) into sections, refuses repeated sections and keys, hands
 * each finished section to its table (sections.c), and scrubs every secret from the error it
 * returns. */
#include "config/config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/secret.h"
#include "config/engine.h"
#include "config/reader.h"

#define CONFIG_BUILTIN_NAME "(built-in defaults)"
#define CONFIG_FILE_MAX (16u << 20)

static void section_clear(xp_cfg_section *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->kv[i].key);
        if (s->kv[i].value) /* may be a secret written inline */
            explicit_bzero(s->kv[i].value, strlen(s->kv[i].value));
        free(s->kv[i].value);
    }
    free(s->kv);
    free(s->name);
    memset(s, 0, sizeof(*s));
}

/* The end of the current section: apply its keys. */
static int section_finish(xp_cfg_ctx *c)
{
    if (!c->in_section)
        return 0;
    int rc = xp_cfg_section_apply(c, &c->cur);
    section_clear(&c->cur);
    c->in_section = 0;
    return rc;
}

/* "[name]" optionally followed by a comment. */
static int section_header(xp_cfg_ctx *c, const char *p, const char *end, int line)
{
    const char *close = memchr(p, ']', (size_t)(end - p)), *rest;
    if (!close)
        return xp_cfg_fail(c, line, "section header without a closing ]");
    for (rest = close + 1; rest < end && isspace((unsigned char)*rest);)
        rest++;
    if (rest < end && *rest != ';' && *rest != '#')
        return xp_cfg_fail(c, line, "unexpected text after the section header");
    if (section_finish(c) != 0)
        return -1;
    void *arr = c->seen;
    if (xp_cfg_grow(&arr, &c->cap_seen, c->n_seen, sizeof(xp_cfg_section)) != 0 ||
        !(c->cur.name = strndup(p + 1, (size_t)(close - p - 1))))
        return xp_cfg_fail(c, line, "out of memory");
    c->seen = arr;
    for (size_t i = 0; i < c->n_seen; i++)
        if (strcmp(c->seen[i].name, c->cur.name) == 0)
            return xp_cfg_fail(c, line, "duplicate section [%s] (first on line %d)", c->cur.name,
                               c->seen[i].line);
    if (xp_cfg_section_check(c, c->cur.name, line) != 0)
        return -1;
    if (!(c->seen[c->n_seen].name = strdup(c->cur.name)))
        return xp_cfg_fail(c, line, "out of memory");
    c->seen[c->n_seen++].line = c->cur.line = line;
    c->in_section = 1;
    c->key_seen = 0;
    return 0;
}

static int ctx_line(void *user, int lineno, const char *text, size_t len)
{
    xp_cfg_ctx *c = user;
    const char *p = text, *end = text + len;
    while (p < end && isspace((unsigned char)*p))
        p++;
    if (p == end || *p == ';' || *p == '#')
        return 0;
    if (p > text && c->key_seen)
        /* inih would pass this on as more of the previous value, which is never what a
         * config here means: refuse it rather than guess. */
        return xp_cfg_fail(c, lineno,
                           "indented line would continue the previous value; "
                           "multi-line values are not supported (unindent it)");
    if (*p == '[')
        return section_header(c, p, end, lineno);
    c->key_seen = 1;
    return 0;
}

static int ctx_pair(void *user, int lineno, const char *key, const char *value)
{
    xp_cfg_ctx *c = user;
    const xp_cfg_kv *first;
    void *arr = c->cur.kv;
    if (!c->in_section)
        return xp_cfg_fail(c, lineno, "key \"%s\" comes before any [section]", key);
    if (!*key)
        return xp_cfg_fail(c, lineno, "a key name is missing before '='");
    if ((first = xp_cfg_find(&c->cur, key)))
        return xp_cfg_fail(c, lineno, "duplicate key \"%s\" in [%s] (first on line %d)", key,
                           c->cur.name, first->line);
    if (xp_cfg_grow(&arr, &c->cur.cap, c->cur.n, sizeof(xp_cfg_kv)) != 0)
        return xp_cfg_fail(c, lineno, "out of memory");
    c->cur.kv = arr;
    xp_cfg_kv *kv = &c->cur.kv[c->cur.n++];
    *kv = (xp_cfg_kv){strdup(key), strdup(value), lineno};
    return kv->key && kv->value ? 0 : xp_cfg_fail(c, lineno, "out of memory");
}

static void ctx_free(xp_cfg_ctx *c)
{
    section_clear(&c->cur);
    for (size_t i = 0; i < c->n_seen; i++)
        free(c->seen[i].name);
    for (size_t i = 0; i < c->n_requires; i++)
        free(c->requires[i].list);
    for (size_t i = 0; i < c->n_secrets; i++) {
        explicit_bzero(c->secrets[i], strlen(c->secrets[i]));
        free(c->secrets[i]);
    }
    free(c->seen);
    free(c->requires);
    free(c->secrets);
    free(c->base_dir);
    free(c->err);
}

/* Parses text into cfg. 0 = ok; else err holds
 * "FILE:LINE: message" with every secret the file held scrubbed from it. */
static int config_run(xp_config *cfg, const char *name, const char *text, size_t len,
                      int unset_vars_empty, char *err, size_t errlen)
{
    static const xp_ini_callbacks cb = {.line = ctx_line, .pair = ctx_pair};
    xp_cfg_ctx c = {
        .file = name, .unset_vars_empty = unset_vars_empty, .cfg = cfg};
    const char *slash = strrchr(name, '/');
    c.base_dir = !slash          ? strdup(".")
                 : slash == name ? strdup("/")
                                 : strndup(name, (size_t)(slash - name));
    char msg[XP_CONFIG_ERR_MAX];
    int line = 0, rc = c.base_dir ? xp_ini_parse(text, len, &cb, &c, &line, msg, sizeof(msg))
                                  : xp_cfg_fail(&c, 0, "out of memory");
    if (rc == -2) { /* the reader's or inih's own error came first, whatever we recorded */
        free(c.err);
        c.err = NULL;
        xp_cfg_fail(&c, line, "%s", msg);
    } else if (rc == 0 && (rc = section_finish(&c)) == 0) {
        rc = xp_cfg_finish(&c);
    }
    if (rc) { /* scrubbed whole, then cut: cut first, it could keep a secret's start */
        xp_secret_scrub_copy(msg, sizeof(msg), c.err, (const char *const *)c.secrets, c.n_secrets);
        if (c.err_line > 0)
            snprintf(err, errlen, "%s:%d: %s", name, c.err_line, msg);
        else
            snprintf(err, errlen, "%s: %s", name, msg);
    }
    ctx_free(&c);
    return rc;
}

static xp_config *config_new(const char *path)
{
    xp_config *cfg = calloc(1, sizeof(*cfg));
    if (cfg && (!(cfg->path = strdup(path)) || xp_cfg_init(cfg) != 0)) {
        xp_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* A config from text, or from the file `name` when text is NULL. NULL on error, with err set. */
static xp_config *config_make(const char *name, const char *text, size_t len, int unset_vars_empty,
                              char *err, size_t errlen)
{
    char *buf = NULL, why[128];
    xp_config *cfg = NULL;
    if (!text && xp_file_read(name, CONFIG_FILE_MAX, &buf, &len, why, sizeof(why)) != 0)
        snprintf(err, errlen, "%s: cannot read the config file: %s", name, why);
    else if (!(cfg = config_new(name)))
        snprintf(err, errlen, "%s: out of memory", name);
    else if (config_run(cfg, name, text ? text : buf, len, unset_vars_empty, err, errlen) != 0) {
        xp_config_free(cfg);
        cfg = NULL;
    }
    xp_file_free(buf, len); /* it may hold secrets written inline */
    return cfg;
}

xp_config *xp_config_parse(const char *name, const char *text, size_t len, int unset_vars_empty,
                           char *err, size_t errlen)
{
    return config_make(name, text ? text : "", len, unset_vars_empty, err, errlen);
}

xp_config *xp_config_load(const char *path, char *err, size_t errlen)
{
    return config_make(path, NULL, 0, 0, err, errlen);
}

xp_config *xp_config_load_builtin(char *err, size_t errlen)
{
    xp_config *cfg = xp_config_parse(CONFIG_BUILTIN_NAME, xp_builtin_config, xp_builtin_config_len,
                                     1, err, errlen);
    if (cfg)
        cfg->builtin = 1;
    return cfg;
}

void xp_config_free(xp_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_deps; i++)
        xp_dep_cfg_free(&cfg->deps[i]);
    free(cfg->deps);
    for (size_t i = 0; i < cfg->n_features; i++)
        xp_cfg_feature_free(&cfg->features[i]);
    free(cfg->features);
    xp_cfg_web_free(&cfg->web);
    free(cfg->path);
    free(cfg->listen_address);
    free(cfg->telemetry_path);
    free(cfg);
}

void xp_config_summary(const xp_config *cfg, char *buf, size_t len)
{
    xp_buf b;
    xp_buf_init(&b);
    xp_buf_printf(&b, "%s: ok, %zu dependenc%s (", cfg->path, cfg->n_deps,
                  cfg->n_deps == 1 ? "y" : "ies");
    for (size_t i = 0; i < cfg->n_deps; i++)
        xp_buf_printf(&b, "%s%s=%s", i ? ", " : "", cfg->deps[i].name,
                      cfg->deps[i].collector->name);
    xp_buf_printf(&b, "), %zu feature%s", cfg->n_features, cfg->n_features == 1 ? "" : "s");
    snprintf(buf, len, "%s", xp_buf_failed(&b) || !b.data ? "ok" : b.data);
    xp_buf_free(&b);
}

int xp_config_dep_index(const xp_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_deps; i++)
        if (strcmp(cfg->deps[i].name, name) == 0)
            return (int)i;
    return -1;
}
