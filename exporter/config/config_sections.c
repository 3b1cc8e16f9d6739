/* [exporter], [web] and [degradation]. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config_file.h"
#include "config/config_parse.h"
#include "config/config_values.h"
#include "base/log.h"

int xp_cfg_apply_exporter(xp_cfg_ctx *c, const xp_cfg_section *s) {
    xp_config *cfg = c->cfg;
    for (size_t i = 0; i < s->n; i++) {
        const xp_cfg_kv *kv = &s->kv[i];
        char *v = xp_cfg_expand(c, kv);
        if (!v)
            return -1;
        int rc = 0;
        if (strcmp(kv->key, "listen_address") == 0) {
            if (!xp_cfg_valid_listen_address(v))
                rc = xp_cfg_fail(c, kv->line,
                                 "listen_address must be HOST:PORT or :PORT, not \"%s\"", v);
            else {
                free(cfg->listen_address);
                cfg->listen_address = v;
                v = NULL;
            }
        } else if (strcmp(kv->key, "telemetry_path") == 0) {
            if (v[0] != '/' || strpbrk(v, " \t?#"))
                rc = xp_cfg_fail(c, kv->line,
                                 "telemetry_path must be a path starting with /, not \"%s\"", v);
            else {
                free(cfg->telemetry_path);
                cfg->telemetry_path = v;
                v = NULL;
            }
        } else if (strcmp(kv->key, "log_level") == 0) {
            int lv = xp_log_level_parse(v);
            if (lv < 0)
                rc = xp_cfg_fail(c, kv->line,
                                 "log_level must be debug, info, warn or error, not \"%s\"", v);
            else
                cfg->log_level = lv;
        } else if (strcmp(kv->key, "log_format") == 0) {
            int f = xp_log_format_parse(v);
            if (f < 0)
                rc = xp_cfg_fail(c, kv->line, "log_format must be logfmt or json, not \"%s\"", v);
            else
                cfg->log_format = f;
        } else {
            rc = xp_cfg_fail(c, kv->line,
                             "unknown key \"%s\" in [exporter] (known: listen_address, "
                             "telemetry_path, log_level, log_format)",
                             kv->key);
        }
        free(v);
        if (rc)
            return -1;
    }
    return 0;
}

/* TLS files are read by the HTTP server later; finding a missing one now lets --config.check
 * catch it. */
static int web_check_readable(xp_cfg_ctx *c, const xp_cfg_kv *kv, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return xp_cfg_fail(c, kv->line, "%s: cannot read %s: %s", kv->key, path, strerror(errno));
    close(fd);
    return 0;
}

static int web_set_path(xp_cfg_ctx *c, const xp_cfg_kv *kv, const char *v, char **field) {
    if (!*v)
        return xp_cfg_fail(c, kv->line, "%s is empty", kv->key);
    char *path = xp_cfg_resolve_path(c->base_dir, v);
    if (!path)
        return xp_cfg_fail(c, kv->line, "out of memory");
    if (web_check_readable(c, kv, path) != 0) {
        free(path);
        return -1;
    }
    free(*field);
    *field = path;
    return 0;
}

/* basic_auth_password_hash or its _file twin; the value is a secret and never quoted. */
static int web_set_hash(xp_cfg_ctx *c, const xp_cfg_section *s, const xp_cfg_kv *kv, const char *v,
                        xp_web_cfg *w) {
    const xp_cfg_kv *a = xp_cfg_find(s, "basic_auth_password_hash");
    const xp_cfg_kv *b = xp_cfg_find(s, "basic_auth_password_hash_file");
    if (a && b)
        return xp_cfg_fail(c, a->line > b->line ? a->line : b->line,
                           "both basic_auth_password_hash and basic_auth_password_hash_file are "
                           "given; use one");
    char *hash;
    if (kv == b) {
        char *path = xp_cfg_resolve_path(c->base_dir, v);
        if (!path)
            return xp_cfg_fail(c, kv->line, "out of memory");
        char ferr[XP_CONFIG_ERR_MAX];
        hash = xp_cfg_read_secret(path, ferr, sizeof(ferr));
        free(path);
        if (!hash)
            return xp_cfg_fail(c, kv->line, "%s: %s", kv->key, ferr);
    } else {
        hash = strdup(v);
        if (!hash)
            return xp_cfg_fail(c, kv->line, "out of memory");
    }
    if (!xp_cfg_bcrypt_shaped(hash)) {
        xp_cfg_free_secret(hash);
        return xp_cfg_fail(c, kv->line,
                           "%s is not a bcrypt hash ($2a$, $2b$ or $2y$, cost, 53 characters; "
                           "make one with htpasswd -nBC 10 \"\" | tr -d ':\\n')",
                           kv->key);
    }
    xp_cfg_free_secret(w->basic_auth_password_hash);
    w->basic_auth_password_hash = hash;
    return 0;
}

static const xp_cfg_kv *web_first_of(const xp_cfg_section *s, const char *a, const char *b) {
    const xp_cfg_kv *x = xp_cfg_find(s, a);
    return x ? x : xp_cfg_find(s, b);
}

int xp_cfg_apply_web(xp_cfg_ctx *c, const xp_cfg_section *s) {
    /* Built aside and swapped in whole: cfg->web is either the old one or a valid new one. */
    xp_web_cfg w = {.max_connections = 512};
    for (size_t i = 0; i < s->n; i++) {
        const xp_cfg_kv *kv = &s->kv[i];
        char *v = xp_cfg_expand(c, kv);
        if (!v)
            goto fail;
        int rc = 0;
        if (strcmp(kv->key, "tls_cert_file") == 0) {
            rc = web_set_path(c, kv, v, &w.tls_cert_file);
        } else if (strcmp(kv->key, "tls_key_file") == 0) {
            rc = web_set_path(c, kv, v, &w.tls_key_file);
        } else if (strcmp(kv->key, "basic_auth_user") == 0) {
            if (!*v || strchr(v, ':'))
                rc = xp_cfg_fail(c, kv->line, "basic_auth_user must be non-empty and without ':'");
            else {
                free(w.basic_auth_user);
                w.basic_auth_user = v;
                v = NULL;
            }
        } else if (strcmp(kv->key, "basic_auth_password_hash") == 0 ||
                   strcmp(kv->key, "basic_auth_password_hash_file") == 0) {
            rc = web_set_hash(c, s, kv, v, &w);
        } else if (strcmp(kv->key, "max_connections") == 0) {
            if (xp_cfg_parse_uint(v, 1, 65535, &w.max_connections) != 0)
                rc = xp_cfg_fail(c, kv->line,
                                 "max_connections must be a whole number in 1..65535, not \"%s\"",
                                 v);
        } else {
            rc = xp_cfg_fail(c, kv->line,
                             "unknown key \"%s\" in [web] (known: tls_cert_file, tls_key_file, "
                             "basic_auth_user, basic_auth_password_hash[_file], max_connections)",
                             kv->key);
        }
        xp_cfg_free_secret(v);
        if (rc)
            goto fail;
    }
    if (!w.tls_cert_file != !w.tls_key_file) {
        const xp_cfg_kv *kv = web_first_of(s, "tls_cert_file", "tls_key_file");
        xp_cfg_fail(c, kv->line, "%s is set without %s: TLS needs both", kv->key,
                    w.tls_cert_file ? "tls_key_file" : "tls_cert_file");
        goto fail;
    }
    if (!w.basic_auth_user != !w.basic_auth_password_hash) {
        const xp_cfg_kv *kv = web_first_of(s, "basic_auth_user", "basic_auth_password_hash");
        if (!kv)
            kv = xp_cfg_find(s, "basic_auth_password_hash_file");
        xp_cfg_fail(c, kv->line, "%s is set without %s: basic auth needs both", kv->key,
                    w.basic_auth_user ? "basic_auth_password_hash" : "basic_auth_user");
        goto fail;
    }
    xp_cfg_web_free(&c->cfg->web);
    c->cfg->web = w;
    return 0;
fail:
    xp_cfg_web_free(&w);
    return -1;
}

void xp_cfg_web_free(xp_web_cfg *w) {
    free(w->tls_cert_file);
    free(w->tls_key_file);
    free(w->basic_auth_user);
    xp_cfg_free_secret(w->basic_auth_password_hash);
    memset(w, 0, sizeof(*w));
    w->max_connections = 512;
}

int xp_cfg_apply_degradation(xp_cfg_ctx *c, const xp_cfg_section *s) {
    static const char *const names[4] = {"optimal", "degraded", "limited", "minimal"};
    xp_degradation_cfg *d = &c->cfg->degradation;
    int line[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < s->n; i++) {
        const xp_cfg_kv *kv = &s->kv[i];
        char *v = xp_cfg_expand(c, kv);
        if (!v)
            return -1;
        int rc = 0, t;
        for (t = 0; t < 4 && strcmp(kv->key, names[t]) != 0; t++)
            ;
        if (t < 4) {
            if (xp_cfg_parse_number(v, 0, 100, &d->threshold[t]) != 0)
                rc = xp_cfg_fail(c, kv->line, "%s must be a score from 0 to 100, not \"%s\"",
                                 kv->key, v);
            line[t] = kv->line;
        } else if (strcmp(kv->key, "cascade") == 0) {
            char msg[XP_CONFIG_ERR_MAX];
            if (xp_cfg_parse_cascade(v, d, msg, sizeof(msg)) != 0)
                rc = xp_cfg_fail(c, kv->line, "%s", msg);
        } else {
            rc = xp_cfg_fail(c, kv->line,
                             "unknown key \"%s\" in [degradation] (known: optimal, degraded, "
                             "limited, minimal, cascade)",
                             kv->key);
        }
        free(v);
        if (rc)
            return -1;
    }
    for (int t = 0; t < 3; t++) {
        if (d->threshold[t] < d->threshold[t + 1]) {
            /* Point at the one the user wrote; of two written, the later-named one. */
            int at = line[t + 1] ? line[t + 1] : line[t];
            return xp_cfg_fail(c, at,
                               "thresholds must be ordered optimal >= degraded >= limited >= "
                               "minimal, but %s = %g is below %s = %g",
                               names[t], d->threshold[t], names[t + 1], d->threshold[t + 1]);
        }
    }
    return 0;
}
