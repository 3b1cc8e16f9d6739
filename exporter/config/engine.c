/* The config engine: reads a section through its tables of keys (config/keys.h) into the
 * structs they describe, and produces every error about a key. It also turns a dependency's
 * parsed fields back into a canonical text, so a reload can tell a changed dependency from
 * the same one written differently. */
#include "config/engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/secret.h"

#define SECRET_FILE_MAX (64u << 10)

int xp_cfg_fail(xp_cfg_ctx *c, int line, const char *fmt, ...)
{
    if (c->err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&c->err, fmt, ap) < 0)
        c->err = NULL;
    va_end(ap);
    if (!c->err)
        c->err = strdup("out of memory");
    c->err_line = line;
    return -1;
}

const xp_cfg_kv *xp_cfg_find(const xp_cfg_section *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return &s->kv[i];
    return NULL;
}

int xp_cfg_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
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

static int add_copy(void *user, const char *p, size_t len)
{
    xp_cfg_ctx *c = user;
    void *arr = c->secrets;
    if (!len)
        return 0;
    int rc = xp_cfg_grow(&arr, &c->cap_secrets, c->n_secrets, sizeof(char *));
    c->secrets = arr;
    if (rc != 0 || !(c->secrets[c->n_secrets] = strndup(p, len)))
        return -1;
    c->n_secrets++;
    return 0;
}

static int add_secret(xp_cfg_ctx *c, const char *value, int embeds)
{
    return embeds ? xp_secret_embedded(value, add_copy, c) : add_copy(c, value, strlen(value));
}

/* The i-th word an ENUM or COLLECTOR key takes, NULL past the last (or for another kind). */
static const char *key_word(const xp_key *k, size_t i)
{
    if (k->kind == XP_K_ENUM)
        return k->names[i];
    return k->kind == XP_K_COLLECTOR && xp_collectors[i] ? xp_collectors[i]->name : NULL;
}

static void describe(const xp_key *k, char *buf, size_t len)
{
    static const char *const fixed[XP_K_PARSE + 1] = {
        [XP_K_DURATION] = "a positive duration such as 500ms, 10s, 1m or 1h, at most 30 days",
        [XP_K_PERCENT] = "a percentage above 0 and at most 100, such as 50% or 50",
        [XP_K_BOOL] = "true or false"};
    double max = k->max ? k->max : XP_COUNT_MAX;
    size_t o = 0;
    snprintf(buf, len, "%s", fixed[k->kind] ? fixed[k->kind] : "");
    if (k->kind == XP_K_COUNT)
        snprintf(buf, len, "a whole number from %.0f to %.0f", k->min, max);
    else if (k->kind == XP_K_NUMBER)
        snprintf(buf, len, "a number from %.15g to %.15g", k->min, k->max);
    for (size_t i = 0; key_word(k, i) && o < len; i++) {
        const char *sep = i == 0 ? "" : key_word(k, i + 1) ? ", " : " or ";
        o += (size_t)snprintf(buf + o, len - o, "%s%s", sep, key_word(k, i));
    }
}

static void free_string(const xp_key *k, char **field)
{
    if (*field && (k->flags & XP_KEY_SECRET))
        explicit_bzero(*field, strlen(*field));
    free(*field);
    *field = NULL;
}

static int is_string(const xp_key *k)
{
    return k->kind == XP_K_STRING || k->kind == XP_K_PATH || k->kind == XP_K_LIST;
}

int xp_key_set(const xp_key *k, void *base, const char *v, char *msg, size_t msglen)
{
    void *f = (char *)base + k->offset;
    char why[256] = "", *copy = NULL, *data;
    size_t n;
    const xp_collector *col;
    int rc =
        k->kind == XP_K_DURATION ? xp_duration_parse(v, f)
        : k->kind == XP_K_COUNT
            ? xp_cfg_parse_uint(v, (unsigned)k->min, k->max ? (unsigned)k->max : XP_COUNT_MAX, f)
        : k->kind == XP_K_NUMBER  ? xp_cfg_parse_number(v, k->min, k->max, f)
        : k->kind == XP_K_PERCENT ? xp_cfg_parse_percent(v, f)
        : k->kind == XP_K_BOOL    ? xp_cfg_parse_bool(v, f)
                                  : -1;
    switch (k->kind) {
    case XP_K_PATH:
        /* Read once now (a FIFO or device would block whoever reads it later), so that
         * --config.check finds a file that will not do. */
        if (xp_file_read(v, 1u << 20, &data, &n, why, sizeof(why)) != 0) {
            snprintf(msg, msglen, "%s: cannot read %s: %s", k->name, v, why);
            return -1;
        }
        xp_file_free(data, n);
        /* fall through */
    case XP_K_STRING:
        if (k->check && k->check(v, why, sizeof(why)) != 0)
            break;
        /* fall through */
    case XP_K_LIST:
        if (k->kind == XP_K_LIST ? xp_cfg_parse_list(v, &copy, why, sizeof(why)) != 0
                                 : !(copy = strdup(v)))
            break;
        /* A list's check sees it normalised: "a,b", no blanks. */
        if (k->kind == XP_K_LIST && k->check && k->check(copy, why, sizeof(why)) != 0) {
            free(copy);
            break;
        }
        free_string(k, f);
        *(char **)f = copy;
        return 0;
    case XP_K_ENUM:
        for (int i = 0; rc && k->names[i]; i++) {
            if (strcmp(v, k->names[i]) == 0) {
                *(int *)f = i;
                rc = 0;
            }
        }
        break;
    case XP_K_COLLECTOR:
        if ((col = xp_collector_find(v)) != NULL) {
            *(const xp_collector **)f = col;
            rc = 0;
        }
        break;
    case XP_K_PARSE:
        if (k->parse(v, f, why, sizeof(why)) == 0)
            return 0;
        snprintf(msg, msglen, "%s: %s", k->name, why);
        return -1;
    default:
        break;
    }
    if (rc == 0)
        return 0;
    if (!why[0])
        describe(k, why, sizeof(why));
    if (!why[0]) /* a string that could not be copied */
        snprintf(why, sizeof(why), "set (out of memory)");
    if (k->flags & XP_KEY_SECRET)
        snprintf(msg, msglen, "%s must be %s", k->name, why);
    else
        snprintf(msg, msglen, "%s must be %s, not \"%s\"", k->name, why, v);
    return -1;
}

int xp_keys_defaults(const xp_key *keys, void *base)
{
    char msg[512];
    for (const xp_key *k = keys; k->name; k++)
        if (k->def && xp_key_set(k, base, k->def, msg, sizeof(msg)) != 0)
            return -1;
    return 0;
}

void xp_keys_free(const xp_key *keys, void *base)
{
    for (const xp_key *k = keys; k->name; k++)
        if (is_string(k))
            free_string(k, (char **)((char *)base + k->offset));
}

/* The row of key in the tables; *file says the key is the KEY_file twin of a secret. */
static const xp_key *key_find(const xp_cfg_table *t, size_t nt, const char *key, void **base,
                              int *file)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < nt; i++) {
        for (const xp_key *k = t[i].keys; k->name; k++) {
            size_t n = strlen(k->name);
            *file = n + 5 == klen && (k->flags & XP_KEY_SECRET) && strncmp(key, k->name, n) == 0 &&
                    strcmp(key + n, "_file") == 0;
            if (*file || strcmp(k->name, key) == 0) {
                *base = t[i].base;
                return k;
            }
        }
    }
    return NULL;
}

static int key_unknown(xp_cfg_ctx *c, const xp_cfg_kv *kv, const xp_cfg_table *t, size_t nt,
                       const char *where)
{
    char known[XP_CONFIG_ERR_MAX] = "";
    size_t o = 0;
    for (size_t i = 0; i < nt; i++)
        for (const xp_key *k = t[i].keys; k->name && o < sizeof(known); k++)
            o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s%s", o ? ", " : "", k->name,
                                  k->flags & XP_KEY_SECRET ? "[_file]" : "");
    return xp_cfg_fail(c, kv->line, "unknown key \"%s\" %s (known: %s)", kv->key, where, known);
}

static void free_value(char *v)
{
    if (v)
        explicit_bzero(v, strlen(v));
    free(v);
}

/* The value of kv as the key's setter takes it: expanded, read from its file, resolved. */
static char *key_value(xp_cfg_ctx *c, const xp_cfg_kv *kv, const xp_key *k, int file)
{
    char msg[XP_CONFIG_ERR_MAX],
        *v = xp_env_expand(kv->value, c->unset_vars_empty, msg, sizeof(msg));
    if (!v) {
        xp_cfg_fail(c, kv->line, "%s: %s", kv->key, msg);
        return NULL;
    }
    if (!file && k->kind != XP_K_PATH)
        return v;
    char *path;
    if (v[0] == '/' || strcmp(c->base_dir, ".") == 0)
        path = strdup(v);
    else if (asprintf(&path, "%s/%s", c->base_dir, v) < 0)
        path = NULL;
    free_value(v);
    if (!path || !file) {
        if (!path)
            xp_cfg_fail(c, kv->line, "out of memory");
        return path;
    }
    v = xp_file_read_secret(path, SECRET_FILE_MAX, msg, sizeof(msg));
    if (!v)
        xp_cfg_fail(c, kv->line, "%s: %s", kv->key, msg);
    free(path);
    return v;
}

int xp_cfg_apply(xp_cfg_ctx *c, const xp_cfg_section *s, const xp_cfg_table *t, size_t nt,
                 const char *where)
{
    char msg[XP_CONFIG_ERR_MAX], in[300];
    if (!where) {
        snprintf(in, sizeof(in), "in [%.280s]", s->name);
        where = in;
    }
    for (size_t i = 0; i < nt; i++) {
        for (const xp_key *k = t[i].keys; k->name; k++) {
            if ((k->flags & XP_KEY_REQUIRED) && !xp_cfg_find(s, k->name)) {
                describe(k, msg, sizeof(msg));
                return xp_cfg_fail(c, s->line, "[%s] needs %s%s%s", s->name, k->name,
                                   msg[0] ? " = " : "", msg);
            }
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        const xp_cfg_kv *kv = &s->kv[i], *twin = NULL;
        void *base;
        int file;
        const xp_key *k = key_find(t, nt, kv->key, &base, &file);
        if (!k)
            return key_unknown(c, kv, t, nt, where);
        if (k->flags & XP_KEY_SECRET) {
            snprintf(msg, sizeof(msg), "%s_file", k->name);
            twin = xp_cfg_find(s, file ? k->name : msg);
        }
        if (twin)
            return xp_cfg_fail(c, twin->line > kv->line ? twin->line : kv->line,
                               "both %s and %s_file are given; use one", k->name, k->name);
        char *v = key_value(c, kv, k, file);
        if (!v)
            return -1;
        int rc = 0;
        if (k->flags & (XP_KEY_SECRET | XP_KEY_EMBEDS_SECRET))
            rc = add_secret(c, v, !(k->flags & XP_KEY_SECRET)) != 0
                     ? xp_cfg_fail(c, kv->line, "out of memory")
                     : 0;
        if (!rc && xp_key_set(k, base, v, msg, sizeof(msg)) != 0)
            rc = xp_cfg_fail(c, kv->line, "%s", msg);
        free_value(v);
        if (rc)
            return -1;
    }
    return 0;
}

/* One row as "name=value\0" ("name\0" for an unset string) into out, when not NULL.
 * Returns its length. */
static size_t canon_row(const xp_key *k, const void *base, char *out)
{
    const void *f = (const char *)base + k->offset;
    char num[64];
    const char *v = num;
    if (is_string(k))
        v = *(char *const *)f;
    else if (k->kind == XP_K_COUNT)
        snprintf(num, sizeof(num), "%u", *(const unsigned *)f);
    else if (k->kind == XP_K_ENUM || k->kind == XP_K_BOOL)
        snprintf(num, sizeof(num), "%d", *(const int *)f);
    else if (k->kind == XP_K_COLLECTOR)
        v = (*(const xp_collector *const *)f)->name;
    else if (k->kind == XP_K_PARSE) /* not allowed in dependency tables: keys.h */
        v = "?";
    else /* durations to the nanosecond: 0.1m and 6s may differ in the last bit */
        snprintf(num, sizeof(num), k->kind == XP_K_DURATION ? "%.9f" : "%.17g", *(const double *)f);
    size_t nl = strlen(k->name), vl = v ? strlen(v) + 1 : 0;
    if (out) {
        memcpy(out, k->name, nl);
        out[nl] = v ? '=' : '\0';
        if (v)
            memcpy(out + nl + 1, v, vl);
    }
    return nl + 1 + vl;
}

int xp_cfg_dep_settings(xp_dep_cfg *d, const xp_key *shared, const xp_key *own,
                        char *const *secrets, size_t n)
{
    const xp_cfg_table t[2] = {{shared, d}, {own, d->inst}};
    if (n > XP_DEP_SECRETS_MAX)
        return -1;
    for (int pass = 0; pass < 2; pass++) {
        char *out = d->fingerprint;
        size_t o = 0;
        for (size_t i = 0; i < 2; i++)
            for (const xp_key *k = t[i].keys; k->name; k++)
                o += canon_row(k, t[i].base, out ? out + o : NULL);
        d->fingerprint_len = o; /* compared; the copies of the secrets after it are not */
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(secrets[i]) + 1;
            if (out)
                d->secrets[i] = memcpy(out + o, secrets[i], len);
            o += len;
        }
        if (!out && !(d->fingerprint = malloc(o)))
            return -1;
    }
    d->n_secrets = n;
    return 0;
}

int xp_dep_cfg_same(const xp_dep_cfg *a, const xp_dep_cfg *b)
{
    return strcmp(a->name, b->name) == 0 && a->collector == b->collector &&
           a->fingerprint_len == b->fingerprint_len &&
           memcmp(a->fingerprint, b->fingerprint, a->fingerprint_len) == 0;
}
