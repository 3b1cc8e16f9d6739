/* Every kind of section as a table of keys (config/keys.h), plus the rules that span keys:
 * hooks run after a section (timeout < interval, TLS and basic auth in pairs, thresholds in
 * order) or after the file (at least one dependency and one weight, requires names a
 * dependency). The engine (engine.c) does the rest. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/workers.h"
#include "config/engine.h"
#include "config/tls_check.h"
#include "model/level.h"

static const char *const levels[] = {"optimal", "degraded",  "limited",
                                     "minimal", "emergency", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL}; /* XP_LOG_* */
static const char *const log_formats[] = {"logfmt", "json", NULL};
/* In xp_mode's order (model/mode.h). */
static const char *const modes[] = {"auto", "forced_open", "disabled", "metrics_only", NULL};

static const xp_key exporter_keys[] = {
    XP_KEY(xp_config, listen_address, XP_K_STRING, .check = xp_cfg_check_listen, .def = ":9866"),
    XP_KEY(xp_config, telemetry_path, XP_K_STRING, .check = xp_cfg_check_telemetry_path,
           .def = "/metrics"),
    XP_KEY(xp_config, log_level, XP_K_ENUM, .names = log_levels, .def = "info"),
    XP_KEY(xp_config, log_format, XP_K_ENUM, .names = log_formats, .def = "logfmt"),
    XP_KEY_END,
};

static const xp_key web_keys[] = {
    XP_KEY(xp_web_cfg, tls_cert_file, XP_K_PATH),
    XP_KEY(xp_web_cfg, tls_key_file, XP_K_PATH),
    XP_KEY(xp_web_cfg, basic_auth_user, XP_K_STRING, .check = xp_cfg_check_user),
    XP_KEY(xp_web_cfg, basic_auth_password_hash, XP_K_STRING, .flags = XP_KEY_SECRET,
           .check = xp_cfg_check_bcrypt),
    XP_KEY(xp_web_cfg, max_connections, XP_K_COUNT, .min = 1, .max = 65535, .def = "512"),
    XP_KEY(xp_web_cfg, api_key_hash, XP_K_STRING, .flags = XP_KEY_SECRET,
           .check = xp_cfg_check_bcrypt),
    XP_KEY(xp_web_cfg, rate_limit, XP_K_PARSE, .parse = xp_cfg_parse_rate),
    XP_KEY_END,
};

#define CASCADE "1:degraded, 2:limited, 3:minimal, 4:emergency"
static const xp_key degradation_keys[] = {
    XP_KEY_AT("optimal", xp_degradation_cfg, threshold[0], XP_K_NUMBER, .max = 100, .def = "90"),
    XP_KEY_AT("degraded", xp_degradation_cfg, threshold[1], XP_K_NUMBER, .max = 100, .def = "70"),
    XP_KEY_AT("limited", xp_degradation_cfg, threshold[2], XP_K_NUMBER, .max = 100, .def = "60"),
    XP_KEY_AT("minimal", xp_degradation_cfg, threshold[3], XP_K_NUMBER, .max = 100, .def = "40"),
    /* offset 0: the parser fills the cascade of the whole xp_degradation_cfg */
    {.name = "cascade", .kind = XP_K_PARSE, .parse = xp_cfg_parse_cascade, .def = CASCADE},
    XP_KEY_END,
};

/* The keys every dependency shares; the collector's own table follows them. */
static const xp_key dep_keys[] = {
    XP_KEY(xp_dep_cfg, collector, XP_K_COLLECTOR, .flags = XP_KEY_REQUIRED),
    XP_KEY(xp_dep_cfg, weight, XP_K_NUMBER, .max = 1e6, .def = "1"),
    XP_KEY(xp_dep_cfg, interval, XP_K_DURATION, .def = "10s"),
    XP_KEY(xp_dep_cfg, timeout, XP_K_DURATION, .def = "2s"),
    XP_KEY(xp_dep_cfg, latency_budget, XP_K_DURATION), /* default timeout / 4: dep_apply */
    XP_KEY(xp_dep_cfg, failure_threshold, XP_K_COUNT, .min = 1, .def = "3"),
    XP_KEY(xp_dep_cfg, recovery_timeout, XP_K_DURATION, .def = "30s"),
    XP_KEY(xp_dep_cfg, half_open_requests, XP_K_COUNT, .min = 1, .def = "1"),
    XP_KEY(xp_dep_cfg, open_level, XP_K_ENUM, .names = levels, .def = "degraded"),
    /* Rate-based tripping, backoff and modes (SPEC section 4 and 5, version 2). The defaults
     * keep version 1's breaker: no rate threshold, a fixed wait, no jitter, mode auto. Rules
     * across keys and the defaults that follow other keys: dep_breaker(). */
    XP_KEY_AT("window_calls", xp_dep_cfg, breaker.window_calls, XP_K_COUNT, .min = 1, .def = "20"),
    XP_KEY_AT("window_time", xp_dep_cfg, breaker.window_time, XP_K_DURATION),
    XP_KEY_AT("minimum_calls", xp_dep_cfg, breaker.minimum_calls, XP_K_COUNT, .min = 1,
              .def = "10"),
    XP_KEY_AT("failure_rate_threshold", xp_dep_cfg, breaker.failure_rate_threshold, XP_K_PERCENT),
    XP_KEY_AT("slow_call_duration", xp_dep_cfg, breaker.slow_call_duration, XP_K_DURATION),
    XP_KEY_AT("slow_call_rate_threshold", xp_dep_cfg, breaker.slow_call_rate_threshold,
              XP_K_PERCENT),
    XP_KEY_AT("recovery_backoff", xp_dep_cfg, breaker.recovery_backoff, XP_K_NUMBER, .min = 1,
              .max = 1000, .def = "1"),
    XP_KEY_AT("max_recovery_timeout", xp_dep_cfg, breaker.max_recovery_timeout, XP_K_DURATION),
    XP_KEY_AT("recovery_jitter", xp_dep_cfg, breaker.recovery_jitter, XP_K_PERCENT),
    XP_KEY(xp_dep_cfg, ignore_reasons, XP_K_LIST, .check = xp_cfg_check_reasons),
    XP_KEY_AT("mode", xp_dep_cfg, breaker.mode, XP_K_ENUM, .names = modes, .def = "auto"),
    XP_KEY_END,
};

typedef struct feature_keys_t {
    int min_level;
    char *requires;
} feature_keys_t;

static const xp_key feature_keys[] = {
    XP_KEY(feature_keys_t, min_level, XP_K_ENUM, .flags = XP_KEY_REQUIRED, .names = levels),
    XP_KEY(feature_keys_t, requires, XP_K_LIST),
    XP_KEY_END,
};

/* The line of the first of keys a, b given in s (0 when neither is). */
static int line_of(const xp_cfg_section *s, const char *a, const char *b)
{
    const xp_cfg_kv *kv = xp_cfg_find(s, a);
    kv = kv ? kv : b ? xp_cfg_find(s, b) : NULL;
    return kv ? kv->line : 0;
}

static int exporter_apply(xp_cfg_ctx *c, const xp_cfg_section *s, const char *name)
{
    xp_cfg_table t = {exporter_keys, c->cfg};
    return xp_cfg_apply(c, s, &t, 1, NULL);
}

/* Keys given in pairs: the first one given names the one missing. */
static int web_pair(xp_cfg_ctx *c, const xp_cfg_section *s, const void *a, const char *an,
                    const void *b, const char *bn, const char *what)
{
    if (!a == !b)
        return 0;
    char bfile[64];
    snprintf(bfile, sizeof(bfile), "%s_file", bn);
    int line = a ? line_of(s, an, NULL) : line_of(s, bn, bfile);
    return xp_cfg_fail(c, line, "%s is set without %s: %s needs both", a ? an : bn, a ? bn : an,
                       what);
}

/* What [web] cannot set: the defaults of the exporter-toolkit's keys. */
static void web_toolkit_defaults(xp_web_cfg *w)
{
    w->tls_min_version = XP_TLS12;
    w->tls_max_version = XP_TLS13;
}

/* [web]'s basic_auth_user and hash as the one entry of the users list. 0 = ok. */
static int web_user_list(xp_web_cfg *w)
{
    if (!w->basic_auth_user)
        return 0;
    if (!(w->users = calloc(1, sizeof(*w->users))))
        return -1;
    w->n_users = 1;
    w->users[0].name = strdup(w->basic_auth_user);
    w->users[0].hash = strdup(w->basic_auth_password_hash);
    return w->users[0].name && w->users[0].hash ? 0 : -1;
}

static int web_apply(xp_cfg_ctx *c, const xp_cfg_section *s, const char *name)
{
    /* Built aside and swapped in whole: cfg->web is either the old one or a valid new one. */
    xp_web_cfg w = {0};
    xp_cfg_table t = {web_keys, &w};
    char why[XP_CONFIG_ERR_MAX];
    int bad = 0, rc = xp_keys_defaults(web_keys, &w) != 0 ? xp_cfg_fail(c, s->line, "out of memory")
                                                          : xp_cfg_apply(c, s, &t, 1, NULL);
    web_toolkit_defaults(&w);
    if (rc == 0)
        rc =
            web_pair(c, s, w.tls_cert_file, "tls_cert_file", w.tls_key_file, "tls_key_file", "TLS");
    if (rc == 0)
        rc = web_pair(c, s, w.basic_auth_user, "basic_auth_user", w.basic_auth_password_hash,
                      "basic_auth_password_hash", "basic auth");
    if (rc == 0 && w.max_connections < xp_http_workers())
        rc = xp_cfg_fail(c, line_of(s, "max_connections", NULL),
                         "max_connections (%u) must be at least the number of HTTP worker "
                         "threads (%u here)",
                         w.max_connections, xp_http_workers());
    if (rc == 0 && w.tls_cert_file &&
        xp_tls_check_pair(w.tls_cert_file, w.tls_key_file, &bad, why, sizeof(why)) != 0)
        rc = xp_cfg_fail(c, line_of(s, bad == 1 ? "tls_cert_file" : "tls_key_file", NULL), "%s",
                         why);
    if (rc == 0 && web_user_list(&w) != 0)
        rc = xp_cfg_fail(c, s->line, "out of memory");
    if (rc == 0) {
        xp_cfg_web_free(&c->cfg->web);
        c->cfg->web = w;
        return 0;
    }
    xp_cfg_web_free(&w);
    return -1;
}

static int degradation_apply(xp_cfg_ctx *c, const xp_cfg_section *s, const char *name)
{
    xp_degradation_cfg *d = &c->cfg->degradation;
    xp_cfg_table t = {degradation_keys, d};
    if (xp_cfg_apply(c, s, &t, 1, NULL) != 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (d->threshold[i] < d->threshold[i + 1]) {
            /* Point at the one the user wrote; of two written, the later-named one. */
            int at = line_of(s, degradation_keys[i + 1].name, degradation_keys[i].name);
            return xp_cfg_fail(c, at,
                               "thresholds must be ordered optimal >= degraded >= limited >= "
                               "minimal, but %s = %g is below %s = %g",
                               degradation_keys[i].name, d->threshold[i],
                               degradation_keys[i + 1].name, d->threshold[i + 1]);
        }
    }
    return 0;
}

/* The breaker's settings of d: the rules across its keys, the defaults that follow other
 * keys, ignore_reasons as a set (its text rewritten in reason order, so the order it was
 * written in is no change at reload). After latency_budget has its default. 0 = ok. */
static int dep_breaker(xp_cfg_ctx *c, const xp_cfg_section *s, xp_dep_cfg *d)
{
    xp_breaker_cfg *b = &d->breaker;
    if (xp_cfg_find(s, "window_calls") && xp_cfg_find(s, "window_time"))
        return xp_cfg_fail(c, line_of(s, "window_time", NULL),
                           "window_calls and window_time are both given: a window holds the "
                           "last N probes or the probes of a time, not both");
    if (b->window_time == 0 && b->minimum_calls > b->window_calls)
        return xp_cfg_fail(c, line_of(s, "minimum_calls", "window_calls"),
                           "minimum_calls (%u) must not exceed window_calls (%u): the window "
                           "would never hold enough probes for a rate",
                           b->minimum_calls, b->window_calls);
    if (!xp_cfg_find(s, "max_recovery_timeout"))
        b->max_recovery_timeout = 10 * d->recovery_timeout;
    else if (b->max_recovery_timeout < d->recovery_timeout)
        return xp_cfg_fail(c, line_of(s, "max_recovery_timeout", NULL),
                           "max_recovery_timeout (%gs) must be at least recovery_timeout (%gs)",
                           b->max_recovery_timeout, d->recovery_timeout);
    if (b->recovery_jitter >= 1)
        return xp_cfg_fail(c, line_of(s, "recovery_jitter", NULL),
                           "recovery_jitter must be below 100%%: a wait drawn at 0 would retry at "
                           "once");
    if (!xp_cfg_find(s, "slow_call_duration"))
        b->slow_call_duration = d->latency_budget;
    b->failure_threshold = d->failure_threshold;
    b->recovery_timeout = d->recovery_timeout;
    b->half_open_requests = d->half_open_requests;
    d->ignore_mask = 0;
    if (!d->ignore_reasons)
        return 0;
    for (int r = XP_REASON_NONE + 1; r < XP_REASON_COUNT; r++) {
        const char *name = xp_reason_name((xp_reason)r), *p = d->ignore_reasons;
        size_t n = strlen(name);
        for (; (p = strstr(p, name)) != NULL; p += n)
            if ((p == d->ignore_reasons || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
                d->ignore_mask |= 1u << r;
    }
    /* The longest set, every reason once, fits: the names are short. */
    char canon[256] = "";
    for (int r = XP_REASON_NONE + 1; r < XP_REASON_COUNT; r++)
        if (d->ignore_mask & (1u << r))
            snprintf(canon + strlen(canon), sizeof(canon) - strlen(canon), "%s%s",
                     canon[0] ? "," : "", xp_reason_name((xp_reason)r));
    char *copy = strdup(canon);
    if (!copy)
        return xp_cfg_fail(c, s->line, "out of memory");
    free(d->ignore_reasons);
    d->ignore_reasons = copy;
    return 0;
}

static int dep_apply(xp_cfg_ctx *c, const xp_cfg_section *s, const char *name)
{
    xp_config *cfg = c->cfg;
    xp_dep_cfg first = {0};
    char msg[XP_CONFIG_ERR_MAX], verr[XP_ERR_MAX] = "";
    /* The collector first, alone: the keys allowed depend on it. */
    const xp_cfg_kv *ckv = xp_cfg_find(s, "collector");
    xp_cfg_section only = {.name = s->name, .line = s->line, .kv = (xp_cfg_kv *)ckv, .n = !!ckv};
    xp_cfg_table t1 = {dep_keys, &first};
    if (xp_cfg_apply(c, &only, &t1, 1, NULL) != 0)
        return -1;
    void *arr = cfg->deps;
    if (xp_cfg_grow(&arr, &c->cap_deps, cfg->n_deps, sizeof(xp_dep_cfg)) != 0)
        return xp_cfg_fail(c, s->line, "out of memory");
    cfg->deps = arr;
    xp_dep_cfg *d = &cfg->deps[cfg->n_deps++]; /* counted now: xp_config_free cleans it */
    const xp_collector *col = first.collector;
    *d = (xp_dep_cfg){.collector = col, .name = strdup(name), .inst = col->create()};
    if (!d->name || !d->inst || xp_keys_defaults(dep_keys, d) != 0 ||
        xp_keys_defaults(col->keys, d->inst) != 0)
        return xp_cfg_fail(c, s->line, "out of memory");
    snprintf(msg, sizeof(msg), "for collector %s", col->name);
    xp_cfg_table t[2] = {{dep_keys, d}, {col->keys, d->inst}};
    size_t secrets = c->n_secrets; /* the ones this section adds are the dependency's */
    if (xp_cfg_apply(c, s, t, 2, msg) != 0)
        return -1;
    int at = line_of(s, "timeout", "interval");
    if (!(d->timeout < d->interval))
        return xp_cfg_fail(c, at ? at : s->line,
                           "timeout (%gs) must be shorter than interval (%gs)", d->timeout,
                           d->interval);
    if (!xp_cfg_find(s, "latency_budget"))
        d->latency_budget = d->timeout / 4;
    if (dep_breaker(c, s, d) != 0)
        return -1;
    if (d->weight == 0 && xp_cfg_find(s, "weight"))
        c->zero_weight_line = line_of(s, "weight", NULL);
    if (col->validate && col->validate(d->inst, verr, sizeof(verr)) != 0)
        return xp_cfg_fail(c, s->line, "[%s]: %s", s->name, verr[0] ? verr : "invalid settings");
    if (col->target)
        col->target(d->inst, d->target, sizeof(d->target));
    if (xp_cfg_dep_settings(d, dep_keys, col->keys, c->n_secrets ? c->secrets + secrets : NULL,
                            c->n_secrets - secrets) != 0)
        return xp_cfg_fail(c, s->line, "[%s]: out of memory or more than %d secrets", s->name,
                           XP_DEP_SECRETS_MAX);
    /* In the fingerprint now; the set is ignore_mask. */
    free(d->ignore_reasons);
    d->ignore_reasons = NULL;
    return 0;
}

static int feature_apply(xp_cfg_ctx *c, const xp_cfg_section *s, const char *name)
{
    xp_config *cfg = c->cfg;
    feature_keys_t fk = {0};
    xp_cfg_table t = {feature_keys, &fk};
    void *arr = cfg->features, *req = c->requires;
    int rc = xp_cfg_apply(c, s, &t, 1, NULL);
    if (rc == 0 && (xp_cfg_grow(&arr, &c->cap_features, cfg->n_features, sizeof(xp_feature_cfg)) ||
                    xp_cfg_grow(&req, &c->cap_requires, c->n_requires, sizeof(*c->requires)) != 0))
        rc = xp_cfg_fail(c, s->line, "out of memory");
    cfg->features = arr;
    c->requires = req;
    xp_feature_cfg *f = rc == 0 ? &cfg->features[cfg->n_features] : NULL;
    if (f && !(*f = (xp_feature_cfg){.name = strdup(name), .min_level = fk.min_level}).name)
        rc = xp_cfg_fail(c, s->line, "out of memory");
    if (rc == 0 && fk.requires) { /* resolved once every dependency is known: xp_cfg_finish */
        xp_cfg_requires r = {cfg->n_features, fk.requires, line_of(s, "requires", NULL)};
        c->requires[c->n_requires++] = r;
        fk.requires = NULL;
    }
    free(fk.requires);
    cfg->n_features += rc == 0;
    return rc;
}

typedef struct section_kind {
    const char *name;
    int named; /* [name.NAME] */
    int (*apply)(xp_cfg_ctx *c, const xp_cfg_section *s, const char *name);
} section_kind;

static const section_kind kinds[] = {
    {"exporter", 0, exporter_apply},       {"web", 0, web_apply},
    {"degradation", 0, degradation_apply}, {"dependency", 1, dep_apply},
    {"feature", 1, feature_apply},
};

/* The kind of section name, with *suffix the NAME of [kind.NAME]. */
static const section_kind *kind_of(const char *name, const char **suffix)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t n = strlen(kinds[i].name);
        if (strncmp(name, kinds[i].name, n) != 0 || (name[n] && name[n] != '.') ||
            (!kinds[i].named && name[n]))
            continue;
        *suffix = name[n] ? name + n + 1 : name + n;
        return &kinds[i];
    }
    return NULL;
}

int xp_cfg_section_check(xp_cfg_ctx *c, const char *name, int line)
{
    const char *sfx;
    const section_kind *k = kind_of(name, &sfx);
    char known[256] = "";
    for (size_t i = 0, o = 0; !k && i < sizeof(kinds) / sizeof(kinds[0]) && o < sizeof(known); i++)
        o += (size_t)snprintf(known + o, sizeof(known) - o, "%s[%s%s]", i ? ", " : "",
                              kinds[i].name, kinds[i].named ? ".NAME" : "");
    if (!k)
        return xp_cfg_fail(c, line, "unknown section [%s] (known: %s)", name, known);
    if (k->named && !*sfx)
        return xp_cfg_fail(c, line, "[%s] needs a name: [%s.NAME]", k->name, k->name);
    if (k->named && !xp_cfg_valid_name(sfx))
        return xp_cfg_fail(c, line,
                           "%s name \"%s\" may only hold letters, digits, '_', '.' and '-'",
                           k->name, sfx);
    return 0;
}

int xp_cfg_section_apply(xp_cfg_ctx *c, const xp_cfg_section *s)
{
    const char *sfx;
    const section_kind *k = kind_of(s->name, &sfx);
    return k ? k->apply(c, s, sfx) : xp_cfg_fail(c, s->line, "unknown section [%s]", s->name);
}

static int requires_resolve(xp_cfg_ctx *c, const xp_cfg_requires *r)
{
    xp_feature_cfg *f = &c->cfg->features[r->feature];
    f->requires = calloc(strlen(r->list) / 2 + 1, sizeof(size_t));
    if (!f->requires)
        return xp_cfg_fail(c, r->line, "out of memory");
    for (const char *p = r->list; *p;) {
        size_t len = strcspn(p, ",");
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)len, p);
        int idx = xp_config_dep_index(c->cfg, name);
        if (idx < 0)
            return xp_cfg_fail(c, r->line,
                               "requires names \"%s\", but there is no [dependency.%s] section",
                               name, name);
        f->requires[f->n_requires++] = (size_t)idx;
        p += len + (p[len] == ',');
    }
    return 0;
}

int xp_cfg_finish(xp_cfg_ctx *c)
{
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
    for (size_t i = 0; i < c->n_requires; i++)
        if (requires_resolve(c, &c->requires[i]) != 0)
            return -1;
    return 0;
}

int xp_cfg_init(xp_config *cfg)
{
    web_toolkit_defaults(&cfg->web);
    return xp_keys_defaults(exporter_keys, cfg) | xp_keys_defaults(web_keys, &cfg->web) |
           xp_keys_defaults(degradation_keys, &cfg->degradation);
}

void xp_cfg_web_users_free(xp_web_cfg *w)
{
    for (size_t i = 0; i < w->n_users; i++) {
        free(w->users[i].name);
        if (w->users[i].hash)
            explicit_bzero(w->users[i].hash, strlen(w->users[i].hash));
        free(w->users[i].hash);
    }
    free(w->users);
    w->users = NULL;
    w->n_users = 0;
}

void xp_cfg_web_headers_free(xp_web_cfg *w)
{
    for (size_t i = 0; i < w->n_headers; i++) {
        free(w->headers[i].name);
        free(w->headers[i].value);
    }
    free(w->headers);
    w->headers = NULL;
    w->n_headers = 0;
}

void xp_cfg_web_free(xp_web_cfg *w)
{
    xp_keys_free(web_keys, w);
    xp_cfg_web_users_free(w);
    xp_cfg_web_headers_free(w);
    free(w->tls_client_ca_file);
    free(w->web_config_file);
    w->tls_client_ca_file = w->web_config_file = NULL;
}

void xp_dep_cfg_free(xp_dep_cfg *d)
{
    free(d->name);
    free(d->ignore_reasons); /* set only when its section failed half way */
    if (d->collector && d->inst)
        d->collector->destroy(d->inst);
    size_t n = d->n_secrets;
    if (d->fingerprint) /* up to the end of the last copy of a secret */
        explicit_bzero(d->fingerprint,
                       n ? (size_t)(d->secrets[n - 1] - d->fingerprint) + strlen(d->secrets[n - 1])
                         : d->fingerprint_len);
    free(d->fingerprint);
    memset(d, 0, sizeof(*d));
}

void xp_cfg_feature_free(xp_feature_cfg *f)
{
    free(f->name);
    free(f->requires);
    memset(f, 0, sizeof(*f));
}
