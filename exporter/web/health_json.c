#include <jansson.h>
#include <math.h>

#include "model/level.h"
#include "web/pages.h"

/* Every value goes in through put(): a NULL value (its allocation failed) or a failed set
 * marks the document bad, and a bad document is not served. Without this a failed
 * allocation silently dropped a key, or a whole dependency, from a 200 answer. */
static void put(json_t *o, const char *key, json_t *v, int *bad)
{
    /* json_object_set_new takes v in every case (it frees v on failure, NULL o included). */
    if (!v || json_object_set_new(o, key, v) != 0)
        *bad = 1;
}

static int dump_to_buf(const char *text, size_t len, void *data)
{
    xp_buf *out = data;
    xp_buf_append(out, text, len);
    return xp_buf_failed(out) ? -1 : 0;
}

static json_t *last_probe(const xp_dep_view *v, int *bad)
{
    if (!v->probed)
        return json_null();
    json_t *o = json_object();
    put(o, "success", json_boolean(v->last_success), bad);
    put(o, "duration_seconds", json_real(v->last_duration), bad);
    put(o, "timestamp", json_real(floor(v->last_timestamp * 1000) / 1000), bad);
    put(o, "error", v->last_success ? json_null() : json_string(v->last_error), bad);
    put(o, "reason", v->last_success ? json_null() : json_string(xp_reason_name(v->last_reason)), bad);
    return o;
}

static json_t *last_error(const xp_dep_view *v, int *bad)
{
    if (v->failure_timestamp <= 0)
        return json_null();
    json_t *o = json_object();
    put(o, "message", json_string(v->failure_error), bad);
    put(o, "timestamp", json_real(floor(v->failure_timestamp * 1000) / 1000), bad);
    return o;
}

/* A rate as the metric shows it: 0-1, or -1 while the window holds fewer than minimum_calls. */
static json_t *rate(double r)
{
    return r < 0 ? json_integer(-1) : json_real(r);
}

int xp_render_health_json(const xp_snapshot *s, xp_buf *out)
{
    return xp_render_health_json_ex(s, NULL, out);
}

int xp_render_health_json_ex(const xp_snapshot *s, const xp_whatif *assumed, xp_buf *out)
{
    int bad = 0;
    json_t *root = json_object();
    if (!root)
        return -1;
    if (assumed) {
        json_t *a = json_object();
        for (size_t k = 0; k < assumed->n && !bad; k++)
            if (assumed->a[k].dep < s->n_deps)
                put(a, s->deps[assumed->a[k].dep]->name,
                    json_string(xp_breaker_state_name(assumed->a[k].state)), &bad);
        put(root, "assumed", a, &bad);
    }
    put(root, "status", json_string(xp_level_name(s->health.level)), &bad);
    put(root, "degradation_level", json_integer(s->health.level), &bad);
    put(root, "health_score", json_real(s->health.system_score), &bad);
    put(root, "ready", json_boolean(s->ready), &bad);

    json_t *deps = json_object();
    for (size_t i = 0; i < s->n_deps && !bad; i++) {
        const xp_dep_view *v = &s->views[i];
        json_t *d = json_object();
        put(d, "collector", json_string(s->deps[i]->collector->name), &bad);
        put(d, "state", json_string(xp_breaker_state_name(s->hdeps[i].state)), &bad);
        put(d, "mode", json_string(xp_mode_name(s->hdeps[i].mode)), &bad);
        /* When a run-time mode with `for=` ends (unix seconds), else null. */
        double until = v->mode_override.active ? v->mode_override.until : INFINITY;
        put(d, "mode_until",
            isfinite(until) ? json_real(floor((s->now_wall + until - s->now_mono) * 1000) / 1000)
                            : json_null(),
            &bad);
        put(d, "health_score", json_real(s->scores[i]), &bad);
        put(d, "consecutive_failures", json_integer(s->hdeps[i].consecutive_failures), &bad);
        put(d, "failure_rate", rate(s->hdeps[i].failure_rate), &bad);
        put(d, "slow_call_rate", rate(s->hdeps[i].slow_call_rate), &bad);
        /* An assumed state (what-if) other than the real one has no countdown. */
        double recovery = s->hdeps[i].state == v->br.state
                              ? ceil(xp_breaker_recovery_seconds(&v->br, s->now_mono))
                              : 0;
        put(d, "recovery_seconds", json_real(recovery), &bad);
        put(d, "last_probe", last_probe(v, &bad), &bad);
        put(d, "last_error", last_error(v, &bad), &bad);
        put(deps, s->deps[i]->name, d, &bad);
    }
    put(root, "dependencies", deps, &bad);

    json_t *features = json_object();
    for (size_t j = 0; j < s->cfg->n_features && !bad; j++)
        put(features, s->cfg->features[j].name, json_boolean(s->feature_on[j]), &bad);
    put(root, "features", features, &bad);

    /* Dumped straight into out, whose failure is sticky: jansson's json_dumps ignores a
     * failed append of an object key and returns a document with the key missing. */
    size_t start = out->len;
    int rc = bad ? -1
                 : json_dump_callback(root, dump_to_buf, out,
                                      JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                          JSON_REAL_PRECISION(15));
    json_decref(root);
    xp_buf_putc(out, '\n');
    if (rc != 0 || xp_buf_failed(out)) {
        out->len = start; /* never half a document */
        return -1;
    }
    return 0;
}
