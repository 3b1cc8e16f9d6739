/* Turns the lines of a config file into sections: tracks headers (with their line numbers,
 * which inih does not give), buffers each section's keys and hands the finished section to
 * its apply function. */
#include "config/config_parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_reader.h"
#include "config/config_values.h"

int xp_cfg_fail(xp_cfg_ctx *c, int line, const char *fmt, ...) {
    if (c->err[0])
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    if (!c->err[0])
        snprintf(c->err, sizeof(c->err), "invalid configuration");
    c->err_line = line;
    return -1;
}

char *xp_cfg_expand(xp_cfg_ctx *c, const xp_cfg_kv *kv) {
    char msg[XP_CONFIG_ERR_MAX];
    char *v = xp_env_expand(kv->value, c->unset_vars_empty, msg, sizeof(msg));
    if (!v)
        xp_cfg_fail(c, kv->line, "%s: %s", kv->key, msg);
    return v;
}

const xp_cfg_kv *xp_cfg_find(const xp_cfg_section *s, const char *key) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return &s->kv[i];
    return NULL;
}

int xp_cfg_grow(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    if (ncap > ((size_t)-1) / 2 / elem)
        return -1;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

void xp_cfg_free_secret(char *s) {
    if (!s)
        return;
    /* explicit_bzero: a plain memset before free may be optimised away. */
    explicit_bzero(s, strlen(s));
    free(s);
}

static void section_clear(xp_cfg_section *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->kv[i].key);
        xp_cfg_free_secret(s->kv[i].value);
    }
    free(s->kv);
    free(s->name);
    memset(s, 0, sizeof(*s));
}

/* The part after "dependency." or "feature.", or NULL when name is not of that kind. */
static const char *section_suffix(const char *name, const char *kind) {
    size_t n = strlen(kind);
    if (strncmp(name, kind, n) != 0 || (name[n] != '.' && name[n] != '\0'))
        return NULL;
    return name[n] ? name + n + 1 : name + n;
}

/* The end of the current section: apply its keys. */
static int section_finish(xp_cfg_ctx *c) {
    if (!c->in_section)
        return 0;
    xp_cfg_section *s = &c->cur;
    const char *sfx;
    int rc;
    if (strcmp(s->name, "exporter") == 0)
        rc = xp_cfg_apply_exporter(c, s);
    else if (strcmp(s->name, "web") == 0)
        rc = xp_cfg_apply_web(c, s);
    else if (strcmp(s->name, "degradation") == 0)
        rc = xp_cfg_apply_degradation(c, s);
    else if ((sfx = section_suffix(s->name, "dependency")))
        rc = xp_cfg_apply_dependency(c, s, sfx);
    else if ((sfx = section_suffix(s->name, "feature")))
        rc = xp_cfg_apply_feature(c, s, sfx);
    else
        rc = xp_cfg_fail(c, s->line, "unknown section [%s]", s->name); /* checked at the header */
    section_clear(s);
    c->in_section = 0;
    return rc;
}

static int section_check_name(xp_cfg_ctx *c, const char *name, int line) {
    if (c->web_only) {
        if (strcmp(name, "web") != 0)
            return xp_cfg_fail(
                c, line, "section [%s] in a web config file, which may hold only [web]", name);
        return 0;
    }
    if (strcmp(name, "exporter") == 0 || strcmp(name, "web") == 0 ||
        strcmp(name, "degradation") == 0)
        return 0;
    const char *kind = section_suffix(name, "dependency") ? "dependency" : "feature";
    const char *sfx = section_suffix(name, kind);
    if (!sfx)
        return xp_cfg_fail(c, line,
                           "unknown section [%s] (known: [exporter], [web], [degradation], "
                           "[dependency.NAME], [feature.NAME])",
                           name);
    if (!*sfx)
        return xp_cfg_fail(c, line, "[%s] needs a name: [%s.NAME]", kind, kind);
    if (!xp_cfg_valid_name(sfx))
        return xp_cfg_fail(
            c, line, "%s name \"%s\" may only hold letters, digits, '_', '.' and '-'", kind, sfx);
    return 0;
}

/* "[name]" optionally followed by a comment. */
static int section_header(xp_cfg_ctx *c, const char *p, const char *end, int line) {
    const char *close = memchr(p, ']', (size_t)(end - p));
    if (!close)
        return xp_cfg_fail(c, line, "section header without a closing ]");
    const char *rest = close + 1;
    while (rest < end && isspace((unsigned char)*rest))
        rest++;
    if (rest < end && *rest != ';' && *rest != '#')
        return xp_cfg_fail(c, line, "unexpected text after the section header");
    if (section_finish(c) != 0)
        return -1;
    char *name = strndup(p + 1, (size_t)(close - p - 1));
    if (!name)
        return xp_cfg_fail(c, line, "out of memory");
    if (section_check_name(c, name, line) != 0) {
        free(name);
        return -1;
    }
    for (size_t i = 0; i < c->n_seen; i++) {
        if (strcmp(c->seen[i].name, name) == 0) {
            xp_cfg_fail(c, line, "duplicate section [%s] (first on line %d)", name,
                        c->seen[i].line);
            free(name);
            return -1;
        }
    }
    void *arr = c->seen;
    if (xp_cfg_grow(&arr, &c->cap_seen, c->n_seen, sizeof(xp_cfg_section)) != 0) {
        free(name);
        return xp_cfg_fail(c, line, "out of memory");
    }
    c->seen = arr;
    c->seen[c->n_seen++] = (xp_cfg_section){.name = name, .line = line};
    c->cur = (xp_cfg_section){.line = line};
    c->cur.name = strdup(name);
    if (!c->cur.name)
        return xp_cfg_fail(c, line, "out of memory");
    c->in_section = 1;
    c->key_seen = 0;
    return 0;
}

static int ctx_line(void *user, int lineno, const char *text, size_t len, int *err_line, char *err,
                    size_t errlen) {
    xp_cfg_ctx *c = user;
    const char *p = text, *end = text + len;
    while (p < end && isspace((unsigned char)*p))
        p++;
    int rc = 0;
    if (p == end || *p == ';' || *p == '#')
        return 0;
    if (p > text && c->key_seen)
        /* inih would pass this on as more of the previous value, which is never what a
         * config here means: refuse it rather than guess. */
        rc = xp_cfg_fail(c, lineno,
                         "indented line would continue the previous value; multi-line values "
                         "are not supported (remove the indentation)");
    else if (*p == '[')
        rc = section_header(c, p, end, lineno);
    else
        c->key_seen = 1;
    if (rc) {
        *err_line = c->err_line;
        snprintf(err, errlen, "%s", c->err);
    }
    return rc;
}

static int ctx_pair(void *user, int lineno, const char *key, const char *value, int *err_line,
                    char *err, size_t errlen) {
    xp_cfg_ctx *c = user;
    int rc = 0;
    const xp_cfg_kv *first;
    if (!c->in_section)
        rc = xp_cfg_fail(c, lineno, "key \"%s\" comes before any [section]", key);
    else if (!*key)
        rc = xp_cfg_fail(c, lineno, "a key name is missing before '='");
    else if ((first = xp_cfg_find(&c->cur, key)))
        rc = xp_cfg_fail(c, lineno, "duplicate key \"%s\" in [%s] (first on line %d)", key,
                         c->cur.name, first->line);
    else {
        void *arr = c->cur.kv;
        if (xp_cfg_grow(&arr, &c->cur.cap, c->cur.n, sizeof(xp_cfg_kv)) != 0)
            rc = xp_cfg_fail(c, lineno, "out of memory");
        else {
            c->cur.kv = arr;
            xp_cfg_kv *kv = &c->cur.kv[c->cur.n];
            kv->key = strdup(key);
            kv->value = strdup(value);
            kv->line = lineno;
            c->cur.n++;
            if (!kv->key || !kv->value)
                rc = xp_cfg_fail(c, lineno, "out of memory");
        }
    }
    if (rc) {
        *err_line = c->err_line;
        snprintf(err, errlen, "%s", c->err);
    }
    return rc;
}

static int ctx_finish(xp_cfg_ctx *c) {
    if (section_finish(c) != 0)
        return -1;
    if (c->web_only)
        return 0;
    xp_config *cfg = c->cfg;
    if (cfg->n_deps == 0)
        return xp_cfg_fail(c, 0, "no [dependency.NAME] section: at least one dependency is needed");
    int any_weight = 0;
    for (size_t i = 0; i < cfg->n_deps; i++)
        any_weight |= cfg->deps[i].weight > 0;
    if (!any_weight)
        return xp_cfg_fail(
            c, c->zero_weight_line,
            "every dependency has weight 0; at least one must count towards the score");
    return xp_cfg_resolve_requires(c);
}

int xp_cfg_run(xp_cfg_ctx *c, const char *text, size_t len) {
    static const xp_ini_callbacks cb = {.line = ctx_line, .pair = ctx_pair};
    char msg[XP_CONFIG_ERR_MAX];
    int line = 0;
    if (xp_ini_parse(text, len, &cb, c, &line, msg, sizeof(msg)) != 0) {
        /* The reader's message is the first problem, whatever the context recorded. */
        c->err_line = line;
        snprintf(c->err, sizeof(c->err), "%s", msg);
        return -1;
    }
    return ctx_finish(c);
}

void xp_cfg_ctx_free(xp_cfg_ctx *c) {
    section_clear(&c->cur);
    for (size_t i = 0; i < c->n_seen; i++)
        free(c->seen[i].name);
    free(c->seen);
    for (size_t i = 0; i < c->n_requires; i++)
        free(c->requires[i].list);
    free(c->requires);
    free(c->base_dir);
}
