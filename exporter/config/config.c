/* The config loader's public face: load from a file, from the compiled-in defaults or from
 * memory, the [web]-only file, the one-line summary, and freeing. */
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "config/config_file.h"
#include "config/config_parse.h"
#include "model/level.h"
#include "base/log.h"

#define CONFIG_BUILTIN_NAME "(built-in defaults)"

static xp_config *config_new(const char *path) {
    xp_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    cfg->path = strdup(path);
    cfg->listen_address = strdup(":9866");
    cfg->telemetry_path = strdup("/metrics");
    if (!cfg->path || !cfg->listen_address || !cfg->telemetry_path) {
        xp_config_free(cfg);
        return NULL;
    }
    cfg->log_level = XP_LOG_INFO;
    cfg->log_format = XP_LOG_LOGFMT;
    cfg->web.max_connections = 512;
    xp_degradation_cfg *d = &cfg->degradation;
    d->threshold[0] = 90;
    d->threshold[1] = 70;
    d->threshold[2] = 60;
    d->threshold[3] = 40;
    static const xp_cascade_step cascade[] = {{1, XP_LEVEL_DEGRADED},
                                              {2, XP_LEVEL_LIMITED},
                                              {3, XP_LEVEL_MINIMAL},
                                              {4, XP_LEVEL_EMERGENCY}};
    d->n_cascade = sizeof(cascade) / sizeof(cascade[0]);
    memcpy(d->cascade, cascade, sizeof(cascade));
    return cfg;
}

static void config_format_err(const xp_cfg_ctx *c, char *err, size_t errlen) {
    if (c->err_line > 0)
        snprintf(err, errlen, "%s:%d: %s", c->file, c->err_line, c->err);
    else
        snprintf(err, errlen, "%s: %s", c->file, c->err);
}

/* Parses text into cfg (whole config, or only [web] when web_only). 0 = ok. */
static int config_run(xp_config *cfg, const char *name, const char *text, size_t len,
                      int unset_vars_empty, int web_only, char *err, size_t errlen) {
    xp_cfg_ctx c = {
        .file = name, .unset_vars_empty = unset_vars_empty, .web_only = web_only, .cfg = cfg};
    c.base_dir = xp_cfg_dirname(name);
    int rc = c.base_dir ? xp_cfg_run(&c, text, len) : xp_cfg_fail(&c, 0, "out of memory");
    if (rc)
        config_format_err(&c, err, errlen);
    xp_cfg_ctx_free(&c);
    return rc;
}

xp_config *xp_config_parse(const char *name, const char *text, size_t len, int unset_vars_empty,
                           char *err, size_t errlen) {
    xp_config *cfg = config_new(name);
    if (!cfg) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    if (config_run(cfg, name, text, len, unset_vars_empty, 0, err, errlen) != 0) {
        xp_config_free(cfg);
        return NULL;
    }
    return cfg;
}

xp_config *xp_config_load(const char *path, char *err, size_t errlen) {
    char *text, why[128];
    size_t len;
    if (xp_cfg_read_file(path, XP_CONFIG_FILE_MAX, &text, &len, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: cannot read the config file: %s", path, why);
        return NULL;
    }
    xp_config *cfg = xp_config_parse(path, text, len, 0, err, errlen);
    explicit_bzero(text, len); /* it may hold secrets written inline */
    free(text);
    return cfg;
}

xp_config *xp_config_load_builtin(char *err, size_t errlen) {
    xp_config *cfg = xp_config_parse(CONFIG_BUILTIN_NAME, xp_builtin_config, xp_builtin_config_len,
                                     1, err, errlen);
    if (cfg)
        cfg->builtin = 1;
    return cfg;
}

int xp_config_load_web(xp_config *cfg, const char *path, char *err, size_t errlen) {
    char *text, why[128];
    size_t len;
    if (xp_cfg_read_file(path, XP_CONFIG_FILE_MAX, &text, &len, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: cannot read the web config file: %s", path, why);
        return -1;
    }
    /* Parsed into a scratch config so that a bad file leaves cfg->web as it was. */
    xp_config *scratch = config_new(path);
    int rc = -1;
    if (!scratch)
        snprintf(err, errlen, "%s: out of memory", path);
    else if (config_run(scratch, path, text, len, 0, 1, err, errlen) == 0) {
        xp_cfg_web_free(&cfg->web);
        cfg->web = scratch->web;
        memset(&scratch->web, 0, sizeof(scratch->web));
        rc = 0;
    }
    xp_config_free(scratch);
    explicit_bzero(text, len);
    free(text);
    return rc;
}

void xp_config_free(xp_config *cfg) {
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_deps; i++)
        xp_cfg_dep_free(&cfg->deps[i]);
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

void xp_config_summary(const xp_config *cfg, char *buf, size_t len) {
    xp_buf b;
    xp_buf_init(&b);
    xp_buf_printf(&b, "%s: ok, %zu dependenc%s (", cfg->path, cfg->n_deps,
                  cfg->n_deps == 1 ? "y" : "ies");
    for (size_t i = 0; i < cfg->n_deps; i++)
        xp_buf_printf(&b, "%s%s=%s", i ? ", " : "", cfg->deps[i].name,
                      cfg->deps[i].collector->name);
    xp_buf_printf(&b, "), %zu feature%s", cfg->n_features, cfg->n_features == 1 ? "" : "s");
    if (xp_buf_failed(&b) || !b.data)
        snprintf(buf, len, "%s: ok", cfg->path);
    else
        snprintf(buf, len, "%s", b.data);
    xp_buf_free(&b);
}

int xp_config_dep_index(const xp_config *cfg, const char *name) {
    for (size_t i = 0; i < cfg->n_deps; i++)
        if (strcmp(cfg->deps[i].name, name) == 0)
            return (int)i;
    return -1;
}
