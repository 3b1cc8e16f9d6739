#include "web/answer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/headers.h"

static enum MHD_Result queue(struct MHD_Connection *c, xp_route route, unsigned status,
                             struct MHD_Response *r, int json, const char *etag)
{
    if (!r)
        return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
    int ok = (!json || MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                               "application/json; charset=utf-8") == MHD_YES) &&
             MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") == MHD_YES &&
             (!etag || !*etag || MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag) == MHD_YES) &&
             xp_headers_apply_current(r, XP_HDR_ALL, NULL) == 0;
    enum MHD_Result ret = ok ? MHD_queue_response(c, status, r) : MHD_NO;
    MHD_destroy_response(r);
    if (ret == MHD_YES)
        xp_reqstats_count(route, status);
    return ret;
}

enum MHD_Result xp_answer_json(struct MHD_Connection *c, xp_route route, unsigned status,
                               const char *body, size_t len, const char *etag)
{
    return queue(c, route, status,
                 MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY), 1, etag);
}

enum MHD_Result xp_answer_error(struct MHD_Connection *c, xp_route route, unsigned status,
                                const char *message)
{
    /* A message may quote what the client sent (a name from the path, a query value): bytes
     * outside printable ASCII become '?', so the document is valid JSON and shows no control
     * character. */
    char clean[512];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)message; *p && n < sizeof(clean) - 1; p++)
        clean[n++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
    clean[n] = '\0';
    json_t *o = json_pack("{s:s}", "error", clean);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return MHD_NO;
    size_t len = strlen(text);
    enum MHD_Result ret = MHD_NO;
    char *line = malloc(len + 2); /* one line, as every JSON answer ends */
    if (line) {
        memcpy(line, text, len);
        line[len] = '\n';
        ret = xp_answer_json(c, route, status, line, len + 1, NULL);
        free(line);
    }
    free(text);
    return ret;
}

enum MHD_Result xp_answer_method(struct MHD_Connection *c, xp_route route, const char *allow)
{
    char body[128];
    int n = snprintf(body, sizeof(body), "{\"error\":\"method not allowed: use %s\"}\n", allow);
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return queue(c, route, MHD_HTTP_METHOD_NOT_ALLOWED, r, 1, NULL);
}

enum MHD_Result xp_answer_not_modified(struct MHD_Connection *c, xp_route route,
                                       const char *etag)
{
    return queue(c, route, MHD_HTTP_NOT_MODIFIED,
                 MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT), 0, etag);
}

static int dump_cb(const char *text, size_t len, void *data)
{
    xp_buf_append(data, text, len);
    return xp_buf_failed(data) ? -1 : 0;
}

int xp_json_dump(const json_t *root, xp_buf *out)
{
    size_t start = out->len;
    /* Straight into out, whose failure is sticky (json_dumps can drop a key silently). */
    int rc = json_dump_callback(root, dump_cb, out, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                                        JSON_REAL_PRECISION(15));
    xp_buf_putc(out, '\n');
    if (rc != 0 || xp_buf_failed(out)) {
        if (!xp_buf_failed(out))
            out->len = start;
        return -1;
    }
    return 0;
}

enum MHD_Result xp_answer_doc(struct MHD_Connection *c, xp_route route, unsigned status,
                              json_t *root, const char *etag)
{
    xp_buf b;
    xp_buf_init(&b);
    int ok = root && xp_json_dump(root, &b) == 0;
    json_decref(root);
    enum MHD_Result ret =
        ok ? xp_answer_json(c, route, status, b.data, b.len, etag)
           : xp_answer_error(c, route, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    xp_buf_free(&b);
    return ret;
}
