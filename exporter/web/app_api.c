#include "web/app_api.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/events.h"
#include "model/level.h"
#include "model/verdict.h"
#include "model/whatif.h"
#include "web/answer.h"
#include "web/page_render.h"
#include "web/pages.h"

/* Sets key to v in o; a NULL v or a failed set marks the document bad (never a document
 * that silently lost a key). */
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

/* What a callback run under the runtime lock hands back: the status and the document. */
typedef struct query {
    const char *name;
    unsigned status;
    json_t *doc;
    char err[512];
    xp_buf *out; /* /health?assume renders straight into a buffer */
} query;

static json_t *finish(json_t *o, int bad)
{
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int feature_doc(xp_snapshot *s, void *arg)
{
    query *q = arg;
    const xp_config *cfg = s->cfg;
    size_t j = 0;
    while (j < cfg->n_features && strcmp(cfg->features[j].name, q->name) != 0)
        j++;
    if (j == cfg->n_features) {
        q->status = MHD_HTTP_NOT_FOUND;
        return 0;
    }
    const xp_feature_cfg *f = &cfg->features[j];
    xp_feature_verdict v;
    xp_feature_verdict_eval(f, s->health.level, s->hdeps, s->n_deps, NULL, &v);
    int bad = 0;
    json_t *o = json_object();
    put(o, "feature", json_string(f->name), &bad);
    put(o, "available", json_boolean(v.available), &bad);
    json_t *by = json_array();
    for (size_t k = 0; k < f->n_requires && by; k++) {
        size_t d = f->requires[k];
        if (d < s->n_deps && !xp_health_dep_counts_closed(&s->hdeps[d]))
            push(by, json_string(s->deps[d]->name), &bad);
    }
    if (v.by_level && by)
        push(by, json_string("level"), &bad);
    put(o, "blocked_by", by, &bad);
    put(o, "degradation_level", json_integer(s->health.level), &bad);
    put(o, "status", json_string(xp_level_name(s->health.level)), &bad);
    put(o, "min_level", json_string(xp_level_name(f->min_level)), &bad);
    q->doc = finish(o, bad || !o);
    q->status = v.available ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    return 0;
}

static int dependency_doc(xp_snapshot *s, void *arg)
{
    query *q = arg;
    size_t i = 0;
    while (i < s->n_deps && strcmp(s->deps[i]->name, q->name) != 0)
        i++;
    if (i == s->n_deps) {
        q->status = MHD_HTTP_NOT_FOUND;
        return 0;
    }
    const xp_health_dep *h = &s->hdeps[i];
    int up = xp_health_dep_counts_closed(h);
    int bad = 0;
    json_t *o = json_object();
    put(o, "dependency", json_string(s->deps[i]->name), &bad);
    put(o, "collector", json_string(s->deps[i]->collector->name), &bad);
    put(o, "available", json_boolean(up), &bad);
    put(o, "state", json_string(xp_breaker_state_name(h->state)), &bad);
    put(o, "mode", json_string(xp_mode_name(h->mode)), &bad);
    put(o, "health_score", json_real(s->scores[i]), &bad);
    put(o, "consecutive_failures", json_integer(h->consecutive_failures), &bad);
    put(o, "recovery_seconds",
        json_real(ceil(xp_breaker_recovery_seconds(&s->views[i].br, s->now_mono))), &bad);
    put(o, "degradation_level", json_integer(s->health.level), &bad);
    put(o, "status", json_string(xp_level_name(s->health.level)), &bad);
    q->doc = finish(o, bad || !o);
    q->status = up ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    return 0;
}

static enum MHD_Result named(struct MHD_Connection *c, xp_route route, const char *what,
                             const char *name, int (*fn)(xp_snapshot *, void *))
{
    query q;
    memset(&q, 0, sizeof(q));
    q.name = name;
    char msg[256];
    if (!*name) {
        snprintf(msg, sizeof(msg), "no %s name in the path", what);
        return xp_answer_error(c, route, MHD_HTTP_NOT_FOUND, msg);
    }
    if (xp_page_with_snapshot(fn, &q) != 0)
        return xp_answer_error(c, route, MHD_HTTP_INTERNAL_SERVER_ERROR, "no state to report");
    if (q.status == MHD_HTTP_NOT_FOUND) {
        snprintf(msg, sizeof(msg), "unknown %s \"%.100s\"", what, name);
        return xp_answer_error(c, route, MHD_HTTP_NOT_FOUND, msg);
    }
    return xp_answer_doc(c, route, q.status, q.doc, NULL);
}

enum MHD_Result xp_api_feature(struct MHD_Connection *c, const char *name)
{
    return named(c, XP_ROUTE_FEATURE, "feature", name, feature_doc);
}

enum MHD_Result xp_api_dependency(struct MHD_Connection *c, const char *name)
{
    return named(c, XP_ROUTE_DEPENDENCY, "dependency", name, dependency_doc);
}

/* Timestamps to the millisecond, as /health shows them. */
static json_t *when(double t)
{
    return json_real(floor(t * 1000) / 1000);
}

static json_t *text_or_null(const char *s)
{
    return *s ? json_string(s) : json_null();
}

static json_t *event_doc(const xp_event *e)
{
    int bad = 0;
    json_t *o = json_object();
    put(o, "timestamp", when(e->timestamp), &bad);
    put(o, "type", json_string(xp_event_type_name(e->type)), &bad);
    switch (e->type) {
    case XP_EV_TRANSITION:
        put(o, "dependency", json_string(e->dependency), &bad);
        put(o, "from", json_string(e->from), &bad);
        put(o, "to", json_string(e->to), &bad);
        put(o, "reason", text_or_null(e->reason), &bad);
        put(o, "error", text_or_null(e->error), &bad);
        break;
    case XP_EV_LEVEL:
        put(o, "from", json_string(e->from), &bad);
        put(o, "to", json_string(e->to), &bad);
        break;
    case XP_EV_MODE:
        put(o, "dependency", json_string(e->dependency), &bad);
        put(o, "from", json_string(e->from), &bad);
        put(o, "to", json_string(e->to), &bad);
        put(o, "until", e->until > 0 ? when(e->until) : json_null(), &bad);
        put(o, "client", text_or_null(e->client), &bad);
        break;
    case XP_EV_RELOAD:
        put(o, "success", json_boolean(e->success), &bad);
        put(o, "error", text_or_null(e->error), &bad);
        break;
    }
    return finish(o, bad || !o);
}

enum MHD_Result xp_api_events(struct MHD_Connection *c)
{
    xp_event *ev = malloc(XP_EVENTS_MAX * sizeof(*ev));
    if (!ev)
        return xp_answer_error(c, XP_ROUTE_EVENTS, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    size_t n = xp_events_copy(ev, XP_EVENTS_MAX);
    int bad = 0;
    json_t *list = json_array();
    for (size_t i = 0; i < n && list && !bad; i++)
        push(list, event_doc(&ev[i]), &bad);
    free(ev);
    json_t *root = json_object();
    put(root, "events", list, &bad);
    return xp_answer_doc(c, XP_ROUTE_EVENTS, MHD_HTTP_OK, finish(root, bad || !root), NULL);
}

static const char *snapshot_name(const void *s, size_t i)
{
    return ((const xp_snapshot *)s)->deps[i]->name;
}

static int assume_doc(xp_snapshot *s, void *arg)
{
    query *q = arg;
    xp_whatif w;
    if (xp_whatif_parse(q->name, snapshot_name, s, s->n_deps, &w, q->err, sizeof(q->err)) != 0) {
        q->status = MHD_HTTP_BAD_REQUEST;
        return 0;
    }
    /* The snapshot is ours until the next caller refills it: evaluate it again as assumed. */
    xp_whatif_apply(&w, s->hdeps);
    xp_health_eval(&s->cfg->degradation, s->hdeps, s->n_deps, s->cfg->features,
                   s->cfg->n_features, s->scores, s->feature_on, &s->health);
    q->status = MHD_HTTP_OK;
    return xp_render_health_json_ex(s, &w, q->out);
}

enum MHD_Result xp_api_health_assume(struct MHD_Connection *c, const char *assume)
{
    xp_buf out;
    xp_buf_init(&out);
    query q;
    memset(&q, 0, sizeof(q));
    q.name = assume;
    q.out = &out;
    enum MHD_Result ret;
    if (xp_page_with_snapshot(assume_doc, &q) != 0 || xp_buf_failed(&out))
        ret = xp_answer_error(c, XP_ROUTE_HEALTH, MHD_HTTP_INTERNAL_SERVER_ERROR,
                              "the what-if could not be rendered");
    else if (q.status == MHD_HTTP_BAD_REQUEST)
        ret = xp_answer_error(c, XP_ROUTE_HEALTH, MHD_HTTP_BAD_REQUEST, q.err);
    else
        ret = xp_answer_json(c, XP_ROUTE_HEALTH, MHD_HTTP_OK, out.data, out.len, NULL);
    xp_buf_free(&out);
    return ret;
}
