#include "web/ofrep.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/level.h"
#include "model/statetag.h"
#include "model/verdict.h"
#include "web/answer.h"
#include "web/page_render.h"

static void put(json_t *o, const char *key, json_t *v, int *bad)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        *bad = 1;
}

/* OFREP's error shape: {"key"?, "errorCode", "errorDetails"}. */
static enum MHD_Result error(struct MHD_Connection *c, xp_route route, unsigned status,
                             const char *key, const char *code, const char *details)
{
    /* Details may quote the key from the path: printable ASCII only (valid JSON, no control
     * character). */
    char clean_key[256], clean[512];
    const char *src[2] = {key ? key : "", details};
    char *dst[2] = {clean_key, clean};
    size_t cap[2] = {sizeof(clean_key), sizeof(clean)};
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        for (const unsigned char *p = (const unsigned char *)src[i]; *p && n < cap[i] - 1; p++)
            dst[i][n++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
        dst[i][n] = '\0';
    }
    int bad = 0;
    json_t *o = json_object();
    if (key)
        put(o, "key", json_string(clean_key), &bad);
    put(o, "errorCode", json_string(code), &bad);
    put(o, "errorDetails", json_string(clean), &bad);
    if (bad) {
        json_decref(o);
        o = NULL;
    }
    return xp_answer_doc(c, route, status, o, NULL);
}

/* Checks the request body. 0 = fine; else the error is queued in *ret. */
static int check_body(struct MHD_Connection *c, xp_route route, const char *key,
                      const xp_reqctx *r, enum MHD_Result *ret)
{
    char why[300];
    if (r && xp_buf_failed(&r->body)) {
        *ret = error(c, route, MHD_HTTP_INTERNAL_SERVER_ERROR, key, "GENERAL",
                     "out of memory reading the request body");
        return -1;
    }
    const char *body = r ? r->body.data : NULL;
    size_t len = body ? r->body.len : 0;
    if (r && r->body_too_big) {
        *ret = error(c, route, MHD_HTTP_CONTENT_TOO_LARGE, key, "PARSE_ERROR",
                     "the request body is larger than 65536 bytes");
        return -1;
    }
    json_error_t je;
    json_t *doc = len ? json_loadb(body, len, 0, &je) : NULL;
    if (!doc) {
        if (len)
            snprintf(why, sizeof(why), "the request body is not JSON: %.200s (line %d, column %d)",
                     je.text, je.line, je.column);
        else
            snprintf(why, sizeof(why), "the request body is empty; send {\"context\": {...}}");
        *ret = error(c, route, MHD_HTTP_BAD_REQUEST, key, "PARSE_ERROR", why);
        return -1;
    }
    const char *problem = NULL;
    if (!json_is_object(doc))
        problem = "the request body must be a JSON object: {\"context\": {...}}";
    else {
        json_t *ctx = json_object_get(doc, "context");
        if (ctx && !json_is_object(ctx) && !json_is_null(ctx))
            problem = "\"context\" must be an object";
    }
    json_decref(doc);
    if (problem) {
        *ret = error(c, route, MHD_HTTP_BAD_REQUEST, key,
                     strcmp(problem, "\"context\" must be an object") == 0 ? "INVALID_CONTEXT"
                                                                           : "PARSE_ERROR",
                     problem);
        return -1;
    }
    return 0;
}

/* The evaluation of feature j in snapshot s. */
static json_t *flag_doc(const xp_snapshot *s, size_t j)
{
    const xp_feature_cfg *f = &s->cfg->features[j];
    xp_feature_verdict v;
    xp_feature_verdict_eval(f, s->health.level, s->hdeps, s->n_deps, NULL, &v);
    xp_buf by;
    xp_buf_init(&by);
    for (size_t k = 0; k < f->n_requires; k++) {
        size_t d = f->requires[k];
        if (d < s->n_deps && !xp_health_dep_counts_closed(&s->hdeps[d]))
            xp_buf_printf(&by, "%s%s", by.len ? "," : "", s->deps[d]->name);
    }
    if (v.by_level)
        xp_buf_printf(&by, "%slevel", by.len ? "," : "");
    int bad = xp_buf_failed(&by);
    json_t *o = json_object();
    put(o, "key", json_string(f->name), &bad);
    put(o, "value", json_boolean(v.available), &bad);
    put(o, "reason", json_string(xp_feature_is_static(f) ? "STATIC" : "TARGETING_MATCH"), &bad);
    put(o, "variant", json_string(v.available ? "on" : "off"), &bad);
    json_t *m = json_object();
    put(m, "degradation_level", json_integer(s->health.level), &bad);
    put(m, "status", json_string(xp_level_name(s->health.level)), &bad);
    put(m, "blocked_by", json_string(bad || !by.data ? "" : by.data), &bad);
    put(o, "metadata", m, &bad);
    xp_buf_free(&by);
    if (bad || !o) {
        json_decref(o);
        return NULL;
    }
    return o;
}

typedef struct query {
    const char *key;
    int found, bad;
    json_t *doc;
    char tag[XP_STATETAG_MAX];
    double min_interval;
} query;

static int one(xp_snapshot *s, void *arg)
{
    query *q = arg;
    for (size_t j = 0; j < s->cfg->n_features; j++)
        if (strcmp(s->cfg->features[j].name, q->key) == 0) {
            q->found = 1;
            q->doc = flag_doc(s, j);
            break;
        }
    return 0;
}

static int all(xp_snapshot *s, void *arg)
{
    query *q = arg;
    xp_statetag(s, q->tag);
    json_t *root = json_object();
    json_t *flags = json_array();
    for (size_t j = 0; j < s->cfg->n_features && flags; j++) {
        json_t *f = flag_doc(s, j);
        if (!f || json_array_append_new(flags, f) != 0)
            q->bad = 1;
    }
    put(root, "flags", flags, &q->bad);
    json_t *m = json_object();
    put(m, "degradation_level", json_integer(s->health.level), &q->bad);
    put(m, "status", json_string(xp_level_name(s->health.level)), &q->bad);
    put(root, "metadata", m, &q->bad);
    if (q->bad || !root) {
        json_decref(root);
        root = NULL;
    }
    q->doc = root;
    return 0;
}

static int intervals(xp_snapshot *s, void *arg)
{
    query *q = arg;
    for (size_t i = 0; i < s->n_deps; i++)
        if (q->min_interval == 0 || s->deps[i]->interval < q->min_interval)
            q->min_interval = s->deps[i]->interval;
    return 0;
}

enum MHD_Result xp_ofrep_flag(struct MHD_Connection *c, const char *key, const xp_reqctx *body)
{
    enum MHD_Result ret;
    if (check_body(c, XP_ROUTE_OFREP_FLAG, key, body, &ret) != 0)
        return ret;
    query q;
    memset(&q, 0, sizeof(q));
    q.key = key;
    if (xp_page_with_snapshot(one, &q) != 0)
        return error(c, XP_ROUTE_OFREP_FLAG, MHD_HTTP_INTERNAL_SERVER_ERROR, key, "GENERAL",
                     "no state to evaluate");
    if (!q.found) {
        char why[300];
        snprintf(why, sizeof(why), "no feature \"%.200s\" in this exporter's config", key);
        return error(c, XP_ROUTE_OFREP_FLAG, MHD_HTTP_NOT_FOUND, key, "FLAG_NOT_FOUND", why);
    }
    return xp_answer_doc(c, XP_ROUTE_OFREP_FLAG, MHD_HTTP_OK, q.doc, NULL);
}

enum MHD_Result xp_ofrep_bulk(struct MHD_Connection *c, const xp_reqctx *body)
{
    enum MHD_Result ret;
    if (check_body(c, XP_ROUTE_OFREP_BULK, NULL, body, &ret) != 0)
        return ret;
    query q;
    memset(&q, 0, sizeof(q));
    if (xp_page_with_snapshot(all, &q) != 0)
        return error(c, XP_ROUTE_OFREP_BULK, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "GENERAL",
                     "no state to evaluate");
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (q.doc && xp_statetag_matches(inm, q.tag)) {
        json_decref(q.doc);
        return xp_answer_not_modified(c, XP_ROUTE_OFREP_BULK, q.tag);
    }
    return xp_answer_doc(c, XP_ROUTE_OFREP_BULK, MHD_HTTP_OK, q.doc, q.tag);
}

enum MHD_Result xp_ofrep_configuration(struct MHD_Connection *c)
{
    query q;
    memset(&q, 0, sizeof(q));
    if (xp_page_with_snapshot(intervals, &q) != 0)
        return error(c, XP_ROUTE_OFREP_CONFIG, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "GENERAL",
                     "no config to describe");
    json_t *doc = json_pack(
        "{s:s, s:{s:{s:{s:b, s:I}}, s:{s:[s]}}}", "name", "resilience_exporter", "capabilities",
        "cacheInvalidation", "polling", "enabled", 1, "minPollingIntervalMs",
        (json_int_t)ceil(q.min_interval * 1000), "flagEvaluation", "supportedTypes", "boolean");
    return xp_answer_doc(c, XP_ROUTE_OFREP_CONFIG, MHD_HTTP_OK, doc, NULL);
}
