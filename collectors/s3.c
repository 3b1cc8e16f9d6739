/* The s3 collector: a SigV4-signed, path-style HEAD /BUCKET must answer 200; with
 * localstack_health, LocalStack's /_localstack/health must also report s3 running. Works with
 * AWS, LocalStack and any S3-compatible store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "http_probe.h"
#include "config/keys.h"
#include "localstack_health.h"

#define S3_URL_MAX 2048

/* curl 7.88 signs with CURLOPT_AWS_SIGV4 but does not send the payload hash, without which
 * S3 servers answer 400. This is the SHA-256 of the empty body of a HEAD or GET. */
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct s3_inst {
    char *endpoint;
    char *bucket;
    char *region;
    char *access_key_id;
    char *secret_access_key;
    int localstack_health;

    /* Derived by validate. */
    char target[XP_TARGET_MAX];
    char bucket_url[S3_URL_MAX];
    char health_url[S3_URL_MAX];
    char sigv4[128];
    struct curl_slist *headers;
    xp_http *http;
} s3_inst;

static const xp_key s3_keys[] = {
    XP_KEY(s3_inst, endpoint, XP_K_STRING, .flags = XP_KEY_REQUIRED | XP_KEY_EMBEDS_SECRET),
    XP_KEY(s3_inst, bucket, XP_K_STRING, .flags = XP_KEY_REQUIRED),
    XP_KEY(s3_inst, region, XP_K_STRING, .def = "us-east-1"),
    XP_KEY(s3_inst, access_key_id, XP_K_STRING, .flags = XP_KEY_SECRET),
    XP_KEY(s3_inst, secret_access_key, XP_K_STRING, .flags = XP_KEY_SECRET),
    XP_KEY(s3_inst, localstack_health, XP_K_BOOL),
    XP_KEY_END,
};

static void *s3_create(void)
{
    return calloc(1, sizeof(s3_inst));
}

/* Looser than AWS's naming rules (old us-east-1 buckets may hold capitals and '_'), strict
 * enough that the name is one path segment that needs no escaping and cannot climb out. */
static int s3_bucket_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 1 || n > 255)
        return 0;
    for (const char *c = b; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '.' || *c == '_'))
            return 0;
    return strcmp(b, ".") != 0 && strcmp(b, "..") != 0;
}

static int s3_validate(void *inst, char *err, size_t errlen)
{
    s3_inst *s = inst;
    char why[128];
    if (!s3_bucket_ok(s->bucket)) {
        snprintf(err, errlen, "bucket must be a bucket name: letters, digits, '.', '-', '_'");
        return -1;
    }
    if (!s->region[0] || strpbrk(s->region, ": /")) {
        snprintf(err, errlen, "region must be a region name such as us-east-1");
        return -1;
    }
    if (!s->access_key_id != !s->secret_access_key) {
        snprintf(err, errlen, "s3 needs both access_key_id and secret_access_key, or neither");
        return -1;
    }
    if (xp_http_url(s->endpoint, NULL, 0, s->target, sizeof(s->target), why, sizeof(why)) != 0 ||
        xp_http_url(s->endpoint, s->bucket, 0, s->bucket_url, sizeof(s->bucket_url), why,
                    sizeof(why)) != 0 ||
        xp_http_url(s->endpoint, "_localstack/health", 0, s->health_url, sizeof(s->health_url), why,
                    sizeof(why)) != 0) {
        snprintf(err, errlen, "endpoint: %s", why);
        return -1;
    }
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->region);

    curl_slist_free_all(s->headers);
    s->headers = curl_slist_append(NULL, "x-amz-content-sha256: " S3_EMPTY_SHA256);
    if (!s->headers) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static void s3_target(const void *inst, char *buf, size_t len)
{
    const s3_inst *s = inst;
    snprintf(buf, len, "%s", s->target);
}

static int s3_head_bucket(s3_inst *s, xp_probe *p)
{
    xp_http_req req = {
        .url = s->bucket_url,
        .head = 1,
        .headers = s->headers,
        .aws_sigv4 = s->access_key_id ? s->sigv4 : NULL,
        .user = s->access_key_id,
        .password = s->secret_access_key,
    };
    long status;
    if (xp_http_do(s->http, &req, p, &status) != 0)
        return -1;
    if (status == 200)
        return 0;
    if (status == 403)
        return xp_http_fail_status(p, status, "access denied (check credentials)");
    if (status == 404)
        return xp_http_fail_status(p, status, "bucket not found");
    if (status == 400)
        return xp_http_fail_status(p, status, "bad request (check region)");
    return xp_http_fail_status(p, status, NULL);
}

static int s3_localstack(s3_inst *s, xp_probe *p)
{
    xp_http_req req = {.url = s->health_url};
    long status;
    if (xp_http_do(s->http, &req, p, &status) != 0)
        return -1;
    if (status != 200)
        return xp_http_fail_status(p, status,
                                   "from /_localstack/health (is the endpoint LocalStack?)");
    size_t len;
    const char *body = xp_http_body(s->http, &len);
    char state[96];
    int r = xp_localstack_s3_state(body, len, state, sizeof(state));
    if (r == 1)
        return 0;
    if (r == 0)
        return xp_probe_fail(p, XP_REASON_CHECK, "LocalStack health reports s3 %s", state);
    return xp_probe_fail(p, XP_REASON_PROTOCOL, "LocalStack health answer unreadable: %s", state);
}

static int s3_probe(void *inst, xp_probe *p)
{
    s3_inst *s = inst;
    /* Created on the first probe, not in validate: --config.check never needs libcurl. */
    if (!s->http && !(s->http = xp_http_new()))
        return xp_probe_fail(p, XP_REASON_CONNECT,
                             "cannot create a libcurl handle (out of memory)");
    if (s3_head_bucket(s, p) != 0)
        return -1;
    if (s->localstack_health && s3_localstack(s, p) != 0)
        return -1;
    return 0;
}

static void s3_destroy(void *inst)
{
    if (!inst)
        return;
    s3_inst *s = inst;
    xp_http_free(s->http);
    curl_slist_free_all(s->headers);
    if (s->secret_access_key)
        explicit_bzero(s->secret_access_key, strlen(s->secret_access_key));
    xp_keys_free(s3_keys, inst);
    free(inst);
}

const xp_collector xp_collector_s3 = {
    .name = "s3",
    .details = NULL,
    .n_details = 0,
    .keys = s3_keys,
    .create = s3_create,
    .validate = s3_validate,
    .target = s3_target,
    .probe = s3_probe,
    .destroy = s3_destroy,
};
