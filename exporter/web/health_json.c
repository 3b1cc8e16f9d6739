#include <jansson.h>
#include <math.h>

#include "model/level.h"
#include "web/pages.h"

/* jansson's setters steal the value and tolerate NULL (they fail instead), so one check
 * of the final dump catches any allocation failure along the way. */
static json_t *last_probe(const xp_dep_view *v)
{
    if (!v->probed)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "success", json_boolean(v->last_success));
    json_object_set_new(o, "duration_seconds", json_real(v->last_duration));
    json_object_set_new(o, "timestamp", json_real(floor(v->last_timestamp * 1000) / 1000));
    json_object_set_new(o, "error", v->last_success ? json_null() : json_string(v->last_error));
    json_object_set_new(o, "reason",
                        v->last_success ? json_null() : json_string(xp_reason_name(v->last_reason)));
    return o;
}

static json_t *last_error(const xp_dep_view *v)
{
    if (v->failure_timestamp <= 0)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "message", json_string(v->failure_error));
    json_object_set_new(o, "timestamp", json_real(floor(v->failure_timestamp * 1000) / 1000));
    return o;
}

int xp_render_health_json(const xp_snapshot *s, xp_buf *out)
{
    json_t *root = json_object();
    if (!root)
        return -1;
    json_object_set_new(root, "status", json_string(xp_level_name(s->health.level)));
    json_object_set_new(root, "degradation_level", json_integer(s->health.level));
    json_object_set_new(root, "health_score", json_real(s->health.system_score));
    json_object_set_new(root, "ready", json_boolean(s->ready));

    json_t *deps = json_object();
    for (size_t i = 0; i < s->n_deps; i++) {
        const xp_dep_view *v = &s->views[i];
        json_t *d = json_object();
        json_object_set_new(d, "collector", json_string(s->deps[i]->collector->name));
        json_object_set_new(d, "state", json_string(xp_breaker_state_name(v->br.state)));
        json_object_set_new(d, "health_score", json_real(s->scores[i]));
        json_object_set_new(d, "consecutive_failures", json_integer(v->br.consecutive_failures));
        json_object_set_new(d, "recovery_seconds",
                            json_real(ceil(xp_breaker_recovery_seconds(&v->br, s->now_mono))));
        json_object_set_new(d, "last_probe", last_probe(v));
        json_object_set_new(d, "last_error", last_error(v));
        json_object_set_new(deps, s->deps[i]->name, d);
    }
    json_object_set_new(root, "dependencies", deps);

    json_t *features = json_object();
    for (size_t j = 0; j < s->cfg->n_features; j++)
        json_object_set_new(features, s->cfg->features[j].name, json_boolean(s->feature_on[j]));
    json_object_set_new(root, "features", features);

    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(root);
    if (!text)
        return -1;
    xp_buf_puts(out, text);
    xp_buf_putc(out, '\n');
    free(text);
    return xp_buf_failed(out) ? -1 : 0;
}
