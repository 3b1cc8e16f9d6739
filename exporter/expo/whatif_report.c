#include "expo/whatif_report.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "model/level.h"
#include "model/verdict.h"

/* The model's inputs and outputs for one scenario, allocated once per report. */
typedef struct eval {
    const xp_config *cfg;
    xp_health_dep *deps;
    double *scores;
    int *on;
    size_t *blocked;
    xp_health_result res;
} eval;

static int eval_init(eval *e, const xp_config *cfg)
{
    memset(e, 0, sizeof(*e));
    e->cfg = cfg;
    size_t n = cfg->n_deps ? cfg->n_deps : 1, nf = cfg->n_features ? cfg->n_features : 1;
    e->deps = calloc(n, sizeof(*e->deps));
    e->scores = calloc(n, sizeof(*e->scores));
    e->blocked = calloc(n, sizeof(*e->blocked));
    e->on = calloc(nf, sizeof(*e->on));
    return e->deps && e->scores && e->blocked && e->on ? 0 : -1;
}

static void eval_free(eval *e)
{
    free(e->deps);
    free(e->scores);
    free(e->blocked);
    free(e->on);
}

static void run(eval *e, const xp_whatif *w)
{
    xp_whatif_config_deps(e->cfg, e->deps);
    xp_whatif_apply(w, e->deps);
    xp_health_eval(&e->cfg->degradation, e->deps, e->cfg->n_deps, e->cfg->features,
                   e->cfg->n_features, e->scores, e->on, &e->res);
}

static const char *state_of(const xp_whatif *w, size_t i)
{
    for (size_t k = 0; k < w->n; k++)
        if (w->a[k].dep == i)
            return xp_breaker_state_name(w->a[k].state);
    return NULL;
}

/* "redis, level": what keeps feature j off in the last run. */
static void blockers(xp_buf *b, const eval *e, size_t j)
{
    xp_feature_verdict v;
    const xp_feature_cfg *f = &e->cfg->features[j];
    xp_feature_verdict_eval(f, e->res.level, e->deps, e->cfg->n_deps, e->blocked, &v);
    for (size_t k = 0; k < v.n_blocked; k++)
        if (e->blocked[k] < e->cfg->n_deps)
            xp_buf_printf(b, "%s%s", k ? ", " : "", e->cfg->deps[e->blocked[k]].name);
    if (v.by_level)
        xp_buf_printf(b, "%slevel %s > %s", v.n_blocked ? ", " : "", xp_level_name(e->res.level),
                      xp_level_name(f->min_level));
}

static int dump(json_t *root, int bad, xp_buf *out)
{
    int rc = -1;
    char *text = !bad && root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                                     JSON_REAL_PRECISION(15))
                              : NULL;
    if (text) {
        xp_buf_puts(out, text);
        xp_buf_putc(out, '\n');
        free(text);
        rc = xp_buf_failed(out) ? -1 : 0;
    }
    json_decref(root);
    return rc;
}

static void put(json_t *o, const char *key, json_t *v, int *bad)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        *bad = 1;
}

static void push(json_t *a, json_t *v, int *bad)
{
    if (!v || json_array_append_new(a, v) != 0)
        *bad = 1;
}

int xp_whatif_report(const xp_config *cfg, const xp_whatif *w, int json, xp_buf *out)
{
    eval e;
    if (eval_init(&e, cfg) != 0) {
        eval_free(&e);
        return -1;
    }
    run(&e, w);
    int rc = 0;
    if (json) {
        int bad = 0;
        json_t *root = json_object(), *a = json_object(), *deps = json_object(),
               *feats = json_object();
        put(root, "config", json_string(cfg->path), &bad);
        for (size_t k = 0; k < w->n; k++)
            put(a, cfg->deps[w->a[k].dep].name, json_string(xp_breaker_state_name(w->a[k].state)),
                &bad);
        put(root, "assumed", a, &bad);
        put(root, "status", json_string(xp_level_name(e.res.level)), &bad);
        put(root, "degradation_level", json_integer(e.res.level), &bad);
        put(root, "health_score", json_real(e.res.system_score), &bad);
        for (size_t i = 0; i < cfg->n_deps; i++) {
            json_t *d = json_object();
            put(d, "state", json_string(xp_breaker_state_name(e.deps[i].state)), &bad);
            put(d, "health_score", json_real(e.scores[i]), &bad);
            put(d, "assumed", json_boolean(state_of(w, i) != NULL), &bad);
            put(deps, cfg->deps[i].name, d, &bad);
        }
        put(root, "dependencies", deps, &bad);
        for (size_t j = 0; j < cfg->n_features; j++)
            put(feats, cfg->features[j].name, json_boolean(e.on[j]), &bad);
        put(root, "features", feats, &bad);
        rc = dump(root, bad, out);
    } else {
        xp_buf_printf(out, "what-if for %s:", cfg->path);
        for (size_t k = 0; k < w->n; k++)
            xp_buf_printf(out, "%s %s %s", k ? "," : "", cfg->deps[w->a[k].dep].name,
                          xp_breaker_state_name(w->a[k].state));
        xp_buf_printf(out, "\nlevel %s (%d), system health score %.1f\n\n",
                      xp_level_name(e.res.level), e.res.level, e.res.system_score);
        size_t width = strlen("dependency");
        for (size_t i = 0; i < cfg->n_deps; i++)
            if (strlen(cfg->deps[i].name) > width)
                width = strlen(cfg->deps[i].name);
        xp_buf_printf(out, "%-*s  %-9s  %5s  %6s\n", (int)width, "dependency", "state", "score",
                      "weight");
        for (size_t i = 0; i < cfg->n_deps; i++)
            xp_buf_printf(out, "%-*s  %-9s  %5.1f  %6.2f%s\n", (int)width, cfg->deps[i].name,
                          xp_breaker_state_name(e.deps[i].state), e.scores[i], cfg->deps[i].weight,
                          state_of(w, i) ? "  (assumed)" : "");
        size_t off = 0;
        for (size_t j = 0; j < cfg->n_features; j++)
            off += !e.on[j];
        xp_buf_printf(out, "\nfeatures off (%zu):\n", off);
        for (size_t j = 0; j < cfg->n_features; j++)
            if (!e.on[j]) {
                xp_buf_printf(out, "  %s (", cfg->features[j].name);
                blockers(out, &e, j);
                xp_buf_puts(out, ")\n");
            }
        xp_buf_printf(out, "features on (%zu):", cfg->n_features - off);
        for (size_t j = 0, first = 1; j < cfg->n_features; j++)
            if (e.on[j]) {
                xp_buf_printf(out, "%s %s", first ? "" : ",", cfg->features[j].name);
                first = 0;
            }
        xp_buf_puts(out, "\n");
        rc = xp_buf_failed(out) ? -1 : 0;
    }
    eval_free(&e);
    return rc;
}

/* One scenario of the matrix: nothing (a == b == n), one dependency (b == n) or a pair. */
static void scenario(eval *e, size_t a, size_t b, xp_whatif *w)
{
    size_t n = e->cfg->n_deps;
    w->n = 0;
    if (a < n)
        w->a[w->n++] = (xp_assumption){a, XP_OPEN};
    if (b < n)
        w->a[w->n++] = (xp_assumption){b, XP_OPEN};
    run(e, w);
}

static void scenario_name(xp_buf *b, const xp_config *cfg, size_t a, size_t bb)
{
    size_t n = cfg->n_deps;
    if (a >= n)
        xp_buf_puts(b, "(none)");
    else if (bb >= n)
        xp_buf_puts(b, cfg->deps[a].name);
    else
        xp_buf_printf(b, "%s + %s", cfg->deps[a].name, cfg->deps[bb].name);
}

/* What the matrix carries from one scenario to the next. */
typedef struct matrix {
    eval e;
    int json, bad;
    size_t width;
    json_t *list;
    xp_buf name;
    xp_buf *out;
} matrix;

static void row(matrix *m, size_t a, size_t b)
{
    const xp_config *cfg = m->e.cfg;
    xp_whatif w;
    scenario(&m->e, a, b, &w);
    size_t off = 0;
    for (size_t j = 0; j < cfg->n_features; j++)
        off += !m->e.on[j];
    if (m->json) {
        json_t *s = json_object(), *open = json_array(), *offl = json_array();
        for (size_t q = 0; q < w.n; q++)
            push(open, json_string(cfg->deps[w.a[q].dep].name), &m->bad);
        put(s, "open", open, &m->bad);
        put(s, "status", json_string(xp_level_name(m->e.res.level)), &m->bad);
        put(s, "degradation_level", json_integer(m->e.res.level), &m->bad);
        put(s, "health_score", json_real(m->e.res.system_score), &m->bad);
        for (size_t j = 0; j < cfg->n_features; j++)
            if (!m->e.on[j])
                push(offl, json_string(cfg->features[j].name), &m->bad);
        put(s, "features_off", offl, &m->bad);
        push(m->list, s, &m->bad);
        return;
    }
    xp_buf_reset(&m->name);
    scenario_name(&m->name, cfg, a, b);
    xp_buf_printf(m->out, "%-*s  %-9s  %5.1f  %3zu  ", (int)m->width,
                  m->name.data ? m->name.data : "", xp_level_name(m->e.res.level),
                  m->e.res.system_score, off);
    if (!off)
        xp_buf_puts(m->out, "-");
    for (size_t j = 0, first = 1; j < cfg->n_features; j++)
        if (!m->e.on[j]) {
            xp_buf_printf(m->out, "%s%s", first ? "" : ", ", cfg->features[j].name);
            first = 0;
        }
    xp_buf_puts(m->out, "\n");
}

int xp_matrix_report(const xp_config *cfg, int json, xp_buf *out)
{
    matrix m;
    memset(&m, 0, sizeof(m));
    if (eval_init(&m.e, cfg) != 0) {
        eval_free(&m.e);
        return -1;
    }
    size_t n = cfg->n_deps;
    m.json = json;
    m.out = out;
    xp_buf_init(&m.name);
    json_t *root = NULL;
    if (json) {
        root = json_object();
        m.list = json_array();
        put(root, "config", json_string(cfg->path), &m.bad);
    } else {
        m.width = strlen("# opened");
        for (size_t a = 0; a < n; a++)
            for (size_t b = a + 1; b <= n; b++) {
                size_t len = strlen(cfg->deps[a].name) + (b < n ? 3 + strlen(cfg->deps[b].name) : 0);
                if (len > m.width)
                    m.width = len;
            }
        xp_buf_printf(out,
                      "# what-if matrix for %s: nothing, each dependency and each pair of "
                      "dependencies opened (%zu dependencies, %zu features)\n",
                      cfg->path, n, cfg->n_features);
        xp_buf_printf(out, "%-*s  %-9s  %5s  %3s  %s\n", (int)m.width, "# opened", "level",
                      "score", "off", "features switched off");
    }
    /* (n, n): nothing opened; (a, n): a alone; (a, b) with a < b < n: the pair. */
    row(&m, n, n);
    for (size_t a = 0; a < n; a++)
        row(&m, a, n);
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            row(&m, a, b);
    xp_buf_free(&m.name);
    int rc;
    if (json) {
        put(root, "scenarios", m.list, &m.bad);
        rc = dump(root, m.bad, out);
    } else {
        rc = xp_buf_failed(out) || m.bad ? -1 : 0;
    }
    eval_free(&m.e);
    return rc;
}
