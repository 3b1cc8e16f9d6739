/* The openai collector: GET {base_url}/models with the API key must answer 200 with a model
 * list, which must hold `model` when one is configured. The x-ratelimit-remaining-* headers of
 * that answer become detail gauges. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "http_probe.h"
#include "config/keys.h"
#include "openai_models.h"

#define OPENAI_DEFAULT_URL "https://api.openai.com/v1"
#define OPENAI_URL_MAX 2048

enum { OPENAI_D_REQUESTS, OPENAI_D_TOKENS, OPENAI_D_COUNT };

static const xp_detail_def openai_details[OPENAI_D_COUNT] = {
    [OPENAI_D_REQUESTS] =
        {"dependency_openai_ratelimit_remaining_requests",
         "Requests left in the OpenAI rate-limit window (x-ratelimit-remaining-requests "
         "of the last probe); values come from background probes.",
         XP_METRIC_GAUGE},
    [OPENAI_D_TOKENS] =
        {"dependency_openai_ratelimit_remaining_tokens",
         "Tokens left in the OpenAI rate-limit window (x-ratelimit-remaining-tokens "
         "of the last probe); values come from background probes.",
         XP_METRIC_GAUGE},
};

static const char *const openai_headers[OPENAI_D_COUNT] = {
    [OPENAI_D_REQUESTS] = "x-ratelimit-remaining-requests",
    [OPENAI_D_TOKENS] = "x-ratelimit-remaining-tokens",
};

typedef struct openai_inst {
    char *base_url;
    char *api_key;
    char *model;

    /* Derived by validate. */
    char target[XP_TARGET_MAX];
    char models_url[OPENAI_URL_MAX];
    struct curl_slist *headers; /* holds the Authorization header: never print it */
    xp_http *http;
} openai_inst;

static const xp_key openai_keys[] = {
    XP_KEY(openai_inst, base_url, XP_K_STRING, .flags = XP_KEY_EMBEDS_SECRET,
           .def = OPENAI_DEFAULT_URL),
    XP_KEY(openai_inst, api_key, XP_K_STRING, .flags = XP_KEY_SECRET),
    XP_KEY(openai_inst, model, XP_K_STRING),
    XP_KEY_END,
};

static void *openai_create(void)
{
    return calloc(1, sizeof(openai_inst));
}

static void openai_free_headers(openai_inst *s)
{
    /* Wipe the key out of the list before freeing it, so it does not linger in the heap. */
    for (struct curl_slist *l = s->headers; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(s->headers);
    s->headers = NULL;
}

static int openai_validate(void *inst, char *err, size_t errlen)
{
    openai_inst *s = inst;
    char why[128];
    if (xp_http_url(s->base_url, NULL, 0, s->target, sizeof(s->target), why, sizeof(why)) != 0 ||
        xp_http_url(s->base_url, "models", 1, s->models_url, sizeof(s->models_url), why,
                    sizeof(why)) != 0) {
        snprintf(err, errlen, "base_url: %s", why);
        return -1;
    }
    if (s->model && !s->model[0]) {
        free(s->model); /* "model =" means no model check, as if the key were absent */
        s->model = NULL;
    }
    openai_free_headers(s);
    /* Without a key (a self-hosted compatible server) no Authorization header is sent. */
    if (s->api_key && s->api_key[0]) {
        if (strpbrk(s->api_key, "\r\n")) {
            snprintf(err, errlen, "api_key must be one line");
            return -1;
        }
        char *line;
        if (asprintf(&line, "Authorization: Bearer %s", s->api_key) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->headers = curl_slist_append(NULL, line);
        explicit_bzero(line, strlen(line));
        free(line);
        if (!s->headers) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static void openai_target(const void *inst, char *buf, size_t len)
{
    const openai_inst *s = inst;
    snprintf(buf, len, "%s", s->target[0] ? s->target : OPENAI_DEFAULT_URL);
}

/* Rate-limit headers come with 429s too, so they are read before the status is judged. */
static void openai_read_ratelimits(openai_inst *s, xp_probe *p)
{
    for (int i = 0; i < OPENAI_D_COUNT; i++) {
        char value[64];
        double v;
        if (xp_http_header(s->http, openai_headers[i], value, sizeof(value)) == 0 &&
            xp_openai_ratelimit_parse(value, &v) == 0)
            p->detail[i] = v;
    }
}

static int openai_probe(void *inst, xp_probe *p)
{
    openai_inst *s = inst;
    if (!s->http && !(s->http = xp_http_new()))
        return xp_probe_fail(p, XP_REASON_CONNECT,
                             "cannot create a libcurl handle (out of memory)");
    xp_http_req req = {.url = s->models_url, .headers = s->headers};
    long status;
    if (xp_http_do(s->http, &req, p, &status) != 0)
        return -1;
    openai_read_ratelimits(s, p);
    if (status == 401 || status == 403)
        return xp_http_fail_status(p, status, "unauthorized (check api_key)");
    if (status == 429)
        return xp_http_fail_status(p, status, "rate limited");
    if (status != 200)
        return xp_http_fail_status(p, status, NULL);
    size_t len;
    const char *body = xp_http_body(s->http, &len);
    char why[96];
    int r = xp_openai_models_has(body, len, s->model, why, sizeof(why));
    if (r < 0)
        return xp_probe_fail(p, XP_REASON_PROTOCOL,
                             "answer to GET /models is not a model list: %s", why);
    /* %.100s: the name is ours, but keep room in the error buffer. */
    if (r == 0)
        return xp_probe_fail(p, XP_REASON_CHECK, "model %.100s not listed", s->model);
    return 0;
}

static void openai_destroy(void *inst)
{
    if (!inst)
        return;
    openai_inst *s = inst;
    xp_http_free(s->http);
    openai_free_headers(s);
    if (s->api_key)
        explicit_bzero(s->api_key, strlen(s->api_key));
    xp_keys_free(openai_keys, inst);
    free(inst);
}

const xp_collector xp_collector_openai = {
    .name = "openai",
    .details = openai_details,
    .n_details = OPENAI_D_COUNT,
    .keys = openai_keys,
    .create = openai_create,
    .validate = openai_validate,
    .target = openai_target,
    .probe = openai_probe,
    .destroy = openai_destroy,
};
